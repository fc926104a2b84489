//! Acks and receipts: builders for what we send, a parser for what we receive.

use wa_proto::{Jid, Node, Server};

use super::{
    bundle::parse_bundle,
    bytes::{be, parse_be},
    receive::MessageInfo,
};
use crate::{Error, Result, signal::PreKeyBundle};

fn text_attr<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.attr_opt_str(key).ok().flatten()
}

fn jid_attr(node: &Node, key: &str) -> Result<Option<Jid>> {
    node.attr_opt_jid(key).map_err(|error| Error::stanza(node.tag.to_string(), error.to_string()))
}

/// The `<ack>` every incoming `message`, `receipt`, `notification` and `call` needs:
/// `<ack id to=from class=tag [error] [participant] [recipient] [type] [from=own]>`, `from` only
/// for messages (as WhatsApp Web does). `error` turns it into a negative ack (a "nack") with that
/// reason code.
pub fn ack(stanza: &Node, own: Option<&Jid>, error: Option<u16>) -> Result<Node> {
    let tag = stanza.tag.to_string();
    let id = text_attr(stanza, "id").ok_or_else(|| Error::stanza(tag.clone(), "missing id"))?;
    let from =
        jid_attr(stanza, "from")?.ok_or_else(|| Error::stanza(tag.clone(), "missing from"))?;
    let mut ack =
        Node::builder("ack").attr("id", id.to_owned()).attr("to", from).attr("class", tag);
    if let Some(code) = error {
        ack = ack.attr("error", code.to_string());
    }
    for key in ["participant", "recipient"] {
        if let Some(jid) = jid_attr(stanza, key)? {
            ack = ack.attr(key, jid);
        }
    }
    if let Some(kind) = text_attr(stanza, "type") {
        ack = ack.attr("type", kind.to_owned());
    }
    if stanza.tag == "message"
        && let Some(own) = own
    {
        ack = ack.attr("from", own.clone());
    }
    Ok(ack.build())
}

/// `<receipt id=ids[0] to [participant] [recipient] [type] [t]>[<list><item id/>...</list>]`:
/// the first id in `id`, the rest as items.
pub fn receipt(
    to: &Jid,
    participant: Option<&Jid>,
    recipient: Option<&Jid>,
    ids: &[String],
    kind: Option<&'static str>,
    timestamp: Option<u64>,
) -> Result<Node> {
    let (first, rest) =
        ids.split_first().ok_or_else(|| Error::stanza("receipt", "no message ids"))?;
    let mut node = Node::builder("receipt").attr("id", first.clone()).attr("to", to.clone());
    if let Some(participant) = participant {
        node = node.attr("participant", participant.clone());
    }
    if let Some(recipient) = recipient {
        node = node.attr("recipient", recipient.clone());
    }
    if let Some(kind) = kind {
        node = node.attr("type", kind);
    }
    if let Some(timestamp) = timestamp {
        node = node.attr("t", timestamp.to_string());
    }
    if !rest.is_empty() {
        let items = rest.iter().map(|id| Node::builder("item").attr("id", id.clone()).build());
        node = node.children([Node::builder("list").children(items).build()]);
    }
    Ok(node.build())
}

/// The delivery receipt for a decrypted message: `to` the chat (with `participant` in groups);
/// for a copy of our own message, `type="sender"` `to` the sending device with `recipient` the
/// chat.
pub fn delivery_receipt(info: &MessageInfo) -> Node {
    let ids = std::slice::from_ref(&info.id);
    let built = if info.is_group {
        receipt(&info.chat, Some(&info.sender), None, ids, info.from_me.then_some("sender"), None)
    } else if info.from_me {
        receipt(&info.sender, None, Some(&info.chat), ids, Some("sender"), None)
    } else {
        receipt(&info.chat, None, None, ids, None, None)
    };
    // `ids` has one element, the only thing `receipt` can refuse.
    built.unwrap_or_else(|_| Node::new("receipt"))
}

/// Which "seen" receipt to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenKind {
    /// The messages were read (`read`).
    Read,
    /// The voice notes or videos were played (`played`).
    Played,
}

/// Read or played receipt for `ids` of `chat` (all sent by `sender`, which goes in `participant`
/// for a group): `t` is set on read receipts, as WhatsApp Web does.
pub fn seen_receipt(
    chat: &Jid,
    sender: Option<&Jid>,
    ids: &[String],
    kind: SeenKind,
    now: u64,
) -> Result<Node> {
    let participant = sender.filter(|_| matches!(chat.server, Server::Group | Server::Broadcast));
    match kind {
        SeenKind::Read => receipt(chat, participant, None, ids, Some("read"), Some(now)),
        SeenKind::Played => receipt(chat, participant, None, ids, Some("played"), None),
    }
}

