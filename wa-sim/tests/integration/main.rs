//! wa-sim's integration tests, one binary: a companion written with wa-session's Noise initiator
//! and strict certificate verifier pairs with the simulator and logs in.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod faults;
mod media;
mod persist;
mod phone;
mod wss;

use std::{sync::Arc, time::Duration};

use prost::Message as _;
use rand::{SeedableRng as _, rngs::StdRng};
use tokio::net::TcpStream;
use wa_proto::{
    Jid, Node,
    proto::{adv::SignedDeviceIdentity, handshake::ClientPayload},
};
use wa_session::KeyPair;
use wa_sim::{
    Error, ManualClock, Sim, SimConfig,
    companion::{self, Companion},
};

const NOW: u64 = 1_800_000_000;
const PHONE: &str = "15550002222";

/// wa-sim's own test companion over plain TCP, with failures as panics.
struct Client<S = TcpStream>(companion::Client<S>);

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Client<S> {
    async fn recv(&mut self) -> Node {
        self.0.recv().await.unwrap()
    }

    async fn send(&mut self, node: &Node) {
        self.0.send(node).await.unwrap();
    }
}

impl Client {
    /// Connects and completes the handshake, verifying the chain strictly under the sim's root.
    async fn connect(sim: &Sim, url: &str, noise_key: &KeyPair, payload: &ClientPayload) -> Self {
        let stream =
            TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches("/ws/chat"))
                .await
                .unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        let client = companion::Client::connect(
            stream,
            url,
            sim.root_key(),
            NOW,
            noise_key,
            payload,
            &mut rng,
        )
        .await
        .unwrap();
        Self(client)
    }
}

/// Companion keys from a seeded generator.
fn new_companion(rng: &mut StdRng) -> Companion {
    Companion::generate(rng)
}

