//! Sending 1:1 messages: device lists (usync, cached), sessions from prekey bundles, encryption
//! for every device of the chat and our own other devices, delivery until the server acks, and
//! the participant-hash check of that ack.

use tokio::{sync::oneshot, time::Instant};
use tracing::debug;
use wa_proto::{
    Jid, Node, Server,
    proto::{
        common::MessageKey,
        e2e::{self, ContextInfo, message::ExtendedTextMessage, message::ReactionMessage},
    },
};

use super::{
    Client,
    command::{Command, iq_with},
    config::Config,
    shared::Shared,
};
use crate::{
    ConnectionError, Error, Result,
    message::{
        Encrypted, MessageInfo, OwnDevice, SeenKind, context_info_mut, edit, generate_message_id,
        seen_receipt, send::normalized,
    },
};

/// A message the server has accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Its id.
    pub id: String,
    /// The chat it went to.
    pub chat: Jid,
    /// The server's timestamp from its ack (`t`, unix seconds; 0 when absent).
    pub timestamp: u64,
    /// How many devices it was addressed to: the chat partner's and our own other devices, as
    /// the device list named them (a device without a usable session is counted but skipped).
    pub devices: usize,
}

/// A message to quote in a reply or to react to.
#[derive(Debug, Clone, PartialEq)]
pub struct Quoted {
    /// Its id (the stanza id).
    pub id: String,
    /// Who sent it (a device or user JID).
    pub sender: Jid,
    /// Whether we sent it.
    pub from_me: bool,
    /// Its content (what the reply shows as quoted).
    pub message: e2e::Message,
}

impl Quoted {
    /// The message of an [`Event::Message`](super::Event::Message).
    #[must_use]
    pub fn of(info: &MessageInfo, message: &e2e::Message) -> Self {
        Self {
            id: info.id.clone(),
            sender: info.sender.to_non_device(),
            from_me: info.from_me,
            message: message.clone(),
        }
    }

    /// What a reply carries as `quotedMessage`: the content only, as WhatsApp clients quote it.
    /// Wrappers (ephemeral, view once, edit) are taken off; the `messageContextInfo` (which holds
    /// the quoted message's `messageSecret`), a sender key distribution and a device-sent wrapper
    /// are dropped, and so is the content's own `contextInfo` (a quote does not carry the quote
    /// it replied to).
    #[must_use]
    pub fn content(&self) -> e2e::Message {
        let mut content = normalized(&self.message).clone();
        content.message_context_info = None;
        content.sender_key_distribution_message = None;
        content.device_sent_message = None;
        if let Some(context) = context_info_mut(&mut content) {
            *context = None;
        }
        content
    }
}

/// Our own account in the addressing of `chat`.
fn own_user_like(own: &OwnDevice, chat: &Jid) -> Jid {
    match (&chat.server, &own.lid) {
        (Server::Lid, Some(lid)) => lid.to_non_device(),
        _ => own.jid.to_non_device(),
    }
}

impl Shared {
    /// The devices of `users` (the chat partner and ourselves), from the cache or usync.
    pub(crate) async fn devices(
        &self,
        commands: &tokio::sync::mpsc::UnboundedSender<Command>,
        config: &Config,
        users: &[Jid],
    ) -> Result<Vec<Jid>> {
        let now = config.clock.now();
        let lookup = self.machine.known_devices(users, now);
        if lookup.missing.is_empty() {
            return Ok(lookup.devices);
        }
        let sid = self.random_id();
        let request_id = self.random_id();
        let Some(query) = lookup.query(&request_id, &sid) else { return Ok(lookup.devices) };
        let answer = iq_with(commands, config, query).await?;
        self.machine.devices_answered(lookup, &answer, now)
    }

    /// Starts sessions with the `devices` that have none (after moving sessions from their other
    /// address), from their prekey bundles. Call with the Signal lock held.
    pub(crate) async fn ensure_sessions(
        &self,
        commands: &tokio::sync::mpsc::UnboundedSender<Command>,
        config: &Config,
        devices: &[Jid],
    ) -> Result<()> {
        let Some(query) = self.machine.sessions_needed(devices).await? else { return Ok(()) };
        let answer = iq_with(commands, config, query.node(&self.random_id())).await?;
        self.machine.bundles_answered(&answer, &mut self.rng()).await?;
        Ok(())
    }

