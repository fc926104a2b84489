//! The simulated primary phones (device 0 of each account): a Signal store with the account's
//! identity key, its signed prekey and one-time prekeys; they decrypt what is routed to them,
//! answer with receipts, send as their account, resend on retry receipts and can auto-answer.
//!
//! Every message operation is wa-session's messaging machine (`Machine`: sessions from bundles,
//! sessions following a move to LID addressing, encrypt, open and commit, retry receipts and the
//! sent store), the same one the client drives; this module only feeds it stanzas, the server's
//! bundles and address pairs, and routes its output through [`crate::route`] as if device 0 had
//! sent it over a socket.

use std::sync::Arc;

use rand::{SeedableRng as _, rngs::StdRng};
use tracing::debug;
use wa_proto::{
    Jid, Node, Server,
    proto::e2e::{self, ContextInfo},
};
use wa_session::{
    machine::{Machine, Opened, Resend, RetryAsk},
    media::{
        MediaEncryptor, MediaType,
        message::{MediaOptions, UploadedMedia},
    },
    message::{ReceiptKind, parse_receipt},
    signal::PreKeyBundle,
    store::{MemoryStore, SignedPreKeyStore as _},
};

use crate::{
    error::{Error, Result},
    iq,
    phone_store::{Phone, PhoneReceipt, PhoneReceived},
    report::RoutedMessage,
    route,
    sim::Sim,
    state::{State, lid_jid, phone_jid},
};

/// What a simulated phone sends.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneMessage {
    /// The other account: a phone number, or a JID (`<phone>@s.whatsapp.net`, `<lid>@lid`). The
    /// message is addressed in that form (a phone number: phone-number addressing).
    pub to: String,
    /// What it says.
    pub content: PhoneContent,
    /// The message it replies to, if any.
    pub quoted: Option<Quoted>,
}

/// The content of a [`PhoneMessage`] (not `Eq`: a location's coordinates are floats).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PhoneContent {
    /// A text message.
    Text(String),
    /// An image, video or document: the plaintext bytes are encrypted and stored in the sim's media
    /// host (which must be serving: [`Sim::serve_media`]).
    Media {
        /// `image`, `video` or `document`.
        kind: MediaKind,
        /// The file.
        bytes: Vec<u8>,
        /// Its MIME type.
        mimetype: String,
        /// A caption, if any.
        caption: Option<String>,
        /// The file name (documents).
        file_name: Option<String>,
    },
    /// A voice note (`audioMessage` with `ptt: true`, `audio/ogg; codecs=opus`).
    Voice {
        /// The ogg/opus file.
        bytes: Vec<u8>,
        /// Its length in seconds.
        seconds: u32,
    },
    /// A place (`locationMessage`).
    Location {
        /// Degrees north.
        latitude: f64,
        /// Degrees east.
        longitude: f64,
        /// The place's name, if any.
        name: Option<String>,
        /// Its address, if any.
        address: Option<String>,
    },
    /// Contact cards as `(display name, vCard)`: one goes as a `contactMessage`, more as a
    /// `contactsArrayMessage`.
    Contacts(Vec<(String, String)>),
    /// An edit of the sender's own message `target`: its text becomes `text`
    /// (`protocolMessage` `MESSAGE_EDIT`, sent with `edit="1"`).
    Edit {
        /// The id of the message edited.
        target: String,
        /// The new text.
        text: String,
    },
    /// "Delete for everyone" of the sender's own message `target` (`protocolMessage` `REVOKE`,
    /// sent with `edit="7"`).
    Revoke {
        /// The id of the message revoked.
        target: String,
    },
}

/// The media kinds a phone sends besides voice notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// `imageMessage`.
    Image,
    /// `videoMessage`.
    Video,
    /// `documentMessage`.
    Document,
}

/// The message a [`PhoneMessage`] replies to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Quoted {
    /// Its id (`ContextInfo.stanzaId`).
    pub id: String,
    /// Who wrote it (`ContextInfo.participant`, a user JID); the chat partner when `None`.
    pub participant: Option<String>,
    /// Its text (`ContextInfo.quotedMessage.conversation`), if known.
    pub text: Option<String>,
}

