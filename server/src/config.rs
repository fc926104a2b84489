//! The server's configuration: `wab24.toml`, each key overridable by `WAB24_<KEY>`.
//!
//! Every key is documented in `server/wab24.example.toml`. Loading is pure: the file's text and
//! the environment are parameters, so tests need neither files nor process variables.

use std::{collections::HashMap, fmt, net::SocketAddr, path::PathBuf};

use serde::Deserialize;

/// A configuration that cannot be used. Each variant names the key and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a key of the wrong type.
    #[error("configuration file is not valid: {0}")]
    Syntax(String),
    /// A required key is absent from both the file and the environment.
    #[error("configuration key `{key}` is missing (set it in the file or as WAB24_{env})")]
    Missing {
        /// The key.
        key: &'static str,
        /// The key upper-cased (the environment variable's suffix).
        env: String,
    },
    /// A key has a value that cannot be used.
    #[error("configuration key `{key}` is invalid: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// Where tenants are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// SQLite files under this directory (`control.db`, `tenants/<member_id>.db`).
    Sqlite(PathBuf),
    /// PostgreSQL at this URL, the registry in `control_schema`.
    Postgres {
        /// The connection URL (may hold a password: not printed by `Debug` of [`Config`]).
        url: String,
        /// The registry's schema.
        control_schema: String,
    },
}

/// The loaded configuration.
#[derive(Clone)]
pub struct Config {
    /// The Bitrix24 application's `client_id`.
    pub client_id: String,
    /// The Bitrix24 application's `client_secret` (never logged).
    pub client_secret: String,
    /// The public base URL of this server as Bitrix24 reaches it (no trailing slash).
    pub public_url: String,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Where tenants are stored.
    pub database: Database,
    /// The data directory (media files live under `tenants/<member_id>/media/`).
    pub data_dir: PathBuf,
    /// The 32-byte master key (tenant keys and the session-token key derive from it).
    pub master_key: [u8; 32],
    /// The Bitrix24 OAuth server's REST root used to confirm tokens (`app.info`).
    pub oauth_server: String,
    /// The secret that the plan-change hook must present; `None` disables the hook.
    pub plan_hook_secret: Option<String>,
    /// The plan a new installation starts on.
    pub default_plan: String,
    /// How many lines that plan allows.
    pub default_line_quota: i64,
    /// Length of the trial of a new installation, in days (0: no trial).
    pub trial_days: i64,
    /// Days a `CLEAN` uninstall's data is kept before it is purged (a reinstall within them
    /// restores everything; 0: purged at the next purge run).
    pub uninstall_grace_days: i64,
    /// How long a signed link to a message's file (given to Bitrix24) works, in hours.
    pub media_link_ttl_hours: i64,
    /// The Bitrix24 client's leaky bucket per portal: requests per second and burst (Bitrix24's
    /// documented limits: 2 and 50 on standard plans, 5 and 250 on Enterprise).
    pub b24_rate_limit: b24_client::RateLimit,
    /// What one line costs per month, and where upgrade requests go.
    pub billing: crate::state::Billing,
    /// WhatsApp's WebSocket URL (default WhatsApp Web's).
    pub whatsapp_url: Option<String>,
    /// The WhatsApp Web version announced (a stale one is refused with 405: set the current
    /// one here, no rebuild needed).
    pub whatsapp_version: Option<wa_session::pairing::ClientVersion>,
    /// The root key WhatsApp's certificate chain must lead to (default WhatsApp's; another one
    /// for a simulator).
    pub whatsapp_root_key: Option<wa_session::PublicKey>,
    /// A PEM or DER certificate file trusted for `wss://` instead of the system's roots.
    pub whatsapp_ca_file: Option<PathBuf>,
    /// The bearer token `/metrics` asks for on the API's listener (`None`: not served there).
    pub metrics_token: Option<String>,
    /// A separate address serving `/metrics` without a token (`None`: no such listener).
    pub metrics_listen: Option<SocketAddr>,
    /// Bounds on uploads, storage and connections.
    pub limits: crate::state::Limits,
    /// The anti-ban guard's limits on messages to customers who never wrote to a line.
    pub outreach: crate::runtime::cold_guard::OutreachLimits,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let database = match &self.database {
            Database::Sqlite(p) => format!("sqlite:{}", p.display()),
            Database::Postgres { control_schema, .. } => {
                format!("postgres:<redacted url>, schema {control_schema}")
            }
        };
        f.debug_struct("Config")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("public_url", &self.public_url)
            .field("listen", &self.listen)
            .field("database", &database)
            .field("data_dir", &self.data_dir)
            .field("master_key", &"<redacted>")
            .field("oauth_server", &self.oauth_server)
            .field("plan_hook_secret", &self.plan_hook_secret.as_ref().map(|_| "<redacted>"))
            .field("default_plan", &self.default_plan)
            .field("default_line_quota", &self.default_line_quota)
            .field("trial_days", &self.trial_days)
            .field("uninstall_grace_days", &self.uninstall_grace_days)
            .field("media_link_ttl_hours", &self.media_link_ttl_hours)
            .field("b24_rate_limit", &self.b24_rate_limit)
            .field("billing", &self.billing)
            .field("whatsapp_url", &self.whatsapp_url)
            .field("whatsapp_version", &self.whatsapp_version)
            .field("whatsapp_ca_file", &self.whatsapp_ca_file)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .field("metrics_listen", &self.metrics_listen)
            .field("limits", &self.limits)
            .field("outreach", &self.outreach)
            .finish_non_exhaustive()
    }
}

