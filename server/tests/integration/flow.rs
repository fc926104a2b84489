//! The product's flow through the API against the simulators: an administrator creates a line,
//! reads its QR from the event stream, the phone scans it, it connects; the line is assigned; a
//! customer writes and the assigned user's stream carries the message and the unread count;
//! the user replies with text, a quote, an image and a voice note, which the customer's phone
//! receives and reads, and the statuses move to read; the line is disconnected and reassigned,
//! and the new user pages through the whole history and downloads its files.

use std::time::Duration;

use serde_json::{Value, json};
use wa_sim::{PhoneContent, PhoneMessage};

use crate::app::{ALPHA, App, Sse, start};

const LINE_PHONE: &str = "79990000101";
const CUSTOMER: &str = "79160000101";
const CHROMIUM_VOICE: &[u8] = include_bytes!("../vectors/chromium-156-fake-mic-3s.webm");

async fn upload(app: &App, token: &str, conv: i64, query: &str, mime: &str, body: &[u8]) -> Value {
    let r = app
        .http
        .post(app.url(&format!("/api/conversations/{conv}/media?{query}")))
        .bearer_auth(token)
        .header("content-type", mime)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, 202, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn status_of(app: &App, token: &str, conv: i64) -> Vec<(i64, String)> {
    let page = app.get(&format!("/api/conversations/{conv}/messages?limit=50"), token).await;
    page.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "out")
        .map(|m| (m["id"].as_i64().unwrap(), m["status"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_line_from_qr_to_read_receipts_and_reassignment() {
    let app = start().await;
    app.install(ALPHA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000101")).unwrap();
    app.wa.create_account(CUSTOMER, Some("100000000000101")).unwrap();
    let admin = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    let u3 = app.token(ALPHA, 3).await;
    let mut s_admin = Sse::open(&app, &admin).await;

    // Create, connect, QR over SSE, scan, connected.
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let a = app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let qr = s_admin.find("line.status", |d| d["line_id"] == line && d["state"] == "qr").await;
    assert!(qr["qr_svg"].as_str().unwrap().contains("<svg"));
    assert!(qr["expires_in_ms"].as_u64().unwrap() > 0);
    app.wa.scan(qr["qr"].as_str().unwrap(), LINE_PHONE).await.unwrap();
    s_admin.find("line.status", |d| d["line_id"] == line && d["state"] == "connected").await;
    let shown = app.get(&format!("/api/lines/{line}"), &admin).await.json();
    assert_eq!(
        (shown["state"].as_str(), shown["status"].as_str(), shown["phone"].as_str()),
        (Some("connected"), Some("connected"), Some(LINE_PHONE))
    );
    // Connecting a running line changes nothing.
    let again = app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    assert_eq!(again.json()["state"], "connected");

    // Assigned to user 2; user 3 sees nothing of it.
    let a = app
        .call(
            "PUT",
            &format!("/api/lines/{line}/assignment"),
            Some(&admin),
            Some(json!({"user_id": 2})),
        )
        .await;
    assert_eq!(a.status, 200);
    let mut s_u2 = Sse::open(&app, &u2).await;
    let mut s_u3 = Sse::open(&app, &u3).await;
    let hello = "Здравствуйте! Есть ли доставка в Казань? 🚚";
    let customer_msg = PhoneMessage {
        to: LINE_PHONE.to_owned(),
        content: PhoneContent::Text(hello.to_owned()),
        quoted: None,
    };
    let customer_wa_id = app.wa.phone_send(CUSTOMER, customer_msg).await.unwrap();
    let stored = s_u2.find("message.stored", |d| d["direction"] == "in").await;
    assert_eq!((stored["line_id"].as_i64(), stored["unread"].as_i64()), (Some(line), Some(1)));
    let conv = stored["conversation_id"].as_i64().unwrap();
    let inbound_id = stored["message_id"].as_i64().unwrap();
    let list = app.get(&format!("/api/lines/{line}/conversations"), &u2).await.json();
    assert_eq!(list["conversations"][0]["unread"], 1);
    let history = app.get(&format!("/api/conversations/{conv}/messages"), &u2).await.json();
    assert_eq!(history["messages"][0]["text"], hello);

    // Replies: text, quote, image, voice note (a Chromium recording).
    let text = app
        .call(
            "POST",
            &format!("/api/conversations/{conv}/messages"),
            Some(&u2),
            Some(json!({"text": "Да, доставляем 👍", "idempotency_key": "flow-1"})),
        )
        .await;
    assert_eq!(text.status, 202, "{}", text.body);
    // The same key again: the same message, not a second one.
    let repeat = app
        .call(
            "POST",
            &format!("/api/conversations/{conv}/messages"),
            Some(&u2),
            Some(json!({"text": "Да, доставляем 👍", "idempotency_key": "flow-1"})),
        )
        .await;
    assert_eq!(repeat.json()["id"], text.json()["id"]);
    let quote = app
        .call(
            "POST",
            &format!("/api/conversations/{conv}/messages"),
            Some(&u2),
            Some(json!({"text": "Срок — 3 дня", "quoted_id": inbound_id})),
        )
        .await;
    assert_eq!(quote.status, 202, "{}", quote.body);
    let mut image_bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // A JPEG's first bytes: uploads are judged by them.
    image_bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    let image =
        upload(&app, &u2, conv, "kind=image&caption=Каталог", "image/jpeg", &image_bytes).await;
    let voice =
        upload(&app, &u2, conv, "kind=voice", "audio/webm;codecs=opus", CHROMIUM_VOICE).await;
    assert_eq!(voice["kind"], "voice");
    assert_eq!(voice["media"]["mime"], "audio/ogg; codecs=opus");
    let sent: Vec<i64> = [&text.json(), &quote.json(), &image, &voice]
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    for id in &sent {
        s_u2.find("message.status", |d| d["message_id"] == *id && d["status"] == "delivered").await;
    }

    // The customer's phone got each once, as the right kind; it reads them.
    let received = app.wa.phone_received(CUSTOMER).unwrap();
    let ours: Vec<_> = received.iter().filter(|m| !m.from_me).collect();
    let kinds: Vec<&str> = ours.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!(ours[0].text.as_deref(), Some("Да, доставляем 👍"));
    assert_eq!(ours[1].quoted_id.as_deref(), Some(customer_wa_id.as_str()));
    assert_eq!(ours[2].caption.as_deref(), Some("Каталог"));
    assert_eq!(ours[3].mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
    let ids: Vec<String> = ours.iter().map(|m| m.id.clone()).collect();
    app.wa.phone_read(CUSTOMER, LINE_PHONE, &ids).unwrap();
    for id in &sent {
        s_u2.find("message.status", |d| d["message_id"] == *id && d["status"] == "read").await;
    }
    assert!(status_of(&app, &u2, conv).await.iter().all(|(_, s)| s == "read"));

    // Opening the conversation resets its badge.
    let a = app.call("POST", &format!("/api/conversations/{conv}/read"), Some(&u2), None).await;
    assert_eq!(a.status, 200);
    assert_eq!(app.get(&format!("/api/conversations/{conv}"), &u2).await.json()["unread"], 0);
    // User 3 never received an event of this line.
    while let Some((kind, data)) = s_u3.next(Duration::from_millis(300)).await {
        assert_ne!(data["line_id"].as_i64(), Some(line), "user 3 got {kind}: {data}");
    }

    // Disconnected, reassigned to user 3, who pages through the whole history.
    let a = app.call("POST", &format!("/api/lines/{line}/disconnect"), Some(&admin), None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(app.get(&format!("/api/lines/{line}"), &admin).await.json()["state"], Value::Null);
    let a = app
        .call(
            "PUT",
            &format!("/api/lines/{line}/assignment"),
            Some(&admin),
            Some(json!({"user_id": 3})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(app.get(&format!("/api/conversations/{conv}"), &u2).await.status, 404);
    let mut pages = 0;
    let mut all = vec![];
    let mut before: Option<i64> = None;
    loop {
        let q = before.map_or(String::new(), |b| format!("&before={b}"));
        let page =
            app.get(&format!("/api/conversations/{conv}/messages?limit=2{q}"), &u3).await.json();
        pages += 1;
        all.extend(page["messages"].as_array().unwrap().iter().cloned());
        match page["next"].as_i64() {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let texts: Vec<Option<&str>> = all.iter().rev().map(|m| m["text"].as_str()).collect();
    assert_eq!(
        texts,
        [Some(hello), Some("Да, доставляем 👍"), Some("Срок — 3 дня"), Some("Каталог"), None]
    );
    // The files, to the new user.
    let url = all[1]["media"]["url"].as_str().unwrap();
    let r = app.http.get(app.url(url)).bearer_auth(&u3).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.unwrap().to_vec(), image_bytes);
    let url = all[0]["media"]["url"].as_str().unwrap();
    let r = app.http.get(app.url(&format!("{url}?access_token={u3}"))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.unwrap().starts_with(b"OggS"));
    // The audit log has the line's story with raw payloads.
    let audit = app.get("/api/audit?limit=500", &admin).await.json();
    let kinds: Vec<&str> =
        audit["records"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    for k in [
        "line.created",
        "line.assigned",
        "line.status_changed",
        "wa.connection_state",
        "wa.message_received",
        "wa.message_queued",
        "wa.status_update",
        "line.reassigned",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
}

#[tokio::test]
async fn uploads_are_checked_before_anything_is_stored() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "L"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let conv = app.inbound(ALPHA, line, "79160000102@s.whatsapp.net", "c", "u1", "hi").await;
    let post = |query: &'static str, mime: &'static str, body: Vec<u8>| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let r = app
                .http
                .post(app.url(&format!("/api/conversations/{conv}/media?{query}")))
                .bearer_auth(&admin)
                .header("content-type", mime)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    assert_eq!(post("kind=image", "text/html", vec![1; 10]).await.0, 415);
    assert_eq!(post("kind=voice", "audio/webm", b"not a webm file".to_vec()).await.0, 400);
    assert_eq!(post("kind=sticker", "image/webp", vec![1; 10]).await.0, 400);
    assert_eq!(post("kind=image", "image/png", vec![]).await.0, 400);
    assert_eq!(post("kind=image", "image/png", vec![0; 16 * 1024 * 1024 + 1]).await.0, 413);
    assert_eq!(post("kind=video", "video/mp4", vec![0; 64 * 1024 * 1024 + 1]).await.0, 413);
    let (status, body) =
        post("kind=document&file_name=../../x.html", "text/html", b"<script>".to_vec()).await;
    assert_eq!(status, 202, "{body}");
    // Nothing but the document was queued.
    let history = app.get(&format!("/api/conversations/{conv}/messages"), &admin).await.json();
    let out: Vec<&Value> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "out")
        .collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["media"]["file_name"], "....x.html");
    // A customer's HTML file never renders as one of our pages.
    let r = app
        .http
        .get(app.url(out[0]["media"]["url"].as_str().unwrap()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert!(r.headers()["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
}
