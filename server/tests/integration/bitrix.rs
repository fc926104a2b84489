//! The Bitrix24 side: install (frame and callback), opening the app (token, roles, CSP),
//! events verified by `application_token`, uninstall with and without CLEAN.

use b24_sim::EventOptions;
use serde_json::json;
use tenancy::TenantStatus;

use crate::app::{ALPHA, BETA, start, token_of};

#[tokio::test]
async fn install_frame_registers_the_tenant_and_binds_uninstall() {
    let app = start().await;
    let a = app.install_frame(ALPHA, 1).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("<script src=\"/ui/install.js\">"));
    assert_eq!(
        a.headers["content-security-policy"].to_str().unwrap().split(';').next(),
        Some("frame-ancestors http://alpha.test")
    );
    let info = app.store.info(ALPHA).await.unwrap();
    assert_eq!(
        (info.status, info.plan.as_str(), info.line_quota, info.domain.as_str()),
        (TenantStatus::Active, "trial", 3, "alpha.test")
    );
    let trial_left = info.trial_ends_at.unwrap() - b24_client::now_unix(&app.clock) * 1000;
    assert_eq!(trial_left, 15 * 86_400_000);
    // Tokens, endpoints and the application token are kept (sealed).
    let t = app.store.portal_tokens(ALPHA).await.unwrap().unwrap();
    assert_eq!(t.application_token, app.sim.application_token(ALPHA).unwrap().expose());
    assert!(t.client_endpoint.ends_with("/p/alpha.test/rest/"));
    // ONAPPUNINSTALL and the Open Channels connector's events are bound to our events endpoint.
    let portal = app.sim.inspect(ALPHA).unwrap();
    let mut bound = vec![json!(["ONAPPUNINSTALL", app.url("/b24/events")])];
    bound.extend(
        wab24::open_channels::connector::EVENTS.iter().map(|e| json!([e, app.url("/b24/events")])),
    );
    assert_eq!(portal["events"], json!(bound));
    // The installer is a known administrator.
    let users =
        app.store.tenant(ALPHA).await.unwrap().users(tenancy::Caller::System).await.unwrap();
    assert_eq!(users.iter().map(|u| (u.id, u.is_admin)).collect::<Vec<_>>(), [(1, true)]);
    // The token was confirmed with the OAuth server we trust.
    assert_eq!(app.sim.calls_to("oauth/app.info").len(), 1);
}

