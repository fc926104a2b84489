use b24_client::{Batch, Error, ErrorCode, result_ref};
use futures_util::TryStreamExt;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn batch_with_references_halt_and_chunks() {
    let env = env().await;
    let p = env.portal();
    let b = Batch::new()
        .add("me", "user.current", json!({}))
        .add("same", "user.get", json!({"ID": result_ref("me", &["ID"])}))
        .add("bad", "no.such", json!({}));
    let r = p.batch(&b).await.unwrap();
    assert_eq!(r.results["same"][0]["ID"], "1");
    assert!(matches!(r.errors["bad"], Error::Api { code: ErrorCode::MethodNotFound, .. }));
    assert_eq!(env.sim.calls_to("batch").len(), 1);

    // 120 commands: three requests of at most 50, references across chunks resolved.
    let mut big = Batch::new().add(
        "c0",
        "crm.item.add",
        json!({"entityTypeId": 3, "fields": {"name": "first"}}),
    );
    for i in 1..120 {
        big.push(format!("c{i}"), "crm.item.add", json!({"entityTypeId": 3, "fields": {"name": format!("n{i}"), "parentId": result_ref("c0", &["item", "id"])}}));
    }
    let r = p.batch(&big).await.unwrap();
    assert_eq!(r.results.len(), 120);
    assert!(r.errors.is_empty());
    assert_eq!(env.sim.calls_to("batch").len(), 4);
    let first = r.results["c0"]["item"]["id"].to_string();
    assert_eq!(r.results["c119"]["item"]["parentId"].to_string().trim_matches('"'), first);

    // halt stops at the first failure, and later chunks are never sent.
    let mut h = Batch::new().halt(true).add("x", "no.such", json!({}));
    for i in 0..60 {
        h.push(format!("k{i}"), "user.current", json!({}));
    }
    let r = p.batch(&h).await.unwrap();
    assert!(r.results.is_empty());
    assert_eq!(r.not_sent.len(), 11);
    assert_eq!(env.sim.calls_to("batch").len(), 5);
}

#[tokio::test]
async fn lists_page_with_start_and_next_and_fast_mode() {
    let env = env_with(
        |s| {
            s.users = 120;
            s.rate_limit = b24_client::RateLimit { burst: 1000, per_second: 1000.0 }
        },
        b24_client::RateLimit { burst: 1000, per_second: 1000.0 },
    )
    .await;
    let p = env.portal();
    let users: Vec<_> = p.list("user.get", json!({})).try_collect().await.unwrap();
    assert_eq!(users.len(), 120);
    assert_eq!(env.sim.calls_to("user.get").len(), 3);
    let starts: Vec<_> =
        env.sim.calls_to("user.get").iter().map(|c| c.params["start"].clone()).collect();
    assert_eq!(starts, [json!(0), json!(50), json!(100)]);

    for i in 0..75 {
        p.crm_item_add(3, json!({"name": format!("c{i}")})).await.unwrap();
    }
    let items: Vec<_> =
        p.list("crm.item.list", json!({"entityTypeId": 3})).try_collect().await.unwrap();
    assert_eq!(items.len(), 75);
    let fast: Vec<_> = p
        .list_all_fast("crm.item.list", json!({"entityTypeId": 3}), "id")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(fast.len(), 75);
    let fast_calls: Vec<_> = env
        .sim
        .calls_to("crm.item.list")
        .into_iter()
        .filter(|c| c.params["start"] == json!(-1))
        .collect();
    assert_eq!(fast_calls.len(), 2);
    assert!(fast_calls[1].params["filter"].get(">id").is_some());
    let ids: Vec<u64> = fast.iter().map(|i| i["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn a_failing_page_ends_the_stream_with_the_error() {
    let env = env_with(
        |s| {
            s.users = 120;
            s.rate_limit = b24_client::RateLimit { burst: 1000, per_second: 1000.0 }
        },
        b24_client::RateLimit { burst: 1000, per_second: 1000.0 },
    )
    .await;
    let p = env.portal();
    env.sim.add_fault(
        b24_sim::Fault::on("user.get", b24_sim::FaultAction::error(ErrorCode::AccessDenied)).nth(2),
    );
    let r: Result<Vec<_>, _> = p.list("user.get", json!({})).try_collect().await;
    assert!(matches!(r, Err(Error::Api { code: ErrorCode::AccessDenied, .. })));
}
