//! Rate limits: the portal's leaky bucket and the retry policy.

use std::{fmt, sync::Arc, sync::Mutex, time::Duration};

use tokio::time::Instant;

/// A portal's request-rate limit: a leaky bucket of `burst` that drains `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Bucket size (requests that may go at once).
    pub burst: u32,
    /// Drain rate (requests per second, sustained).
    pub per_second: f64,
}

impl RateLimit {
    /// Every plan but Enterprise: burst 50, 2 per second.
    pub const STANDARD: RateLimit = RateLimit { burst: 50, per_second: 2.0 };
    /// Enterprise: burst 250, 5 per second.
    pub const ENTERPRISE: RateLimit = RateLimit { burst: 250, per_second: 5.0 };
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::STANDARD
    }
}

/// The arithmetic of a leaky bucket, independent of any clock: the level leaks by elapsed time
/// times the rate; one request adds one. Shared by the client (which waits) and the simulator
/// (which refuses).
#[derive(Debug, Clone, Copy)]
pub struct BucketState {
    level: f64,
    last: Option<Duration>,
}

impl BucketState {
    /// An empty bucket.
    pub fn new() -> Self {
        BucketState { level: 0.0, last: None }
    }

    fn leak(&mut self, limit: RateLimit, now: Duration) {
        if let Some(last) = self.last {
            let dt = now.saturating_sub(last).as_secs_f64();
            self.level = (self.level - dt * limit.per_second).max(0.0);
        }
        self.last = Some(now);
    }

    /// Takes one request if the bucket has room (the simulator's check); `now` is any monotonic
    /// time.
    pub fn try_take(&mut self, limit: RateLimit, now: Duration) -> bool {
        self.leak(limit, now);
        if self.level + 1.0 <= f64::from(limit.burst) + 1e-9 {
            self.level += 1.0;
            true
        } else {
            false
        }
    }

    /// Reserves one request and says how long to wait before sending it (the client's side:
    /// concurrent reservations queue up behind each other).
    pub fn reserve(&mut self, limit: RateLimit, now: Duration) -> Duration {
        self.leak(limit, now);
        let over = self.level + 1.0 - f64::from(limit.burst);
        self.level += 1.0;
        if over > 0.0 && limit.per_second > 0.0 {
            Duration::from_secs_f64(over / limit.per_second)
        } else {
            Duration::ZERO
        }
    }

    /// The current level.
    pub fn level(&self) -> f64 {
        self.level
    }
}

impl Default for BucketState {
    fn default() -> Self {
        Self::new()
    }
}

/// The client's bucket for one portal, on tokio's clock (so that a paused clock drives it).
#[derive(Debug)]
pub(crate) struct LeakyBucket {
    limit: RateLimit,
    origin: Instant,
    state: Mutex<BucketState>,
}

impl LeakyBucket {
    /// The client keeps 10% of the burst (at least one request) in reserve: requests sent in
    /// order may arrive out of order, and the portal counts arrivals.
    pub(crate) fn new(limit: RateLimit) -> Self {
        let margin = (limit.burst / 10).max(1);
        let limit = RateLimit { burst: limit.burst.saturating_sub(margin).max(1), ..limit };
        LeakyBucket { limit, origin: Instant::now(), state: Mutex::new(BucketState::new()) }
    }

