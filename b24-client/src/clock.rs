//! Wall-clock time as a parameter, so that token expiry is testable: the workspace's one clock
//! ([`wab24_clock`]), read as the signed Unix seconds Bitrix24's tokens carry.

pub use wab24_clock::{Clock, ManualClock, SystemClock};

/// `clock`'s time as signed Unix seconds, the type of token expiries and
/// `operating_reset_at` (a time past `i64::MAX` reads as `i64::MAX`).
pub fn now_unix<C: Clock + ?Sized>(clock: &C) -> i64 {
    i64::try_from(clock.now()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_clock_as_signed_seconds() {
        let c = ManualClock::new(100);
        c.advance(5);
        assert_eq!(now_unix(&c), 105);
        c.set(7);
        assert_eq!(now_unix(&c), 7);
        c.set(u64::MAX);
        assert_eq!(now_unix(&c), i64::MAX);
        assert!(now_unix(&SystemClock) > 1_600_000_000);
    }
}