/// Routes a `<message>` the phone of `me` sends, as if device 0 had sent it over a socket, and
/// hands over what the routing addressed.
fn route_message(sim: &Sim, me: &(String, u16), node: &Node) {
    let now = sim.now();
    let to_phones = {
        let mut state = sim.state();
        route::message(&mut state, now, me, node);
        state.drain_outbox()
    };
    dispatch(sim, to_phones);
}

/// Routes a `<receipt>` the phone of `me` sends, and hands over what the routing addressed.
fn route_receipt(sim: &Sim, me: &(String, u16), node: &Node) {
    let now = sim.now();
    let to_phones = {
        let mut state = sim.state();
        route::receipt(&mut state, now, me, node);
        state.drain_outbox()
    };
    dispatch(sim, to_phones);
}

/// A random generator for one phone operation, drawn from the sim's (so seeded sims stay
/// reproducible up to task scheduling).
fn fork_rng(sim: &Sim) -> StdRng {
    StdRng::from_rng(&mut *sim.rng())
}

fn phone_of(sim: &Sim, phone: &str) -> Result<Arc<Phone>> {
    sim.phones().get(phone).cloned().ok_or_else(|| Error::NoAccount(phone.to_owned()))
}

/// Hands stanzas routed to device 0 to the phones; each is handled on its own task.
pub(crate) fn dispatch(sim: &Sim, stanzas: Vec<(String, Node)>) {
    if stanzas.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        debug!("no runtime: stanzas for phones dropped");
        return;
    };
    for (phone, node) in stanzas {
        let sim = sim.clone();
        runtime.spawn(async move {
            let outcome = match node.tag.as_ref() {
                "message" => on_message(&sim, &phone, &node).await,
                "receipt" => on_receipt(&sim, &phone, &node).await,
                _ => Ok(()),
            };
            if let Err(error) = outcome {
                debug!(phone, %error, "phone could not handle a stanza");
            }
        });
    }
}

fn summarize(
    id: &str,
    info_chat: &Jid,
    sender: &Jid,
    from_me: bool,
    message: &e2e::Message,
) -> PhoneReceived {
    use wa_session::message::{ContentKind, MessageContent};
    let content = MessageContent::of(message);
    let kind = match content.kind() {
        ContentKind::Text | ContentKind::ExtendedText => "text",
        ContentKind::Image => "image",
        ContentKind::Video => "video",
        ContentKind::Audio => "audio",
        ContentKind::VoiceNote => "ptt",
        ContentKind::Document => "document",
        ContentKind::Sticker => "sticker",
        ContentKind::Reaction => "reaction",
        ContentKind::Location => "location",
        ContentKind::Contact => "contact",
        _ => "other",
    };
    let media = content.media();
    let owned = |text: Option<&str>| text.map(str::to_owned);
    // An edit or a revoke names the message it changes (as `quoted_id`); an edit's new text
    // is its text.
    if let Some(amendment) = wa_session::message::amendment(message) {
        let (kind, target, text) = match amendment {
            wa_session::message::Amendment::Revoke { target } => ("revoke", target, None),
            wa_session::message::Amendment::Edit { target, content } => {
                ("edit", target, MessageContent::of(content).text().map(str::to_owned))
            }
            _ => ("other", "", None),
        };
        return PhoneReceived {
            id: id.to_owned(),
            chat: info_chat.to_string(),
            sender: sender.to_string(),
            from_me,
            kind: kind.to_owned(),
            text,
            caption: None,
            quoted_id: Some(target.to_owned()),
            mimetype: None,
            direct_path: None,
            file_length: None,
            error: None,
        };
    }
    PhoneReceived {
        id: id.to_owned(),
        chat: info_chat.to_string(),
        sender: sender.to_string(),
        from_me,
        kind: kind.to_owned(),
        text: owned(content.text()),
        caption: owned(content.caption()),
        quoted_id: owned(content.quoted_id()),
        mimetype: owned(media.and_then(|m| m.mimetype)),
        direct_path: owned(media.and_then(|m| m.direct_path)),
        file_length: media.and_then(|m| m.file_length),
        error: None,
    }
}

/// Tells the phone's machine the other address (LID or phone number) of each of `devices`, as
/// the simulated server knows them, so that a session follows a chat that moves to LID
/// addressing (or back), as WhatsApp's apps do: one session per device, whichever address names
/// it.
fn teach_addressing(sim: &Sim, machine: &Machine<MemoryStore>, devices: &[Jid]) {
    let state = sim.state();
    for device in devices {
        if let Some(other) = route::other_addressing(&state, device) {
            machine.learn_addressing(device, &other);
        }
    }
}

