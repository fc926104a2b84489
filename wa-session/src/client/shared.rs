//! What the [`Client`](super::Client) handle and the connection's driver share ([`Shared`]):
//! the announced version, whether a connection is logged in, the messaging machine and the
//! randomness. Its own file so that the handle, the driver, the inbox and sending all import it
//! from here, and none of them from the client's facade.

use std::sync::{PoisonError, RwLock};

use rand::{SeedableRng as _, rngs::StdRng};
use rand_core::Rng as _;
use tokio::sync::{Mutex, watch};

use crate::{machine::Machine, pairing::ClientVersion, store::SignalStore};

/// What the handle and the driver share.
pub(crate) struct Shared {
    pub(super) version: RwLock<ClientVersion>,
    /// Whether a connection is logged in (messages wait for it).
    pub(super) online: watch::Sender<bool>,
    /// The messaging machine: device lists, LIDs, sessions, sent messages, retry counts.
    pub(super) machine: Machine<dyn SignalStore>,
    /// Serialises the Signal read-modify-write steps of sending and of committing received
    /// messages (a session record is read, changed and written back).
    pub(super) signal: Mutex<()>,
    /// Randomness for ids and encryption, split off per use.
    pub(super) rng: std::sync::Mutex<StdRng>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("version", &self.version())
            .field("online", &*self.online.borrow())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The version announced at the next connect.
    pub(super) fn version(&self) -> ClientVersion {
        *self.version.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fresh randomness, split off the shared generator.
    pub(super) fn rng(&self) -> StdRng {
        StdRng::from_rng(&mut *self.rng.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A random id for iqs and usync sessions.
    pub(super) fn random_id(&self) -> String {
        format!("{:016x}", self.rng().next_u64())
    }
}
