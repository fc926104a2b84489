//! Faults: latency on frames sent and received (order kept), dropped stanzas, black-holed
//! connections; the same through the HTTP control API.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};

use rand::{SeedableRng as _, rngs::StdRng};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use wa_proto::Node;
use wa_sim::{Latency, Target};

use super::{BOB, Client, PHONE, login, new_companion, pair, start, text_message};

fn ping(id: &str) -> Node {
    Node::builder("iq")
        .attr("id", id.to_owned())
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .children([Node::new("ping")])
        .build()
}

fn to_bob(id: &str) -> Node {
    text_message(id, "15550004444@s.whatsapp.net", &["15550004444:1@s.whatsapp.net"], b"x")
}

fn bob() -> Target {
    Target { phone: Some(BOB.to_owned()), device: Some(1) }
}

/// Alice and Bob, one companion each, both logged in.
async fn alice_and_bob(seed: u64) -> (wa_sim::Sim, Client, Client) {
    let (sim, url) = start(seed).await;
    sim.create_account(BOB, None).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let (alice, bob) = (new_companion(&mut rng), new_companion(&mut rng));
    assert_eq!(pair(&sim, &url, &alice, PHONE).await, 1);
    assert_eq!(pair(&sim, &url, &bob, BOB).await, 1);
    let (a, _, _) = login(&sim, &url, &alice, PHONE).await;
    let (b, _, _) = login(&sim, &url, &bob, BOB).await;
    (sim, a, b)
}

#[tokio::test]
async fn latency_delays_frames_in_order_and_clears() {
    let (sim, mut a, mut b) = alice_and_bob(31).await;
    sim.set_latency(&bob(), Latency { send_ms: 300, receive_ms: 0 });
    let sent = Instant::now();
    for id in ["L1", "L2", "L3"] {
        a.send(&to_bob(id)).await;
    }
    // Alice is not covered: her acks come at once.
    for id in ["L1", "L2", "L3"] {
        assert_eq!(a.recv().await.attr_str("id").unwrap(), id);
    }
    assert!(sent.elapsed() < Duration::from_millis(250), "{:?}", sent.elapsed());
    // Bob gets all three, in order, none before 300 ms.
    for id in ["L1", "L2", "L3"] {
        let m = b.recv().await;
        assert_eq!(m.attr_str("id").unwrap(), id);
        assert!(sent.elapsed() >= Duration::from_millis(300), "{id} after {:?}", sent.elapsed());
    }
    assert!(sent.elapsed() < Duration::from_millis(1500), "{:?}", sent.elapsed());
    assert_eq!(sim.counters().delayed_out, 3);

    // Latency on what the simulator receives from Alice: her ping is handled 200 ms late.
    sim.set_latency(
        &Target { phone: Some(PHONE.to_owned()), device: None },
        Latency { send_ms: 0, receive_ms: 200 },
    );
    let asked = Instant::now();
    a.send(&ping("P1")).await;
    assert_eq!(a.recv().await.attr_str("id").unwrap(), "P1");
    assert!(asked.elapsed() >= Duration::from_millis(200), "{:?}", asked.elapsed());
    assert_eq!(sim.counters().delayed_in, 1);
    assert_eq!(sim.faults().len(), 2);

    assert_eq!(sim.clear_faults(), 2);
    let asked = Instant::now();
    a.send(&ping("P2")).await;
    assert_eq!(a.recv().await.attr_str("id").unwrap(), "P2");
    b.send(&ping("P3")).await;
    assert_eq!(b.recv().await.attr_str("id").unwrap(), "P3");
    assert!(asked.elapsed() < Duration::from_millis(200), "{:?}", asked.elapsed());
}

