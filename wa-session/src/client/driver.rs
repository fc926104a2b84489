//! The task behind a [`Client`](super::Client): one connection after another, each served by a
//! loop that reads stanzas, runs the client's commands and the QR timer; the features that wait
//! for answers (prekeys, keepalive, logout) run as tasks that talk to the loop through commands.

use std::{collections::HashMap, sync::Arc, time::Duration};

use rand::{SeedableRng as _, rngs::StdRng};
use rand_core::Rng as _;
use tokio::{
    sync::{Mutex, mpsc, oneshot},
    task::JoinHandle,
    time::{Instant, sleep, sleep_until, timeout},
};
use tracing::{debug, info, warn};
use wa_proto::Node;

use super::{
    backoff::Backoff,
    command::{Command, request},
    config::Config,
    event::{Event, PendingAck},
    handle::Ctx,
    inbox,
    iq::IqMatcher,
    qr::QrRotation,
    reason::DisconnectReason,
    render::render,
    shared::Shared,
    socket::Socket,
    stanza,
};
use crate::{
    ConnectionError, Error, KeyPair, Result,
    credentials::{DeviceCredentials, PairedAccount},
    pairing::{
        adv::{PairSuccess, pair_device_sign, pair_error, verify_pair_success},
        login_payload, qr_text, registration_payload,
    },
    signal::{generate_pre_keys, prekey::MAX_PRE_KEY_ID},
    store::{DeviceStore, SignalStore},
};

/// Tasks of one connection, aborted when it ends.
#[derive(Default)]
struct Tasks(Vec<JoinHandle<()>>);

impl Tasks {
    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.retain(|t| !t.is_finished());
        self.0.push(tokio::spawn(task));
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl<S: SignalStore + DeviceStore + 'static> Ctx<S> {
    /// After `<success>`: prekeys, `passive active`, presence, then `Connected`.
    async fn after_login(self, mut rng: StdRng) {
        match self.ensure_pre_keys(&mut rng).await {
            Ok(0) => {}
            Ok(count) => self.emit(Event::PreKeysUploaded { count }).await,
            Err(Error::Connection(ConnectionError::NotConnected)) => return,
            Err(error) => warn!("prekey check failed: {error}"),
        }
        match self.iq(stanza::passive_active()).await {
            Ok(_) => {}
            Err(Error::Connection(ConnectionError::NotConnected)) => return,
            Err(error) => warn!("passive active failed: {error}"),
        }
        let push_name = self.credentials.lock().await.push_name.clone();
        if self
            .connection
            .send(Command::Send(stanza::presence_available(push_name.as_deref())))
            .is_err()
        {
            return;
        }
        self.emit(Event::Connected).await;
    }

    /// Asks the server how many one-time prekeys it holds and uploads more if it is below the
    /// minimum. Returns how many were uploaded.
    async fn ensure_pre_keys(&self, rng: &mut StdRng) -> Result<u32> {
        let count = stanza::pre_key_count(&self.iq(stanza::pre_key_count_request()).await?)?;
        if count >= self.config.pre_keys.min {
            return Ok(0);
        }
        self.upload_pre_keys(rng).await
    }

    /// Generates, stores and uploads one-time prekeys: the initial batch the first time, a top-up
    /// later. The counter is saved before the upload, so an id is never handed out twice.
    async fn upload_pre_keys(&self, rng: &mut StdRng) -> Result<u32> {
        let mut credentials = self.credentials.lock().await;
        let policy = self.config.pre_keys;
        let first = credentials.next_pre_key_id <= 1;
        let count = if first { policy.initial } else { policy.top_up };
        let keys = generate_pre_keys(credentials.next_pre_key_id, count, rng);
        for key in &keys {
            self.store.save_pre_key(key).await?;
        }
        if let Some(last) = keys.last() {
            credentials.next_pre_key_id = last.id % MAX_PRE_KEY_ID + 1;
        }
        self.store.save_credentials(&credentials).await?;
        let upload = stanza::pre_key_upload(&credentials, &keys);
        drop(credentials);
        self.iq(upload).await?;
        info!(count, "uploaded one-time prekeys");
        Ok(count)
    }

