//! The tokio `Client` against wa-sim: QR pairing, 515, login, prekeys, restart with stored
//! credentials, kick, reconnect with backoff, replaced, QR rotation, 405, logout.

use std::{sync::Arc, time::Duration};

use rand::{SeedableRng as _, rngs::StdRng};
use wa_proto::Node;
use wa_session::{
    KeyPair,
    client::{BackoffPolicy, Client, Config, DisconnectReason, Event, Events},
    pairing::ClientVersion,
    signal::generate_registration_id,
    store::{DeviceStore, MemoryStore, PreKeyStore},
};
use wa_sim::{Sim, SimConfig, StreamError, Target};

const PHONE: &str = "15550001111";

async fn start_sim(config: SimConfig) -> (Sim, String) {
    let sim = Sim::new(SimConfig { seed: Some(1), ..config });
    sim.create_account(PHONE, Some("100200300400500")).unwrap();
    let addr = sim.serve_ws("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (sim, format!("ws://{addr}/ws/chat"))
}

fn config(sim: &Sim, url: &str, seed: u64) -> Config {
    Config {
        url: url.to_owned(),
        root_key: sim.root_key(),
        seed: Some(seed),
        backoff: BackoffPolicy {
            base: Duration::from_millis(50),
            max: Duration::from_millis(400),
            ..BackoffPolicy::default()
        },
        ..Config::default()
    }
}

fn new_store(seed: u64) -> Arc<MemoryStore> {
    let mut rng = StdRng::seed_from_u64(seed);
    let identity = KeyPair::generate(&mut rng);
    Arc::new(MemoryStore::new(identity, generate_registration_id(&mut rng)))
}

async fn next(events: &mut Events) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the event stream is still open")
}

/// The stream ends (the client stopped) within 2 s.
async fn ends(events: &mut Events) {
    let end = tokio::time::timeout(Duration::from_secs(2), events.recv()).await;
    assert!(matches!(end, Ok(None)), "expected the end of the stream, got {end:?}");
}

async fn expect_qr(events: &mut Events) -> (String, Duration) {
    match next(events).await {
        Event::Qr { code, expires } => (code, expires),
        other => panic!("expected a QR code, got {other:?}"),
    }
}

/// Skips prekey events up to `Connected`.
async fn connected(events: &mut Events) -> Vec<Event> {
    let mut before = Vec::new();
    loop {
        match next(events).await {
            Event::Connected => return before,
            event @ Event::PreKeysUploaded { .. } => before.push(event),
            other => panic!("expected Connected, got {other:?}"),
        }
    }
}

