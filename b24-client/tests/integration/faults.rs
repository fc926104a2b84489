use std::{net::SocketAddr, sync::Arc, time::Duration};

use b24_client::{BodyKind, Client, Error, MemoryTokenStore, RateLimit};
use b24_sim::{Fault, FaultAction};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_timeout_after_commit_on_an_add_is_not_retried() {
    let env = env().await;
    let client = Client::builder(env.sim.app())
        .rate_limit(RateLimit::ENTERPRISE)
        .retry(fast_retry())
        .request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let p = client.portal(env.sim.issue_tokens(MEMBER, 1).unwrap());
    env.sim.add_fault(Fault::on("crm.item.add", FaultAction::TimeoutAfterCommit { ms: 1500 }));
    let e = p.crm_item_add(3, json!({"name": "Anna"})).await.unwrap_err();
    assert!(
        matches!(&e, Error::Timeout { method, may_have_committed: true } if method == "crm.item.add"),
        "{e:?}"
    );
    assert_eq!(env.sim.calls_to("crm.item.add").len(), 1, "sent once, never again");
    let state = env.sim.inspect(MEMBER).unwrap();
    assert_eq!(state["crm"]["3"].as_array().unwrap().len(), 1, "the write did commit");
    // A read under the same fault is retried (it is idempotent).
    env.sim.add_fault(
        Fault::on("crm.item.list", FaultAction::TimeoutAfterCommit { ms: 1500 }).times(1),
    );
    assert_eq!(p.crm_item_list(3, json!({})).await.unwrap().len(), 1);
    assert_eq!(env.sim.calls_to("crm.item.list").len(), 2);
}

#[tokio::test]
async fn html_truncated_and_non_json_bodies_are_typed_and_reads_retried() {
    let env = env().await;
    let p = env.portal();
    for (action, kind) in [
        (FaultAction::Html { status: 502 }, BodyKind::Html),
        (FaultAction::Truncated, BodyKind::NotJson),
        (FaultAction::NotJson, BodyKind::NotJson),
    ] {
        env.sim.add_fault(Fault::on("crm.item.add", action.clone()).times(1));
        let e = p.crm_item_add(3, json!({"name": "x"})).await.unwrap_err();
        assert!(
            matches!(e, Error::UnexpectedBody { kind: k, .. } if k == kind),
            "{action:?}: {e:?}"
        );
        env.sim.add_fault(Fault::on("user.current", action).times(1));
        p.user_current().await.unwrap();
    }
}

#[tokio::test]
async fn latency_is_tolerated() {
    let env = env().await;
    let p = env.portal();
    env.sim.add_fault(Fault::on("user.current", FaultAction::Latency { ms: 300 }).times(1));
    p.user_current().await.unwrap();
}

#[tokio::test]
async fn a_renamed_portal_is_followed_and_persisted() {
    let env = env().await;
    let p = env.portal();
    p.user_current().await.unwrap();
    env.sim.rename_portal(MEMBER, "beta.test");
    assert_eq!(p.user_current().await.unwrap().id.0, 1);
    let t = p.tokens().unwrap();
    assert!(t.client_endpoint.ends_with("/p/beta.test/rest/"), "{}", t.client_endpoint);
    assert_eq!(env.store.get(MEMBER).unwrap().client_endpoint, t.client_endpoint);
    // A write is followed too: the 302 is answered before anything runs.
    p.crm_item_add(3, json!({"name": "x"})).await.unwrap();
    assert_eq!(env.sim.calls_to("crm.item.add").len(), 1);
}

#[tokio::test]
async fn uninstall_while_requests_are_in_flight() {
    let env = env().await;
    let p = env.portal();
    env.sim.add_fault(Fault::on("crm.item.list", FaultAction::Latency { ms: 300 }));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.crm_item_list(3, json!({})).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.sim.uninstall(MEMBER, true).await.unwrap();
    p.mark_uninstalled();
    let mut ok = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::Uninstalled { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(ok < 20, "the uninstall cut calls short");
    // No refresh was attempted for a portal that is gone, and nothing more is sent.
    assert!(env.sim.calls_to("oauth/token").is_empty());
    let n = env.sim.calls().len();
    assert!(matches!(p.user_current().await, Err(Error::Uninstalled { .. })));
    assert_eq!(env.sim.calls().len(), n);
}

#[tokio::test]
async fn uninstall_without_marking_means_reinstall() {
    let env = env().await;
    let p = env.portal();
    env.sim.uninstall(MEMBER, false).await.unwrap();
    let e = p.user_current().await.unwrap_err();
    assert!(matches!(e, Error::ReinstallRequired { .. }), "{e:?}");
}

#[tokio::test]
async fn the_sim_refuses_non_loopback_addresses() {
    let sim = b24_sim::Sim::new(b24_sim::SimConfig::default());
    let e = sim.start(SocketAddr::from(([0, 0, 0, 0], 0))).await.unwrap_err();
    assert!(matches!(e, b24_sim::Error::NotLoopback(_)));
    let _ = Arc::new(MemoryTokenStore::new());
}
