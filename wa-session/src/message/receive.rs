//! Decrypting an incoming `<message>`: who sent it in which chat, our `<enc>`, the Signal step,
//! unpadding, the `proto::e2e::Message`, and the `DeviceSentMessage` copies of our own sends.

use prost::Message as _;
use rand_core::CryptoRng;
use wa_proto::{Jid, Node, Server, proto::e2e};

use super::{bundle::protocol_address, send::OwnDevice};
use crate::{
    CryptoError, Error, MessageError, Result, SignalError,
    signal::{
        cipher,
        message::{SenderKeyDistributionMessage, SenderKeyMessage},
        padding,
    },
    store::{MessageCommit, SenderKeyName, SignalStore},
};

/// How the sender addressed the message: by phone number or by LID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingMode {
    /// Phone-number JIDs (`s.whatsapp.net`).
    Pn,
    /// LID JIDs (`lid`).
    Lid,
}

/// The envelope of a received message: everything the stanza says outside the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The message id.
    pub id: String,
    /// The chat: the other user of a 1:1 chat (no device), the group, or the broadcast list. For
    /// our own messages sent from another device, the chat they went to.
    pub chat: Jid,
    /// The device that sent it.
    pub sender: Jid,
    /// The sender in the other addressing (`sender_pn`/`participant_pn` when addressed by LID,
    /// `sender_lid`/`participant_lid` when by phone number), when the server gave it.
    pub sender_alt: Option<Jid>,
    /// How the message was addressed.
    pub addressing_mode: AddressingMode,
    /// The `recipient` attribute: set on copies of our own messages, naming the chat.
    pub recipient: Option<Jid>,
    /// Whether one of our own devices sent it.
    pub from_me: bool,
    /// Whether the chat is a group.
    pub is_group: bool,
    /// The server's timestamp (`t`, unix seconds; 0 when absent).
    pub timestamp: u64,
    /// The sender's push name (`notify`), if given.
    pub push_name: Option<String>,
    /// The stanza's `type` (`text`, `media`, `reaction`, ...).
    pub kind: String,
}

/// A decrypted message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// Its envelope (with the chat of a `DeviceSentMessage` already applied).
    pub info: MessageInfo,
    /// The content, unwrapped from `DeviceSentMessage` when it came from our own device.
    pub message: e2e::Message,
    /// The sender's `<device-identity>` bytes (an encoded `ADVSignedDeviceIdentity`), if attached.
    pub device_identity: Option<Vec<u8>>,
    /// Whether the sender's identity key differs from the one stored for it (a reinstall or a
    /// new phone): the message's commit replaces it.
    pub identity_changed: bool,
}

fn jid_attr(node: &Node, key: &str) -> Result<Option<Jid>> {
    node.attr_opt_jid(key).map_err(|error| Error::stanza(node.tag.to_string(), error.to_string()))
}

fn is_user_server(server: &Server) -> bool {
    matches!(server, Server::User | Server::Lid | Server::Hosted | Server::HostedLid)
}