#[tokio::test]
async fn only_an_administrator_installs_and_forged_frames_fail() {
    let app = start().await;
    let a = app.install_frame(ALPHA, 2).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("only a portal administrator"));
    assert!(app.store.info(ALPHA).await.is_err());
    // A made-up AUTH_ID is not confirmed by the OAuth server.
    let (q, b) = app.sim.frame_request(ALPHA, 1, "DEFAULT", &json!({})).unwrap();
    let forged =
        b.split('&')
            .map(|kv| {
                if kv.starts_with("AUTH_ID=") {
                    "AUTH_ID=made-up".to_owned()
                } else {
                    kv.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("&");
    let a = app.post_form("/b24/install", &q, forged).await;
    assert_eq!(a.status, 401, "{}", a.body);
    // alpha's token presented as beta's installation.
    let b2 = b.replace(&format!("member_id={ALPHA}"), &format!("member_id={BETA}"));
    let a = app.post_form("/b24/install", &q, b2).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(app.store.info(BETA).await.is_err());
    // Not a frame at all.
    let a = app.post_form("/b24/install", "", "hello=1".to_owned()).await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn install_callback_registers_the_tenant() {
    let app = start().await;
    let d = app.sim.send_install_callback(BETA, &app.url("/b24/install")).await.unwrap();
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&d.body).unwrap(),
        json!({"installed": true})
    );
    assert_eq!(app.store.info(BETA).await.unwrap().status, TenantStatus::Active);
    assert_eq!(
        app.store.portal_tokens(BETA).await.unwrap().unwrap().application_token,
        app.sim.application_token(BETA).unwrap().expose()
    );
}

#[tokio::test]
async fn opening_the_app_issues_a_token_with_the_portals_role() {
    let app = start().await;
    // Before install: refused.
    let a = app.open_app(ALPHA, 1).await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("not installed"));
    app.install(ALPHA).await;
    for (user, role) in [(1, "admin"), (2, "user"), (3, "user")] {
        let a = app.open_app(ALPHA, user).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(
            a.headers["content-security-policy"].to_str().unwrap().split(';').next(),
            Some("frame-ancestors http://alpha.test")
        );
        assert!(a.headers.get("x-frame-options").is_none());
        let token = token_of(&a.body);
        let me = app.get("/api/me", &token).await.json();
        assert_eq!(
            (me["member_id"].as_str(), me["user_id"].as_i64(), me["role"].as_str()),
            (Some(ALPHA), Some(user as i64), Some(role))
        );
        assert_eq!(
            me["expires_at"].as_i64().unwrap() - b24_client::now_unix(&app.clock),
            72 * 3600
        );
    }
    // The users who opened the app are cached with the portal's admin flag.
    let users =
        app.store.tenant(ALPHA).await.unwrap().users(tenancy::Caller::System).await.unwrap();
    assert_eq!(
        users.iter().map(|u| (u.id, u.is_admin)).collect::<Vec<_>>(),
        [(1, true), (2, false), (3, false)]
    );
    // A frame whose AUTH_ID the portal does not know.
    let (q, b) = app.sim.frame_request(ALPHA, 2, "DEFAULT", &json!({})).unwrap();
    let forged = b
        .split('&')
        .map(
            |kv| if kv.starts_with("AUTH_ID=") { "AUTH_ID=nope".to_owned() } else { kv.to_owned() },
        )
        .collect::<Vec<_>>()
        .join("&");
    let a = app.post_form("/b24/app", &q, forged).await;
    assert!(a.status == 401 || a.status == 403, "{} {}", a.status, a.body);
    assert!(!a.body.contains("\"token\""));
    // beta's user token presented in a frame claiming alpha.
    app.install(BETA).await;
    let (q, b) = app.sim.frame_request(BETA, 1, "DEFAULT", &json!({})).unwrap();
    let a = app
        .post_form(
            "/b24/app",
            &q,
            b.replace(&format!("member_id={BETA}"), &format!("member_id={ALPHA}")),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
}

#[tokio::test]
async fn events_need_the_installations_application_token() {
    let app = start().await;
    app.install(ALPHA).await;
    let url = app.url("/b24/events");
    let deliver = |opts: EventOptions| {
        let sim = app.sim.clone();
        async move {
            sim.deliver_event(
                ALPHA,
                "ONIMCONNECTORDIALOGSTART",
                json!({"CONNECTOR": "wa", "LINE": 1}),
                opts,
            )
            .await
            .unwrap()
        }
    };
    let ok = deliver(EventOptions { url: Some(url.clone()), ..Default::default() }).await;
    assert_eq!(ok[0].status, 200, "{}", ok[0].body);
    let forged =
        deliver(EventOptions { url: Some(url.clone()), forge_token: true, ..Default::default() })
            .await;
    assert_eq!(forged[0].status, 403, "{}", forged[0].body);
    assert!(forged[0].body.contains("application_token does not match"));
    // No application_token at all.
    let body = app
        .sim
        .event_body(ALPHA, "ONAPPUNINSTALL", json!({"CLEAN": 1}), &EventOptions::default())
        .unwrap();
    let tokenless = body
        .split('&')
        .filter(|kv| {
            !kv.starts_with("auth%5Bapplication_token%5D=")
                && !kv.starts_with("auth[application_token]=")
        })
        .collect::<Vec<_>>()
        .join("&");
    assert_ne!(tokenless, body);
    let a = app.post_form("/b24/events", "", tokenless).await;
    assert_eq!(a.status, 401, "{}", a.body);
    // A forged uninstall changes nothing.
    let forged = app
        .sim
        .event_body(
            ALPHA,
            "ONAPPUNINSTALL",
            json!({"CLEAN": 1}),
            &EventOptions { forge_token: true, ..Default::default() },
        )
        .unwrap();
    assert_eq!(app.post_form("/b24/events", "", forged).await.status, 403);
    // An event for a portal we never installed.
    let other = app
        .sim
        .event_body(BETA, "ONAPPUNINSTALL", json!({"CLEAN": 1}), &EventOptions::default())
        .unwrap();
    assert_eq!(app.post_form("/b24/events", "", other).await.status, 403);
    assert_eq!(app.store.info(ALPHA).await.unwrap().status, TenantStatus::Active);
    assert_eq!(app.post_form("/b24/events", "", "garbage".to_owned()).await.status, 400);
}

#[tokio::test]
async fn uninstall_keeps_data_unless_clean() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let created =
        app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Kept line"}))).await;
    assert_eq!(created.status, 201);
    // Uninstall without CLEAN: inactive, data kept.
    let d = app.sim.uninstall(ALPHA, false).await.unwrap();
    assert_eq!(d.iter().map(|d| d.status).collect::<Vec<_>>(), [200]);
    assert_eq!(app.store.info(ALPHA).await.unwrap().status, TenantStatus::Uninstalled);
    let a = app.get("/api/lines", &admin).await;
    assert_eq!((a.status, a.code().as_str()), (403, "tenant_inactive"));
    // The same event again: tokens are gone, so it is refused.
    let again = app
        .sim
        .event_body(ALPHA, "ONAPPUNINSTALL", json!({"CLEAN": 1}), &EventOptions::default())
        .unwrap();
    assert_eq!(app.post_form("/b24/events", "", again).await.status, 403);
    // Reinstall finds the line and the plan.
    app.sim.add_portal({
        let mut s = b24_sim::PortalSpec::new(ALPHA, "alpha.test");
        s.install_finished = false;
        s
    });
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let lines = app.get("/api/lines", &admin).await.json();
    assert_eq!(lines["lines"][0]["name"], "Kept line");
    // Uninstall with CLEAN, confirmed by the portal: a soft delete. Everything stays in place,
    // unreachable, and the old sessions end.
    let generation = app.store.info(ALPHA).await.unwrap().generation;
    app.sim.uninstall(ALPHA, true).await.unwrap();
    let info = app.store.info(ALPHA).await.unwrap();
    assert_eq!(info.status, TenantStatus::Uninstalled);
    assert_eq!(info.purge_after, Some((b24_client::now_unix(&app.clock) + 7 * 86_400) * 1000));
    assert!(info.generation > generation);
    assert!(app._dir.path().join(format!("tenants/{ALPHA}.db")).is_file());
    // A reinstall within the grace period restores everything; tokens of before stay dead.
    reinstall(&app).await;
    assert_eq!(app.get("/api/lines", &admin).await.status, 401);
    let admin = app.token(ALPHA, 1).await;
    let lines = app.get("/api/lines", &admin).await.json();
    assert_eq!(lines["lines"][0]["name"], "Kept line");
    assert_eq!(app.store.info(ALPHA).await.unwrap().purge_after, None);
    // The administrator reads the lifecycle in the tenant's own log.
    let audit = app.get("/api/audit?limit=100", &admin).await.json();
    let kinds: Vec<&str> =
        audit["records"].as_array().unwrap().iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "app.uninstalled").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "app.installed").count(), 3, "{kinds:?}");
    // CLEAN again, and the grace period passes: the purge deletes the data.
    app.sim.uninstall(ALPHA, true).await.unwrap();
    assert!(wab24::http::bitrix::purge_due(&app.state).await.is_empty());
    app.clock.advance(7 * 86_400);
    assert_eq!(wab24::http::bitrix::purge_due(&app.state).await, [ALPHA.to_owned()]);
    assert!(!app._dir.path().join(format!("tenants/{ALPHA}.db")).exists());
    assert!(!app._dir.path().join(format!("tenants/{ALPHA}")).exists());
    reinstall(&app).await;
    let admin = app.token(ALPHA, 1).await;
    assert_eq!(app.get("/api/lines", &admin).await.json()["lines"], json!([]));
    // The registry keeps the plan across the purge.
    assert_eq!(app.store.info(ALPHA).await.unwrap().plan, "trial");
}