/// The file's shape: every key optional here, required ones are checked after the environment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    client_id: Option<String>,
    client_secret: Option<String>,
    public_url: Option<String>,
    listen: Option<String>,
    database_url: Option<String>,
    pg_control_schema: Option<String>,
    data_dir: Option<String>,
    master_key: Option<String>,
    oauth_server: Option<String>,
    plan_hook_secret: Option<String>,
    default_plan: Option<String>,
    default_line_quota: Option<i64>,
    trial_days: Option<i64>,
    uninstall_grace_days: Option<i64>,
    media_link_ttl_hours: Option<i64>,
    b24_requests_per_second: Option<i64>,
    b24_request_burst: Option<i64>,
    price_per_line: Option<i64>,
    price_currency: Option<String>,
    billing_hook_url: Option<String>,
    billing_hook_secret: Option<String>,
    whatsapp_url: Option<String>,
    whatsapp_version: Option<String>,
    whatsapp_root_key: Option<String>,
    whatsapp_ca_file: Option<String>,
    metrics_token: Option<String>,
    metrics_listen: Option<String>,
    upload_concurrency_per_tenant: Option<i64>,
    upload_concurrency_total: Option<i64>,
    storage_quota_mib: Option<i64>,
    http_header_timeout_secs: Option<i64>,
    http_idle_timeout_secs: Option<i64>,
    http_max_connections: Option<i64>,
    cold_messages_per_hour: Option<i64>,
    cold_messages_per_day: Option<i64>,
    cold_first_message_gap_secs: Option<i64>,
    number_checks_per_hour: Option<i64>,
}

/// Every key the file and the environment know.
pub const KEYS: [&str; 37] = [
    "client_id",
    "client_secret",
    "public_url",
    "listen",
    "database_url",
    "pg_control_schema",
    "data_dir",
    "master_key",
    "oauth_server",
    "plan_hook_secret",
    "default_plan",
    "default_line_quota",
    "trial_days",
    "uninstall_grace_days",
    "media_link_ttl_hours",
    "b24_requests_per_second",
    "b24_request_burst",
    "price_per_line",
    "price_currency",
    "billing_hook_url",
    "billing_hook_secret",
    "whatsapp_url",
    "whatsapp_version",
    "whatsapp_root_key",
    "whatsapp_ca_file",
    "metrics_token",
    "metrics_listen",
    "upload_concurrency_per_tenant",
    "upload_concurrency_total",
    "storage_quota_mib",
    "http_header_timeout_secs",
    "http_idle_timeout_secs",
    "http_max_connections",
    "cold_messages_per_hour",
    "cold_messages_per_day",
    "cold_first_message_gap_secs",
    "number_checks_per_hour",
];