    /// An `encrypt` notification said the server runs low: top up, then ack it.
    async fn top_up_then_ack(self, ack: Option<Node>, mut rng: StdRng) {
        match self.upload_pre_keys(&mut rng).await {
            Ok(count) => self.emit(Event::PreKeysUploaded { count }).await,
            Err(error) => warn!("prekey top-up failed: {error}"),
        }
        if let Some(ack) = ack {
            let _ = self.connection.send(Command::Send(ack));
        }
    }

    /// Pings every `keepalive_interval`; a ping unanswered for `keepalive_timeout` ends the
    /// connection as dead.
    async fn keepalive(self) {
        loop {
            sleep(self.config.keepalive_interval).await;
            match timeout(self.config.keepalive_timeout, request(&self.connection, stanza::ping()))
                .await
            {
                // An error answer is an answer: the socket is alive.
                Ok(Ok(_) | Err(Error::Connection(ConnectionError::Iq { .. }))) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    warn!("keepalive ping unanswered: the socket is dead");
                    let _ = self.connection.send(Command::End(DisconnectReason::KeepaliveTimeout));
                    return;
                }
            }
        }
    }
}

/// The per-connection state of the serve loop.
struct Connection<S> {
    socket: Socket,
    matcher: IqMatcher,
    ctx: Ctx<S>,
    tasks: Tasks,
    qr: Option<(QrRotation, Instant)>,
    logged_in_at: Option<Instant>,
    /// Sent messages waiting for the server's ack, by id.
    acks: HashMap<String, oneshot::Sender<Node>>,
    /// The task that handles incoming messages and receipts, once logged in.
    inbox: Option<mpsc::UnboundedSender<Node>>,
}

/// The client's background task.
pub(crate) struct Driver<S> {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<S>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) credentials: Arc<Mutex<DeviceCredentials>>,
    pub(crate) rng: StdRng,
    pub(crate) backoff: Backoff,
}

