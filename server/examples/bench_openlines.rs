//! `scripts/bench openlines`: the Open Channels connector's latency both ways.
//!
//! ```text
//! cargo run --release -p wab24 --example bench_openlines -- [LINES] [RATE] [SECONDS] [OPERATOR_RATE]
//! ```
//!
//! In one process: b24-sim (a portal with the app installed through its install frame, so the
//! connector is registered and its events bound to the server), wa-sim on loopback with LINES
//! business phones and one customer per line, and the wab24 server (HTTP, line runtime,
//! tenancy on SQLite in a temporary directory, the connector's worker as `serve` runs it).
//! Every line is paired through its QR code and feeds an Open Line of its own.
//!
//! - Inbound: customers write RATE messages per second in total, round robin over the lines,
//!   for SECONDS. A message's latency runs from the customer's `phone_send` to the moment
//!   b24-sim has answered 200 to the `imconnector.send.messages` call carrying it (seen by
//!   following b24-sim's call record every 2 ms): WhatsApp, decryption, the store, the outbox
//!   towards Bitrix24, the worker and the REST call.
//! - Operator: operators answer OPERATOR_RATE times a second, round robin over the lines'
//!   chats, for SECONDS (b24-sim's `operator_reply`, which posts `ONIMCONNECTORMESSAGEADD` to
//!   the server). Latency runs from the operator's answer to the customer's phone holding it.
//!
//! The first second of each stream is warm-up. Every message must arrive. b24-sim and the
//! server's client are set to 1,000 requests a second: this measures wab24, not Bitrix24's
//! per-portal limit (2 requests a second on standard plans, 5 on Enterprise; the connector
//! carries up to 20 waiting messages of a line in one call).
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod bench_support;

use bench_support::{arg, pair_lines, percentile};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use b24_sim::{Dialog, EventOptions, PortalSpec};
use serde_json::json;
use tenancy::{Caller, LineSettings, MasterKey, OpenChannel, Store};
use wa_sim::{PhoneContent, PhoneMessage, SimConfig};
use wab24::{
    events::EventBus,
    runtime::{Runtime, RuntimeConfig},
    session::SessionKey,
    state::{AppState, Settings, TenancyTokenStore},
};

const MEMBER: &str = "benchol0member";
const MASTER: [u8; 32] = *b"wab24-bench-openlines-master-32b";
const FAST: b24_client::RateLimit = b24_client::RateLimit { per_second: 1000.0, burst: 1000 };

/// p50, p99 and the maximum of latencies in ms.
fn summary(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.99), ms[ms.len() - 1])
}