    pub(crate) async fn acquire(&self) {
        let now = Instant::now().duration_since(self.origin);
        let wait = match self.state.lock() {
            Ok(mut s) => s.reserve(self.limit, now),
            Err(_) => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Random jitter added to retry delays, as a parameter so that tests are deterministic.
#[derive(Clone)]
pub struct Jitter(Arc<dyn Fn(u32) -> Duration + Send + Sync>);

impl Jitter {
    /// No jitter.
    pub fn none() -> Self {
        Jitter(Arc::new(|_| Duration::ZERO))
    }

    /// A custom jitter: gets the attempt number, returns the extra delay.
    pub fn from_fn(f: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Self {
        Jitter(Arc::new(f))
    }

    /// Up to `max` of pseudo-random jitter, seeded from the process's hash keys; every draw
    /// differs, so that concurrent callers retrying at the same attempt spread out.
    pub fn random(max: Duration) -> Self {
        use std::hash::{BuildHasher, RandomState};
        use std::sync::atomic::{AtomicU64, Ordering};
        let seed = RandomState::new();
        let draws = AtomicU64::new(0);
        Jitter(Arc::new(move |attempt| {
            let h = seed.hash_one((attempt, draws.fetch_add(1, Ordering::Relaxed)));
            let frac = (h % 1_000_000) as f64 / 1_000_000.0;
            max.mul_f64(frac)
        }))
    }

    pub(crate) fn get(&self, attempt: u32) -> Duration {
        (self.0)(attempt)
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jitter")
    }
}

/// How calls are retried. Only retries that are safe happen: refusals before execution
/// (`QUERY_LIMIT_EXCEEDED`, `OPERATION_TIME_LIMIT`, a refused connection) always; timeouts and
/// 5xx only for idempotent methods.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// Each further retry waits this much longer (`base * factor^n`).
    pub factor: f64,
    /// Upper bound of one delay.
    pub max_delay: Duration,
    /// Extra random delay.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            factor: 1.5,
            max_delay: Duration::from_secs(30),
            jitter: Jitter::random(Duration::from_millis(250)),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let d = self.base_delay.mul_f64(self.factor.powi(exp).min(1e6));
        d.min(self.max_delay) + self.jitter.get(attempt)
    }
}

/// True for methods that only read, which may be sent again after a timeout.
pub fn is_idempotent(method: &str) -> bool {
    let m = method.to_ascii_lowercase();
    let last = m.rsplit('.').next().unwrap_or("");
    matches!(
        m.as_str(),
        "scope" | "methods" | "events" | "profile" | "server.time" | "app.info" | "user.admin"
    ) || matches!(
        last,
        "get"
            | "list"
            | "current"
            | "info"
            | "access"
            | "findbycomm"
            | "status"
            | "fields"
            | "search"
    ) || m.ends_with(".list.get")
        || m.ends_with(".history.get")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let l = RateLimit { burst: 3, per_second: 2.0 };
        let mut b = BucketState::new();
        let t0 = Duration::from_secs(10);
        assert!((0..3).all(|_| b.try_take(l, t0)));
        assert!(!b.try_take(l, t0));
        assert!(b.try_take(l, t0 + Duration::from_millis(500)));
        assert!(!b.try_take(l, t0 + Duration::from_millis(600)));
        let mut r = BucketState::new();
        let waits: Vec<_> = (0..5).map(|_| r.reserve(l, t0)).collect();
        assert_eq!(waits[2], Duration::ZERO);
        assert_eq!(waits[3], Duration::from_millis(500));
        assert_eq!(waits[4], Duration::from_secs(1));
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let p = RetryPolicy { jitter: Jitter::none(), ..RetryPolicy::default() };
        assert_eq!(p.delay(1), Duration::from_millis(500));
        assert_eq!(p.delay(2), Duration::from_millis(750));
        assert_eq!(p.delay(40), Duration::from_secs(30));
        let j = Jitter::random(Duration::from_millis(10));
        let draws: Vec<_> = (0..20).map(|_| j.get(3)).collect();
        assert!(draws.iter().all(|d| *d < Duration::from_millis(10)));
        assert!(draws.iter().any(|d| *d != draws[0]), "draws differ");
    }

    #[test]
    fn reads_are_idempotent_writes_are_not() {
        for m in [
            "user.current",
            "crm.item.list",
            "imopenlines.config.list.get",
            "crm.duplicate.findbycomm",
            "app.info",
        ] {
            assert!(is_idempotent(m), "{m}");
        }
        for m in [
            "crm.item.add",
            "imconnector.send.messages",
            "event.bind",
            "batch",
            "crm.timeline.comment.add",
        ] {
            assert!(!is_idempotent(m), "{m}");
        }
    }
}