/// Reads the envelope of a `<message>` (or its parts that a retry receipt or an ack needs) without
/// decrypting anything.
pub fn parse_message_info(node: &Node, own: &OwnDevice) -> Result<MessageInfo> {
    if node.tag != "message" {
        return Err(Error::stanza(node.tag.to_string(), "expected <message>"));
    }
    let id = node
        .attr_opt_str("id")
        .ok()
        .flatten()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::stanza("message", "missing id"))?
        .to_owned();
    let from = jid_attr(node, "from")?.ok_or_else(|| Error::stanza("message", "missing from"))?;
    let participant = jid_attr(node, "participant")?;
    let recipient = jid_attr(node, "recipient")?;
    let (chat, sender, is_group) = if is_user_server(&from.server) {
        let chat = match &recipient {
            Some(recipient) if !own.is_own_user(&from) => {
                return Err(Error::stanza("message", "recipient set on a message not from us"));
            }
            Some(recipient) => recipient.to_non_device(),
            None => from.to_non_device(),
        };
        (chat, from, false)
    } else if matches!(from.server, Server::Group | Server::Broadcast) {
        let participant = participant
            .ok_or_else(|| Error::stanza("message", "group message without participant"))?;
        (from.clone(), participant, from.server == Server::Group)
    } else {
        return Err(Error::stanza("message", format!("unsupported sender server {}", from.server)));
    };
    let addressing_mode = match node.attr_opt_str("addressing_mode").ok().flatten() {
        Some("lid") => AddressingMode::Lid,
        Some(_) => AddressingMode::Pn,
        None if sender.server == Server::Lid => AddressingMode::Lid,
        None => AddressingMode::Pn,
    };
    let alt_keys: [&str; 3] = match addressing_mode {
        AddressingMode::Lid => ["participant_pn", "sender_pn", "peer_recipient_pn"],
        AddressingMode::Pn => ["participant_lid", "sender_lid", "peer_recipient_lid"],
    };
    let mut sender_alt = None;
    for key in alt_keys {
        if let Some(jid) = jid_attr(node, key)? {
            sender_alt = Some(jid);
            break;
        }
    }
    let timestamp = match node.attr("t") {
        Some(_) => {
            node.attr_u64("t").map_err(|error| Error::stanza("message", error.to_string()))?
        }
        None => 0,
    };
    let text = |key: &str| node.attr_opt_str(key).ok().flatten().map(str::to_owned);
    Ok(MessageInfo {
        id,
        from_me: own.is_own_user(&sender),
        chat,
        sender,
        sender_alt,
        addressing_mode,
        recipient,
        is_group,
        timestamp,
        push_name: text("notify"),
        kind: text("type").unwrap_or_else(|| "text".to_owned()),
    })
}

/// The `<enc>` nodes meant for us: direct children, or ours inside `<participants><to jid>`.
fn our_encs<'a>(node: &'a Node, own: &OwnDevice) -> Vec<&'a Node> {
    let direct: Vec<&Node> = node.children_with_tag("enc").collect();
    if !direct.is_empty() {
        return direct;
    }
    node.child("participants")
        .into_iter()
        .flat_map(|participants| participants.children_with_tag("to"))
        .filter(|to| to.attr_jid("jid").is_ok_and(|jid| own.is_this_device(&jid)))
        .flat_map(|to| to.children_with_tag("enc"))
        .collect()
}

fn decode(padded: &[u8]) -> Result<e2e::Message> {
    let plaintext = padding::unpad(padded)?;
    e2e::Message::decode(plaintext)
        .map_err(|error| Error::malformed("e2e message", error.to_string()))
}

fn enc_type(enc: &Node) -> &str {
    enc.attr_opt_str("type").ok().flatten().unwrap_or_default()
}

fn enc_bytes(enc: &Node) -> Result<&[u8]> {
    enc.content_bytes().ok_or_else(|| Error::stanza("enc", "no ciphertext"))
}

/// Decrypts a `<message>` addressed to this device and processes an attached sender key
/// distribution. Every Signal state change of the message is written in one
/// [`MessageCommit`].
///
/// Errors: [`MessageError::Stanza`] for a malformed envelope, [`MessageError::NothingToDecrypt`],
/// [`MessageError::UnsupportedEnc`], [`SignalError::DuplicateMessage`] for a message already
/// decrypted, and the Signal errors; [`Error::asks_for_retry_receipt`] says which call for a retry
/// receipt.
pub async fn decrypt_message<S: SignalStore + ?Sized>(
    store: &S,
    own: &OwnDevice,
    node: &Node,
    rng: &mut (impl CryptoRng + Send),
) -> Result<ReceivedMessage> {
    let (received, commit) = decrypt_message_uncommitted(store, own, node, rng).await?;
    store.commit(commit).await?;
    Ok(received)
}

