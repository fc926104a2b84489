//! Encrypting one `proto::e2e::Message` for every device of a 1:1 chat, and again for one device
//! after a retry receipt.

use prost::Message as _;
use rand_core::CryptoRng;
use wa_proto::{
    Jid, Node, Server,
    proto::{
        adv::SignedDeviceIdentity,
        e2e::{self, message::DeviceSentMessage},
    },
};

use super::{bundle::protocol_address, edit, phash::participant_hash};
use crate::{
    Error, Result, SignalError,
    credentials::DeviceCredentials,
    signal::{CiphertextMessage, SessionRecord, cipher, padding},
    store::SignalStore,
};

/// This device, as the message layer needs it to send and to receive.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnDevice {
    /// Our device JID in phone-number addressing (`5511...:3@s.whatsapp.net`; device 0 for a
    /// primary phone).
    pub jid: Jid,
    /// Our device JID in LID addressing (`123...:3@lid`), when the account has a LID.
    pub lid: Option<Jid>,
    /// The encoded `ADVSignedDeviceIdentity` a companion attaches as `<device-identity>` to
    /// messages that start sessions (the form WhatsApp expects there: with the account signature
    /// key left out). `None` for a primary phone, which has no such identity.
    pub device_identity: Option<Vec<u8>>,
}

impl OwnDevice {
    /// This device as the message layer sees it, if `credentials` are paired. The
    /// `<device-identity>` it attaches is the ADV identity without the account signature key
    /// (the form WhatsApp sends there).
    #[must_use]
    pub fn of(credentials: &DeviceCredentials) -> Option<Self> {
        let account = credentials.account.as_ref()?;
        let device_identity = SignedDeviceIdentity::decode(account.signed_identity.as_slice())
            .ok()
            .map(|mut identity| {
                identity.account_signature_key = None;
                identity.encode_to_vec()
            });
        Some(Self {
            jid: account.jid.clone(),
            lid: account
                .lid
                .as_ref()
                .map(|lid| Jid { device: account.jid.device, ..lid.to_non_device() }),
            device_identity,
        })
    }
}

impl std::fmt::Debug for OwnDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnDevice")
            .field("jid", &self.jid)
            .field("lid", &self.lid)
            .field("device_identity", &self.device_identity.as_ref().map(Vec::len))
            .finish()
    }
}

impl OwnDevice {
    /// Whether `jid` is a device (or the account) of our own user, by phone number or LID.
    pub fn is_own_user(&self, jid: &Jid) -> bool {
        let same = |own: &Jid| own.user == jid.user && same_user_server(&own.server, &jid.server);
        same(&self.jid) || self.lid.as_ref().is_some_and(same)
    }

    /// Whether `jid` is this very device (in either addressing).
    pub fn is_this_device(&self, jid: &Jid) -> bool {
        self.is_own_user(jid) && jid.device == self.jid.device
    }
}

fn same_user_server(a: &Server, b: &Server) -> bool {
    let class = |server: &Server| match server {
        Server::User | Server::LegacyUser => 0,
        Server::Lid => 1,
        _ => 2,
    };
    (class(a) == class(b) && class(a) != 2) || a == b
}

/// A message encrypted for the devices of a chat.
#[derive(Debug, Clone)]
pub struct Encrypted {
    /// `<message id to type [phash]><participants>...</participants>[<device-identity>]</message>`.
    pub node: Node,
    /// The participant hash over every device addressed (see [`participant_hash`]), also on the
    /// node; the server's ack carries its own when it differs.
    pub phash: String,
    /// Devices left out, with why: [`SignalError::NoSession`] (fetch their bundles, start sessions,
    /// and encrypt again), [`SignalError::UntrustedIdentity`], ... The node holds every other
    /// device.
    pub skipped: Vec<(Jid, Error)>,
}