impl<S: SignalStore + DeviceStore + 'static> Driver<S> {
    async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
    }

    /// Connects, serves, and reconnects while the reasons allow.
    pub(crate) async fn run(mut self) {
        let mut pending = None;
        loop {
            let reason = match pending.take() {
                Some(reason) => reason,
                None => {
                    let (reason, stable) = self.connection().await;
                    if stable {
                        self.backoff.reset();
                    }
                    reason
                }
            };
            info!(%reason, "disconnected");
            if reason.is_logout() {
                self.credentials.lock().await.account = None;
                if let Err(error) = self.store.clear_credentials().await {
                    warn!("could not delete the credentials: {error}");
                }
                self.emit(Event::LoggedOut { reason }).await;
                return;
            }
            if !reason.reconnects() {
                self.emit(Event::Disconnected { reason, reconnect_in: None }).await;
                return;
            }
            let delay = if reason.reconnects_at_once() {
                Duration::ZERO
            } else {
                self.backoff.next_delay(&mut self.rng)
            };
            self.emit(Event::Disconnected { reason, reconnect_in: Some(delay) }).await;
            pending = self.wait(delay).await;
        }
    }

    /// Waits `delay` before reconnecting, refusing requests meanwhile. Returns a reason to stop
    /// if the application closed the client.
    async fn wait(&mut self, delay: Duration) -> Option<DisconnectReason> {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                () = sleep_until(until) => return None,
                command = self.commands.recv() => match command {
                    None => return Some(DisconnectReason::ClosedByClient),
                    Some(Command::End(reason)) if !reason.reconnects() => return Some(reason),
                    Some(Command::Iq { reply, .. }) => {
                        let _ = reply.send(Err(Error::Connection(ConnectionError::NotConnected)));
                    }
                    Some(_) => {}
                },
            }
        }
    }

    /// One connection, from connect to its end. Returns why it ended and whether it had been
    /// logged in long enough to count as stable.
    async fn connection(&mut self) -> (DisconnectReason, bool) {
        let credentials = self.credentials.lock().await.clone();
        let version = self.shared.version();
        let payload = if credentials.is_paired() {
            match login_payload(&credentials, version) {
                Ok(payload) => payload,
                Err(error) => return (DisconnectReason::ConnectFailed(error.to_string()), false),
            }
        } else {
            registration_payload(&credentials, version, &self.config.profile)
        };
        let ephemeral = KeyPair::generate(&mut self.rng);
        let now = self.config.clock.now();
        let connect =
            Socket::connect(&self.config, ephemeral, &credentials.noise_key, &payload, now);
        let socket = match timeout(self.config.connect_timeout, connect).await {
            Ok(Ok(socket)) => socket,
            Ok(Err(error)) => return (DisconnectReason::ConnectFailed(error.to_string()), false),
            Err(_) => return (DisconnectReason::ConnectFailed("timed out".to_owned()), false),
        };
        debug!(paired = credentials.is_paired(), "handshake done");
        let (connection_tx, mut connection_rx) = mpsc::unbounded_channel();
        let prefix = format!("{}.{}", self.rng.next_u32() & 0xff, self.rng.next_u32() & 0xff);
        let mut conn = Connection {
            socket,
            matcher: IqMatcher::new(prefix),
            ctx: Ctx {
                connection: connection_tx,
                events: self.events.clone(),
                store: self.store.clone(),
                credentials: self.credentials.clone(),
                config: self.config.clone(),
            },
            tasks: Tasks::default(),
            qr: None,
            logged_in_at: None,
            acks: HashMap::new(),
            inbox: None,
        };
        let reason = loop {
            let qr_deadline = conn.qr.as_ref().map(|(_, deadline)| *deadline);
            let step = tokio::select! {
                incoming = conn.socket.recv() => match incoming {
                    Err(error) => {
                        debug!("connection ended: {error}");
                        Some(DisconnectReason::ConnectionLost)
                    }
                    Ok(Err(error)) => {
                        warn!("skipping a stanza: {error}");
                        None
                    }
                    Ok(Ok(node)) => self.handle(node, &mut conn).await,
                },
                Some(command) = connection_rx.recv() => self.command(command, &mut conn).await,
                command = self.commands.recv() => match command {
                    None => Some(DisconnectReason::ClosedByClient),
                    Some(command) => self.command(command, &mut conn).await,
                },
                () = sleep_until(qr_deadline.unwrap_or_else(Instant::now)), if qr_deadline.is_some() => {
                    self.show_next_qr(&mut conn).await
                }
            };
            if let Some(reason) = step {
                break reason;
            }
        };
        self.shared.online.send_replace(false);
        conn.matcher.fail_all();
        drop(conn.tasks);
        // A polite close, but a dead peer must not hold us up.
        let _ = timeout(Duration::from_secs(1), conn.socket.close()).await;
        let stable =
            conn.logged_in_at.is_some_and(|at| at.elapsed() >= self.config.backoff.stable_after);
        (reason, stable)
    }

    async fn command(
        &mut self,
        command: Command,
        conn: &mut Connection<S>,
    ) -> Option<DisconnectReason> {
        let node = match command {
            Command::End(reason) => return Some(reason),
            Command::Send(node) => node,
            Command::Iq { node, reply } => conn.matcher.register(node, reply),
            Command::Message { id, node, reply } => {
                conn.acks.insert(id, reply);
                node
            }
        };
        debug!("out {}", render(&node, false));
        match conn.socket.send(&node).await {
            Ok(()) => None,
            Err(error) => {
                debug!("send failed: {error}");
                Some(DisconnectReason::ConnectionLost)
            }
        }
    }

    async fn send(&mut self, conn: &mut Connection<S>, node: Node) -> Option<DisconnectReason> {
        self.command(Command::Send(node), conn).await
    }

    fn task_rng(&mut self) -> StdRng {
        StdRng::from_rng(&mut self.rng)
    }

    async fn handle(&mut self, node: Node, conn: &mut Connection<S>) -> Option<DisconnectReason> {
        debug!("in  {}", render(&node, false));
        match node.tag.as_ref() {
            "iq" => {
                if conn.matcher.resolve(&node) {
                    return None;
                }
                let kind = node.attr_opt_str("type").ok().flatten();
                let xmlns = node.attr_opt_str("xmlns").ok().flatten();
                if node.child("pair-device").is_some() {
                    return self.pair_device(&node, conn).await;
                }
                if node.child("pair-success").is_some() {
                    return self.pair_success(&node, conn).await;
                }
                if kind == Some("get") && xmlns == Some("urn:xmpp:ping") {
                    return self.send(conn, stanza::iq_result(&node)).await;
                }
                None
            }
            "success" => {
                info!("logged in");
                conn.logged_in_at = Some(Instant::now());
                conn.qr = None;
                let rng = self.task_rng();
                conn.tasks.spawn(conn.ctx.clone().after_login(rng));
                conn.tasks.spawn(conn.ctx.clone().keepalive());
                let (inbox, stanzas) = mpsc::unbounded_channel();
                let rng = self.task_rng();
                conn.tasks.spawn(inbox::serve(conn.ctx.clone(), self.shared.clone(), stanzas, rng));
                conn.inbox = Some(inbox);
                self.shared.online.send_replace(true);
                None
            }
            "failure" => Some(DisconnectReason::from_failure(&node)),
            "stream:error" => Some(DisconnectReason::from_stream_error(&node)),
            "xmlstreamend" => Some(DisconnectReason::StreamEnd),
            "notification" => self.notification(&node, conn).await,
            "ack" => {
                self.server_ack(&node, conn).await;
                None
            }
            "message" | "receipt" if conn.inbox.is_some() => {
                if let Some(inbox) = &conn.inbox {
                    let _ = inbox.send(node);
                }
                None
            }
            "message" | "receipt" | "call" => {
                match stanza::ack_for(&node) {
                    Ok(ack) => {
                        let ack = PendingAck::new(ack, conn.ctx.connection.clone());
                        self.emit(Event::Stanza { node, ack }).await;
                    }
                    Err(error) => warn!("cannot ack a {}: {error}", node.tag),
                }
                None
            }
            _ => None,
        }
    }

    /// The server accepted a message we sent: wake its sender, then tell the application.
    async fn server_ack(&mut self, node: &Node, conn: &mut Connection<S>) {
        if node.attr_opt_str("class").ok().flatten() != Some("message") {
            return;
        }
        let Some(id) = node.attr_opt_str("id").ok().flatten() else { return };
        let Some(waiter) = conn.acks.remove(id) else { return };
        let id = id.to_owned();
        let timestamp =
            node.attr_opt_str("t").ok().flatten().and_then(|t| t.parse().ok()).unwrap_or(0);
        // The sender first: the application may be waiting in `send_message` while the event
        // channel is full.
        let _ = waiter.send(node.clone());
        self.emit(Event::Sent { id, timestamp }).await;
    }

    /// Notifications the life cycle handles are acked after handling; the others at once.
    async fn notification(
        &mut self,
        node: &Node,
        conn: &mut Connection<S>,
    ) -> Option<DisconnectReason> {
        let ack = stanza::ack_for(node).map_err(|e| warn!("cannot ack: {e}")).ok();
        if let Some((from, lid)) = stanza::device_list_change(node) {
            debug!(%from, "device list changed");
            if let Some(lid) = &lid {
                self.shared.machine.learn_addressing(&from, lid);
            }
            self.shared.machine.forget_devices(&from);
        }
        if stanza::is_low_pre_key_notice(node, self.config.pre_keys.min) {
            let rng = self.task_rng();
            conn.tasks.spawn(conn.ctx.clone().top_up_then_ack(ack, rng));
            return None;
        }
        match ack {
            Some(ack) => self.send(conn, ack).await,
            None => None,
        }
    }

    async fn pair_device(
        &mut self,
        node: &Node,
        conn: &mut Connection<S>,
    ) -> Option<DisconnectReason> {
        let refs = match stanza::pair_device_refs(node) {
            Ok(refs) => refs,
            Err(error) => return Some(DisconnectReason::PairingFailed(error.to_string())),
        };
        if let Some(reason) = self.send(conn, stanza::iq_result(node)).await {
            return Some(reason);
        }
        let rotation =
            QrRotation::new(refs, self.config.qr_first_timeout, self.config.qr_next_timeout);
        conn.qr = Some((rotation, Instant::now()));
        self.show_next_qr(conn).await
    }

    /// Shows the next QR ref, or gives up when none is left.
    async fn show_next_qr(&mut self, conn: &mut Connection<S>) -> Option<DisconnectReason> {
        let (rotation, deadline) = conn.qr.as_mut()?;
        let Some((reference, expires)) = rotation.next_ref() else {
            conn.qr = None;
            return Some(DisconnectReason::PairingTimeout);
        };
        *deadline = Instant::now() + expires;
        let code = {
            let credentials = self.credentials.lock().await;
            qr_text(
                &reference,
                &credentials.noise_key.public,
                &credentials.identity.public,
                &credentials.adv_secret,
                &self.config.profile.qr_platform,
            )
        };
        self.emit(Event::Qr { code, expires }).await;
        None
    }

    async fn pair_success(
        &mut self,
        node: &Node,
        conn: &mut Connection<S>,
    ) -> Option<DisconnectReason> {
        let success = match PairSuccess::parse(node) {
            Ok(success) => success,
            Err(error) => {
                let reason = DisconnectReason::PairingFailed(error.to_string());
                self.emit(Event::PairError { error }).await;
                return Some(reason);
            }
        };
        let mut credentials = self.credentials.lock().await;
        let verified = verify_pair_success(
            &success.device_identity,
            &credentials.adv_secret,
            &credentials.identity,
            &mut self.rng,
        );
        let verified = match verified {
            Ok(verified) => verified,
            Err(error) => {
                drop(credentials);
                warn!("pair-success refused: {error}");
                let _ = self.send(conn, pair_error(&success.iq_id, &error)).await;
                let reason = DisconnectReason::PairingFailed(error.to_string());
                self.emit(Event::PairError { error }).await;
                return Some(reason);
            }
        };
        credentials.account = Some(PairedAccount {
            jid: success.jid.clone(),
            lid: success.lid.clone(),
            account_key: verified.account_key,
            key_index: verified.key_index,
            signed_identity: verified.signed_identity.clone(),
            platform: success.platform.clone(),
            business_name: success.business_name.clone(),
        });
        if let Err(error) = self.store.save_credentials(&credentials).await {
            drop(credentials);
            warn!("could not save the credentials after pairing: {error}");
            let _ = self.send(conn, pair_error(&success.iq_id, &error)).await;
            let reason = DisconnectReason::PairingFailed(error.to_string());
            self.emit(Event::PairError { error }).await;
            return Some(reason);
        }
        drop(credentials);
        info!(jid = %success.jid, "paired");
        conn.qr = None;
        if let Some(reason) = self.send(conn, pair_device_sign(&success.iq_id, &verified)).await {
            return Some(reason);
        }
        self.emit(Event::PairSuccess {
            jid: success.jid,
            lid: success.lid,
            platform: success.platform,
            business_name: success.business_name,
        })
        .await;
        None
    }
}
