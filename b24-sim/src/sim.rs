//! The simulator: portals, the OAuth server, the REST endpoint, faults and the recorder.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use b24_client::{
    Clock, ErrorCode, RateLimit, Secret, SystemClock, TokenSet,
    form::{self, FormLimits},
};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use warp::{Filter, http};

use crate::{
    error::{Error, Result},
    faults::{Fault, FaultAction},
    portal::{AppView, MethodOk, Portal, PortalSpec},
};

/// Settings of a simulator.
#[derive(Clone)]
pub struct SimConfig {
    /// The application's `client_id`.
    pub client_id: String,
    /// The application's `client_secret`.
    pub client_secret: String,
    /// Access token lifetime in seconds.
    pub access_ttl: i64,
    /// Refresh token lifetime in seconds.
    pub refresh_ttl: i64,
    /// Wall clock for token expiry.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("client_id", &self.client_id)
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            client_id: "local.0000000000sim0.00000001".to_owned(),
            client_secret: "sim-client-secret".to_owned(),
            access_ttl: 3600,
            refresh_ttl: 180 * 86_400,
            clock: Arc::new(SystemClock),
        }
    }
}

/// One call the simulator received.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedCall {
    /// The portal, when known.
    pub member_id: Option<String>,
    /// The method (`oauth/token` for the token endpoint, `oauth/app.info` for the OAuth server).
    pub method: String,
    /// The parameters, without `auth`.
    pub params: Value,
    /// The token sent.
    #[serde(skip)]
    pub auth: Option<Secret>,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code answered, if any.
    pub error: Option<String>,
    /// True for a command inside a `batch`.
    pub in_batch: bool,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// One delivery to the application (frame, install callback, event).
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// What was delivered (`FRAME`, `INSTALL_CALLBACK` or the event name).
    pub what: String,
    /// Where.
    pub url: String,
    /// The application's HTTP status (0 when it did not answer).
    pub status: u16,
    /// The application's answer.
    pub body: String,
    /// Milliseconds the application took.
    pub latency_ms: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) member_id: String,
    pub(crate) user_id: u64,
    pub(crate) expires_at: i64,
    pub(crate) access: String,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) portals: BTreeMap<String, Portal>,
    pub(crate) domains: HashMap<String, String>,
    pub(crate) renamed: HashMap<String, String>,
    pub(crate) access: HashMap<String, Grant>,
    pub(crate) refresh: HashMap<String, Grant>,
    pub(crate) codes: HashMap<String, Grant>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) calls: Vec<RecordedCall>,
    pub(crate) deliveries: Vec<Delivery>,
    counter: u64,
}

impl State {
    fn token(&mut self, kind: &str) -> String {
        self.counter += 1;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.counter;
        for b in kind.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{kind}{:016x}{:08x}", h, self.counter)
    }
}

pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) state: Mutex<State>,
    pub(crate) base: Mutex<Option<String>>,
    pub(crate) origin: Instant,
    pub(crate) http: reqwest::Client,
}

/// A fake Bitrix24: several portals and their OAuth server behind one HTTP listener. Cheap to
/// clone; clones share everything.
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("base", &self.inner.base.lock().ok().and_then(|b| b.clone()))
            .finish_non_exhaustive()
    }
}

type Reply = http::Response<Vec<u8>>;

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
    let mut r = http::Response::new(body);
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

fn json_reply(status: u16, v: &Value) -> Reply {
    reply(status, "application/json; charset=utf-8", v.to_string().into_bytes())
}

fn error_body(code: &ErrorCode, description: &str) -> Value {
    json!({"error": code.as_str(), "error_description": description})
}

fn merge(into: &mut Map<String, Value>, from: Value) {
    if let Value::Object(m) = from {
        into.extend(m);
    }
}

impl Sim {
    /// A simulator with no portal yet.
    pub fn new(config: SimConfig) -> Sim {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Sim {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                base: Mutex::new(None),
                origin: Instant::now(),
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap_or_default(),
            }),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a simulator bug; keep serving regardless.
        self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The application's keys.
    pub fn app(&self) -> b24_client::OAuthApp {
        b24_client::OAuthApp::new(
            self.inner.config.client_id.clone(),
            self.inner.config.client_secret.clone(),
        )
    }

