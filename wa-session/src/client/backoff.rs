//! Reconnect delays: a Fibonacci sequence from `base` (1 s, 1 s, 2 s, 3 s, 5 s, ...) capped at
//! `max` (15 min), each delay shortened by a random jitter so that many clients cut off at once
//! do not come back at once. Sans-IO: the randomness is a parameter.

use std::time::Duration;

use rand_core::Rng;

/// How reconnect delays grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first (and second) delay.
    pub base: Duration,
    /// The largest delay.
    pub max: Duration,
    /// Each delay is shortened by a random 0..`jitter_percent` percent.
    pub jitter_percent: u32,
    /// A connection that stayed logged in this long resets the sequence when it ends.
    pub stable_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(15 * 60),
            jitter_percent: 20,
            stable_after: Duration::from_secs(60),
        }
    }
}

/// The state of the delay sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    previous: Duration,
    current: Duration,
    attempts: u32,
}

impl Backoff {
    /// A sequence at its start.
    #[must_use]
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, previous: Duration::ZERO, current: policy.base.min(policy.max), attempts: 0 }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }

    /// How many delays were handed out since the last reset.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before the next attempt, and the sequence moves on.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let delay = self.current;
        let next = self.previous.saturating_add(self.current).min(self.policy.max);
        self.previous = self.current;
        self.current = next;
        self.attempts = self.attempts.saturating_add(1);
        let jitter = u128::from(self.policy.jitter_percent.min(100));
        // A uniform fraction of `jitter` percent of the delay, in nanoseconds.
        let cut = delay.as_nanos() * jitter * u128::from(rng.next_u32()) / (100 * (1u128 << 32));
        delay.saturating_sub(Duration::from_nanos(u64::try_from(cut).unwrap_or(u64::MAX)))
    }

    /// Back to the start (after a stable connection).
    pub fn reset(&mut self) {
        *self = Self::new(self.policy);
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn fibonacci_from_one_second_capped_at_fifteen_minutes() {
        let policy = BackoffPolicy { jitter_percent: 0, ..BackoffPolicy::default() };
        let mut backoff = Backoff::new(policy);
        let mut rng = StdRng::seed_from_u64(1);
        let secs: Vec<u64> = (0..20).map(|_| backoff.next_delay(&mut rng).as_secs()).collect();
        assert_eq!(
            secs,
            [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 900, 900, 900, 900, 900]
        );
        assert_eq!(backoff.attempts(), 20);
        backoff.reset();
        assert_eq!(backoff.attempts(), 0);
        assert_eq!(backoff.next_delay(&mut rng), Duration::from_secs(1));
    }

    #[test]
    fn jitter_only_shortens_and_varies() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut delays = Vec::new();
        for _ in 0..200 {
            let mut backoff = Backoff::new(BackoffPolicy::default());
            for _ in 0..4 {
                backoff.next_delay(&mut rng);
            }
            // The fifth delay is 5 s before jitter.
            let delay = backoff.next_delay(&mut rng);
            assert!(
                delay <= Duration::from_secs(5) && delay >= Duration::from_secs(4),
                "{delay:?}"
            );
            delays.push(delay);
        }
        delays.sort();
        delays.dedup();
        assert!(delays.len() > 150, "jitter should spread the delays");
        // Capped delays are jittered too, below the cap.
        let mut backoff = Backoff::new(BackoffPolicy::default());
        for _ in 0..30 {
            assert!(backoff.next_delay(&mut rng) <= Duration::from_secs(900));
        }
    }
}
