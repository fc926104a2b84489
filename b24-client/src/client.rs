//! The HTTP client and the per-portal handle that calls methods.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    clock::{Clock, SystemClock},
    envelope::{self, Envelope, Failure},
    error::{Error, ErrorCode, Result},
    limits::{LeakyBucket, RateLimit, RetryPolicy, is_idempotent},
    oauth::{
        MemoryTokenStore, OAuthApp, TokenSet, TokenStore, parse_token_response, token_endpoint,
    },
    secret::Secret,
};

/// Settings shared by every portal of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The `User-Agent` sent with every request.
    pub user_agent: String,
    /// Time allowed for one HTTP request (Bitrix24 itself stops at 60 s).
    pub request_timeout: Duration,
    /// The leaky bucket applied per portal.
    pub rate_limit: RateLimit,
    /// How refused and failed calls are retried.
    pub retry: RetryPolicy,
    /// How many domain-rename redirects one call follows.
    pub max_redirects: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            user_agent: concat!("wab24-b24-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            request_timeout: Duration::from_secs(65),
            rate_limit: RateLimit::STANDARD,
            retry: RetryPolicy::default(),
            max_redirects: 3,
        }
    }
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    app: OAuthApp,
    config: ClientConfig,
    clock: Option<Arc<dyn Clock>>,
    store: Option<Arc<dyn TokenStore>>,
}

impl std::fmt::Debug for dyn TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenStore")
    }
}

impl ClientBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the per-portal rate limit (e.g. [`RateLimit::ENTERPRISE`]).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.config.rate_limit = limit;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.config.retry = retry;
        self
    }

    /// Sets the per-request timeout.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.config.request_timeout = t;
        self
    }

    /// Sets the wall clock used for token expiry.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Sets where rotated tokens are persisted (default: in memory).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Builds the client. Installs rustls' ring provider as the process default if none is.
    pub fn build(self) -> Result<Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(self.config.user_agent.clone())
            .timeout(self.config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(ClientInner {
                http,
                app: self.app,
                config: self.config,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                store: self.store.unwrap_or_else(|| Arc::new(MemoryTokenStore::new())),
            }),
        })
    }
}

#[derive(Debug)]
struct ClientInner {
    http: reqwest::Client,
    app: OAuthApp,
    config: ClientConfig,
    clock: Arc<dyn Clock>,
    store: Arc<dyn TokenStore>,
}

/// A Bitrix24 client for one application: holds the HTTP connection pool, the application's
/// keys and the token store, and hands out a [`Portal`] per installation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

/// Options of one call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    /// Overrides whether the method may be sent again after a timeout or a 5xx
    /// (default: [`is_idempotent`]).
    pub idempotent: Option<bool>,
}

impl Client {
    /// Starts building a client for an application.
    pub fn builder(app: OAuthApp) -> ClientBuilder {
        ClientBuilder { app, config: ClientConfig::default(), clock: None, store: None }
    }

    /// The application's keys.
    pub fn app(&self) -> &OAuthApp {
        &self.inner.app
    }

    /// The wall clock.
    pub fn now_unix(&self) -> i64 {
        crate::clock::now_unix(&*self.inner.clock)
    }

    /// A handle for one installed portal, from its token pair.
    pub fn portal(&self, tokens: TokenSet) -> Portal {
        Portal {
            inner: Arc::new(PortalInner {
                client: self.clone(),
                member_id: tokens.member_id.clone(),
                state: Mutex::new(PortalState {
                    tokens,
                    generation: 0,
                    broken: None,
                    uninstalled: false,
                }),
                refresh_lock: tokio::sync::Mutex::new(()),
                bucket: LeakyBucket::new(self.inner.config.rate_limit),
                paused: Mutex::new(HashMap::new()),
                stats: Stats::default(),
            }),
        }
    }

    async fn token_request(
        &self,
        server_endpoint: &str,
        params: &[(&str, &str)],
    ) -> Result<TokenSet> {
        let url = token_endpoint(server_endpoint);
        let resp = self.inner.http.get(&url).query(params).send().await.map_err(|e| {
            if e.is_timeout() {
                Error::Timeout { method: "oauth/token".to_owned(), may_have_committed: true }
            } else {
                Error::Transport { method: "oauth/token".to_owned(), message: without_url(&e) }
            }
        })?;
        let body = resp.bytes().await.map_err(|e| Error::Transport {
            method: "oauth/token".to_owned(),
            message: without_url(&e),
        })?;
        parse_token_response(&body, self.now_unix())
    }

