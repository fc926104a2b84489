//! One simulator per test, a plain HTTP client and the calls a test makes with it.

use std::net::SocketAddr;

use b24_client::{RateLimit, TokenSet};
use b24_sim::{PortalSpec, Sim, SimConfig};
use serde_json::{Value, json};

pub(crate) const MEMBER: &str = "member-alpha";
pub(crate) const DOMAIN: &str = "alpha.test";

/// A running simulator with one portal (users 1 administrator, 2 and 3 not) and an
/// administrator's tokens.
pub(crate) struct Env {
    pub(crate) sim: Sim,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) admin: TokenSet,
}

/// An answer: HTTP status and JSON body (`Value::Null` when the body is not JSON).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Answer {
    /// The `error` code of an error body.
    pub(crate) fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// The `result` of a success envelope, asserting the status is 200.
    pub(crate) fn result(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        &self.body["result"]
    }
}

/// A simulator whose portal is shaped by `spec`.
pub(crate) async fn env_with(spec: impl FnOnce(&mut PortalSpec)) -> Env {
    let sim = Sim::new(SimConfig::default());
    let mut s = PortalSpec::new(MEMBER, DOMAIN);
    s.rate_limit = RateLimit { burst: 1000, per_second: 1000.0 };
    spec(&mut s);
    sim.add_portal(s);
    let addr = sim.start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let admin = sim.issue_tokens(MEMBER, 1).unwrap();
    Env { sim, base: format!("http://{addr}"), http: reqwest::Client::new(), admin }
}

/// A simulator with a standard portal.
pub(crate) async fn env() -> Env {
    env_with(|_| {}).await
}

impl Env {
    /// POSTs JSON `params` to `url`.
    pub(crate) async fn post(&self, url: &str, params: Value) -> Answer {
        let r = self.http.post(url).json(&params).send().await.unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap();
        Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// Calls `method` on the portal with the access token `auth`.
    pub(crate) async fn call_with(&self, auth: &str, method: &str, params: Value) -> Answer {
        let mut params = params;
        params["auth"] = json!(auth);
        self.post(&format!("{}/p/{DOMAIN}/rest/{method}", self.base), params).await
    }

    /// Calls `method` as the administrator (user 1).
    pub(crate) async fn call(&self, method: &str, params: Value) -> Answer {
        let auth = self.admin.access_token.expose().to_owned();
        self.call_with(&auth, method, params).await
    }

    /// Calls `method` as `user` (a fresh token of that user).
    pub(crate) async fn call_as(&self, user: u64, method: &str, params: Value) -> Answer {
        let tokens = self.sim.issue_tokens(MEMBER, user).unwrap();
        self.call_with(tokens.access_token.expose(), method, params).await
    }

    /// Calls `method` through the portal's incoming webhook of `user`.
    pub(crate) async fn webhook(&self, user: u64, method: &str, params: Value) -> Answer {
        let url = format!("{}/p/{DOMAIN}/rest/{user}/wh{MEMBER}/{method}", self.base);
        self.post(&url, params).await
    }

    /// The token endpoint with `params` (form-encoded, as SDKs send it).
    pub(crate) async fn token_endpoint(&self, params: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .get(format!("{}/oauth/token/", self.base))
            .query(params)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap();
        Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// Refreshes with `refresh_token` (the application's keys).
    pub(crate) async fn refresh(&self, refresh_token: &str) -> Answer {
        let app = SimConfig::default();
        self.token_endpoint(&[
            ("grant_type", "refresh_token"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// An open line with the connector `connector` registered, activated on it.
    pub(crate) async fn connector_on_line(&self, connector: &str, extra: Value) -> u64 {
        let mut params = json!({"ID": connector, "NAME": "WhatsApp (wab24)",
            "ICON": {"DATA_IMAGE": "data:image/svg+xml,%3Csvg%3E%3C/svg%3E"},
            "PLACEMENT_HANDLER": "https://app.test/connector"});
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        assert_eq!(self.call("imconnector.register", params).await.result()["result"], true);
        let line =
            self.call("imopenlines.config.add", json!({"PARAMS": {"LINE_NAME": "WA"}})).await;
        let line = b24_client::Id::from_value(line.result()).unwrap().0;
        let on = self
            .call(
                "imconnector.activate",
                json!({"CONNECTOR": connector, "LINE": line, "ACTIVE": 1}),
            )
            .await;
        assert_eq!(on.result(), &json!(true));
        line
    }
}
