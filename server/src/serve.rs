//! `wab24 serve`: opens the store, builds the state and serves until Ctrl-C or SIGTERM.

use std::{net::SocketAddr, sync::Arc};

use tenancy::{MasterKey, Store};

use crate::{
    config::{Config, Database},
    runtime::{Runtime, RuntimeConfig},
    session::SessionKey,
    state::{AppState, Settings, SharedClock, TenancyTokenStore},
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The database could not be opened or migrated.
    #[error("cannot open the database: {0}")]
    Store(#[from] tenancy::Error),
    /// The Bitrix24 client could not be built.
    #[error("cannot set up the Bitrix24 client: {0}")]
    B24(#[from] b24_client::Error),
    /// The session key could not be derived.
    #[error("cannot derive the session key")]
    Key,
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The handler settings from a configuration.
pub fn settings(c: &Config) -> Settings {
    Settings {
        client_id: c.client_id.clone(),
        public_url: c.public_url.clone(),
        oauth_server: c.oauth_server.clone(),
        plan_hook_secret: c.plan_hook_secret.clone(),
        default_plan: c.default_plan.clone(),
        default_line_quota: c.default_line_quota,
        trial_days: c.trial_days,
        extra_frame_ancestor: None,
        billing: c.billing.clone(),
    }
}

/// Opens the store named by the configuration.
pub async fn open_store(c: &Config) -> Result<Arc<Store>, ServeError> {
    let master = MasterKey::from_bytes(c.master_key);
    let store = match &c.database {
        Database::Sqlite(dir) => Store::open_sqlite(dir, master).await?,
        Database::Postgres { url, control_schema } => {
            Store::open_postgres(url, control_schema, master).await?
        }
    };
    Ok(Arc::new(store))
}

/// Builds the whole state for `wab24 serve`: store, Bitrix24 client persisting rotated tokens
/// into the registry, session key, and the line runtime on WhatsApp's defaults, whose flagged
/// lines are restored.
pub async fn build(c: &Config) -> Result<AppState, ServeError> {
    let store = open_store(c).await?;
    let clock: Arc<dyn b24_client::Clock> = Arc::new(b24_client::SystemClock);
    let b24 = b24_client::Client::builder(b24_client::OAuthApp::new(
        c.client_id.clone(),
        c.client_secret.clone(),
    ))
    .token_store(Arc::new(TenancyTokenStore::new(store.clone(), clock.clone())))
    .clock(SharedClock(clock.clone()))
    .build()?;
    let key = SessionKey::derive(&c.master_key).ok_or(ServeError::Key)?;
    let runtime = Arc::new(Runtime::new(
        store.clone(),
        RuntimeConfig::new(c.whatsapp_client()?, c.data_dir.clone()),
    ));
    let state = AppState::new(settings(c), store.clone(), b24, key, clock, Some(runtime.clone()));
    crate::audit_check::at_start(&store, state.metrics(), state.now()).await;
    match runtime.restore_all().await {
        Ok(lines) => tracing::info!(lines = lines.len(), "lines restored"),
        Err(e) => tracing::error!(error = %e, "restoring lines failed"),
    }
    Ok(state)
}

/// Serves `state` on `addr` until Ctrl-C or SIGTERM.
pub async fn run(state: AppState, addr: SocketAddr) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
    tracing::info!(%local, "wab24 listening");
    let routes = crate::http::routes(state);
    warp::serve(routes).incoming(listener).graceful(shutdown()).run().await;
    tracing::info!("wab24 stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