fn bytes_node(tag: &'static str, bytes: impl Into<Vec<u8>>) -> Node {
    Node::builder(tag).bytes(bytes).build()
}

/// The retry receipt for a `<message>` we could not decrypt: `<receipt id type="retry" to=from
/// [recipient] [participant]><retry count id t v="1"/><registration>BE32</registration>
/// [<keys><type/><identity/><key/><skey/>[<device-identity/>]</keys>]</receipt>`.
///
/// `own_keys` is our own bundle (registration id, identity, one fresh one-time prekey, the signed
/// prekey); the keys are included when `include_keys` (WhatsApp clients do so from the second
/// retry on, so the sender can start a new session without fetching).
pub fn retry_receipt(
    message: &Node,
    count: u32,
    own_keys: &PreKeyBundle,
    include_keys: bool,
    device_identity: Option<&[u8]>,
) -> Result<Node> {
    let id = text_attr(message, "id").ok_or_else(|| Error::stanza("message", "missing id"))?;
    let from =
        jid_attr(message, "from")?.ok_or_else(|| Error::stanza("message", "missing from"))?;
    let mut node =
        Node::builder("receipt").attr("id", id.to_owned()).attr("type", "retry").attr("to", from);
    for key in ["recipient", "participant"] {
        if let Some(jid) = jid_attr(message, key)? {
            node = node.attr(key, jid);
        }
    }
    let mut retry =
        Node::builder("retry").attr("count", count.to_string()).attr("id", id.to_owned());
    if let Some(t) = text_attr(message, "t") {
        retry = retry.attr("t", t.to_owned());
    }
    let mut children = vec![
        retry.attr("v", "1").build(),
        bytes_node("registration", be(own_keys.registration_id, 4)),
    ];
    if include_keys {
        let mut keys = vec![
            bytes_node("type", [crate::DJB_TYPE]),
            bytes_node("identity", own_keys.identity_key.as_bytes().to_vec()),
        ];
        if let Some((id, key)) = own_keys.pre_key {
            keys.push(
                Node::builder("key")
                    .children([
                        bytes_node("id", be(id, 3)),
                        bytes_node("value", key.as_bytes().to_vec()),
                    ])
                    .build(),
            );
        }
        keys.push(
            Node::builder("skey")
                .children([
                    bytes_node("id", be(own_keys.signed_pre_key_id, 3)),
                    bytes_node("value", own_keys.signed_pre_key.as_bytes().to_vec()),
                    bytes_node("signature", own_keys.signed_pre_key_signature.clone()),
                ])
                .build(),
        );
        if let Some(identity) = device_identity {
            keys.push(bytes_node("device-identity", identity.to_vec()));
        }
        children.push(Node::builder("keys").children(keys).build());
    }
    Ok(node.children(children).build())
}

/// What a retry receipt asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRequest {
    /// How many times the device has asked (1 for the first retry).
    pub count: u32,
    /// The original message's timestamp, if given.
    pub timestamp: Option<u64>,
    /// The device's registration id: if it differs from the session's, the device was reinstalled.
    pub registration_id: Option<u32>,
    /// The device's keys, when included: start a new session from them before re-encrypting.
    pub keys: Option<PreKeyBundle>,
    /// The device's `<device-identity>`, when included.
    pub device_identity: Option<Vec<u8>>,
}

/// What a receipt says about the messages it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptKind {
    /// Delivered to the device (no `type`).
    Delivered,
    /// Read (`read`).
    Read,
    /// Played (`played`).
    Played,
    /// The device could not decrypt and asks for the message again (`retry`).
    Retry(RetryRequest),
    /// Any other type, as given (`read-self`, `sender`, `inactive`, `server-error`, ...).
    Other(String),
}

/// An incoming `<receipt>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The chat of the messages.
    pub chat: Jid,
    /// The device that sent the receipt.
    pub sender: Jid,
    /// The message ids: `id` first, then the `<list><item id>`s.
    pub ids: Vec<String>,
    /// The server's timestamp (`t`), 0 when absent.
    pub timestamp: u64,
    /// What happened.
    pub kind: ReceiptKind,
}

