//! The stanzas of the connection life cycle, built and read without IO: acks, the answer to
//! `pair-device`, prekey count and upload, `passive`, presence, keepalive, logout.

use wa_proto::{Jid, Node, Server};

use crate::{Error, Result, credentials::DeviceCredentials, signal::PreKeyRecord};

fn iq(xmlns: &'static str, kind: &'static str) -> wa_proto::NodeBuilder {
    Node::builder("iq").attr("to", Jid::server_jid()).attr("type", kind).attr("xmlns", xmlns)
}

fn bytes(tag: &'static str, value: impl Into<Vec<u8>>) -> Node {
    Node::builder(tag).bytes(value).build()
}

/// 3-byte big-endian, the width of prekey ids on the wire.
fn be24(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

pub use crate::message::ack::ack_for;

/// The refs of `<iq><pair-device><ref>...</ref>...</pair-device></iq>`.
///
/// # Errors
///
/// [`Error::Malformed`] if there is no ref or one is not UTF-8.
pub(crate) fn pair_device_refs(iq: &Node) -> Result<Vec<String>> {
    let refs = iq
        .child("pair-device")
        .map(|p| {
            p.children_with_tag("ref")
                .filter_map(Node::content_bytes)
                .map(|b| String::from_utf8(b.to_vec()))
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|_| Error::malformed("pair-device", "a ref is not UTF-8"))?
        .unwrap_or_default();
    if refs.is_empty() {
        return Err(Error::malformed("pair-device", "no refs"));
    }
    Ok(refs)
}

/// `<iq type="result" id=... to="s.whatsapp.net"/>`: the plain answer to a server request.
pub(crate) fn iq_result(request: &Node) -> Node {
    Node::builder("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "result")
        .attr("id", request.attr_opt_str("id").ok().flatten().unwrap_or_default().to_owned())
        .build()
}

/// `<iq xmlns="encrypt" type="get"><count/></iq>`.
pub(crate) fn pre_key_count_request() -> Node {
    iq("encrypt", "get").children([Node::new("count")]).build()
}

/// The count of one-time prekeys the server holds, from the answer to
/// [`pre_key_count_request`] or from an `encrypt` notification.
///
/// # Errors
///
/// [`Error::Malformed`] without a numeric `<count value>`.
pub(crate) fn pre_key_count(node: &Node) -> Result<u32> {
    node.child("count")
        .and_then(|c| c.attr_opt_str("value").ok().flatten())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::malformed("prekey count", "no numeric <count value>"))
}

/// Whether `notification` is the server saying it runs low on our one-time prekeys:
/// `<notification type="encrypt"><count value=N/></notification>` with N below `min`.
pub(crate) fn is_low_pre_key_notice(notification: &Node, min: u32) -> bool {
    notification.attr_opt_str("type").ok().flatten() == Some("encrypt")
        && pre_key_count(notification).is_ok_and(|count| count < min)
}

/// A contact's device list changed: `<notification type="devices" from=PN [lid=LID]>`. Returns
/// the user and, when the server gave it, the same user's LID (a LID <-> phone-number pair).
pub(crate) fn device_list_change(notification: &Node) -> Option<(Jid, Option<Jid>)> {
    if notification.attr_opt_str("type").ok().flatten() != Some("devices") {
        return None;
    }
    let from = notification.attr_opt_jid("from").ok().flatten()?;
    let lid = notification.attr_opt_jid("lid").ok().flatten().filter(|l| l.server == Server::Lid);
    Some((from, lid))
}

/// The upload of one-time prekeys, with our registration id, identity and signed prekey, in the
/// order the server expects.
pub(crate) fn pre_key_upload(credentials: &DeviceCredentials, keys: &[PreKeyRecord]) -> Node {
    let signed = &credentials.signed_pre_key;
    iq("encrypt", "set")
        .children([
            bytes("registration", credentials.registration_id.to_be_bytes().to_vec()),
            bytes("type", vec![crate::DJB_TYPE]),
            bytes("identity", credentials.identity.public.as_bytes().to_vec()),
            Node::builder("list")
                .children(keys.iter().map(|key| {
                    Node::builder("key")
                        .children([
                            bytes("id", be24(key.id)),
                            bytes("value", key.key_pair.public.as_bytes().to_vec()),
                        ])
                        .build()
                }))
                .build(),
            Node::builder("skey")
                .children([
                    bytes("id", be24(signed.id)),
                    bytes("value", signed.key_pair.public.as_bytes().to_vec()),
                    bytes("signature", signed.signature.to_vec()),
                ])
                .build(),
        ])
        .build()
}

/// `<iq xmlns="passive" type="set"><active/></iq>`: ready for the offline queue and live traffic.
pub(crate) fn passive_active() -> Node {
    iq("passive", "set").children([Node::new("active")]).build()
}

/// `<presence type="available" [name=push name]/>`.
pub(crate) fn presence_available(push_name: Option<&str>) -> Node {
    Node::builder("presence")
        .attr("type", "available")
        .opt_attr("name", push_name.map(str::to_owned))
        .build()
}

/// The keepalive: `<iq xmlns="w:p" type="get"><ping/></iq>`.
pub(crate) fn ping() -> Node {
    iq("w:p", "get").children([Node::new("ping")]).build()
}

/// `<iq xmlns="md" type="set"><remove-companion-device jid=own reason="user_initiated"/></iq>`.
pub(crate) fn remove_companion_device(own: &Jid) -> Node {
    iq("md", "set")
        .children([Node::builder("remove-companion-device")
            .attr("jid", own.clone())
            .attr("reason", "user_initiated")
            .build()])
        .build()
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;
    use crate::signal::generate_pre_keys;

    #[test]
    fn acks_follow_the_stanza() {
        let from: Jid = "15550001111@s.whatsapp.net".parse().unwrap();
        let message = Node::builder("message")
            .attr("id", "M1")
            .attr("from", from.clone())
            .attr("type", "text")
            .attr("participant", "15550002222:1@s.whatsapp.net".parse::<Jid>().unwrap())
            .build();
        let ack = ack_for(&message).unwrap();
        insta::assert_snapshot!(crate::client::render(&ack, true));
        assert!(ack.attr("type").is_none());
        let receipt = Node::builder("receipt")
            .attr("id", "R1")
            .attr("from", from)
            .attr("type", "read")
            .build();
        assert_eq!(ack_for(&receipt).unwrap().attr_str("type").unwrap(), "read");
        assert!(ack_for(&Node::builder("message").attr("id", "x").build()).is_err());
        assert!(ack_for(&Node::builder("receipt").attr("from", "a").build()).is_err());
    }

    #[test]
    fn pair_device_refs_are_read_in_order() {
        let node = Node::builder("iq")
            .children([Node::builder("pair-device")
                .children([bytes("ref", b"2@a".to_vec()), bytes("ref", b"2@b".to_vec())])
                .build()])
            .build();
        assert_eq!(pair_device_refs(&node).unwrap(), ["2@a", "2@b"]);
        assert!(pair_device_refs(&Node::builder("iq").build()).is_err());
        let bad = Node::builder("iq")
            .children([Node::builder("pair-device").children([bytes("ref", vec![0xff])]).build()])
            .build();
        assert!(pair_device_refs(&bad).is_err());
    }

    #[test]
    fn prekey_count_and_upload() {
        let answer = Node::builder("iq")
            .children([Node::builder("count").attr("value", "3").build()])
            .build();
        assert_eq!(pre_key_count(&answer).unwrap(), 3);
        let notice = |kind: &'static str, value: &'static str| {
            Node::builder("notification")
                .attr("type", kind)
                .children([Node::builder("count").attr("value", value).build()])
                .build()
        };
        assert!(is_low_pre_key_notice(&notice("encrypt", "4"), 5));
        assert!(!is_low_pre_key_notice(&notice("encrypt", "5"), 5));
        assert!(!is_low_pre_key_notice(&notice("encrypt", "x"), 5));
        assert!(!is_low_pre_key_notice(&notice("devices", "0"), 5));
        assert!(pre_key_count(&Node::builder("iq").build()).is_err());
        let mut rng = StdRng::seed_from_u64(3);
        let credentials = DeviceCredentials::generate(1_700_000_000, &mut rng);
        let keys = generate_pre_keys(0x01_0203, 2, &mut rng);
        let upload = pre_key_upload(&credentials, &keys);
        insta::assert_snapshot!(crate::client::render(&upload, true));
        let ids: Vec<&[u8]> = upload
            .child("list")
            .unwrap()
            .children()
            .iter()
            .map(|k| k.child("id").unwrap().content_bytes().unwrap())
            .collect();
        assert_eq!(ids, [&[1u8, 2, 3][..], &[1, 2, 4]]);
    }

    #[test]
    fn device_list_changes_name_the_user_and_its_lid() {
        let notice = |attrs: &[(&'static str, &'static str)]| {
            let mut b = Node::builder("notification");
            for (k, v) in attrs {
                b = b.attr(*k, *v);
            }
            b.build()
        };
        let jid = |s: &str| s.parse::<Jid>().unwrap();
        assert_eq!(
            device_list_change(&notice(&[
                ("type", "devices"),
                ("from", "5511@s.whatsapp.net"),
                ("lid", "777@lid")
            ])),
            Some((jid("5511@s.whatsapp.net"), Some(jid("777@lid"))))
        );
        assert_eq!(
            device_list_change(&notice(&[("type", "devices"), ("from", "5511@s.whatsapp.net")])),
            Some((jid("5511@s.whatsapp.net"), None))
        );
        // A `lid` that is not a LID is no pair; other notifications are not device changes.
        assert_eq!(
            device_list_change(&notice(&[
                ("type", "devices"),
                ("from", "5511@s.whatsapp.net"),
                ("lid", "5522@s.whatsapp.net")
            ])),
            Some((jid("5511@s.whatsapp.net"), None))
        );
        assert_eq!(
            device_list_change(&notice(&[("type", "encrypt"), ("from", "s.whatsapp.net")])),
            None
        );
        assert_eq!(device_list_change(&notice(&[("type", "devices")])), None);
    }

    #[test]
    fn life_cycle_requests() {
        let own: Jid = "15550001111:3@s.whatsapp.net".parse().unwrap();
        let all = [
            passive_active(),
            presence_available(Some("Shop")),
            presence_available(None),
            ping(),
            remove_companion_device(&own),
            pre_key_count_request(),
            iq_result(&Node::builder("iq").attr("id", "s1").build()),
        ];
        let text: Vec<String> = all.iter().map(|n| crate::client::render(n, true)).collect();
        insta::assert_snapshot!(text.join("\n"));
    }
}
