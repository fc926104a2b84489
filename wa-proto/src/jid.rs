//! JIDs: the addresses of users, devices, groups and servers.

use std::{fmt, str::FromStr};

use crate::error::Error;

/// The server part of a JID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Server {
    /// `s.whatsapp.net`: users addressed by phone number.
    User,
    /// `g.us`: groups.
    Group,
    /// `lid`: users addressed by their hidden linked identity.
    Lid,
    /// `broadcast`: `status@broadcast` and broadcast lists.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
    /// `c.us`: the legacy user server, still used in message-id hashing and some queries.
    LegacyUser,
    /// `hosted`: Cloud-API-hosted business devices by phone number.
    Hosted,
    /// `hosted.lid`: Cloud-API-hosted business devices by LID.
    HostedLid,
    /// `msgr`: Messenger users.
    Messenger,
    /// `interop`: users of other messaging networks.
    Interop,
    /// `bot`: Meta AI and other bots.
    Bot,
    /// Any other server name, kept as it came.
    Other(Box<str>),
}

impl Server {
    /// The server's name as it appears after the `@`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::User => "s.whatsapp.net",
            Self::Group => "g.us",
            Self::Lid => "lid",
            Self::Broadcast => "broadcast",
            Self::Newsletter => "newsletter",
            Self::LegacyUser => "c.us",
            Self::Hosted => "hosted",
            Self::HostedLid => "hosted.lid",
            Self::Messenger => "msgr",
            Self::Interop => "interop",
            Self::Bot => "bot",
            Self::Other(name) => name,
        }
    }

    /// The server named `name`; unknown names become [`Server::Other`].
    pub fn from_name(name: &str) -> Self {
        match name {
            "s.whatsapp.net" => Self::User,
            "g.us" => Self::Group,
            "lid" => Self::Lid,
            "broadcast" => Self::Broadcast,
            "newsletter" => Self::Newsletter,
            "c.us" => Self::LegacyUser,
            "hosted" => Self::Hosted,
            "hosted.lid" => Self::HostedLid,
            "msgr" => Self::Messenger,
            "interop" => Self::Interop,
            "bot" => Self::Bot,
            other => Self::Other(other.into()),
        }
    }

    /// The server an `AD_JID` domain byte stands for, and the raw agent it leaves on the JID.
    pub(crate) fn from_domain_type(domain: u8) -> (Self, u8) {
        match domain {
            0 => (Self::User, 0),
            1 => (Self::Lid, 0),
            128 => (Self::Hosted, 0),
            129 => (Self::HostedLid, 0),
            agent => (Self::User, agent),
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JID: `user[.agent][:device]@server`, or `integrator-user:device@interop`, or a bare server.
///
/// ```
/// use wa_proto::{Jid, Server};
///
/// let device: Jid = "5511987654321:3@s.whatsapp.net".parse()?;
/// assert_eq!(device.server, Server::User);
/// assert_eq!(device.device, 3);
/// assert_eq!(device.to_string(), "5511987654321:3@s.whatsapp.net");
/// assert_eq!(device.ad_string(), "5511987654321.0:3@s.whatsapp.net");
/// assert_eq!(device.to_non_device().to_string(), "5511987654321@s.whatsapp.net");
///
/// let lid: Jid = "123456789:2@lid".parse()?;
/// assert_eq!(lid.signal_address().to_string(), "123456789_1.2");
/// # Ok::<(), wa_proto::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jid {
    /// The user part: a phone number, a LID, a group id; empty for a bare server.
    pub user: String,
    /// The raw agent (domain type) of an AD JID on `s.whatsapp.net`; 0 for ordinary JIDs.
    pub agent: u8,
    /// The device: 0 is the primary phone, 1.. are companions.
    pub device: u16,
    /// The integrator of an `interop` JID.
    pub integrator: u16,
    /// The server.
    pub server: Server,
}

impl Jid {
    /// `user@server`.
    pub fn new(user: impl Into<String>, server: Server) -> Self {
        Self { user: user.into(), agent: 0, device: 0, integrator: 0, server }
    }

    /// `user:device@server`.
    pub fn with_device(user: impl Into<String>, server: Server, device: u16) -> Self {
        Self { device, ..Self::new(user, server) }
    }

    /// The bare server `s.whatsapp.net`, the usual `to` of requests.
    pub fn server_jid() -> Self {
        Self::new("", Server::User)
    }

    /// The same user without device and agent: the account, not one of its devices.
    pub fn to_non_device(&self) -> Self {
        Self { agent: 0, device: 0, ..self.clone() }
    }

    /// The domain type that identifies the server inside an AD JID and a Signal address.
    pub fn domain_type(&self) -> u8 {
        match self.server {
            Server::Lid => 1,
            Server::Hosted => 128,
            Server::HostedLid => 129,
            _ => self.agent,
        }
    }

    /// The AD form `user.agent:device@server`, used in participant list hashes.
    pub fn ad_string(&self) -> String {
        format!("{}.{}:{}@{}", self.user, self.agent, self.device, self.server)
    }

    /// The Signal protocol address of this device: `user[_domain].device`.
    pub fn signal_address(&self) -> SignalAddress {
        let name = match self.domain_type() {
            0 => self.user.clone(),
            domain => format!("{}_{}", self.user, domain),
        };
        SignalAddress { name, device_id: u32::from(self.device) }
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.server == Server::Interop {
            return write!(f, "{}-{}:{}@{}", self.integrator, self.user, self.device, self.server);
        }
        if self.user.is_empty() && self.agent == 0 && self.device == 0 {
            return write!(f, "{}", self.server);
        }
        f.write_str(&self.user)?;
        if self.agent != 0 {
            write!(f, ".{}", self.agent)?;
        }
        if self.device != 0 {
            write!(f, ":{}", self.device)?;
        }
        write!(f, "@{}", self.server)
    }
}

impl FromStr for Jid {
    type Err = Error;

    /// Parses every form [`Display`](fmt::Display) writes, plus `user.agent:device@server` AD strings.
    fn from_str(text: &str) -> Result<Self, Error> {
        let Some((user_part, server)) = text.split_once('@') else {
            return match text {
                "" => Err(Error::InvalidJid { reason: "empty" }),
                server => Ok(Self::new("", Server::from_name(server))),
            };
        };
        if server.is_empty() || server.contains('@') {
            return Err(Error::InvalidJid { reason: "the server part must be one non-empty name" });
        }
        let server = Server::from_name(server);
        let (user_agent, device) = match user_part.rsplit_once(':') {
            Some((user, device)) => (user, parse_number::<u16>(device)?),
            None => (user_part, 0),
        };
        if server == Server::Interop {
            let (integrator, user) = user_agent
                .split_once('-')
                .ok_or(Error::InvalidJid { reason: "an interop JID needs integrator-user" })?;
            let integrator = parse_number::<u16>(integrator)?;
            if user.contains(':') {
                return Err(Error::InvalidJid { reason: "a user must not contain ':'" });
            }
            return Ok(Self { integrator, device, ..Self::new(user, server) });
        }
        let (user, agent) = match user_agent.rsplit_once('.') {
            Some((user, agent))
                if !agent.is_empty() && agent.bytes().all(|b| b.is_ascii_digit()) =>
            {
                (user, parse_number::<u8>(agent)?)
            }
            _ => (user_agent, 0),
        };
        if user.contains(':') || (agent_given(user_agent) && user.contains('.')) {
            return Err(Error::InvalidJid {
                reason: "a user must not contain ':' or an agent twice",
            });
        }
        if user.is_empty() && (agent != 0 || device != 0) {
            return Err(Error::InvalidJid { reason: "a device or agent needs a user" });
        }
        Ok(Self { agent, device, ..Self::new(user, server) })
    }
}

/// Whether `user_agent` ends in `.digits`, the agent suffix.
fn agent_given(user_agent: &str) -> bool {
    user_agent
        .rsplit_once('.')
        .is_some_and(|(_, agent)| !agent.is_empty() && agent.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_number<T: FromStr>(digits: &str) -> Result<T, Error> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidJid {
            reason: "device, agent and integrator must be decimal numbers",
        });
    }
    digits
        .parse()
        .map_err(|_| Error::InvalidJid { reason: "device, agent or integrator out of range" })
}

