//! The leaky bucket and injected faults.

use b24_client::{ErrorCode, RateLimit};
use b24_sim::{Fault, FaultAction};
use serde_json::json;

use crate::support::{MEMBER, env, env_with};

/// RD `limits.md`: a full bucket answers 503 `QUERY_LIMIT_EXCEEDED` before anything runs; a
/// call so refused neither runs the method nor consumes a one-time injected fault, which then
/// fires on the first call the bucket lets through.
#[tokio::test]
async fn the_rate_limit_refuses_before_a_fault_fires() {
    // Two requests of room, and a leak too slow to matter within the test.
    let env = env_with(|s| s.rate_limit = RateLimit { burst: 2, per_second: 0.000_1 }).await;
    env.sim.add_fault(
        Fault::on("user.current", FaultAction::error(ErrorCode::InternalServerError)).times(1),
    );
    assert_eq!(env.call("server.time", json!({})).await.status, 200);
    assert_eq!(env.call("server.time", json!({})).await.status, 200);
    let refused = env.call("user.current", json!({})).await;
    assert_eq!((refused.status, refused.error()), (503, "QUERY_LIMIT_EXCEEDED"));
    let batch = env
        .call("batch", json!({"cmd": {"a": "crm.item.add?entityTypeId=3&fields[name]=A"}}))
        .await;
    assert_eq!(batch.error(), "QUERY_LIMIT_EXCEEDED", "a batch is refused whole");
    assert_eq!(env.sim.inspect(MEMBER).unwrap()["crm"], json!({}), "nothing ran");

    env.sim.set_rate_limit(MEMBER, RateLimit { burst: 100, per_second: 100.0 });
    let fault = env.call("user.current", json!({})).await;
    assert_eq!((fault.status, fault.error()), (500, "INTERNAL_SERVER_ERROR"), "the fault was kept");
    assert_eq!(env.call("user.current", json!({})).await.status, 200, "and fired once");
    let errors: Vec<Option<String>> =
        env.sim.calls_to("user.current").into_iter().map(|c| c.error).collect();
    assert_eq!(
        errors,
        [Some("QUERY_LIMIT_EXCEEDED".to_owned()), Some("INTERNAL_SERVER_ERROR".to_owned()), None]
    );
}

/// The fault rules: from the Nth matching call, a number of times, per method and portal; each
/// action shapes the answer as a broken Bitrix24 or proxy would.
#[tokio::test]
async fn faults_fire_from_the_nth_call_a_number_of_times() {
    let env = env().await;
    env.sim.add_fault(
        Fault::on("user.current", FaultAction::error(ErrorCode::OverloadLimit)).nth(2).times(2),
    );
    let statuses: Vec<u16> = {
        let mut v = vec![];
        for _ in 0..4 {
            v.push(env.call("user.current", json!({})).await.status);
        }
        v
    };
    assert_eq!(statuses, [200, 503, 503, 200]);
    env.sim.add_fault(
        Fault::on("server.time", FaultAction::error(ErrorCode::QueryLimitExceeded))
            .portal("other")
            .times(1),
    );
    assert_eq!(env.call("server.time", json!({})).await.status, 200, "another portal's fault");
    env.sim.clear_faults();

    env.sim.add_fault(Fault::on("user.current", FaultAction::Html { status: 502 }).times(1));
    let html = env
        .http
        .post(format!("{}/p/{}/rest/user.current", env.base, crate::support::DOMAIN))
        .json(&json!({"auth": env.admin.access_token.expose()}))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status().as_u16(), 502);
    assert!(html.headers()["content-type"].to_str().unwrap().starts_with("text/html"));

    env.sim.add_fault(Fault::on("user.current", FaultAction::Truncated).times(1));
    let cut = env.call("user.current", json!({})).await;
    assert_eq!((cut.status, cut.body.clone()), (200, serde_json::Value::Null), "half a JSON body");

    env.sim.add_fault(Fault::on("user.current", FaultAction::NotJson).times(1));
    assert_eq!(env.call("user.current", json!({})).await.body, serde_json::Value::Null);

    env.sim
        .add_fault(Fault::on("crm.item.add", FaultAction::TimeoutAfterCommit { ms: 1 }).times(1));
    let late =
        env.call("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "Late"}})).await;
    assert_eq!(late.result()["item"]["name"], "Late");
    assert_eq!(
        env.sim.inspect(MEMBER).unwrap()["crm"]["3"].as_array().unwrap().len(),
        1,
        "the write committed"
    );

    env.sim.add_fault(
        Fault::on("user.current", FaultAction::OperationTimeLimit { reset_in: 60 }).times(1),
    );
    let limited = env.call("user.current", json!({})).await;
    assert_eq!((limited.status, limited.error()), (429, "OPERATION_TIME_LIMIT"));
    assert!(limited.body["time"]["operating_reset_at"].as_i64().is_some());
}

/// The control endpoint takes a fault as JSON, as scripts and other languages' tests add them.
#[tokio::test]
async fn faults_can_be_added_over_http() {
    let env = env().await;
    let added = env
        .http
        .post(format!("{}/_sim/faults", env.base))
        .body(r#"{"method":"user.current","times":1,"action":{"kind":"error","code":"ACCESS_DENIED"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 200);
    let r = env.call("user.current", json!({})).await;
    assert_eq!((r.status, r.error()), (403, "ACCESS_DENIED"));
    assert_eq!(env.call("user.current", json!({})).await.status, 200);
}