    /// Encrypts `message` for `devices` (sessions first), under the Signal lock; the machine
    /// keeps it for retry receipts.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn encrypt(
        &self,
        commands: &tokio::sync::mpsc::UnboundedSender<Command>,
        config: &Config,
        own: &OwnDevice,
        id: &str,
        chat: &Jid,
        message: &e2e::Message,
        devices: &[Jid],
    ) -> Result<Encrypted> {
        let targets: Vec<Jid> =
            devices.iter().filter(|d| !own.is_this_device(d)).cloned().collect();
        let _signal = self.signal.lock().await;
        self.ensure_sessions(commands, config, &targets).await?;
        let mut rng = self.rng();
        self.machine.encrypt(own, id, chat, message, devices, &mut rng).await
    }
}

impl Client {
    /// Sends `message` to the 1:1 `chat` (a user JID, phone number or LID): every device of the
    /// chat partner and our own other devices (which get a `DeviceSentMessage` copy). Waits for
    /// the server's ack, sending again after reconnects, at most the configured `send_timeout`;
    /// the device-list and key queries before it wait out a reconnect the same way.
    /// Messages sent one after the other from one task arrive in that order.
    ///
    /// Media messages built elsewhere go through here too.
    ///
    /// # Errors
    ///
    /// Only three layers reach a send, so a caller matches these and nothing else:
    /// - [`Error::Connection`]: [`ConnectionError::NotPaired`], [`ConnectionError::Timeout`] if no
    ///   ack came in time (the message may still have been delivered),
    ///   [`ConnectionError::Iq`] from the usync and bundle queries, [`ConnectionError::Stopped`];
    /// - [`Error::Message`]: an unusable usync or bundle answer;
    /// - the store: [`Error::Store`], and [`Error::Malformed`] or
    ///   [`Error::UnsupportedRecordVersion`] for a stored record it cannot read.
    ///
    /// Signal failures for one device (no session, a changed identity) do not fail the send: the
    /// device is left out. Noise, certificate, pairing and media errors belong to the connection
    /// task and to media calls and never come back from here.
    pub async fn send_message(&self, chat: &Jid, message: e2e::Message) -> Result<SentMessage> {
        let id = self.new_message_id().await?;
        self.send_message_with_id(chat, &id, message).await
    }

    /// A fresh message id for this device (`3EB0` + 9 bytes), for
    /// [`Client::send_message_with_id`].
    ///
    /// # Errors
    ///
    /// [`ConnectionError::NotPaired`].
    pub async fn new_message_id(&self) -> Result<String> {
        let own = OwnDevice::of(&*self.credentials.lock().await)
            .ok_or(Error::Connection(ConnectionError::NotPaired))?;
        let mut rng = self.shared.rng();
        Ok(generate_message_id(Some(&own.jid.user), self.config.clock.now(), &mut rng))
    }

    /// As [`Client::send_message`] with an id chosen by the caller: an application that stores
    /// the id before sending can send the same message again after a crash under the same id,
    /// so that the recipient recognises it as the same message.
    ///
    /// # Errors
    ///
    /// As [`Client::send_message`], and [`crate::MessageError::Stanza`] for an empty id or one
    /// longer than 128 bytes (so the same layers).
    pub async fn send_message_with_id(
        &self,
        chat: &Jid,
        id: &str,
        message: e2e::Message,
    ) -> Result<SentMessage> {
        if id.is_empty() || id.len() > 128 {
            return Err(Error::stanza("message", "id must be 1 to 128 bytes"));
        }
        let own = OwnDevice::of(&*self.credentials.lock().await)
            .ok_or(Error::Connection(ConnectionError::NotPaired))?;
        let chat = chat.to_non_device();
        let id = id.to_owned();
        let users = [chat.clone(), own_user_like(&own, &chat)];
        // The device lists and keys may need the server: a connection that drops meanwhile is
        // waited for, like the send itself.
        let deadline = Instant::now() + self.config.send_timeout;
        let devices = self
            .while_connected(deadline, "a connection to send on", || {
                self.shared.devices(&self.commands, &self.config, &users)
            })
            .await?;
        let encrypted = self
            .while_connected(deadline, "a connection to send on", || {
                self.shared.encrypt(
                    &self.commands,
                    &self.config,
                    &own,
                    &id,
                    &chat,
                    &message,
                    &devices,
                )
            })
            .await?;
        let ack = self.deliver(&id, encrypted.node).await?;
        if let Some(phash) = ack.attr_opt_str("phash").ok().flatten()
            && phash != encrypted.phash
        {
            debug!(id, "participant hash mismatch: refreshing the device lists");
            self.send_to_missed(&own, &id, &chat, &message, &users, &devices).await?;
        }
        let timestamp =
            ack.attr_opt_str("t").ok().flatten().and_then(|t| t.parse().ok()).unwrap_or(0);
        let addressed = devices.iter().filter(|device| !own.is_this_device(device)).count();
        Ok(SentMessage { id, chat, timestamp, devices: addressed })
    }

    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// As [`Client::send_message`]: [`Error::Connection`], [`Error::Message`] and the store's
    /// errors, nothing else.
    pub async fn send_text(&self, chat: &Jid, text: &str) -> Result<SentMessage> {
        let message = e2e::Message { conversation: Some(text.to_owned()), ..Default::default() };
        self.send_message(chat, message).await
    }

