//! The line runtime: one pair of tokio tasks per connected line, each running a wa-session
//! [`Client`] over the line's tenancy [`tenancy::LineSignalStore`].
//!
//! - Inbound: `Event::Message` -> media downloaded into the tenant's media directory -> one
//!   tenancy transaction (`record_inbound`: message, unread count, audit record with the raw
//!   event) -> only then the client's ack -> [`ServerEvent::MessageStored`] on the bus. A redelivered message (same
//!   WhatsApp id) is stored once.
//! - Outbound: `send_*` queue a pending message with an idempotency key (tenancy's outbox) and
//!   wake the line; its sender task reserves the WhatsApp id in the database before the first
//!   attempt, sends, then `complete_send`. Receipts move the status to delivered and read.
//!   Whatever is pending is sent after a restart or reconnect, under the id stored before.
//! - Status: every change is stored (`set_line_status`, audited) and published. A line the
//!   phone logged out is marked `logged_out` and not restarted.

mod amend;
mod amendment;
pub mod cold_guard;
mod error;
mod inbound;
mod line;
mod outbound;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use sha2::{Digest, Sha256};
use tenancy::{
    Caller, Clock, ConversationId, LineId, LineStatus, Media, Message, MessageId, MessageKind,
    Outbound, Tenant,
};
use tokio::{
    sync::{Notify, broadcast, watch},
    task::JoinHandle,
};
use wa_session::{
    KeyPair,
    client::{Client, Config, VOICE_NOTE_MIMETYPE},
    signal::generate_registration_id,
};

pub use crate::events::LineState;
use crate::{
    events::{EventBus, ServerEvent},
    metrics::Metrics,
    voice::{self, RemuxOptions},
};
pub use amend::Amended;
pub use error::RuntimeError;

/// The device-store namespace and key of the runtime's "restart this line" flag.
const NS_RUNTIME: &str = "runtime";
const KEY_AUTOSTART: &str = "autostart";

/// At most this many message ids in one read receipt.
pub const RECEIPT_BATCH: usize = 100;

/// Settings of a [`Runtime`].
#[derive(Clone)]
pub struct RuntimeConfig {
    /// The WhatsApp client's settings (URL, root key, TLS roots, limits) for every line.
    pub client: Config,
    /// The data directory: media go under `tenants/<member_id>/media/`.
    pub data_dir: PathBuf,
    /// The clock for stored times.
    pub clock: Arc<dyn Clock>,
    /// The largest media file a user may send (default 64 MiB).
    pub max_media: u64,
    /// How long a failed send waits before the next attempt.
    pub send_retry: Duration,
    /// The anti-ban guard's limits on messages to customers who never wrote.
    pub outreach: cold_guard::OutreachLimits,
}

impl RuntimeConfig {
    /// Defaults around a client configuration and a data directory, with the system clock.
    #[must_use]
    pub fn new(client: Config, data_dir: PathBuf) -> RuntimeConfig {
        RuntimeConfig {
            client,
            data_dir,
            clock: Arc::new(tenancy::SystemClock),
            max_media: 64 * 1024 * 1024,
            send_retry: Duration::from_secs(2),
            outreach: cold_guard::OutreachLimits::default(),
        }
    }
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("client", &self.client)
            .field("data_dir", &self.data_dir)
            .field("max_media", &self.max_media)
            .field("outreach", &self.outreach)
            .finish_non_exhaustive()
    }
}

/// What every line task shares.
pub(crate) struct Shared {
    pub(crate) config: RuntimeConfig,
    pub(crate) store: Arc<tenancy::Store>,
    pub(crate) events: EventBus,
    pub(crate) metrics: Arc<Metrics>,
}

/// A line identified across tenants.
type LineKey = (String, LineId);

struct LineHandle {
    ctx: Arc<line::LineCtx>,
    state: watch::Receiver<LineState>,
    events_task: JoinHandle<()>,
    outbox_task: JoinHandle<()>,
}

impl LineHandle {
    fn running(&self) -> bool {
        !self.events_task.is_finished()
    }
}

