//! The system's clock.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::Clock;

/// The system's time. A time before 1970 (a machine whose clock was never set) reads as 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place in the workspace that reads the system time; everything else takes a Clock.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_time_after_this_code_was_written() {
        assert!(SystemClock.now() > 1_600_000_000);
    }
}
