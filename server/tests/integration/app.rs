//! The harness: the server on a loopback port over tenancy on SQLite in a temporary directory,
//! b24-sim in process with two portals (alpha and beta, 3 users each; user 1 is the
//! administrator), and a manual clock for the server.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use b24_client::{ManualClock, inbound::FrameRequest};
use b24_sim::{PortalSpec, Sim, SimConfig};
use serde_json::Value;
use tenancy::{Caller, Inbound, LineId, MasterKey, MessageKind, Store};
use wab24::{
    runtime::{Runtime, RuntimeConfig},
    session::SessionKey,
    state::{AppState, Settings, TenancyTokenStore},
};

pub(crate) const ALPHA: &str = "alpha0member";
pub(crate) const BETA: &str = "beta0member";
pub(crate) const MASTER: [u8; 32] = *b"wab24-integration-master-key-32b";
pub(crate) const HOOK_SECRET: &str = "hook-secret-for-tests-0123";
pub(crate) const METRICS_TOKEN: &str = "metrics-token-for-tests-0123";

pub(crate) struct App {
    pub(crate) sim: Sim,
    /// WhatsApp's side: the line runtime's clients connect to it.
    pub(crate) wa: wa_sim::Sim,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) state: AppState,
    pub(crate) store: Arc<Store>,
    pub(crate) clock: ManualClock,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn start() -> App {
    start_with(|_| {}).await
}

/// Starts with `alpha` and `beta` portals (install not yet done).
pub(crate) async fn start_with(adjust: impl FnOnce(&mut Settings)) -> App {
    start_full(adjust, wab24::runtime::cold_guard::OutreachLimits::default()).await
}

/// [`start`] with the anti-ban guard's limits `outreach`.
pub(crate) async fn start_with_outreach(
    outreach: wab24::runtime::cold_guard::OutreachLimits,
) -> App {
    start_full(|_| {}, outreach).await
}

async fn start_full(
    adjust: impl FnOnce(&mut Settings),
    outreach: wab24::runtime::cold_guard::OutreachLimits,
) -> App {
    let sim = Sim::new(SimConfig::default());
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    sim.start(loopback).await.unwrap();
    for (m, d) in [(ALPHA, "alpha.test"), (BETA, "beta.test")] {
        let mut spec = PortalSpec::new(m, d);
        spec.install_finished = false;
        sim.add_portal(spec);
        sim.set_rate_limit(m, b24_client::RateLimit { per_second: 1000.0, burst: 1000 });
    }
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(Store::open_sqlite(dir.path(), MasterKey::from_bytes(MASTER)).await.unwrap());
    let now = b24_client::Clock::now(&b24_client::SystemClock);
    let clock = ManualClock::new(now);
    let b24 = b24_client::Client::builder(sim.app())
        .token_store(Arc::new(TenancyTokenStore::new(store.clone(), Arc::new(clock.clone()))))
        .clock(clock.clone())
        .rate_limit(b24_client::RateLimit { per_second: 1000.0, burst: 1000 })
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind(loopback).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut settings = Settings {
        client_id: sim.app().client_id,
        public_url: base.clone(),
        oauth_server: sim.server_endpoint().unwrap(),
        plan_hook_secret: Some(HOOK_SECRET.to_owned()),
        default_plan: "trial".to_owned(),
        default_line_quota: 3,
        trial_days: 15,
        extra_frame_ancestor: None,
        metrics_token: Some(METRICS_TOKEN.to_owned()),
        limits: wab24::state::Limits::default(),
        uninstall_grace_days: 7,
        billing: wab24::state::Billing::default(),
        media_links: wab24::media_link::MediaLinks {
            key: wab24::media_link::MediaLinkKey::derive(&MASTER).unwrap(),
            ttl_secs: wab24::media_link::DEFAULT_TTL_SECS,
        },
    };
    adjust(&mut settings);
    let key = SessionKey::derive(&MASTER).unwrap();
    let wa = wa_sim::Sim::new(wa_sim::SimConfig { seed: Some(5), ..wa_sim::SimConfig::default() });
    let wa_addr = wa.serve_ws(loopback).await.unwrap();
    wa.serve_media(loopback, 8 * 1024 * 1024).await.unwrap();
    let mut runtime_config =
        RuntimeConfig::new(wab24::demo::client_config(&wa, wa_addr), dir.path().to_path_buf());
    runtime_config.send_retry = Duration::from_millis(200);
    runtime_config.outreach = outreach;
    let runtime =
        Arc::new(Runtime::new(store.clone(), runtime_config, wab24::events::EventBus::default()));
    let state =
        AppState::new(settings, store.clone(), b24, key, Arc::new(clock.clone()), Some(runtime));
    tokio::spawn(wab24::serve::serve_http(
        listener,
        wab24::http::routes(state.clone()),
        state.settings().limits.clone(),
        std::future::pending(),
    ));
    App {
        sim,
        wa,
        base,
        http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        state,
        store,
        clock,
        _dir: dir,
    }
}

