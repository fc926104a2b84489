//! The Open Channels connector killed with SIGKILL: a `wab24 serve` child process whose line
//! feeds an Open Line of b24-sim, with 500 customer messages (WhatsApp → Bitrix24, through
//! the outbox towards Bitrix24) and 500 operator messages (Bitrix24 → WhatsApp, through
//! `ONIMCONNECTORMESSAGEADD`) flowing when it is killed (`WAB24_RESTART_MESSAGES` changes the
//! count). Bitrix24 does not retry an online event, so the test plays its offline-event safety
//! net: an operator event that got no 200 is sent again until one does. After the restart every
//! customer message is in b24-sim's contact center exactly once and in order (by its WhatsApp
//! id), and every operator message reached the customer's phone exactly once.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use b24_sim::{
    Dialog, EventOptions, Fault, FaultAction, MessageAuthor, PortalSpec, Sim, SimConfig,
};
use serde_json::{Value, json};
use wa_sim::{PhoneContent, PhoneMessage};

use crate::restart::{Paired, Server, get, until_within};

const MEMBER: &str = "olrestart0member";
const LINE_PHONE: &str = "79990000401";
const CUSTOMERS: [&str; 4] = ["79160000401", "79160000402", "79160000403", "79160000404"];
/// Long enough for the claims of the killed process to run out (the worker's lease, 120 s)
/// and for everything held behind them to go through.
const WAIT: Duration = Duration::from_secs(420);