    /// Adds a portal.
    pub fn add_portal(&self, spec: PortalSpec) {
        let mut st = self.state();
        let app_token = st.token("apptok");
        st.domains.insert(spec.domain.clone(), spec.member_id.clone());
        st.portals.insert(spec.member_id.clone(), Portal::new(&spec, app_token));
    }

    /// Binds `addr` (loopback only; port 0 for an ephemeral port) and serves in the background.
    pub async fn start(&self, addr: SocketAddr) -> Result<SocketAddr> {
        if !addr.ip().is_loopback() {
            return Err(Error::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        if let Ok(mut b) = self.inner.base.lock() {
            *b = Some(format!("http://{local}"));
        }
        let filter = self.filter();
        tokio::spawn(warp::serve(filter).incoming(listener).run());
        Ok(local)
    }

    /// The warp filter that serves everything (for embedding in another server).
    pub fn filter(
        &self,
    ) -> impl Filter<Extract = (Reply,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static
    {
        let sim = self.clone();
        warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes().or(warp::any().map(Bytes::new)).unify())
            .then(
                move |m: http::Method,
                      path: warp::path::FullPath,
                      q: String,
                      h: http::HeaderMap,
                      body: Bytes| {
                    let sim = sim.clone();
                    async move { sim.handle(&m, path.as_str(), &q, &h, &body).await }
                },
            )
    }

    /// The simulator's root URL (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> Result<String> {
        self.inner.base.lock().ok().and_then(|b| b.clone()).ok_or(Error::NotStarted)
    }

    /// The OAuth server's REST root (`server_endpoint`).
    pub fn server_endpoint(&self) -> Result<String> {
        Ok(format!("{}/rest/", self.base_url()?))
    }

    /// A portal's REST root (`client_endpoint`).
    pub fn client_endpoint(&self, member_id: &str) -> Result<String> {
        let domain = self
            .state()
            .portals
            .get(member_id)
            .map(|p| p.domain.clone())
            .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
        Ok(format!("{}/p/{domain}/rest/", self.base_url()?))
    }

    fn now(&self) -> i64 {
        b24_client::now_unix(&*self.inner.config.clock)
    }

    /// Issues a token pair for a user of a portal (as an install or a frame open would).
    pub fn issue_tokens(&self, member_id: &str, user_id: u64) -> Result<TokenSet> {
        let v = self.issue(member_id, user_id)?;
        b24_client::parse_token_response(v.to_string().as_bytes(), self.now())
            .map_err(|e| Error::Delivery(e.to_string()))
    }

    pub(crate) fn issue(&self, member_id: &str, user_id: u64) -> Result<Value> {
        let base = self.base_url()?;
        let now = self.now();
        let mut st = self.state();
        let (domain, scope) = st
            .portals
            .get(member_id)
            .map(|p| (p.domain.clone(), p.scope.join(",")))
            .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
        let access = st.token("at");
        let refresh = st.token("rt");
        let g = Grant {
            member_id: member_id.to_owned(),
            user_id,
            expires_at: now + self.inner.config.access_ttl,
            access: access.clone(),
        };
        st.access.insert(access.clone(), g.clone());
        st.refresh.insert(
            refresh.clone(),
            Grant { expires_at: now + self.inner.config.refresh_ttl, ..g },
        );
        Ok(json!({
            "access_token": access, "refresh_token": refresh, "expires": now + self.inner.config.access_ttl,
            "expires_in": self.inner.config.access_ttl, "scope": scope, "domain": "oauth.sim",
            "server_endpoint": format!("{base}/rest/"), "status": "L",
            "client_endpoint": format!("{base}/p/{domain}/rest/"), "member_id": member_id, "user_id": user_id,
        }))
    }

    /// Makes every access token of a portal expired.
    pub fn expire_access_tokens(&self, member_id: &str) {
        let now = self.now();
        for g in self.state().access.values_mut().filter(|g| g.member_id == member_id) {
            g.expires_at = now - 1;
        }
    }

    /// Makes every refresh token of a portal expired.
    pub fn expire_refresh_tokens(&self, member_id: &str) {
        let now = self.now();
        for g in self.state().refresh.values_mut().filter(|g| g.member_id == member_id) {
            g.expires_at = now - 1;
        }
    }

    /// Sets a portal's leaky bucket (e.g. Enterprise, or a fast one for tests).
    pub fn set_rate_limit(&self, member_id: &str, limit: RateLimit) {
        if let Some(p) = self.state().portals.get_mut(member_id) {
            p.rate_limit = limit;
            p.bucket = b24_client::BucketState::new();
        }
    }

    /// Renames a portal: its old domain answers every REST call with a 302 to the new one.
    pub fn rename_portal(&self, member_id: &str, new_domain: &str) {
        let mut st = self.state();
        let Some(p) = st.portals.get_mut(member_id) else { return };
        let old = std::mem::replace(&mut p.domain, new_domain.to_owned());
        st.domains.remove(&old);
        st.domains.insert(new_domain.to_owned(), member_id.to_owned());
        st.renamed.insert(old, new_domain.to_owned());
    }

    /// `BX24.installFinish()`: from now on placements show and events are delivered.
    pub fn finish_install(&self, member_id: &str) {
        if let Some(p) = self.state().portals.get_mut(member_id) {
            p.installed = true;
        }
    }

    /// Makes the OAuth server's `app.info` for a portal report `endpoint` as
    /// `install.client_endpoint`, or leave the field out (`None`), as some answers do.
    pub fn report_client_endpoint(&self, member_id: &str, endpoint: Option<&str>) {
        if let Some(p) = self.state().portals.get_mut(member_id) {
            p.reported_endpoint = Some(endpoint.map(str::to_owned));
        }
    }

    /// A portal's `application_token`.
    pub fn application_token(&self, member_id: &str) -> Option<Secret> {
        self.state().portals.get(member_id).map(|p| Secret::new(p.application_token.clone()))
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state().calls.clone()
    }

    /// Calls of one method (case-insensitive).
    pub fn calls_to(&self, method: &str) -> Vec<RecordedCall> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.method.eq_ignore_ascii_case(method))
            .cloned()
            .collect()
    }

    /// Every delivery to the application so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state().deliveries.clone()
    }

    /// Reads a portal's state with a closure (CRM items, lines, handlers...), as JSON.
    pub fn inspect(&self, member_id: &str) -> Option<Value> {
        let st = self.state();
        let p = st.portals.get(member_id)?;
        Some(json!({
            "domain": p.domain, "installed": p.installed, "uninstalled": p.uninstalled,
            "events": p.events, "placements": p.placements, "connectors": p.connectors,
            "lines": p.lines.values().collect::<Vec<_>>(),
            "crm": p.crm.iter().map(|(k, v)| (k.to_string(), Value::Array(v.values().cloned().collect()))).collect::<Map<_, _>>(),
            "comments": p.comments.values().collect::<Vec<_>>(),
            "activities": p.activities.values().collect::<Vec<_>>(),
            "im_messages": p.im_messages,
        }))
    }

    fn record(&self, call: RecordedCall) {
        self.state().calls.push(call);
    }

    fn fire_fault(&self, member_id: &str, method: &str) -> Option<FaultAction> {
        let mut st = self.state();
        let mut hit = None;
        for f in st.faults.iter_mut() {
            if f.check(member_id, method) && hit.is_none() {
                hit = Some(f.action.clone());
            }
        }
        hit
    }

    async fn handle(
        &self,
        method: &http::Method,
        path: &str,
        query: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        let ua =
            headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let is_json = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("json"));
        let mut params = Map::new();
        merge(
            &mut params,
            form::parse(query.as_bytes(), FormLimits::default()).unwrap_or(Value::Null),
        );
        if !body.is_empty() && *method != http::Method::GET {
            let parsed = if is_json {
                serde_json::from_slice(body).ok()
            } else {
                form::parse(body, FormLimits::default()).ok()
            };
            match parsed {
                Some(v @ Value::Object(_)) => merge(&mut params, v),
                _ => {
                    return json_reply(
                        400,
                        &error_body(&ErrorCode::InvalidRequest, "cannot parse the request body"),
                    );
                }
            }
        }
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segs.as_slice() {
            ["oauth", "token", ..] => self.oauth_token(params, ua).await,
            ["oauth", "authorize", ..] => self.oauth_authorize(&params),
            ["rest", m] if m.trim_end_matches(".json").trim_end_matches('/') == "app.info" => {
                self.oauth_app_info(params, ua)
            }
            ["rest", "app.info", ""] => self.oauth_app_info(params, ua),
            ["p", domain, "rest", rest @ ..] => self.rest(domain, rest, query, params, ua).await,
            ["p", domain] | ["p", domain, ""] => self.shell_page(domain, &params),
            ["_sim", rest @ ..] => self.control(rest, params, body).await,
            _ => reply(404, "text/html", b"<html><body>404 Not Found</body></html>".to_vec()),
        }
    }

    async fn oauth_token(&self, params: Map<String, Value>, ua: Option<String>) -> Reply {
        let p = Value::Object(params);
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let mut recorded = p.clone();
        for k in ["client_secret", "refresh_token", "code"] {
            if let Some(o) = recorded.as_object_mut() {
                o.remove(k);
            }
        }
        let fault = self.fire_fault("", "oauth/token");
        if let Some(d) = fault.as_ref().and_then(FaultAction::latency) {
            tokio::time::sleep(d).await;
        }
        let now = self.now();
        let outcome: std::result::Result<Value, (u16, ErrorCode, &str)> = (|| {
            if let Some(FaultAction::Error { code }) = &fault {
                let c = ErrorCode::parse(code);
                return Err((c.http_status(), c, "injected"));
            }
            if s("client_id") != self.inner.config.client_id
                || s("client_secret") != self.inner.config.client_secret
            {
                return Err((401, ErrorCode::InvalidClient, "Invalid client credentials"));
            }
            let grant = match s("grant_type").as_str() {
                "refresh_token" => {
                    let mut st = self.state();
                    let g = st.refresh.remove(&s("refresh_token")).ok_or((
                        400,
                        ErrorCode::InvalidGrant,
                        "Invalid grant",
                    ))?;
                    st.access.remove(&g.access);
                    if g.expires_at < now {
                        return Err((
                            400,
                            ErrorCode::InvalidGrant,
                            "The refresh token has expired",
                        ));
                    }
                    if st.portals.get(&g.member_id).is_none_or(|p| p.uninstalled) {
                        return Err((401, ErrorCode::InvalidClient, "Application not installed"));
                    }
                    g
                }
                "authorization_code" => {
                    let g = self.state().codes.remove(&s("code")).ok_or((
                        400,
                        ErrorCode::InvalidGrant,
                        "Invalid code",
                    ))?;
                    if g.expires_at < now {
                        return Err((400, ErrorCode::InvalidGrant, "The code has expired"));
                    }
                    g
                }
                _ => return Err((400, ErrorCode::InvalidRequest, "grant_type")),
            };
            self.issue(&grant.member_id, grant.user_id)
                .map_err(|_| (400, ErrorCode::InvalidGrant, "portal is gone"))
        })();
        let (status, body, error) = match outcome {
            Ok(v) => (200, v, None),
            Err((status, code, d)) => {
                (status, error_body(&code, d), Some(code.as_str().to_owned()))
            }
        };
        let member = body.get("member_id").and_then(Value::as_str).map(str::to_owned);
        self.record(RecordedCall {
            member_id: member,
            method: "oauth/token".to_owned(),
            params: recorded,
            auth: None,
            status,
            error,
            in_batch: false,
            user_agent: ua,
        });
        json_reply(status, &body)
    }

    fn oauth_authorize(&self, params: &Map<String, Value>) -> Reply {
        let s = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let member = s("member_id");
        let redirect = s("redirect_uri");
        if s("client_id") != self.inner.config.client_id || redirect.is_empty() {
            return json_reply(
                400,
                &error_body(&ErrorCode::InvalidClient, "unknown client or no redirect_uri"),
            );
        }
        let now = self.now();
        let mut st = self.state();
        let Some(domain) = st.portals.get(&member).map(|p| p.domain.clone()) else {
            return json_reply(400, &error_body(&ErrorCode::InvalidRequest, "member_id"));
        };
        let code = st.token("code");
        st.codes.insert(
            code.clone(),
            Grant {
                member_id: member.clone(),
                user_id: 1,
                expires_at: now + 30,
                access: String::new(),
            },
        );
        let q = form::encode(
            &json!({"code": code, "state": s("state"), "domain": domain, "member_id": member, "scope": "", "server_domain": "oauth.sim"}),
        );
        let sep = if redirect.contains('?') { '&' } else { '?' };
        let mut r = reply(302, "text/plain", vec![]);
        if let Ok(v) = http::HeaderValue::from_str(&format!("{redirect}{sep}{q}")) {
            r.headers_mut().insert(http::header::LOCATION, v);
        }
        r
    }

    fn auth_grant(
        &self,
        auth: Option<&str>,
    ) -> std::result::Result<Grant, (ErrorCode, &'static str)> {
        let auth = auth
            .filter(|a| !a.is_empty())
            .ok_or((ErrorCode::NoAuthFound, "Wrong authorization data"))?;
        let g = self
            .state()
            .access
            .get(auth)
            .cloned()
            .ok_or((ErrorCode::InvalidToken, "The access token provided is invalid."))?;
        if g.expires_at < self.now() {
            return Err((ErrorCode::ExpiredToken, "The access token provided has expired."));
        }
        Ok(g)
    }

    fn oauth_app_info(&self, mut params: Map<String, Value>, ua: Option<String>) -> Reply {
        let auth = params.remove("auth").and_then(|a| a.as_str().map(str::to_owned));
        let (status, body, member) = match self.auth_grant(auth.as_deref()) {
            Err((code, d)) => (code.http_status(), error_body(&code, d), None),
            Ok(g) => {
                let st = self.state();
                let base = self.base_url().unwrap_or_default();
                match st.portals.get(&g.member_id) {
                    Some(p) => {
                        let mut body = json!({"result": {
                        "client_id": self.inner.config.client_id, "scope": p.scope.join(","), "expires": iso8601(g.expires_at),
                        "install": {"installed": p.installed, "version": 1, "status": "L", "scope": p.scope.join(","), "domain": p.domain,
                                    "uri": format!("{base}/p/{}/", p.domain), "client_endpoint": format!("{base}/p/{}/rest/", p.domain),
                                    "member_id": p.member_id, "member_type": "PORTAL"},
                        "user_id": g.user_id}, "time": self.time_block(0.0)});
                        if let Some(reported) = &p.reported_endpoint
                            && let Some(install) =
                                body.pointer_mut("/result/install").and_then(Value::as_object_mut)
                        {
                            match reported {
                                Some(e) => {
                                    install.insert("client_endpoint".to_owned(), e.clone().into())
                                }
                                None => install.remove("client_endpoint"),
                            };
                        }
                        (200, body, Some(g.member_id.clone()))
                    }
                    None => (401, error_body(&ErrorCode::InvalidToken, "portal is gone"), None),
                }
            }
        };
        let error = body.get("error").and_then(Value::as_str).map(str::to_owned);
        self.record(RecordedCall {
            member_id: member,
            method: "oauth/app.info".to_owned(),
            params: Value::Object(params),
            auth: auth.map(Secret::new),
            status,
            error,
            in_batch: false,
            user_agent: ua,
        });
        json_reply(status, &body)
    }

    fn time_block(&self, operating: f64) -> Value {
        let now = self.now();
        json!({"start": now as f64, "finish": now as f64 + 0.01, "duration": 0.01, "processing": 0.005,
               "date_start": "2026-01-01T00:00:00+00:00", "date_finish": "2026-01-01T00:00:00+00:00",
               "operating_reset_at": now + 600, "operating": operating})
    }

    async fn rest(
        &self,
        domain: &str,
        rest: &[&str],
        query: &str,
        mut params: Map<String, Value>,
        ua: Option<String>,
    ) -> Reply {
        // A renamed portal answers with a redirect to its new domain.
        let renamed = self.state().renamed.get(domain).cloned();
        if let Some(new) = renamed {
            let base = self.base_url().unwrap_or_default();
            let q = if query.is_empty() { String::new() } else { format!("?{query}") };
            let mut r = reply(302, "text/html", b"<html>Moved</html>".to_vec());
            if let Ok(v) =
                http::HeaderValue::from_str(&format!("{base}/p/{new}/rest/{}{q}", rest.join("/")))
            {
                r.headers_mut().insert(http::header::LOCATION, v);
            }
            return r;
        }
        let Some(member_id) = self.state().domains.get(domain).cloned() else {
            return json_reply(404, &error_body(&ErrorCode::PortalDeleted, "Portal was deleted"));
        };
        let (webhook, method) = match rest {
            [m] => (None, m.trim_end_matches(".json").to_owned()),
            [uid, code, m] => {
                (Some((uid.to_string(), code.to_string())), m.trim_end_matches(".json").to_owned())
            }
            _ => {
                return json_reply(
                    404,
                    &error_body(&ErrorCode::MethodNotFound, "Method not found"),
                );
            }
        };
        let auth = params.remove("auth").and_then(|a| match a {
            Value::String(s) => Some(s),
            _ => None,
        });
        let recorded_params = Value::Object(params.clone());
        let fault = self.fire_fault(&member_id, &method);
        if let Some(d) = fault.as_ref().and_then(FaultAction::latency) {
            tokio::time::sleep(d).await;
        }
        let (status, body) = self.rest_inner(
            &member_id,
            &method,
            webhook,
            auth.as_deref(),
            Value::Object(params),
            fault.as_ref(),
            ua.clone(),
        );
        let error = body.get("error").and_then(Value::as_str).map(str::to_owned);
        self.record(RecordedCall {
            member_id: Some(member_id),
            method: method.clone(),
            params: recorded_params,
            auth: auth.map(Secret::new),
            status,
            error,
            in_batch: false,
            user_agent: ua,
        });
        match fault {
            Some(FaultAction::TimeoutAfterCommit { ms }) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                json_reply(status, &body)
            }
            Some(FaultAction::Html { status }) => reply(
                status,
                "text/html",
                b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
                    .to_vec(),
            ),
            Some(FaultAction::Truncated) => {
                let s = body.to_string().into_bytes();
                reply(status, "application/json", s[..s.len() / 2].to_vec())
            }
            Some(FaultAction::NotJson) => {
                reply(200, "text/plain", b"Service temporarily unavailable".to_vec())
            }
            _ => json_reply(status, &body),
        }
    }

    #[allow(clippy::too_many_arguments)] // one argument per field of the request
    fn rest_inner(
        &self,
        member_id: &str,
        method: &str,
        webhook: Option<(String, String)>,
        auth: Option<&str>,
        params: Value,
        fault: Option<&FaultAction>,
        ua: Option<String>,
    ) -> (u16, Value) {
        let err = |code: ErrorCode, d: &str| (code.http_status(), error_body(&code, d));
        // The leaky bucket counts every request, a batch once.
        {
            let now = Instant::now().duration_since(self.inner.origin);
            let mut st = self.state();
            let Some(p) = st.portals.get_mut(member_id) else {
                return err(ErrorCode::PortalDeleted, "Portal was deleted");
            };
            let limit = p.rate_limit;
            if !p.bucket.try_take(limit, now) {
                return err(ErrorCode::QueryLimitExceeded, "Too many requests");
            }
        }
        match fault {
            Some(FaultAction::Error { code }) => {
                let c = ErrorCode::parse(code);
                return err(c, "injected fault");
            }
            Some(FaultAction::OperationTimeLimit { reset_in }) => {
                let c = ErrorCode::OperationTimeLimit;
                let mut b = error_body(&c, "Method is blocked due to operation time limit.");
                if let Some(o) = b.as_object_mut() {
                    o.insert(
                        "time".to_owned(),
                        json!({"operating": 480.0, "operating_reset_at": self.now() + reset_in}),
                    );
                }
                return (c.http_status(), b);
            }
            _ => {}
        }
        let user = match &webhook {
            Some((uid, code)) => {
                if *code != format!("wh{member_id}") {
                    return err(ErrorCode::NoAuthFound, "Wrong webhook code");
                }
                uid.parse::<u64>().unwrap_or(0)
            }
            None => match self.auth_grant(auth) {
                Ok(g) if g.member_id == member_id => g.user_id,
                Ok(_) => {
                    return err(ErrorCode::InvalidToken, "The token belongs to another portal");
                }
                Err((code, d)) => return err(code, d),
            },
        };
        let app = AppView { client_id: self.inner.config.client_id.clone() };
        if method.eq_ignore_ascii_case("batch") {
            return self.batch(member_id, user, webhook.is_some(), &params, &app, ua);
        }
        let mut st = self.state();
        let Some(p) = st.portals.get_mut(member_id) else {
            return err(ErrorCode::PortalDeleted, "Portal was deleted");
        };
        if let Some(scope) = Portal::scope_of(method)
            && !p.scope.iter().any(|s| s == scope)
        {
            return err(
                ErrorCode::InsufficientScope,
                "The request requires higher privileges than provided by the access token",
            );
        }
        match p.dispatch(method, &params, user, webhook.is_some(), &app) {
            Ok(MethodOk { result, total, next }) => {
                let mut env = json!({"result": result, "time": self.time_block(0.2)});
                if let Some(o) = env.as_object_mut() {
                    if let Some(t) = total {
                        o.insert("total".to_owned(), json!(t));
                    }
                    if let Some(n) = next {
                        o.insert("next".to_owned(), json!(n));
                    }
                }
                (200, env)
            }
            Err((code, d)) => err(code, &d),
        }
    }

    fn batch(
        &self,
        member_id: &str,
        user: u64,
        webhook: bool,
        params: &Value,
        app: &AppView,
        ua: Option<String>,
    ) -> (u16, Value) {
        let halt = params.get("halt").and_then(b24_client::quirks::flex_bool).unwrap_or(false);
        let cmds: Vec<(String, String)> = match params.get("cmd") {
            Some(Value::Object(o)) => {
                o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect()
            }
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.as_str().unwrap_or("").to_owned()))
                .collect(),
            _ => return (400, error_body(&ErrorCode::Argument, "cmd is required")),
        };
        if cmds.len() > b24_client::BATCH_LIMIT {
            let c = ErrorCode::BatchLengthExceeded;
            return (c.http_status(), error_body(&c, "Max batch length exceeded"));
        }
        let (mut result, mut errors, mut totals, mut nexts) =
            (Map::new(), Map::new(), Map::new(), Map::new());
        for (key, cmd) in cmds {
            let (m, q) = cmd.split_once('?').unwrap_or((cmd.as_str(), ""));
            let m = m.trim_end_matches(".json").to_owned();
            let sub = form::parse(q.as_bytes(), FormLimits::default()).unwrap_or(Value::Null);
            let sub = substitute_refs(&sub, &result);
            let outcome = if m.eq_ignore_ascii_case("batch") {
                Err((
                    ErrorCode::BatchMethodNotAllowed,
                    "Batch call is not allowed in batch".to_owned(),
                ))
            } else {
                let mut st = self.state();
                match st.portals.get_mut(member_id) {
                    None => Err((ErrorCode::PortalDeleted, "Portal was deleted".to_owned())),
                    Some(p) => match Portal::scope_of(&m) {
                        Some(scope) if !p.scope.iter().any(|s| s == scope) => {
                            Err((ErrorCode::InsufficientScope, "insufficient scope".to_owned()))
                        }
                        _ => p.dispatch(&m, &sub, user, webhook, app),
                    },
                }
            };
            let (status, error) = match &outcome {
                Ok(_) => (200, None),
                Err((c, _)) => (c.http_status(), Some(c.as_str().to_owned())),
            };
            self.record(RecordedCall {
                member_id: Some(member_id.to_owned()),
                method: m,
                params: sub,
                auth: None,
                status,
                error,
                in_batch: true,
                user_agent: ua.clone(),
            });
            match outcome {
                Ok(ok) => {
                    result.insert(key.clone(), ok.result);
                    if let Some(t) = ok.total {
                        totals.insert(key.clone(), json!(t));
                    }
                    if let Some(n) = ok.next {
                        nexts.insert(key.clone(), json!(n));
                    }
                }
                Err((c, d)) => {
                    errors.insert(key.clone(), error_body(&c, &d));
                    if halt {
                        break;
                    }
                }
            }
        }
        // PHP sends empty maps as [].
        let php = |m: Map<String, Value>| if m.is_empty() { json!([]) } else { Value::Object(m) };
        (
            200,
            json!({"result": {"result": php(result), "result_error": php(errors), "result_total": php(totals), "result_next": php(nexts), "result_time": []}, "time": self.time_block(0.4)}),
        )
    }

    fn shell_page(&self, domain: &str, params: &Map<String, Value>) -> Reply {
        crate::shell::page(self, domain, params)
    }

    async fn control(&self, rest: &[&str], params: Map<String, Value>, body: &[u8]) -> Reply {
        let member = params.get("member_id").and_then(Value::as_str).unwrap_or("").to_owned();
        match rest {
            ["expire"] => {
                self.expire_access_tokens(&member);
                json_reply(200, &json!({"ok": true}))
            }
            ["install-finish"] => {
                self.finish_install(&member);
                json_reply(200, &json!({"ok": true}))
            }
            ["tokens"] => {
                let user = params
                    .get("user_id")
                    .and_then(b24_client::Id::from_value)
                    .map(|i| i.0)
                    .unwrap_or(1);
                match self.issue(&member, user) {
                    Ok(v) => json_reply(200, &v),
                    Err(e) => json_reply(404, &json!({"error": e.to_string()})),
                }
            }
            ["faults"] => match serde_json::from_slice::<Fault>(body) {
                Ok(f) => {
                    self.add_fault(f);
                    json_reply(200, &json!({"ok": true}))
                }
                Err(e) => json_reply(400, &json!({"error": e.to_string()})),
            },
            ["calls"] => {
                json_reply(200, &serde_json::to_value(self.calls()).unwrap_or(Value::Null))
            }
            ["deliveries"] => {
                json_reply(200, &serde_json::to_value(self.deliveries()).unwrap_or(Value::Null))
            }
            _ => json_reply(404, &json!({"error": "unknown control path"})),
        }
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SS+00:00` (the format of Bitrix24's dates).
pub(crate) fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), after H. Hinnant's public-domain algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Replaces `$result[key][path]` inside string parameters with earlier results, as Bitrix24
/// does; unresolved references stay as literal text.
fn substitute_refs(v: &Value, done: &Map<String, Value>) -> Value {
    match v {
        Value::String(s) if s.contains("$result[") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("$result[") {
                out.push_str(&rest[..i]);
                let mut t = &rest[i + "$result".len()..];
                let mut segs = vec![];
                while let Some(inner) = t.strip_prefix('[') {
                    let Some(end) = inner.find(']') else { break };
                    segs.push(&inner[..end]);
                    t = &inner[end + 1..];
                }
                let consumed = rest.len() - t.len();
                let found = segs.split_first().and_then(|(k, path)| {
                    let mut cur = done.get(*k)?;
                    for p in path {
                        cur = match cur {
                            Value::Object(m) => m.get(*p)?,
                            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
                            _ => return None,
                        };
                    }
                    Some(match cur {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                });
                out.push_str(&found.unwrap_or_else(|| rest[i..consumed].to_owned()));
                rest = &rest[consumed..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_refs(x, done)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), substitute_refs(x, done))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_dates() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(super::iso8601(1_778_747_192), "2026-05-14T08:26:32+00:00");
        assert_eq!(super::iso8601(951_782_400), "2000-02-29T00:00:00+00:00");
    }
}