impl Encrypted {
    /// The skipped devices that only lacked a session.
    pub fn without_session(&self) -> Vec<Jid> {
        self.skipped
            .iter()
            .filter(|(_, error)| matches!(error, Error::Signal(SignalError::NoSession { .. })))
            .map(|(jid, _)| jid.clone())
            .collect()
    }
}

/// The devices of `devices` that have no usable session yet: fetch their bundles first.
pub async fn missing_sessions<S: SignalStore + ?Sized>(
    store: &S,
    devices: &[Jid],
) -> Result<Vec<Jid>> {
    let mut missing = Vec::new();
    for device in devices {
        let record = store.session(&protocol_address(device)).await?;
        if !record.as_ref().is_some_and(SessionRecord::has_current_session) {
            missing.push(device.clone());
        }
    }
    Ok(missing)
}

/// The content of `message` with the wrappers that do not change what it is (ephemeral, view
/// once, document with caption, edit) taken off.
pub fn normalized(message: &e2e::Message) -> &e2e::Message {
    let mut current = message;
    for _ in 0..4 {
        let inner = [
            &current.ephemeral_message,
            &current.view_once_message,
            &current.view_once_message_v2,
            &current.view_once_message_v2_extension,
            &current.document_with_caption_message,
            &current.edited_message,
        ]
        .into_iter()
        .find_map(|wrapper| wrapper.as_ref().and_then(|w| w.message.as_deref()));
        match inner {
            Some(inner) => current = inner,
            None => break,
        }
    }
    current
}

/// The `mediatype` attribute of `<enc>` for a media message (`image`, `video`, `gif`, `audio`,
/// `ptt`, `document`, `sticker`) and for a location (`location`) or contact cards (`vcard`,
/// `contact_array`), as whatsmeow's `getMediaTypeFromMessage` sends them; `None` otherwise.
pub fn media_type(message: &e2e::Message) -> Option<&'static str> {
    let message = normalized(message);
    if message.image_message.is_some() {
        Some("image")
    } else if let Some(video) = &message.video_message {
        Some(if video.gif_playback == Some(true) { "gif" } else { "video" })
    } else if let Some(audio) = &message.audio_message {
        Some(if audio.ptt == Some(true) { "ptt" } else { "audio" })
    } else if message.document_message.is_some() {
        Some("document")
    } else if message.sticker_message.is_some() {
        Some("sticker")
    } else if message.location_message.is_some() {
        Some("location")
    } else if message.contact_message.is_some() {
        Some("vcard")
    } else if message.contacts_array_message.is_some() {
        Some("contact_array")
    } else {
        None
    }
}

/// The `type` attribute of `<message>`: `reaction`, `media` or `text`.
pub fn message_type(message: &e2e::Message) -> &'static str {
    if normalized(message).reaction_message.is_some() {
        "reaction"
    } else if media_type(message).is_some() {
        "media"
    } else {
        "text"
    }
}

/// What our own other devices receive instead of `message`: a `DeviceSentMessage` naming the chat.
pub fn device_sent(chat: &Jid, message: &e2e::Message) -> e2e::Message {
    e2e::Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some(chat.to_string()),
            message: Some(Box::new(message.clone())),
            phash: None,
        })),
        message_context_info: message.message_context_info.clone(),
        ..e2e::Message::default()
    }
}

fn enc_node(ciphertext: &CiphertextMessage, message: &e2e::Message, count: Option<u32>) -> Node {
    let mut enc = Node::builder("enc").attr("v", "2").attr("type", ciphertext.enc_type());
    if let Some(count) = count {
        enc = enc.attr("count", count.to_string());
    }
    if let Some(media) = media_type(message) {
        enc = enc.attr("mediatype", media);
    }
    if normalized(message).reaction_message.is_some() || edit::is_edit(message) {
        // Recipients that cannot decrypt a reaction or an edit show nothing rather than an
        // error.
        enc = enc.attr("decrypt-fail", "hide");
    }
    enc.bytes(ciphertext.serialized().to_vec()).build()
}

