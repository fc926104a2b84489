//! What the HTTP layer is configured with: the settings handlers read, the bounds on uploads,
//! storage and connections, and the billing set-up.

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
    /// The key of signed media links and how long they last.
    pub media_links: crate::media_link::MediaLinks,
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
    /// How long what the portal said of a user (active, departments, name, avatar) is trusted
    /// before a request of theirs reads it again with `user.get`; also how often an open event
    /// stream re-admits its user.
    pub user_cache: std::time::Duration,
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
            user_cache: std::time::Duration::from_secs(120),
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
