//! The Bitrix24 side: install (frame and callback), opening the app (token, roles, CSP),
//! events verified by `application_token`, uninstall with and without CLEAN.

use b24_client::Clock;
use b24_sim::EventOptions;
use serde_json::json;
use tenancy::TenantStatus;

use crate::app::{ALPHA, BETA, start, token_of};

#[tokio::test]
async fn install_frame_registers_the_tenant_and_binds_uninstall() {
    let app = start().await;
    let a = app.install_frame(ALPHA, 1).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("BX24.installFinish()"));
    assert_eq!(
        a.headers["content-security-policy"].to_str().unwrap().split(';').next(),
        Some("frame-ancestors http://alpha.test")
    );
    let info = app.store.info(ALPHA).await.unwrap();
    assert_eq!(
        (info.status, info.plan.as_str(), info.line_quota, info.domain.as_str()),
        (TenantStatus::Active, "trial", 3, "alpha.test")
    );
    let trial_left = info.trial_ends_at.unwrap() - app.clock.now_unix() * 1000;
    assert_eq!(trial_left, 15 * 86_400_000);
    // Tokens, endpoints and the application token are kept (sealed).
    let t = app.store.portal_tokens(ALPHA).await.unwrap().unwrap();
    assert_eq!(t.application_token, app.sim.application_token(ALPHA).unwrap().expose());
    assert!(t.client_endpoint.ends_with("/p/alpha.test/rest/"));
    // ONAPPUNINSTALL is bound to our events endpoint.
    let portal = app.sim.inspect(ALPHA).unwrap();
    assert_eq!(portal["events"], json!([["ONAPPUNINSTALL", app.url("/b24/events")]]));
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
        assert_eq!(me["expires_at"].as_i64().unwrap() - app.clock.now_unix(), 72 * 3600);
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
    // Uninstall with CLEAN: the tenant's data is deleted.
    app.sim.uninstall(ALPHA, true).await.unwrap();
    assert_eq!(app.store.info(ALPHA).await.unwrap().status, TenantStatus::Uninstalled);
    app.sim.add_portal({
        let mut s = b24_sim::PortalSpec::new(ALPHA, "alpha.test");
        s.install_finished = false;
        s
    });
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    assert_eq!(app.get("/api/lines", &admin).await.json()["lines"], json!([]));
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