/// The answer the simulated server gives to a key fetch for `devices` (one-time prekeys
/// consumed as the `encrypt` iq does).
fn bundle_answer(sim: &Sim, devices: &[Jid]) -> Node {
    let users: Vec<Node> = {
        let mut state = sim.state();
        devices.iter().filter_map(|jid| iq::bundle(&mut state, jid)).collect()
    };
    Node::builder("iq")
        .attr("type", "result")
        .children([Node::builder("list").children(users).build()])
        .build()
}

/// A `<message>` routed to the phone (already in its delivered form, with `from`).
async fn on_message(sim: &Sim, account: &str, node: &Node) -> Result<()> {
    use wa_session::message::delivery_receipt;
    let phone = phone_of(sim, account)?;
    let mut rng = fork_rng(sim);
    let me = (account.to_owned(), 0);
    let outcome = {
        let _signal = phone.signal.lock().await;
        let sender = node.attr_opt_jid("participant").ok().flatten();
        let sender = sender.or_else(|| node.attr_opt_jid("from").ok().flatten());
        teach_addressing(sim, &phone.machine, sender.as_slice());
        // Anything but a decrypted message gets a retry receipt, as a phone asks again.
        match phone.machine.open(&phone.own, node, &mut rng).await? {
            Opened::Message(received) => {
                phone.machine.commit(&phone.own, node, &mut rng).await?;
                Ok(*received)
            }
            Opened::Duplicate(_) => Err("duplicate message".to_owned()),
            Opened::NotForUs => Err("nothing in the message for the phone".to_owned()),
            Opened::Undecryptable { error, .. } | Opened::Dropped { error, .. } => {
                Err(error.to_string())
            }
            _ => Err("not decrypted".to_owned()),
        }
    };
    match outcome {
        Ok(received) => {
            let info = &received.info;
            let entry =
                summarize(&info.id, &info.chat, &info.sender, info.from_me, &received.message);
            let answer = {
                let mut log = phone.log();
                log.received.push(entry.clone());
                log.auto_answer.clone()
            };
            route_receipt(sim, &me, &delivery_receipt(info));
            // Never answer another simulated phone (device 0): two answering phones would loop.
            if let Some(template) = answer.filter(|_| !info.from_me && info.sender.device != 0) {
                let text = match entry.kind.as_str() {
                    "text" => template.replace("{text}", entry.text.as_deref().unwrap_or_default()),
                    kind => format!("got your {kind}"),
                };
                let message = PhoneMessage {
                    to: info.chat.to_string(),
                    content: PhoneContent::Text(text),
                    quoted: None,
                };
                Box::pin(sim.phone_send(account, message)).await?;
            }
            Ok(())
        }
        Err(error) => {
            let id = node.attr_str("id").unwrap_or_default().to_owned();
            let from = node.attr_opt_jid("from").ok().flatten();
            debug!(account, id, %error, "phone could not decrypt; asking for a retry");
            phone.log().received.push(PhoneReceived {
                id,
                chat: from.as_ref().map(|f| f.to_non_device().to_string()).unwrap_or_default(),
                sender: from.map(|f| f.to_string()).unwrap_or_default(),
                from_me: false,
                kind: "undecryptable".to_owned(),
                text: None,
                caption: None,
                quoted_id: None,
                mimetype: None,
                direct_path: None,
                file_length: None,
                error: Some(error),
            });
            let keys = own_bundle(&phone).await?;
            let ask = RetryAsk { count: 1, include_keys: true };
            let receipt = phone.machine.retry_receipt(&phone.own, node, ask, &keys)?;
            route_receipt(sim, &me, &receipt);
            Ok(())
        }
    }
}

/// The phone's own keys for a retry receipt (signed prekey only; the sender starts a session
/// from them).
async fn own_bundle(phone: &Phone) -> Result<PreKeyBundle> {
    use wa_session::store::IdentityStore as _;
    let store = phone.machine.store();
    let identity = store.identity_key_pair().await?;
    let signed = store
        .signed_pre_key(1)
        .await?
        .ok_or_else(|| Error::Phone("no signed prekey".to_owned()))?;
    Ok(PreKeyBundle {
        registration_id: store.local_registration_id().await?,
        device_id: 0,
        pre_key: None,
        signed_pre_key_id: signed.id,
        signed_pre_key: signed.key_pair.public,
        signed_pre_key_signature: signed.signature.to_vec(),
        identity_key: identity.public,
    })
}

