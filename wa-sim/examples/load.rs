//! `scripts/bench sim`: how many connected devices one wa-sim process holds, and how many messages
//! per second it routes between them end to end.
//!
//! ```text
//! cargo run --release -p wa-sim --example load -- [DEVICES] [SECONDS] [WINDOW] [BYTES]
//! ```
//!
//! In one process: a simulator on loopback, DEVICES accounts with one companion each, registered
//! through `Sim::register_companion` (no QR), then every companion connects over `ws://`, does
//! the Noise XX handshake (verifying the chain under the simulator's root) and logs in with a
//! `ClientPayload` until `<success>` and `<ib>`. Resident memory (VmRSS from /proc/self/status)
//! is read before and after; the difference per device covers both ends of each connection, the
//! simulator's and the companion's, since both live in this process.
//!
//! Then each device keeps WINDOW messages in flight to random other devices (a seeded RNG): a
//! `<message>` with `<participants><to><enc>` of BYTES random bytes; the server acks it to the
//! sender (which then sends the next), routes it to the receiver, and the receiver acks it to the
//! server. After one second of warm-up, messages delivered to receivers are counted for
//! SECONDS. Defaults: 1000 devices, 5 s, window 4, 300 bytes.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)]
#![allow(clippy::cast_precision_loss)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use rand::{Rng as _, RngExt as _, SeedableRng as _, rngs::StdRng};
use tokio::{net::TcpStream, sync::Semaphore};
use wa_proto::{Jid, Node};
use wa_sim::{
    Clock as _, Sim, SimConfig, SystemClock,
    companion::{Client, Companion},
};

/// Resident and peak resident memory of this process, KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn phone(i: usize) -> String {
    format!("1555{i:07}")
}

fn message(id: String, to: &str, bytes: Vec<u8>) -> Node {
    let chat: Jid = format!("{to}@s.whatsapp.net").parse().unwrap();
    let device: Jid = format!("{to}:1@s.whatsapp.net").parse().unwrap();
    Node::builder("message")
        .attr("id", id)
        .attr("to", chat)
        .attr("type", "text")
        .children([Node::builder("participants")
            .children([Node::builder("to")
                .attr("jid", device)
                .children([Node::builder("enc")
                    .attr("v", "2")
                    .attr("type", "msg")
                    .bytes(bytes)
                    .build()])
                .build()])
            .build()])
        .build()
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    server_acked: AtomicU64,
    delivered: AtomicU64,
}