/// Bitrix24 forgets a removed local app: the portal is added again, then installed.
async fn reinstall(app: &crate::app::App) {
    app.sim.add_portal({
        let mut s = b24_sim::PortalSpec::new(ALPHA, "alpha.test");
        s.install_finished = false;
        s
    });
    app.install(ALPHA).await;
}

/// Every byte of a tenant's storage, as a digest per file: its database and write-ahead log and
/// its media folder (SQLite's `-shm` is a shared-memory index that readers update, not data).
fn tenant_bytes(dir: &std::path::Path, member: &str) -> Vec<(String, String)> {
    use sha2::Digest;
    let digest = |p: &std::path::Path| hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()));
    let mut out = vec![];
    for suffix in ["", "-wal"] {
        let p = dir.join(format!("tenants/{member}.db{suffix}"));
        if p.exists() {
            out.push((p.display().to_string(), digest(&p)));
        }
    }
    let mut stack = vec![dir.join(format!("tenants/{member}"))];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), digest(&p)));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn an_ordinary_users_uninstall_with_clean_changes_nothing() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let user = app.token(ALPHA, 2).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    assert_eq!(line.status, 201);
    app.inbound(ALPHA, 1, "15550001@s.whatsapp.net", "Customer", "w1", "hello").await;
    let media = app._dir.path().join(format!("tenants/{ALPHA}/media"));
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("photo.jpg"), b"\xff\xd8 a customer's photo").unwrap();
    let files = tenant_bytes(app._dir.path(), ALPHA);
    assert!(files.len() >= 2, "{files:?}");
    let info = app.store.info(ALPHA).await.unwrap();
    let tokens = app.store.portal_tokens(ALPHA).await.unwrap();
    // An ordinary user's frame carries the installation's APPLICATION_TOKEN...
    let (_, frame) = app.sim.frame_request(ALPHA, 2, "DEFAULT", &json!({})).unwrap();
    let form = b24_client::form::parse(frame.as_bytes(), Default::default()).unwrap();
    let application_token = form["APPLICATION_TOKEN"].as_str().unwrap().to_owned();
    // ...which is all a forged ONAPPUNINSTALL needs to pass the token check.
    let attack = format!(
        "event=ONAPPUNINSTALL&data%5BLANGUAGE_ID%5D=en&data%5BCLEAN%5D=1&ts=1\
         &auth%5Bdomain%5D=alpha.test&auth%5Bmember_id%5D={ALPHA}\
         &auth%5Bapplication_token%5D={application_token}"
    );
    let a = app.post_form("/b24/events", "", attack).await;
    assert_eq!((a.status, a.code().as_str()), (403, "forbidden"), "{}", a.body);
    assert!(a.body.contains("still installed"), "{}", a.body);
    // Every byte in place: the tenant's database, its media, the registry row; sessions live.
    assert_eq!(tenant_bytes(app._dir.path(), ALPHA), files);
    assert_eq!(app.store.info(ALPHA).await.unwrap(), info);
    assert_eq!(app.store.portal_tokens(ALPHA).await.unwrap(), tokens);
    assert_eq!(app.get("/api/lines", &admin).await.status, 200);
    assert_eq!(app.get("/api/me", &user).await.status, 200);
    // The portal was asked with the installation's own tokens.
    let asked = app.sim.calls_to("app.info");
    assert_eq!(asked.last().map(|c| c.status), Some(200));
    // An uninstall the portal cannot confirm (it is down) changes nothing either.
    app.sim.add_fault(
        b24_sim::Fault::on(
            "app.info",
            b24_sim::FaultAction::error(b24_client::ErrorCode::OverloadLimit),
        )
        .portal(ALPHA),
    );
    let body = app
        .sim
        .event_body(ALPHA, "ONAPPUNINSTALL", json!({"CLEAN": 1}), &EventOptions::default())
        .unwrap();
    let a = app.post_form("/b24/events", "", body).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(tenant_bytes(app._dir.path(), ALPHA), files);
    assert_eq!(app.store.info(ALPHA).await.unwrap(), info);
}

