//! What every handler shares: the store, the Bitrix24 client, the session key, the event bus,
//! the metrics and the clock; and the authentication of API requests.

use std::{collections::HashMap, sync::Arc};

use b24_client::{Clock, Portal, TokenSet, TokenStore};
use futures_util::future::BoxFuture;
use tenancy::{Caller, PortalTokens, Store, Tenant, TenantInfo, TenantStatus};
use time::OffsetDateTime;

use crate::{
    error::{ApiError, ApiResult},
    events::EventBus,
    metrics::Metrics,
    session::{Claims, Role, SessionKey},
};

/// The settings handlers need (a subset of [`crate::config::Config`], without secrets the
/// handlers do not use).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Our `client_id`.
    pub client_id: String,
    /// The public base URL (no trailing slash).
    pub public_url: String,
    /// The OAuth server's REST root used to confirm tokens.
    pub oauth_server: String,
    /// The plan-change hook's secret (`None`: the hook is off).
    pub plan_hook_secret: Option<String>,
    /// A new tenant's plan.
    pub default_plan: String,
    /// A new tenant's line quota.
    pub default_line_quota: i64,
    /// A new tenant's trial length in days.
    pub trial_days: i64,
    /// Another origin allowed to frame the app besides the portal (`wab24 demo`: the simulated
    /// portal's shell page, which lives on another host than the portal's domain).
    pub extra_frame_ancestor: Option<String>,
    /// How long a `CLEAN` uninstall's data is kept (a reinstall within it restores everything)
    /// before the purge deletes it, in days.
    pub uninstall_grace_days: i64,
    /// The bearer token `/metrics` asks for on the API's listener (`None`: `/metrics` is not
    /// served there; see [`crate::serve::run`] for a separate metrics listener).
    pub metrics_token: Option<String>,
    /// Bounds on uploads, storage and connections.
    pub limits: Limits,
    /// Prices and the upgrade hook.
    pub billing: Billing,
}

/// Bounds on what a tenant and the whole server may hold at once. The defaults are the
/// documented ones (server README, "Limits").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Uploads one tenant may stream at the same time (429 beyond).
    pub uploads_per_tenant: usize,
    /// Uploads the server streams at the same time, all tenants together (503 beyond).
    pub uploads_total: usize,
    /// Bytes of media a tenant may keep (413 beyond, naming current and maximum).
    pub storage_per_tenant: u64,
    /// Time a client has to send a request's headers; also how long a kept-alive connection
    /// waits for its next request.
    pub header_timeout: std::time::Duration,
    /// A connection on which no byte moves either way for this long is closed (a stalled
    /// body, a reader that stopped reading). Longer than the event stream's keep-alive.
    pub idle_timeout: std::time::Duration,
    /// Open connections at most; one more is answered 503 and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            uploads_per_tenant: 4,
            uploads_total: 32,
            storage_per_tenant: 5 * 1024 * 1024 * 1024,
            header_timeout: std::time::Duration::from_secs(20),
            idle_timeout: std::time::Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Uploads in progress, per tenant and in all, with the bytes each tenant's have reserved
/// against its storage quota.
#[derive(Debug, Default)]
struct Uploads {
    total: usize,
    tenants: HashMap<String, TenantUploads>,
}

#[derive(Debug, Default)]
struct TenantUploads {
    active: usize,
    reserved: u64,
}

/// One upload's place among the uploads in progress; dropping it frees the place and its
/// reservation.
#[derive(Debug)]
pub struct UploadSlot {
    state: AppState,
    member_id: String,
    reserved: u64,
}

impl UploadSlot {
    /// Reserves `bytes` of the tenant's storage quota for this upload, given `used` bytes
    /// already stored: 413 naming current and maximum when they do not fit.
    pub fn reserve(&mut self, used: u64, bytes: u64) -> ApiResult<()> {
        let max = self.state.settings().limits.storage_per_tenant;
        let mut uploads = self.state.uploads();
        let entry = uploads.tenants.entry(self.member_id.clone()).or_default();
        let others = entry.reserved.saturating_sub(self.reserved);
        let current = used.saturating_add(others);
        if current.saturating_add(bytes) > max {
            return Err(ApiError::StorageQuota { current, max });
        }
        entry.reserved = others.saturating_add(bytes);
        self.reserved = bytes;
        Ok(())
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut uploads = self.state.uploads();
        uploads.total = uploads.total.saturating_sub(1);
        if let Some(t) = uploads.tenants.get_mut(&self.member_id) {
            t.active = t.active.saturating_sub(1);
            t.reserved = t.reserved.saturating_sub(self.reserved);
            if t.active == 0 {
                uploads.tenants.remove(&self.member_id);
            }
        }
    }
}

/// What lines cost and where administrators' upgrade requests go.
#[derive(Clone, Debug)]
pub struct Billing {
    /// The price of one line per month, in whole units of `price_currency`.
    pub price_per_line: i64,
    /// The currency (ISO 4217).
    pub price_currency: String,
    /// The operator's billing hook; `None`: upgrade requests are not taken.
    pub upgrade_hook: Option<BillingHook>,
}

