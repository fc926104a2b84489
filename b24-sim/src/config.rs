//! The settings of a simulator.

use std::sync::Arc;

use b24_client::{Clock, SystemClock};

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