/// [`decrypt_message`] without writing anything: the message and the one commit that makes its
/// Signal state changes permanent. Until it is applied, the same stanza decrypts again; once it
/// is, a redelivery fails with [`SignalError::DuplicateMessage`]. This is what lets a client hand a
/// message to the application before its ratchet moves on.
pub async fn decrypt_message_uncommitted<S: SignalStore + ?Sized>(
    store: &S,
    own: &OwnDevice,
    node: &Node,
    rng: &mut (impl CryptoRng + Send),
) -> Result<(ReceivedMessage, MessageCommit)> {
    let mut info = parse_message_info(node, own)?;
    let encs = our_encs(node, own);
    if encs.is_empty() {
        return Err(Error::Message(MessageError::NothingToDecrypt { id: info.id.clone() }));
    }
    let sender = protocol_address(&info.sender);
    for enc in &encs {
        let version = enc.attr_opt_str("v").ok().flatten().unwrap_or_default();
        if version != "2" || !matches!(enc_type(enc), "pkmsg" | "msg" | "skmsg") {
            return Err(Error::Message(MessageError::UnsupportedEnc {
                enc_type: enc_type(enc).to_owned(),
                version: version.to_owned(),
            }));
        }
    }
    let mut commit = MessageCommit::default();
    let mut identity_changed = false;
    let mut pairwise = None;
    let mut group = None;
    // Pairwise first: it may carry the sender key the group ciphertext needs.
    for enc in encs.iter().filter(|enc| enc_type(enc) != "skmsg") {
        if pairwise.is_some() {
            return Err(Error::stanza("message", "more than one pairwise <enc> for this device"));
        }
        let bytes = enc_bytes(enc)?;
        let (padded, step) = if enc_type(enc) == "pkmsg" {
            cipher::decrypt_pre_key_message_uncommitted(store, &sender, bytes, rng).await?
        } else {
            cipher::decrypt_message_uncommitted(store, &sender, bytes, rng).await?
        };
        if let Some((address, key)) = &step.identity {
            identity_changed = cipher::replaces_identity(store, address, key).await?;
        }
        commit = step;
        let message = decode(&padded)?;
        if let Some(distribution) = &message.sender_key_distribution_message
            && let (Some(group_id), Some(bytes)) = (
                distribution.group_id.as_deref(),
                distribution.axolotl_sender_key_distribution_message.as_deref(),
            )
        {
            let name = SenderKeyName::new(group_id, sender.clone());
            let distribution = SenderKeyDistributionMessage::deserialize(bytes)?;
            let mut record = store.sender_key(&name).await?.unwrap_or_default();
            record.process_distribution(&distribution);
            commit.sender_key = Some((name, record));
        }
        pairwise = Some(message);
    }
    for enc in encs.iter().filter(|enc| enc_type(enc) == "skmsg") {
        let name = SenderKeyName::new(info.chat.to_string(), sender.clone());
        let message = SenderKeyMessage::deserialize(enc_bytes(enc)?)?;
        let mut record = match commit.sender_key.take() {
            Some((known, record)) if known == name => record,
            other => {
                commit.sender_key = other;
                store.sender_key(&name).await?.ok_or_else(|| {
                    Error::Signal(SignalError::NoSenderKey {
                        name: name.to_string(),
                        key_id: Some(message.key_id),
                    })
                })?
            }
        };
        let padded = record.decrypt(&message).map_err(|error| match error {
            Error::Signal(SignalError::NoSenderKey { key_id, .. }) => {
                Error::Signal(SignalError::NoSenderKey { name: name.to_string(), key_id })
            }
            other => other,
        })?;
        if commit.sender_key.is_some() {
            return Err(Error::stanza("message", "sender keys for two groups in one message"));
        }
        commit.sender_key = Some((name, record));
        group = Some(decode(&padded)?);
    }
    let mut message = group.or(pairwise).unwrap_or_default();
    if info.from_me
        && let Some(sent) = message.device_sent_message.take()
    {
        if let Some(chat) = sent.destination_jid.as_deref().and_then(|jid| jid.parse::<Jid>().ok())
        {
            info.chat = chat;
        }
        let context = message.message_context_info.take();
        message = sent.message.map(|inner| *inner).unwrap_or_default();
        if message.message_context_info.is_none() {
            message.message_context_info = context;
        }
    }
    let device_identity =
        node.child("device-identity").and_then(Node::content_bytes).map(<[u8]>::to_vec);
    Ok((ReceivedMessage { info, message, device_identity, identity_changed }, commit))
}

