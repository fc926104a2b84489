//! What the client keeps for media ([`MediaState`]): the cached `media_conn`, the TLS setup and
//! the randomness for media keys. Its own file so that the [`Client`](super::Client) handle
//! holds it without importing the media transfers, which extend the handle.

use std::sync::{Arc, OnceLock};

use rand::{SeedableRng as _, rngs::StdRng};
use rand_core::Rng as _;
use tokio::{sync::Mutex, time::Instant};
use zeroize::Zeroizing;

use super::{config::Config, socket::tls_config};
use crate::{Result, media::conn::MediaConn};

/// What the client keeps for media: the cached `media_conn`, the TLS setup, key randomness.
pub(crate) struct MediaState {
    pub(super) conn: Mutex<Option<(MediaConn, Instant)>>,
    tls: OnceLock<Arc<rustls::ClientConfig>>,
    rng: std::sync::Mutex<StdRng>,
}

impl std::fmt::Debug for MediaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaState").finish_non_exhaustive()
    }
}

impl MediaState {
    /// Empty state; `seed` makes the media keys reproducible (tests, the simulator).
    pub(crate) fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            // Apart from the connection's own stream, so that media does not shift it.
            Some(seed) => StdRng::seed_from_u64(seed ^ 0x006d_6564_6961),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        Self { conn: Mutex::new(None), tls: OnceLock::new(), rng: std::sync::Mutex::new(rng) }
    }

    /// A fresh random media key.
    pub(super) fn media_key(&self) -> Zeroizing<[u8; 32]> {
        let mut key = Zeroizing::new([0u8; 32]);
        self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner).fill_bytes(&mut *key);
        key
    }

    /// The TLS setup for media hosts (the connection's, speaking HTTP/1.1), made once.
    pub(super) fn tls(&self, config: &Config) -> Result<Arc<rustls::ClientConfig>> {
        if let Some(tls) = self.tls.get() {
            return Ok(tls.clone());
        }
        let mut tls = tls_config(config)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(self.tls.get_or_init(|| Arc::new(tls)).clone())
    }
}
