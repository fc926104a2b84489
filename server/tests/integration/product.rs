//! Product behaviour through the API against the simulators: read receipts reach the customer
//! when the line's agent opens the chat (not when an administrator looks, not when the line's
//! setting is off); an inbound document keeps its file name for the download; search finds a
//! phone number typed as displayed and message text; a user whose line is deleted sees it go.

use std::time::Duration;

use serde_json::{Value, json};
use wa_sim::{MediaKind, PhoneContent, PhoneMessage};

use crate::app::{ALPHA, App, Sse, start};

/// Creates a line, pairs it with `phone` through the QR on the administrator's stream, and
/// assigns it to user 2. Returns the line id.
async fn connected_line(app: &App, admin: &str, phone: &str) -> i64 {
    let mut s_admin = Sse::open(app, admin).await;
    let line = app.call("POST", "/api/lines", Some(admin), Some(json!({"name": "Sales"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let a = app.call("POST", &format!("/api/lines/{line}/connect"), Some(admin), None).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let qr = s_admin.find("line.status", |d| d["line_id"] == line && d["state"] == "qr").await;
    app.wa.scan(qr["qr"].as_str().unwrap(), phone).await.unwrap();
    s_admin.find("line.status", |d| d["line_id"] == line && d["state"] == "connected").await;
    let a = app
        .call(
            "PUT",
            &format!("/api/lines/{line}/assignment"),
            Some(admin),
            Some(json!({"user_id": 2})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    line
}

fn text(to: &str, body: &str) -> PhoneMessage {
    PhoneMessage { to: to.to_owned(), content: PhoneContent::Text(body.to_owned()), quoted: None }
}

/// The ids the customer's phone got a read receipt for.
fn read_at_phone(app: &App, customer: &str) -> Vec<String> {
    app.wa
        .phone_receipts(customer)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "read")
        .map(|r| r.id)
        .collect()
}

async fn until_read_at_phone(app: &App, customer: &str, id: &str) -> Vec<String> {
    for _ in 0..400 {
        let read = read_at_phone(app, customer);
        if read.iter().any(|r| r == id) {
            return read;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no read receipt for {id} at {customer}: {:?}", app.wa.phone_receipts(customer));
}

async fn read(app: &App, token: &str, conv: i64) -> Value {
    let a = app.call("POST", &format!("/api/conversations/{conv}/read"), Some(token), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()
}

#[tokio::test]
async fn read_receipts_follow_the_agent_and_the_line_setting() {
    const LINE_PHONE: &str = "79990000201";
    const CUSTOMER: &str = "79160000201";
    let app = start().await;
    app.install(ALPHA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000201")).unwrap();
    app.wa.create_account(CUSTOMER, Some("100000000000201")).unwrap();
    let admin = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    let line = connected_line(&app, &admin, LINE_PHONE).await;
    let mut s_u2 = Sse::open(&app, &u2).await;

    let first = app.wa.phone_send(CUSTOMER, text(LINE_PHONE, "Добрый день")).await.unwrap();
    let second = app.wa.phone_send(CUSTOMER, text(LINE_PHONE, "Есть в наличии?")).await.unwrap();
    let stored = s_u2.find("message.stored", |d| d["unread"] == 2).await;
    let conv = stored["conversation_id"].as_i64().unwrap();

    // The administrator looks: the agent's badge stays, WhatsApp hears nothing.
    let looked = read(&app, &admin, conv).await;
    assert_eq!((looked["cleared"].as_bool(), looked["unread"].as_i64()), (Some(false), Some(2)));
    assert_eq!(app.get(&format!("/api/conversations/{conv}"), &u2).await.json()["unread"], 2);
    // The agent opens it: zero, and the customer sees both messages read (blue ticks).
    let opened = read(&app, &u2, conv).await;
    assert_eq!((opened["cleared"].as_bool(), opened["unread"].as_i64()), (Some(true), Some(0)));
    let at_phone = until_read_at_phone(&app, CUSTOMER, &second).await;
    assert!(at_phone.contains(&first), "{at_phone:?}");
    let history = app.get(&format!("/api/conversations/{conv}/messages"), &u2).await.json();
    assert!(history["messages"].as_array().unwrap().iter().all(|m| m["status"] == "read"));
    // The administrator's look came first and sent nothing: each id is read once.
    assert_eq!(at_phone.len(), 2, "{at_phone:?}");

    // The line's setting off (administrators only): reading sends nothing.
    let off = json!({"send_read_receipts": false});
    let a = app.call("PATCH", &format!("/api/lines/{line}"), Some(&u2), Some(off.clone())).await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(off)).await;
    assert_eq!((a.status, a.json()["send_read_receipts"].as_bool()), (200, Some(false)));
    let bad = app
        .call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(json!({"color": 1})))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        app.get(&format!("/api/lines/{line}"), &u2).await.json()["send_read_receipts"],
        false
    );
    let quiet = app.wa.phone_send(CUSTOMER, text(LINE_PHONE, "Алло?")).await.unwrap();
    s_u2.find("message.stored", |d| d["unread"] == 1).await;
    assert_eq!(read(&app, &u2, conv).await["cleared"], true);
    // On again: the next message read is receipted, and the quiet one never was (receipts
    // leave in order, so it would have arrived first).
    let on = json!({"send_read_receipts": true});
    let a = app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(on)).await;
    assert_eq!(a.json()["send_read_receipts"], true);
    let last = app.wa.phone_send(CUSTOMER, text(LINE_PHONE, "Спасибо!")).await.unwrap();
    s_u2.find("message.stored", |d| d["unread"] == 1).await;
    read(&app, &u2, conv).await;
    let at_phone = until_read_at_phone(&app, CUSTOMER, &last).await;
    assert!(!at_phone.contains(&quiet), "{at_phone:?}");
    // Both changes are in the audit log.
    let audit = app.get("/api/audit?kind=line.settings_changed", &admin).await.json();
    assert_eq!(audit["records"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_inbound_document_keeps_its_file_name() {
    const LINE_PHONE: &str = "79990000301";
    const CUSTOMER: &str = "79160000301";
    let app = start().await;
    app.install(ALPHA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000301")).unwrap();
    app.wa.create_account(CUSTOMER, Some("100000000000301")).unwrap();
    let admin = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    connected_line(&app, &admin, LINE_PHONE).await;
    let mut s_u2 = Sse::open(&app, &u2).await;
    let name = "Счёт №5 \"итог\" 100%.pdf";
    let pdf = b"%PDF-1.7\n% a small document\n".repeat(100);
    let document = PhoneMessage {
        to: LINE_PHONE.to_owned(),
        content: PhoneContent::Media {
            kind: MediaKind::Document,
            bytes: pdf.clone(),
            mimetype: "application/pdf".to_owned(),
            caption: None,
            file_name: Some(name.to_owned()),
        },
        quoted: None,
    };
    app.wa.phone_send(CUSTOMER, document).await.unwrap();
    let stored = s_u2.find("message.stored", |d| d["direction"] == "in").await;
    let conv = stored["conversation_id"].as_i64().unwrap();
    let history = app.get(&format!("/api/conversations/{conv}/messages"), &u2).await.json();
    let m = &history["messages"][0];
    assert_eq!(
        (m["kind"].as_str(), m["media"]["file_name"].as_str()),
        (Some("document"), Some(name))
    );
    let r = app
        .http
        .get(app.url(m["media"]["url"].as_str().unwrap()))
        .bearer_auth(&u2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_owned();
    // A quoted ASCII fallback that keeps the extension, and the exact name in UTF-8.
    assert!(disposition.starts_with("attachment; filename=\""), "{disposition}");
    let fallback = disposition.split('"').nth(1).unwrap();
    assert!(fallback.ends_with("_100%.pdf") && fallback.is_ascii(), "{disposition}");
    let encoded = disposition.split("filename*=UTF-8''").nth(1).unwrap();
    assert!(!encoded.contains(['"', ' ', ';']), "{disposition}");
    assert_eq!(percent_decode(encoded), name);
    assert_eq!(r.bytes().await.unwrap().to_vec(), pdf);
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn search_finds_a_phone_as_displayed_and_message_text() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    let u3 = app.token(ALPHA, 3).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "L"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    app.call(
        "PUT",
        &format!("/api/lines/{line}/assignment"),
        Some(&admin),
        Some(json!({"user_id": 2})),
    )
    .await;
    let conv = app
        .inbound(
            ALPHA,
            line,
            "79160000001@s.whatsapp.net",
            "Мария",
            "w1",
            "Есть ли Доставка в Казань?",
        )
        .await;
    let search = async |token: &str, q: &str| {
        let path = format!("/api/conversations/search?q={}", urlencode(q));
        let a = app.get(&path, token).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()["results"].as_array().unwrap().clone()
    };
    // The phone number as the panel displays it, and as people type it.
    for q in ["+7 916 000-00-01", "000-00-01", "(916) 000-00-01"] {
        let found = search(&u2, q).await;
        assert_eq!(found.len(), 1, "{q}: {found:?}");
        assert_eq!(found[0]["conversation"]["id"], conv);
        assert!(found[0]["message"].is_null());
    }
    // Message text, any case: the hit carries the message and its conversation.
    let found = search(&u2, "доставка").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["conversation"]["id"], conv);
    assert_eq!(found[0]["message"]["text"], "Есть ли Доставка в Казань?");
    assert_eq!(found[0]["contact"]["push_name"], "Мария");
    // Someone else's line: nothing.
    assert!(search(&u3, "доставка").await.is_empty());
    assert!(search(&u3, "000-00-01").await.is_empty());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(
            |b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            },
        )
        .collect()
}

#[tokio::test]
async fn a_user_whose_line_is_deleted_sees_it_go() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "L"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    app.call(
        "PUT",
        &format!("/api/lines/{line}/assignment"),
        Some(&admin),
        Some(json!({"user_id": 2})),
    )
    .await;
    let mut s_u2 = Sse::open(&app, &u2).await;
    let a = app.call("DELETE", &format!("/api/lines/{line}"), Some(&admin), None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let gone = s_u2.find("line.unassigned", |_| true).await;
    assert_eq!(gone, json!({"line_id": line}));
}
