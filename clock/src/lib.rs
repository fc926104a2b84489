#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod manual;
mod system;

use std::{fmt, sync::Arc};

pub use manual::ManualClock;
pub use system::SystemClock;

/// A source of Unix time in whole seconds. Code that needs the time takes one instead of
/// reading the system's, so that tests can set it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}

impl<T: Clock + ?Sized> Clock for &T {
    fn now(&self) -> u64 {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(clock: &impl Clock) -> u64 {
        clock.now()
    }

    #[test]
    fn shared_and_borrowed_clocks_read_the_same_time() {
        let clock = ManualClock::new(10);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        assert_eq!(read(&shared), 10);
        assert_eq!(read(&&clock), 10);
        assert_eq!(read(&Arc::new(clock.clone())), 10);
        clock.advance(2);
        assert_eq!((read(&shared), read(&&*shared)), (12, 12));
    }
}