/// The environment prefix.
pub const ENV_PREFIX: &str = "WAB24_";

impl Config {
    /// Reads `path` and applies `WAB24_*` variables from the process environment.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let env: HashMap<String, String> =
            std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        Config::from_parts(&text, &env)
    }

    /// Builds a configuration from a file's text and environment variables (`WAB24_<KEY>`
    /// override the file's `key`).
    pub fn from_parts(text: &str, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let pick = |key: &'static str, file: Option<String>| -> Option<String> {
            env.get(&format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()))
                .cloned()
                .or(file)
                .filter(|v| !v.trim().is_empty())
        };
        let required = |key: &'static str, file: Option<String>| {
            pick(key, file).ok_or(ConfigError::Missing { key, env: key.to_ascii_uppercase() })
        };
        let number = |key: &'static str, file: Option<i64>| -> Result<Option<i64>, ConfigError> {
            match pick(key, file.map(|n| n.to_string())) {
                None => Ok(None),
                Some(s) => s.trim().parse().map(Some).map_err(|_| ConfigError::Invalid {
                    key,
                    reason: format!("{s:?} is not a whole number"),
                }),
            }
        };

        let client_id = required("client_id", raw.client_id)?;
        let client_secret = required("client_secret", raw.client_secret)?;
        let public_url = required("public_url", raw.public_url)?;
        let public_url = public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                key: "public_url",
                reason: "must start with https:// (or http:// behind a local proxy)".to_owned(),
            });
        }
        let listen = pick("listen", raw.listen).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen.parse().map_err(|_| ConfigError::Invalid {
            key: "listen",
            reason: format!("{listen:?} is not an address like 127.0.0.1:8080"),
        })?;
        let data_dir = PathBuf::from(required("data_dir", raw.data_dir)?);
        let control_schema =
            pick("pg_control_schema", raw.pg_control_schema).unwrap_or_else(|| "wab24".to_owned());
        let database = match pick("database_url", raw.database_url) {
            None => Database::Sqlite(data_dir.clone()),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Database::Postgres { url, control_schema }
            }
            Some(url) => match url.strip_prefix("sqlite:") {
                Some(dir) if !dir.is_empty() => Database::Sqlite(PathBuf::from(dir)),
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "database_url",
                        reason: "must be sqlite:<directory> or postgres://...".to_owned(),
                    });
                }
            },
        };
        let master_hex = required("master_key", raw.master_key)?;
        let master_key = parse_master_key(&master_hex)?;
        let oauth_server = pick("oauth_server", raw.oauth_server)
            .unwrap_or_else(|| b24_client::DEFAULT_SERVER_ENDPOINT.to_owned());
        let plan_hook_secret = pick("plan_hook_secret", raw.plan_hook_secret);
        if let Some(s) = &plan_hook_secret
            && s.len() < 16
        {
            return Err(ConfigError::Invalid {
                key: "plan_hook_secret",
                reason: "must be at least 16 characters".to_owned(),
            });
        }
        let default_plan =
            pick("default_plan", raw.default_plan).unwrap_or_else(|| "trial".to_owned());
        let default_line_quota = number("default_line_quota", raw.default_line_quota)?.unwrap_or(2);
        if !(0..=10_000).contains(&default_line_quota) {
            return Err(ConfigError::Invalid {
                key: "default_line_quota",
                reason: "must be between 0 and 10000".to_owned(),
            });
        }
        let trial_days = number("trial_days", raw.trial_days)?.unwrap_or(15);
        if !(0..=3650).contains(&trial_days) {
            return Err(ConfigError::Invalid {
                key: "trial_days",
                reason: "must be between 0 and 3650".to_owned(),
            });
        }
        let uninstall_grace_days =
            number("uninstall_grace_days", raw.uninstall_grace_days)?.unwrap_or(7);
        if !(0..=3650).contains(&uninstall_grace_days) {
            return Err(ConfigError::Invalid {
                key: "uninstall_grace_days",
                reason: "must be between 0 and 3650".to_owned(),
            });
        }
        let media_link_ttl_hours =
            number("media_link_ttl_hours", raw.media_link_ttl_hours)?.unwrap_or(24);
        if !(1..=720).contains(&media_link_ttl_hours) {
            return Err(ConfigError::Invalid {
                key: "media_link_ttl_hours",
                reason: "must be between 1 and 720".to_owned(),
            });
        }
        let per_second =
            number("b24_requests_per_second", raw.b24_requests_per_second)?.unwrap_or(2);
        if !(1..=1000).contains(&per_second) {
            return Err(ConfigError::Invalid {
                key: "b24_requests_per_second",
                reason: "must be between 1 and 1000".to_owned(),
            });
        }
        let burst = number("b24_request_burst", raw.b24_request_burst)?.unwrap_or(50);
        let Some(burst) = u32::try_from(burst).ok().filter(|b| (1..=10_000).contains(b)) else {
            return Err(ConfigError::Invalid {
                key: "b24_request_burst",
                reason: "must be between 1 and 10000".to_owned(),
            });
        };
        #[allow(clippy::cast_precision_loss)] // at most 1000
        let b24_rate_limit = b24_client::RateLimit { per_second: per_second as f64, burst };
        let price_per_line = number("price_per_line", raw.price_per_line)?.unwrap_or(40);
        if !(0..=1_000_000).contains(&price_per_line) {
            return Err(ConfigError::Invalid {
                key: "price_per_line",
                reason: "must be between 0 and 1000000".to_owned(),
            });
        }
        let price_currency =
            pick("price_currency", raw.price_currency).unwrap_or_else(|| "USD".to_owned());
        if !(price_currency.len() == 3 && price_currency.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(ConfigError::Invalid {
                key: "price_currency",
                reason: "must be a three-letter ISO 4217 code like USD".to_owned(),
            });
        }
        let billing_hook_url = pick("billing_hook_url", raw.billing_hook_url);
        let billing_hook_secret = pick("billing_hook_secret", raw.billing_hook_secret);
        let upgrade_hook = match (billing_hook_url, billing_hook_secret) {
            (None, None) => None,
            (Some(url), Some(secret)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ConfigError::Invalid {
                        key: "billing_hook_url",
                        reason: "must start with https:// (or http:// on a private network)"
                            .to_owned(),
                    });
                }
                if secret.len() < 16 {
                    return Err(ConfigError::Invalid {
                        key: "billing_hook_secret",
                        reason: "must be at least 16 characters".to_owned(),
                    });
                }
                Some(crate::state::BillingHook { url, secret })
            }
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    key: "billing_hook_secret",
                    env: "BILLING_HOOK_SECRET".to_owned(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    key: "billing_hook_url",
                    env: "BILLING_HOOK_URL".to_owned(),
                });
            }
        };
        let billing = crate::state::Billing { price_per_line, price_currency, upgrade_hook };
        let whatsapp_url = pick("whatsapp_url", raw.whatsapp_url);
        if let Some(url) = &whatsapp_url
            && !(url.starts_with("wss://") || url.starts_with("ws://"))
        {
            return Err(ConfigError::Invalid {
                key: "whatsapp_url",
                reason: "must start with wss:// (or ws:// for a local simulator)".to_owned(),
            });
        }
        let whatsapp_version = pick("whatsapp_version", raw.whatsapp_version)
            .map(|v| {
                v.trim().parse().map_err(|_| ConfigError::Invalid {
                    key: "whatsapp_version",
                    reason: format!("{v:?} is not a version like 2.3000.1045649367"),
                })
            })
            .transpose()?;
        let whatsapp_root_key = pick("whatsapp_root_key", raw.whatsapp_root_key)
            .map(|k| {
                let invalid = || ConfigError::Invalid {
                    key: "whatsapp_root_key",
                    reason: "must be 64 hexadecimal characters (a 32-byte public key)".to_owned(),
                };
                let bytes: [u8; 32] = hex::decode(k.trim())
                    .map_err(|_| invalid())?
                    .try_into()
                    .map_err(|_| invalid())?;
                Ok(wa_session::PublicKey::from_bytes(bytes))
            })
            .transpose()?;
        let whatsapp_ca_file = pick("whatsapp_ca_file", raw.whatsapp_ca_file).map(PathBuf::from);
        let metrics_token = pick("metrics_token", raw.metrics_token);
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Invalid {
                key: "metrics_token",
                reason: "must be at least 16 characters".to_owned(),
            });
        }
        let metrics_listen = pick("metrics_listen", raw.metrics_listen)
            .map(|a| {
                a.parse::<SocketAddr>().map_err(|_| ConfigError::Invalid {
                    key: "metrics_listen",
                    reason: format!("{a:?} is not an address like 127.0.0.1:9090"),
                })
            })
            .transpose()?;
        let bounded = |key: &'static str,
                       file: Option<i64>,
                       range: std::ops::RangeInclusive<i64>,
                       default: i64|
         -> Result<u64, ConfigError> {
            let n = number(key, file)?.unwrap_or(default);
            if !range.contains(&n) {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!("must be between {} and {}", range.start(), range.end()),
                });
            }
            Ok(n.unsigned_abs())
        };
        let defaults = crate::state::Limits::default();
        let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        const MIB: u64 = 1024 * 1024;
        let limits = crate::state::Limits {
            uploads_per_tenant: as_usize(bounded(
                "upload_concurrency_per_tenant",
                raw.upload_concurrency_per_tenant,
                1..=1000,
                count(defaults.uploads_per_tenant),
            )?),
            uploads_total: as_usize(bounded(
                "upload_concurrency_total",
                raw.upload_concurrency_total,
                1..=10_000,
                count(defaults.uploads_total),
            )?),
            storage_per_tenant: bounded(
                "storage_quota_mib",
                raw.storage_quota_mib,
                1..=1 << 30,
                i64::try_from(defaults.storage_per_tenant / MIB).unwrap_or(i64::MAX),
            )? * MIB,
            header_timeout: std::time::Duration::from_secs(bounded(
                "http_header_timeout_secs",
                raw.http_header_timeout_secs,
                1..=3600,
                secs(defaults.header_timeout),
            )?),
            // Above the event stream's 15-second keep-alive, so that streams are never idle.
            idle_timeout: std::time::Duration::from_secs(bounded(
                "http_idle_timeout_secs",
                raw.http_idle_timeout_secs,
                20..=86_400,
                secs(defaults.idle_timeout),
            )?),
            max_connections: as_usize(bounded(
                "http_max_connections",
                raw.http_max_connections,
                1..=1_000_000,
                count(defaults.max_connections),
            )?),
        };
        let cold = crate::runtime::cold_guard::OutreachLimits::default();
        let as_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        let outreach = crate::runtime::cold_guard::OutreachLimits {
            per_hour: as_u32(bounded(
                "cold_messages_per_hour",
                raw.cold_messages_per_hour,
                0..=10_000,
                i64::from(cold.per_hour),
            )?),
            per_day: as_u32(bounded(
                "cold_messages_per_day",
                raw.cold_messages_per_day,
                0..=100_000,
                i64::from(cold.per_day),
            )?),
            min_gap: std::time::Duration::from_secs(bounded(
                "cold_first_message_gap_secs",
                raw.cold_first_message_gap_secs,
                0..=86_400,
                secs(cold.min_gap),
            )?),
            checks_per_hour: as_u32(bounded(
                "number_checks_per_hour",
                raw.number_checks_per_hour,
                0..=10_000,
                i64::from(cold.checks_per_hour),
            )?),
        };
        Ok(Config {
            outreach,
            metrics_token,
            metrics_listen,
            limits,
            whatsapp_url,
            whatsapp_version,
            whatsapp_root_key,
            whatsapp_ca_file,
            client_id,
            client_secret,
            public_url,
            listen,
            database,
            data_dir,
            master_key,
            oauth_server,
            plan_hook_secret,
            default_plan,
            default_line_quota,
            trial_days,
            uninstall_grace_days,
            media_link_ttl_hours,
            b24_rate_limit,
            billing,
        })
    }
}