/// The media options of [`Runtime::send_media`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaUpload {
    /// The MIME type (voice notes are always `audio/ogg; codecs=opus`).
    pub mime: Option<String>,
    /// A caption (image, video, document).
    pub caption: Option<String>,
    /// The file name (documents).
    pub file_name: Option<String>,
}

/// Runs every connected line. Dropping it stops every line (the clients close).
pub struct Runtime {
    shared: Arc<Shared>,
    lines: Mutex<HashMap<LineKey, LineHandle>>,
    /// Held from the anti-ban guard's count to the queueing of a cold message, so that
    /// concurrent sends cannot both pass the last free place.
    cold: tokio::sync::Mutex<()>,
    /// When each line last asked WhatsApp about numbers (Unix ms; the last hour's only).
    checks: Mutex<HashMap<LineKey, Vec<i64>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for handle in self.lines().values() {
            handle.events_task.abort();
            handle.outbox_task.abort();
            handle.ctx.client.close();
        }
    }
}

/// Sets or clears a line's "restart me" flag.
pub(crate) async fn set_autostart(
    tenant: &Tenant,
    line_id: LineId,
    on: bool,
    now: time::OffsetDateTime,
) -> Result<(), tenancy::Error> {
    let value: Option<&[u8]> = if on { Some(b"1") } else { None };
    tenant.device_write(Caller::System, line_id, &[(NS_RUNTIME, KEY_AUTOSTART, value)], now).await
}

impl Runtime {
    /// A runtime over `store` that publishes its lines' events on `events`; nothing runs until
    /// [`Runtime::connect`] or [`Runtime::restore_all`].
    #[must_use]
    pub fn new(store: Arc<tenancy::Store>, config: RuntimeConfig, events: EventBus) -> Runtime {
        let metrics = Arc::new(Metrics::default());
        Runtime {
            shared: Arc::new(Shared { config, store, events, metrics }),
            lines: Mutex::new(HashMap::new()),
            cold: tokio::sync::Mutex::new(()),
            checks: Mutex::new(HashMap::new()),
        }
    }

    /// Every event of the bus from now on (the lines' and whatever else is published on it).
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ServerEvent>> {
        self.shared.events.subscribe()
    }

    /// The bus the runtime publishes on.
    #[must_use]
    pub fn bus(&self) -> &EventBus {
        &self.shared.events
    }

    /// The counters the runtime keeps (messages stored); the server shows them at `/metrics`.
    #[must_use]
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    fn lines(&self) -> MutexGuard<'_, HashMap<LineKey, LineHandle>> {
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now(&self) -> time::OffsetDateTime {
        tenancy::now(&*self.shared.config.clock)
    }

    /// The largest media file a line sends, in bytes.
    #[must_use]
    pub fn max_media(&self) -> u64 {
        self.shared.config.max_media
    }

    /// The tenant's media directory.
    #[must_use]
    pub fn media_dir(&self, member_id: &str) -> PathBuf {
        self.shared.config.data_dir.join("tenants").join(member_id).join("media")
    }

    /// The current state of a running line (`None` if it is not running).
    #[must_use]
    pub fn status(&self, member_id: &str, line_id: LineId) -> Option<LineState> {
        self.lines()
            .get(&(member_id.to_owned(), line_id))
            .filter(|h| h.running())
            .map(|h| h.state.borrow().clone())
    }