/// A plain HTTP answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or("").to_owned()
    }
}

impl App {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None).await
    }

    /// POSTs a form (query string + body) as Bitrix24 does.
    pub(crate) async fn post_form(&self, path: &str, query: &str, body: String) -> Answer {
        let url =
            if query.is_empty() { self.url(path) } else { format!("{}?{query}", self.url(path)) };
        let r = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    /// The administrator (user 1) opens the app for the first time: the install frame.
    pub(crate) async fn install_frame(&self, member: &str, user: u64) -> Answer {
        let (q, b) =
            self.sim.frame_request(member, user, "DEFAULT", &serde_json::json!({})).unwrap();
        self.post_form("/b24/install", &q, b).await
    }

    /// Installs `member` (install frame by its administrator, then `installFinish`).
    pub(crate) async fn install(&self, member: &str) {
        let a = self.install_frame(member, 1).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.contains("<script src=\"/ui/install.js\">"));
        self.sim.finish_install(member);
    }

    /// `user` opens the app: the frame POST, answered by a page holding the session token.
    pub(crate) async fn open_app(&self, member: &str, user: u64) -> Answer {
        let (q, b) =
            self.sim.frame_request(member, user, "DEFAULT", &serde_json::json!({})).unwrap();
        // The frame parses as Bitrix24's would.
        FrameRequest::parse(&q, b.as_bytes()).unwrap();
        self.post_form("/b24/app", &q, b).await
    }

    /// The session token of `user` of `member`.
    pub(crate) async fn token(&self, member: &str, user: u64) -> String {
        let a = self.open_app(member, user).await;
        assert_eq!(a.status, 200, "{}", a.body);
        token_of(&a.body)
    }

    /// Records an inbound message on a line through the store, as the line runtime would.
    pub(crate) async fn inbound(
        &self,
        member: &str,
        line: LineId,
        jid: &str,
        push_name: &str,
        wa_id: &str,
        text: &str,
    ) -> i64 {
        let t = self.store.tenant(member).await.unwrap();
        let m = Inbound {
            line_id: line,
            jid: jid.to_owned(),
            phone: jid.split('@').next().map(str::to_owned),
            push_name: Some(push_name.to_owned()),
            wa_id: wa_id.to_owned(),
            kind: MessageKind::Text,
            text: Some(text.to_owned()),
            media: None,
            quoted_wa_id: None,
            raw: format!("{{\"raw\":\"{text}\"}}").into_bytes(),
            note: None,
        };
        let r = t.record_inbound(Caller::System, &m, self.state.now()).await.unwrap();
        r.message.conversation_id
    }
}

/// The token in an app page.
pub(crate) fn token_of(page: &str) -> String {
    let start = page.find("\"token\":\"").expect("token in page") + 9;
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_owned()
}

/// A stream of Server-Sent Events.
pub(crate) struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    pub(crate) async fn open(app: &App, token: &str) -> Sse {
        let resp = app.http.get(app.url("/api/events")).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let mut s = Sse { resp, buf: String::new() };
        let (kind, _) = s.next(Duration::from_secs(5)).await.expect("hello");
        assert_eq!(kind, "hello");
        s
    }

    /// The next event (name, JSON data), skipping keep-alive comments; `None` on timeout.
    pub(crate) async fn next(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() && event == "message" {
                    continue;
                }
                return Some((event, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk()).await.ok()?.ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The first event named `kind` whose data `pick` accepts (others are skipped); panics
    /// after 20 s.
    pub(crate) async fn find(&mut self, kind: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut skipped = vec![];
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some((k, data)) if k == kind && pick(&data) => return data,
                Some(other) => skipped.push(other),
                None => panic!("no matching {kind} event; got {skipped:?}"),
            }
        }
    }

    /// Every event until one named `until` arrives (included); panics on timeout.
    pub(crate) async fn until(&mut self, until: &str) -> Vec<(String, Value)> {
        let mut out = vec![];
        loop {
            let e = self
                .next(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("no {until} event; got {out:?}"));
            let done = e.0 == until;
            out.push(e);
            if done {
                return out;
            }
        }
    }
}