async fn encrypt_for<S: SignalStore + ?Sized>(
    store: &S,
    device: &Jid,
    plaintext: &[u8],
    rng: &mut (impl CryptoRng + Send),
) -> Result<CiphertextMessage> {
    cipher::encrypt(store, &protocol_address(device), &padding::pad(plaintext, rng)).await
}

/// Encrypts `message` (id `id`, chat `chat`, a user JID) for `devices`: the chat partner's
/// devices and our own other devices, as usync listed them (this device itself is skipped if
/// listed). Our own devices get [`device_sent`] instead of the message.
///
/// Builds `<message id to=chat type [phash]><participants><to jid><enc v="2" type="pkmsg|msg"
/// [mediatype] [decrypt-fail]/></to>...</participants>[<device-identity/>]</message>`, the
/// device identity only when a `pkmsg` was produced and we have one. Devices without a session
/// (or otherwise not encryptable) are left out and listed in [`Encrypted::skipped`]; store
/// failures abort.
pub async fn encrypt_message<S: SignalStore + ?Sized>(
    store: &S,
    own: &OwnDevice,
    id: &str,
    chat: &Jid,
    message: &e2e::Message,
    devices: &[Jid],
    rng: &mut (impl CryptoRng + Send),
) -> Result<Encrypted> {
    let plain = message.encode_to_vec();
    let own_copy = device_sent(chat, message).encode_to_vec();
    let targets: Vec<&Jid> = devices.iter().filter(|jid| !own.is_this_device(jid)).collect();
    let phash = participant_hash(targets.iter().copied());
    let mut participants = Vec::with_capacity(targets.len());
    let mut skipped = Vec::new();
    let mut any_pre_key = false;
    for device in targets {
        let plaintext = if own.is_own_user(device) { &own_copy } else { &plain };
        match encrypt_for(store, device, plaintext, rng).await {
            Ok(ciphertext) => {
                any_pre_key |= matches!(ciphertext, CiphertextMessage::PreKey(_));
                participants.push(
                    Node::builder("to")
                        .attr("jid", device.clone())
                        .children([enc_node(&ciphertext, message, None)])
                        .build(),
                );
            }
            Err(error @ Error::Store(_)) => return Err(error),
            Err(error) => skipped.push((device.clone(), error)),
        }
    }
    let mut children = vec![Node::builder("participants").children(participants).build()];
    if any_pre_key && let Some(identity) = &own.device_identity {
        children.push(Node::builder("device-identity").bytes(identity.clone()).build());
    }
    let mut node = Node::builder("message")
        .attr("id", id.to_owned())
        .attr("to", chat.to_non_device())
        .attr("type", message_type(message));
    if let Some(edit) = edit::edit_attribute(message) {
        node = node.attr("edit", edit);
    }
    let node = node.attr("phash", phash.clone()).children(children).build();
    Ok(Encrypted { node, phash, skipped })
}

/// Encrypts `message` again for the one `device` that sent a retry receipt (`count` is the
/// receipt's retry count): `<message id to=device type device_fanout="false" [recipient=chat]>
/// <enc v="2" type count [mediatype]/>[<device-identity/>]</message>`, `recipient` when the device
/// is one of ours (which then gets the [`device_sent`] copy).
///
/// Start a new session first when the receipt carried keys (or fetch the device's bundle);
/// without a session this fails with [`SignalError::NoSession`].
#[allow(clippy::too_many_arguments)]
pub async fn encrypt_retry<S: SignalStore + ?Sized>(
    store: &S,
    own: &OwnDevice,
    id: &str,
    chat: &Jid,
    message: &e2e::Message,
    device: &Jid,
    count: u32,
    rng: &mut (impl CryptoRng + Send),
) -> Result<Node> {
    let mine = own.is_own_user(device);
    let plaintext =
        if mine { device_sent(chat, message).encode_to_vec() } else { message.encode_to_vec() };
    let ciphertext = encrypt_for(store, device, &plaintext, rng).await?;
    let mut children = vec![enc_node(&ciphertext, message, Some(count))];
    if matches!(ciphertext, CiphertextMessage::PreKey(_))
        && let Some(identity) = &own.device_identity
    {
        children.push(Node::builder("device-identity").bytes(identity.clone()).build());
    }
    let mut node = Node::builder("message")
        .attr("id", id.to_owned())
        .attr("to", device.clone())
        .attr("type", message_type(message))
        .attr("device_fanout", "false");
    if let Some(edit) = edit::edit_attribute(message) {
        node = node.attr("edit", edit);
    }
    if mine {
        node = node.attr("recipient", chat.to_non_device());
    }
    Ok(node.children(children).build())
}