/// A receipt relayed to the phone: recorded; a retry receipt for a message the phone sent gets
/// it re-encrypted for the asking device (`encrypt_retry`) and routed to that device alone.
async fn on_receipt(sim: &Sim, account: &str, node: &Node) -> Result<()> {
    let phone = phone_of(sim, account)?;
    let receipt = parse_receipt(node)?;
    let kind = match &receipt.kind {
        ReceiptKind::Delivered => "delivered".to_owned(),
        ReceiptKind::Read => "read".to_owned(),
        ReceiptKind::Played => "played".to_owned(),
        ReceiptKind::Retry(_) => "retry".to_owned(),
        ReceiptKind::Other(other) => other.clone(),
    };
    let from = node.attr_opt_jid("from").ok().flatten().unwrap_or_else(|| receipt.sender.clone());
    {
        let mut log = phone.log();
        for id in &receipt.ids {
            log.receipts.push(PhoneReceipt {
                id: id.clone(),
                from: from.to_string(),
                kind: kind.clone(),
            });
        }
    }
    let ReceiptKind::Retry(retry) = &receipt.kind else { return Ok(()) };
    let Some(id) = receipt.ids.first() else { return Ok(()) };
    let mut rng = fork_rng(sim);
    let resend = {
        let _signal = phone.signal.lock().await;
        let asking = std::slice::from_ref(&from);
        teach_addressing(sim, &phone.machine, asking);
        phone.machine.follow_addressing(asking).await?;
        // The asking device may have lost its session: the machine starts a new one from the
        // keys it sent, or asks for its bundle.
        let mut outcome =
            phone.machine.retry_requested(&phone.own, &receipt, retry, &mut rng).await?;
        if let Resend::NeedBundle(query) = &outcome {
            let answer = bundle_answer(sim, &query.devices);
            phone.machine.bundles_answered(&answer, &mut rng).await?;
            outcome = phone.machine.retry_requested(&phone.own, &receipt, retry, &mut rng).await?;
        }
        match outcome {
            Resend::Stanza(node) => node,
            Resend::Forgotten => {
                debug!(account, id, "retry receipt for a message the phone did not send");
                return Ok(());
            }
            other => {
                debug!(account, id, "cannot answer a retry receipt: {other:?}");
                return Ok(());
            }
        }
    };
    route_message(sim, &(account.to_owned(), 0), &resend);
    Ok(())
}

/// The account and addressing `to` names: (account phone, chat JID in that addressing).
fn recipient(state: &State, to: &str) -> Result<(String, Jid)> {
    let unknown = || Error::Phone(format!("unknown recipient {to:?}"));
    let jid: Jid = if to.bytes().all(|b| b.is_ascii_digit()) {
        phone_jid(to, 0)
    } else {
        to.parse().map_err(|_| unknown())?
    };
    let lid = jid.server == Server::Lid;
    let account = if lid {
        state.accounts.values().find(|a| a.lid == jid.user)
    } else {
        state.accounts.get(&jid.user)
    }
    .ok_or_else(unknown)?;
    let chat = if lid { lid_jid(&account.lid, 0) } else { phone_jid(&account.phone, 0) };
    Ok((account.phone.clone(), chat.to_non_device()))
}

/// The devices a message from `phone` to `chat` goes to: every live device of the recipient
/// that has keys, and the sender's own live companions, in the chat's addressing.
fn fanout(state: &State, phone: &str, recipient: &str, lid: bool) -> Vec<Jid> {
    let mut out = Vec::new();
    for (account, skip_primary) in [(recipient, false), (phone, true)] {
        let Some(account) = state.accounts.get(account) else { continue };
        for (&id, device) in &account.devices {
            if device.removed || device.signed_prekey.is_none() || (skip_primary && id == 0) {
                continue;
            }
            out.push(if lid { lid_jid(&account.lid, id) } else { phone_jid(&account.phone, id) });
        }
    }
    out
}

