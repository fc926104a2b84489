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

/// The calls to `method` that Bitrix24 (b24-sim) accepted.
fn accepted(app: &crate::app::App, method: &str) -> Vec<serde_json::Value> {
    app.sim.calls_to(method).into_iter().filter(|c| c.status == 200).map(|c| c.params).collect()
}

/// Every `MESSAGES` element of the `imconnector.send.messages` calls Bitrix24 accepted, in order
/// (one call carries several messages of a line).
fn messages_sent(app: &crate::app::App) -> Vec<serde_json::Value> {
    accepted(app, "imconnector.send.messages")
        .iter()
        .flat_map(|call| call["MESSAGES"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Stores an inbound message on `line` as the line runtime would, with an optional quote.
async fn customer_writes(
    app: &crate::app::App,
    line: i64,
    wa_id: &str,
    text: &str,
    quoted: Option<&str>,
) {
    let t = app.store.tenant(ALPHA).await.unwrap();
    let m = tenancy::Inbound {
        line_id: line,
        jid: "5511987654321@s.whatsapp.net".to_owned(),
        phone: Some("5511987654321".to_owned()),
        push_name: Some("Ana 🌸 Lúcia".to_owned()),
        wa_id: wa_id.to_owned(),
        kind: tenancy::MessageKind::Text,
        text: Some(text.to_owned()),
        media: None,
        quoted_wa_id: quoted.map(str::to_owned),
        raw: b"{}".to_vec(),
        note: None,
    };
    t.record_inbound(Caller::System, &m, app.state.now()).await.unwrap();
}

// REST docs: api-reference/imopenlines/imconnector/imconnector-register.md (ID without a dot,
// ICON.DATA_IMAGE, PLACEMENT_HANDLER), events/index.md (the events bound),
// imconnector-send-messages.md (user, message, chat; DATA.RESULT[].session), imconnector-activate.md,
// imconnector-connector-data-set.md.
#[tokio::test]
async fn a_customers_messages_reach_the_open_line_once_through_faults() {
    use wab24::open_channels::{connector::CONNECTOR_ID, registration, worker::deliver_due};

    let app = start().await;
    app.install(ALPHA).await;
    // Installing registered the connector and bound its events to our events route.
    let registered = accepted(&app, "imconnector.register");
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["ID"], CONNECTOR_ID);
    assert_eq!(registered[0]["PLACEMENT_HANDLER"], format!("{}/b24/connector", app.base));
    assert!(
        registered[0]["ICON"]["DATA_IMAGE"].as_str().unwrap().starts_with("data:image/svg+xml")
    );
    let bound: Vec<String> = accepted(&app, "event.bind")
        .iter()
        .filter(|p| p["handler"] == format!("{}/b24/events", app.base))
        .map(|p| p["event"].as_str().unwrap().to_owned())
        .collect();
    for event in ["ONIMCONNECTORMESSAGEADD", "ONIMCONNECTORDIALOGFINISH", "ONIMCONNECTORLINEDELETE"]
    {
        assert!(bound.iter().any(|b| b == event), "{event} in {bound:?}");
    }
    // At the next start (an upgrade): registered again, nothing bound twice.
    let again = registration::register(&app.state, ALPHA).await.unwrap();
    assert!(again.bound.is_empty() && again.already.len() == 7, "{again:?}");
    let admin = app.token(ALPHA, 1).await;
    // (The CRM card tabs bound at install are audited under their own subject.)
    let path = format!("/api/audit?kind=b24.connector_call&subject=connector:{CONNECTOR_ID}");
    let audit = app.get(&path, &admin).await.json();
    assert_eq!(audit["records"].as_array().unwrap().len(), 2, "{audit}");

    // A line, connected to WhatsApp, sent to a new Open Line.
    let portal = app.state.portal(ALPHA).await.unwrap();
    let open_line = portal.openlines_config_add(json!({"LINE_NAME": "Sales"})).await.unwrap().0;
    let created =
        app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    let line = created.json()["id"].as_i64().unwrap();
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    tenant.set_line_phone(Caller::System, line, "79990000123").await.unwrap();
    tenant
        .set_line_status(
            Caller::System,
            line,
            tenancy::LineStatus::Connected,
            b"{}",
            app.state.now(),
        )
        .await
        .unwrap();
    let patch = json!({"open_channel": "openline", "open_line_id": open_line});
    let a = app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(patch)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(deliver_due(&app.state).await.done, 1);
    let activated = accepted(&app, "imconnector.activate");
    assert_eq!(
        (activated[0]["LINE"].as_u64(), activated[0]["ACTIVE"].as_u64()),
        (Some(open_line), Some(1))
    );
    let data = accepted(&app, "imconnector.connector.data.set");
    assert_eq!(data[0]["DATA"]["NAME"], "WhatsApp +79990000123 · Sales");
    assert_eq!(data[0]["DATA"]["URL"], "https://wa.me/79990000123");
    let status = portal.imconnector_status(CONNECTOR_ID, b24_client::Id(open_line)).await.unwrap();
    assert_eq!(
        (status["STATUS"].as_bool(), status["CONFIGURED"].as_bool()),
        (Some(true), Some(true))
    );
    let shown = app.get(&format!("/api/lines/{line}"), &admin).await.json();
    assert_eq!(shown["open_channel_status"], "active");

    // Bitrix24 overloaded (503, refused before running): nothing sent, nothing lost; the later
    // message waits its turn.
    app.sim.add_fault(
        b24_sim::Fault::on(
            "imconnector.send.messages",
            b24_sim::FaultAction::error(b24_client::ErrorCode::OverloadLimit),
        )
        .times(1),
    );
    customer_writes(&app, line, "WA1", "Olá, *tudo bem*?", None).await;
    customer_writes(&app, line, "WA2", "Quanto custa?", Some("WA1")).await;
    let round = deliver_due(&app.state).await;
    assert_eq!((round.done, round.retried), (0, 2), "{round:?}");
    assert!(accepted(&app, "imconnector.send.messages").is_empty());
    // Not due yet: nothing is tried before the backoff.
    assert_eq!(deliver_due(&app.state).await, Default::default());
    app.clock.advance(2);
    // A rate limit and expired tokens on the way: the client waits and refreshes.
    app.sim.add_fault(
        b24_sim::Fault::on(
            "imconnector.send.messages",
            b24_sim::FaultAction::error(b24_client::ErrorCode::QueryLimitExceeded),
        )
        .times(1),
    );
    app.sim.expire_access_tokens(ALPHA);
    let round = deliver_due(&app.state).await;
    assert_eq!((round.done, round.retried, round.failed), (2, 0, 0), "{round:?}");
    let calls = accepted(&app, "imconnector.send.messages");
    assert_eq!(calls.len(), 1, "a line's waiting messages go in one call");
    assert_eq!(calls[0]["CONNECTOR"], CONNECTOR_ID);
    assert_eq!(calls[0]["LINE"].as_u64(), Some(open_line));
    let sent = messages_sent(&app);
    assert_eq!(sent.len(), 2, "each message once");
    let first = &sent[0];
    assert_eq!(first["user"]["id"], "5511987654321");
    assert_eq!(first["user"]["name"], "Ana Lúcia", "sanitised: letters and spaces only");
    assert_eq!(first["user"]["phone"], "+5511987654321");
    assert_eq!(first["chat"]["id"], "5511987654321");
    assert_eq!(first["message"]["id"], "WA1");
    assert_eq!(first["message"]["text"], "Olá, [b]tudo bem[/b]?");
    // The reply carries what it quotes (Bitrix24's `>>` quote lines).
    assert_eq!(sent[1]["message"]["text"], ">>Olá, [b]tudo bem[/b]?\nQuanto custa?");
    // The session and chat Bitrix24 answered are linked to our message.
    let history = tenant.conversations(Caller::System, line).await.unwrap();
    let last = history[0].last_message_id.unwrap();
    let link = tenant.b24_link_for_message(Caller::System, last).await.unwrap().unwrap();
    assert!(link.session_id.is_some() && link.b24_chat_id.is_some(), "{link:?}");
    assert_eq!(link.external_chat_id, "5511987654321");
    // The contact center opened one session for the customer, with each message once.
    let sessions = app.sim.open_line_sessions(ALPHA);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(
        (Some(sessions[0].id as i64), Some(sessions[0].chat_id as i64)),
        (link.session_id, link.b24_chat_id)
    );
    assert_eq!(sessions[0].line, open_line);
    let messages = app.sim.open_line_messages(ALPHA, sessions[0].chat_id);
    let ids: Vec<&Vec<String>> = messages.iter().map(|m| &m.external_ids).collect();
    assert_eq!(ids, [&vec!["WA1".to_owned()], &vec!["WA2".to_owned()]]);
    let customer = &app.sim.open_line_customers(ALPHA)[0];
    assert_eq!(
        (customer.name.as_deref(), customer.phone.as_deref()),
        (Some("Ana Lúcia"), Some("+5511987654321"))
    );
    assert_eq!(deliver_due(&app.state).await, Default::default(), "nothing left");

    // WhatsApp disconnects: the Open Line says so, and our API shows the error.
    tenant
        .set_line_status(
            Caller::System,
            line,
            tenancy::LineStatus::Disconnected,
            b"{}",
            app.state.now(),
        )
        .await
        .unwrap();
    assert_eq!(deliver_due(&app.state).await.done, 1);
    let data = accepted(&app, "imconnector.connector.data.set");
    assert_eq!(
        data.last().unwrap()["DATA"]["NAME"],
        "WhatsApp +79990000123 · Sales — отключён / disconnected"
    );
    assert_eq!(
        app.get(&format!("/api/lines/{line}"), &admin).await.json()["open_channel_status"],
        "error"
    );
    tenant
        .set_line_status(
            Caller::System,
            line,
            tenancy::LineStatus::Connected,
            b"{}",
            app.state.now(),
        )
        .await
        .unwrap();
    deliver_due(&app.state).await;
    assert_eq!(
        app.get(&format!("/api/lines/{line}"), &admin).await.json()["open_channel_status"],
        "active"
    );

    // Back to the panel: the connector is switched off on the Open Line.
    let a = app
        .call(
            "PATCH",
            &format!("/api/lines/{line}"),
            Some(&admin),
            Some(json!({"open_channel": "panel"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    deliver_due(&app.state).await;
    let status = portal.imconnector_status(CONNECTOR_ID, b24_client::Id(open_line)).await.unwrap();
    assert_eq!(status["STATUS"].as_bool(), Some(false));
    assert_eq!(
        app.get(&format!("/api/lines/{line}"), &admin).await.json()["open_channel_status"],
        "off"
    );
    // Every call is in the tenant's audit log with Bitrix24's ids.
    let audit = app.get("/api/audit?kind=b24.connector_call&limit=50", &admin).await.json();
    let payloads: Vec<String> =
        audit["records"].as_array().unwrap().iter().map(|r| r["payload"].to_string()).collect();
    assert!(payloads.iter().any(|p| p.contains("session_id")), "{payloads:?}");
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

// REST docs: imconnector-send-messages.md (`message.files[]{url, name}`: a URL Bitrix24 can
// download; images shown inline by extension).
#[tokio::test]
async fn every_kind_of_customer_file_goes_by_a_signed_link_that_bitrix24_can_fetch() {
    use sha2::Digest;
    use wab24::open_channels::worker::deliver_due;

    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let portal = app.state.portal(ALPHA).await.unwrap();
    let open_line = portal.openlines_config_add(json!({"LINE_NAME": "Files"})).await.unwrap().0;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Files"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let patch = json!({"open_channel": "both", "open_line_id": open_line});
    assert_eq!(
        app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(patch)).await.status,
        200
    );
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    let media_dir = app.state.runtime().unwrap().media_dir(ALPHA);
    let kinds = [
        (tenancy::MessageKind::Image, "image/jpeg", None, Some("a photo")),
        (tenancy::MessageKind::Video, "video/mp4", None, None),
        (tenancy::MessageKind::Document, "application/pdf", Some("price list.pdf"), None),
        (tenancy::MessageKind::Voice, "audio/ogg; codecs=opus", None, None),
        (tenancy::MessageKind::Sticker, "image/webp", None, None),
    ];
    for (n, (kind, mime, name, caption)) in kinds.iter().enumerate() {
        let wa_id = format!("F{n}");
        let path = match name {
            Some(name) => format!("in/{line}/{wa_id}/{name}"),
            None => format!("in/{line}/{wa_id}"),
        };
        let body = format!("file {n} bytes").into_bytes();
        let file = media_dir.join(&path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &body).unwrap();
        let m = tenancy::Inbound {
            line_id: line,
            jid: "5511987654321@s.whatsapp.net".to_owned(),
            phone: None,
            push_name: Some("Ana".to_owned()),
            wa_id,
            kind: *kind,
            text: caption.map(str::to_owned),
            media: Some(tenancy::Media {
                path,
                mime: (*mime).to_owned(),
                size: body.len() as i64,
                sha256: sha2::Sha256::digest(&body).into(),
            }),
            quoted_wa_id: None,
            raw: b"{}".to_vec(),
            note: None,
        };
        tenant.record_inbound(Caller::System, &m, app.state.now()).await.unwrap();
    }
    let round = deliver_due(&app.state).await;
    assert_eq!((round.done, round.failed), (6, 0), "the activation and five messages: {round:?}");
    let sent = messages_sent(&app);
    assert_eq!(sent.len(), 5);
    let files: Vec<&Value> = sent.iter().map(|s| &s["message"]["files"][0]).collect();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names[0].rsplit('.').next(), Some("jpg"), "{names:?}");
    assert_eq!(names[2], "price list.pdf");
    assert!(names[3].ends_with(".ogg") && names[4].ends_with(".webp"), "{names:?}");
    assert_eq!(sent[0]["message"]["text"], "a photo", "the caption goes as text");
    assert!(sent[1]["message"].get("text").is_none(), "a file alone needs no text");
    // Bitrix24 fetches each file with its link, without a session.
    for (n, file) in files.iter().enumerate() {
        let url = file["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/media/signed/", app.base)), "{url}");
        let (status, _, body) = fetch(&app, url).await;
        assert_eq!((status, body), (200, format!("file {n} bytes").into_bytes()));
    }
    // A tampered link is refused; an expired one is gone.
    let url = files[0]["url"].as_str().unwrap();
    let mut tampered = url.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(fetch(&app, &tampered).await.0, 403);
    app.clock.advance(u64::try_from(wab24::media_link::DEFAULT_TTL_SECS).unwrap() + 1);
    assert_eq!(fetch(&app, url).await.0, 410);
}

/// A worker that died holding items (claimed, never completed): once their lease has run out,
/// the next worker sends them, each once.
#[tokio::test]
async fn items_claimed_by_a_worker_that_died_are_sent_after_their_lease() {
    use wab24::open_channels::worker::deliver_due;

    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let portal = app.state.portal(ALPHA).await.unwrap();
    let open_line = portal.openlines_config_add(json!({"LINE_NAME": "Crash"})).await.unwrap().0;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Crash"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let patch = json!({"open_channel": "openline", "open_line_id": open_line});
    assert_eq!(
        app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(patch)).await.status,
        200
    );
    for n in 0..3 {
        customer_writes(&app, line, &format!("C{n}"), &format!("message {n}"), None).await;
    }
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    // The worker that died: it claimed everything and never came back.
    let claimed = tenant
        .claim_b24_outbox(Caller::System, 50, std::time::Duration::from_secs(120), app.state.now())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);
    assert_eq!(deliver_due(&app.state).await, Default::default(), "leased");
    app.clock.advance(121);
    let round = deliver_due(&app.state).await;
    assert_eq!((round.done, round.retried), (4, 0), "{round:?}");
    let sent: Vec<String> = messages_sent(&app)
        .iter()
        .map(|p| p["message"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["C0", "C1", "C2"], "in order, each once");
    assert_eq!(tenant.b24_outbox_backlog(Caller::System).await.unwrap(), 0);
    // Deleting the line switches the connector off on its Open Line.
    let a = app.call("DELETE", &format!("/api/lines/{line}"), Some(&admin), None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(deliver_due(&app.state).await.done, 1);
    let status = portal
        .imconnector_status(
            wab24::open_channels::connector::CONNECTOR_ID,
            b24_client::Id(open_line),
        )
        .await
        .unwrap();
    assert_eq!(status["STATUS"].as_bool(), Some(false));
}

// ---- the portal's Open Lines ---------------------------------------------------------------

/// A line assigned to `user` (known once the portal's users are read); its id.
async fn assigned_line(app: &App, admin: &str, name: &str, user: i64) -> i64 {
    assert_eq!(app.get("/api/users", admin).await.status, 200);
    let line = app.call("POST", "/api/lines", Some(admin), Some(json!({"name": name}))).await;
    let id = line.json()["id"].as_i64().unwrap();
    let path = format!("/api/lines/{id}/assignment");
    assert_eq!(
        app.call("PUT", &path, Some(admin), Some(json!({"user_id": user}))).await.status,
        200
    );
    id
}

#[tokio::test]
async fn administrators_list_and_create_the_portals_open_lines() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let user = app.token(ALPHA, 2).await;
    let line = assigned_line(&app, &admin, "Sales", 2).await;
    for (method, body) in [("GET", None), ("POST", Some(json!({"name": "x"})))] {
        let a = app.call(method, "/api/open-lines", Some(&user), body).await;
        assert_eq!((a.status, a.code().as_str()), (403, "forbidden"), "{method}");
    }
    assert!(app.sim.calls_to("imopenlines.config.add").is_empty());
    let a = app.get("/api/open-lines", &admin).await;
    assert_eq!((a.status, a.json()), (200, json!({"open_lines": []})));

    // Created for the line: its assigned user is the queue (REST docs,
    // api-reference/imopenlines/openlines/imopenlines-config-add.md).
    let a = app
        .call(
            "POST",
            "/api/open-lines",
            Some(&admin),
            Some(json!({"name": " WhatsApp Sales ", "line_id": line})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let created = a.json();
    assert_eq!(
        (created["name"].as_str(), created["active"].as_bool()),
        (Some("WhatsApp Sales"), Some(true))
    );
    let open_line = created["id"].as_i64().unwrap();
    let call = app.sim.calls_to("imopenlines.config.add").pop().unwrap();
    assert_eq!(call.params["PARAMS"]["LINE_NAME"], "WhatsApp Sales");
    assert_eq!(call.params["PARAMS"]["QUEUE"], json!([{"ENTITY_TYPE": "user", "ENTITY_ID": 2}]));
    let a =
        app.call("POST", "/api/open-lines", Some(&admin), Some(json!({"name": "Support"}))).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(
        app.sim.calls_to("imopenlines.config.add").pop().unwrap().params["PARAMS"]
            .get("QUEUE")
            .is_none()
    );
    for bad in [json!({"name": "  "}), json!({"name": "x".repeat(101)}), json!({"name": 5})] {
        let a = app.call("POST", "/api/open-lines", Some(&admin), Some(bad.clone())).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
    }
    let a = app
        .call("POST", "/api/open-lines", Some(&admin), Some(json!({"name": "n", "line_id": 999})))
        .await;
    assert_eq!(a.status, 404, "{}", a.body);

    // Listed with the line that feeds each.
    let path = format!("/api/lines/{line}");
    let patch = json!({"open_channel": "both", "open_line_id": open_line});
    assert_eq!(app.call("PATCH", &path, Some(&admin), Some(patch)).await.status, 200);
    let listed = app.get("/api/open-lines", &admin).await.json();
    let listed = listed["open_lines"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"].as_i64(), Some(open_line));
    assert_eq!(listed[0]["line_id"].as_i64(), Some(line));
    assert!(listed[1]["line_id"].is_null());
}

#[tokio::test]
async fn bitrix24_refusals_become_clear_api_errors() {
    use b24_sim::{Fault, FaultAction};
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let error = |code: &str| FaultAction::Error { code: code.to_owned() };
    app.sim.add_fault(Fault::on("imopenlines.config.list.get", error("ACCESS_DENIED")).times(1));
    let a = app.get("/api/open-lines", &admin).await;
    assert_eq!((a.status, a.code().as_str()), (502, "portal_refused"), "{}", a.body);
    let message = a.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("ACCESS_DENIED") && message.contains("imopenlines"), "{message}");
    app.sim.add_fault(Fault::on("imopenlines.config.add", error("ERROR_ARGUMENT")).times(1));
    let a = app.call("POST", "/api/open-lines", Some(&admin), Some(json!({"name": "n"}))).await;
    assert_eq!((a.status, a.code().as_str()), (502, "portal_refused"), "{}", a.body);
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("imopenlines.config.add (ERROR_ARGUMENT)")
    );
    // The portal is up again: the same calls work.
    assert_eq!(app.get("/api/open-lines", &admin).await.status, 200);
}

// ---- the connector's settings page (SETTING_CONNECTOR) --------------------------------------

/// `PLACEMENT_OPTIONS` as Bitrix24 sends them to the connector's page (REST docs,
/// api-reference/widgets/setting-connector.md).
fn connector_options(open_line: i64) -> Value {
    json!({"CONNECTOR": "wab24", "LINE": open_line.to_string(), "STATUS": false,
        "ACTIVE_STATUS": true, "CONNECTION_STATUS": false, "REGISTER_STATUS": false,
        "ERROR_STATUS": false,
        "URI": "/contact_center/connector/?ID=wab24&IFRAME=Y&IFRAME_TYPE=SIDE_SLIDER"})
}

fn session_of(page: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"wab24-session\">";
    let start = page.find(open).expect("session element") + open.len();
    let end = page[start..].find("</script>").unwrap() + start;
    serde_json::from_str(&page[start..end]).unwrap()
}

#[tokio::test]
async fn the_connector_page_shows_the_line_that_feeds_the_open_line() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let line = assigned_line(&app, &admin, "Sales", 2).await;
    let patch = json!({"open_channel": "openline", "open_line_id": 17});
    assert_eq!(
        app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(patch)).await.status,
        200
    );

    for (user, lang, want_lang, role) in [(1, "ru", "ru", "admin"), (2, "en", "en", "user")] {
        let (q, b) = app
            .sim
            .frame_request_in(ALPHA, user, "SETTING_CONNECTOR", &connector_options(17), lang)
            .unwrap();
        let a = app.post_form("/b24/connector", &q, b).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.contains(&format!("<html lang={want_lang}>")), "{}", a.body);
        assert!(a.body.contains("<script type=module src=\"/ui/connector.js\">"));
        let csp = a.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors http://alpha.test"), "{csp}");
        let s = session_of(&a.body);
        assert_eq!((s["role"].as_str(), s["lang"].as_str()), (Some(role), Some(want_lang)));
        let c = &s["connector"];
        assert_eq!(
            (c["open_line_id"].as_i64(), c["connector"].as_str(), c["active"].as_bool()),
            (Some(17), Some("wab24"), Some(true))
        );
        assert_eq!(
            (c["line"]["id"].as_i64(), c["line"]["name"].as_str()),
            (Some(line), Some("Sales"))
        );
        // The page's token is a session like the app's: an administrator's changes the line.
        let token = s["token"].as_str().unwrap();
        let a = app
            .call(
                "PATCH",
                &format!("/api/lines/{line}"),
                Some(token),
                Some(json!({"open_channel": "both"})),
            )
            .await;
        assert_eq!(a.status, if role == "admin" { 200 } else { 403 }, "{}", a.body);
    }
    // Another Open Line: nothing feeds it.
    let (q, b) =
        app.sim.frame_request(ALPHA, 1, "SETTING_CONNECTOR", &connector_options(18)).unwrap();
    let s = session_of(&app.post_form("/b24/connector", &q, b).await.body);
    assert!(s["connector"]["line"].is_null(), "{s}");
}