#[tokio::test]
async fn rotated_portal_tokens_are_persisted_with_the_application_token() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let before = app.store.portal_tokens(ALPHA).await.unwrap().unwrap();
    // The installer's access token expires: the next portal call refreshes once and the new
    // pair is sealed into the registry, endpoints and application_token kept.
    app.sim.expire_access_tokens(ALPHA);
    let a = app.get("/api/users", &admin).await;
    assert_eq!(a.json()["source"], "portal", "{}", a.body);
    let after = app.store.portal_tokens(ALPHA).await.unwrap().unwrap();
    assert_ne!(after.access_token, before.access_token);
    assert_ne!(after.refresh_token, before.refresh_token);
    assert_eq!(after.application_token, before.application_token);
    assert_eq!(after.client_endpoint, before.client_endpoint);
    assert_eq!(app.sim.calls_to("oauth/token").len(), 1);
}

#[tokio::test]
async fn the_portals_endpoint_comes_from_the_oauth_server_and_must_be_on_its_domain() {
    let app = start().await;
    let real = format!("{}/p/beta.test/rest/", app.sim.base_url().unwrap());
    // app.info leaves client_endpoint out: the callback's own value is not used instead.
    app.sim.report_client_endpoint(BETA, None);
    let d = app.sim.send_install_callback(BETA, &app.url("/b24/install")).await.unwrap();
    assert_eq!(d.status, 403, "{}", d.body);
    assert!(d.body.contains("did not name the portal's REST endpoint"), "{}", d.body);
    assert!(app.store.info(BETA).await.is_err());
    // An endpoint elsewhere (the installer's token would be sent there): refused, callback and
    // frame alike, before anything is stored or called there.
    for elsewhere in [
        "https://evil.example/p/beta.test/rest/",
        "http://127.0.0.1:1/p/beta.test/rest/",
        &real.replace("beta.test", "alpha.test"),
    ] {
        app.sim.report_client_endpoint(BETA, Some(elsewhere));
        let d = app.sim.send_install_callback(BETA, &app.url("/b24/install")).await.unwrap();
        assert_eq!(d.status, 403, "{elsewhere}: {}", d.body);
        let a = app.install_frame(BETA, 1).await;
        assert_eq!(a.status, 403, "{elsewhere}: {}", a.body);
        assert!(a.body.contains("REST endpoint is not on the portal"), "{}", a.body);
        assert!(app.store.info(BETA).await.is_err());
    }
    assert!(app.sim.calls_to("user.admin").is_empty());
    // The portal's own endpoint.
    app.sim.report_client_endpoint(BETA, Some(&real));
    let d = app.sim.send_install_callback(BETA, &app.url("/b24/install")).await.unwrap();
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(app.store.portal_tokens(BETA).await.unwrap().unwrap().client_endpoint, real);
}