impl Default for Billing {
    fn default() -> Billing {
        Billing { price_per_line: 40, price_currency: "USD".to_owned(), upgrade_hook: None }
    }
}

/// The operator's billing hook: `POST url`, body signed with HMAC-SHA256 under `secret`.
#[derive(Clone)]
pub struct BillingHook {
    /// Where upgrade requests are posted.
    pub url: String,
    /// Signs each request (never logged).
    pub secret: String,
}

impl std::fmt::Debug for BillingHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingHook")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The shared state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    store: Arc<Store>,
    b24: b24_client::Client,
    key: SessionKey,
    bus: EventBus,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    portals: std::sync::Mutex<HashMap<String, Portal>>,
    uploads: std::sync::Mutex<Uploads>,
    runtime: Option<Arc<crate::runtime::Runtime>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

/// A clock shared between the server and its Bitrix24 client.
#[derive(Clone)]
pub struct SharedClock(pub Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now_unix(&self) -> i64 {
        self.0.now_unix()
    }
}

/// Persists rotated Bitrix24 tokens into the tenants registry (sealed), keeping the stored
/// endpoints and `application_token`.
pub struct TenancyTokenStore {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
}

impl TenancyTokenStore {
    /// A token store writing into `store`, timestamped by `clock`.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>) -> TenancyTokenStore {
        TenancyTokenStore { store, clock }
    }
}

impl TokenStore for TenancyTokenStore {
    fn save<'a>(&'a self, t: &'a TokenSet) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let old = self.store.portal_tokens(&t.member_id).await.map_err(|e| e.to_string())?;
            let application_token = old.map(|o| o.application_token.clone()).unwrap_or_default();
            let new = portal_tokens(t, application_token);
            let now = OffsetDateTime::from_unix_timestamp(self.clock.now_unix())
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            self.store.set_portal_tokens(&t.member_id, &new, now).await.map_err(|e| e.to_string())
        })
    }
}

/// The registry form of a Bitrix24 token pair.
pub fn portal_tokens(t: &TokenSet, application_token: String) -> PortalTokens {
    PortalTokens {
        access_token: t.access_token.expose().to_owned(),
        refresh_token: t.refresh_token.expose().to_owned(),
        expires_at: t.expires_at.saturating_mul(1000),
        client_endpoint: t.client_endpoint.clone(),
        server_endpoint: t.server_endpoint.clone(),
        application_token,
    }
}

/// An authenticated API caller.
#[derive(Debug)]
pub struct Session {
    /// The token's claims.
    pub claims: Claims,
    /// The tenant's registry entry.
    pub info: TenantInfo,
    /// The tenant's storage.
    pub tenant: Tenant,
}

impl Session {
    /// The tenancy caller.
    pub fn caller(&self) -> Caller {
        self.claims.caller()
    }

    /// 403 unless the caller is an administrator.
    pub fn require_admin(&self) -> ApiResult<()> {
        match self.claims.role {
            Role::Admin => Ok(()),
            Role::User => Err(ApiError::Forbidden("administrators only")),
        }
    }

    /// 402 when the trial has ended (writes are refused, reads go on).
    pub fn require_writable(&self, now_unix: i64) -> ApiResult<()> {
        if trial_expired(&self.info, now_unix) { Err(ApiError::TrialExpired) } else { Ok(()) }
    }
}

/// Whether a tenant's trial has ended (a tenant with no trial end is on a paid plan).
pub fn trial_expired(info: &TenantInfo, now_unix: i64) -> bool {
    info.trial_ends_at.is_some_and(|end| end <= now_unix.saturating_mul(1000))
}

