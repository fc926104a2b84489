//! One client connection: WebSocket, frames, the Noise responder, then stanzas.

use std::{collections::VecDeque, time::Duration};

use futures_util::{SinkExt as _, StreamExt as _, stream::SplitSink, stream::SplitStream};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite},
    sync::mpsc,
    time::{Instant, sleep, sleep_until},
};
use tokio_tungstenite::{
    WebSocketStream, accept_hdr_async_with_config,
    tungstenite::{
        Message,
        handshake::server::{ErrorResponse, Request, Response},
        http::StatusCode,
        protocol::WebSocketConfig,
    },
};
use tracing::{debug, info, warn};
use wa_proto::{Jid, Node, proto::handshake::ClientPayload};
use wa_session::{
    KeyPair, PublicKey,
    noise::{FrameDecoder, FrameEncoder, ResponderHandshake, Transport},
    pairing::adv::{device_identity_of_reply, verify_device_signature},
};

use crate::{
    display::render,
    fault::{self, Outbound},
    iq, phone,
    report::PairedDevice,
    route,
    sim::Sim,
    state::{Command, ConnEntry, Device, Registration, Role, SignedPreKey, lid_jid, phone_jid},
    stream_error::StreamError,
};

/// How long a client has to finish the Noise handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// tungstenite allocates its read buffer up front (128 KiB by default); stanzas are small, and
/// 10,000 idle connections would hold 1.25 GiB in it alone.
pub(crate) const READ_BUFFER: usize = 8 * 1024;
/// How many refs a `pair-device` carries.
const PAIR_REFS: usize = 6;

/// What a connection runs over: TCP (`ws://`) or TLS over TCP (`wss://`).
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for S {}

struct Conn<S: Stream> {
    sim: Sim,
    id: u64,
    sink: SplitSink<WebSocketStream<S>, Message>,
    source: SplitStream<WebSocketStream<S>>,
    decoder: FrameDecoder,
    encoder: FrameEncoder,
    queue: VecDeque<Vec<u8>>,
    /// Encoded frames held back by a latency fault, with when each is due, oldest first.
    outbox: VecDeque<(Instant, Vec<u8>)>,
    /// Received frames held back by a latency fault, with when each is due, oldest first.
    inbox: VecDeque<(Instant, Vec<u8>)>,
}

/// How a connection's stanza loop ended.
enum Ending {
    /// Close the WebSocket.
    Close,
    /// Keep the socket open and silent (black hole).
    Dead,
}

/// Whether to go on after handling something.
type Flow = Result<(), Ending>;

/// What handling one stanza asks for.
#[derive(Default)]
struct Outcome {
    replies: Vec<Node>,
    /// Send this, then close.
    end: Option<Node>,
}

/// Accepts the WebSocket upgrade on `/ws/chat` only (the error type is tungstenite's).
#[allow(clippy::result_large_err)]
fn check_path(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() == "/ws/chat" {
        Ok(response)
    } else {
        let mut refused = ErrorResponse::new(Some("not found".to_owned()));
        *refused.status_mut() = StatusCode::NOT_FOUND;
        Err(refused)
    }
}

pub(crate) async fn run<S: Stream>(sim: Sim, stream: S) {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let Ok(ws) = accept_hdr_async_with_config(stream, check_path, Some(config)).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut state = sim.state();
        state.counters.connections += 1;
        state.next_conn += 1;
        let id = state.next_conn;
        state.conns.insert(id, ConnEntry { tx, role: Role::Handshaking });
        id
    };
    let (sink, source) = ws.split();
    let mut conn = Conn {
        sim: sim.clone(),
        id,
        sink,
        source,
        decoder: FrameDecoder::server(),
        encoder: FrameEncoder::server(),
        queue: VecDeque::new(),
        outbox: VecDeque::new(),
        inbox: VecDeque::new(),
    };
    let ending = match tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.handshake()).await {
        Ok(Some((transport, noise_key, payload))) => {
            sim.state().counters.handshakes += 1;
            conn.serve(transport, noise_key, payload, &mut rx).await
        }
        _ => {
            sim.state().counters.handshake_failures += 1;
            Ending::Close
        }
    };
    match ending {
        Ending::Close => {
            let _ = conn.sink.close().await;
        }
        Ending::Dead => {
            debug!(conn = id, "black-holed");
            if let Ok(ws) = conn.sink.reunite(conn.source) {
                hold(&sim, ws.into_inner(), &mut rx).await;
            }
        }
    }
    if let Some(entry) = sim.state().remove_conn(id)
        && let Role::Registering { pending: Some(pending), .. } = entry.role
    {
        let _ = pending
            .done
            .send(Err(crate::error::Error::PairingFailed("the connection closed".to_owned())));
    }
    debug!(conn = id, "closed");
}

