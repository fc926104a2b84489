//! wab24 as the CRM's message provider (issue 20; REST docs `api-reference/messageservice/`):
//! one provider per line, kept in step with the lines; the CRM's message through a provider
//! reaches the phone in wa-sim and the portal gets its statuses
//! (`messageservice.message.status.update`: sent, delivered; WhatsApp's "read" has no Bitrix24
//! status); a number not on WhatsApp and the anti-ban guard give `failed`; a call without our
//! signed handler token, or altered, is refused and sends nothing.

use std::time::Duration;

use serde_json::{Value, json};
use wab24::{
    open_channels::{registration, sms_senders, worker::deliver_due},
    runtime::cold_guard::OutreachLimits,
};

use crate::app::{ALPHA, App, BETA, Sse, start, start_with_outreach};

const LINE_PHONE: &str = "79990000501";
const NEW_A: &str = "79160000501";
const NEW_B: &str = "79160000502";
const NOT_ON_WA: &str = "79160000599";

/// The providers registered on `member`'s portal.
fn senders(app: &App, member: &str) -> Vec<Value> {
    app.sim.senders(member)
}

fn handler_of(app: &App, line: i64) -> String {
    let code = format!("wab24_line_{line}");
    let s = senders(app, ALPHA).into_iter().find(|s| s["CODE"] == code.as_str());
    s.unwrap_or_else(|| panic!("no provider {code}"))["HANDLER"].as_str().unwrap().to_owned()
}

/// Waits (up to 10 s) until `member`'s providers are `n`.
async fn wait_senders(app: &App, member: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let s = senders(app, member);
        if s.len() == n {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{member} has not {n} providers: {:?}", senders(app, member));
}

/// Runs the Bitrix24 outbox until nothing is left to do (the clock moves past backoffs).
async fn drain(app: &App) {
    let mut idle = 0;
    for _ in 0..20 {
        let round = deliver_due(&app.state).await;
        if round.done + round.retried + round.failed == 0 {
            idle += 1;
            if idle == 2 {
                return;
            }
        }
        app.clock.advance(300);
    }
}

struct Line {
    line: i64,
    events: Sse,
}

/// alpha installed; a line "Sales" paired with wa-sim and connected; its provider registered.
async fn connected_line(app: &App) -> Line {
    app.install(ALPHA).await;
    app.install(BETA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000501")).unwrap();
    for (phone, lid) in [(NEW_A, "100000000000501"), (NEW_B, "100000000000502")] {
        app.wa.create_account(phone, Some(lid)).unwrap();
    }
    let admin = app.token(ALPHA, 1).await;
    let mut events = Sse::open(app, &admin).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    let qr = events.find("line.status", |d| d["line_id"] == line && d["state"] == "qr").await;
    app.wa.scan(qr["qr"].as_str().unwrap(), LINE_PHONE).await.unwrap();
    events.find("line.status", |d| d["line_id"] == line && d["state"] == "connected").await;
    wait_senders(app, ALPHA, 1).await;
    Line { line, events }
}

/// The CRM sends `text` to `to` through the line's provider (as user 2); the handler's answer.
async fn crm_sends(app: &App, line: i64, to: &str, text: &str) -> (String, Value) {
    let sent =
        app.sim.send_sms(ALPHA, &format!("wab24_line_{line}"), 2, to, text, 0).await.unwrap();
    assert_eq!(sent.delivery.status, 200, "{}", sent.delivery.body);
    (sent.message_id, serde_json::from_str(&sent.delivery.body).unwrap())
}

/// What `phone` received from the line.
fn texts_received(app: &App, phone: &str) -> Vec<String> {
    app.wa
        .phone_received(phone)
        .unwrap()
        .into_iter()
        .filter(|m| !m.from_me)
        .filter_map(|m| m.text)
        .collect()
}

/// RD `messageservice-sender-add.md` (CODE, TYPE SMS, HANDLER, NAME), `-sender-delete.md`,
/// `-sender-list.md`.
#[tokio::test]
async fn providers_are_registered_and_removed_with_the_lines() {
    let app = start().await;
    app.install(ALPHA).await;
    assert!(senders(&app, ALPHA).is_empty(), "no line, no provider");
    let admin = app.token(ALPHA, 1).await;
    let mk = |name: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let a = app.call("POST", "/api/lines", Some(admin), Some(json!({"name": name}))).await;
            assert_eq!(a.status, 201, "{}", a.body);
            a.json()["id"].as_i64().unwrap()
        }
    };
    // Bitrix24 away when the line is created: the portal stays marked, nothing is lost.
    app.sim.add_fault(
        b24_sim::Fault::on(
            "messageservice.sender.add",
            b24_sim::FaultAction::error(b24_client::ErrorCode::InternalServerError),
        )
        .times(50),
    );
    let sales = mk("Sales").await;
    for _ in 0..200 {
        if app.state.stale_senders().lock().unwrap().contains(ALPHA) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.state.stale_senders().lock().unwrap().contains(ALPHA));
    assert!(senders(&app, ALPHA).is_empty());
    app.sim.clear_faults();
    // The worker's next round.
    assert_eq!(sms_senders::sync_stale(&app.state).await, 1);
    assert!(app.state.stale_senders().lock().unwrap().is_empty());
    let s = senders(&app, ALPHA);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["CODE"], format!("wab24_line_{sales}"));
    assert_eq!(s[0]["TYPE"], "SMS");
    assert_eq!(s[0]["NAME"], "WhatsApp: Sales");
    let handler = s[0]["HANDLER"].as_str().unwrap();
    assert!(handler.starts_with(&format!("{}/b24/messageservice/", app.base)), "{handler}");

    let support = mk("Support").await;
    wait_senders(&app, ALPHA, 2).await;
    let d = app.call("DELETE", &format!("/api/lines/{sales}"), Some(&admin), None).await;
    assert_eq!(d.status, 204, "{}", d.body);
    wait_senders(&app, ALPHA, 1).await;
    let codes: Vec<Value> = senders(&app, ALPHA).iter().map(|s| s["CODE"].clone()).collect();
    assert_eq!(codes, [json!(format!("wab24_line_{support}"))]);
    assert!(senders(&app, BETA).is_empty(), "another portal's lines are not alpha's");
    // Each added once, whatever the retries.
    let adds = app
        .sim
        .calls_to("messageservice.sender.add")
        .into_iter()
        .filter(|c| c.status == 200)
        .count();
    assert_eq!(adds, 2);

    // Removed by hand in the portal: put back at the next start.
    let portal = app.state.portal(ALPHA).await.unwrap();
    let _: Value = portal
        .call_as("messageservice.sender.delete", json!({"CODE": format!("wab24_line_{support}")}))
        .await
        .unwrap();
    registration::register(&app.state, ALPHA).await.unwrap();
    assert_eq!(senders(&app, ALPHA).len(), 1);
    let admin = app.token(ALPHA, 1).await;
    let audit = app.get("/api/audit?kind=b24.connector_call", &admin).await.json();
    let text = audit.to_string();
    assert!(text.contains("messageservice.sender"), "{audit}");
}

