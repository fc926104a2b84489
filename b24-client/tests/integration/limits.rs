use std::time::Duration;

use b24_client::{Error, ErrorCode, RateLimit};
use b24_sim::{Fault, FaultAction};
use serde_json::json;
use tokio::time::Instant;

use crate::support::*;

/// A sustained load above the portal's rate is held to the bucket: no QUERY_LIMIT_EXCEEDED
/// reaches the caller, and the portal refuses (almost) none: network jitter may let one slip,
/// where a client without the bucket would see dozens refused.
#[tokio::test]
async fn sustained_load_is_held_to_the_bucket() {
    let rate = RateLimit { burst: 10, per_second: 50.0 };
    let env = env_with(|s| s.rate_limit = rate, rate).await;
    let p = env.portal();
    let n = 60;
    let started = Instant::now();
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.call("user.current", json!({})).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let took = started.elapsed();
    // 10 at once, then 50 more at 50/s: at least about a second.
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let refused = env
        .sim
        .calls_to("user.current")
        .iter()
        .filter(|c| c.error.as_deref() == Some("QUERY_LIMIT_EXCEEDED"))
        .count();
    eprintln!(
        "sustained: {n} calls at burst 10, 50/s in {took:?}; {refused} refused by the portal"
    );
    assert!(refused <= 2, "{refused} refused by the portal");
    assert_eq!(p.retry_count(), refused as u64);
    assert_eq!(env.sim.calls_to("user.current").len(), n + refused);
}

/// Without the client's bucket (a portal slower than the client believes), refusals happen and
/// are retried with backoff; the caller still sees no QUERY_LIMIT_EXCEEDED.
#[tokio::test]
async fn query_limit_exceeded_is_retried_with_backoff() {
    let env = env_with(
        |s| s.rate_limit = RateLimit { burst: 5, per_second: 40.0 },
        RateLimit { burst: 1000, per_second: 1000.0 },
    )
    .await;
    // Concurrent callers need jitter to spread their retries.
    let client = b24_client::Client::builder(env.sim.app())
        .rate_limit(RateLimit { burst: 1000, per_second: 1000.0 })
        .retry(b24_client::RetryPolicy {
            max_attempts: 20,
            jitter: b24_client::Jitter::random(Duration::from_millis(100)),
            ..fast_retry()
        })
        .build()
        .unwrap();
    let p = client.portal(env.sim.issue_tokens(MEMBER, 1).unwrap());
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.call("user.current", json!({})).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let refused = env
        .sim
        .calls_to("user.current")
        .iter()
        .filter(|c| c.error.as_deref() == Some("QUERY_LIMIT_EXCEEDED"))
        .count();
    assert!(refused > 0, "the portal did refuse");
    assert_eq!(p.retry_count(), refused as u64);
}

#[tokio::test]
async fn operation_time_limit_pauses_the_method_until_reset() {
    let env = env().await;
    let p = env.portal();
    env.sim.add_fault(
        Fault::on("crm.item.list", FaultAction::OperationTimeLimit { reset_in: 1 }).times(1),
    );
    let started = Instant::now();
    p.crm_item_list(3, json!({})).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(env.sim.calls_to("crm.item.list").len(), 2);
}

#[tokio::test]
async fn overload_limit_is_not_a_rate_limit() {
    let env = env().await;
    let p = env.portal();
    env.sim.add_fault(
        Fault::on("user.current", FaultAction::error(ErrorCode::OverloadLimit)).times(1),
    );
    let e = p.call("user.current", json!({})).await.unwrap_err();
    assert!(matches!(e, Error::Api { code: ErrorCode::OverloadLimit, status: 503, .. }));
    assert_eq!(env.sim.calls_to("user.current").len(), 1);
}

/// The client's bucket runs on tokio's clock: with a paused clock, the wait of a reservation is
/// exact and no real time passes.
#[tokio::test(start_paused = true)]
async fn the_client_bucket_follows_a_paused_clock() {
    let mut b = b24_client::BucketState::new();
    let l = RateLimit::STANDARD;
    let waits: Vec<Duration> = (0..52).map(|_| b.reserve(l, Duration::ZERO)).collect();
    assert_eq!(waits[49], Duration::ZERO);
    assert_eq!(waits[50], Duration::from_millis(500));
    assert_eq!(waits[51], Duration::from_secs(1));
    let t = Instant::now();
    tokio::time::sleep(waits[51]).await;
    assert_eq!(t.elapsed(), Duration::from_secs(1));
}