    /// Exchanges an authorization code (`grant_type=authorization_code`) for a token pair.
    pub async fn exchange_code(&self, server_endpoint: &str, code: &str) -> Result<TokenSet> {
        let app = &self.inner.app;
        self.token_request(
            server_endpoint,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &app.client_id),
                ("client_secret", app.client_secret.expose()),
                ("code", code),
            ],
        )
        .await
    }

    /// Sends one raw request to a REST root with an explicit token; no refresh, no retry.
    async fn raw(
        &self,
        endpoint: &str,
        method: &str,
        params: &Value,
        auth: &Secret,
    ) -> Result<Envelope, Failure> {
        let url = format!("{endpoint}{method}");
        let mut body = match params {
            Value::Object(m) => m.clone(),
            Value::Null => serde_json::Map::new(),
            _ => {
                return Err(Failure {
                    error: Error::Config("params must be a JSON object".to_owned()),
                    reset_at: None,
                });
            }
        };
        body.insert("auth".to_owned(), Value::String(auth.expose().to_owned()));
        let resp = self.inner.http.post(&url).json(&body).send().await.map_err(|e| Failure {
            error: if e.is_timeout() {
                Error::Timeout { method: method.to_owned(), may_have_committed: true }
            } else {
                Error::Transport { method: method.to_owned(), message: without_url(&e) }
            },
            reset_at: None,
        })?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            let loc =
                resp.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
            return Err(Failure {
                error: Error::Redirect(loc.unwrap_or_default()),
                reset_at: None,
            });
        }
        let body = resp.bytes().await.map_err(|e| Failure {
            error: if e.is_timeout() {
                Error::Timeout { method: method.to_owned(), may_have_committed: true }
            } else {
                Error::Transport { method: method.to_owned(), message: without_url(&e) }
            },
            reset_at: None,
        })?;
        envelope::parse_inner(status, &body)
    }

    /// Calls `app.info` on an OAuth server with a user's token: which application and portal
    /// the token belongs to.
    pub async fn oauth_app_info(&self, server_endpoint: &str, auth: &Secret) -> Result<Value> {
        self.raw(server_endpoint, "app.info", &json!({}), auth)
            .await
            .map(|e| e.result)
            .map_err(|f| f.error)
    }
}

/// Strips the URL (which may carry a token in its query) from a reqwest error.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_request() {
        "request"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "other"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut deepest = String::new();
    while let Some(s) = source {
        deepest = s.to_string();
        source = s.source();
    }
    format!("{kind} error: {deepest}")
}

#[derive(Debug)]
struct PortalState {
    tokens: TokenSet,
    generation: u64,
    broken: Option<ErrorCode>,
    uninstalled: bool,
}

#[derive(Debug, Default)]
struct Stats {
    refreshes: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

#[derive(Debug)]
struct PortalInner {
    client: Client,
    member_id: String,
    state: Mutex<PortalState>,
    refresh_lock: tokio::sync::Mutex<()>,
    bucket: LeakyBucket,
    paused: Mutex<HashMap<String, Instant>>,
    stats: Stats,
}

/// One installed portal: calls methods with its tokens, refreshes them as a single flight,
/// keeps to its rate limit. Cheap to clone; clones share tokens, bucket and state.
#[derive(Debug, Clone)]
pub struct Portal {
    inner: Arc<PortalInner>,
}

/// The user behind a frame, as the portal confirms it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameUser {
    /// The user's id.
    pub user_id: crate::quirks::Id,
    /// Whether the portal says this user administers the application.
    pub is_admin: bool,
    /// The user's `user.current` record.
    pub profile: Value,
}

impl Portal {
    /// The portal's `member_id`.
    pub fn member_id(&self) -> &str {
        &self.inner.member_id
    }

    /// A copy of the current token pair.
    pub fn tokens(&self) -> Result<TokenSet> {
        Ok(self.state()?.tokens.clone())
    }

    /// How many refreshes this handle performed.
    pub fn refresh_count(&self) -> u64 {
        self.inner.stats.refreshes.load(Ordering::SeqCst)
    }

    /// How many HTTP requests this handle sent.
    pub fn request_count(&self) -> u64 {
        self.inner.stats.requests.load(Ordering::SeqCst)
    }

    /// How many retries this handle made.
    pub fn retry_count(&self) -> u64 {
        self.inner.stats.retries.load(Ordering::SeqCst)
    }

