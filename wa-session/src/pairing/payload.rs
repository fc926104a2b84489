//! The `ClientPayload` a companion sends inside the Noise ClientFinish: registration (not yet
//! paired) or login (paired), with the user agent and a configurable WhatsApp Web version.

use std::{fmt, str::FromStr};

use md5::{Digest as _, Md5};
use prost::Message as _;
use wa_proto::proto::{
    companion::{DeviceProps, device_props},
    handshake::{
        ClientPayload,
        client_payload::{
            ConnectReason, ConnectType, DevicePairingRegistrationData, UserAgent, WebInfo,
            user_agent, web_info,
        },
    },
};

use crate::{ConnectionError, Error, Result, credentials::DeviceCredentials};

/// A WhatsApp Web version, `primary.secondary.tertiary`. The server answers a stale one with
/// `<failure reason="405">`, so it is configuration, replaceable at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientVersion {
    /// Always 2 for the current Web client.
    pub primary: u32,
    /// 3000 for the current Web client.
    pub secondary: u32,
    /// The build number.
    pub tertiary: u32,
}

impl ClientVersion {
    /// The version this build defaults to: WhatsApp Web 2.3000.1045649367, the one whatsmeow
    /// pinned in August 2026. Refresh it (configuration, or [`FromStr`]) when the server says 405.
    pub const DEFAULT: Self = Self { primary: 2, secondary: 3000, tertiary: 1_045_649_367 };

    /// Makes a version.
    #[must_use]
    pub const fn new(primary: u32, secondary: u32, tertiary: u32) -> Self {
        Self { primary, secondary, tertiary }
    }

    /// MD5 of the dotted version text: the `buildHash` of the registration data.
    #[must_use]
    pub fn build_hash(&self) -> [u8; 16] {
        Md5::digest(self.to_string().as_bytes()).into()
    }

    fn app_version(&self) -> user_agent::AppVersion {
        user_agent::AppVersion {
            primary: Some(self.primary),
            secondary: Some(self.secondary),
            tertiary: Some(self.tertiary),
            ..Default::default()
        }
    }
}

impl Default for ClientVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for ClientVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.primary, self.secondary, self.tertiary)
    }
}

impl FromStr for ClientVersion {
    type Err = Error;

    /// Parses `2.3000.1045649367`.
    fn from_str(text: &str) -> Result<Self> {
        let bad = || Error::malformed("client version", format!("{text:?} is not a.b.c"));
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().map_err(|_| bad()));
        let version = Self::new(
            parts.next().ok_or_else(bad)??,
            parts.next().ok_or_else(bad)??,
            parts.next().ok_or_else(bad)??,
        );
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(version)
    }
}

/// How the companion presents itself: the name and platform shown in the phone's "Linked
/// devices", and the QR platform id that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceProfile {
    /// `DeviceProps.os`: the name the phone shows.
    pub os: String,
    /// `DeviceProps.platformType` (a `wa.companion.DeviceProps.PlatformType` value).
    pub platform_type: device_props::PlatformType,
    /// The one-character platform id of the QR text (`1` is Chrome).
    pub qr_platform: String,
}

impl Default for DeviceProfile {
    fn default() -> Self {
        Self {
            os: "wab24".to_owned(),
            platform_type: device_props::PlatformType::Chrome,
            qr_platform: "1".to_owned(),
        }
    }
}

fn base_payload(version: ClientVersion) -> ClientPayload {
    ClientPayload {
        user_agent: Some(UserAgent {
            platform: Some(user_agent::Platform::Web as i32),
            app_version: Some(version.app_version()),
            mcc: Some("000".to_owned()),
            mnc: Some("000".to_owned()),
            os_version: Some("0.1".to_owned()),
            manufacturer: Some(String::new()),
            device: Some("Desktop".to_owned()),
            os_build_number: Some("0.1".to_owned()),
            release_channel: Some(user_agent::ReleaseChannel::Release as i32),
            locale_language_iso639_1: Some("en".to_owned()),
            locale_country_iso3166_1_alpha2: Some("US".to_owned()),
            ..Default::default()
        }),
        web_info: Some(WebInfo {
            web_sub_platform: Some(web_info::WebSubPlatform::WebBrowser as i32),
            ..Default::default()
        }),
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(ConnectReason::UserActivated as i32),
        ..Default::default()
    }
}

/// The payload of a device that is not paired yet: its registration id, identity key and signed
/// prekey, so that the server can pair it when a phone scans the QR code.
#[must_use]
pub fn registration_payload(
    credentials: &DeviceCredentials,
    version: ClientVersion,
    profile: &DeviceProfile,
) -> ClientPayload {
    let props = DeviceProps {
        os: Some(profile.os.clone()),
        version: Some(wa_proto::proto::companion::device_props::AppVersion {
            primary: Some(0),
            secondary: Some(1),
            tertiary: Some(0),
            ..Default::default()
        }),
        platform_type: Some(profile.platform_type as i32),
        require_full_sync: Some(false),
        ..Default::default()
    };
    let signed = &credentials.signed_pre_key;
    ClientPayload {
        passive: Some(false),
        pull: Some(false),
        device_pairing_data: Some(DevicePairingRegistrationData {
            e_regid: Some(credentials.registration_id.to_be_bytes().to_vec()),
            e_keytype: Some(vec![crate::DJB_TYPE]),
            e_ident: Some(credentials.identity.public.as_bytes().to_vec()),
            e_skey_id: Some(signed.id.to_be_bytes()[1..].to_vec()),
            e_skey_val: Some(signed.key_pair.public.as_bytes().to_vec()),
            e_skey_sig: Some(signed.signature.to_vec()),
            build_hash: Some(version.build_hash().to_vec()),
            device_props: Some(props.encode_to_vec()),
        }),
        ..base_payload(version)
    }
}

/// The payload of a paired device: the account's phone number and our device id.
///
/// # Errors
///
/// [`ConnectionError::NotPaired`] if the credentials have no account, [`Error::Malformed`] if the
/// account's JID user is not a phone number.
pub fn login_payload(
    credentials: &DeviceCredentials,
    version: ClientVersion,
) -> Result<ClientPayload> {
    let account =
        credentials.account.as_ref().ok_or(Error::Connection(ConnectionError::NotPaired))?;
    let username = account.jid.user.parse::<u64>().map_err(|_| {
        Error::malformed("device credentials", "the account JID is not a phone number")
    })?;
    Ok(ClientPayload {
        username: Some(username),
        device: Some(u32::from(account.jid.device)),
        passive: Some(true),
        pull: Some(true),
        push_name: credentials.push_name.clone(),
        lid_db_migrated: Some(true),
        ..base_payload(version)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_print_and_order() {
        let v: ClientVersion = "2.3000.1045649367".parse().unwrap();
        assert_eq!(v, ClientVersion::DEFAULT);
        assert_eq!(v.to_string(), "2.3000.1045649367");
        assert!(ClientVersion::new(2, 3000, 1) < v);
        for bad in ["", "2.3000", "2.3000.x", "2.3000.1.4", "-1.0.0"] {
            assert!(bad.parse::<ClientVersion>().is_err(), "{bad}");
        }
        // MD5("2.3000.1045649367"), computed independently with `md5sum`.
        assert_eq!(hex::encode(v.build_hash()), "9fa53af9421567b114e33c9bb1ef7db2");
    }
}