#[tokio::test]
async fn error_pages_show_their_message_inside_the_portals_frame() {
    let app = start().await;
    // Not installed yet: the domain the frame names may frame the message.
    let a = app.open_app(ALPHA, 2).await;
    assert_eq!(a.status, 403);
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("frame-ancestors http://alpha.test;"), "{csp}");
    assert!(!csp.contains("'none';") || csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(a.body.contains("could not open") && a.body.contains("not installed"), "{}", a.body);
    assert!(a.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    // Installed: the registered domain, whatever the frame's query says.
    app.install(ALPHA).await;
    let (q, b) = app.sim.frame_request(ALPHA, 2, "DEFAULT", &json!({})).unwrap();
    let forged = b
        .split('&')
        .map(
            |kv| if kv.starts_with("AUTH_ID=") { "AUTH_ID=nope".to_owned() } else { kv.to_owned() },
        )
        .collect::<Vec<_>>()
        .join("&");
    let a = app.post_form("/b24/app", &q.replace("alpha.test", "evil.example"), forged).await;
    assert!(a.status == 401 || a.status == 403, "{}", a.status);
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("frame-ancestors http://alpha.test;"), "{csp}");
    assert!(a.body.contains("id=error"), "{}", a.body);
    // In the viewer's language.
    let (q, b) = app.sim.frame_request_in(BETA, 2, "DEFAULT", &json!({}), "ru").unwrap();
    let a = app.post_form("/b24/app", &q, b).await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("Не удалось открыть"), "{}", a.body);
    // Nothing names a portal: nobody may frame it.
    let a = app.post_form("/b24/app", "", "hello=1".to_owned()).await;
    assert_eq!(a.status, 400);
    assert!(
        a.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn sessions_end_with_the_installation_and_by_an_administrator() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    let u3 = app.token(ALPHA, 3).await;
    // A correctly signed token claiming more than 72 hours is refused.
    let key = wab24::session::SessionKey::derive(&crate::app::MASTER).unwrap();
    let generation = app.store.info(ALPHA).await.unwrap().generation;
    let mut long = wab24::session::claims(
        ALPHA,
        1,
        wab24::session::Role::Admin,
        generation,
        b24_client::now_unix(&app.clock),
    );
    assert_eq!(app.get("/api/me", &key.issue(&long)).await.status, 200);
    long.exp += 3600;
    assert_eq!(app.get("/api/me", &key.issue(&long)).await.status, 401);
    // Only an administrator ends sessions, of a user the app knows.
    let path = "/api/users/2/sessions/revoke";
    assert_eq!(app.call("POST", path, Some(&u3), None).await.status, 403);
    assert_eq!(
        app.call("POST", "/api/users/77/sessions/revoke", Some(&admin), None).await.status,
        404
    );
    let a = app.call("POST", path, Some(&admin), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json(), json!({"user_id": 2, "not_before": b24_client::now_unix(&app.clock)}));
    let refused = app.get("/api/me", &u2).await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("ended by an administrator"), "{}", refused.body);
    assert_eq!(app.get("/api/me", &u3).await.status, 200);
    assert_eq!(app.get("/api/me", &admin).await.status, 200);
    // Opening the app again gives the user a new session.
    app.clock.advance(1);
    let u2 = app.token(ALPHA, 2).await;
    assert_eq!(app.get("/api/me", &u2).await.status, 200);
    let audit = app.get("/api/audit?kind=auth.sessions_revoked", &admin).await.json();
    let record = &audit["records"][0];
    assert_eq!(
        (record["actor"].as_str(), record["subject"].as_str()),
        (Some("admin:1"), Some("user:2"))
    );
    // An uninstall ends every session; a reinstall does not revive them.
    app.sim.uninstall(ALPHA, false).await.unwrap();
    reinstall(&app).await;
    for token in [&admin, &u2, &u3] {
        let a = app.get("/api/me", token).await;
        assert_eq!(a.status, 401, "{}", a.body);
    }
    let admin = app.token(ALPHA, 1).await;
    assert_eq!(app.get("/api/me", &admin).await.status, 200);
}