impl Error {
    /// Whether a message that failed with this error should be answered with a retry receipt
    /// (the sender re-encrypts, possibly with a new session): decryption failures yes; duplicates,
    /// malformed stanzas, content we cannot parse after decrypting, identity changes and store
    /// failures no.
    pub fn asks_for_retry_receipt(&self) -> bool {
        match self {
            Self::Malformed { what, .. } => *what != "e2e message",
            Self::Crypto(
                CryptoError::BadMac(_)
                | CryptoError::BadPadding(_)
                | CryptoError::InvalidPublicKey(_),
            )
            | Self::Signal(
                SignalError::NoSession { .. }
                | SignalError::UnknownPreKey(_)
                | SignalError::UnknownSignedPreKey(_)
                | SignalError::NoSenderKey { .. }
                | SignalError::UnsupportedVersion(_)
                | SignalError::TooFarAhead { .. },
            ) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(text: &str) -> Jid {
        text.parse().unwrap()
    }

    fn own() -> OwnDevice {
        OwnDevice {
            jid: jid("5511:3@s.whatsapp.net"),
            lid: Some(jid("777:3@lid")),
            device_identity: None,
        }
    }

    #[test]
    fn envelope_of_a_direct_message() {
        let node = Node::builder("message")
            .attr("id", "ABC")
            .attr("from", jid("888:2@lid"))
            .attr("type", "text")
            .attr("t", "1700000000")
            .attr("addressing_mode", "lid")
            .attr("sender_pn", jid("5522:2@s.whatsapp.net"))
            .attr("notify", "Bob")
            .build();
        let info = parse_message_info(&node, &own()).unwrap();
        assert_eq!(info.chat, jid("888@lid"));
        assert_eq!(info.sender, jid("888:2@lid"));
        assert_eq!(info.sender_alt, Some(jid("5522:2@s.whatsapp.net")));
        assert_eq!(info.addressing_mode, AddressingMode::Lid);
        assert_eq!(info.timestamp, 1_700_000_000);
        assert_eq!(info.push_name.as_deref(), Some("Bob"));
        assert!(!info.from_me && !info.is_group);
    }

    #[test]
    fn envelope_of_our_own_copy_and_of_a_group() {
        let copy = Node::builder("message")
            .attr("id", "X")
            .attr("from", jid("5511:4@s.whatsapp.net"))
            .attr("recipient", jid("5522@s.whatsapp.net"))
            .attr("sender_lid", jid("777:4@lid"))
            .build();
        let info = parse_message_info(&copy, &own()).unwrap();
        assert!(info.from_me);
        assert_eq!(info.chat, jid("5522@s.whatsapp.net"));
        assert_eq!(info.addressing_mode, AddressingMode::Pn);
        assert_eq!(info.sender_alt, Some(jid("777:4@lid")));

        let forged = Node::builder("message")
            .attr("id", "X")
            .attr("from", jid("5599:4@s.whatsapp.net"))
            .attr("recipient", jid("5522@s.whatsapp.net"))
            .build();
        assert!(matches!(
            parse_message_info(&forged, &own()),
            Err(Error::Message(MessageError::Stanza { .. }))
        ));

        let group = Node::builder("message")
            .attr("id", "G")
            .attr("from", jid("1203@g.us"))
            .attr("participant", jid("5522:1@s.whatsapp.net"))
            .build();
        let info = parse_message_info(&group, &own()).unwrap();
        assert!(info.is_group);
        assert_eq!((info.chat, info.sender), (jid("1203@g.us"), jid("5522:1@s.whatsapp.net")));
        let no_participant =
            Node::builder("message").attr("id", "G").attr("from", jid("1203@g.us")).build();
        assert!(parse_message_info(&no_participant, &own()).is_err());
        assert!(
            parse_message_info(&Node::builder("message").attr("id", "G").build(), &own()).is_err()
        );
        let bad_t = Node::builder("message")
            .attr("id", "G")
            .attr("from", jid("5522@s.whatsapp.net"))
            .attr("t", "soon")
            .build();
        assert!(parse_message_info(&bad_t, &own()).is_err());
    }

    #[test]
    fn which_errors_ask_for_a_retry() {
        assert!(Error::Crypto(CryptoError::BadMac("message")).asks_for_retry_receipt());
        assert!(
            Error::Signal(SignalError::NoSession { address: "a".into() }).asks_for_retry_receipt()
        );
        assert!(Error::malformed("SignalMessage", "short").asks_for_retry_receipt());
        assert!(!Error::malformed("e2e message", "bad").asks_for_retry_receipt());
        assert!(
            !Error::Signal(SignalError::DuplicateMessage { index: 1 }).asks_for_retry_receipt()
        );
        assert!(!Error::Store("down".into()).asks_for_retry_receipt());
        assert!(
            !Error::Message(MessageError::NothingToDecrypt { id: "x".into() })
                .asks_for_retry_receipt()
        );
    }
}
