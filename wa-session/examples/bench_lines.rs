//! `scripts/bench lines`: resident memory per idle, connected line (a wa-session `Client`).
//!
//! ```text
//! cargo run --release -p wa-session --example bench_lines -- [LINES] [client|raw] [IDLE_SECONDS]
//! ```
//!
//! In one process: a wa-sim on loopback and LINES accounts, each with one companion registered
//! through `Sim::register_companion` (no QR). In `client` mode (the default) every line is a
//! `Client` started from credentials made for that registration (a `DeviceCredentials` whose
//! account is the registered device, in a `MemoryStore`): it connects over `ws://`, does the Noise
//! XX handshake, logs in and reaches `Connected`, then idles. In `raw` mode every line is
//! wa-sim's minimal companion instead (handshake and login only, no client machinery): the same
//! simulator work with the cheapest possible client end.
//!
//! Resident memory (VmRSS) is read with the accounts registered and again after IDLE_SECONDS
//! (default 3) of idling; the difference per line covers both ends of each connection, the
//! simulator's and the client's, since both live in this process. The `client` figure minus the
//! `raw` one bounds the Client's own share from below; the `client` figure bounds it from above.
//!
//! The one-time prekeys of a fresh device (812, uploaded at the first login) are not part of a
//! line's connection and would live in a database in production: the clients run with
//! `PreKeyPolicy { min: 0, .. }` so that none are uploaded or kept here.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)]
#![allow(clippy::cast_precision_loss)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{SeedableRng as _, rngs::StdRng};
use tokio::{net::TcpStream, sync::Semaphore};
use wa_session::{
    PublicKey,
    client::{Client, Clock as _, Config, Event, Events, PreKeyPolicy, SystemClock},
    credentials::{DeviceCredentials, PairedAccount},
    store::{DeviceStore as _, MemoryStore, SignedPreKeyStore as _},
};
use wa_sim::{
    Sim, SimConfig,
    companion::{Client as RawClient, Companion},
};

/// The published figure of the design's anchor (whatsapp-rust, KiB per idle connected line).
const ANCHOR_KIB: f64 = 530.0;

/// Resident memory of this process, KiB.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The soft limit on open files.
fn fd_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn phone(i: usize) -> String {
    format!("1555{i:07}")
}

/// What a line keeps alive while it idles (held, never read).
#[allow(dead_code)]
enum Line {
    Client(Client, Events),
    Raw(Box<RawClient<TcpStream>>),
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let asked: usize = args.first().map_or(1000, |a| a.parse().expect("LINES is a number"));
    let raw = match args.get(1).map(String::as_str) {
        None | Some("client") => false,
        Some("raw") => true,
        Some(other) => panic!("mode is client or raw, not {other}"),
    };
    let idle: u64 = args.get(2).map_or(3, |a| a.parse().expect("IDLE_SECONDS is a number"));
    // Both ends of every connection are in this process: two descriptors per line, plus a few.
    let limit = fd_limit();
    let lines = match limit {
        Some(limit) => asked.min(limit.saturating_sub(64) / 2),
        None => asked,
    };
    if lines < asked {
        println!(
            "descriptor limit {}: {lines} of the {asked} lines asked for fit (two descriptors each)",
            limit.unwrap_or_default()
        );
    }

