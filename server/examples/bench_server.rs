//! `scripts/bench server`: latency from an inbound WhatsApp message to the Server-Sent Event
//! that carries it to its user, at a sustained rate.
//!
//! ```text
//! cargo run --release -p wab24 --example bench_server -- [LINES] [RATE] [SECONDS] [sqlite|pg]
//! ```
//!
//! In one process: wa-sim on loopback with LINES business phones and one customer per line;
//! the wab24 HTTP server with its line runtime over tenancy (SQLite in a temporary directory, or
//! PostgreSQL at `TEST_DATABASE_URL`); LINES lines paired through QR codes and each assigned to
//! its own user; one SSE client per line holding that user's token (LINES streams, each also
//! receiving and filtering every other line's events). Customers then write RATE messages per
//! second in total, round robin over the lines, for SECONDS. A message's latency runs from the
//! customer's `phone_send` (encryption by the simulated phone included) to the arrival of its
//! `message.stored` event at its user's stream, which comes after the message, its unread count
//! and its audit record are committed and WhatsApp has been acked. Each customer's first message
//! (the one that sets up the Signal session) is sent and delivered before the timed stream, and
//! the stream's first second is warm-up.
//! Every message must arrive; the figures are p50, p99 and the maximum.
//!
//! `BENCH_VIEWERS` (default 1) opens that many streams per line, as that many open panels of the
//! line's user. Each viewer does what the panel does with a `message.stored` event: when the
//! event does not carry the message, it fetches the conversation's newest page. A message's
//! latency is taken at the first viewer of its line, when that viewer holds the message.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod bench_support;

use bench_support::{arg, pair_lines, percentile};
use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tenancy::{Caller, Install, MasterKey, Store, User};
use tokio::sync::mpsc;
use wa_sim::{PhoneContent, PhoneMessage, Sim, SimConfig};
use wab24::{
    events::EventBus,
    runtime::{Runtime, RuntimeConfig},
    session::{Role, SessionKey, claims},
    state::{AppState, Settings},
};

const MEMBER: &str = "bench0member";
const MASTER: [u8; 32] = *b"wab24-bench-server-master-key-32";
/// The design's target for p99, ms.
const TARGET_P99_MS: f64 = 50.0;