    /// Marks the application as uninstalled here (after `ONAPPUNINSTALL`): calls in flight finish
    /// or fail, every later call fails with [`Error::Uninstalled`] without being sent.
    pub fn mark_uninstalled(&self) {
        if let Ok(mut s) = self.inner.state.lock() {
            s.uninstalled = true;
        }
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, PortalState>> {
        self.inner.state.lock().map_err(|_| Error::Config("portal state poisoned".to_owned()))
    }

    fn check_usable(&self) -> Result<()> {
        let s = self.state()?;
        if s.uninstalled {
            return Err(Error::Uninstalled { member_id: self.inner.member_id.clone() });
        }
        if let Some(reason) = &s.broken {
            return Err(Error::ReinstallRequired {
                member_id: self.inner.member_id.clone(),
                reason: reason.clone(),
            });
        }
        Ok(())
    }

    /// Calls a method with JSON params and returns the envelope.
    pub async fn call(&self, method: &str, params: Value) -> Result<Envelope> {
        self.call_with(method, params, CallOptions::default()).await
    }

    /// Calls a method and deserializes its `result`.
    pub async fn call_as<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T> {
        let env = self.call(method, params).await?;
        serde_json::from_value(env.result)
            .map_err(|e| Error::Decode { what: "result", message: e.to_string() })
    }

    /// Calls a method with options.
    pub async fn call_with(
        &self,
        method: &str,
        params: Value,
        opts: CallOptions,
    ) -> Result<Envelope> {
        let client = &self.inner.client;
        let idempotent = opts.idempotent.unwrap_or_else(|| is_idempotent(method));
        let policy = client.inner.config.retry.clone();
        let mut attempt: u32 = 1;
        let mut refreshed = false;
        let mut redirects = 0;
        loop {
            self.check_usable()?;
            self.wait_if_paused(method).await;
            self.inner.bucket.acquire().await;
            let (endpoint, token, generation) = {
                let s = self.state()?;
                (s.tokens.client_endpoint.clone(), s.tokens.access_token.clone(), s.generation)
            };
            self.inner.stats.requests.fetch_add(1, Ordering::SeqCst);
            let failure = match client.raw(&endpoint, method, &params, &token).await {
                Ok(env) => return Ok(env),
                Err(f) => f,
            };
            let retry_after = match &failure.error {
                Error::Redirect(location) => {
                    redirects += 1;
                    if redirects > client.inner.config.max_redirects {
                        return Err(Error::Redirect(format!(
                            "more than {} redirects",
                            redirects - 1
                        )));
                    }
                    self.follow_domain_change(location).await?;
                    continue;
                }
                Error::Api { code: ErrorCode::ExpiredToken | ErrorCode::InvalidToken, .. }
                    if !refreshed =>
                {
                    refreshed = true;
                    self.refresh_after(generation).await?;
                    continue;
                }
                Error::Api { code: ErrorCode::QueryLimitExceeded, .. } => {
                    Some(policy.delay(attempt))
                }
                Error::Api { code: ErrorCode::OperationTimeLimit, .. } => {
                    let now = client.now_unix();
                    let wait = failure
                        .reset_at
                        .map(|r| Duration::from_secs(u64::try_from((r - now).max(1)).unwrap_or(1)))
                        .unwrap_or_else(|| policy.delay(attempt));
                    self.pause(method, wait);
                    Some(Duration::ZERO)
                }
                Error::Transport { message, .. } if message.starts_with("connect") => {
                    Some(policy.delay(attempt))
                }
                Error::Timeout { .. } if idempotent => Some(policy.delay(attempt)),
                Error::Timeout { method, .. } => {
                    return Err(Error::Timeout {
                        method: method.clone(),
                        may_have_committed: true,
                    });
                }
                Error::Transport { .. } if idempotent => Some(policy.delay(attempt)),
                Error::UnexpectedBody { .. } if idempotent => Some(policy.delay(attempt)),
                Error::Api {
                    code: ErrorCode::InternalServerError | ErrorCode::UnexpectedAnswer,
                    ..
                } if idempotent => Some(policy.delay(attempt)),
                _ => None,
            };
            match retry_after {
                Some(delay) if attempt < policy.max_attempts => {
                    attempt += 1;
                    self.inner.stats.retries.fetch_add(1, Ordering::SeqCst);
                    tracing::debug!(member_id = %self.inner.member_id, method, attempt, ?delay, "retrying");
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    return Err(match failure.error {
                        Error::Timeout { method, .. } => {
                            Error::Timeout { method, may_have_committed: !idempotent }
                        }
                        other => other,
                    });
                }
            }
        }
    }

    fn pause(&self, method: &str, wait: Duration) {
        if let Ok(mut p) = self.inner.paused.lock() {
            p.insert(method.to_owned(), Instant::now() + wait);
        }
    }

    async fn wait_if_paused(&self, method: &str) {
        let until = self.inner.paused.lock().ok().and_then(|p| p.get(method).copied());
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// A 302 from a renamed portal: take the new REST root from `Location` and persist it.
    async fn follow_domain_change(&self, location: &str) -> Result<()> {
        let Some(idx) = location.find("/rest/") else {
            return Err(Error::Redirect("Location without /rest/".to_owned()));
        };
        let new_endpoint = location[..idx + "/rest/".len()].to_owned();
        if !(new_endpoint.starts_with("https://") || new_endpoint.starts_with("http://")) {
            return Err(Error::Redirect("Location is not an absolute http(s) URL".to_owned()));
        }
        let tokens = {
            let mut s = self.state()?;
            let host = new_endpoint.split("://").nth(1).unwrap_or("");
            let host = host.strip_suffix("/rest/").unwrap_or(host).to_owned();
            tracing::info!(member_id = %self.inner.member_id, new_domain = %host, "portal domain changed");
            s.tokens.client_endpoint = new_endpoint;
            s.tokens.domain = host;
            s.tokens.clone()
        };
        self.inner.client.inner.store.save(&tokens).await.map_err(Error::TokenStore)
    }

    /// Refreshes the token pair unless another task already did since `seen_generation`:
    /// a hundred concurrent 401s cause one refresh.
    async fn refresh_after(&self, seen_generation: u64) -> Result<()> {
        let _guard = self.inner.refresh_lock.lock().await;
        let (refresh_token, server_endpoint) = {
            let s = self.state()?;
            if s.generation != seen_generation {
                return Ok(());
            }
            (s.tokens.refresh_token.clone(), s.tokens.server_endpoint.clone())
        };
        self.check_usable()?;
        let client = &self.inner.client;
        let app = &client.inner.app;
        self.inner.stats.refreshes.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(member_id = %self.inner.member_id, "refreshing tokens");
        let result = client
            .token_request(
                &server_endpoint,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &app.client_id),
                    ("client_secret", app.client_secret.expose()),
                    ("refresh_token", refresh_token.expose()),
                ],
            )
            .await;
        let mut new = match result {
            Ok(t) => t,
            Err(Error::OAuth { code, description }) => {
                if matches!(
                    code,
                    ErrorCode::InvalidGrant | ErrorCode::InvalidClient | ErrorCode::InvalidToken
                ) {
                    if let Ok(mut s) = self.state() {
                        s.broken = Some(code.clone());
                    }
                    return Err(Error::ReinstallRequired {
                        member_id: self.inner.member_id.clone(),
                        reason: code,
                    });
                }
                return Err(Error::OAuth { code, description });
            }
            Err(e) => return Err(e),
        };
        let saved = {
            let mut s = self.state()?;
            if new.server_endpoint.is_empty() {
                new.server_endpoint = s.tokens.server_endpoint.clone();
            }
            if new.domain.is_empty() {
                new.domain = s.tokens.domain.clone();
            }
            s.tokens = new;
            s.generation += 1;
            s.tokens.clone()
        };
        client.inner.store.save(&saved).await.map_err(Error::TokenStore)
    }