fn messages() -> usize {
    std::env::var("WAB24_RESTART_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(500)
}

/// The customer messages of a customer's chats in b24-sim, oldest first: WhatsApp ids.
fn in_bitrix24(b24: &Sim, customer: &str) -> Vec<String> {
    let mut ids = vec![];
    for session in b24.open_line_sessions(MEMBER) {
        if session.external_chat_id != customer {
            continue;
        }
        for m in b24.open_line_messages(MEMBER, session.chat_id) {
            if matches!(m.author, MessageAuthor::Customer(_)) && m.session_id == session.id {
                ids.extend(m.external_ids.iter().cloned());
            }
        }
    }
    ids
}

/// The Bitrix24 chat of a customer, once its first message made one.
fn chat_of(b24: &Sim, customer: &str) -> Option<u64> {
    b24.open_line_sessions(MEMBER)
        .iter()
        .rev()
        .find(|s| s.external_chat_id == customer && !s.closed)
        .map(|s| s.chat_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_amid_customer_and_operator_messages_loses_and_duplicates_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n = messages();
    let dir = tempfile::tempdir().unwrap();
    let loopback: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();

    let b24 = Sim::new(SimConfig::default());
    b24.start(loopback).await.unwrap();
    let mut spec = PortalSpec::new(MEMBER, "olrestart.test");
    spec.install_finished = false;
    b24.add_portal(spec);
    b24.set_rate_limit(MEMBER, b24_client::RateLimit { per_second: 1000.0, burst: 1000 });
    // Bitrix24 holds each answer to `imconnector.send.messages` 100 ms after committing, so
    // that the kill is likely to fall between Bitrix24 taking messages and the outbox marking
    // them done: the window the worker's recovery (looking the message up before a retry)
    // closes.
    b24.add_fault(
        Fault::on("imconnector.send.messages", FaultAction::TimeoutAfterCommit { ms: 100 })
            .portal(MEMBER),
    );
    let wa = wa_sim::Sim::new(wa_sim::SimConfig { seed: Some(41), ..wa_sim::SimConfig::default() });
    for (i, phone) in std::iter::once(&LINE_PHONE).chain(CUSTOMERS.iter()).enumerate() {
        wa.create_account(phone, Some(&format!("40000000000{i:04}"))).unwrap();
    }
    let ws = wa.serve_ws(loopback).await.unwrap();
    wa.serve_media(loopback, 1024 * 1024).await.unwrap();
    // b24-sim answers 1,000 requests a second here: the server's client may go as fast.
    let pace = [("WAB24_B24_REQUESTS_PER_SECOND", "1000"), ("WAB24_B24_REQUEST_BURST", "1000")];
    let (mut server, base) = Server::new(&b24, &wa, ws, dir.path(), &pace);
    let mut child = server.spawn();
    // Installed by its administrator (which registers the connector), who opens the app; a line
    // paired by its phone, fed to a new Open Line.
    let paired = Paired::start(&b24, &wa, &base, (MEMBER, "Support", LINE_PHONE), WAIT).await;
    let Paired { http, base, token, line } = &paired;
    let (line, call) = (*line, |m, p, b| paired.call(m, p, b));
    let r = call(reqwest::Method::POST, "/api/open-lines".into(), Some(json!({"name": "Support"})));
    let r = r.await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let open_line = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let patch = json!({"open_channel": "openline", "open_line_id": open_line});
    let r = call(reqwest::Method::PATCH, format!("/api/lines/{line}"), Some(patch));
    assert_eq!(r.await.unwrap().status().as_u16(), 200);
    let line_shows = |state: &'static str, status: &'static str| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let v = get(&http, format!("{base}/api/lines/{line}"), &token).await?;
            (v["state"] == state && v["open_channel_status"] == status).then_some(())
        }
    };
    until_within("the line connected and active in Bitrix24", WAIT, || {
        line_shows("connected", "active")
    })
    .await;

    // Each customer writes first: their chat opens in the contact center.
    let mut wa_ids: Vec<Vec<String>> = vec![vec![]; CUSTOMERS.len()];
    for (c, customer) in CUSTOMERS.iter().enumerate() {
        let m = PhoneMessage {
            to: LINE_PHONE.to_owned(),
            content: PhoneContent::Text(format!("hello-{c}")),
            quoted: None,
        };
        wa_ids[c].push(wa.phone_send(customer, m).await.unwrap());
    }
    let mut chats = vec![];
    for customer in CUSTOMERS {
        let b24 = b24.clone();
        chats.push(
            until_within("the customer's chat in Bitrix24", WAIT, || {
                let chat = chat_of(&b24, customer);
                async move { chat }
            })
            .await,
        );
    }

    // The streams: customers write n messages; operators answer n times, each event resent
    // until the server answers it with 200.
    let sent_in = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let wa_ids = Arc::new(Mutex::new(wa_ids));
    let inbound = {
        let (wa, sent_in, answered, wa_ids) =
            (wa.clone(), sent_in.clone(), answered.clone(), wa_ids.clone());
        tokio::spawn(async move {
            for i in 0..n {
                // In step with the operators, so that the kill falls in the middle of both.
                while answered.load(Ordering::SeqCst) + 10 < i {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let c = i % CUSTOMERS.len();
                let m = PhoneMessage {
                    to: LINE_PHONE.to_owned(),
                    content: PhoneContent::Text(format!("in-{i}")),
                    quoted: None,
                };
                let id = wa.phone_send(CUSTOMERS[c], m).await.unwrap();
                wa_ids.lock().unwrap().get_mut(c).unwrap().push(id);
                sent_in.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let events =
        EventOptions { url: Some(format!("{base}/b24/events")), ..EventOptions::default() };
    let outbound = {
        let (b24, answered, events, chats) =
            (b24.clone(), answered.clone(), events.clone(), chats.clone());
        tokio::spawn(async move {
            let mut resent = 0usize;
            for i in 0..n {
                let c = i % CUSTOMERS.len();
                let posted = b24
                    .operator_reply(
                        MEMBER,
                        Dialog::Chat(chats[c]),
                        &format!("op-{i}"),
                        &[],
                        events.clone(),
                    )
                    .await
                    .unwrap();
                let mut status = posted.deliveries.first().map_or(0, |d| d.status);
                while status != 200 {
                    resent += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let d = b24
                        .redeliver_operator_message(MEMBER, posted.message_id, events.clone())
                        .await
                        .unwrap();
                    status = d.first().map_or(0, |d| d.status);
                }
                answered.fetch_add(1, Ordering::SeqCst);
            }
            resent
        })
    };

    // SIGKILL a third of the way through both streams, then start again.
    until_within("a third of both streams", WAIT, || {
        let done =
            sent_in.load(Ordering::SeqCst) >= n / 3 && answered.load(Ordering::SeqCst) >= n / 3;
        async move { done.then_some(()) }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = (sent_in.load(Ordering::SeqCst), answered.load(Ordering::SeqCst));
    let mut child = server.spawn();
    inbound.await.unwrap();
    let resent = outbound.await.unwrap();
    assert!(at_kill.0 < n && at_kill.1 < n, "the kill came before the streams ended: {at_kill:?}");
    assert!(resent > 0, "some operator events found the server down and were sent again");

    // Every customer message in Bitrix24, once each and in order.
    let wa_ids = wa_ids.lock().unwrap().clone();
    for (c, customer) in CUSTOMERS.iter().enumerate() {
        let b24 = b24.clone();
        let want = wa_ids[c].len();
        until_within("every customer message in Bitrix24", WAIT, || {
            let have = in_bitrix24(&b24, customer);
            let all = wa_ids[c].iter().all(|id| have.contains(id));
            async move { (all && have.len() >= want).then_some(()) }
        })
        .await;
    }
    let mut duplicates = 0usize;
    for (c, customer) in CUSTOMERS.iter().enumerate() {
        let have = in_bitrix24(&b24, customer);
        duplicates += have.len().saturating_sub(wa_ids[c].len());
        assert_eq!(have, wa_ids[c], "customer {c}: each message once, in order");
    }

    // Every operator message on the customer's phone, under one WhatsApp id each.
    for (c, customer) in CUSTOMERS.iter().enumerate() {
        let want: Vec<String> =
            (c..n).step_by(CUSTOMERS.len()).map(|i| format!("op-{i}")).collect();
        let wa = wa.clone();
        let got = until_within("every operator message on the phone", WAIT, || {
            let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for m in wa.phone_received(customer).unwrap().into_iter().filter(|m| !m.from_me) {
                let Some(text) = m.text else { continue };
                let Some(op) = text.rsplit('\n').next().filter(|t| t.starts_with("op-")) else {
                    continue;
                };
                ids.entry(op.to_owned()).or_default().push(m.id);
            }
            let done = ids.len() >= want.len();
            async move { done.then_some(ids) }
        })
        .await;
        assert_eq!(got.keys().cloned().collect::<Vec<_>>(), {
            let mut w = want.clone();
            w.sort();
            w
        });
        for (text, mut list) in got {
            list.dedup();
            assert_eq!(list.len(), 1, "customer {c}: {text} arrived under several ids: {list:?}");
        }
    }
    let lookups = b24.calls_to("imopenlines.session.history.get").len();
    eprintln!(
        "open channels restart: {n} in + {n} operator, killed at {} in / {} operator, \
         {resent} operator events resent, {lookups} retried messages looked up in Bitrix24, \
         {duplicates} duplicates in Bitrix24",
        at_kill.0, at_kill.1
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