/// The companion's answer to pair-success; `tamper` flips a bit of the device signature.
fn sign(companion: &Companion, pair_success: &Node, tamper: bool) -> Node {
    let answer = companion.sign_pair_success(pair_success, &mut StdRng::seed_from_u64(8)).unwrap();
    if !tamper {
        return answer;
    }
    let identity = answer.child("pair-device-sign").unwrap().child("device-identity").unwrap();
    let mut signed = SignedDeviceIdentity::decode(identity.content_bytes().unwrap()).unwrap();
    signed.device_signature.as_mut().unwrap()[5] ^= 1;
    Node::builder("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "result")
        .attr("id", answer.attr_str("id").unwrap().to_owned())
        .children([Node::builder("pair-device-sign")
            .children([Node::builder("device-identity")
                .attr("key-index", identity.attr_str("key-index").unwrap().to_owned())
                .bytes(signed.encode_to_vec())
                .build()])
            .build()])
        .build()
}

async fn start(seed: u64) -> (Sim, String) {
    let sim = Sim::new(SimConfig {
        seed: Some(seed),
        clock: Arc::new(ManualClock::new(NOW)),
        ..SimConfig::default()
    });
    sim.create_account(PHONE, Some("100200300400500")).unwrap();
    let addr = sim.serve_ws("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (sim, format!("ws://{addr}/ws/chat"))
}

/// Registers, takes the first ref, and lets the phone scan; returns the pair-success and the
/// scan's outcome handle.
async fn register_and_scan(
    sim: &Sim,
    url: &str,
    companion: &Companion,
    tamper: bool,
) -> (Client, Result<wa_sim::PairedDevice, Error>) {
    register_and_scan_as(sim, url, companion, tamper, PHONE).await
}

/// [`register_and_scan`] with the phone of account `phone`.
async fn register_and_scan_as(
    sim: &Sim,
    url: &str,
    companion: &Companion,
    tamper: bool,
    phone: &'static str,
) -> (Client, Result<wa_sim::PairedDevice, Error>) {
    let mut client =
        Client::connect(sim, url, &companion.noise, &companion.registration_payload()).await;
    let pair_device = client.recv().await;
    let refs: Vec<_> = pair_device.child("pair-device").unwrap().children_with_tag("ref").collect();
    assert_eq!(refs.len(), 6);
    let reference = String::from_utf8(refs[0].content_bytes().unwrap().to_vec()).unwrap();
    client
        .send(
            &Node::builder("iq")
                .attr("type", "result")
                .attr("id", pair_device.attr_str("id").unwrap().to_owned())
                .build(),
        )
        .await;
    let scanner = sim.clone();
    let qr = companion.qr(&reference);
    let scan = tokio::spawn(async move { scanner.scan(&qr, phone).await });
    let pair_success = client.recv().await;
    let device = pair_success.child("pair-success").unwrap().child("device").unwrap();
    assert_eq!(device.attr_jid("jid").unwrap().user, phone);
    if phone == PHONE {
        assert_eq!(device.attr_jid("lid").unwrap().user, "100200300400500");
    }
    client.send(&sign(companion, &pair_success, tamper)).await;
    let outcome = tokio::time::timeout(Duration::from_secs(5), scan).await.unwrap().unwrap();
    (client, outcome)
}

#[tokio::test]
async fn pairs_logs_in_and_refuses_strangers() {
    let (sim, url) = start(1).await;
    let mut rng = StdRng::seed_from_u64(2);
    let companion = new_companion(&mut rng);
    let (mut client, outcome) = register_and_scan(&sim, &url, &companion, false).await;
    let paired = outcome.unwrap();
    assert_eq!((paired.device, paired.jid.as_str()), (1, "15550002222:1@s.whatsapp.net"));
    let end = client.recv().await;
    assert_eq!((end.tag.as_ref(), end.attr_str("code").unwrap()), ("stream:error", "515"));

    // Login with the paired device's noise key.
    let login = ClientPayload {
        username: Some(PHONE.parse().unwrap()),
        device: Some(1),
        passive: Some(true),
        ..Default::default()
    };
    let mut client = Client::connect(&sim, &url, &companion.noise, &login).await;
    let success = client.recv().await;
    assert_eq!(success.tag, "success");
    assert_eq!(success.attr_str("t").unwrap(), NOW.to_string());
    // The device's own LID, as pair-success gave it (whatsmeow connectionevents.go
    // `handleConnectSuccess` compares it with the LID stored at pairing).
    assert_eq!(success.attr_jid("lid").unwrap().to_string(), "100200300400500:1@lid");
    let count = Node::builder("iq")
        .attr("id", "c1")
        .attr("type", "get")
        .attr("xmlns", "encrypt")
        .children([Node::new("count")])
        .build();
    client.recv().await; // <ib><offline/></ib>
    client.send(&count).await;
    let answer = client.recv().await;
    assert_eq!(answer.child("count").unwrap().attr_str("value").unwrap(), "0");

    // Another noise key claiming the same device, and an unknown device: failure 401.
    let stranger = KeyPair::generate(&mut rng);
    let mut other = Client::connect(&sim, &url, &stranger, &login).await;
    assert_eq!(other.recv().await.attr_str("reason").unwrap(), "401");
    let unknown = ClientPayload { device: Some(7), ..login.clone() };
    let mut other = Client::connect(&sim, &url, &companion.noise, &unknown).await;
    assert_eq!(other.recv().await.attr_str("reason").unwrap(), "401");

    // Kick: the live connection gets 401 device_removed; the next login is refused.
    assert_eq!(sim.kick(PHONE, 1).unwrap(), 1);
    let end = client.recv().await;
    assert_eq!(end.child("conflict").unwrap().attr_str("type").unwrap(), "device_removed");
    let mut again = Client::connect(&sim, &url, &companion.noise, &login).await;
    assert_eq!(again.recv().await.tag, "failure");
    let counters = sim.counters();
    assert_eq!((counters.pairings, counters.logins, counters.login_failures), (1, 1, 3));
}

#[tokio::test]
async fn a_bad_device_signature_fails_pairing() {
    let (sim, url) = start(3).await;
    let mut rng = StdRng::seed_from_u64(4);
    let companion = new_companion(&mut rng);
    let (_client, outcome) = register_and_scan(&sim, &url, &companion, true).await;
    assert!(matches!(outcome, Err(Error::Session(_))), "{outcome:?}");
    assert_eq!(sim.devices(PHONE).unwrap().len(), 1);
    assert_eq!(sim.counters().pairing_failures, 1);
    // A QR nobody shows.
    assert!(matches!(
        sim.scan(&companion.qr("2@nobody"), PHONE).await,
        Err(Error::NoPairingConnection)
    ));
}

#[test]
fn the_same_seed_gives_the_same_keys() {
    let a = Sim::new(SimConfig { seed: Some(11), ..SimConfig::default() });
    let b = Sim::new(SimConfig { seed: Some(11), ..SimConfig::default() });
    let c = Sim::new(SimConfig { seed: Some(12), ..SimConfig::default() });
    assert_eq!(a.root_key(), b.root_key());
    assert_eq!(a.static_key(), b.static_key());
    assert_ne!(a.root_key(), c.root_key());
    assert_eq!(
        a.create_account("15550003333", None).unwrap(),
        b.create_account("15550003333", None).unwrap()
    );
}

const BOB: &str = "15550004444";
const CAROL: &str = "15550005555";

/// Pairs `companion` with account `phone`; returns its device id.
async fn pair(sim: &Sim, url: &str, companion: &Companion, phone: &'static str) -> u16 {
    let (mut client, outcome) = register_and_scan_as(sim, url, companion, false, phone).await;
    assert_eq!(client.recv().await.attr_str("code").unwrap(), "515");
    outcome.unwrap().device
}

/// Logs in; returns the client, the stanzas between `<success>` and `<ib>`, and the offline count.
async fn login(
    sim: &Sim,
    url: &str,
    companion: &Companion,
    phone: &str,
) -> (Client, Vec<Node>, u64) {
    let (client, _, queued, count) = login_with_success(sim, url, companion, phone).await;
    (client, queued, count)
}

/// [`login`], also returning the `<success>` stanza.
async fn login_with_success(
    sim: &Sim,
    url: &str,
    companion: &Companion,
    phone: &str,
) -> (Client, Node, Vec<Node>, u64) {
    let payload = ClientPayload {
        username: Some(phone.parse().unwrap()),
        device: Some(1),
        passive: Some(true),
        ..Default::default()
    };
    let mut client = Client::connect(sim, url, &companion.noise, &payload).await;
    let success = client.recv().await;
    assert_eq!(success.tag, "success");
    let mut queued = Vec::new();
    loop {
        let node = client.recv().await;
        if node.tag == "ib" {
            let count = node.child("offline").unwrap().attr_u64("count").unwrap();
            return (client, success, queued, count);
        }
        queued.push(node);
    }
}

fn text_message(id: &str, to: &str, device_jids: &[&str], ciphertext: &[u8]) -> Node {
    Node::builder("message")
        .attr("id", id.to_owned())
        .attr("to", to.parse::<Jid>().unwrap())
        .attr("type", "text")
        .children([
            Node::builder("participants")
                .children(device_jids.iter().map(|jid| {
                    Node::builder("to")
                        .attr("jid", jid.parse::<Jid>().unwrap())
                        .children([Node::builder("enc")
                            .attr("v", "2")
                            .attr("type", "pkmsg")
                            .bytes(ciphertext.to_vec())
                            .build()])
                        .build()
                }))
                .build(),
            Node::builder("device-identity").bytes(vec![7, 7]).build(),
        ])
        .build()
}

fn ack(class: &str, id: &str) -> Node {
    Node::builder("ack").attr("class", class.to_owned()).attr("id", id.to_owned()).build()
}

#[tokio::test]
async fn routes_messages_queues_offline_and_relays_receipts() {
    let (sim, url) = start(3).await;
    sim.create_account(BOB, Some("900800700600500")).unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    let mut companion = || new_companion(&mut rng);
    let (alice, bob) = (companion(), companion());
    assert_eq!(pair(&sim, &url, &alice, PHONE).await, 1);
    assert_eq!(pair(&sim, &url, &bob, BOB).await, 1);
    let carol = companion();
    sim.create_account(CAROL, None).unwrap();
    assert_eq!(pair(&sim, &url, &carol, CAROL).await, 1);

    // Bob is offline: Alice's message is acked by the server and queued for bob:1. (Bob's phone,
    // device 0, is left out: it would decrypt, and these ciphertexts are fake; see phone.rs.)
    let (mut a, queued, count) = login(&sim, &url, &alice, PHONE).await;
    assert!(queued.is_empty() && count == 0);
    a.send(&text_message(
        "M1",
        "15550004444@s.whatsapp.net",
        // Carol's device is not in this chat: the server drops that copy.
        &["15550004444:1@s.whatsapp.net", "15550005555:1@s.whatsapp.net"],
        b"secret",
    ))
    .await;
    let server_ack = a.recv().await;
    assert_eq!(
        (
            server_ack.tag.as_ref(),
            server_ack.attr_str("class").unwrap(),
            server_ack.attr_str("id").unwrap()
        ),
        ("ack", "message", "M1")
    );

    let queued_at = |phone: &str| {
        sim.devices(phone).unwrap().iter().map(|d| (d.device, d.queued)).collect::<Vec<_>>()
    };
    assert_eq!(queued_at(BOB), [(0, 0), (1, 1)]);
    assert_eq!(queued_at(CAROL), [(0, 0), (1, 0)]);

    // Bob logs in: the queued message, then <ib><offline count="1"/>. Not acked: redelivered.
    for _ in 0..2 {
        let (b, queued, count) = login(&sim, &url, &bob, BOB).await;
        assert_eq!((queued.len(), count), (1, 1));
        let m = &queued[0];
        assert_eq!(m.tag, "message");
        assert_eq!(m.attr_str("id").unwrap(), "M1");
        assert_eq!(m.attr_jid("from").unwrap().to_string(), "15550002222:1@s.whatsapp.net");
        assert_eq!(m.attr_jid("sender_lid").unwrap().to_string(), "100200300400500:1@lid");
        assert_eq!(m.attr_str("type").unwrap(), "text");
        assert_eq!(m.attr_str("t").unwrap(), NOW.to_string());
        assert!(m.attr("recipient").is_none());
        let enc = m.child("enc").unwrap();
        assert_eq!(
            (enc.attr_str("type").unwrap(), enc.content_bytes().unwrap()),
            ("pkmsg", &b"secret"[..])
        );
        assert_eq!(m.child("device-identity").unwrap().content_bytes().unwrap(), [7, 7]);
        drop(b);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Acked, then a delivery receipt relayed to Alice's device.
    let (mut b, queued, _) = login(&sim, &url, &bob, BOB).await;
    assert_eq!(queued.len(), 1);
    b.send(&ack("message", "M1")).await;
    b.send(
        &Node::builder("receipt")
            .attr("id", "M1")
            .attr("to", "15550002222:1@s.whatsapp.net".parse::<Jid>().unwrap())
            .build(),
    )
    .await;
    let receipt_ack = b.recv().await;
    assert_eq!(
        (receipt_ack.attr_str("class").unwrap(), receipt_ack.attr_str("id").unwrap()),
        ("receipt", "M1")
    );
    let receipt = a.recv().await;
    assert_eq!(receipt.tag, "receipt");
    assert_eq!(receipt.attr_str("id").unwrap(), "M1");
    assert_eq!(receipt.attr_jid("from").unwrap().to_string(), "15550004444:1@s.whatsapp.net");
    assert!(receipt.attr("type").is_none());
    a.send(&ack("receipt", "M1")).await;

    // Live delivery in LID addressing, while Bob is connected.
    a.send(&text_message("M2", "900800700600500@lid", &["900800700600500:1@lid"], b"two")).await;
    assert_eq!(a.recv().await.attr_str("id").unwrap(), "M2");
    let m = b.recv().await;
    assert_eq!(m.attr_str("id").unwrap(), "M2");
    assert_eq!(m.attr_jid("from").unwrap().to_string(), "100200300400500:1@lid");
    assert_eq!(m.attr_jid("sender_pn").unwrap().to_string(), "15550002222:1@s.whatsapp.net");
    b.send(&ack("message", "M2")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(b);
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Everything acked: nothing queued on the next logins.
    let (_b, queued, count) = login(&sim, &url, &bob, BOB).await;
    assert_eq!((queued.len(), count), (0, 0));
    drop(a);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (mut a, queued, count) = login(&sim, &url, &alice, PHONE).await;
    assert_eq!((queued.len(), count), (0, 0));
    let counters = sim.counters();
    // M1, M2 and Bob's receipt to Alice's companion; the copy of the receipt for Alice's phone
    // is counted apart.
    assert_eq!((counters.routed, counters.acked, counters.to_phones), (3, 3, 1));

    // A kicked device's queue is dropped.
    drop(_b);
    tokio::time::sleep(Duration::from_millis(50)).await;
    a.send(&text_message(
        "M3",
        "15550004444@s.whatsapp.net",
        &["15550004444:1@s.whatsapp.net"],
        b"3",
    ))
    .await;
    assert_eq!(a.recv().await.attr_str("id").unwrap(), "M3");
    assert_eq!(queued_at(BOB), [(0, 0), (1, 1)]);
    sim.kick(BOB, 1).unwrap();
    assert_eq!(queued_at(BOB), [(0, 0), (1, 0)]);
}

#[tokio::test]
async fn an_account_links_at_most_four_companions() {
    let (sim, url) = start(21).await;
    let mut rng = StdRng::seed_from_u64(22);
    let mut devices = Vec::new();
    for _ in 0..wa_sim::MAX_COMPANIONS {
        devices.push(pair(&sim, &url, &new_companion(&mut rng), PHONE).await);
    }
    assert_eq!(devices, [1, 2, 3, 4]);

    // A fifth: the phone refuses to scan, and no pair-success reaches the companion.
    let fifth = new_companion(&mut rng);
    let mut client = Client::connect(&sim, &url, &fifth.noise, &fifth.registration_payload()).await;
    let pair_device = client.recv().await;
    let refs = pair_device.child("pair-device").unwrap();
    let first = refs.children_with_tag("ref").next().unwrap();
    let reference = String::from_utf8(first.content_bytes().unwrap().to_vec()).unwrap();
    assert!(matches!(
        sim.scan(&fifth.qr(&reference), PHONE).await,
        Err(Error::TooManyCompanions(phone)) if phone == PHONE
    ));
    let key = new_companion(&mut rng);
    assert!(matches!(
        sim.register_companion(PHONE, key.noise.public, key.identity.public, 7),
        Err(Error::TooManyCompanions(_))
    ));
    assert_eq!(sim.devices(PHONE).unwrap().len(), 5);

    // Removing one makes room; the same waiting connection can now be paired.
    sim.kick(PHONE, devices[0]).unwrap();
    let qr = fifth.qr(&reference);
    let device = sim.scan(&qr, PHONE);
    let (outcome, ()) = tokio::join!(device, async {
        let pair_success = client.recv().await;
        client.send(&sign(&fifth, &pair_success, false)).await;
    });
    assert_eq!(outcome.unwrap().device, 5);
}

/// Difference 5 of issue 17: a message whose `<participants>` name the sending device itself is
/// not echoed back to it. Clients leave their own device out of the fan-out (Baileys
/// `src/Utils/signal.ts`, `extractDeviceJids`: "if me user, not this device"), and the real
/// server delivers nothing back to the connection that sent a message.
#[tokio::test]
async fn a_message_is_not_echoed_to_the_sending_device() {
    let (sim, url) = start(21).await;
    sim.create_account(BOB, Some("900800700600500")).unwrap();
    let mut rng = StdRng::seed_from_u64(22);
    let (alice, bob) = (new_companion(&mut rng), new_companion(&mut rng));
    assert_eq!(pair(&sim, &url, &alice, PHONE).await, 1);
    assert_eq!(pair(&sim, &url, &bob, BOB).await, 1);
    let (mut a, _, _) = login(&sim, &url, &alice, PHONE).await;
    let before = sim.counters().routed;
    a.send(&text_message(
        "E1",
        "15550004444@s.whatsapp.net",
        &["15550004444:1@s.whatsapp.net", "15550002222:1@s.whatsapp.net"],
        b"fake",
    ))
    .await;
    let ack = a.recv().await;
    assert_eq!((ack.tag.as_ref(), ack.attr_str("id").unwrap()), ("ack", "E1"));
    // A ping after it: the answer is the next stanza, no copy of E1 comes first.
    let ping = Node::builder("iq")
        .attr("id", "p1")
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .attr("to", Jid::server_jid())
        .children([Node::new("ping")])
        .build();
    a.send(&ping).await;
    let next = a.recv().await;
    assert_eq!((next.tag.as_ref(), next.attr_str("id").unwrap()), ("iq", "p1"));
    assert_eq!(sim.counters().routed, before + 1, "only Bob's device is routed to");
    let queued: Vec<_> = sim.devices(PHONE).unwrap().into_iter().map(|d| d.queued).collect();
    assert_eq!(queued, [0, 0]);
}

/// Difference 4 of issue 17: an iq the simulator does not implement is answered with the real
/// server's error for an unsupported request, `<error code="501" text="feature-not-implemented"/>`
/// from `s.whatsapp.net` (venomous0x/WhatsAPI#643, mgp25/Chat-API#349), never an empty success,
/// and every such namespace is counted.
#[tokio::test]
async fn unimplemented_iqs_get_501_and_are_counted_per_namespace() {
    let (sim, url) = start(23).await;
    let mut rng = StdRng::seed_from_u64(24);
    let alice = new_companion(&mut rng);
    assert_eq!(pair(&sim, &url, &alice, PHONE).await, 1);
    let (mut a, _, _) = login(&sim, &url, &alice, PHONE).await;
    let iq = |id: &str, xmlns: &str, child: &str| {
        Node::builder("iq")
            .attr("id", id.to_owned())
            .attr("type", "get")
            .attr("xmlns", xmlns.to_owned())
            .attr("to", Jid::server_jid())
            .children([Node::new(child.to_owned())])
            .build()
    };
    let requests = [
        ("u1", "w:sync:app:state", "sync"),
        ("u2", "w:stats", "add"),
        ("u3", "newsletter", "my_addons"),
        ("u4", "newsletter", "other"),
    ];
    for (id, xmlns, child) in requests {
        a.send(&iq(id, xmlns, child)).await;
        let answer = a.recv().await;
        assert_eq!(answer.attr_str("id").unwrap(), id);
        assert_eq!(answer.attr_str("type").unwrap(), "error", "{xmlns}");
        assert_eq!(answer.attr_jid("from").unwrap(), Jid::server_jid());
        let error = answer.child("error").unwrap();
        assert_eq!(
            (error.attr_str("code").unwrap(), error.attr_str("text").unwrap()),
            ("501", "feature-not-implemented")
        );
    }
    // An implemented one is still answered with its result and not counted.
    a.send(&iq("p1", "w:p", "ping")).await;
    assert_eq!(a.recv().await.attr_str("type").unwrap(), "result");
    // Baileys issues its privacy token after every 1:1 send (`issuePrivacyTokens`,
    // Socket/messages-send.js) and keeps the tokens of the answer (`storeTcTokensFromIqResult`).
    let tokens = Node::builder("iq")
        .attr("id", "t1")
        .attr("type", "set")
        .attr("xmlns", "privacy")
        .attr("to", Jid::server_jid())
        .children([Node::builder("tokens")
            .children([Node::builder("token")
                .attr("jid", "15550002222@s.whatsapp.net")
                .attr("t", "1700000000")
                .attr("type", "trusted_contact")
                .build()])
            .build()])
        .build();
    a.send(&tokens).await;
    let answer = a.recv().await;
    assert_eq!(answer.attr_str("type").unwrap(), "result");
    let token = answer.child("tokens").and_then(|t| t.child("token")).unwrap();
    assert_eq!(token.attr_str("type").unwrap(), "trusted_contact");
    assert_eq!(token.attr_str("t").unwrap(), "1700000000");
    assert_eq!(token.content_bytes().map(<[u8]>::len), Some(20));
    let counters = sim.counters();
    assert_eq!(counters.iqs_unhandled, 4);
    let namespaces: Vec<(&str, u64)> =
        counters.iqs_unhandled_namespaces.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(namespaces, [("newsletter", 2), ("w:stats", 1), ("w:sync:app:state", 1)]);
}

/// Difference 3 of issue 17: after a stream error the server leaves the closing to the client
/// for `SimConfig::stream_close_delay` (reading and discarding what it sends meanwhile), then
/// closes the socket itself.
#[tokio::test]
async fn after_a_stream_error_the_server_waits_then_closes() {
    let sim = Sim::new(SimConfig {
        seed: Some(25),
        clock: Arc::new(ManualClock::new(NOW)),
        stream_close_delay: Duration::from_millis(300),
        ..SimConfig::default()
    });
    sim.create_account(PHONE, Some("100200300400500")).unwrap();
    let addr = sim.serve_ws("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("ws://{addr}/ws/chat");
    let mut rng = StdRng::seed_from_u64(26);
    let alice = new_companion(&mut rng);
    assert_eq!(pair(&sim, &url, &alice, PHONE).await, 1);
    let (mut a, _, _) = login(&sim, &url, &alice, PHONE).await;
    assert_eq!(sim.inject(&wa_sim::Target::default(), wa_sim::StreamError::Unavailable), 1);
    let end = a.recv().await;
    assert_eq!(end.attr_str("code").unwrap(), "503");
    // The socket is still open: what the client sends is taken (and ignored).
    a.send(&Node::builder("presence").attr("type", "unavailable").build()).await;
    // Then the server closes it (within the test's guard, well after the delay).
    let closed = tokio::time::timeout(Duration::from_secs(5), a.0.recv()).await.unwrap();
    assert!(closed.is_err(), "{closed:?}");
}