#[cfg(test)]
mod tests {
    use wa_proto::proto::{common::MessageKey, e2e::message::ReactionMessage};

    use super::*;

    fn jid(text: &str) -> Jid {
        text.parse().unwrap()
    }

    #[test]
    fn own_user_in_both_addressings() {
        let own = OwnDevice {
            jid: jid("5511:3@s.whatsapp.net"),
            lid: Some(jid("777:3@lid")),
            device_identity: None,
        };
        assert!(own.is_own_user(&jid("5511@s.whatsapp.net")));
        assert!(own.is_own_user(&jid("777:5@lid")));
        assert!(!own.is_own_user(&jid("5511@lid")));
        assert!(!own.is_own_user(&jid("5522:3@s.whatsapp.net")));
        assert!(own.is_this_device(&jid("777:3@lid")));
        assert!(!own.is_this_device(&jid("5511:4@s.whatsapp.net")));
        assert!(!format!("{own:?}").contains("[1"));
    }

    #[test]
    fn types_follow_the_content() {
        let text = e2e::Message { conversation: Some("hi".into()), ..Default::default() };
        assert_eq!((message_type(&text), media_type(&text)), ("text", None));
        let voice = e2e::Message {
            audio_message: Some(Box::new(e2e::message::AudioMessage {
                ptt: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!((message_type(&voice), media_type(&voice)), ("media", Some("ptt")));
        let wrapped = e2e::Message {
            ephemeral_message: Some(Box::new(e2e::message::FutureProofMessage {
                message: Some(Box::new(e2e::Message {
                    image_message: Some(Box::default()),
                    ..Default::default()
                })),
            })),
            ..Default::default()
        };
        assert_eq!((message_type(&wrapped), media_type(&wrapped)), ("media", Some("image")));
        let place = e2e::Message { location_message: Some(Box::default()), ..Default::default() };
        assert_eq!((message_type(&place), media_type(&place)), ("media", Some("location")));
        let card = e2e::Message { contact_message: Some(Box::default()), ..Default::default() };
        assert_eq!(media_type(&card), Some("vcard"));
        let cards =
            e2e::Message { contacts_array_message: Some(Box::default()), ..Default::default() };
        assert_eq!(media_type(&cards), Some("contact_array"));
        let reaction = e2e::Message {
            reaction_message: Some(ReactionMessage {
                key: Some(MessageKey::default()),
                text: Some("👍".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(message_type(&reaction), "reaction");
    }

    #[test]
    fn device_sent_names_the_chat_and_keeps_the_context_info() {
        let message = e2e::Message {
            conversation: Some("hi".into()),
            message_context_info: Some(e2e::MessageContextInfo {
                message_secret: Some(vec![7; 32]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let copy = device_sent(&jid("5522@s.whatsapp.net"), &message);
        let inner = copy.device_sent_message.as_ref().unwrap();
        assert_eq!(inner.destination_jid.as_deref(), Some("5522@s.whatsapp.net"));
        assert_eq!(inner.message.as_deref(), Some(&message));
        assert_eq!(copy.message_context_info, message.message_context_info);
    }
}