impl Config {
    /// The WhatsApp client settings: WhatsApp's defaults with the configured URL, version,
    /// root key and trusted certificates.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] if the certificate file cannot be read, [`ConfigError::Invalid`]
    /// if it holds no certificate.
    pub fn whatsapp_client(&self) -> Result<wa_session::client::Config, ConfigError> {
        let mut c = wa_session::client::Config::default();
        if let Some(url) = &self.whatsapp_url {
            c.url = url.clone();
        }
        if let Some(v) = self.whatsapp_version {
            c.version = v;
        }
        if let Some(k) = self.whatsapp_root_key {
            c.root_key = k;
        }
        if let Some(path) = &self.whatsapp_ca_file {
            let bytes = std::fs::read(path)
                .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
            let certs = certificates(&bytes);
            if certs.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "whatsapp_ca_file",
                    reason: format!("{} holds no PEM or DER certificate", path.display()),
                });
            }
            c.tls_roots = Some(certs);
        }
        Ok(c)
    }
}

/// The DER certificates of a PEM file (every `CERTIFICATE` block), or the file itself if it is
/// DER (starts with an ASN.1 SEQUENCE).
fn certificates(bytes: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    if bytes.first() == Some(&0x30) {
        return vec![bytes.to_vec()];
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            block = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b64) = block.take()
                && let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64)
            {
                out.push(der);
            }
        } else if let Some(b) = &mut block {
            b.push_str(line);
        }
    }
    out
}