    /// Sends `text` as a reply quoting `quoted` (an `extendedTextMessage` whose `ContextInfo`
    /// names the quoted stanza id, its sender and content).
    ///
    /// # Errors
    ///
    /// As [`Client::send_message`].
    pub async fn send_reply(&self, chat: &Jid, text: &str, quoted: &Quoted) -> Result<SentMessage> {
        let participant = if quoted.from_me {
            OwnDevice::of(&*self.credentials.lock().await).map(|own| own.jid.to_non_device())
        } else {
            Some(quoted.sender.to_non_device())
        };
        let context = ContextInfo {
            stanza_id: Some(quoted.id.clone()),
            participant: participant.map(|jid| jid.to_string()),
            quoted_message: Some(Box::new(quoted.content())),
            ..Default::default()
        };
        let message = e2e::Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some(text.to_owned()),
                context_info: Some(Box::new(context)),
                ..Default::default()
            })),
            ..Default::default()
        };
        self.send_message(chat, message).await
    }

    /// Reacts to `target` with `emoji` (an empty string takes a reaction back).
    ///
    /// # Errors
    ///
    /// As [`Client::send_message`].
    pub async fn send_reaction(
        &self,
        chat: &Jid,
        target: &Quoted,
        emoji: &str,
    ) -> Result<SentMessage> {
        let now_ms = self.config.clock.now().saturating_mul(1000);
        let message = e2e::Message {
            reaction_message: Some(ReactionMessage {
                key: Some(MessageKey {
                    remote_jid: Some(chat.to_non_device().to_string()),
                    from_me: Some(target.from_me),
                    id: Some(target.id.clone()),
                    participant: None,
                }),
                text: Some(emoji.to_owned()),
                sender_timestamp_ms: Some(i64::try_from(now_ms).unwrap_or(i64::MAX)),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.send_message(chat, message).await
    }

    /// Revokes ("deletes for everyone") our message `id` in the 1:1 `chat`: a protocol message
    /// sent under `revoke_id` (a fresh id from [`Client::new_message_id`], kept by a caller that
    /// may repeat the revoke after a crash) with `edit="7"`.
    ///
    /// # Errors
    ///
    /// As [`Client::send_message_with_id`].
    pub async fn revoke_message(
        &self,
        chat: &Jid,
        id: &str,
        revoke_id: &str,
    ) -> Result<SentMessage> {
        self.send_message_with_id(chat, revoke_id, edit::revoke(chat, id)).await
    }

    /// Replaces the content of our message `id` in the 1:1 `chat` with `content` (a text, or a
    /// media message's new caption), sent under `edit_id` with `edit="1"`.
    ///
    /// # Errors
    ///
    /// As [`Client::send_message_with_id`].
    pub async fn edit_message(
        &self,
        chat: &Jid,
        id: &str,
        content: e2e::Message,
        edit_id: &str,
    ) -> Result<SentMessage> {
        let now_ms = self.config.clock.now().saturating_mul(1000);
        let message = edit::edit(chat, id, content, i64::try_from(now_ms).unwrap_or(i64::MAX));
        self.send_message_with_id(chat, edit_id, message).await
    }

    /// Tells `sender` (in `chat`) that we read the messages `ids`.
    ///
    /// # Errors
    ///
    /// [`crate::MessageError::Stanza`] if `ids` is empty, [`ConnectionError::Stopped`].
    pub fn mark_read(&self, chat: &Jid, sender: &Jid, ids: &[String]) -> Result<()> {
        let now = self.config.clock.now();
        let chat = if chat.server == Server::Group { chat.clone() } else { sender.to_non_device() };
        self.send(seen_receipt(&chat, Some(sender), ids, SeenKind::Read, now)?)
    }

    /// Sends the message stanza `node` until the server acks it (across reconnects).
    /// Runs `step` (a send, or a device-list or key query on the way to one) when connected; if
    /// the connection ends under it ([`ConnectionError::NotConnected`]), waits for the next one and
    /// runs it again, until `deadline` (then [`ConnectionError::Timeout`] naming `waiting_for`).
    async fn while_connected<T, F, Fut>(
        &self,
        deadline: Instant,
        waiting_for: &'static str,
        mut step: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut online = self.shared.online.subscribe();
        loop {
            tokio::time::timeout_at(deadline, online.wait_for(|online| *online))
                .await
                .map_err(|_| Error::Connection(ConnectionError::Timeout(waiting_for)))?
                .map_err(|_| Error::Connection(ConnectionError::Stopped))?;
            match step().await {
                Err(Error::Connection(ConnectionError::NotConnected)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                other => return other,
            }
        }
    }

    async fn deliver(&self, id: &str, node: Node) -> Result<Node> {
        let deadline = Instant::now() + self.config.send_timeout;
        self.while_connected(deadline, "server ack of a message", || async {
            let (reply, answer) = oneshot::channel();
            self.commands
                .send(Command::Message { id: id.to_owned(), node: node.clone(), reply })
                .map_err(|_| Error::Connection(ConnectionError::Stopped))?;
            match tokio::time::timeout_at(deadline, answer).await {
                Ok(Ok(ack)) => Ok(ack),
                // The connection ended first: send again on the next one.
                Ok(Err(_)) => Err(Error::Connection(ConnectionError::NotConnected)),
                Err(_) => {
                    Err(Error::Connection(ConnectionError::Timeout("server ack of a message")))
                }
            }
        })
        .await
    }

    /// After a participant-hash mismatch: fetch the device lists again and send the message to
    /// the devices the first stanza missed (once; no ack awaited).
    async fn send_to_missed(
        &self,
        own: &OwnDevice,
        id: &str,
        chat: &Jid,
        message: &e2e::Message,
        users: &[Jid],
        sent_to: &[Jid],
    ) -> Result<()> {
        for user in users {
            self.shared.machine.forget_devices(user);
        }
        let deadline = Instant::now() + self.config.send_timeout;
        let fresh = self
            .while_connected(deadline, "a connection to send on", || {
                self.shared.devices(&self.commands, &self.config, users)
            })
            .await?;
        let missed: Vec<Jid> = fresh.into_iter().filter(|d| !sent_to.contains(d)).collect();
        if missed.iter().all(|device| own.is_this_device(device)) {
            return Ok(());
        }
        let encrypted = self
            .while_connected(deadline, "a connection to send on", || {
                self.shared.encrypt(&self.commands, &self.config, own, id, chat, message, &missed)
            })
            .await?;
        self.send(encrypted.node)
    }
}

#[cfg(test)]
mod tests {
    use wa_proto::proto::e2e::{MessageContextInfo, message::FutureProofMessage};

    use super::*;

    fn quoted(message: e2e::Message) -> Quoted {
        Quoted {
            id: "3EB0AA".to_owned(),
            sender: Jid::new("15550001111", Server::User),
            from_me: false,
            message,
        }
    }

    #[test]
    fn a_quote_carries_the_content_only() {
        let secret = MessageContextInfo { message_secret: Some(vec![9; 32]), ..Default::default() };
        let earlier =
            ContextInfo { stanza_id: Some("3EB0EARLIER".to_owned()), ..Default::default() };
        let text = ExtendedTextMessage {
            text: Some("hello".to_owned()),
            context_info: Some(Box::new(earlier)),
            ..Default::default()
        };
        let message = e2e::Message {
            extended_text_message: Some(Box::new(text.clone())),
            message_context_info: Some(secret.clone()),
            ..Default::default()
        };
        let expected = e2e::Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                context_info: None,
                ..text
            })),
            ..Default::default()
        };
        assert_eq!(quoted(message.clone()).content(), expected);

        // Wrapped (ephemeral) content is unwrapped first.
        let wrapped = e2e::Message {
            ephemeral_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(message)),
            })),
            message_context_info: Some(secret),
            ..Default::default()
        };
        assert_eq!(quoted(wrapped).content(), expected);

        // A plain conversation stays as it is.
        let plain = e2e::Message { conversation: Some("hi".to_owned()), ..Default::default() };
        assert_eq!(quoted(plain.clone()).content(), plain);
    }
}