/// Encrypts `bytes` as WhatsApp media of `media_type`, stores the blob, and returns what the
/// message announcing it needs (it is announced as `kind`).
fn upload(
    sim: &Sim,
    kind: wa_session::media::message::MediaKind,
    media_type: MediaType,
    bytes: &[u8],
) -> Result<UploadedMedia> {
    let mut media_key = [0u8; 32];
    rand::Rng::fill_bytes(&mut *sim.rng(), &mut media_key);
    let mut encryptor = MediaEncryptor::new(&media_key, media_type);
    let mut blob = Vec::with_capacity(bytes.len() + 32);
    encryptor.update(bytes, &mut blob);
    let info = encryptor.finish(&mut blob);
    let (url, direct_path) = crate::media::store_phone_blob(sim, media_type.name(), blob)?;
    Ok(UploadedMedia {
        kind,
        url,
        direct_path,
        media_key: media_key.into(),
        info,
        media_key_timestamp: i64::try_from(sim.now()).unwrap_or_default(),
    })
}

fn build_message(sim: &Sim, message: &PhoneMessage, chat: &Jid) -> Result<e2e::Message> {
    use wa_session::media::message::MediaKind as Kind;
    let context = message.quoted.as_ref().map(|quoted| ContextInfo {
        stanza_id: Some(quoted.id.clone()),
        participant: Some(quoted.participant.clone().unwrap_or_else(|| chat.to_string())),
        quoted_message: quoted.text.as_ref().map(|text| {
            Box::new(e2e::Message { conversation: Some(text.clone()), ..Default::default() })
        }),
        ..Default::default()
    });
    let mut out = match &message.content {
        PhoneContent::Edit { target, text } => {
            let content = e2e::Message { conversation: Some(text.clone()), ..Default::default() };
            let at_ms = i64::try_from(sim.now()).unwrap_or_default().saturating_mul(1000);
            return Ok(wa_session::message::edit::edit(chat, target, content, at_ms));
        }
        PhoneContent::Revoke { target } => {
            return Ok(wa_session::message::edit::revoke(chat, target));
        }
        PhoneContent::Text(text) if context.is_none() => {
            return Ok(e2e::Message { conversation: Some(text.clone()), ..Default::default() });
        }
        PhoneContent::Text(text) => e2e::Message {
            extended_text_message: Some(Box::new(e2e::message::ExtendedTextMessage {
                text: Some(text.clone()),
                ..Default::default()
            })),
            ..Default::default()
        },
        PhoneContent::Media { kind, bytes, mimetype, caption, file_name } => {
            let kind = match kind {
                MediaKind::Image => Kind::Image,
                MediaKind::Video => Kind::Video,
                MediaKind::Document => Kind::Document,
            };
            upload(sim, kind, kind.media_type(), bytes)?.message(&MediaOptions {
                mimetype: Some(mimetype.clone()),
                caption: caption.clone(),
                file_name: file_name.clone(),
                ..MediaOptions::default()
            })
        }
        PhoneContent::Location { latitude, longitude, name, address } => e2e::Message {
            location_message: Some(Box::new(e2e::message::LocationMessage {
                degrees_latitude: Some(*latitude),
                degrees_longitude: Some(*longitude),
                name: name.clone(),
                address: address.clone(),
                ..Default::default()
            })),
            ..Default::default()
        },
        PhoneContent::Contacts(cards) => {
            let mut cards: Vec<e2e::message::ContactMessage> = cards
                .iter()
                .map(|(name, vcard)| e2e::message::ContactMessage {
                    display_name: Some(name.clone()),
                    vcard: Some(vcard.clone()),
                    context_info: None,
                })
                .collect();
            match cards.len() {
                1 => e2e::Message {
                    contact_message: cards.pop().map(Box::new),
                    ..Default::default()
                },
                count => e2e::Message {
                    contacts_array_message: Some(Box::new(e2e::message::ContactsArrayMessage {
                        display_name: Some(format!("{count} contacts")),
                        contacts: cards,
                        context_info: None,
                    })),
                    ..Default::default()
                },
            }
        }
        PhoneContent::Voice { bytes, seconds } => {
            // Voice notes are `audio` media (the ptt flag is in the message, not the HKDF info).
            upload(sim, Kind::VoiceNote, MediaType::Audio, bytes)?
                .message(&MediaOptions { seconds: Some(*seconds), ..MediaOptions::default() })
        }
    };
    if let (Some(context), Some(slot)) = (context, wa_session::message::context_info_mut(&mut out))
    {
        *slot = Some(Box::new(context));
    }
    Ok(out)
}

