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