#[tokio::test]
async fn the_connector_page_refuses_what_is_not_its_confirmed_frame() {
    let app = start().await;
    app.install(ALPHA).await;
    // Not the connector's placement, or no Open Line: 400, shown in the frame.
    for (placement, options) in
        [("DEFAULT", connector_options(17)), ("SETTING_CONNECTOR", json!({"CONNECTOR": "wab24"}))]
    {
        let (q, b) = app.sim.frame_request_in(ALPHA, 1, placement, &options, "ru").unwrap();
        let a = app.post_form("/b24/connector", &q, b).await;
        assert_eq!(a.status, 400, "{placement}: {}", a.body);
        assert!(a.body.contains("data-code=\"bad_request\"") && a.body.contains("<html lang=ru>"));
        assert!(!a.body.contains("wab24-session"));
    }
    // A token the portal does not confirm: no session issued.
    let (q, b) =
        app.sim.frame_request(ALPHA, 1, "SETTING_CONNECTOR", &connector_options(17)).unwrap();
    let forged = b
        .split('&')
        .map(
            |kv| if kv.starts_with("AUTH_ID=") { "AUTH_ID=nope".to_owned() } else { kv.to_owned() },
        )
        .collect::<Vec<_>>()
        .join("&");
    let a = app.post_form("/b24/connector", &q, forged).await;
    assert!(matches!(a.status, 401 | 403), "{}: {}", a.status, a.body);
    assert!(!a.body.contains("wab24-session"));
    // A portal where the app is not installed.
    let (q, b) =
        app.sim.frame_request(BETA, 1, "SETTING_CONNECTOR", &connector_options(17)).unwrap();
    let a = app.post_form("/b24/connector", &q, b).await;
    assert_eq!(a.status, 403, "{}", a.body);
}

