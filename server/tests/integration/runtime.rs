//! The line runtime against wa-sim (in process) and tenancy on SQLite in a temporary directory:
//! QR pairing, inbound messages committed before their ack, outbound text, reply, reaction,
//! image and voice note with their statuses, logout from the phone, and a restart that sends
//! what was pending exactly once.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use tenancy::{
    Caller, Install, LineId, LineStatus, MasterKey, MessageKind, MessageStatus, Store, Tenant,
};
use tokio::sync::broadcast;
use wa_session::client::{BackoffPolicy, Config};
use wa_sim::{PhoneContent, PhoneMessage, Sim, SimConfig};
use wab24::{
    events::{EventBus, ServerEvent},
    runtime::{LineState, MediaUpload, Runtime, RuntimeConfig},
};

pub(crate) const LINE_PHONE: &str = "15550004100";
pub(crate) const CUSTOMER: &str = "15550004001";
pub(crate) const MEMBER: &str = "runtime-test";
pub(crate) const ADMIN: Caller = Caller::Admin(1);
const WAIT: Duration = Duration::from_secs(20);

pub(crate) struct Env {
    pub(crate) sim: Sim,
    pub(crate) store: Arc<Store>,
    pub(crate) config: RuntimeConfig,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) line_id: LineId,
}

pub(crate) async fn env() -> Env {
    let sim = Sim::new(SimConfig { seed: Some(11), ..SimConfig::default() });
    sim.create_account(LINE_PHONE, Some("300000000000100")).unwrap();
    sim.create_account(CUSTOMER, Some("300000000000001")).unwrap();
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let addr = sim.serve_ws(loopback).await.unwrap();
    sim.serve_media(loopback, 8 * 1024 * 1024).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(Store::open_sqlite(dir.path(), MasterKey::from_bytes([3; 32])).await.unwrap());
    let now = time::OffsetDateTime::now_utc();
    let install = Install {
        member_id: MEMBER.into(),
        domain: "acme.bitrix24.com".into(),
        plan: "basic".into(),
        line_quota: 3,
        trial_ends_at: None,
        tokens: None,
    };
    store.install(&install, now).await.unwrap();
    let tenant = store.tenant(MEMBER).await.unwrap();
    let line = tenant.create_line(ADMIN, "Sales", None, now).await.unwrap();
    let client = Config {
        url: format!("ws://{addr}/ws/chat"),
        root_key: sim.root_key(),
        tls_roots: Some(vec![sim.certificate_der().unwrap()]),
        backoff: BackoffPolicy {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
            ..BackoffPolicy::default()
        },
        ..Config::default()
    };
    let mut config = RuntimeConfig::new(client, dir.path().to_path_buf());
    config.send_retry = Duration::from_millis(200);
    Env { sim, store, config, dir, line_id: line.id }
}

impl Env {
    pub(crate) fn runtime(&self) -> (Runtime, broadcast::Receiver<Arc<ServerEvent>>) {
        let runtime = Runtime::new(self.store.clone(), self.config.clone(), EventBus::default());
        let events = runtime.subscribe();
        (runtime, events)
    }

    pub(crate) async fn tenant(&self) -> Tenant {
        self.store.tenant(MEMBER).await.unwrap()
    }

    async fn line_status(&self) -> LineStatus {
        self.tenant().await.line(Caller::System, self.line_id).await.unwrap().status
    }
}

/// The next event `pick` accepts (others are skipped), within `WAIT`.
pub(crate) async fn expect<T>(
    events: &mut broadcast::Receiver<Arc<ServerEvent>>,
    mut pick: impl FnMut(&ServerEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("event stream open");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    })
    .await
    .expect("the expected event within the wait")
}

async fn until_connected(events: &mut broadcast::Receiver<Arc<ServerEvent>>) {
    expect(events, |e| {
        matches!(e, ServerEvent::LineStatus { state: LineState::Connected, .. }).then_some(())
    })
    .await;
}

/// Connects the line, scans its QR with the line's phone and waits until it is connected.
pub(crate) async fn pair(
    env: &Env,
    runtime: &Runtime,
    events: &mut broadcast::Receiver<Arc<ServerEvent>>,
) {
    assert_eq!(runtime.connect(MEMBER, env.line_id).await.unwrap(), LineState::Connecting);
    let code = expect(events, |e| match e {
        ServerEvent::LineStatus { state: LineState::Qr { code, .. }, .. } => Some(code.clone()),
        _ => None,
    })
    .await;
    assert_eq!(env.line_status().await, LineStatus::Pairing);
    env.sim.scan(&code, LINE_PHONE).await.unwrap();
    until_connected(events).await;
    assert_eq!(env.line_status().await, LineStatus::Connected);
    assert_eq!(runtime.status(MEMBER, env.line_id), Some(LineState::Connected));
}