fn parse_master_key(hex_text: &str) -> Result<[u8; 32], ConfigError> {
    let invalid =
        |reason: &str| ConfigError::Invalid { key: "master_key", reason: reason.to_owned() };
    let bytes = hex::decode(hex_text.trim())
        .map_err(|_| invalid("must be 64 hexadecimal characters (32 bytes)"))?;
    let key: [u8; 32] =
        bytes.try_into().map_err(|_| invalid("must be 64 hexadecimal characters (32 bytes)"))?;
    if key.iter().all(|b| *b == key[0]) {
        return Err(invalid("must be random (generate one with `openssl rand -hex 32`)"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn full() -> String {
        format!(
            "client_id = \"local.abc.def\"\nclient_secret = \"s3cret\"\npublic_url = \"https://wa.example.com/\"\n\
             data_dir = \"/var/lib/wab24\"\nmaster_key = \"{KEY}\"\n"
        )
    }

    #[test]
    fn whatsapp_keys_point_the_client_elsewhere() {
        let mut env = HashMap::new();
        env.insert("WAB24_WHATSAPP_URL".to_owned(), "ws://127.0.0.1:9/ws/chat".to_owned());
        env.insert("WAB24_WHATSAPP_VERSION".to_owned(), "2.3000.1".to_owned());
        env.insert("WAB24_WHATSAPP_ROOT_KEY".to_owned(), KEY.to_owned());
        let c = Config::from_parts(&full(), &env).unwrap();
        let client = c.whatsapp_client().unwrap();
        assert_eq!(client.url, "ws://127.0.0.1:9/ws/chat");
        assert_eq!(client.version.to_string(), "2.3000.1");
        assert_eq!(client.root_key.as_bytes()[1], 1);
        let default = Config::from_parts(&full(), &HashMap::new()).unwrap().whatsapp_client();
        assert_eq!(default.unwrap().url, wa_session::client::Config::default().url);
        for (key, value) in [
            ("WAB24_WHATSAPP_URL", "https://x"),
            ("WAB24_WHATSAPP_VERSION", "two"),
            ("WAB24_WHATSAPP_ROOT_KEY", "abcd"),
        ] {
            let env = HashMap::from([(key.to_owned(), value.to_owned())]);
            let e = Config::from_parts(&full(), &env).unwrap_err().to_string();
            assert!(e.contains(&key[6..].to_ascii_lowercase()), "{e}");
        }
        let pem = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
        assert_eq!(certificates(pem.as_bytes()), vec![vec![0x30, 3, 2, 1, 1]]);
        assert_eq!(certificates(&[0x30, 0]), vec![vec![0x30, 0]]);
        assert!(certificates(b"nothing").is_empty());
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let c = Config::from_parts(&full(), &HashMap::new()).unwrap();
        assert_eq!(c.public_url, "https://wa.example.com");
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.database, Database::Sqlite("/var/lib/wab24".into()));
        assert_eq!(c.oauth_server, b24_client::DEFAULT_SERVER_ENDPOINT);
        assert_eq!((c.default_plan.as_str(), c.default_line_quota, c.trial_days), ("trial", 2, 15));
        assert_eq!((c.uninstall_grace_days, c.media_link_ttl_hours), (7, 24));
        assert_eq!(c.b24_rate_limit, b24_client::RateLimit::STANDARD);
        assert_eq!(c.plan_hook_secret, None);
        assert_eq!(c.limits, crate::state::Limits::default());
        assert_eq!(c.outreach, crate::runtime::cold_guard::OutreachLimits::default());
        assert_eq!((c.metrics_token.as_deref(), c.metrics_listen), (None, None));
        assert_eq!((c.billing.price_per_line, c.billing.price_currency.as_str()), (40, "USD"));
        assert!(c.billing.upgrade_hook.is_none());
        let hooked = Config::from_parts(
            &full(),
            &HashMap::from([
                ("WAB24_BILLING_HOOK_URL".to_owned(), "https://billing.example/wab24".to_owned()),
                ("WAB24_BILLING_HOOK_SECRET".to_owned(), "0123456789abcdef-secret".to_owned()),
                ("WAB24_PRICE_PER_LINE".to_owned(), "25".to_owned()),
            ]),
        )
        .unwrap();
        assert_eq!(hooked.billing.price_per_line, 25);
        assert!(!format!("{hooked:?}").contains("0123456789abcdef-secret"));
        let only_url = HashMap::from([(
            "WAB24_BILLING_HOOK_URL".to_owned(),
            "https://billing.example/wab24".to_owned(),
        )]);
        assert!(matches!(
            Config::from_parts(&full(), &only_url),
            Err(ConfigError::Missing { key: "billing_hook_secret", .. })
        ));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains(KEY), "{dbg}");
    }

    #[test]
    fn limits_are_configurable() {
        let env: HashMap<String, String> = [
            ("WAB24_UPLOAD_CONCURRENCY_PER_TENANT", "2"),
            ("WAB24_UPLOAD_CONCURRENCY_TOTAL", "9"),
            ("WAB24_STORAGE_QUOTA_MIB", "100"),
            ("WAB24_HTTP_HEADER_TIMEOUT_SECS", "7"),
            ("WAB24_HTTP_IDLE_TIMEOUT_SECS", "30"),
            ("WAB24_HTTP_MAX_CONNECTIONS", "50"),
            ("WAB24_METRICS_TOKEN", "a-metrics-token-0123"),
            ("WAB24_METRICS_LISTEN", "127.0.0.1:9090"),
            ("WAB24_B24_REQUESTS_PER_SECOND", "5"),
            ("WAB24_B24_REQUEST_BURST", "250"),
            ("WAB24_COLD_MESSAGES_PER_HOUR", "5"),
            ("WAB24_COLD_MESSAGES_PER_DAY", "12"),
            ("WAB24_COLD_FIRST_MESSAGE_GAP_SECS", "300"),
            ("WAB24_NUMBER_CHECKS_PER_HOUR", "7"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c = Config::from_parts(&full(), &env).unwrap();
        let l = &c.limits;
        assert_eq!((l.uploads_per_tenant, l.uploads_total, l.max_connections), (2, 9, 50));
        assert_eq!(l.storage_per_tenant, 100 * 1024 * 1024);
        assert_eq!((l.header_timeout.as_secs(), l.idle_timeout.as_secs()), (7, 30));
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(c.b24_rate_limit, b24_client::RateLimit::ENTERPRISE);
        assert!(!format!("{c:?}").contains("a-metrics-token"));
        assert_eq!((c.outreach.per_hour, c.outreach.per_day), (5, 12));
        assert_eq!((c.outreach.min_gap.as_secs(), c.outreach.checks_per_hour), (300, 7));
    }

    #[test]
    fn environment_overrides_the_file() {
        let env: HashMap<String, String> = [
            ("WAB24_LISTEN", "0.0.0.0:9000"),
            ("WAB24_DATABASE_URL", "postgres://u:pw@db/wab24"),
            ("WAB24_DEFAULT_LINE_QUOTA", "5"),
            ("WAB24_CLIENT_SECRET", "from-env"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c = Config::from_parts(&full(), &env).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.client_secret, "from-env");
        assert_eq!(c.default_line_quota, 5);
        assert!(
            matches!(c.database, Database::Postgres { ref control_schema, .. } if control_schema == "wab24")
        );
        assert!(!format!("{c:?}").contains("pw@"));
    }

    #[test]
    fn errors_name_the_key() {
        let err = |text: &str, env: &[(&str, &str)]| {
            let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            Config::from_parts(text, &env).unwrap_err().to_string()
        };
        let no_secret = full().replace("client_secret = \"s3cret\"\n", "");
        assert_eq!(
            err(&no_secret, &[]),
            "configuration key `client_secret` is missing (set it in the file or as WAB24_CLIENT_SECRET)"
        );
        assert!(err(&full(), &[("WAB24_MASTER_KEY", "abcd")]).contains("`master_key` is invalid"));
        assert!(err(&full(), &[("WAB24_MASTER_KEY", &"00".repeat(32))]).contains("must be random"));
        assert!(err(&full(), &[("WAB24_LISTEN", "here")]).contains("`listen` is invalid"));
        assert!(err(&full(), &[("WAB24_DATABASE_URL", "mysql://x")]).contains("`database_url`"));
        assert!(err(&full(), &[("WAB24_TRIAL_DAYS", "two")]).contains("`trial_days` is invalid"));
        assert!(
            err(&full(), &[("WAB24_UNINSTALL_GRACE_DAYS", "-1")])
                .contains("`uninstall_grace_days` is invalid")
        );
        for bad in ["0", "721"] {
            assert!(
                err(&full(), &[("WAB24_MEDIA_LINK_TTL_HOURS", bad)])
                    .contains("`media_link_ttl_hours` is invalid")
            );
        }
        assert!(err(&full(), &[("WAB24_PUBLIC_URL", "wa.example.com")]).contains("`public_url`"));
        assert!(
            err(&full(), &[("WAB24_PLAN_HOOK_SECRET", "short")]).contains("`plan_hook_secret`")
        );
        assert!(err(&full(), &[("WAB24_METRICS_TOKEN", "short")]).contains("`metrics_token`"));
        assert!(err(&full(), &[("WAB24_METRICS_LISTEN", "x")]).contains("`metrics_listen`"));
        assert!(err(&full(), &[("WAB24_HTTP_IDLE_TIMEOUT_SECS", "5")]).contains("between 20 and"));
        assert!(err(&full(), &[("WAB24_STORAGE_QUOTA_MIB", "0")]).contains("`storage_quota_mib`"));
        assert!(err(&format!("{}\nunknown = 1\n", full()), &[]).contains("not valid"));
        assert!(err("client_id = ", &[]).contains("not valid"));
    }

    #[test]
    fn example_file_is_complete_and_loads() {
        let example = include_str!("../wab24.example.toml");
        for key in KEYS {
            assert!(example.contains(&format!("{key} =")), "example file lacks {key}");
        }
        let uncommented: String = example
            .lines()
            .map(|l| l.strip_prefix("# ").filter(|r| r.contains(" = ")).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        // Commented keys uncommented: the file parses with every key present.
        let text =
            uncommented.replace("postgres://wab24:password@127.0.0.1/wab24", "sqlite:/tmp/x");
        assert!(Config::from_parts(&text, &HashMap::new()).is_ok(), "{text}");
    }
}
