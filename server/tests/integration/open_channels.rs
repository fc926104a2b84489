//! The Open Channels connector: the line settings that send conversations to a Bitrix24 Open
//! Line and what they queue for Bitrix24; the signed links through which Bitrix24 downloads the
//! files of customers' messages.

use serde_json::{Value, json};
use tenancy::{B24OutboxKind, B24OutboxState, Caller};
use wab24::media_link::{MediaLinkKey, signed_media_url};

use crate::app::{ALPHA, App, BETA, start};

#[tokio::test]
async fn an_administrator_sends_a_lines_conversations_to_an_open_line() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let user = app.token(ALPHA, 2).await;
    let created =
        app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    let line = created.json()["id"].as_i64().unwrap();
    assert_eq!(
        (
            created.json()["open_channel"].as_str(),
            created.json()["open_line_id"].as_i64(),
            created.json()["open_channel_status"].as_str()
        ),
        (Some("panel"), None, Some("off"))
    );
    let path = format!("/api/lines/{line}");
    let both = json!({"open_channel": "both", "open_line_id": 7});
    let a = app.call("PATCH", &path, Some(&user), Some(both.clone())).await;
    assert_eq!(a.status, 403, "{}", a.body);
    // Typed refusals: an unknown channel, an Open Channel without an Open Line.
    for bad in [
        json!({"open_channel": "openlines"}),
        json!({"open_channel": "openline"}),
        json!({"open_line_id": "7"}),
    ] {
        let a = app.call("PATCH", &path, Some(&admin), Some(bad.clone())).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
    }
    let a = app.call("PATCH", &path, Some(&admin), Some(both)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (a.json()["open_channel"].as_str(), a.json()["open_line_id"].as_i64()),
        (Some("both"), Some(7))
    );
    // Leaving `open_line_id` out keeps it; `null` clears it (allowed once back on the panel).
    let a = app.call("PATCH", &path, Some(&admin), Some(json!({"open_channel": "panel"}))).await;
    assert_eq!(
        (a.json()["open_channel"].as_str(), a.json()["open_line_id"].as_i64()),
        (Some("panel"), Some(7))
    );
    let a = app.call("PATCH", &path, Some(&admin), Some(json!({"open_line_id": null}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.json()["open_line_id"].is_null());
    // Each change of the Open Line fed is queued for Bitrix24 and audited.
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    let queued =
        tenant.b24_outbox_items(Caller::System, line, B24OutboxState::Pending, 10).await.unwrap();
    assert_eq!(
        queued.iter().map(|i| i.kind).collect::<Vec<_>>(),
        [B24OutboxKind::ConnectorStatus; 2]
    );
    let audit = app.get("/api/audit?kind=line.settings_changed", &admin).await.json();
    assert_eq!(audit["records"].as_array().unwrap().len(), 3);
}

/// A line of `member` with one conversation (a customer wrote); its id.
async fn conversation(app: &App, member: &str, admin: &str) -> i64 {
    let line = app.call("POST", "/api/lines", Some(admin), Some(json!({"name": "L"}))).await;
    assert_eq!(line.status, 201, "{}", line.body);
    let line = line.json()["id"].as_i64().unwrap();
    app.inbound(member, line, "79160000555@s.whatsapp.net", "c", &format!("{member}-w1"), "hi")
        .await
}

/// Sends a document into `conv`; the message's id.
async fn document(app: &App, admin: &str, conv: i64, name: &str, body: &[u8]) -> i64 {
    let r = app
        .http
        .post(app.url(&format!("/api/conversations/{conv}/media?kind=document&file_name={name}")))
        .bearer_auth(admin)
        .header("content-type", "text/plain")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// GET without any credential: status, headers, body.
async fn fetch(app: &App, url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = app.http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_signed_link_serves_the_file_without_a_session_until_it_expires() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let conv = conversation(&app, ALPHA, &admin).await;
    let id = document(&app, &admin, conv, "invoice.txt", b"the invoice").await;
    let links = &app.state.settings().media_links;
    let url = links.url(&app.base, ALPHA, id, app.state.now_unix());
    assert!(url.starts_with(&format!("{}/media/signed/", app.base)), "{url}");

    let (status, headers, body) = fetch(&app, &url).await;
    assert_eq!(status, 200);
    assert_eq!(body, b"the invoice");
    assert_eq!(headers["content-type"], "text/plain");
    assert!(headers["content-disposition"].to_str().unwrap().contains("invoice.txt"));
    assert!(headers["content-security-policy"].to_str().unwrap().starts_with("sandbox"));

    // Valid for 24 hours by default, then 410 with a clear error.
    app.clock.advance(24 * 3600 - 1);
    assert_eq!(fetch(&app, &url).await.0, 200);
    app.clock.advance(1);
    let (status, _, body) = fetch(&app, &url).await;
    assert_eq!((status, error_code(&body).as_str()), (410, "gone"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["message"], "this media link has expired; ask for the message again");
}

#[tokio::test]
async fn altered_foreign_and_dangling_links_are_refused_alike_across_tenants() {
    let app = start().await;
    app.install(ALPHA).await;
    app.install(BETA).await;
    let admin = app.token(ALPHA, 1).await;
    let conv = conversation(&app, ALPHA, &admin).await;
    let id = document(&app, &admin, conv, "a.txt", b"alpha's file").await;
    let key = &app.state.settings().media_links.key;
    let expires = app.state.now_unix() + 3600;
    let url = signed_media_url(&app.base, ALPHA, id, expires, key);
    assert_eq!(fetch(&app, &url).await.0, 200);

    // Any character changed: 403, nothing served.
    let token = url.rsplit('/').next().unwrap().to_owned();
    for i in [0, token.len() / 2, token.len() - 1] {
        let mut altered = token.clone().into_bytes();
        altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        let (status, _, body) = fetch(&app, &app.url(&format!("/media/signed/{altered}"))).await;
        assert_eq!((status, error_code(&body).as_str()), (403, "forbidden"), "{i}");
    }
    // Signed with another deployment's key.
    let other = MediaLinkKey::derive(&[9; 32]).unwrap();
    let (status, _, _) =
        fetch(&app, &signed_media_url(&app.base, ALPHA, id, expires, &other)).await;
    assert_eq!(status, 403);
    for junk in ["x", "a.b", &"A".repeat(600)] {
        assert_eq!(fetch(&app, &app.url(&format!("/media/signed/{junk}"))).await.0, 403, "{junk}");
    }

    // Validly signed, but nothing there: another tenant's id for alpha's message, an absent
    // message, a portal that never installed, a message without a file: the same 404.
    let history = app.get(&format!("/api/conversations/{conv}/messages"), &admin).await.json();
    let text_message = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "text")
        .and_then(|m| m["id"].as_i64())
        .unwrap();
    let mut bodies = vec![];
    for (member, message) in
        [(BETA, id), (ALPHA, id + 1000), ("gamma0member", id), (ALPHA, text_message)]
    {
        let (status, _, body) =
            fetch(&app, &signed_media_url(&app.base, member, message, expires, key)).await;
        assert_eq!(status, 404, "{member} {message}");
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    assert_eq!(error_code(&bodies[0]), "not_found");
}
