//! What every handler shares, split by job: the [`settings`], the shared [`AppState`] (store,
//! Bitrix24 client, session key, event bus, metrics, clock, line runtime), the authenticated
//! [`caller`], the cached [`portals`], the [`uploads`] in progress, the [`token_store`] of the
//! Bitrix24 client.
//!
//! Constructing the state starts nothing; the composer starts the tasks.

use std::sync::Arc;

use b24_client::{Clock, Portal};
use tenancy::Store;
use time::OffsetDateTime;

use crate::{
    error::{ApiError, ApiResult},
    events::EventBus,
    metrics::Metrics,
    session::SessionKey,
};

pub mod caller;
pub mod portals;
pub mod settings;
pub mod token_store;
pub mod uploads;

pub use caller::{Session, trial_expired};
pub use settings::{Billing, BillingHook, Limits, Settings};
pub use token_store::{TenancyTokenStore, portal_tokens};
pub use uploads::UploadSlot;

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
    portals: std::sync::Mutex<std::collections::HashMap<String, Portal>>,
    uploads: std::sync::Mutex<uploads::Uploads>,
    runtime: Option<Arc<crate::runtime::Runtime>>,
    /// Wakes the Open Channels worker: something is due in the outbox towards Bitrix24.
    b24_outbox: tokio::sync::Notify,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

impl AppState {
    /// Assembles the state; nothing is started. With a line runtime, the state shares its event
    /// bus and counters (the runtime publishes on the bus itself); without one, it has its own.
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
                portals: std::sync::Mutex::default(),
                uploads: std::sync::Mutex::default(),
                runtime,
                b24_outbox: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Wakes the Open Channels worker at once (a connector event to confirm was queued).
    pub fn wake_b24_outbox(&self) {
        self.inner.b24_outbox.notify_one();
    }

    /// Resolves when [`AppState::wake_b24_outbox`] was called (since the last wait).
    pub async fn b24_outbox_woken(&self) {
        self.inner.b24_outbox.notified().await;
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
        b24_client::now_unix(&*self.inner.clock)
    }

    /// Now, as a time.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.now_unix()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}
