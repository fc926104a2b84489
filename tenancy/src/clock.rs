//! Time for stored records: the workspace's one clock ([`wab24_clock`]), read as the
//! `OffsetDateTime` that tenancy's methods take.

use time::OffsetDateTime;
pub use wab24_clock::{Clock, ManualClock, SystemClock};

/// `clock`'s time (whole seconds, UTC) as tenancy's methods take it; a time that `OffsetDateTime`
/// cannot hold reads as the epoch.
pub fn now<C: Clock + ?Sized>(clock: &C) -> OffsetDateTime {
    i64::try_from(clock.now())
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_clock_as_a_date() {
        let clock = ManualClock::new(1_700_000_000);
        assert_eq!(now(&clock).unix_timestamp(), 1_700_000_000);
        clock.set(u64::MAX);
        assert_eq!(now(&clock), OffsetDateTime::UNIX_EPOCH);
    }
}