/// Parses an incoming `<receipt id from [participant] [recipient] [type] [t]>`.
pub fn parse_receipt(node: &Node) -> Result<Receipt> {
    if node.tag != "receipt" {
        return Err(Error::stanza(node.tag.to_string(), "expected <receipt>"));
    }
    let first = text_attr(node, "id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::stanza("receipt", "missing id"))?;
    let from = jid_attr(node, "from")?.ok_or_else(|| Error::stanza("receipt", "missing from"))?;
    let participant = jid_attr(node, "participant")?;
    let recipient = jid_attr(node, "recipient")?;
    let (chat, sender) = if matches!(from.server, Server::Group | Server::Broadcast) {
        let sender = participant
            .ok_or_else(|| Error::stanza("receipt", "group receipt without participant"))?;
        (from, sender)
    } else {
        let chat = recipient.map_or_else(|| from.to_non_device(), |jid| jid.to_non_device());
        (chat, from)
    };
    let mut ids = vec![first.to_owned()];
    if let Some(list) = node.child("list") {
        for item in list.children_with_tag("item") {
            let id = text_attr(item, "id").ok_or_else(|| Error::stanza("item", "missing id"))?;
            ids.push(id.to_owned());
        }
    }
    let timestamp = match node.attr("t") {
        Some(_) => {
            node.attr_u64("t").map_err(|error| Error::stanza("receipt", error.to_string()))?
        }
        None => 0,
    };
    let kind = match text_attr(node, "type") {
        None | Some("") => ReceiptKind::Delivered,
        Some("read") => ReceiptKind::Read,
        Some("played") => ReceiptKind::Played,
        Some("retry") => ReceiptKind::Retry(parse_retry(node, &sender)?),
        Some(other) => ReceiptKind::Other(other.to_owned()),
    };
    Ok(Receipt { chat, sender, ids, timestamp, kind })
}

fn parse_retry(node: &Node, sender: &Jid) -> Result<RetryRequest> {
    let retry =
        node.child("retry").ok_or_else(|| Error::stanza("receipt", "retry without <retry>"))?;
    let count = retry
        .attr_u64("count")
        .ok()
        .and_then(|count| u32::try_from(count).ok())
        .ok_or_else(|| Error::stanza("retry", "count is not a number"))?;
    let timestamp = match retry.attr("t") {
        Some(_) => {
            Some(retry.attr_u64("t").map_err(|error| Error::stanza("retry", error.to_string()))?)
        }
        None => None,
    };
    let registration_id = match node.child("registration") {
        Some(registration) => Some(
            parse_be(registration.content_bytes(), 4, "registration")
                .map_err(|error| Error::stanza("registration", error.to_string()))?,
        ),
        None => None,
    };
    let (keys, device_identity) = match node.child("keys") {
        Some(keys) => {
            // The registration id sits beside <keys>, not inside it.
            let mut bundle_node = keys.clone();
            if let (Some(registration), wa_proto::Content::Nodes(children)) =
                (node.child("registration"), &mut bundle_node.content)
            {
                children.push(registration.clone());
            }
            let identity =
                keys.child("device-identity").and_then(Node::content_bytes).map(<[u8]>::to_vec);
            (Some(parse_bundle(&bundle_node, sender)?), identity)
        }
        None => (None, None),
    };
    Ok(RetryRequest { count, timestamp, registration_id, keys, device_identity })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageError;
    use crate::{
        message::{receive::AddressingMode, xml::xml},
        store::conformance::{TestRng, device_keys},
    };

    fn jid(text: &str) -> Jid {
        text.parse().unwrap()
    }

    fn incoming() -> Node {
        Node::builder("message")
            .attr("id", "3EB0AA")
            .attr("from", jid("5522:2@s.whatsapp.net"))
            .attr("type", "text")
            .attr("t", "1700000000")
            .build()
    }

    fn info(from_me: bool, is_group: bool) -> MessageInfo {
        MessageInfo {
            id: "3EB0AA".into(),
            chat: if is_group { jid("1203@g.us") } else { jid("5522@s.whatsapp.net") },
            sender: jid("5522:2@s.whatsapp.net"),
            sender_alt: None,
            addressing_mode: AddressingMode::Pn,
            recipient: None,
            from_me,
            is_group,
            timestamp: 1_700_000_000,
            push_name: None,
            kind: "text".into(),
        }
    }

    #[test]
    fn ack_shapes() {
        let own = jid("5511:3@s.whatsapp.net");
        let mut shapes = xml(&ack(&incoming(), Some(&own), None).unwrap());
        let receipt = Node::builder("receipt")
            .attr("id", "R1")
            .attr("from", jid("1203@g.us"))
            .attr("participant", jid("5522:2@s.whatsapp.net"))
            .attr("type", "read")
            .build();
        shapes += &xml(&ack(&receipt, Some(&own), None).unwrap());
        shapes += &xml(&ack(&incoming(), Some(&own), Some(487)).unwrap());
        insta::assert_snapshot!(shapes);
        assert!(ack(&Node::new("message"), None, None).is_err());
    }

    #[test]
    fn receipt_shapes() {
        let ids: Vec<String> = ["A", "B", "C"].map(String::from).to_vec();
        let mut shapes = xml(&delivery_receipt(&info(false, false)));
        shapes += &xml(&delivery_receipt(&info(true, false)));
        shapes += &xml(&delivery_receipt(&info(false, true)));
        shapes += &xml(&seen_receipt(
            &jid("5522@s.whatsapp.net"),
            None,
            &ids,
            SeenKind::Read,
            1_700_000_100,
        )
        .unwrap());
        shapes += &xml(&seen_receipt(
            &jid("1203@g.us"),
            Some(&jid("5522:2@s.whatsapp.net")),
            &ids[..1],
            SeenKind::Played,
            1,
        )
        .unwrap());
        insta::assert_snapshot!(shapes);
        assert!(seen_receipt(&jid("5522@s.whatsapp.net"), None, &[], SeenKind::Read, 1).is_err());
    }

    #[test]
    fn retry_receipt_round_trips_through_the_parser() {
        let keys = device_keys(4, &mut TestRng(8)).bundle;
        let first = retry_receipt(&incoming(), 1, &keys, false, None).unwrap();
        let second = retry_receipt(&incoming(), 2, &keys, true, Some(&[9, 9])).unwrap();
        insta::assert_snapshot!(format!("{}{}", xml(&first), xml(&second)));

        // What the sender sees: the same receipt relayed with `from` = the failing device.
        let relay = |mut node: Node| {
            node.attrs.retain(|(key, _)| key != "to");
            node.attrs.push(("from".into(), jid("5522:2@s.whatsapp.net").into()));
            node
        };
        let parsed = parse_receipt(&relay(first)).unwrap();
        assert_eq!(parsed.ids, ["3EB0AA"]);
        let ReceiptKind::Retry(request) = parsed.kind else { panic!("not a retry") };
        assert_eq!((request.count, request.timestamp), (1, Some(1_700_000_000)));
        assert_eq!(request.registration_id, Some(keys.registration_id));
        assert_eq!(request.keys, None);

        let ReceiptKind::Retry(request) = parse_receipt(&relay(second)).unwrap().kind else {
            panic!("not a retry")
        };
        let mut expected = keys;
        expected.device_id = 2;
        assert_eq!(request.keys, Some(expected));
        assert_eq!(request.device_identity.as_deref(), Some(&[9u8, 9][..]));
    }

    #[test]
    fn parses_receipts() {
        let read = Node::builder("receipt")
            .attr("id", "A")
            .attr("from", jid("5522:2@s.whatsapp.net"))
            .attr("type", "read")
            .attr("t", "17")
            .children([Node::builder("list")
                .children([Node::builder("item").attr("id", "B").build()])
                .build()])
            .build();
        let parsed = parse_receipt(&read).unwrap();
        assert_eq!(parsed.chat, jid("5522@s.whatsapp.net"));
        assert_eq!(parsed.sender, jid("5522:2@s.whatsapp.net"));
        assert_eq!(parsed.ids, ["A", "B"]);
        assert_eq!((parsed.timestamp, parsed.kind), (17, ReceiptKind::Read));

        let group = Node::builder("receipt")
            .attr("id", "A")
            .attr("from", jid("1203@g.us"))
            .attr("participant", jid("5533:1@s.whatsapp.net"))
            .build();
        let parsed = parse_receipt(&group).unwrap();
        assert_eq!((parsed.chat, parsed.kind), (jid("1203@g.us"), ReceiptKind::Delivered));
        assert_eq!(parsed.sender, jid("5533:1@s.whatsapp.net"));

        let own_copy = Node::builder("receipt")
            .attr("id", "A")
            .attr("from", jid("5511:4@s.whatsapp.net"))
            .attr("recipient", jid("5522@s.whatsapp.net"))
            .attr("type", "read-self")
            .build();
        let parsed = parse_receipt(&own_copy).unwrap();
        assert_eq!(parsed.chat, jid("5522@s.whatsapp.net"));
        assert_eq!(parsed.kind, ReceiptKind::Other("read-self".into()));

        for bad in [
            Node::builder("receipt").attr("from", jid("5522@s.whatsapp.net")).build(),
            Node::builder("receipt").attr("id", "A").build(),
            Node::builder("receipt").attr("id", "A").attr("from", jid("1203@g.us")).build(),
            Node::builder("receipt")
                .attr("id", "A")
                .attr("from", jid("5522@s.whatsapp.net"))
                .attr("type", "retry")
                .build(),
        ] {
            assert!(
                matches!(parse_receipt(&bad), Err(Error::Message(MessageError::Stanza { .. }))),
                "{bad:?}"
            );
        }
    }
}
