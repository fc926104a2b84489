//! CRM routing killed with SIGKILL: a `wab24 serve` child process whose line creates a contact
//! and a lead for each new customer, killed while 40 new customers' first messages are being
//! routed (b24-sim holds each `crm.item.add` answer 100 ms after committing, so the kill is
//! likely to fall between Bitrix24 creating an item and the server recording it). After the
//! restart, once the killed process's claims ran out (the worker's lease, 120 s), every
//! customer has exactly one contact and one lead.
//!
//! REST docs: api-reference/crm/universal/crm-item-add.md (`originatorId`, `originId`),
//! crm/universal/crm-item-list.md (their filter), crm/duplicates/crm-duplicate-find-by-comm.md.

use std::time::Duration;

use b24_sim::{Fault, FaultAction, PortalSpec, Sim, SimConfig};
use serde_json::{Value, json};
use wa_sim::{PhoneContent, PhoneMessage};

use crate::restart::{Paired, Server, get, until_within};

const MEMBER: &str = "crmrestart0member";
const LINE_PHONE: &str = "79990000601";
const CUSTOMERS: usize = 40;
const WAIT: Duration = Duration::from_secs(420);

fn customer(n: usize) -> String {
    format!("7916{n:07}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_amid_crm_routing_creates_each_client_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let loopback: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let b24 = Sim::new(SimConfig::default());
    b24.start(loopback).await.unwrap();
    let mut spec = PortalSpec::new(MEMBER, "crmrestart.test");
    spec.install_finished = false;
    b24.add_portal(spec);
    b24.set_rate_limit(MEMBER, b24_client::RateLimit { per_second: 1000.0, burst: 1000 });
    b24.add_fault(
        Fault::on("crm.item.add", FaultAction::TimeoutAfterCommit { ms: 100 }).portal(MEMBER),
    );
    let wa = wa_sim::Sim::new(wa_sim::SimConfig { seed: Some(61), ..wa_sim::SimConfig::default() });
    wa.create_account(LINE_PHONE, Some("600000000000000")).unwrap();
    for n in 0..CUSTOMERS {
        wa.create_account(&customer(n), Some(&format!("6000000000{n:05}"))).unwrap();
    }
    let ws = wa.serve_ws(loopback).await.unwrap();
    wa.serve_media(loopback, 1024 * 1024).await.unwrap();
    let pace = [("WAB24_B24_REQUESTS_PER_SECOND", "1000"), ("WAB24_B24_REQUEST_BURST", "1000")];
    let (mut server, base) = Server::new(&b24, &wa, ws, dir.path(), &pace);
    let mut child = server.spawn();
    // A line paired by its phone, creating a contact and a lead for each new customer.
    let paired = Paired::start(&b24, &wa, &base, (MEMBER, "Sales", LINE_PHONE), WAIT).await;
    let Paired { http, base, token, line } = &paired;
    let (line, call) = (*line, |m, p, b| paired.call(m, p, b));
    let patch = json!({"crm": {"mode": "contact_lead"}});
    let r = call(reqwest::Method::PATCH, format!("/api/lines/{line}"), Some(patch));
    assert_eq!(r.await.unwrap().status().as_u16(), 200);
    until_within("the line connected", WAIT, || {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let v = get(&http, format!("{base}/api/lines/{line}"), &token).await?;
            (v["state"] == "connected").then_some(())
        }
    })
    .await;

    // Every customer writes first; the server is killed while their routing goes on.
    for n in 0..CUSTOMERS {
        let m = PhoneMessage {
            to: LINE_PHONE.to_owned(),
            content: PhoneContent::Text(format!("hello-{n}")),
            quoted: None,
        };
        wa.phone_send(&customer(n), m).await.unwrap();
    }
    until_within("a quarter of the contacts", WAIT, || {
        let done = b24.crm_items(MEMBER, 3).len() >= CUSTOMERS / 4;
        async move { done.then_some(()) }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = (b24.crm_items(MEMBER, 3).len(), b24.crm_items(MEMBER, 1).len());
    let mut child = server.spawn();

    until_within("every customer's contact and lead", WAIT, || {
        let done = b24.crm_items(MEMBER, 3).len() >= CUSTOMERS
            && b24.crm_items(MEMBER, 1).len() >= CUSTOMERS;
        async move { done.then_some(()) }
    })
    .await;
    // The killed process's claims come back after their lease (120 s): whatever they still
    // held is done by then; nothing may be created twice.
    tokio::time::sleep(Duration::from_secs(130)).await;
    let contacts = b24.crm_items(MEMBER, 3);
    let leads = b24.crm_items(MEMBER, 1);
    assert!(at_kill.0 < CUSTOMERS, "the kill came before the routing ended: {at_kill:?}");
    assert_eq!(contacts.len(), CUSTOMERS, "one contact per customer");
    assert_eq!(leads.len(), CUSTOMERS, "one lead per customer");
    for n in 0..CUSTOMERS {
        let digits = customer(n);
        let of = |items: &[Value]| {
            items
                .iter()
                .filter(|i| i["fm"][0]["value"].as_str() == Some(format!("+{digits}").as_str()))
                .count()
        };
        assert_eq!((of(&contacts), of(&leads)), (1, 1), "customer {digits}");
    }
    let lookups = b24
        .calls_to("crm.item.list")
        .iter()
        .filter(|c| c.params["filter"]["originatorId"] == "wab24")
        .count();
    eprintln!(
        "crm restart: {CUSTOMERS} new customers, killed at {} contacts / {} leads, {lookups} \
         lookups by origin after retries",
        at_kill.0, at_kill.1
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