/// What the business phone writes to a customer itself (WhatsApp on the phone, not wab24)
/// reaches the line as a copy: stored as ours, shown in the panel, and sent to the Open Line on
/// behalf of the line's assigned user (REST docs `imconnector-send-messages.md`:
/// `message.user_id`, the manager on whose behalf the message goes).
#[tokio::test]
async fn messages_the_business_phone_sends_itself_go_as_the_assigned_users() {
    use crate::app::Sse;
    use wa_sim::{PhoneContent, PhoneMessage};
    use wab24::open_channels::worker::deliver_due;

    const LINE_PHONE: &str = "79990000601";
    const CUSTOMER: &str = "79160000601";
    let app = start().await;
    app.install(ALPHA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000601")).unwrap();
    app.wa.create_account(CUSTOMER, Some("100000000000601")).unwrap();
    let admin = app.token(ALPHA, 1).await;
    app.token(ALPHA, 2).await; // user 2 opens the app once, so that the line can be theirs
    let mut events = Sse::open(&app, &admin).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Shop"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let a = app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let qr = events.find("line.status", |d| d["line_id"] == line && d["state"] == "qr").await;
    app.wa.scan(qr["qr"].as_str().unwrap(), LINE_PHONE).await.unwrap();
    events.find("line.status", |d| d["line_id"] == line && d["state"] == "connected").await;
    let assign = json!({"user_id": 2});
    let a =
        app.call("PUT", &format!("/api/lines/{line}/assignment"), Some(&admin), Some(assign)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let portal = app.state.portal(ALPHA).await.unwrap();
    let open_line = portal.openlines_config_add(json!({"LINE_NAME": "Shop"})).await.unwrap().0;
    let patch = json!({"open_channel": "both", "open_line_id": open_line});
    assert_eq!(
        app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(patch)).await.status,
        200
    );

    let say = |to: &str, text: &str| PhoneMessage {
        to: to.to_owned(),
        content: PhoneContent::Text(text.to_owned()),
        quoted: None,
    };
    let asked = app.wa.phone_send(CUSTOMER, say(LINE_PHONE, "Do you deliver?")).await.unwrap();
    events.find("message.stored", |d| d["message"]["text"] == "Do you deliver?").await;
    let answered = app.wa.phone_send(LINE_PHONE, say(CUSTOMER, "Yes, tomorrow")).await.unwrap();
    let stored = events.find("message.stored", |d| d["message"]["text"] == "Yes, tomorrow").await;
    assert_eq!(stored["message"]["direction"], "out", "{stored}");
    assert_eq!(stored["message"]["status"], "sent");

    // The line runtime dates what it stores by the system clock, the test's server clock stands
    // still: let it catch up.
    app.clock.advance(60);
    let round = deliver_due(&app.state).await;
    assert_eq!((round.done, round.retried, round.failed), (3, 0, 0), "{round:?}");
    let sent = messages_sent(&app);
    assert_eq!(sent.len(), 2);
    let customer = &sent[0]["message"];
    assert_eq!((customer["id"].as_str(), customer.get("user_id")), (Some(asked.as_str()), None));
    let ours = &sent[1];
    assert_eq!(ours["message"]["id"], answered.as_str());
    assert_eq!(ours["message"]["text"], "Yes, tomorrow");
    assert_eq!(ours["message"]["user_id"], 2, "on behalf of the line's assigned user");
    assert_eq!(ours["user"]["id"], CUSTOMER, "the dialog stays the customer's");
}

/// The worker as `wab24 serve` runs it: it registers the connector on every installed portal
/// when it starts, and sends what is queued without being asked.
#[tokio::test]
async fn the_running_worker_registers_and_sends_by_itself() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let portal = app.state.portal(ALPHA).await.unwrap();
    let open_line = portal.openlines_config_add(json!({"LINE_NAME": "Run"})).await.unwrap().0;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Run"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let patch = json!({"open_channel": "openline", "open_line_id": open_line});
    assert_eq!(
        app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(patch)).await.status,
        200
    );
    let registered_at_install = accepted(&app, "imconnector.register").len();
    let worker = tokio::spawn(wab24::open_channels::worker::run(app.state.clone()));
    customer_writes(&app, line, "R1", "anyone there?", None).await;
    let mut sent = vec![];
    for _ in 0..400 {
        sent = messages_sent(&app);
        if !sent.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    worker.abort();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["message"]["id"], "R1");
    assert_eq!(accepted(&app, "imconnector.register").len(), registered_at_install + 1);
    assert_eq!(accepted(&app, "imconnector.activate").len(), 1);
}