    /// Starts a line: its client connects (an unpaired line publishes QR codes, a paired one
    /// logs in) and it is restarted by [`Runtime::restore_all`] from now on. Returns the state
    /// right after the start; a line already running is left as it is.
    ///
    /// # Errors
    ///
    /// Unknown tenant or line, storage and client start errors.
    pub async fn connect(
        &self,
        member_id: &str,
        line_id: LineId,
    ) -> Result<LineState, RuntimeError> {
        let key = (member_id.to_owned(), line_id);
        if let Some(state) = self.status(member_id, line_id) {
            return Ok(state);
        }
        let tenant = self.shared.store.tenant(member_id).await?;
        tenant.line(Caller::System, line_id).await?;
        let clock = self.shared.config.clock.clone();
        let store = match tenant.signal_store(Caller::System, line_id, clock.clone()).await {
            Ok(store) => store,
            Err(tenancy::Error::NotFound(_)) => {
                // The thread's generator is not Send: let go of it before awaiting.
                let (identity, registration_id) = {
                    let mut rng = rand::rng();
                    (KeyPair::generate(&mut rng), generate_registration_id(&mut rng))
                };
                tenant
                    .create_signal_store(Caller::System, line_id, &identity, registration_id, clock)
                    .await?
            }
            Err(error) => return Err(error.into()),
        };
        set_autostart(&tenant, line_id, true, self.now()).await?;
        let (client, events) =
            Client::start(self.shared.config.client.clone(), Arc::new(store)).await?;
        let (state_tx, state_rx) = watch::channel(LineState::Connecting);
        let ctx = Arc::new(line::LineCtx {
            shared: self.shared.clone(),
            member_id: member_id.to_owned(),
            line_id,
            tenant,
            client,
            media_dir: self.media_dir(member_id),
            wake: Arc::new(Notify::new()),
            state: state_tx,
        });
        ctx.publish(ServerEvent::LineStatus {
            member_id: member_id.to_owned(),
            line_id,
            state: LineState::Connecting,
        });
        let events_task = tokio::spawn(ctx.clone().run_events(events));
        let outbox_task = tokio::spawn(ctx.clone().run_outbox());
        let handle = LineHandle { ctx, state: state_rx, events_task, outbox_task };
        if let Some(old) = self.lines().insert(key, handle) {
            old.outbox_task.abort();
        }
        Ok(LineState::Connecting)
    }

    /// Restarts every line of every active tenant that was connected and not logged out (at
    /// server start). Returns the lines started; a line that fails to start is logged and
    /// skipped.
    ///
    /// # Errors
    ///
    /// Only if the tenant registry cannot be read.
    pub async fn restore_all(&self) -> Result<Vec<(String, LineId)>, RuntimeError> {
        let mut started = Vec::new();
        for member_id in self.shared.store.active_tenants().await? {
            let lines = match self.shared.store.tenant(&member_id).await {
                Ok(tenant) => match tenant.lines(Caller::System).await {
                    Ok(lines) => lines.into_iter().map(|l| (tenant.clone(), l)).collect(),
                    Err(error) => {
                        tracing::warn!(%member_id, %error, "lines not readable");
                        Vec::new()
                    }
                },
                Err(error) => {
                    tracing::warn!(%member_id, %error, "tenant not openable");
                    Vec::new()
                }
            };
            for (tenant, line) in lines {
                if line.status == LineStatus::LoggedOut {
                    continue;
                }
                let flagged = tenant
                    .device_get(Caller::System, line.id, NS_RUNTIME, KEY_AUTOSTART)
                    .await
                    .is_ok_and(|v| v.is_some());
                if !flagged {
                    continue;
                }
                match self.connect(&member_id, line.id).await {
                    Ok(_) => started.push((member_id.clone(), line.id)),
                    Err(error) => {
                        tracing::warn!(%member_id, line_id = line.id, %error, "line not restored")
                    }
                }
            }
        }
        Ok(started)
    }

    fn take_handle(&self, member_id: &str, line_id: LineId) -> Result<LineHandle, RuntimeError> {
        self.lines()
            .remove(&(member_id.to_owned(), line_id))
            .ok_or(RuntimeError::NotRunning(line_id))
    }

    /// Stops a line (its client closes) and keeps it stopped across restarts until the next
    /// [`Runtime::connect`]. Waits for its tasks to end.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NotRunning`], storage errors.
    pub async fn disconnect(&self, member_id: &str, line_id: LineId) -> Result<(), RuntimeError> {
        let handle = self.take_handle(member_id, line_id)?;
        set_autostart(&handle.ctx.tenant, line_id, false, self.now()).await?;
        handle.ctx.client.close();
        let _ = tokio::time::timeout(line::STOP_WAIT, handle.events_task).await;
        handle.outbox_task.abort();
        Ok(())
    }