/// One device's traffic: WINDOW messages in flight, the next one sent when the server acks one;
/// every message received is acked.
async fn traffic(
    mut client: Client<TcpStream>,
    me: usize,
    devices: usize,
    window: usize,
    bytes: usize,
    tally: Arc<Tally>,
    running: Arc<AtomicBool>,
) {
    let mut rng = StdRng::seed_from_u64(me as u64);
    let mut seq = 0u64;
    let mut next = |rng: &mut StdRng| {
        let mut to = rng.random_range(0..devices - 1);
        if to >= me {
            to += 1;
        }
        let mut body = vec![0u8; bytes];
        rng.fill_bytes(&mut body);
        seq += 1;
        message(format!("{me:X}.{seq:X}"), &phone(to), body)
    };
    for _ in 0..window {
        if client.send(&next(&mut rng)).await.is_err() {
            return;
        }
        tally.sent.fetch_add(1, Ordering::Relaxed);
    }
    while let Ok(node) = client.recv().await {
        match node.tag.as_ref() {
            "ack" => {
                tally.server_acked.fetch_add(1, Ordering::Relaxed);
                if running.load(Ordering::Relaxed) {
                    if client.send(&next(&mut rng)).await.is_err() {
                        return;
                    }
                    tally.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            "message" => {
                tally.delivered.fetch_add(1, Ordering::Relaxed);
                let ack = Node::builder("ack")
                    .attr("class", "message")
                    .attr("id", node.attr_str("id").unwrap_or_default().to_owned())
                    .build();
                if client.send(&ack).await.is_err() {
                    return;
                }
            }
            _ => {}
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let devices = args.first().copied().unwrap_or(1000).max(2);
    let seconds = args.get(1).copied().unwrap_or(5);
    let window = args.get(2).copied().unwrap_or(4).max(1);
    let bytes = args.get(3).copied().unwrap_or(300);

    let (rss_start, _) = memory();
    let sim = Sim::new(SimConfig { seed: Some(1), ..SimConfig::default() });
    let addr = sim.serve_ws("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("ws://{addr}/ws/chat");
    let mut rng = StdRng::seed_from_u64(2);
    let mut companions = Vec::with_capacity(devices);
    for i in 0..devices {
        sim.create_account(&phone(i), None).unwrap();
        let companion = Companion::generate(&mut rng);
        let device = sim
            .register_companion(
                &phone(i),
                companion.noise.public,
                companion.identity.public,
                companion.registration_id,
            )
            .unwrap();
        assert_eq!(device, 1);
        companions.push(companion);
    }
    let (rss_accounts, _) = memory();

    // Connect and log in, 64 handshakes at a time.
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(64));
    let mut joins = Vec::with_capacity(devices);
    for (i, companion) in companions.into_iter().enumerate() {
        let (gate, url, root) = (gate.clone(), url.clone(), sim.root_key());
        joins.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let login = Companion::login_payload(&phone(i), 1).unwrap();
            let mut rng = StdRng::seed_from_u64(1000 + i as u64);
            let now = SystemClock.now();
            let mut client =
                Client::connect(stream, &url, root, now, &companion.noise, &login, &mut rng)
                    .await
                    .map_err(|e| e.to_string())?;
            let success = client.recv().await.map_err(|e| e.to_string())?;
            if success.tag != "success" {
                return Err(format!("device {i}: {}", success.tag));
            }
            let ib = client.recv().await.map_err(|e| e.to_string())?;
            if ib.tag != "ib" {
                return Err(format!("device {i}: {}", ib.tag));
            }
            Ok::<_, String>(client)
        }));
    }
    let mut clients = Vec::with_capacity(devices);
    let mut failures = Vec::new();
    for join in joins {
        match join.await.unwrap() {
            Ok(client) => clients.push(client),
            Err(error) => failures.push(error),
        }
    }
    let connect_time = started.elapsed();
    let (rss_connected, _) = memory();
    let connected = clients.len();
    let counters = sim.counters();
    println!(
        "connected {connected}/{devices} devices in {:.2} s ({:.0} logins/s); simulator counts {} open, {} logins; failures: {}{}",
        connect_time.as_secs_f64(),
        connected as f64 / connect_time.as_secs_f64(),
        counters.connections_open,
        counters.logins,
        failures.len(),
        failures.first().map(|f| format!(" (first: {f})")).unwrap_or_default(),
    );
    let per_device = |kib: u64| kib as f64 / connected.max(1) as f64;
    println!(
        "memory: VmRSS {} KiB at start, {} KiB with {devices} accounts registered, {} KiB connected: {:.1} KiB per connected device (both ends of the connection; accounts and keys: {:.1} KiB per device)",
        rss_start,
        rss_accounts,
        rss_connected,
        per_device(rss_connected.saturating_sub(rss_accounts)),
        rss_accounts.saturating_sub(rss_start) as f64 / devices as f64,
    );
    if connected < 2 {
        println!("sim: ours=0 peer=none ratio=none msg/s (fewer than two devices connected)");
        return;
    }

    // Traffic between random pairs.
    let tally = Arc::new(Tally::default());
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::with_capacity(connected);
    for (me, client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(traffic(
            client,
            me,
            connected,
            window,
            bytes,
            tally.clone(),
            running.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (delivered0, acked0, counters0) = (
        tally.delivered.load(Ordering::Relaxed),
        tally.server_acked.load(Ordering::Relaxed),
        sim.counters(),
    );
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds as u64)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let (delivered1, acked1, counters1) = (
        tally.delivered.load(Ordering::Relaxed),
        tally.server_acked.load(Ordering::Relaxed),
        sim.counters(),
    );
    running.store(false, Ordering::Relaxed);
    let (rss_traffic, hwm) = memory();
    let rate = (delivered1 - delivered0) as f64 / elapsed;
    println!(
        "traffic: {connected} devices, window {window}, {bytes}-byte payloads, {seconds} s measured: {} delivered ({rate:.0}/s), {} server acks ({:.0}/s), simulator routed {} and settled {} receiver acks ({:.0}/s); VmRSS {rss_traffic} KiB, peak {hwm} KiB",
        delivered1 - delivered0,
        acked1 - acked0,
        (acked1 - acked0) as f64 / elapsed,
        counters1.routed - counters0.routed,
        counters1.acked - counters0.acked,
        (counters1.acked - counters0.acked) as f64 / elapsed,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    for task in &tasks {
        task.abort();
    }
    println!(
        "sim: ours={rate:.0} peer=none ratio=none msg/s routed end to end ({connected} devices connected, {:.1} KiB RSS per device; no external peer)",
        per_device(rss_connected.saturating_sub(rss_accounts)),
    );
}