/// An Open Line Bitrix24 does not know (or has switched off): the activation is retried, and the
/// line shows the error meanwhile (imconnector-activate.md; send.messages: `NOT_ACTIVE_LINE`).
#[tokio::test]
async fn an_open_line_bitrix24_refuses_shows_as_an_error() {
    use wab24::open_channels::worker::deliver_due;

    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Lost"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let patch = json!({"open_channel": "openline", "open_line_id": 999});
    assert_eq!(
        app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(patch)).await.status,
        200
    );
    let status = || async {
        app.get(&format!("/api/lines/{line}"), &admin).await.json()["open_channel_status"].clone()
    };
    assert_eq!(deliver_due(&app.state).await.retried, 1);
    assert_eq!(status().await, "off", "one failure may be Bitrix24 being away");
    app.clock.advance(5);
    assert_eq!(deliver_due(&app.state).await.retried, 1);
    assert_eq!(status().await, "error");
    // Still queued, not lost: once the Open Line exists and is active it goes through.
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    assert_eq!(tenant.b24_outbox_backlog(Caller::System).await.unwrap(), 1);
}

/// WhatsApp edits and revokes reach the panel and the Open Line: a customer's edit replaces the
/// text (the old one stays in the audit log), their "delete for everyone" empties the message;
/// both go to Bitrix24 as `imconnector.update.messages` / `delete.messages` with the same
/// `message.id` and `chat.id` as first sent (REST docs `imconnector-update-messages.md`,
/// `imconnector-delete-messages.md`). Only the sender changes its message; an edit of a message
/// the line does not have is kept as a message of its own. The business phone's edit of its own
/// message goes on behalf of the line's assigned user.
#[tokio::test]
async fn whatsapp_edits_and_revokes_reach_the_panel_and_the_open_line() {
    use crate::app::Sse;
    use wa_sim::{PhoneContent, PhoneMessage};
    use wab24::open_channels::worker::deliver_due;

    const LINE_PHONE: &str = "79990000701";
    const CUSTOMER: &str = "79160000701";
    let app = start().await;
    app.install(ALPHA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000701")).unwrap();
    app.wa.create_account(CUSTOMER, Some("100000000000701")).unwrap();
    let admin = app.token(ALPHA, 1).await;
    app.token(ALPHA, 2).await;
    let mut events = Sse::open(&app, &admin).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Shop"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    let qr = events.find("line.status", |d| d["line_id"] == line && d["state"] == "qr").await;
    app.wa.scan(qr["qr"].as_str().unwrap(), LINE_PHONE).await.unwrap();
    events.find("line.status", |d| d["line_id"] == line && d["state"] == "connected").await;
    let assign = json!({"user_id": 2});
    app.call("PUT", &format!("/api/lines/{line}/assignment"), Some(&admin), Some(assign)).await;
    let portal = app.state.portal(ALPHA).await.unwrap();
    let open_line = portal.openlines_config_add(json!({"LINE_NAME": "Shop"})).await.unwrap().0;
    let patch = json!({"open_channel": "both", "open_line_id": open_line});
    let a = app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(patch)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let send = |from: &'static str, to: &'static str, content: PhoneContent| {
        let app = &app;
        async move {
            let message = PhoneMessage { to: to.to_owned(), content, quoted: None };
            app.wa.phone_send(from, message).await.unwrap()
        }
    };
    let text = |t: &str| PhoneContent::Text(t.to_owned());

    let asked = send(CUSTOMER, LINE_PHONE, text("Хочу 2 штуки")).await;
    let stored = events.find("message.stored", |d| d["message"]["text"] == "Хочу 2 штуки").await;
    let asked_id = stored["message"]["id"].as_i64().unwrap();
    let ours = send(LINE_PHONE, CUSTOMER, text("Есть в наличии")).await;
    let stored = events.find("message.stored", |d| d["message"]["text"] == "Есть в наличии").await;
    let ours_id = stored["message"]["id"].as_i64().unwrap();
    app.clock.advance(60);
    let round = deliver_due(&app.state).await;
    assert_eq!((round.retried, round.failed), (0, 0), "{round:?}");

    // The customer edits, then deletes their message.
    let edit =
        PhoneContent::Edit { target: asked.clone(), text: "Хочу 3 штуки".to_owned() };
    send(CUSTOMER, LINE_PHONE, edit).await;
    let edited = events
        .find("message.status", |d| d["message_id"] == asked_id && d["message"]["note"] == "edited")
        .await;
    assert_eq!(edited["message"]["text"], "Хочу 3 штуки", "{edited}");
    send(CUSTOMER, LINE_PHONE, PhoneContent::Revoke { target: asked.clone() }).await;
    let revoked = events
        .find("message.status", |d| {
            d["message_id"] == asked_id && d["message"]["note"] == "revoked"
        })
        .await;
    assert_eq!(revoked["message"]["text"], Value::Null, "the content goes: {revoked}");
    // The customer cannot change ours; the business phone can (its own message).
    send(CUSTOMER, LINE_PHONE, PhoneContent::Revoke { target: ours.clone() }).await;
    let fix = PhoneContent::Edit { target: ours.clone(), text: "Есть, 5 штук".to_owned() };
    send(LINE_PHONE, CUSTOMER, fix).await;
    let fixed = events
        .find("message.status", |d| d["message_id"] == ours_id && d["message"]["note"] == "edited")
        .await;
    assert_eq!(fixed["message"]["text"], "Есть, 5 штук", "{fixed}");
    // An edit of a message the line never had is kept, noted, never dropped.
    let stray = PhoneContent::Edit { target: "3EB0UNKNOWN".to_owned(), text: "Ой".to_owned() };
    send(CUSTOMER, LINE_PHONE, stray).await;
    let kept = events.find("message.stored", |d| d["message"]["text"] == "Ой").await;
    assert_eq!(
        (kept["message"]["note"].as_str(), kept["message"]["direction"].as_str()),
        (Some("edited"), Some("in"))
    );

    // The panel shows it all.
    let conversation = kept["message"]["conversation_id"].as_i64().unwrap();
    let history = app
        .get(&format!("/api/conversations/{conversation}/messages?limit=50"), &admin)
        .await
        .json();
    let by_id = |id: i64| {
        history["messages"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap().clone()
    };
    assert_eq!(
        (by_id(asked_id)["note"].as_str(), by_id(asked_id)["text"].as_str()),
        (Some("revoked"), None)
    );
    assert_eq!(
        (by_id(ours_id)["note"].as_str(), by_id(ours_id)["text"].as_str()),
        (Some("edited"), Some("Есть, 5 штук"))
    );

    // Bitrix24 is told, with the ids it knows the messages by.
    app.clock.advance(60);
    let round = deliver_due(&app.state).await;
    assert_eq!((round.retried, round.failed), (0, 0), "{round:?}");
    let updates: Vec<Value> = accepted(&app, "imconnector.update.messages")
        .iter()
        .flat_map(|c| c["MESSAGES"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(
        (updates[0]["message"]["id"].as_str(), updates[0]["chat"]["id"].as_str()),
        (Some(asked.as_str()), Some(CUSTOMER))
    );
    assert_eq!(updates[0]["message"]["text"], "Хочу 3 штуки");
    assert_eq!(updates[1]["message"]["id"], ours.as_str());
    assert_eq!(updates[1]["message"]["user_id"], 2, "on behalf of the line's assigned user");
    let deletes: Vec<Value> = accepted(&app, "imconnector.delete.messages")
        .iter()
        .flat_map(|c| c["MESSAGES"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        deletes,
        [json!({"user": {"id": CUSTOMER}, "message": {"id": asked}, "chat": {"id": CUSTOMER}})]
    );
    let session =
        app.sim.open_line_sessions(ALPHA).into_iter().find(|s| s.line == open_line).unwrap();
    let in_b24 = app.sim.open_line_messages(ALPHA, session.chat_id);
    let theirs = in_b24.iter().find(|m| m.external_ids.contains(&asked)).unwrap();
    assert!(theirs.deleted && theirs.edited, "{theirs:?}");
    let mine = in_b24.iter().find(|m| m.external_ids.contains(&ours)).unwrap();
    assert_eq!((mine.text.as_str(), mine.deleted), ("Есть, 5 штук", false), "{mine:?}");
    assert_eq!(mine.author, b24_sim::MessageAuthor::Operator(2), "{mine:?}");
    // Nothing came back: the customer has the business phone's message and edit once each.
    let got = app.wa.phone_received(CUSTOMER).unwrap();
    let from_line: Vec<&str> = got.iter().filter(|m| !m.from_me).map(|m| m.kind.as_str()).collect();
    assert_eq!(from_line, ["text", "edit"], "{got:?}");

    // What the customer's message said is in the audit log only.
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    let q = tenancy::audit::Query {
        kind: Some(tenancy::audit::Kind::MessageReceived),
        subject: Some(format!("message:{asked_id}")),
        limit: 10,
        ..tenancy::audit::Query::default()
    };
    let records = tenant.audit_query(Caller::Admin(1), &q).await.unwrap().records;
    let said: Vec<Value> = records
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.payload).ok())
        .filter_map(|p| p.pointer("/previous/text").cloned())
        .collect();
    assert_eq!(said, [json!("Хочу 2 штуки"), json!("Хочу 3 штуки")]);
}

/// A customer shares a place and contact cards: the panel's API shows them by kind, as text (the
/// place's name, address and coordinates; each card's name and numbers from its vCard), and the
/// Open Line gets them as text, the place with a map link (imconnector-send-messages.md has no
/// other field for them).
#[tokio::test]
async fn locations_and_contact_cards_reach_the_panel_and_the_open_line() {
    use crate::app::Sse;
    use wa_sim::{PhoneContent, PhoneMessage};
    use wab24::open_channels::worker::deliver_due;

    const LINE_PHONE: &str = "79990000602";
    const CUSTOMER: &str = "79160000602";
    let app = start().await;
    app.install(ALPHA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000602")).unwrap();
    app.wa.create_account(CUSTOMER, Some("100000000000602")).unwrap();
    let admin = app.token(ALPHA, 1).await;
    let mut events = Sse::open(&app, &admin).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Shop"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let a = app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let qr = events.find("line.status", |d| d["line_id"] == line && d["state"] == "qr").await;
    app.wa.scan(qr["qr"].as_str().unwrap(), LINE_PHONE).await.unwrap();
    events.find("line.status", |d| d["line_id"] == line && d["state"] == "connected").await;
    let portal = app.state.portal(ALPHA).await.unwrap();
    let open_line = portal.openlines_config_add(json!({"LINE_NAME": "Shop"})).await.unwrap().0;
    let patch = json!({"open_channel": "both", "open_line_id": open_line});
    assert_eq!(
        app.call("PATCH", &format!("/api/lines/{line}"), Some(&admin), Some(patch)).await.status,
        200
    );

    let send = |content| PhoneMessage { to: LINE_PHONE.to_owned(), content, quoted: None };
    let place = PhoneContent::Location {
        latitude: 55.753_93,
        longitude: 37.620_795,
        name: Some("Red Square".to_owned()),
        address: Some("Moscow".to_owned()),
    };
    let vcard = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ivan Petrov\r\n\
        item1.TEL;waid=79161234567:+7 916 123-45-67\r\nitem1.X-ABLabel:Mobile\r\nEND:VCARD";
    let cards = PhoneContent::Contacts(vec![("Ivan Petrov".to_owned(), vcard.to_owned())]);
    let place_id = app.wa.phone_send(CUSTOMER, send(place)).await.unwrap();
    let stored = events.find("message.stored", |d| d["message"]["kind"] == "location").await;
    let conversation = stored["message"]["conversation_id"].as_i64().unwrap();
    let card_id = app.wa.phone_send(CUSTOMER, send(cards)).await.unwrap();
    events.find("message.stored", |d| d["message"]["kind"] == "contact").await;

    let page = app.get(&format!("/api/conversations/{conversation}/messages"), &admin).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let shown: Vec<(String, String)> = page.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap().to_owned(), m["text"].as_str().unwrap().to_owned()))
        .collect();
    let place_text = "Red Square\nMoscow\n55.753930, 37.620795";
    let card_text = "Ivan Petrov\n+7 916 123-45-67";
    assert!(shown.contains(&("location".to_owned(), place_text.to_owned())), "{shown:?}");
    assert!(shown.contains(&("contact".to_owned(), card_text.to_owned())), "{shown:?}");

    app.clock.advance(60);
    let round = deliver_due(&app.state).await;
    assert_eq!((round.retried, round.failed), (0, 0), "{round:?}");
    let session =
        app.sim.open_line_sessions(ALPHA).into_iter().find(|s| s.line == open_line).unwrap();
    let in_b24 = app.sim.open_line_messages(ALPHA, session.chat_id);
    let text_of = |id: &str| {
        in_b24.iter().find(|m| m.external_ids.iter().any(|e| e == id)).map(|m| m.text.clone())
    };
    assert_eq!(
        text_of(&place_id).as_deref(),
        Some(
            "Red Square\nMoscow\n55.753930, 37.620795\n\
             https://www.openstreetmap.org/?mlat=55.753930&mlon=37.620795"
        ),
        "{in_b24:?}"
    );
    assert_eq!(text_of(&card_id).as_deref(), Some(card_text), "{in_b24:?}");
}
