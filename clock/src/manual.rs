//! A clock for tests.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use crate::Clock;

/// A clock that moves only when told to. Clones share the time, so a test keeps one and hands
/// the others to the code under test.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `now` (Unix seconds).
    #[must_use]
    pub fn new(now: u64) -> Self {
        Self(Arc::new(AtomicU64::new(now)))
    }

    /// Sets the time.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the time forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_only_when_told_and_clones_share_the_time() {
        let clock = ManualClock::new(1_700_000_000);
        let shared = clock.clone();
        assert_eq!(shared.now(), 1_700_000_000);
        clock.advance(5);
        assert_eq!(shared.now(), 1_700_000_005);
        clock.set(7);
        assert_eq!(shared.now(), 7);
    }
}