async fn disconnected(events: &mut Events) -> (DisconnectReason, Option<Duration>) {
    match next(events).await {
        Event::Disconnected { reason, reconnect_in } => (reason, reconnect_in),
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

/// Pairs a fresh device with the account and closes its client; returns its store.
async fn paired_store(sim: &Sim, url: &str, seed: u64) -> Arc<MemoryStore> {
    paired_store_of(sim, url, seed, PHONE).await
}

/// [`paired_store`] for the account `phone`.
async fn paired_store_of(sim: &Sim, url: &str, seed: u64, phone: &str) -> Arc<MemoryStore> {
    let store = new_store(seed);
    let (client, mut events) = Client::start(config(sim, url, seed), store.clone()).await.unwrap();
    let (code, _) = expect_qr(&mut events).await;
    sim.scan(&code, phone).await.unwrap();
    assert!(matches!(next(&mut events).await, Event::PairSuccess { .. }));
    assert_eq!(disconnected(&mut events).await.0, DisconnectReason::RestartRequired);
    connected(&mut events).await;
    client.close();
    assert_eq!(disconnected(&mut events).await, (DisconnectReason::ClosedByClient, None));
    ends(&mut events).await;
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_by_qr_logs_in_uploads_prekeys_and_restarts_from_the_store() {
    let (sim, url) = start_sim(SimConfig::default()).await;
    let store = new_store(10);
    let (client, mut events) = Client::start(config(&sim, &url, 10), store.clone()).await.unwrap();

    let (code, expires) = expect_qr(&mut events).await;
    assert_eq!(expires, Duration::from_secs(60));
    assert!(code.starts_with("https://wa.me/settings/linked_devices#2@"), "{code}");
    let paired = sim.scan(&code, PHONE).await.unwrap();
    assert_eq!(paired.jid, format!("{PHONE}:1@s.whatsapp.net"));
    match next(&mut events).await {
        Event::PairSuccess { jid, lid, platform, .. } => {
            assert_eq!(jid.to_string(), paired.jid);
            assert_eq!(lid.unwrap().to_string(), paired.lid);
            assert_eq!(platform.as_deref(), Some("android"));
        }
        other => panic!("expected PairSuccess, got {other:?}"),
    }
    // The post-pairing restart: reconnect at once, log in.
    assert_eq!(
        disconnected(&mut events).await,
        (DisconnectReason::RestartRequired, Some(Duration::ZERO))
    );
    let before = connected(&mut events).await;
    assert!(matches!(before.as_slice(), [Event::PreKeysUploaded { count: 812 }]), "{before:?}");

    let devices = sim.devices(PHONE).unwrap();
    assert_eq!((devices[1].prekeys, devices[1].connections), (812, 1));
    assert_eq!(devices[1].platform.as_deref(), Some("Chrome"));
    let credentials = store.credentials().await.unwrap().unwrap();
    assert_eq!(credentials.account.as_ref().unwrap().jid.to_string(), paired.jid);
    assert_eq!(credentials.next_pre_key_id, 813);
    assert!(store.pre_key(812).await.unwrap().is_some());
    assert_eq!(client.credentials().await, credentials);

    // Any feature can use the iq matcher.
    let count = Node::builder("iq")
        .attr("to", wa_proto::Jid::server_jid())
        .attr("type", "get")
        .attr("xmlns", "encrypt")
        .children([Node::new("count")])
        .build();
    let answer = client.iq(count).await.unwrap();
    assert_eq!(answer.child("count").unwrap().attr_str("value").unwrap(), "812");

    client.close();
    assert_eq!(disconnected(&mut events).await, (DisconnectReason::ClosedByClient, None));
    ends(&mut events).await;
    assert!(matches!(
        client.iq(Node::new("iq")).await,
        Err(wa_session::Error::Connection(wa_session::ConnectionError::NotConnected))
    ));

    // A restart with the stored credentials logs in: no QR, no second upload.
    let (client, mut events) = Client::start(config(&sim, &url, 11), store.clone()).await.unwrap();
    assert!(connected(&mut events).await.is_empty());
    assert_eq!(sim.counters().pair_device_sent, 1);
    assert_eq!(sim.devices(PHONE).unwrap()[1].prekeys, 812);

    // Removed from the phone: logged out, credentials deleted, no reconnect.
    assert_eq!(sim.kick(PHONE, 1).unwrap(), 1);
    match next(&mut events).await {
        Event::LoggedOut { reason } => assert_eq!(reason, DisconnectReason::DeviceRemoved),
        other => panic!("expected LoggedOut, got {other:?}"),
    }
    ends(&mut events).await;
    assert_eq!(store.credentials().await.unwrap(), None);
    let connections = sim.counters().connections;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.counters().connections, connections);
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_with_backoff_after_503_and_a_closed_socket() {
    let (sim, url) = start_sim(SimConfig::default()).await;
    let store = paired_store(&sim, &url, 20).await;
    let (_client, mut events) = Client::start(config(&sim, &url, 21), store).await.unwrap();
    connected(&mut events).await;
    let me = Target { phone: Some(PHONE.to_owned()), device: Some(1) };

    assert_eq!(sim.inject(&me, StreamError::Unavailable), 1);
    let (reason, delay) = disconnected(&mut events).await;
    assert_eq!(reason, DisconnectReason::ServiceUnavailable);
    let first = delay.unwrap();
    assert!(first <= Duration::from_millis(50) && first >= Duration::from_millis(40), "{first:?}");
    connected(&mut events).await;

    assert_eq!(sim.close(&me), 1);
    let (reason, delay) = disconnected(&mut events).await;
    assert_eq!(reason, DisconnectReason::ConnectionLost);
    assert!(delay.unwrap() <= Duration::from_millis(50));
    connected(&mut events).await;

    // The sequence grows while the connections are not stable: 50, 50, 100 ms.
    assert_eq!(sim.inject(&me, StreamError::Unavailable), 1);
    let third = disconnected(&mut events).await.1.unwrap();
    assert!(third >= Duration::from_millis(80) && third <= Duration::from_millis(100), "{third:?}");
    connected(&mut events).await;
    // Pairing, then this client's four logins.
    assert_eq!(sim.counters().logins, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_replaces_the_first() {
    let (sim, url) = start_sim(SimConfig::default()).await;
    let store = paired_store(&sim, &url, 30).await;
    let (_first, mut first_events) =
        Client::start(config(&sim, &url, 31), store.clone()).await.unwrap();
    connected(&mut first_events).await;
    let (_second, mut second_events) = Client::start(config(&sim, &url, 32), store).await.unwrap();
    connected(&mut second_events).await;
    assert_eq!(disconnected(&mut first_events).await, (DisconnectReason::Replaced, None));
    ends(&mut first_events).await;
    assert_eq!(sim.devices(PHONE).unwrap()[1].connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_refs_rotate_until_nobody_scanned() {
    let (sim, url) = start_sim(SimConfig::default()).await;
    let config = Config {
        qr_first_timeout: Duration::from_millis(300),
        qr_next_timeout: Duration::from_millis(100),
        ..config(&sim, &url, 40)
    };
    let (_client, mut events) = Client::start(config, new_store(40)).await.unwrap();
    let mut codes = Vec::new();
    let mut expiries = Vec::new();
    for _ in 0..6 {
        let (code, expires) = expect_qr(&mut events).await;
        codes.push(code);
        expiries.push(expires.as_millis());
    }
    assert_eq!(expiries, [300, 100, 100, 100, 100, 100]);
    let refs: std::collections::BTreeSet<_> =
        codes.iter().map(|c| c.split(',').next().unwrap().to_owned()).collect();
    assert_eq!(refs.len(), 6);
    // The keys in the codes stay the same; only the ref changes.
    assert!(
        codes.iter().all(|c| c.split_once(',').unwrap().1 == codes[0].split_once(',').unwrap().1)
    );
    assert_eq!(disconnected(&mut events).await, (DisconnectReason::PairingTimeout, None));
    ends(&mut events).await;
    assert_eq!(sim.counters().connections, 1);
    // A scan of an expired code finds nobody.
    assert!(sim.scan(&codes[0], PHONE).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_version_gets_405_without_a_reconnect_loop() {
    let minimum = ClientVersion::new(2, 3000, 2_000_000_000);
    let (sim, url) =
        start_sim(SimConfig { min_version: Some(minimum), ..SimConfig::default() }).await;
    let (client, mut events) = Client::start(config(&sim, &url, 50), new_store(50)).await.unwrap();
    assert_eq!(client.version(), ClientVersion::DEFAULT);
    assert_eq!(disconnected(&mut events).await, (DisconnectReason::ClientOutdated, None));
    ends(&mut events).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counters = sim.counters();
    assert_eq!((counters.connections, counters.login_failures), (1, 1));

    // The version is configuration: a current one is accepted.
    let current = Config { version: minimum, ..config(&sim, &url, 51) };
    let (_client, mut events) = Client::start(current, new_store(51)).await.unwrap();
    expect_qr(&mut events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_can_change_at_run_time() {
    let minimum = ClientVersion::new(2, 3000, 2_000_000_000);
    let (sim, url) =
        start_sim(SimConfig { min_version: Some(minimum), ..SimConfig::default() }).await;
    // A connect failure reconnects; the new version is used from the next attempt.
    let config = Config { url: url.replace("/ws/chat", "/nowhere"), ..config(&sim, &url, 60) };
    let (client, mut events) = Client::start(config, new_store(60)).await.unwrap();
    assert!(matches!(disconnected(&mut events).await.0, DisconnectReason::ConnectFailed(_)));
    client.set_version(minimum);
    assert_eq!(client.version(), minimum);
    client.close();
    assert_eq!(disconnected(&mut events).await, (DisconnectReason::ClosedByClient, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_removes_the_companion_and_forgets_the_credentials() {
    let (sim, url) = start_sim(SimConfig::default()).await;
    let store = paired_store(&sim, &url, 70).await;
    let config = Config { keepalive_interval: Duration::from_millis(50), ..config(&sim, &url, 71) };
    let (client, mut events) = Client::start(config, store.clone()).await.unwrap();
    connected(&mut events).await;
    // Keepalive pings are answered: the connection stays up.
    let iqs = sim.counters().iqs;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sim.counters().iqs >= iqs + 3, "pings were sent");
    assert!(events.try_recv().is_err(), "no event while idle");

    client.logout().await.unwrap();
    match next(&mut events).await {
        Event::LoggedOut { reason } => assert_eq!(reason, DisconnectReason::LoggedOutByClient),
        other => panic!("expected LoggedOut, got {other:?}"),
    }
    ends(&mut events).await;
    assert!(sim.devices(PHONE).unwrap()[1].removed);
    assert_eq!(store.credentials().await.unwrap(), None);
    assert!(matches!(
        client.logout().await,
        Err(wa_session::Error::Connection(wa_session::ConnectionError::NotPaired))
    ));
}

/// A TLS terminator in front of the simulator, with a fresh self-signed certificate for
/// `localhost`; returns its port and the certificate (DER).
async fn tls_proxy(sim_url: &str) -> (u16, Vec<u8>) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = key.cert.der().to_vec();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![key.cert.der().clone()], der)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = sim_url.trim_start_matches("ws://").trim_end_matches("/ws/chat").to_owned();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut sim = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut sim).await;
            });
        }
    });
    (port, cert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_with_a_trusted_self_signed_certificate() {
    let (sim, url) = start_sim(SimConfig::default()).await;
    let (port, cert) = tls_proxy(&url).await;
    let wss = format!("wss://localhost:{port}/ws/chat");
    let trusted = Config { tls_roots: Some(vec![cert]), ..config(&sim, &wss, 80) };
    let (client, mut events) = Client::start(trusted, new_store(80)).await.unwrap();
    expect_qr(&mut events).await;
    client.close();

    // Without trusting it, the TLS handshake fails (and is retried with backoff).
    let untrusted = Config { tls_roots: Some(vec![]), ..config(&sim, &wss, 81) };
    let (client, mut events) = Client::start(untrusted, new_store(81)).await.unwrap();
    match disconnected(&mut events).await {
        (DisconnectReason::ConnectFailed(why), Some(_)) => assert!(why.contains("TLS"), "{why}"),
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    client.close();
    assert_eq!(sim.counters().connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prekeys_are_topped_up_at_login_when_the_server_runs_low() {
    use wa_session::client::PreKeyPolicy;
    let (sim, url) = start_sim(SimConfig::default()).await;
    let policy = PreKeyPolicy { min: 6, initial: 7, top_up: 3 };
    let store = new_store(90);
    let first = Config { pre_keys: policy, ..config(&sim, &url, 90) };
    let (client, mut events) = Client::start(first, store.clone()).await.unwrap();
    let (code, _) = expect_qr(&mut events).await;
    let paired = sim.scan(&code, PHONE).await.unwrap();
    assert!(matches!(next(&mut events).await, Event::PairSuccess { .. }));
    disconnected(&mut events).await;
    let uploaded = connected(&mut events).await;
    assert!(matches!(uploaded.as_slice(), [Event::PreKeysUploaded { count: 7 }]), "{uploaded:?}");

    // Two senders fetch our bundle: each takes one one-time prekey (5 stay: not low enough for
    // the server to notify, but below our minimum of 6).
    for _ in 0..2 {
        let fetch = Node::builder("iq")
            .attr("to", wa_proto::Jid::server_jid())
            .attr("type", "get")
            .attr("xmlns", "encrypt")
            .children([Node::builder("key")
                .children([Node::builder("user")
                    .attr("jid", paired.jid.parse::<wa_proto::Jid>().unwrap())
                    .attr("reason", "identity")
                    .build()])
                .build()])
            .build();
        let answer = client.iq(fetch).await.unwrap();
        assert!(answer.child("list").unwrap().child("user").unwrap().child("key").is_some());
    }
    assert_eq!(sim.devices(PHONE).unwrap()[1].prekeys, 5);
    assert_eq!(sim.counters().prekey_notifications, 0);
    client.close();
    disconnected(&mut events).await;

    let again = Config { pre_keys: policy, ..config(&sim, &url, 91) };
    let (_client, mut events) = Client::start(again, store.clone()).await.unwrap();
    let uploaded = connected(&mut events).await;
    assert!(matches!(uploaded.as_slice(), [Event::PreKeysUploaded { count: 3 }]), "{uploaded:?}");
    assert_eq!(sim.devices(PHONE).unwrap()[1].prekeys, 8);
    assert_eq!(store.credentials().await.unwrap().unwrap().next_pre_key_id, 11);
    assert!(store.pre_key(10).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prekeys_are_topped_up_live_when_the_server_notifies_it_runs_low() {
    use wa_session::client::PreKeyPolicy;
    let (sim, url) = start_sim(SimConfig::default()).await;
    let policy = PreKeyPolicy { min: 5, initial: 6, top_up: 3 };
    let store = new_store(92);
    let (client, mut events) =
        Client::start(Config { pre_keys: policy, ..config(&sim, &url, 92) }, store.clone())
            .await
            .unwrap();
    let (code, _) = expect_qr(&mut events).await;
    let paired = sim.scan(&code, PHONE).await.unwrap();
    assert!(matches!(next(&mut events).await, Event::PairSuccess { .. }));
    disconnected(&mut events).await;
    let uploaded = connected(&mut events).await;
    assert!(matches!(uploaded.as_slice(), [Event::PreKeysUploaded { count: 6 }]), "{uploaded:?}");

    // Senders take two one-time prekeys; with 4 left (below wa_sim::LOW_PREKEYS) the server
    // sends `<notification type="encrypt"><count value="4"/>` and the client tops up at once.
    const { assert!(4 < wa_sim::LOW_PREKEYS) };
    let device: wa_proto::Jid = paired.jid.parse().unwrap();
    for _ in 0..2 {
        let fetch = Node::builder("iq")
            .attr("to", wa_proto::Jid::server_jid())
            .attr("type", "get")
            .attr("xmlns", "encrypt")
            .children([Node::builder("key")
                .children([Node::builder("user").attr("jid", device.clone()).build()])
                .build()])
            .build();
        client.iq(fetch).await.unwrap();
    }
    match next(&mut events).await {
        Event::PreKeysUploaded { count: 3 } => {}
        other => panic!("expected a live top-up of 3, got {other:?}"),
    }
    assert_eq!(sim.counters().prekey_notifications, 1);
    assert_eq!(sim.devices(PHONE).unwrap()[1].prekeys, 7);
    assert_eq!(store.credentials().await.unwrap().unwrap().next_pre_key_id, 10);
    client.close();
}

/// A TCP proxy in front of the simulator; `stall` turns its open connections into dead sockets
/// (the simulator side is dropped, the client side stays open and silent).
async fn stalling_proxy(sim_url: &str) -> (String, Arc<tokio::sync::Notify>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = sim_url.trim_start_matches("ws://").trim_end_matches("/ws/chat").to_owned();
    let stall = Arc::new(tokio::sync::Notify::new());
    let stall_all = stall.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (stall, upstream) = (stall_all.clone(), upstream.clone());
            tokio::spawn(async move {
                let mut sim = tokio::net::TcpStream::connect(upstream).await.unwrap();
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut sim) => {}
                    () = stall.notified() => {
                        drop(sim);
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(client);
                    }
                }
            });
        }
    });
    (format!("ws://127.0.0.1:{port}/ws/chat"), stall)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_socket_is_detected_by_keepalive_and_replaced() {
    let (sim, url) = start_sim(SimConfig::default()).await;
    let store = paired_store(&sim, &url, 100).await;
    let (proxied, stall) = stalling_proxy(&url).await;
    let config = Config {
        keepalive_interval: Duration::from_millis(100),
        keepalive_timeout: Duration::from_millis(300),
        ..config(&sim, &proxied, 101)
    };
    let (_client, mut events) = Client::start(config, store).await.unwrap();
    connected(&mut events).await;
    // Let a few pings through, then cut the path without closing the client's socket.
    tokio::time::sleep(Duration::from_millis(250)).await;
    stall.notify_waiters();
    let (reason, delay) = disconnected(&mut events).await;
    assert_eq!(reason, DisconnectReason::KeepaliveTimeout);
    assert!(delay.is_some());
    connected(&mut events).await;
    assert_eq!(sim.devices(PHONE).unwrap()[1].connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stanzas_are_acked_only_when_the_application_says_so() {
    const BOB: &str = "15550009999";
    let (sim, url) = start_sim(SimConfig::default()).await;
    sim.create_account(BOB, None).unwrap();
    let alice_store = paired_store(&sim, &url, 110).await;
    let bob_store = paired_store_of(&sim, &url, 111, BOB).await;
    let (alice, mut alice_events) =
        Client::start(config(&sim, &url, 112), alice_store.clone()).await.unwrap();
    connected(&mut alice_events).await;
    let (bob, mut bob_events) = Client::start(config(&sim, &url, 113), bob_store).await.unwrap();
    connected(&mut bob_events).await;

    let to_alice = wa_proto::Jid::new(PHONE, wa_proto::Server::User);
    let message = Node::builder("message")
        .attr("id", "3EB0ACKTEST")
        .attr("to", to_alice)
        .attr("type", "text")
        .children([Node::builder("participants")
            .children([Node::builder("to")
                .attr("jid", format!("{PHONE}:1@s.whatsapp.net").parse::<wa_proto::Jid>().unwrap())
                // An <enc> version the client does not know: handed over as a raw stanza.
                .children([Node::builder("enc")
                    .attr("v", "3")
                    .attr("type", "msg")
                    .bytes(vec![1, 2, 3])
                    .build()])
                .build()])
            .build()])
        .build();
    bob.send(message).unwrap();

    let Event::Stanza { node, ack } = next(&mut alice_events).await else {
        panic!("expected the message as a stanza")
    };
    assert_eq!((node.tag.as_ref(), node.attr_str("id").unwrap()), ("message", "3EB0ACKTEST"));
    assert_eq!(node.attr_jid("from").unwrap().user, BOB);
    assert_eq!(ack.node().attr_str("class").unwrap(), "message");
    assert_eq!(ack.node().attr_jid("to").unwrap(), node.attr_jid("from").unwrap());
    // Not acked (the handler "failed"): the server keeps it and delivers it again at next login.
    drop(ack);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sim.devices(PHONE).unwrap()[1].queued, 1);
    alice.close();
    disconnected(&mut alice_events).await;

    let (_alice, mut alice_events) =
        Client::start(config(&sim, &url, 114), alice_store).await.unwrap();
    let Event::Stanza { node, ack } = next(&mut alice_events).await else {
        panic!("expected the message again")
    };
    assert_eq!(node.attr_str("id").unwrap(), "3EB0ACKTEST");
    assert!(ack.ack());
    connected(&mut alice_events).await;
    let mut queued = 1;
    for _ in 0..40 {
        queued = sim.devices(PHONE).unwrap()[1].queued;
        if queued == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(queued, 0, "the ack settled the queued message");
}

/// Issue 17, difference 3: a client that reads on one task and handles stanzas on another,
/// slowly, still sees the `<stream:error code="515"/>` after pairing before the connection
/// ends, because the server leaves the closing to the client (whatsmeow `connectionevents.go`
/// `handleStreamError`, Baileys `src/Socket/socket.ts` `CB:stream:error` -> `end`) for
/// `SimConfig::stream_close_delay`. Closing at once made such a client see the close first
/// and stay paired but offline. The reader forwards stanzas and flags the close separately,
/// as an event-driven client does; the handler takes 200 ms per stanza.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_asynchronous_client_sees_the_515_before_the_close_and_logs_in() {
    use tokio::{
        net::TcpStream,
        sync::{mpsc, watch},
    };
    use wa_sim::companion::{Client as Raw, Companion};

    const NOW: u64 = 1_800_000_000;
    let clock = Arc::new(wa_sim::ManualClock::new(NOW));
    let (sim, url) = start_sim(SimConfig { clock, ..SimConfig::default() }).await;
    let addr = url.trim_start_matches("ws://").trim_end_matches("/ws/chat").to_owned();
    let mut rng = StdRng::seed_from_u64(77);
    let companion = Companion::generate(&mut rng);
    let stream = TcpStream::connect(&addr).await.unwrap();
    let payload = companion.registration_payload();
    let mut raw =
        Raw::connect(stream, &url, sim.root_key(), NOW, &companion.noise, &payload, &mut rng)
            .await
            .unwrap();
    let pair_device = raw.recv().await.unwrap();
    let refs = pair_device.child("pair-device").unwrap();
    let reference = refs.children_with_tag("ref").next().unwrap().content_bytes().unwrap().to_vec();
    let ok = Node::builder("iq")
        .attr("type", "result")
        .attr("id", pair_device.attr_str("id").unwrap().to_owned())
        .build();
    raw.send(&ok).await.unwrap();
    let scanner = sim.clone();
    let qr = companion.qr(std::str::from_utf8(&reference).unwrap());
    let scan = tokio::spawn(async move { scanner.scan(&qr, PHONE).await });
    let pair_success = raw.recv().await.unwrap();
    raw.send(&companion.sign_pair_success(&pair_success, &mut rng).unwrap()).await.unwrap();
    let device = scan.await.unwrap().unwrap().device;

    // From here the reader task owns the socket.
    let (stanzas_tx, mut stanzas) = mpsc::unbounded_channel();
    let (closed_tx, closed) = watch::channel(false);
    let reader = tokio::spawn(async move {
        while let Ok(node) = raw.recv().await {
            if stanzas_tx.send(node).is_err() {
                return;
            }
        }
        let _ = closed_tx.send(true);
    });
    let stanza = stanzas.recv().await.expect("a stanza after pair-success");
    tokio::time::sleep(Duration::from_millis(200)).await; // the slow handler
    assert!(!*closed.borrow(), "the socket closed before the handler read {stanza:?}");
    assert_eq!((stanza.tag.as_ref(), stanza.attr_str("code").unwrap()), ("stream:error", "515"));
    reader.abort(); // the client closes and logs in again, as after any 515

    let stream = TcpStream::connect(&addr).await.unwrap();
    let login = Companion::login_payload(PHONE, device).unwrap();
    let mut raw =
        Raw::connect(stream, &url, sim.root_key(), NOW, &companion.noise, &login, &mut rng)
            .await
            .unwrap();
    assert_eq!(raw.recv().await.unwrap().tag, "success");
}