    /// Logs the line out: WhatsApp removes this companion, the credentials are deleted, the
    /// line is marked `logged_out` and stops. Waits for its tasks to end.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NotRunning`], the logout iq's errors (the line keeps running then).
    pub async fn logout(&self, member_id: &str, line_id: LineId) -> Result<(), RuntimeError> {
        let client = {
            let lines = self.lines();
            let handle = lines
                .get(&(member_id.to_owned(), line_id))
                .filter(|h| h.running())
                .ok_or(RuntimeError::NotRunning(line_id))?;
            handle.ctx.client.clone()
        };
        client.logout().await?;
        let handle = self.take_handle(member_id, line_id)?;
        let _ = tokio::time::timeout(line::STOP_WAIT, handle.events_task).await;
        handle.outbox_task.abort();
        Ok(())
    }

    /// Sends read receipts (the customer's blue ticks) for the inbound messages `ids` of the
    /// chat `chat` on a running line, in batches of [`RECEIPT_BATCH`].
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NotRunning`], [`RuntimeError::Invalid`] for a JID that does not parse,
    /// the client's errors (stopped).
    pub fn send_read_receipts(
        &self,
        member_id: &str,
        line_id: LineId,
        chat: &str,
        ids: &[String],
    ) -> Result<(), RuntimeError> {
        let client = self
            .lines()
            .get(&(member_id.to_owned(), line_id))
            .filter(|h| h.running())
            .map(|h| h.ctx.client.clone())
            .ok_or(RuntimeError::NotRunning(line_id))?;
        let jid: wa_proto::Jid = chat.parse().map_err(|_| RuntimeError::Invalid("contact JID"))?;
        for batch in ids.chunks(RECEIPT_BATCH) {
            client.mark_read(&jid, &jid, batch)?;
        }
        Ok(())
    }

    async fn enqueue(
        &self,
        member_id: &str,
        caller: Caller,
        conversation: ConversationId,
        outbound: &Outbound,
        idempotency_key: &str,
    ) -> Result<Message, RuntimeError> {
        self.enqueue_from(member_id, caller, None, conversation, outbound, idempotency_key).await
    }

    /// Queues a message a Bitrix24 operator wrote in an Open Channel (text, or media from
    /// [`Runtime::store_media`]): stored as ours with the operator as its sender, sent once per
    /// `idempotency_key` (the server only).
    ///
    /// # Errors
    ///
    /// As [`Runtime::send_text`].
    pub async fn send_for_operator(
        &self,
        member_id: &str,
        operator: tenancy::UserId,
        conversation: ConversationId,
        outbound: &Outbound,
        idempotency_key: &str,
    ) -> Result<Message, RuntimeError> {
        self.enqueue_from(
            member_id,
            Caller::System,
            Some(operator),
            conversation,
            outbound,
            idempotency_key,
        )
        .await
    }

    async fn enqueue_from(
        &self,
        member_id: &str,
        caller: Caller,
        operator: Option<tenancy::UserId>,
        conversation: ConversationId,
        outbound: &Outbound,
        idempotency_key: &str,
    ) -> Result<Message, RuntimeError> {
        let tenant = self.shared.store.tenant(member_id).await?;
        // An operator answers in an Open Channel the customer opened: never cold.
        let _cold = match operator {
            None => self.cold_check(&tenant, caller, conversation, idempotency_key).await?,
            Some(_) => None,
        };
        let now = self.now();
        let (message, _item) = match operator {
            Some(operator) => {
                tenant
                    .enqueue_for_operator(
                        caller,
                        operator,
                        conversation,
                        outbound,
                        idempotency_key,
                        now,
                    )
                    .await?
            }
            None => tenant.enqueue(caller, conversation, outbound, idempotency_key, now).await?,
        };
        let line_id = message.line_id;
        let wake = self.lines().get(&(member_id.to_owned(), line_id)).map(|h| h.ctx.clone());
        if let Some(ctx) = wake {
            let unread =
                tenant.conversation(Caller::System, conversation).await.map_or(0, |c| c.unread);
            ctx.stored(message.clone(), unread);
            ctx.wake.notify_one();
        }
        Ok(message)
    }

    /// The anti-ban guard before queueing a message to `conversation`: nothing for a customer
    /// who wrote (or a retried request); for a cold one, the line's limits are checked and the
    /// returned guard is held until the message is queued.
    async fn cold_check(
        &self,
        tenant: &Tenant,
        caller: Caller,
        conversation: ConversationId,
        idempotency_key: &str,
    ) -> Result<Option<tokio::sync::MutexGuard<'_, ()>>, RuntimeError> {
        let limits = self.shared.config.outreach;
        let since = self.now() - limits.window();
        let outreach =
            tenant.cold_outreach(caller, conversation, since, Some(idempotency_key)).await?;
        if !outreach.cold || outreach.already_queued {
            return Ok(None);
        }
        let guard = self.cold.lock().await;
        // Counted again under the lock: another send may have taken the last place.
        let outreach =
            tenant.cold_outreach(caller, conversation, since, Some(idempotency_key)).await?;
        let now = tenancy::audit::unix_ms(self.now());
        if let Err(refusal) = cold_guard::check(&limits, now, conversation, &outreach) {
            tracing::info!(
                member_id = tenant.member_id(),
                line_id = outreach.line_id,
                conversation_id = conversation,
                limit = ?refusal.limit,
                "cold message refused by the anti-ban guard"
            );
            return Err(RuntimeError::ColdLimit(refusal));
        }
        Ok(Some(guard))
    }

    /// Where the line of `conversation` stands with cold outreach now (the sender sees it
    /// before a first message).
    ///
    /// # Errors
    ///
    /// Unknown tenant or conversation (or one the caller may not see), storage errors.
    pub async fn outreach_status(
        &self,
        member_id: &str,
        caller: Caller,
        conversation: ConversationId,
    ) -> Result<cold_guard::OutreachStatus, RuntimeError> {
        let tenant = self.shared.store.tenant(member_id).await?;
        let limits = self.shared.config.outreach;
        let now = self.now();
        let outreach =
            tenant.cold_outreach(caller, conversation, now - limits.window(), None).await?;
        Ok(cold_guard::status(&limits, tenancy::audit::unix_ms(now), conversation, &outreach))
    }

    /// Asks WhatsApp, through the running line, whether the number `phone` (digits) is
    /// registered: its account's JID if it is, `None` if it is not.
    ///
    /// At most [`cold_guard::OutreachLimits::checks_per_hour`] numbers per line in any hour
    /// (kept in memory: a restart forgets them).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NotRunning`], [`RuntimeError::ColdLimit`] over the checks' limit, the
    /// client's errors (no connection, timeout, a refused or malformed answer).
    pub async fn on_whatsapp(
        &self,
        member_id: &str,
        line_id: LineId,
        phone: &str,
    ) -> Result<Option<wa_proto::Jid>, RuntimeError> {
        let client = self
            .lines()
            .get(&(member_id.to_owned(), line_id))
            .filter(|h| h.running())
            .map(|h| h.ctx.client.clone())
            .ok_or(RuntimeError::NotRunning(line_id))?;
        let now = tenancy::audit::unix_ms(self.now());
        {
            let mut checks = self.checks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let recent = checks.entry((member_id.to_owned(), line_id)).or_default();
            recent.retain(|&at| at > now - 3_600_000);
            cold_guard::check_lookup(&self.shared.config.outreach, now, recent)
                .map_err(RuntimeError::ColdLimit)?;
            recent.push(now);
        }
        let answer = client.is_on_whatsapp(&[phone]).await?;
        let asked = format!("+{}", phone.trim_start_matches('+'));
        Ok(answer.into_iter().find(|c| c.query == asked && c.on_whatsapp).map(|c| c.jid))
    }

    /// Queues a text (a reply if `quoted` names a message of the conversation) for sending, once
    /// per `idempotency_key`. It goes out when the line is connected.
    ///
    /// # Errors
    ///
    /// Storage errors: the caller may not see the conversation, the quoted message is not in
    /// it, the key was used for another conversation, the text is too long.
    pub async fn send_text(
        &self,
        member_id: &str,
        caller: Caller,
        conversation: ConversationId,
        text: &str,
        quoted: Option<MessageId>,
        idempotency_key: &str,
    ) -> Result<Message, RuntimeError> {
        let outbound = Outbound {
            kind: MessageKind::Text,
            text: Some(text.to_owned()),
            media: None,
            quoted_id: quoted,
        };
        self.enqueue(member_id, caller, conversation, &outbound, idempotency_key).await
    }

    /// Queues a reaction (`emoji`, empty to take one back) to `target`.
    ///
    /// # Errors
    ///
    /// As [`Runtime::send_text`].
    pub async fn send_reaction(
        &self,
        member_id: &str,
        caller: Caller,
        conversation: ConversationId,
        target: MessageId,
        emoji: &str,
        idempotency_key: &str,
    ) -> Result<Message, RuntimeError> {
        let outbound = Outbound {
            kind: MessageKind::Reaction,
            text: Some(emoji.to_owned()),
            media: None,
            quoted_id: Some(target),
        };
        self.enqueue(member_id, caller, conversation, &outbound, idempotency_key).await
    }

    /// Stores a media file in the tenant's media directory and queues it. A voice note given as
    /// a browser's webm/opus recording is remuxed to Ogg Opus first.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Invalid`] for a kind that is not media, [`RuntimeError::MediaTooLarge`],
    /// [`RuntimeError::Voice`] for a recording that does not remux, file and storage errors.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_media(
        &self,
        member_id: &str,
        caller: Caller,
        conversation: ConversationId,
        kind: MessageKind,
        bytes: Vec<u8>,
        upload: &MediaUpload,
        quoted: Option<MessageId>,
        idempotency_key: &str,
    ) -> Result<Message, RuntimeError> {
        let outbound = self.store_media(member_id, kind, bytes, upload, quoted).await?;
        self.enqueue(member_id, caller, conversation, &outbound, idempotency_key).await
    }

    /// Stores a media file in the tenant's media directory (content-addressed; a voice note
    /// given as a browser's webm/opus recording is remuxed to Ogg Opus first) and returns the
    /// message to queue.
    ///
    /// # Errors
    ///
    /// As [`Runtime::send_media`].
    pub async fn store_media(
        &self,
        member_id: &str,
        kind: MessageKind,
        bytes: Vec<u8>,
        upload: &MediaUpload,
        quoted: Option<MessageId>,
    ) -> Result<Outbound, RuntimeError> {
        if outbound::media_kind(kind).is_none() {
            return Err(RuntimeError::Invalid("not a media kind"));
        }
        let limit = self.shared.config.max_media;
        let size = bytes.len() as u64;
        if size > limit {
            return Err(RuntimeError::MediaTooLarge { size, limit });
        }
        let (bytes, mime) = if kind == MessageKind::Voice {
            let ogg = if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
                let serial =
                    u32::from_le_bytes(Sha256::digest(&bytes)[..4].try_into().unwrap_or([0; 4]));
                voice::webm_to_ogg_opus(
                    &bytes,
                    &RemuxOptions { serial, ..RemuxOptions::default() },
                )?
                .ogg
            } else {
                voice::ogg_opus_duration(&bytes)?;
                bytes
            };
            (ogg, VOICE_NOTE_MIMETYPE.to_owned())
        } else {
            let mime = upload.mime.clone().unwrap_or_else(|| "application/octet-stream".to_owned());
            (bytes, mime)
        };
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let relative = format!("out/{}/{}", hex::encode(sha256), media_name(upload));
        write_media(&self.media_dir(member_id), &relative, &bytes).await?;
        Ok(Outbound {
            kind,
            text: upload.caption.clone(),
            media: Some(Media {
                path: relative,
                mime,
                size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
                sha256,
            }),
            quoted_id: quoted,
        })
    }
}