#[tokio::test]
async fn a_clean_uninstall_logs_every_lines_whatsapp_device_out() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let mut events = crate::app::Sse::open(&app, &admin).await;
    let phones = ["79990000201", "79990000202"];
    let mut lines = vec![];
    for (i, phone) in phones.iter().enumerate() {
        app.wa.create_account(phone, Some(&format!("20000000000020{i}"))).unwrap();
        let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": phone}))).await;
        let line = line.json()["id"].as_i64().unwrap();
        let a = app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
        assert_eq!(a.status, 202, "{}", a.body);
        let qr = events.find("line.status", |d| d["line_id"] == line && d["state"] == "qr").await;
        app.wa.scan(qr["qr"].as_str().unwrap(), phone).await.unwrap();
        events.find("line.status", |d| d["line_id"] == line && d["state"] == "connected").await;
        lines.push(line);
    }
    // The second line is stopped (still linked to its phone).
    let a =
        app.call("POST", &format!("/api/lines/{}/disconnect", lines[1]), Some(&admin), None).await;
    assert_eq!(a.status, 204);
    let companions = |phone: &str| {
        app.wa.devices(phone).unwrap().into_iter().filter(|d| d.device != 0).collect::<Vec<_>>()
    };
    for phone in phones {
        assert!(companions(phone).iter().all(|d| !d.removed), "{phone}");
        assert_eq!(companions(phone).len(), 1);
    }
    let d = app.sim.uninstall(ALPHA, true).await.unwrap();
    assert_eq!(d[0].status, 200, "{}", d[0].body);
    // Both phones got their companion slot back, the running line's and the stopped one's.
    for phone in phones {
        assert!(companions(phone).iter().all(|d| d.removed), "{phone}: {:?}", companions(phone));
    }
    assert_eq!(app.store.info(ALPHA).await.unwrap().status, TenantStatus::Uninstalled);
}

/// The session script of an app page.
fn session_of(html: &str) -> serde_json::Value {
    let start = html.find("id=\"wab24-session\">").map(|i| i + "id=\"wab24-session\">".len());
    let json = start.and_then(|s| html[s..].find("</script>").map(|e| &html[s..s + e]));
    serde_json::from_str(json.unwrap_or("null")).unwrap()
}

/// RD `api-reference/widgets/universal/app-url.md`: an application link's `params[...]` reach
/// the frame in `PLACEMENT_OPTIONS`, values as strings. The CRM timeline's chat link names
/// `conversation_id`: the page hands a positive integer to the panel, anything else is left out
/// (the page opens as always).
#[tokio::test]
async fn a_frame_naming_a_conversation_hands_it_to_the_panel() {
    let app = start().await;
    app.install(ALPHA).await;
    for (options, want) in [
        (json!({"conversation_id": "42"}), json!(42)),
        (json!({"conversation_id": 7}), json!(7)),
        (json!({}), json!(null)),
        (json!({"conversation_id": "0"}), json!(null)),
        (json!({"conversation_id": "-3"}), json!(null)),
        (json!({"conversation_id": "4x"}), json!(null)),
        (json!({"conversation_id": "<script>"}), json!(null)),
        (json!({"conversation_id": "99999999999999999999"}), json!(null)),
        (json!({"conversation_id": ["1"]}), json!(null)),
    ] {
        let (q, b) = app.sim.frame_request(ALPHA, 2, "DEFAULT", &options).unwrap();
        let a = app.post_form("/b24/app", &q, b).await;
        assert_eq!(a.status, 200, "{options}: {}", a.body);
        let session = session_of(&a.body);
        assert_eq!(session["conversation_id"], want, "{options}");
        assert_eq!(session["user_id"], 2);
    }
}