    let sim = Sim::new(SimConfig { seed: Some(1), ..SimConfig::default() });
    let addr = sim.serve_ws("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("ws://{addr}/ws/chat");
    let mut rng = StdRng::seed_from_u64(2);
    let now = SystemClock.now();
    let mut registered = Vec::with_capacity(lines);
    for i in 0..lines {
        let account = sim.create_account(&phone(i), None).unwrap();
        let mut credentials = DeviceCredentials::generate(now, &mut rng);
        let device = sim
            .register_companion(
                &phone(i),
                credentials.noise_key.public,
                credentials.identity.public,
                credentials.registration_id,
            )
            .unwrap();
        // What pairing would have stored; the ADV signature is not needed to log in.
        credentials.account = Some(PairedAccount {
            jid: format!("{}:{device}@s.whatsapp.net", phone(i)).parse().unwrap(),
            lid: None,
            account_key: PublicKey::from_slice(&hex::decode(&account.identity_key).unwrap())
                .unwrap(),
            key_index: 1,
            signed_identity: Vec::new(),
            platform: None,
            business_name: None,
        });
        registered.push(credentials);
    }
    let mut stores = Vec::with_capacity(lines);
    if !raw {
        for credentials in &registered {
            let store = Arc::new(MemoryStore::new(
                credentials.identity.clone(),
                credentials.registration_id,
            ));
            store.save_signed_pre_key(&credentials.signed_pre_key).await.unwrap();
            store.save_credentials(credentials).await.unwrap();
            stores.push(store);
        }
    }
    let rss_registered = rss();

    // Connect, 64 handshakes at a time; a line counts once logged in.
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(64));
    let mut joins = Vec::with_capacity(lines);
    for (i, credentials) in registered.into_iter().enumerate() {
        let gate = gate.clone();
        let url = url.clone();
        let root = sim.root_key();
        let store = stores.get(i).cloned();
        joins.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            if let Some(store) = store {
                let config = Config {
                    url,
                    root_key: root,
                    seed: Some(i as u64),
                    pre_keys: PreKeyPolicy { min: 0, ..PreKeyPolicy::default() },
                    ..Config::default()
                };
                let (client, mut events) =
                    Client::start(config, store).await.map_err(|e| e.to_string())?;
                loop {
                    match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
                        Ok(Some(Event::Connected)) => return Ok(Line::Client(client, events)),
                        Ok(Some(Event::Disconnected { reason, .. })) => {
                            client.close();
                            return Err(format!("line {i}: {reason}"));
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => return Err(format!("line {i}: stopped")),
                        Err(_) => {
                            client.close();
                            return Err(format!("line {i}: not connected within 30 s"));
                        }
                    }
                }
            } else {
                let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                let login = Companion::login_payload(&phone(i), 1).map_err(|e| e.to_string())?;
                let mut rng = StdRng::seed_from_u64(1000 + i as u64);
                let mut client = RawClient::connect(
                    stream,
                    &url,
                    root,
                    SystemClock.now(),
                    &credentials.noise_key,
                    &login,
                    &mut rng,
                )
                .await
                .map_err(|e| e.to_string())?;
                let success = client.recv().await.map_err(|e| e.to_string())?;
                if success.tag != "success" {
                    return Err(format!("line {i}: {}", success.tag));
                }
                Ok(Line::Raw(Box::new(client)))
            }
        }));
    }
    let mut connected = Vec::with_capacity(lines);
    let mut failures = Vec::new();
    for join in joins {
        match join.await.unwrap() {
            Ok(line) => connected.push(line),
            Err(error) => failures.push(error),
        }
    }
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let rss_idle = rss();
    let n = connected.len();
    let counters = sim.counters();
    let mode = if raw { "raw companions" } else { "wa-session Clients" };
    println!(
        "{mode}: {n}/{lines} lines connected in {:.2} s; simulator: {} open, {} logins; failures: {}{}",
        connect_time.as_secs_f64(),
        counters.connections_open,
        counters.logins,
        failures.len(),
        failures.first().map(|f| format!(" (first: {f})")).unwrap_or_default(),
    );
    let per_line = rss_idle.saturating_sub(rss_registered) as f64 / n.max(1) as f64;
    println!(
        "memory: VmRSS {rss_registered} KiB with {lines} accounts and stores, {rss_idle} KiB after {idle} s idle connected: {per_line:.1} KiB per line (both ends: simulator and client)"
    );
    let clients = connected.iter().filter(|l| matches!(l, Line::Client(..))).count();
    if clients > 0 {
        println!(
            "lines: ours={per_line:.1} peer={ANCHOR_KIB:.0} ratio={:.2} KiB per idle line ({n} lines, both ends of each connection counted; peer: whatsapp-rust's published figure, not measured here)",
            ANCHOR_KIB / per_line.max(0.1)
        );
    } else {
        println!("raw: {per_line:.1} KiB per line (simulator and minimal companion, {n} lines)");
    }
    drop(connected);
}