#[tokio::main]
async fn main() {
    let lines: usize = arg(1, 50);
    let rate: u64 = arg(2, 200);
    let seconds: u64 = arg(3, 10);
    let operator_rate: u64 = arg(4, 20);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();

    // Bitrix24.
    let sim = b24_sim::Sim::new(b24_sim::SimConfig::default());
    sim.start(loopback).await.unwrap();
    let mut spec = PortalSpec::new(MEMBER, "benchol.bitrix24.test");
    spec.install_finished = false;
    sim.add_portal(spec);
    sim.set_rate_limit(MEMBER, FAST);

    // WhatsApp.
    let wa = wa_sim::Sim::new(SimConfig { seed: Some(9), ..SimConfig::default() });
    let phone = |i: usize| format!("7999{i:07}");
    let customer = |i: usize| format!("7916{i:07}");
    for i in 0..lines {
        wa.create_account(&phone(i), Some(&format!("2{i:014}"))).unwrap();
        wa.create_account(&customer(i), Some(&format!("1{i:014}"))).unwrap();
    }
    let ws = wa.serve_ws(loopback).await.unwrap();
    wa.serve_media(loopback, 1024 * 1024).await.unwrap();

    // The server, as `wab24 serve` composes it.
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(Store::open_sqlite(dir.path(), MasterKey::from_bytes(MASTER)).await.unwrap());
    let clock: Arc<dyn b24_client::Clock> = Arc::new(b24_client::SystemClock);
    let b24 = b24_client::Client::builder(sim.app())
        .token_store(Arc::new(TenancyTokenStore::new(store.clone(), clock.clone())))
        .clock(clock.clone())
        .rate_limit(FAST)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind(loopback).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings = Settings {
        client_id: sim.app().client_id,
        public_url: base.clone(),
        oauth_server: sim.server_endpoint().unwrap(),
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
    let runtime = Arc::new(Runtime::new(
        store.clone(),
        RuntimeConfig::new(wab24::demo::client_config(&wa, ws), dir.path().to_path_buf()),
        EventBus::default(),
    ));
    let key = SessionKey::derive(&MASTER).unwrap();
    let state = AppState::new(settings, store.clone(), b24, key, clock, Some(runtime.clone()));
    tokio::spawn(warp::serve(wab24::http::routes(state.clone())).incoming(listener).run());

    // Installed by the portal's administrator: the connector registers, its events are bound.
    let url = format!("{base}/b24/install");
    let install = sim.open_frame(MEMBER, 1, &url, "DEFAULT", &json!({})).await.unwrap();
    assert_eq!(install.status, 200);
    sim.finish_install(MEMBER);
    let tenant = store.tenant(MEMBER).await.unwrap();
    let portal = state.portal(MEMBER).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut line_ids = vec![];
    let mut open_lines = vec![];
    for i in 0..lines {
        let line =
            tenant.create_line(Caller::System, &format!("line {i}"), None, now).await.unwrap();
        let name = json!({"LINE_NAME": format!("Open Line {i}")});
        let open_line = portal.openlines_config_add(name).await.unwrap().0 as i64;
        let settings = LineSettings {
            open_channel: Some(OpenChannel::OpenLine),
            open_line_id: Some(Some(open_line)),
            ..LineSettings::default()
        };
        tenant.set_line_settings(Caller::System, line.id, &settings, now).await.unwrap();
        line_ids.push(line.id);
        open_lines.push(open_line);
    }
    tokio::spawn(wab24::open_channels::worker::run(state.clone()));

    // Pair every line.
    pair_lines(&runtime, &wa, MEMBER, &line_ids, phone, "openlines").await;

    // Follows b24-sim's record: the first accepted `imconnector.send.messages` of each
    // WhatsApp id, with the time it was seen.
    let accepted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    {
        let (sim, accepted) = (sim.clone(), accepted.clone());
        tokio::spawn(async move {
            let mut cursor = 0;
            loop {
                let calls = sim.calls_from(cursor);
                let at = Instant::now();
                cursor += calls.len();
                {
                    let mut seen = accepted.lock().unwrap();
                    for call in calls {
                        if call.status != 200
                            || !call.method.eq_ignore_ascii_case("imconnector.send.messages")
                        {
                            continue;
                        }
                        for m in call.params["MESSAGES"].as_array().into_iter().flatten() {
                            if let Some(id) = m["message"]["id"].as_str() {
                                seen.entry(id.to_owned()).or_insert(at);
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
    let wait_accepted = |ids: Vec<(String, Instant)>| {
        let accepted = accepted.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let seen = accepted.lock().unwrap().clone();
                if ids.iter().all(|(id, _)| seen.contains_key(id)) {
                    return ids
                        .iter()
                        .map(|(id, t0)| seen[id].duration_since(*t0).as_secs_f64() * 1000.0)
                        .collect::<Vec<f64>>();
                }
                let missing = ids.iter().filter(|(id, _)| !seen.contains_key(id)).count();
                assert!(Instant::now() < deadline, "{missing} messages never reached Bitrix24");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    // Each customer's first message sets up its Signal session and opens its Open Line
    // session; awaited before the timed stream.
    let mut firsts = vec![];
    for i in 0..lines {
        let m = PhoneMessage {
            to: phone(i),
            content: PhoneContent::Text("hello".to_owned()),
            quoted: None,
        };
        let t0 = Instant::now();
        firsts.push((wa.phone_send(&customer(i), m).await.unwrap(), t0));
    }
    wait_accepted(firsts).await;

    // Inbound: RATE msg/s for SECONDS, round robin; each line's messages in order.
    let sent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut senders = vec![];
    let mut done = vec![];
    for i in 0..lines {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (wa, sent, from, to) = (wa.clone(), sent.clone(), customer(i), phone(i));
        done.push(tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                let m = PhoneMessage {
                    to: to.clone(),
                    content: PhoneContent::Text(format!("bench message {n}")),
                    quoted: None,
                };
                let t0 = Instant::now();
                let id = wa.phone_send(&from, m).await.unwrap();
                sent.lock().unwrap().push((id, t0));
            }
        }));
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
    drop(senders);
    for d in done {
        d.await.unwrap();
    }
    let sent = sent.lock().unwrap().clone();
    let warm: Vec<bool> = sent.iter().map(|(_, t0)| *t0 >= warm_up_end).collect();
    let latencies = wait_accepted(sent).await;
    let elapsed = begin.elapsed().as_secs_f64();
    let measured: Vec<f64> =
        latencies.iter().zip(&warm).filter(|(_, w)| **w).map(|(ms, _)| *ms).collect();
    let count = measured.len();
    let (in_p50, in_p99, in_max) = summary(measured);
    println!(
        "openlines-inbound: {total} messages over {lines} lines, offered {offered:.0} msg/s, all in Bitrix24 in {elapsed:.1} s; \
         WhatsApp -> imconnector.send.messages accepted: p50 {in_p50:.1} ms, p99 {in_p99:.1} ms, max {in_max:.1} ms ({count} measured after 1 s warm-up)"
    );

    // Operator: OPERATOR_RATE answers a second, round robin over the customers' chats.
    let chats: Vec<u64> = (0..lines)
        .map(|i| {
            sim.open_line_sessions(MEMBER)
                .iter()
                .find(|s| s.line == open_lines[i] as u64 && !s.closed)
                .map(|s| s.chat_id)
                .expect("the customer's session")
        })
        .collect();
    // The phones, followed every 5 ms from before the first answer.
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    {
        let (wa, arrived) = (wa.clone(), arrived.clone());
        let customers: Vec<String> = (0..lines).map(customer).collect();
        tokio::spawn(async move {
            loop {
                for c in &customers {
                    let got = wa.phone_received(c).unwrap();
                    let at = Instant::now();
                    let mut arrived = arrived.lock().unwrap();
                    for m in got {
                        if let Some(text) = m.text.as_deref().and_then(|t| t.rsplit('\n').next())
                            && text.starts_with("operator answer ")
                        {
                            arrived.entry(text.to_owned()).or_insert(at);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    let events = EventOptions::default();
    let total_ops = operator_rate * seconds;
    let mut answered: Vec<(usize, String, Instant)> = vec![];
    let begin = Instant::now();
    let warm_up_end = begin + Duration::from_secs(1);
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / operator_rate.max(1)));
    let mut posts = vec![];
    for n in 0..total_ops {
        ticker.tick().await;
        let i = (n as usize) % lines;
        let text = format!("operator answer {n}");
        let t0 = Instant::now();
        answered.push((i, text.clone(), t0));
        let (sim, events, chat) = (sim.clone(), events.clone(), chats[i]);
        posts.push(tokio::spawn(async move {
            let posted =
                sim.operator_reply(MEMBER, Dialog::Chat(chat), &text, &[], events).await.unwrap();
            assert_eq!(posted.deliveries.first().map(|d| d.status), Some(200));
        }));
    }
    for p in posts {
        p.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrived.lock().unwrap().len() < answered.len() {
        assert!(Instant::now() < deadline, "operator messages missing on the phones");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let arrived = arrived.lock().unwrap().clone();
    let measured: Vec<f64> = answered
        .iter()
        .filter(|(_, _, t0)| *t0 >= warm_up_end)
        .map(|(_, text, t0)| arrived[text].duration_since(*t0).as_secs_f64() * 1000.0)
        .collect();
    let count = measured.len();
    let (op_p50, op_p99, op_max) = summary(measured);
    println!(
        "openlines-operator: {total_ops} operator messages over {lines} chats at {operator_rate} msg/s; \
         ONIMCONNECTORMESSAGEADD -> customer's phone: p50 {op_p50:.1} ms, p99 {op_p99:.1} ms, max {op_max:.1} ms ({count} measured after 1 s warm-up; polled every 5 ms)"
    );
    println!(
        "openlines: ours={in_p99:.1} peer={op_p99:.1} ratio={:.2} ms p99 (ours = inbound to Bitrix24 at {rate} msg/s over {lines} lines, peer = operator to phone; no external peer)",
        op_p99 / in_p99.max(0.001)
    );
}