impl AppState {
    /// Assembles the state. With a line runtime, the state shares its event bus and counters
    /// (the runtime publishes on the bus itself); without one, it has a bus of its own.
    pub fn new(
        settings: Settings,
        store: Arc<Store>,
        b24: b24_client::Client,
        key: SessionKey,
        clock: Arc<dyn Clock>,
        runtime: Option<Arc<crate::runtime::Runtime>>,
    ) -> AppState {
        let (bus, metrics) = match &runtime {
            Some(rt) => (rt.bus().clone(), rt.metrics().clone()),
            None => (EventBus::default(), Arc::new(Metrics::default())),
        };
        AppState {
            inner: Arc::new(Inner {
                settings,
                store,
                b24,
                key,
                bus,
                metrics,
                clock,
                portals: std::sync::Mutex::new(HashMap::new()),
                uploads: std::sync::Mutex::default(),
                runtime,
            }),
        }
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The tenants store.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The Bitrix24 client.
    pub fn b24(&self) -> &b24_client::Client {
        &self.inner.b24
    }

    /// The session-token key.
    pub fn key(&self) -> &SessionKey {
        &self.inner.key
    }

    /// The event bus.
    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The line runtime, when the server runs one.
    pub fn runtime(&self) -> Option<&Arc<crate::runtime::Runtime>> {
        self.inner.runtime.as_ref()
    }

    /// The line runtime, or 503 when this server runs none.
    pub fn require_runtime(&self) -> ApiResult<&Arc<crate::runtime::Runtime>> {
        self.runtime()
            .ok_or_else(|| ApiError::Unavailable("this server runs no WhatsApp lines".to_owned()))
    }

    /// Now, Unix seconds.
    pub fn now_unix(&self) -> i64 {
        self.inner.clock.now_unix()
    }

    /// Now, as a time.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.now_unix()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Checks a bearer token (from the `Authorization` header or, for EventSource which cannot
    /// set headers, the `access_token` query parameter) and opens the tenant.
    pub async fn authenticate(&self, bearer: Option<&str>) -> ApiResult<Session> {
        let token = bearer.ok_or(ApiError::Unauthorized("missing bearer token"))?;
        let claims = self.inner.key.verify(token, self.now_unix()).map_err(|e| {
            tracing::debug!(reason = %e, "token refused");
            match e {
                crate::session::TokenError::Expired => ApiError::Unauthorized("token expired"),
                _ => ApiError::Unauthorized("invalid token"),
            }
        })?;
        let info = self.inner.store.info(&claims.mid).await.map_err(|e| match e {
            tenancy::Error::UnknownTenant | tenancy::Error::InvalidMemberId => {
                ApiError::Unauthorized("invalid token")
            }
            other => ApiError::from(other),
        })?;
        if info.status != TenantStatus::Active {
            return Err(ApiError::TenantInactive(info.status.to_string()));
        }
        self.check_not_revoked(&claims, &info).await?;
        let tenant = self.inner.store.tenant(&claims.mid).await?;
        Ok(Session { claims, info, tenant })
    }

    /// Refuses a token issued under an earlier installation (before an uninstall or a reinstall)
    /// or before an administrator ended the user's sessions.
    pub async fn check_not_revoked(&self, claims: &Claims, info: &TenantInfo) -> ApiResult<()> {
        if claims.generation != info.generation {
            tracing::debug!(member_id = %claims.mid, "token refused: earlier installation");
            return Err(ApiError::Unauthorized("session ended: the app was reinstalled"));
        }
        let not_before = self.inner.store.sessions_not_before(&claims.mid, claims.uid).await?;
        // Issued in the second of the revocation counts as before it.
        if not_before.is_some_and(|nb| claims.iat <= nb) {
            tracing::debug!(member_id = %claims.mid, user_id = claims.uid, "token refused: revoked");
            return Err(ApiError::Unauthorized("session ended by an administrator"));
        }
        Ok(())
    }

    /// The Bitrix24 handle of an installed portal (cached; built from the registry's tokens).
    pub async fn portal(&self, member_id: &str) -> ApiResult<Portal> {
        if let Some(p) = self.portals().get(member_id) {
            return Ok(p.clone());
        }
        let info = self.inner.store.info(member_id).await?;
        let tokens = self
            .inner
            .store
            .portal_tokens(member_id)
            .await?
            .filter(|t| !t.client_endpoint.is_empty())
            .ok_or(ApiError::Forbidden("the app is not installed on this portal"))?;
        let set = TokenSet {
            member_id: member_id.to_owned(),
            domain: info.domain.clone(),
            access_token: b24_client::Secret::new(tokens.access_token.clone()),
            refresh_token: b24_client::Secret::new(tokens.refresh_token.clone()),
            expires_at: tokens.expires_at / 1000,
            client_endpoint: tokens.client_endpoint.clone(),
            server_endpoint: if tokens.server_endpoint.is_empty() {
                self.inner.settings.oauth_server.clone()
            } else {
                tokens.server_endpoint.clone()
            },
            scope: vec![],
            user_id: None,
        };
        let portal = self.inner.b24.portal(set);
        self.portals().entry(member_id.to_owned()).or_insert(portal.clone());
        Ok(portal)
    }

    /// Forgets a cached portal handle (after install or uninstall); `uninstalled` also stops
    /// calls already holding it.
    pub fn forget_portal(&self, member_id: &str, uninstalled: bool) {
        if let Some(p) = self.portals().remove(member_id)
            && uninstalled
        {
            p.mark_uninstalled();
        }
    }

    /// A place among the uploads in progress for a tenant: 429 when the tenant has its
    /// maximum under way, 503 when the server has.
    pub fn begin_upload(&self, member_id: &str) -> ApiResult<UploadSlot> {
        let limits = &self.inner.settings.limits;
        let mut uploads = self.uploads();
        let active = uploads.tenants.get(member_id).map_or(0, |t| t.active);
        if active >= limits.uploads_per_tenant {
            return Err(ApiError::TooManyUploads(limits.uploads_per_tenant));
        }
        if uploads.total >= limits.uploads_total {
            return Err(ApiError::Unavailable(
                "the server is receiving as many files as it can; try again in a moment".to_owned(),
            ));
        }
        uploads.total += 1;
        uploads.tenants.entry(member_id.to_owned()).or_default().active += 1;
        Ok(UploadSlot { state: self.clone(), member_id: member_id.to_owned(), reserved: 0 })
    }

    fn uploads(&self) -> std::sync::MutexGuard<'_, Uploads> {
        self.inner.uploads.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn portals(&self) -> std::sync::MutexGuard<'_, HashMap<String, Portal>> {
        self.inner.portals.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