/// A dead socket: read and discard whatever the client sends, answer nothing, until the client
/// closes it or the control API closes it. Stanzas routed meanwhile are counted as dropped (they
/// stay queued for the device's next login).
async fn hold<S: Stream>(sim: &Sim, mut stream: S, rx: &mut mpsc::UnboundedReceiver<Command>) {
    let mut buffer = vec![0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
            command = rx.recv() => match command {
                Some(Command::Send(_)) => sim.state().counters.dropped += 1,
                Some(Command::BlackHole) => {}
                Some(Command::End(_) | Command::Close) | None => return,
            },
        }
    }
}

impl<S: Stream> Conn<S> {
    async fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(frame) = self.queue.pop_front() {
                return Some(frame);
            }
            match self.source.next().await? {
                Ok(Message::Binary(bytes)) => self.queue.extend(self.decoder.feed(&bytes).ok()?),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn send_frame(&mut self, payload: &[u8]) -> Option<()> {
        let bytes = self.encoder.encode(payload).ok()?;
        self.sink.send(Message::Binary(bytes.into())).await.ok()
    }

    /// Encrypts and sends a stanza, unless a drop fault takes it; under a latency fault the
    /// frame waits in the outbox (behind any frame already waiting, so the order is kept).
    async fn send_node(&mut self, transport: &mut Transport, node: &Node) -> Option<()> {
        let verdict = {
            let mut state = self.sim.state();
            let verdict = fault::outbound(&mut state, self.id);
            if verdict != Outbound::Drop {
                state.counters.stanzas_out += 1;
            }
            verdict
        };
        let Outbound::Send(delay) = verdict else {
            debug!(conn = self.id, "dropped by a fault: {}", render(node));
            return Some(());
        };
        debug!(conn = self.id, "out {}", render(node));
        let plain = wa_proto::encode(node).ok()?;
        let sealed = transport.encrypt(&plain).ok()?;
        let bytes = self.encoder.encode(&sealed).ok()?;
        if delay.is_zero() && self.outbox.is_empty() {
            return self.sink.send(Message::Binary(bytes.into())).await.ok();
        }
        self.outbox.push_back((Instant::now() + delay, bytes));
        Some(())
    }

    /// Sends every held-back frame that is due (`all`: every one, waiting as needed).
    async fn flush(&mut self, all: bool) -> Option<()> {
        while let Some((due, _)) = self.outbox.front() {
            if *due > Instant::now() {
                if !all {
                    break;
                }
                sleep_until(*due).await;
            }
            let (_, bytes) = self.outbox.pop_front()?;
            self.sink.send(Message::Binary(bytes.into())).await.ok()?;
        }
        Some(())
    }

    /// Sends a last stanza after everything held back, then gives the client
    /// [`SimConfig::stream_close_delay`](crate::SimConfig) to close the socket itself (what it
    /// sends meanwhile is read and discarded) before closing it.
    async fn finish(&mut self, transport: &mut Transport, node: &Node) -> Ending {
        if self.send_node(transport, node).await.is_none() || self.flush(true).await.is_none() {
            return Ending::Close;
        }
        let deadline = Instant::now() + self.sim.inner.config.stream_close_delay;
        loop {
            tokio::select! {
                message = self.source.next() => match message {
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
                () = sleep_until(deadline) => break,
            }
        }
        Ending::Close
    }

    async fn handshake(&mut self) -> Option<(Transport, PublicKey, ClientPayload)> {
        let hello = self.next_frame().await?;
        let ephemeral = KeyPair::generate(&mut *self.sim.rng());
        let inner = &self.sim.inner;
        let (state, server_hello) =
            ResponderHandshake::respond(&hello, ephemeral, &inner.static_key, &inner.chain)
                .map_err(|e| warn!(conn = self.id, "bad ClientHello: {e}"))
                .ok()?;
        // Only a rule for every connection covers a connection this early.
        let delay = fault::latency(&self.sim.state(), self.id).send_ms;
        sleep(Duration::from_millis(delay)).await;
        self.send_frame(&server_hello).await?;
        let finish = self.next_frame().await?;
        let (transport, accepted) = state
            .process(&finish)
            .map_err(|e| warn!(conn = self.id, "bad ClientFinish: {e}"))
            .ok()?;
        Some((transport, accepted.noise_key, accepted.payload))
    }

    /// Decrypts and handles one received frame, sending the replies.
    async fn process(&mut self, transport: &mut Transport, frame: &[u8]) -> Flow {
        let Ok(plain) = transport.decrypt(frame) else {
            // Like the real server, a frame that does not decrypt ends the stream.
            self.sim.state().counters.handshake_failures += 1;
            return Err(Ending::Close);
        };
        let Ok(node) = wa_proto::decode(&plain) else {
            warn!(conn = self.id, "undecodable stanza");
            return Ok(());
        };
        debug!(conn = self.id, "in  {}", render(&node));
        self.sim.state().counters.stanzas_in += 1;
        let outcome = handle(&self.sim, self.id, &node);
        for reply in &outcome.replies {
            self.send_node(transport, reply).await.ok_or(Ending::Close)?;
        }
        match &outcome.end {
            Some(end) => Err(self.finish(transport, end).await),
            None => Ok(()),
        }
    }

    /// Frames that arrived in one WebSocket message: handled now, or held back by a latency
    /// fault (behind any frame already waiting).
    async fn received(&mut self, transport: &mut Transport, frames: Vec<Vec<u8>>) -> Flow {
        for frame in frames {
            let delay = fault::inbound(&mut self.sim.state(), self.id);
            if delay.is_zero() && self.inbox.is_empty() {
                self.process(transport, &frame).await?;
            } else {
                self.inbox.push_back((Instant::now() + delay, frame));
            }
        }
        Ok(())
    }

    async fn command(&mut self, transport: &mut Transport, command: Option<Command>) -> Flow {
        match command {
            Some(Command::Send(node)) => {
                self.send_node(transport, &node).await.ok_or(Ending::Close)
            }
            Some(Command::End(node)) => Err(self.finish(transport, &node).await),
            Some(Command::BlackHole) => Err(Ending::Dead),
            Some(Command::Close) | None => Err(Ending::Close),
        }
    }

    async fn serve(
        &mut self,
        mut transport: Transport,
        noise_key: PublicKey,
        payload: ClientPayload,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Ending {
        let first = admit(&self.sim, self.id, noise_key, &payload);
        for node in &first.replies {
            if self.send_node(&mut transport, node).await.is_none() {
                return Ending::Close;
            }
        }
        if let Some(node) = &first.end {
            return self.finish(&mut transport, node).await;
        }
        // Frames the client sent right after its handshake frame.
        let early: Vec<Vec<u8>> = self.queue.drain(..).collect();
        if let Err(ending) = self.received(&mut transport, early).await {
            return ending;
        }
        // Far enough never to fire; the branches below are disabled while their queue is empty.
        let never = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let out_due = self.outbox.front().map(|(due, _)| *due);
            let in_due = self.inbox.front().map(|(due, _)| *due);
            let flow = tokio::select! {
                message = self.source.next() => match message {
                    Some(Ok(Message::Binary(bytes))) => match self.decoder.feed(&bytes) {
                        Ok(frames) => self.received(&mut transport, frames).await,
                        Err(_) => Err(Ending::Close),
                    },
                    Some(Ok(Message::Close(_)) | Err(_)) | None => Err(Ending::Close),
                    Some(Ok(_)) => Ok(()),
                },
                command = rx.recv() => self.command(&mut transport, command).await,
                () = sleep_until(out_due.unwrap_or(never)), if out_due.is_some() => {
                    self.flush(false).await.ok_or(Ending::Close)
                }
                () = sleep_until(in_due.unwrap_or(never)), if in_due.is_some() => {
                    let mut flow = Ok(());
                    while flow.is_ok()
                        && let Some((due, _)) = self.inbox.front()
                        && *due <= Instant::now()
                        && let Some((_, frame)) = self.inbox.pop_front()
                    {
                        flow = self.process(&mut transport, &frame).await;
                    }
                    flow
                }
            };
            if let Err(ending) = flow {
                return ending;
            }
        }
    }
}

fn be_uint(bytes: Option<&[u8]>) -> Option<u32> {
    let bytes = bytes?;
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// Decides what a freshly handshaken connection is: a registration (pair-device), a login
/// (`<success>`), or refused (`<failure>`).
fn admit(sim: &Sim, id: u64, noise_key: PublicKey, payload: &ClientPayload) -> Outcome {
    let v = payload.user_agent.as_ref().and_then(|u| u.app_version.as_ref());
    let v = v.map(|v| (v.primary(), v.secondary(), v.tertiary())).unwrap_or_default();
    if sim.inner.config.min_version.is_some_and(|m| (m.primary, m.secondary, m.tertiary) > v) {
        return failure(sim, "405");
    }
    if let Some(data) = &payload.device_pairing_data {
        let identity = data.e_ident.as_deref().and_then(|k| PublicKey::from_slice(k).ok());
        let registration_id = be_uint(data.e_regid.as_deref());
        let (Some(identity_key), Some(registration_id)) = (identity, registration_id) else {
            return failure(sim, "400");
        };
        let signed_prekey =
            match (be_uint(data.e_skey_id.as_deref()), &data.e_skey_val, &data.e_skey_sig) {
                (Some(id), Some(public), Some(signature)) => {
                    Some(SignedPreKey { id, public: public.clone(), signature: signature.clone() })
                }
                _ => None,
            };
        let refs: Vec<String> =
            (0..PAIR_REFS).map(|_| format!("2@{}", sim.random_text(60))).collect();
        let iq_id = sim.random_text(10);
        let node = Node::builder("iq")
            .attr("from", Jid::server_jid())
            .attr("id", iq_id)
            .attr("type", "set")
            .attr("xmlns", "md")
            .children([Node::builder("pair-device")
                .children(
                    refs.iter().map(|r| Node::builder("ref").bytes(r.as_bytes().to_vec()).build()),
                )
                .build()])
            .build();
        let mut state = sim.state();
        if let Some(entry) = state.conns.get_mut(&id) {
            entry.role = Role::Registering {
                refs,
                registration: Registration {
                    noise_key,
                    identity_key,
                    registration_id,
                    signed_prekey,
                },
                pending: None,
            };
        }
        state.counters.pair_device_sent += 1;
        info!(conn = id, "registration: pair-device sent");
        return Outcome { replies: vec![node], end: None };
    }
    let (Some(username), Some(device)) = (payload.username, payload.device) else {
        return failure(sim, "401");
    };
    let phone = username.to_string();
    let Ok(device) = u16::try_from(device) else { return failure(sim, "401") };
    let mut state = sim.state();
    let known = state.accounts.get(&phone).and_then(|account| {
        let entry = account.devices.get(&device)?;
        (device != 0 && !entry.removed && entry.noise_key == Some(noise_key))
            .then(|| account.lid.clone())
    });
    let Some(lid) = known else {
        drop(state);
        info!(conn = id, phone, device, "login refused");
        return failure(sim, "401");
    };
    // A second connection of the same device replaces the first.
    let mut replaced = 0;
    for (_, entry) in state.connections_of(&phone, device) {
        let _ = entry.tx.send(Command::End(StreamError::Replaced.node()));
        replaced += 1;
    }
    state.counters.stream_errors += replaced;
    state.log_in(id, &phone, device);
    state.counters.logins += 1;
    // Taken under the same lock that made the connection routable, so nothing is lost or doubled.
    let queued = route::pending(&state, &phone, device);
    drop(state);
    info!(conn = id, phone, device, "logged in");
    let now = sim.now().to_string();
    let success = Node::builder("success")
        .attr("t", now.clone())
        .attr("props", "1")
        .attr("abprops", "1")
        .attr("location", "sim")
        // The LID of the device that logged in (`user:device@lid`), as pair-success gave it:
        // whatsmeow's `handleConnectSuccess` treats a different LID as a mismatch and Baileys
        // stores it as `creds.me.lid` (its own device's address).
        .attr("lid", lid_jid(&lid, device))
        .attr("creation", now)
        .build();
    let offline = Node::builder("ib")
        .children([Node::builder("offline").attr("count", queued.len().to_string()).build()])
        .build();
    let mut replies = vec![success];
    replies.extend(queued);
    replies.push(offline);
    Outcome { replies, end: None }
}

fn failure(sim: &Sim, reason: &'static str) -> Outcome {
    sim.state().counters.login_failures += 1;
    Outcome {
        replies: vec![],
        end: Some(Node::builder("failure").attr("reason", reason).attr("location", "sim").build()),
    }
}

fn handle(sim: &Sim, id: u64, node: &Node) -> Outcome {
    match node.tag.as_ref() {
        "iq" => {
            let kind = node.attr_str("type").unwrap_or_default();
            if kind == "result" || kind == "error" {
                return pairing_answer(sim, id, node).unwrap_or_default();
            }
            let context = {
                let state = sim.state();
                match state.conns.get(&id).map(|c| &c.role) {
                    Some(Role::LoggedIn { phone, device }) => Some((phone.clone(), *device)),
                    _ => None,
                }
            };
            Outcome { replies: vec![iq::answer(sim, context.as_ref(), node)], end: None }
        }
        "ack" => {
            if let Some(me) = logged_in(sim, id) {
                route::acked(&mut sim.state(), &me, node);
            }
            Outcome::default()
        }
        "message" | "receipt" | "notification" | "call" => {
            let Ok(msg_id) = node.attr_str("id") else { return Outcome::default() };
            let mut phash = None;
            if let Some(me) = logged_in(sim, id) {
                let now = sim.now();
                let to_phones = {
                    let mut state = sim.state();
                    match node.tag.as_ref() {
                        "message" => phash = route::message(&mut state, now, &me, node).phash,
                        "receipt" => route::receipt(&mut state, now, &me, node),
                        _ => {}
                    }
                    // Under the lock that routed it: the companions get it now or from their
                    // queue at their next login, never both.
                    state.drain_outbox()
                };
                phone::dispatch(sim, to_phones);
            }
            let ack = Node::builder("ack")
                .attr("id", msg_id.to_owned())
                .attr("class", node.tag.to_string())
                .opt_attr("from", node.attr_opt_jid("to").ok().flatten())
                .opt_attr(
                    "type",
                    node.attr_opt_str("type")
                        .ok()
                        .flatten()
                        .filter(|_| node.tag != "message")
                        .map(str::to_owned),
                )
                .attr("t", sim.now().to_string())
                // The sender's device list was stale: the server's own participant hash.
                .opt_attr("phash", phash)
                .build();
            Outcome { replies: vec![ack], end: None }
        }
        _ => Outcome::default(),
    }
}

/// The account and device a connection is logged in as.
fn logged_in(sim: &Sim, id: u64) -> Option<(String, u16)> {
    match sim.state().conns.get(&id).map(|c| &c.role) {
        Some(Role::LoggedIn { phone, device }) => Some((phone.clone(), *device)),
        _ => None,
    }
}

/// The companion's answer to pair-success: check the device signature, add the device, 515.
fn pairing_answer(sim: &Sim, id: u64, node: &Node) -> Option<Outcome> {
    let iq_id = node.attr_str("id").ok()?;
    let mut guard = sim.state();
    let state = &mut *guard;
    let entry = state.conns.get_mut(&id)?;
    let Role::Registering { registration, pending, .. } = &mut entry.role else { return None };
    if pending.as_ref()?.iq_id != iq_id {
        return None;
    }
    let pending = pending.take()?;
    let registration = registration.clone();
    let verdict = device_identity_of_reply(node, pending.key_index)
        .map_err(|e| {
            let kind = node.attr_str("type").unwrap_or_default();
            crate::error::Error::PairingFailed(format!("{e} (got type {kind:?})"))
        })
        .and_then(|bytes| {
            verify_device_signature(
                bytes,
                &pending.details,
                &pending.account_key,
                &registration.identity_key,
            )
            .map_err(crate::error::Error::from)
        });
    if let Err(error) = verdict {
        warn!(conn = id, "pairing refused: {error}");
        state.counters.pairing_failures += 1;
        let _ = pending.done.send(Err(error));
        return Some(Outcome {
            replies: vec![],
            end: Some(Node::builder("stream:error").attr("code", "401").build()),
        });
    }
    let account = state.accounts.get_mut(&pending.phone)?;
    account.devices.insert(
        pending.device,
        Device {
            noise_key: Some(registration.noise_key),
            identity_key: registration.identity_key,
            registration_id: registration.registration_id,
            key_index: pending.key_index,
            platform: pending.platform.clone(),
            removed: false,
            prekeys: Default::default(),
            signed_prekey: registration.signed_prekey,
        },
    );
    let paired = PairedDevice {
        phone: pending.phone.clone(),
        device: pending.device,
        jid: phone_jid(&pending.phone, pending.device).to_string(),
        lid: lid_jid(&account.lid, pending.device).to_string(),
    };
    state.counters.pairings += 1;
    state.counters.stream_errors += 1;
    info!(conn = id, jid = paired.jid, "paired; sending 515");
    let _ = pending.done.send(Ok(paired));
    Some(Outcome { replies: vec![], end: Some(StreamError::RestartRequired.node()) })
}
