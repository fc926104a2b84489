//! The route table, `/api/openapi.json`, `/metrics` and the error shape of unknown routes.

use serde_json::json;

use crate::app::{ALPHA, METRICS_TOKEN, start};

#[tokio::test]
async fn every_route_answers_and_is_documented() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let doc = app.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = wab24::http::openapi::operations(&doc);
    let mut routes: Vec<(String, String)> = wab24::http::ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
        .collect();
    routes.sort();
    documented.sort();
    assert_eq!(documented, routes);
    // Each route exists in the router: neither 404-for-route nor 405.
    for (method, path) in wab24::http::ROUTES.iter().map(|r| (r.method.as_str(), r.path)) {
        if path == "/api/events" {
            continue; // a stream; covered by the matrix and the SSE test
        }
        let concrete = path
            .replace("{line_id}", "1")
            .replace("{conversation_id}", "1")
            .replace("{message_id}", "1")
            .replace("{user_id}", "999");
        let a = app.call(method, &concrete, Some(&admin), Some(json!({}))).await;
        assert_ne!(a.status, 405, "{method} {path}");
        if a.status == 404 {
            assert_ne!(a.json()["error"]["message"], "route not found", "{method} {path}");
        }
    }
    let a = app.call("GET", "/api/nothing", Some(&admin), None).await;
    assert_eq!(
        (a.status, a.json()),
        (404, json!({"error": {"code": "not_found", "message": "route not found"}}))
    );
    let a = app.call("PATCH", "/api/lines", Some(&admin), None).await;
    assert_eq!(a.code(), "method_not_allowed");
}

#[tokio::test]
async fn metrics_count_lines_by_status() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    for n in ["a", "b"] {
        app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": n}))).await;
    }
    app.store
        .tenant(ALPHA)
        .await
        .unwrap()
        .set_line_status(
            tenancy::Caller::System,
            1,
            tenancy::LineStatus::Connected,
            b"{}",
            app.state.now(),
        )
        .await
        .unwrap();
    let m = app.call("GET", "/metrics", Some(METRICS_TOKEN), None).await;
    assert_eq!(m.status, 200);
    assert!(m.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    for want in [
        "wab24_lines{status=\"connected\"} 1",
        "wab24_lines{status=\"new\"} 1",
        "wab24_messages_total{direction=\"in\"} 0",
        "wab24_sse_clients 0",
        "wab24_b24_call_errors_total 0",
    ] {
        assert!(m.body.contains(want), "{want} in\n{}", m.body);
    }
    assert_eq!(app.call("GET", "/healthz", None, None).await.body, "ok");
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_no_tokens_and_no_message_text() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("wab24=trace"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // Global (the only test that sets one): a thread-scoped subscriber misses callsites whose
    // interest other tests' threads cached first. Other tests' lines land here too; the secrets
    // checked below are this test's own.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let line = app
        .call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"})))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let conv = app
        .inbound(ALPHA, line, "1555@s.whatsapp.net", "Secret Name", "w1", "SECRET-MESSAGE-TEXT")
        .await;
    assert_eq!(app.get(&format!("/api/conversations/{conv}/messages"), &admin).await.status, 200);
    app.call("GET", "/api/me", Some("forged.token.value"), None).await;
    // A signed media link is a credential for a day: its token stays out of the request log.
    let link = app.state.settings().media_links.url(&app.base, ALPHA, 1, app.state.now_unix());
    assert_eq!(app.http.get(&link).send().await.unwrap().status(), 404);
    let link_token = link.rsplit('/').next().unwrap().to_owned();
    let portal = app.store.portal_tokens(ALPHA).await.unwrap().unwrap();
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("session issued")
            && logs.contains("app installed")
            && logs.contains("path=\"/api/lines\"")
            && logs.contains("path=\"/media/signed/…\""),
        "{logs}"
    );
    for secret in [
        link_token.as_str(),
        admin.as_str(),
        portal.access_token.as_str(),
        portal.refresh_token.as_str(),
        portal.application_token.as_str(),
        "SECRET-MESSAGE-TEXT",
        "forged.token.value",
    ] {
        assert!(!logs.contains(secret), "logs contain {secret}");
    }
}