    /// Confirms a frame's user through the portal: `app.info` on this portal's OAuth server
    /// with the frame's `AUTH_ID` must name our `client_id` and this `member_id`, then
    /// `user.current` and `user.admin` with the same token say who it is. Endpoints come from the
    /// stored installation, never from the frame.
    pub async fn verify_frame_user(
        &self,
        frame: &crate::inbound::FrameRequest,
    ) -> Result<FrameUser> {
        if frame.member_id != self.inner.member_id {
            return Err(Error::FrameNotConfirmed(
                "member_id differs from the installation".to_owned(),
            ));
        }
        self.check_usable()?;
        let (server, portal) = {
            let s = self.state()?;
            (s.tokens.server_endpoint.clone(), s.tokens.client_endpoint.clone())
        };
        let client = &self.inner.client;
        let info = client.oauth_app_info(&server, &frame.auth_id).await?;
        let client_id = info.get("client_id").and_then(Value::as_str).unwrap_or("");
        if client_id != client.inner.app.client_id {
            return Err(Error::FrameNotConfirmed("token issued to another application".to_owned()));
        }
        let member = info.pointer("/install/member_id").and_then(Value::as_str).unwrap_or("");
        if member != self.inner.member_id {
            return Err(Error::FrameNotConfirmed("token issued for another portal".to_owned()));
        }
        self.inner.bucket.acquire().await;
        let profile = client
            .raw(&portal, "user.current", &json!({}), &frame.auth_id)
            .await
            .map_err(|f| f.error)?
            .result;
        let user_id = profile
            .get("ID")
            .and_then(crate::quirks::Id::from_value)
            .ok_or(Error::FrameNotConfirmed("user.current has no ID".to_owned()))?;
        self.inner.bucket.acquire().await;
        let admin = client
            .raw(&portal, "user.admin", &json!({}), &frame.auth_id)
            .await
            .map_err(|f| f.error)?
            .result;
        Ok(FrameUser {
            user_id,
            is_admin: crate::quirks::flex_bool(&admin).unwrap_or(false),
            profile,
        })
    }
}
