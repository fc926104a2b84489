//! Writing first (issue 20): a chat opened by phone number on a connected line, the number
//! checked through WhatsApp's usync contact query (wa-sim answers from its accounts); a number
//! not on WhatsApp is a clear 422; only the line's assigned user and administrators may; and the
//! anti-ban guard refuses cold messages over the line's limits while replies to customers who
//! wrote pass.

use std::time::Duration;

use serde_json::{Value, json};
use wa_sim::{PhoneContent, PhoneMessage};
use wab24::runtime::cold_guard::OutreachLimits;

use crate::app::{ALPHA, App, BETA, Sse, start_with_outreach};

const LINE_PHONE: &str = "79990000401";
/// Customers on WhatsApp who never wrote to the line.
const NEW_A: &str = "79160000401";
const NEW_B: &str = "79160000402";
/// A customer who writes first.
const WROTE: &str = "79160000409";
/// A number nobody registered on WhatsApp.
const NOT_ON_WA: &str = "79160000499";

struct Line {
    admin: String,
    /// User 2, the line's assigned user.
    assigned: String,
    line: i64,
    events: Sse,
}

/// alpha installed; a line assigned to user 2, paired with wa-sim and connected.
async fn connected_line(app: &App) -> Line {
    app.install(ALPHA).await;
    app.install(BETA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000401")).unwrap();
    for (phone, lid) in
        [(NEW_A, "100000000000401"), (NEW_B, "100000000000402"), (WROTE, "100000000000409")]
    {
        app.wa.create_account(phone, Some(lid)).unwrap();
    }
    let admin = app.token(ALPHA, 1).await;
    let assigned = app.token(ALPHA, 2).await;
    let mut events = Sse::open(app, &admin).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let a = app
        .call(
            "PUT",
            &format!("/api/lines/{line}/assignment"),
            Some(&admin),
            Some(json!({"user_id": 2})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    let qr = events.find("line.status", |d| d["line_id"] == line && d["state"] == "qr").await;
    app.wa.scan(qr["qr"].as_str().unwrap(), LINE_PHONE).await.unwrap();
    events.find("line.status", |d| d["line_id"] == line && d["state"] == "connected").await;
    Line { admin, assigned, line, events }
}

async fn open_chat(app: &App, token: &str, line: i64, phone: &str) -> crate::app::Answer {
    app.call(
        "POST",
        &format!("/api/lines/{line}/chats"),
        Some(token),
        Some(json!({"phone": phone})),
    )
    .await
}

async fn send(app: &App, token: &str, conversation: i64, text: &str) -> crate::app::Answer {
    app.call(
        "POST",
        &format!("/api/conversations/{conversation}/messages"),
        Some(token),
        Some(json!({"text": text, "idempotency_key": format!("wf-{conversation}-{text}")})),
    )
    .await
}

/// What `phone` received from the line (its own companions' copies left out).
fn texts_received(app: &App, phone: &str) -> Vec<String> {
    app.wa
        .phone_received(phone)
        .unwrap()
        .into_iter()
        .filter(|m| !m.from_me)
        .filter_map(|m| m.text)
        .collect()
}

#[tokio::test]
async fn a_number_on_whatsapp_opens_a_chat_and_the_first_message_reaches_the_phone() {
    let app = start_with_outreach(OutreachLimits::default()).await;
    let Line { admin, assigned, line, mut events } = connected_line(&app).await;

    // The assigned user types the number as people do: a new, cold conversation.
    let a = open_chat(&app, &assigned, line, "+7 (916) 000-04-01").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let opened = a.json();
    assert_eq!(opened["created"], true, "{opened}");
    assert_eq!(opened["conversation"]["line_id"], line);
    assert_eq!(opened["conversation"]["contact"]["jid"], format!("{NEW_A}@s.whatsapp.net"));
    assert_eq!(opened["conversation"]["contact"]["phone"], NEW_A);
    let outreach = &opened["outreach"];
    assert_eq!(outreach["cold"], true, "the panel warns before the first send: {outreach}");
    assert_eq!((outreach["per_hour"].as_i64(), outreach["per_day"].as_i64()), (Some(20), Some(60)));
    assert_eq!(
        (outreach["sent_last_hour"].as_i64(), outreach["next_at"].clone()),
        (Some(0), Value::Null)
    );
    let conversation = opened["conversation"]["id"].as_i64().unwrap();

    // Another viewer of the line (the administrator's panel) lists it at once, before any
    // message.
    let announced = events
        .find("conversation.opened", |d| d["conversation_id"].as_i64() == Some(conversation))
        .await;
    assert_eq!(announced["line_id"], line, "{announced}");

    // The same number, written otherwise, by the administrator: the same conversation.
    let again = open_chat(&app, &admin, line, "0079160000401").await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        (again.json()["created"].clone(), again.json()["conversation"]["id"].as_i64()),
        (json!(false), Some(conversation))
    );

    // Opening is audited once (finding the existing one opens nothing): the line as subject,
    // the user who opened it as actor, the conversation and the number in the payload.
    let audit = app.get("/api/audit?kind=conversation.opened", &admin).await.json();
    let records = audit["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{audit}");
    assert_eq!(records[0]["subject"], format!("line:{line}"), "{audit}");
    assert_eq!(records[0]["actor"], "user:2", "{audit}");
    let payload = &records[0]["payload"];
    assert_eq!(payload["conversation_id"].as_i64(), Some(conversation), "{payload}");
    assert_eq!(payload["line_id"], line, "{payload}");
    assert_eq!(payload["phone"], NEW_A, "{payload}");
    let list = app.get(&format!("/api/lines/{line}/conversations"), &assigned).await.json();
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1, "{list}");

    // The first message reaches the customer's phone.
    let sent = send(&app, &assigned, conversation, "Hello from the shop").await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let id = sent.json()["id"].as_i64().unwrap();
    events.find("message.status", |d| d["message_id"] == id && d["status"] == "delivered").await;
    assert_eq!(texts_received(&app, NEW_A), ["Hello from the shop"]);

    // The customer answers: in the same conversation, which is no longer cold.
    let answer = PhoneMessage {
        to: LINE_PHONE.to_owned(),
        content: PhoneContent::Text("Thanks, tell me more".to_owned()),
        quoted: None,
    };
    app.wa.phone_send(NEW_A, answer).await.unwrap();
    let stored = events.find("message.stored", |d| d["direction"] == "in").await;
    assert_eq!(stored["conversation_id"].as_i64(), Some(conversation), "{stored}");
    let warm = open_chat(&app, &assigned, line, NEW_A).await.json();
    assert_eq!(warm["outreach"]["cold"], false, "{warm}");

    // A number not on WhatsApp: a clear 422, not a failed send, and nothing created.
    let refused = open_chat(&app, &assigned, line, &format!("+{NOT_ON_WA}")).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.code(), "not_on_whatsapp");
    assert_eq!(refused.json()["error"]["message"], "this number is not on WhatsApp");
    let list = app.get(&format!("/api/lines/{line}/conversations"), &admin).await.json();
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1, "{list}");

    // What is not a phone number: 400 before WhatsApp is asked.
    for bad in ["", "call me", "+7 916", "8 (916) 000-04-01x"] {
        let a = open_chat(&app, &assigned, line, bad).await;
        assert_eq!((a.status, a.code()), (400, "bad_request".to_owned()), "{bad}: {}", a.body);
    }

    // Anyone else: the line does not exist for them.
    let not_assigned = app.token(ALPHA, 3).await;
    let other_admin = app.token(BETA, 1).await;
    for token in [&not_assigned, &other_admin] {
        let a = open_chat(&app, token, line, NEW_B).await;
        assert_eq!((a.status, a.code()), (404, "not_found".to_owned()), "{}", a.body);
    }
    let a = app
        .call("POST", &format!("/api/lines/{line}/chats"), None, Some(json!({"phone": NEW_B})))
        .await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn the_guard_refuses_cold_messages_over_the_limit_and_lets_replies_pass() {
    let limits = OutreachLimits {
        per_hour: 2,
        per_day: 10,
        min_gap: Duration::ZERO,
        ..OutreachLimits::default()
    };
    let app = start_with_outreach(limits).await;
    let Line { admin, assigned, line, mut events } = connected_line(&app).await;

    // A customer who wrote first.
    let hello = PhoneMessage {
        to: LINE_PHONE.to_owned(),
        content: PhoneContent::Text("Do you deliver?".to_owned()),
        quoted: None,
    };
    app.wa.phone_send(WROTE, hello).await.unwrap();
    let stored = events.find("message.stored", |d| d["direction"] == "in").await;
    let wrote = stored["conversation_id"].as_i64().unwrap();

    let a = open_chat(&app, &assigned, line, NEW_A).await.json();
    let b = open_chat(&app, &assigned, line, NEW_B).await.json();
    let (a, b) =
        (a["conversation"]["id"].as_i64().unwrap(), b["conversation"]["id"].as_i64().unwrap());
    assert_eq!(send(&app, &assigned, a, "offer 1").await.status, 202);
    assert_eq!(send(&app, &assigned, b, "offer 2").await.status, 202);

    // The third cold message within the hour: 429, saying when it frees up.
    let refused = send(&app, &assigned, b, "offer 3").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.code(), "cold_outreach_limit");
    let error = &refused.json()["error"];
    assert_eq!(error["limit"], "per_hour", "{error}");
    let wait = error["retry_after_secs"].as_u64().unwrap();
    assert!((3500..=3600).contains(&wait), "{error}");
    assert_eq!(refused.headers["retry-after"].to_str().unwrap(), wait.to_string());
    assert!(error["message"].as_str().unwrap().contains("WhatsApp ban"), "{error}");
    // Nothing was queued for it.
    let history = app.get(&format!("/api/conversations/{b}/messages"), &admin).await.json();
    assert_eq!(history["messages"].as_array().unwrap().len(), 1, "{history}");
    // The administrator is held to the line's limits too.
    assert_eq!(send(&app, &admin, a, "offer 4").await.status, 429);
    // A retried request of a message already queued is not a new message: it passes.
    assert_eq!(send(&app, &assigned, a, "offer 1").await.status, 202);
    // Opening a chat now says when the next cold message may go.
    let status = open_chat(&app, &assigned, line, NEW_A).await.json();
    assert_eq!(status["outreach"]["sent_last_hour"], 2, "{status}");
    assert!(status["outreach"]["next_at"].as_i64().is_some(), "{status}");

    // Replies to the customer who wrote are never limited.
    for n in 0..3 {
        let reply = send(&app, &assigned, wrote, &format!("reply {n}")).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    let opened = open_chat(&app, &assigned, line, WROTE).await.json();
    assert_eq!(
        (opened["created"].clone(), opened["outreach"]["cold"].clone()),
        (json!(false), json!(false))
    );

    // The cold messages reached the phones, each once.
    let mut delivered = 0;
    while delivered < 5 {
        events.find("message.status", |d| d["status"] == "delivered").await;
        delivered += 1;
    }
    assert_eq!(texts_received(&app, NEW_A), ["offer 1"]);
    assert_eq!(texts_received(&app, NEW_B), ["offer 2"]);
}

