//! `wab24 serve`: opens the store, builds the state and serves until Ctrl-C or SIGTERM; and
//! the HTTP server itself ([`serve_http`]), shared with `wab24 demo` and the tests: HTTP/1.1
//! with a header-read timeout, an idle timeout and a connection cap.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::time::Instant;
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use warp::{filters::BoxedFilter, reply::Response};

use tenancy::{MasterKey, Store};

use crate::{
    config::{Config, Database},
    media_link::{MediaLinkKey, MediaLinks},
    runtime::{Runtime, RuntimeConfig},
    session::SessionKey,
    state::{AppState, Settings, TenancyTokenStore},
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
    /// The session key (or the media-link key) could not be derived.
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

/// How often soft-deleted tenants are checked for purging.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The handler settings from a configuration.
pub fn settings(c: &Config) -> Result<Settings, ServeError> {
    let key = MediaLinkKey::derive(&c.master_key).ok_or(ServeError::Key)?;
    Ok(Settings {
        client_id: c.client_id.clone(),
        public_url: c.public_url.clone(),
        oauth_server: c.oauth_server.clone(),
        plan_hook_secret: c.plan_hook_secret.clone(),
        default_plan: c.default_plan.clone(),
        default_line_quota: c.default_line_quota,
        trial_days: c.trial_days,
        extra_frame_ancestor: None,
        metrics_token: c.metrics_token.clone(),
        limits: c.limits.clone(),
        uninstall_grace_days: c.uninstall_grace_days,
        billing: c.billing.clone(),
        media_links: MediaLinks { key, ttl_secs: c.media_link_ttl_hours * 3600 },
    })
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
    .clock(clock.clone())
    .rate_limit(c.b24_rate_limit)
    .build()?;
    let key = SessionKey::derive(&c.master_key).ok_or(ServeError::Key)?;
    // One bus for everything the browsers see: the runtime publishes on it, the state shares it.
    let mut runtime_config = RuntimeConfig::new(c.whatsapp_client()?, c.data_dir.clone());
    runtime_config.outreach = c.outreach;
    let runtime =
        Arc::new(Runtime::new(store.clone(), runtime_config, crate::events::EventBus::default()));
    let state = AppState::new(settings(c)?, store.clone(), b24, key, clock, Some(runtime.clone()));
    crate::audit_check::at_start(&store, state.metrics(), state.now()).await;
    match runtime.restore_all().await {
        Ok(lines) => tracing::info!(lines = lines.len(), "lines restored"),
        Err(e) => tracing::error!(error = %e, "restoring lines failed"),
    }
    // Soft-deleted tenants whose grace period ended: purged now, then every hour.
    crate::http::bitrix::purge_due(&state).await;
    tokio::spawn(crate::http::bitrix::run_purger(state.clone(), PURGE_EVERY));
    // The Open Channels connector: registered on every installed portal, its outbox sent.
    tokio::spawn(crate::open_channels::worker::run(state.clone()));
    Ok(state)
}

/// Serves `state` on `addr` (and `/metrics` alone on `metrics_addr` when given) until Ctrl-C
/// or SIGTERM.
pub async fn run(
    state: AppState,
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
) -> Result<(), ServeError> {
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })
    };
    let listener = bind(addr).await?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
    tracing::info!(%local, "wab24 listening");
    let limits = state.settings().limits.clone();
    if let Some(metrics_addr) = metrics_addr {
        let metrics = bind(metrics_addr).await?;
        tracing::info!(local = %metrics_addr, "metrics listening");
        tokio::spawn(serve_http(
            metrics,
            crate::http::router::metrics_routes(state.clone()),
            limits.clone(),
            shutdown(),
        ));
    }
    serve_http(listener, crate::http::routes(state), limits, shutdown()).await;
    tracing::info!("wab24 stopped");
    Ok(())
}

/// How long open requests may run on after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `routes` on `listener` until `stop` resolves, then lets open requests finish (for
/// at most ten seconds). Within `limits`: a client has `header_timeout` to send a request's
/// headers (which is also how long a kept-alive connection waits for its next request); a
/// connection on which no byte moves either way for `idle_timeout` is closed (event streams
/// send a keep-alive well within it); beyond `max_connections` open connections a new one is
/// answered 503 and closed.
pub async fn serve_http(
    listener: TcpListener,
    routes: BoxedFilter<(Response,)>,
    limits: crate::state::Limits,
    stop: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(max = limits.max_connections, "connection refused: too many open");
            tokio::spawn(refuse_busy(stream));
            continue;
        };
        let activity = Activity::new();
        let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
        let service = hyper_util::service::TowerToHyperService::new(warp::service(routes.clone()));
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(io, service);
        let conn = graceful.watch(conn);
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            tokio::select! {
                ended = conn => {
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = activity.idle_for(idle) => tracing::debug!("idle connection closed"),
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::info!("connections still open at shutdown were closed");
    }
}

/// Answers a connection over the cap with a 503 and closes it.
async fn refuse_busy(mut stream: TcpStream) {
    let body = crate::error::ApiError::Unavailable(
        "the server has as many connections open as it may; try again shortly".to_owned(),
    )
    .body()
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// When a connection last moved a byte, in milliseconds since it opened.
#[derive(Clone)]
struct Activity {
    opened: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity { opened: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = self.opened + last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A connection's stream that records each byte read or written in its [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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