/// A file an upload streamed to disk (under [`Runtime::staging_dir`]), with its size and
/// SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedMedia {
    /// Where the file is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

impl Runtime {
    /// Where uploads are streamed before they are checked: beside the tenant's media folder
    /// (same file system), so that moving one in is a rename.
    #[must_use]
    pub fn staging_dir(&self, member_id: &str) -> PathBuf {
        self.shared.config.data_dir.join("tenants").join(member_id).join("uploads")
    }

    /// [`Runtime::send_media`] for a file already on disk: moved into the media folder (a
    /// voice note is read and remuxed, it is small), never held in memory whole. The staged
    /// file is gone afterwards, or left to the caller to remove on an error.
    ///
    /// # Errors
    ///
    /// As [`Runtime::send_media`].
    #[allow(clippy::too_many_arguments)]
    pub async fn send_media_file(
        &self,
        member_id: &str,
        caller: Caller,
        conversation: ConversationId,
        kind: MessageKind,
        staged: &StagedMedia,
        upload: &MediaUpload,
        quoted: Option<MessageId>,
        idempotency_key: &str,
    ) -> Result<Message, RuntimeError> {
        if kind == MessageKind::Voice {
            let bytes = tokio::fs::read(&staged.path).await?;
            let _ = tokio::fs::remove_file(&staged.path).await;
            return self
                .send_media(
                    member_id,
                    caller,
                    conversation,
                    kind,
                    bytes,
                    upload,
                    quoted,
                    idempotency_key,
                )
                .await;
        }
        if outbound::media_kind(kind).is_none() {
            return Err(RuntimeError::Invalid("not a media kind"));
        }
        let limit = self.shared.config.max_media;
        if staged.size > limit {
            return Err(RuntimeError::MediaTooLarge { size: staged.size, limit });
        }
        let mime = upload.mime.clone().unwrap_or_else(|| "application/octet-stream".to_owned());
        let relative = format!("out/{}/{}", hex::encode(staged.sha256), media_name(upload));
        let path = self.media_dir(member_id).join(&relative);
        if let Some(parent) = path.parent() {
            create_private_dir(parent).await?;
        }
        // Content-addressed: a file already there holds these bytes.
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            let _ = tokio::fs::remove_file(&staged.path).await;
        } else {
            tokio::fs::rename(&staged.path, &path).await?;
        }
        let outbound = Outbound {
            kind,
            text: upload.caption.clone(),
            media: Some(Media {
                path: relative,
                mime,
                size: i64::try_from(staged.size).unwrap_or(i64::MAX),
                sha256: staged.sha256,
            }),
            quoted_id: quoted,
        };
        self.enqueue(member_id, caller, conversation, &outbound, idempotency_key).await
    }
}

/// The stored file name of an upload: the given one without path separators, or `file`.
fn media_name(upload: &MediaUpload) -> String {
    upload
        .file_name
        .as_deref()
        .map(|n| {
            n.chars().filter(|c| !matches!(c, '/' | '\\' | '\0')).take(128).collect::<String>()
        })
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "file".to_owned())
}

/// Creates `dir` and its missing parents readable by this user only (0700).
///
/// # Errors
///
/// The file system's.
pub async fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await
}

/// Writes `bytes` to a new or truncated file readable by this user only (0600).
///
/// # Errors
///
/// The file system's.
pub async fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(bytes).await?;
    file.flush().await
}

async fn write_media(dir: &Path, relative: &str, bytes: &[u8]) -> Result<(), RuntimeError> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        create_private_dir(parent).await?;
    }
    // Content-addressed: a file already there holds these bytes.
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    let partial = path.with_extension("partial");
    write_private_file(&partial, bytes).await?;
    tokio::fs::rename(&partial, &path).await?;
    Ok(())
}