/// A Signal protocol address: the session key of one device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalAddress {
    /// The user, suffixed `_<domain type>` outside `s.whatsapp.net` (`12345_1` for a LID).
    pub name: String,
    /// The device id.
    pub device_id: u32,
}

impl fmt::Display for SignalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name, self.device_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_round_trips() {
        for name in [
            "s.whatsapp.net",
            "g.us",
            "lid",
            "broadcast",
            "newsletter",
            "c.us",
            "hosted",
            "hosted.lid",
            "msgr",
            "interop",
            "bot",
            "example.org",
        ] {
            let server = Server::from_name(name);
            assert_eq!(server.as_str(), name);
            let jid: Jid = format!("12345@{name}").parse().unwrap_or_else(|_| {
                // interop JIDs need an integrator
                format!("7-12345:0@{name}").parse().unwrap()
            });
            assert_eq!(jid.server, server);
            assert_eq!(jid.to_string().parse::<Jid>().unwrap(), jid);
        }
    }

    #[test]
    fn parses_devices_agents_and_interop() {
        let jid: Jid = "1234.3:17@s.whatsapp.net".parse().unwrap();
        assert_eq!((jid.user.as_str(), jid.agent, jid.device), ("1234", 3, 17));
        assert_eq!(jid.to_string(), "1234.3:17@s.whatsapp.net");
        assert_eq!(jid.ad_string(), "1234.3:17@s.whatsapp.net");
        assert_eq!(jid.signal_address().to_string(), "1234_3.17");

        let interop: Jid = "12-345:6@interop".parse().unwrap();
        assert_eq!((interop.integrator, interop.user.as_str(), interop.device), (12, "345", 6));
        assert_eq!(interop.to_string(), "12-345:6@interop");

        let group: Jid = "120363025246125486@g.us".parse().unwrap();
        assert_eq!(group.server, Server::Group);
        assert_eq!(group.to_string(), "120363025246125486@g.us");

        let server: Jid = "s.whatsapp.net".parse().unwrap();
        assert_eq!(server, Jid::server_jid());
        assert_eq!(server.to_string(), "s.whatsapp.net");

        let hosted: Jid = "5511:99@hosted".parse().unwrap();
        assert_eq!(hosted.signal_address().to_string(), "5511_128.99");
        assert_eq!(hosted.domain_type(), 128);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "a@",
            "a@b@c",
            "1:x@s.whatsapp.net",
            "1:70000@lid",
            "1.300:1@s.whatsapp.net",
            ":1@s.whatsapp.net",
            "345:6@interop",
            "x-345:6@interop",
        ] {
            assert!(bad.parse::<Jid>().is_err(), "{bad:?} must not parse");
        }
    }
}