#[tokio::main]
async fn main() {
    let lines: usize = arg(1, 100);
    let rate: u64 = arg(2, 1000);
    let seconds: u64 = arg(3, 10);
    let backend: String = arg(4, "sqlite".to_owned());
    let viewers: usize =
        std::env::var("BENCH_VIEWERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();

    // WhatsApp.
    let wa = Sim::new(SimConfig { seed: Some(7), ..SimConfig::default() });
    let phone = |i: usize| format!("7999{i:07}");
    let customer = |i: usize| format!("7916{i:07}");
    for i in 0..lines {
        wa.create_account(&phone(i), Some(&format!("2{i:014}"))).unwrap();
        wa.create_account(&customer(i), Some(&format!("1{i:014}"))).unwrap();
    }
    let ws = wa.serve_ws(loopback).await.unwrap();
    wa.serve_media(loopback, 1024 * 1024).await.unwrap();

    // The tenant, its lines and users.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(match backend.as_str() {
        "pg" => {
            let url = std::env::var("TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            Store::open_postgres(&url, &pg_schema(), MasterKey::from_bytes(MASTER)).await.unwrap()
        }
        _ => Store::open_sqlite(dir.path(), MasterKey::from_bytes(MASTER)).await.unwrap(),
    });
    let now = time::OffsetDateTime::now_utc();
    let install = Install {
        member_id: MEMBER.into(),
        domain: "bench.bitrix24.test".into(),
        plan: "bench".into(),
        line_quota: lines as i64,
        trial_ends_at: None,
        tokens: None,
    };
    let generation = store.install(&install, now).await.unwrap().generation;
    let tenant = store.tenant(MEMBER).await.unwrap();
    let admin = Caller::Admin(1);
    let mut line_ids = vec![];
    for i in 0..lines {
        let uid = 100 + i as i64;
        let user = User { id: uid, name: format!("user {i}"), is_admin: false };
        tenant.upsert_user(admin, &user, now).await.unwrap();
        let line = tenant.create_line(admin, &format!("line {i}"), None, now).await.unwrap();
        tenant.assign_line(admin, line.id, Some(uid), now).await.unwrap();
        line_ids.push(line.id);
    }

    // The server.
    let client = wab24::demo::client_config(&wa, ws);
    let runtime = Arc::new(Runtime::new(
        store.clone(),
        RuntimeConfig::new(client, dir.path().to_path_buf()),
        EventBus::default(),
    ));
    let clock: Arc<dyn b24_client::Clock> = Arc::new(b24_client::SystemClock);
    let b24 = b24_client::Client::builder(b24_client::OAuthApp::new("local.bench", "unused"))
        .build()
        .unwrap();
    let settings = Settings {
        client_id: "local.bench".into(),
        public_url: "http://127.0.0.1".into(),
        oauth_server: "http://127.0.0.1:9/rest/".into(),
        plan_hook_secret: None,
        default_plan: "bench".into(),
        default_line_quota: lines as i64,
        trial_days: 0,
        extra_frame_ancestor: None,
        metrics_token: None,
        limits: wab24::state::Limits::default(),
        uninstall_grace_days: 7,
        billing: wab24::state::Billing::default(),
        media_links: wab24::media_link::MediaLinks {
            key: wab24::media_link::MediaLinkKey::derive(&MASTER).unwrap(),
            ttl_secs: wab24::media_link::DEFAULT_TTL_SECS,
        },
    };
    let key = SessionKey::derive(&MASTER).unwrap();
    let state = AppState::new(
        settings,
        store.clone(),
        b24,
        key.clone(),
        clock.clone(),
        Some(runtime.clone()),
    );
    let listener = tokio::net::TcpListener::bind(loopback).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(wab24::http::routes(state)).incoming(listener).run());

    // Pair every line.
    pair_lines(&runtime, &wa, MEMBER, &line_ids, phone, "server").await;

    // VIEWERS SSE clients per line, as its user, each behaving as the panel does.
    let sent: Arc<Vec<Mutex<VecDeque<Instant>>>> =
        Arc::new((0..lines).map(|_| Mutex::new(VecDeque::new())).collect());
    let (lat_tx, mut lat_rx) = mpsc::unbounded_channel::<(Instant, f64)>();
    let http = reqwest::Client::new();
    for (i, _) in line_ids.iter().enumerate() {
        for viewer in 0..viewers {
            let token = key.issue(&claims(
                MEMBER,
                100 + i as i64,
                Role::User,
                generation,
                b24_client::now_unix(&*clock),
            ));
            let mut resp =
                http.get(format!("{base}/api/events")).bearer_auth(&token).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            let (sent, lat_tx, http, base) =
                (sent.clone(), lat_tx.clone(), http.clone(), base.clone());
            tokio::spawn(async move {
                let mut buf = String::new();
                while let Ok(Some(chunk)) = resp.chunk().await {
                    buf.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buf.find("\n\n") {
                        let block: String = buf.drain(..end + 2).collect();
                        if !block.contains("event:message.stored") {
                            continue;
                        }
                        let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                            continue;
                        };
                        let event: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
                        if event["direction"] != "in" {
                            continue;
                        }
                        if event.get("message").is_none() {
                            // The panel of this version re-reads the conversation's newest page.
                            let conversation = &event["conversation_id"];
                            let page = http
                                .get(format!(
                                    "{base}/api/conversations/{conversation}/messages?limit=10"
                                ))
                                .bearer_auth(&token)
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(page.status().as_u16(), 200);
                            page.bytes().await.unwrap();
                        }
                        if viewer == 0 {
                            let at = Instant::now();
                            let t0 =
                                sent[i].lock().unwrap().pop_front().expect("an event per message");
                            let _ = lat_tx.send((t0, at.duration_since(t0).as_secs_f64() * 1000.0));
                        }
                    }
                }
            });
        }
    }
    drop(lat_tx);

    // Each customer's first message sets up its Signal session (a prekey message: key agreement,
    // identity and prekey writes); it is sent and awaited before the timed stream, which measures
    // the steady state of established conversations.
    for i in 0..lines {
        let m = PhoneMessage {
            to: phone(i),
            content: PhoneContent::Text("hello".to_owned()),
            quoted: None,
        };
        sent[i].lock().unwrap().push_back(Instant::now());
        wa.phone_send(&customer(i), m).await.unwrap();
    }
    for _ in 0..lines {
        tokio::time::timeout(Duration::from_secs(60), lat_rx.recv())
            .await
            .expect("a first message did not reach its stream")
            .unwrap();
    }

    // Customers write at RATE for SECONDS, round robin; each line's messages in order.
    let mut senders = vec![];
    for i in 0..lines {
        let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
        let (wa, sent, from, to) = (wa.clone(), sent.clone(), customer(i), phone(i));
        tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                let m = PhoneMessage {
                    to: to.clone(),
                    content: PhoneContent::Text(format!("bench message {n}")),
                    quoted: None,
                };
                sent[i].lock().unwrap().push_back(Instant::now());
                wa.phone_send(&from, m).await.unwrap();
            }
        });
        senders.push(tx);
    }
    let total = rate * seconds;
    let begin = Instant::now();
    let warm_up_end = begin + Duration::from_secs(1);
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for n in 0..total {
        ticker.tick().await;
        senders[(n as usize) % lines].send(n).unwrap();
    }
    let offered = total as f64 / begin.elapsed().as_secs_f64();
    let mut measured = vec![];
    let mut received = 0u64;
    while received < total {
        match tokio::time::timeout(Duration::from_secs(30), lat_rx.recv()).await {
            Ok(Some((t0, ms))) => {
                received += 1;
                if t0 >= warm_up_end {
                    measured.push(ms);
                }
            }
            _ => panic!("only {received} of {total} messages reached their streams"),
        }
    }
    let elapsed = begin.elapsed().as_secs_f64();
    measured.sort_by(f64::total_cmp);
    let (p50, p99, max) =
        (percentile(&measured, 0.5), percentile(&measured, 0.99), measured[measured.len() - 1]);
    println!(
        "server-{backend}: {total} messages over {lines} lines and {streams} SSE streams ({viewers} per line), offered {offered:.0} msg/s, \
         all delivered in {elapsed:.1} s; latency p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms ({} measured after 1 s warm-up)",
        measured.len(),
        streams = lines * viewers,
    );
    println!(
        "server: ours={p99:.1} peer={TARGET_P99_MS:.0} ratio={:.2} ms p99 inbound-to-SSE at {rate} msg/s, {viewers} viewer(s) per line (peer = the design's target; no external peer)",
        TARGET_P99_MS / p99.max(0.001)
    );
    if backend == "pg" {
        // Leave the database as it was: the tenant's schema, then the registry's.
        let now = time::OffsetDateTime::now_utc();
        store.uninstall(MEMBER, tenancy::Cleanup::Clean { purge_after: now }, now).await.unwrap();
        store.purge_due(now).await.unwrap();
        let url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", pg_schema());
        sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await.unwrap();
    }
}

/// The registry's schema for a PostgreSQL run (one per process).
fn pg_schema() -> String {
    format!("bench_ctl_{}", std::process::id())
}
