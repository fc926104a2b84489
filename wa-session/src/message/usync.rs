//! Device lists: the usync `devices` query (with the `lid` protocol) and its answer.

use wa_proto::{Jid, Node};

use super::iq;
use crate::{Error, Result};

/// `<iq xmlns="usync" type="get">` asking for the devices (and, with `with_lid`, the LID) of
/// `users`, in the message context: `<usync sid mode="query" last="true" index="0"
/// context="message"><query><devices version="2"/>[<lid/>]</query><list><user jid/>...</list>`.
///
/// Device and agent parts of `users` are dropped: usync asks about accounts.
pub fn devices_query(request_id: &str, sid: &str, users: &[Jid], with_lid: bool) -> Node {
    let mut protocols = vec![Node::builder("devices").attr("version", "2").build()];
    if with_lid {
        protocols.push(Node::new("lid"));
    }
    let list =
        users.iter().map(|user| Node::builder("user").attr("jid", user.to_non_device()).build());
    let usync = Node::builder("usync")
        .attr("sid", sid.to_owned())
        .attr("mode", "query")
        .attr("last", "true")
        .attr("index", "0")
        .attr("context", "message")
        .children([
            Node::builder("query").children(protocols).build(),
            Node::builder("list").children(list).build(),
        ])
        .build();
    iq::request(request_id, "get", "usync", [usync])
}

/// One device of a user's device list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceEntry {
    /// The device id: 0 for the primary phone, 1.. for companions.
    pub id: u16,
    /// The companion's key index in the account's signed key index list (absent for device 0).
    pub key_index: Option<u32>,
}

/// What the usync answer says about one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDevices {
    /// The user as the answer names it (no device).
    pub user: Jid,
    /// The user's devices, in the answer's order.
    pub devices: Vec<DeviceEntry>,
    /// The user's LID (no device), when the `lid` protocol was asked and answered.
    pub lid: Option<Jid>,
}

impl UserDevices {
    /// The device JIDs of this user in the addressing of [`UserDevices::user`].
    pub fn device_jids(&self) -> Vec<Jid> {
        self.device_jids_in(&self.user)
    }

    /// The device JIDs of this user in the addressing of `user` (for example its LID).
    pub fn device_jids_in(&self, user: &Jid) -> Vec<Jid> {
        self.devices
            .iter()
            .map(|device| Jid { device: device.id, ..user.to_non_device() })
            .collect()
    }
}

/// Parses the answer to [`devices_query`]: each `<user jid>` of `<usync><list>` with its
/// `<devices><device-list><device id [key-index]/>` and `<lid val/>`. A user whose `<devices>` is
/// missing or holds an error has an empty device list.
pub fn parse_devices(answer: &Node) -> Result<Vec<UserDevices>> {
    iq::check_result(answer)?;
    let list = answer
        .child("usync")
        .and_then(|usync| usync.child("list"))
        .ok_or_else(|| Error::stanza("iq", "usync answer without <usync><list>"))?;
    let mut users = Vec::new();
    for user in list.children_with_tag("user") {
        let jid = user.attr_jid("jid").map_err(|error| Error::stanza("user", error.to_string()))?;
        let mut devices = Vec::new();
        let entries = user
            .child("devices")
            .and_then(|devices| devices.child("device-list"))
            .map(Node::children)
            .unwrap_or_default();
        for device in entries.iter().filter(|node| node.tag == "device") {
            let id = device
                .attr_u64("id")
                .ok()
                .and_then(|id| u16::try_from(id).ok())
                .ok_or_else(|| Error::stanza("device", "id is not a device number"))?;
            let key_index = match device.attr("key-index") {
                None => None,
                Some(_) => Some(
                    device
                        .attr_u64("key-index")
                        .ok()
                        .and_then(|index| u32::try_from(index).ok())
                        .ok_or_else(|| Error::stanza("device", "key-index is not a number"))?,
                ),
            };
            devices.push(DeviceEntry { id, key_index });
        }
        let lid = match user.child("lid") {
            Some(lid) if lid.attr("val").is_some() => Some(
                lid.attr_jid("val")
                    .map_err(|error| Error::stanza("lid", error.to_string()))?
                    .to_non_device(),
            ),
            _ => None,
        };
        users.push(UserDevices { user: jid.to_non_device(), devices, lid });
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::xml::xml;
    use crate::{ConnectionError, MessageError};

    fn jid(text: &str) -> Jid {
        text.parse().unwrap()
    }

    #[test]
    fn query_shape() {
        let users = [jid("5511:3@s.whatsapp.net"), jid("5522@s.whatsapp.net")];
        insta::assert_snapshot!(xml(&devices_query("r-1", "sid-1", &users, true)));
    }

    fn answer(users: Vec<Node>) -> Node {
        Node::builder("iq")
            .attr("type", "result")
            .children([Node::builder("usync")
                .children([Node::builder("list").children(users).build()])
                .build()])
            .build()
    }

    #[test]
    fn parses_devices_key_indexes_and_lid() {
        let alice = Node::builder("user")
            .attr("jid", jid("5511@s.whatsapp.net"))
            .children([
                Node::builder("devices")
                    .children([Node::builder("device-list")
                        .children([
                            Node::builder("device").attr("id", "0").build(),
                            Node::builder("device").attr("id", "7").attr("key-index", "2").build(),
                        ])
                        .build()])
                    .build(),
                Node::builder("lid").attr("val", jid("999@lid")).build(),
            ])
            .build();
        let bob = Node::builder("user").attr("jid", jid("5522@s.whatsapp.net")).build();
        let users = parse_devices(&answer(vec![alice, bob])).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(
            users[0].devices,
            [DeviceEntry { id: 0, key_index: None }, DeviceEntry { id: 7, key_index: Some(2) }]
        );
        assert_eq!(users[0].lid, Some(jid("999@lid")));
        assert_eq!(
            users[0].device_jids(),
            [jid("5511@s.whatsapp.net"), jid("5511:7@s.whatsapp.net")]
        );
        assert_eq!(users[0].device_jids_in(&jid("999@lid"))[1], jid("999:7@lid"));
        assert!(users[1].devices.is_empty());
        assert_eq!(users[1].lid, None);
    }

    #[test]
    fn rejects_bad_answers() {
        let bad_id = Node::builder("user")
            .attr("jid", jid("5511@s.whatsapp.net"))
            .children([Node::builder("devices")
                .children([Node::builder("device-list")
                    .children([Node::builder("device").attr("id", "70000").build()])
                    .build()])
                .build()])
            .build();
        assert!(matches!(
            parse_devices(&answer(vec![bad_id])),
            Err(Error::Message(MessageError::Stanza { .. }))
        ));
        assert!(matches!(
            parse_devices(&Node::builder("iq").attr("type", "result").build()),
            Err(Error::Message(MessageError::Stanza { .. }))
        ));
        let error = Node::builder("iq")
            .attr("type", "error")
            .children([Node::builder("error").attr("code", "500").build()])
            .build();
        assert!(matches!(
            parse_devices(&error),
            Err(Error::Connection(ConnectionError::Iq { .. }))
        ));
    }
}