#[tokio::test]
async fn a_dropped_stanza_never_arrives_and_the_next_does() {
    let (sim, mut a, mut b) = alice_and_bob(32).await;
    sim.drop_stanzas(&bob(), 1);
    a.send(&to_bob("D1")).await;
    a.send(&to_bob("D2")).await;
    assert_eq!(a.recv().await.attr_str("id").unwrap(), "D1");
    assert_eq!(a.recv().await.attr_str("id").unwrap(), "D2");
    // The Noise stream is intact: D2 decrypts, D1 never came.
    assert_eq!(b.recv().await.attr_str("id").unwrap(), "D2");
    assert!(timeout(Duration::from_millis(300), b.recv()).await.is_err(), "D1 arrived");
    let counters = sim.counters();
    assert_eq!((counters.dropped, counters.routed), (1, 2));
    assert!(sim.faults().is_empty(), "the rule ends after one stanza");
    // D1 is still queued (never acked): it comes on Bob's next login.
    assert_eq!(sim.devices(BOB).unwrap()[1].queued, 2);
}

#[tokio::test]
async fn a_black_holed_connection_answers_nothing_but_stays_open() {
    let (sim, mut a, mut b) = alice_and_bob(33).await;
    assert_eq!(sim.black_hole(&bob()), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Neither a WhatsApp ping nor a WebSocket ping is answered, and the socket is not closed
    // (a close would end recv with an error at once).
    b.send(&ping("B1")).await;
    b.0.websocket().send(Message::Ping(vec![1, 2].into())).await.unwrap();
    let waited = timeout(Duration::from_millis(700), b.0.websocket().next()).await;
    assert!(waited.is_err(), "the dead socket answered or closed: {waited:?}");
    // Routed stanzas are not sent, but stay queued; the sender is still acked.
    a.send(&to_bob("B2")).await;
    assert_eq!(a.recv().await.attr_str("id").unwrap(), "B2");
    assert!(timeout(Duration::from_millis(300), b.recv()).await.is_err());
    let devices = sim.devices(BOB).unwrap();
    assert_eq!((devices[1].connections, devices[1].queued), (1, 1));
    let counters = sim.counters();
    assert_eq!((counters.black_holed, counters.dropped), (1, 1));
    // The control API can still close it; then it is gone.
    assert_eq!(sim.close(&bob()), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sim.devices(BOB).unwrap()[1].connections, 0);
}

#[tokio::test]
async fn faults_over_http() {
    let (sim, _url) = start(34).await;
    let control = sim.serve_control("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let base = format!("http://{control}");
    let post =
        |path: &str, body: serde_json::Value| http.post(format!("{base}{path}")).json(&body).send();
    let json = |res: reqwest::Response| async move {
        assert_eq!(res.status(), 200);
        res.json::<serde_json::Value>().await.unwrap()
    };
    let answer = json(
        post("/faults/latency", serde_json::json!({"phone": PHONE, "send_ms": 40})).await.unwrap(),
    )
    .await;
    assert_eq!(
        answer["faults"],
        serde_json::json!([{"phone": PHONE, "device": null, "kind": "latency", "send_ms": 40, "receive_ms": 0}])
    );
    let answer = json(
        post("/faults/drop", serde_json::json!({"phone": PHONE, "device": 1, "stanzas": 2}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer["faults"][1]["remaining"], 2);
    let res = post("/faults/drop", serde_json::json!({"stanzas": 0})).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(sim.faults().len(), 2);
    let listed = json(http.get(format!("{base}/faults")).send().await.unwrap()).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let answer = json(post("/faults/black-hole", serde_json::json!({})).await.unwrap()).await;
    assert_eq!(answer["black_holed"], 0);
    let answer = json(post("/faults/clear", serde_json::json!({})).await.unwrap()).await;
    assert_eq!(answer["cleared"], 2);
    assert!(sim.faults().is_empty());
    let pem = http.get(format!("{base}/certificate")).send().await.unwrap();
    assert_eq!(pem.status(), 200);
    assert_eq!(pem.text().await.unwrap(), sim.certificate_pem().unwrap());
    let counters = json(http.get(format!("{base}/counters")).send().await.unwrap()).await;
    for key in
        ["connections_open", "dropped", "delayed_out", "black_holed", "queued", "media_bytes"]
    {
        assert!(counters.get(key).is_some(), "{key} missing from {counters}");
    }
}