/// RD `messageservice-sender-add.md` ("Что приходит в обработчик") and
/// `messageservice-message-status-update.md` (sent, delivered).
#[tokio::test]
async fn a_crm_message_reaches_the_phone_and_the_portal_gets_its_statuses() {
    let app = start_with_outreach(OutreachLimits::default()).await;
    let Line { line, mut events } = connected_line(&app).await;
    let (b24_id, answer) = crm_sends(&app, line, "+7 (916) 000-05-01", "Your order is ready").await;
    assert_eq!(answer["status"], "queued", "{answer}");
    let id = answer["message_id"].as_i64().unwrap();
    events.find("message.status", |d| d["message_id"] == id && d["status"] == "delivered").await;
    assert_eq!(texts_received(&app, NEW_A), ["Your order is ready"]);
    // Bitrix24 away: the statuses wait in the outbox, in order, and none is lost.
    app.sim.add_fault(
        b24_sim::Fault::on(
            "messageservice.message.status.update",
            b24_sim::FaultAction::error(b24_client::ErrorCode::InternalServerError),
        )
        .times(50),
    );
    // (The line runtime stamps its items with the real clock, a little ahead of the test's.)
    app.clock.advance(5);
    let round = deliver_due(&app.state).await;
    assert!(round.retried >= 1 && round.done == 0, "{round:?}");
    assert!(app.sim.sms_statuses(ALPHA, &b24_id).is_empty());
    app.sim.clear_faults();
    drain(&app).await;
    assert_eq!(app.sim.sms_statuses(ALPHA, &b24_id), ["sent", "delivered"]);

    // Bitrix24 calling again with the same message: nothing is sent twice.
    let handler = handler_of(&app, line);
    let form = b24_client::form::encode(&json!({
        "type": "SMS", "code": format!("wab24_line_{line}"), "message_id": b24_id,
        "message_to": NEW_A, "message_body": "Your order is ready", "module_id": "crm",
        "auth": {"member_id": ALPHA, "domain": "alpha.test"},
    }));
    let again = post_form(&app, &handler, form).await;
    assert_eq!(again.0, 200, "{}", again.1);
    assert_eq!(
        (again.1["duplicate"].clone(), again.1["message_id"].as_i64()),
        (json!(true), Some(id))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(texts_received(&app, NEW_A), ["Your order is ready"]);
    drain(&app).await;
    assert_eq!(app.sim.sms_statuses(ALPHA, &b24_id), ["sent", "delivered"]);
}

/// A number not on WhatsApp and the anti-ban guard's limit: `failed` (RD
/// `messageservice-message-status-update.md`), with the reason in the answer and the audit log.
#[tokio::test]
async fn not_on_whatsapp_and_the_guards_limit_give_failed_statuses() {
    let limits =
        OutreachLimits { per_hour: 1, per_day: 10, min_gap: Duration::ZERO, ..Default::default() };
    let app = start_with_outreach(limits).await;
    let Line { line, mut events } = connected_line(&app).await;
    let (nowa, answer) = crm_sends(&app, line, &format!("+{NOT_ON_WA}"), "Hi").await;
    assert_eq!(answer["status"], "failed", "{answer}");
    assert_eq!(answer["reason"], "this number is not on WhatsApp");
    let (bad, answer) = crm_sends(&app, line, "call me", "Hi").await;
    assert_eq!(answer["status"], "failed", "{answer}");
    let (first, answer) = crm_sends(&app, line, NEW_A, "Offer").await;
    assert_eq!(answer["status"], "queued", "{answer}");
    let (second, answer) = crm_sends(&app, line, NEW_B, "Offer").await;
    assert_eq!(answer["status"], "failed", "{answer}");
    assert!(answer["reason"].as_str().unwrap().contains("WhatsApp ban"), "{answer}");
    let id = app.sim.sms_statuses(ALPHA, &first);
    assert!(id.is_empty() || id == ["sent"] || id == ["sent", "delivered"]);
    events.find("message.status", |d| d["status"] == "delivered").await;
    drain(&app).await;
    for failed in [&nowa, &bad, &second] {
        assert_eq!(app.sim.sms_statuses(ALPHA, failed), ["failed"]);
    }
    assert_eq!(app.sim.sms_statuses(ALPHA, &first), ["sent", "delivered"]);
    assert!(texts_received(&app, NEW_B).is_empty());
    let admin = app.token(ALPHA, 1).await;
    let audit = app.get("/api/audit?kind=b24.connector_call", &admin).await.json();
    assert!(audit.to_string().contains("messageservice.handler"), "{audit}");
}

async fn post_form(app: &App, url: &str, body: String) -> (u16, Value) {
    let r = app
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The `application_token` is no secret: a call without our signed handler token, with an
/// altered one, or naming another portal or provider is refused and sends nothing.
#[tokio::test]
async fn forged_handler_calls_are_refused_and_send_nothing() {
    let app = start_with_outreach(OutreachLimits::default()).await;
    let Line { line, .. } = connected_line(&app).await;
    let handler = handler_of(&app, line);
    let app_token = app.sim.application_token(ALPHA).unwrap().expose().to_owned();
    let form = |member: &str, code: String| {
        b24_client::form::encode(&json!({
            "type": "SMS", "code": code, "message_id": "f0f0", "message_to": NEW_A,
            "message_body": "forged", "auth": {"member_id": member, "application_token": app_token},
        }))
    };
    let own = format!("wab24_line_{line}");
    let mut altered = handler.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let token = handler.rsplit('/').next().unwrap();
    let (payload, sig) = token.split_once('.').unwrap();
    use base64::Engine;
    let other_line = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("sms1\n{ALPHA}\n{}", line + 1));
    assert_ne!(payload, other_line);
    let cases = [
        (format!("{}/b24/messageservice/", app.base), form(ALPHA, own.clone()), 404),
        (format!("{}/b24/messageservice/nope", app.base), form(ALPHA, own.clone()), 403),
        (altered, form(ALPHA, own.clone()), 403),
        (
            format!("{}/b24/messageservice/{other_line}.{sig}", app.base),
            form(ALPHA, own.clone()),
            403,
        ),
        (handler.clone(), form(BETA, own.clone()), 403),
        (handler.clone(), form(ALPHA, format!("wab24_line_{}", line + 1)), 403),
    ];
    for (url, body, status) in cases {
        let (got, answer) = post_form(&app, &url, body).await;
        assert_eq!(got, status, "{url}: {answer}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(texts_received(&app, NEW_A).is_empty());
    let admin = app.token(ALPHA, 1).await;
    let list = app.get(&format!("/api/lines/{line}/conversations"), &admin).await.json();
    assert_eq!(list["conversations"].as_array().unwrap().len(), 0, "{list}");
    drain(&app).await;
    assert!(app.sim.calls_to("messageservice.message.status.update").is_empty());
}