impl Sim {
    /// The phone of account `phone` sends `message` as its account: sessions are started from the
    /// devices' prekey bundles (one-time prekeys consumed as the `encrypt` iq does), the message
    /// is encrypted for every device of the recipient and, as a `DeviceSentMessage`, for the
    /// account's own companions, and routed as if device 0 had sent it. Returns the message id.
    ///
    /// # Errors
    ///
    /// [`Error::NoAccount`], [`Error::Phone`] for an unknown recipient or a media store failure,
    /// [`Error::Session`] if encryption fails.
    pub async fn phone_send(&self, phone: &str, message: PhoneMessage) -> Result<String> {
        let sender = phone_of(self, phone)?;
        let (devices, chat) = {
            let state = self.state();
            let (account, chat) = recipient(&state, &message.to)?;
            (fanout(&state, phone, &account, chat.server == Server::Lid), chat)
        };
        let content = build_message(self, &message, &chat)?;
        let mut rng = fork_rng(self);
        let id = wa_session::message::generate_message_id(Some(phone), self.now(), &mut rng);
        let encrypted = {
            let _signal = sender.signal.lock().await;
            teach_addressing(self, &sender.machine, &devices);
            if let Some(query) = sender.machine.sessions_needed(&devices).await? {
                let answer = bundle_answer(self, &query.devices);
                for (jid, error) in sender.machine.bundles_answered(&answer, &mut rng).await? {
                    debug!(phone, %jid, %error, "no session with a device");
                }
            }
            sender.machine.encrypt(&sender.own, &id, &chat, &content, &devices, &mut rng).await?
        };
        route_message(self, &(phone.to_owned(), 0), &encrypted.node);
        Ok(id)
    }

    /// The last messages (at most 256) routed to companion `phone:device`, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::NoDevice`] if the account has no such device.
    pub fn device_received(&self, phone: &str, device: u16) -> Result<Vec<RoutedMessage>> {
        let state = self.state();
        if !state.accounts.get(phone).is_some_and(|a| a.devices.contains_key(&device)) {
            return Err(Error::NoDevice { phone: phone.to_owned(), device });
        }
        Ok(state
            .routed_log
            .get(&(phone.to_owned(), device))
            .map(|log| log.iter().cloned().collect())
            .unwrap_or_default())
    }

    /// What the phone of account `phone` decrypted (or failed to), oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::NoAccount`].
    pub fn phone_received(&self, phone: &str) -> Result<Vec<PhoneReceived>> {
        Ok(phone_of(self, phone)?.log().received.clone())
    }

    /// The receipts the phone of account `phone` got for its messages, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::NoAccount`].
    pub fn phone_receipts(&self, phone: &str) -> Result<Vec<PhoneReceipt>> {
        Ok(phone_of(self, phone)?.log().receipts.clone())
    }

    /// Turns the phone's auto-answer on (`Some(template)`, `{text}` standing for the incoming
    /// text; media get "got your <kind>") or off. It answers messages from other accounts'
    /// companions, not from other simulated phones (two answering phones would loop).
    ///
    /// # Errors
    ///
    /// [`Error::NoAccount`].
    pub fn set_auto_answer(&self, phone: &str, template: Option<String>) -> Result<()> {
        phone_of(self, phone)?.log().auto_answer = template;
        Ok(())
    }

    /// The phone of account `phone` marks `ids` of `chat` (a phone number or JID) read: a read
    /// receipt relayed to the sender's devices.
    ///
    /// # Errors
    ///
    /// [`Error::NoAccount`], [`Error::Phone`] for an unknown chat, [`Error::Session`].
    pub fn phone_read(&self, phone: &str, chat: &str, ids: &[String]) -> Result<()> {
        phone_of(self, phone)?;
        let chat = recipient(&self.state(), chat)?.1;
        let receipt = wa_session::message::seen_receipt(
            &chat,
            None,
            ids,
            wa_session::message::SeenKind::Read,
            self.now(),
        )?;
        route_receipt(self, &(phone.to_owned(), 0), &receipt);
        Ok(())
    }
}