#[tokio::test]
async fn first_messages_to_new_numbers_are_spaced() {
    let limits = OutreachLimits {
        per_hour: 10,
        per_day: 10,
        min_gap: Duration::from_secs(600),
        ..OutreachLimits::default()
    };
    let app = start_with_outreach(limits).await;
    let Line { assigned, line, .. } = connected_line(&app).await;
    let a = open_chat(&app, &assigned, line, NEW_A).await.json()["conversation"]["id"]
        .as_i64()
        .unwrap();
    let b = open_chat(&app, &assigned, line, NEW_B).await.json()["conversation"]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(send(&app, &assigned, a, "first").await.status, 202);
    // A second message to the same number is not a first message.
    assert_eq!(send(&app, &assigned, a, "second").await.status, 202);
    let refused = send(&app, &assigned, b, "first to b").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    let error = &refused.json()["error"];
    assert_eq!(error["limit"], "min_gap", "{error}");
    assert!((590..=600).contains(&error["retry_after_secs"].as_u64().unwrap()), "{error}");
}

#[tokio::test]
async fn checking_numbers_with_whatsapp_is_limited_per_line() {
    let limits = OutreachLimits { checks_per_hour: 2, ..OutreachLimits::default() };
    let app = start_with_outreach(limits).await;
    let Line { assigned, line, .. } = connected_line(&app).await;
    assert_eq!(open_chat(&app, &assigned, line, NEW_A).await.status, 200);
    assert_eq!(open_chat(&app, &assigned, line, NOT_ON_WA).await.status, 422);
    // A third number within the hour is not asked about.
    let refused = open_chat(&app, &assigned, line, NEW_B).await;
    assert_eq!(
        (refused.status, refused.code()),
        (429, "number_checks_limit".to_owned()),
        "{}",
        refused.body
    );
    let error = &refused.json()["error"];
    assert_eq!(error["limit"], "number_checks", "{error}");
    assert!(refused.headers.contains_key("retry-after"));
    // A number that has a conversation needs no check.
    let again = open_chat(&app, &assigned, line, NEW_A).await;
    assert_eq!((again.status, again.json()["created"].clone()), (200, json!(false)));
}

#[tokio::test]
async fn concurrent_cold_sends_never_pass_the_limit_together() {
    let limits = OutreachLimits {
        per_hour: 3,
        per_day: 10,
        min_gap: Duration::ZERO,
        ..OutreachLimits::default()
    };
    let app = start_with_outreach(limits).await;
    let Line { assigned, line, .. } = connected_line(&app).await;
    let a = open_chat(&app, &assigned, line, NEW_A).await.json()["conversation"]["id"]
        .as_i64()
        .unwrap();
    let sends = (0..10).map(|n| {
        let (app, assigned) = (&app, &assigned);
        async move { send(app, assigned, a, &format!("burst {n}")).await.status }
    });
    let mut statuses = futures_util::future::join_all(sends).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 202, 202, 429, 429, 429, 429, 429, 429, 429]);
    let history = app.get(&format!("/api/conversations/{a}/messages"), &assigned).await.json();
    assert_eq!(history["messages"].as_array().unwrap().len(), 3, "{history}");
}