/// Whether the customer's phone got a delivery receipt for `id` from the line's companion (the
/// line account's own simulated phone sends one too, so the sender device matters).
pub(crate) fn companion_delivered(env: &Env, id: &str) -> bool {
    let companions: Vec<String> = env
        .sim
        .devices(LINE_PHONE)
        .unwrap()
        .into_iter()
        .filter(|d| d.device != 0)
        .flat_map(|d| [d.jid, d.lid])
        .collect();
    env.sim
        .phone_receipts(CUSTOMER)
        .unwrap()
        .iter()
        .any(|r| r.id == id && r.kind == "delivered" && companions.contains(&r.from))
}

pub(crate) fn text(to: &str, body: &str) -> PhoneMessage {
    PhoneMessage { to: to.to_owned(), content: PhoneContent::Text(body.to_owned()), quoted: None }
}

/// Waits until `check` holds, polling.
pub(crate) async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn stored_event(
    events: &mut broadcast::Receiver<Arc<ServerEvent>>,
) -> (i64, i64, i64) {
    expect(events, |e| match e {
        ServerEvent::MessageStored { message, unread, .. }
            if message.direction == tenancy::Direction::Inbound.as_str() =>
        {
            Some((message.id, message.conversation_id, *unread))
        }
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_receives_sends_and_moves_statuses() {
    let env = env().await;
    let (runtime, mut events) = env.runtime();
    pair(&env, &runtime, &mut events).await;

    // Inbound: stored once, with the unread count, then acked (the phone gets the delivery
    // receipt only after the commit).
    let first = env.sim.phone_send(CUSTOMER, text(LINE_PHONE, "hello line")).await.unwrap();
    let (message_id, conversation, unread) = stored_event(&mut events).await;
    assert_eq!(unread, 1);
    let tenant = env.tenant().await;
    let stored = tenant.message(ADMIN, message_id).await.unwrap();
    assert_eq!(stored.wa_id.as_deref(), Some(first.as_str()));
    assert_eq!(stored.text.as_deref(), Some("hello line"));
    assert_eq!(stored.kind, MessageKind::Text);
    eventually("the delivery receipt at the customer's phone", async || {
        companion_delivered(&env, &first)
    })
    .await;
    let second = env.sim.phone_send(CUSTOMER, text(LINE_PHONE, "second")).await.unwrap();
    let (_, same_conversation, unread) = stored_event(&mut events).await;
    assert_eq!((same_conversation, unread), (conversation, 2));
    let history = tenant.history(ADMIN, conversation, None, 50).await.unwrap();
    assert_eq!(history.messages.len(), 2);
    // The raw event is in the audit log with the message.
    let query = tenancy::audit::Query { limit: 500, ..tenancy::audit::Query::default() };
    let audit = tenant.audit_query(ADMIN, &query).await.unwrap();
    assert!(audit.records.iter().any(|r| r.kind == tenancy::audit::Kind::MessageReceived
        && String::from_utf8_lossy(&r.payload).contains(&second)));
    assert_eq!(history.messages[0].wa_id.as_deref(), Some(second.as_str()));

    // Inbound media: downloaded into the tenant's media directory, then recorded.
    let picture: Vec<u8> = (0..30_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let media_message = PhoneMessage {
        to: LINE_PHONE.to_owned(),
        content: PhoneContent::Media {
            kind: wa_sim::MediaKind::Image,
            bytes: picture.clone(),
            mimetype: "image/jpeg".into(),
            caption: Some("look".into()),
            file_name: None,
        },
        quoted: None,
    };
    env.sim.phone_send(CUSTOMER, media_message).await.unwrap();
    let (image_id, _, unread) = stored_event(&mut events).await;
    assert_eq!(unread, 3);
    let image_row = tenant.message(ADMIN, image_id).await.unwrap();
    assert_eq!((image_row.kind, image_row.text.as_deref()), (MessageKind::Image, Some("look")));
    let media = image_row.media.unwrap();
    assert_eq!((media.mime.as_str(), media.size), ("image/jpeg", 30_000));
    assert_eq!(std::fs::read(runtime.media_dir(MEMBER).join(&media.path)).unwrap(), picture);
    {
        use std::os::unix::fs::PermissionsExt;
        let file = runtime.media_dir(MEMBER).join(&media.path);
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&file), mode(file.parent().unwrap())), (0o600, 0o700), "private media");
    }

    // Outbound: text, reply, reaction, image, voice note (a Chromium webm recording).
    let sent_text =
        runtime.send_text(MEMBER, ADMIN, conversation, "hi there", None, "k-text").await.unwrap();
    assert_eq!(sent_text.status, MessageStatus::Pending);
    // The same idempotency key queues nothing more.
    let again =
        runtime.send_text(MEMBER, ADMIN, conversation, "hi there", None, "k-text").await.unwrap();
    assert_eq!(again.id, sent_text.id);
    let reply = runtime
        .send_text(MEMBER, ADMIN, conversation, "a reply", Some(message_id), "k-reply")
        .await
        .unwrap();
    let reaction = runtime
        .send_reaction(MEMBER, ADMIN, conversation, message_id, "👍", "k-react")
        .await
        .unwrap();
    let image: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let upload = MediaUpload {
        mime: Some("image/png".into()),
        caption: Some("a picture".into()),
        file_name: None,
    };
    let sent_image = runtime
        .send_media(
            MEMBER,
            ADMIN,
            conversation,
            MessageKind::Image,
            image.clone(),
            &upload,
            None,
            "k-image",
        )
        .await
        .unwrap();
    let webm = include_bytes!("../vectors/chromium-156-fake-mic-3s.webm").to_vec();
    let sent_voice = runtime
        .send_media(
            MEMBER,
            ADMIN,
            conversation,
            MessageKind::Voice,
            webm,
            &MediaUpload::default(),
            None,
            "k-voice",
        )
        .await
        .unwrap();
    let voice_media = sent_voice.media.clone().unwrap();
    assert_eq!(voice_media.mime, "audio/ogg; codecs=opus");
    let on_disk = std::fs::read(runtime.media_dir(MEMBER).join(&voice_media.path)).unwrap();
    assert_eq!(&on_disk[..4], b"OggS");

    let ours = [sent_text.id, reply.id, reaction.id, sent_image.id, sent_voice.id];
    let mut wa_ids = Vec::new();
    for id in ours {
        let wa_id = expect(&mut events, |e| match e {
            ServerEvent::MessageStatus {
                message_id: m,
                wa_id,
                status: MessageStatus::Sent,
                ..
            } if *m == id => Some(wa_id.clone()),
            _ => None,
        })
        .await;
        wa_ids.push(wa_id);
    }
    eventually("the customer's phone got all five", async || {
        let got = env.sim.phone_received(CUSTOMER).unwrap();
        wa_ids.iter().all(|id| got.iter().any(|r| &r.id == id))
    })
    .await;
    let got = env.sim.phone_received(CUSTOMER).unwrap();
    let find = |id: &str| got.iter().find(|r| r.id == id).unwrap().clone();
    assert_eq!(find(&wa_ids[0]).text.as_deref(), Some("hi there"));
    assert_eq!(find(&wa_ids[1]).quoted_id.as_deref(), Some(first.as_str()));
    assert_eq!(find(&wa_ids[2]).kind, "reaction");
    let image_got = find(&wa_ids[3]);
    assert_eq!(
        (image_got.kind.as_str(), image_got.caption.as_deref()),
        ("image", Some("a picture"))
    );
    assert_eq!(image_got.file_length, Some(image.len() as u64));
    let voice_got = find(&wa_ids[4]);
    assert_eq!(voice_got.kind, "ptt");
    assert_eq!(voice_got.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
    assert_eq!(got.iter().filter(|r| wa_ids.contains(&r.id)).count(), 5, "each once");

    // Delivered comes from the phone's receipts by itself; read when the customer reads.
    eventually("delivered", async || {
        tenant.message(ADMIN, sent_text.id).await.unwrap().status == MessageStatus::Delivered
    })
    .await;
    env.sim.phone_read(CUSTOMER, LINE_PHONE, &[wa_ids[0].clone(), wa_ids[3].clone()]).unwrap();
    expect(&mut events, |e| match e {
        ServerEvent::MessageStatus { wa_id, status: MessageStatus::Read, .. }
            if *wa_id == wa_ids[0] =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    eventually("read", async || {
        tenant.message(ADMIN, sent_image.id).await.unwrap().status == MessageStatus::Read
    })
    .await;
    let text_row = tenant.message(ADMIN, sent_text.id).await.unwrap();
    assert_eq!(text_row.status, MessageStatus::Read);
    assert!(
        text_row.sent_at.is_some() && text_row.delivered_at.is_some() && text_row.read_at.is_some()
    );
    // The audit chain holds and grew with every step.
    assert!(tenant.verify_audit(ADMIN).await.unwrap().seq > 10);
    drop(env.dir);
}

/// Holds SQLite's write lock on the tenant's database for `hold`.
async fn lock_tenant_db(path: &Path, hold: Duration) {
    use sqlx::{Connection as _, Executor as _};
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    conn.execute("BEGIN IMMEDIATE").await.unwrap();
    tokio::time::sleep(hold).await;
    conn.execute("ROLLBACK").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_is_acked_only_after_the_commit() {
    let env = env().await;
    let (runtime, mut events) = env.runtime();
    pair(&env, &runtime, &mut events).await;
    let db = env.dir.path().join("tenants").join(format!("{MEMBER}.db"));
    assert!(db.exists(), "{}", db.display());
    // While the database refuses writes, the message cannot be stored, so it is not acked.
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let lock = tokio::spawn(async move {
        let hold = Duration::from_secs(3);
        let task = lock_tenant_db(&db, hold);
        tokio::pin!(task);
        tokio::select! {
            () = &mut task => {}
            () = tokio::time::sleep(Duration::from_millis(300)) => {
                let _ = locked_tx.send(());
                task.await;
            }
        }
    });
    locked_rx.await.unwrap();
    let id = env.sim.phone_send(CUSTOMER, text(LINE_PHONE, "during the lock")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!companion_delivered(&env, &id), "no delivery receipt before the message is committed");
    assert!(
        env.sim.phone_receipts(CUSTOMER).unwrap().iter().any(|r| r.id == id),
        "the phone's own one came"
    );
    lock.await.unwrap();
    let (message_id, _, unread) = stored_event(&mut events).await;
    assert_eq!(unread, 1);
    assert_eq!(
        env.tenant().await.message(ADMIN, message_id).await.unwrap().wa_id.as_deref(),
        Some(id.as_str())
    );
    eventually("the delivery receipt after the commit", async || companion_delivered(&env, &id))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_the_phone_logs_out_is_marked_and_not_restarted() {
    let env = env().await;
    let (runtime, mut events) = env.runtime();
    pair(&env, &runtime, &mut events).await;
    let companion =
        env.sim.devices(LINE_PHONE).unwrap().into_iter().find(|d| d.device != 0).unwrap();
    env.sim.kick(LINE_PHONE, companion.device).unwrap();
    expect(&mut events, |e| {
        matches!(e, ServerEvent::LineStatus { state: LineState::LoggedOut { .. }, .. })
            .then_some(())
    })
    .await;
    eventually("logged_out stored", async || env.line_status().await == LineStatus::LoggedOut)
        .await;
    eventually("the line stopped", async || runtime.status(MEMBER, env.line_id).is_none()).await;
    drop(runtime);
    let (runtime, _events) = env.runtime();
    assert!(runtime.restore_all().await.unwrap().is_empty());
    assert_eq!(runtime.status(MEMBER, env.line_id), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reconnects_and_sends_the_pending_outbox_once() {
    let env = env().await;
    let (runtime, mut events) = env.runtime();
    pair(&env, &runtime, &mut events).await;
    env.sim.phone_send(CUSTOMER, text(LINE_PHONE, "anyone?")).await.unwrap();
    let (_, conversation, _) = stored_event(&mut events).await;
    // The server dies: every line task and client goes with it.
    drop(runtime);
    drop(events);

    // Messages queued while nothing runs (the API keeps accepting them).
    let (runtime, mut events) = env.runtime();
    let a =
        runtime.send_text(MEMBER, ADMIN, conversation, "queued one", None, "r-1").await.unwrap();
    let b =
        runtime.send_text(MEMBER, ADMIN, conversation, "queued two", None, "r-2").await.unwrap();
    assert_eq!(
        runtime.send_text(MEMBER, ADMIN, conversation, "queued one", None, "r-1").await.unwrap().id,
        a.id
    );
    assert_eq!(runtime.restore_all().await.unwrap(), vec![(MEMBER.to_owned(), env.line_id)]);
    until_connected(&mut events).await;
    let tenant = env.tenant().await;
    eventually("both sent", async || {
        let (x, y) = (
            tenant.message(ADMIN, a.id).await.unwrap(),
            tenant.message(ADMIN, b.id).await.unwrap(),
        );
        x.status >= MessageStatus::Sent && y.status >= MessageStatus::Sent
    })
    .await;
    let wa_a = tenant.message(ADMIN, a.id).await.unwrap().wa_id.unwrap();
    let wa_b = tenant.message(ADMIN, b.id).await.unwrap().wa_id.unwrap();
    // Give a duplicate the time to show up, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = env.sim.phone_received(CUSTOMER).unwrap();
    assert_eq!(got.iter().filter(|r| r.id == wa_a).count(), 1);
    assert_eq!(got.iter().filter(|r| r.id == wa_b).count(), 1);
    assert_eq!(got.iter().filter(|r| r.text.as_deref() == Some("queued one")).count(), 1);
    // In order.
    let pos = |id: &str| got.iter().position(|r| r.id == id).unwrap();
    assert!(pos(&wa_a) < pos(&wa_b));
    assert!(tenant.pending_outbox(Caller::System, 10).await.unwrap().is_empty());
    // An explicit disconnect is not restored.
    runtime.disconnect(MEMBER, env.line_id).await.unwrap();
    assert_eq!(env.line_status().await, LineStatus::Disconnected);
    drop(runtime);
    let (runtime, _events) = env.runtime();
    assert!(runtime.restore_all().await.unwrap().is_empty());
    let _ = Arc::new(());
}
