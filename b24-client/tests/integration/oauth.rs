use std::time::Duration;

use b24_client::{Error, ErrorCode, RateLimit};
use b24_sim::{Fault, FaultAction};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_retried() {
    let env = env().await;
    let p = env.portal();
    let before = p.tokens().unwrap();
    env.sim.expire_access_tokens(MEMBER);
    assert_eq!(p.user_current().await.unwrap().id.0, 1);
    assert_eq!(p.refresh_count(), 1);
    let after = p.tokens().unwrap();
    assert_ne!(before.access_token, after.access_token);
    assert_ne!(before.refresh_token, after.refresh_token);
    // Rotation was handed to the store.
    assert_eq!(env.store.get(MEMBER).unwrap(), after);
    // The old refresh token is dead (rotation): a second handle with the old pair must reinstall.
    env.sim.expire_access_tokens(MEMBER);
    let stale = env.client.portal(before);
    let e = stale.call("user.current", json!({})).await.unwrap_err();
    assert!(matches!(e, Error::ReinstallRequired { reason: ErrorCode::InvalidGrant, .. }), "{e:?}");
    // And it stays so without another request.
    let n = env.sim.calls().len();
    assert!(matches!(
        stale.call("user.current", json!({})).await,
        Err(Error::ReinstallRequired { .. })
    ));
    assert_eq!(env.sim.calls().len(), n);
}

#[tokio::test]
async fn a_storm_of_401s_causes_exactly_one_refresh() {
    let env = env().await;
    let p = env.portal();
    // Slow down the token endpoint so that every call sees the 401 before the refresh lands.
    env.sim.add_fault(Fault::on("oauth/token", FaultAction::Latency { ms: 200 }));
    env.sim.expire_access_tokens(MEMBER);
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.call("user.current", json!({})).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().result["ID"], "1");
    }
    assert_eq!(
        env.sim.calls_to("oauth/token").len(),
        1,
        "exactly one refresh reached the OAuth server"
    );
    assert_eq!(p.refresh_count(), 1);
    let expired = env
        .sim
        .calls_to("user.current")
        .iter()
        .filter(|c| c.error.as_deref() == Some("expired_token"))
        .count();
    eprintln!("401 storm: 100 calls, {expired} saw expired_token, {} refresh", p.refresh_count());
    assert!(expired >= 50, "the storm was real: {expired} calls saw expired_token");
}

#[tokio::test]
async fn invalid_grant_means_reinstall() {
    let env = env().await;
    let p = env.portal();
    env.sim.expire_access_tokens(MEMBER);
    env.sim.expire_refresh_tokens(MEMBER);
    let e = p.call("user.current", json!({})).await.unwrap_err();
    assert!(
        matches!(&e, Error::ReinstallRequired { member_id, reason: ErrorCode::InvalidGrant } if member_id == MEMBER),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_token_endpoint_comes_from_server_endpoint_and_secrets_stay_out_of_debug() {
    let env = env().await;
    let p = env.portal();
    let t = p.tokens().unwrap();
    assert!(t.server_endpoint.starts_with("http://127.0.0.1:"));
    let dbg = format!("{t:?} {:?} {p:?} {:?}", env.client, env.sim.calls());
    assert!(!dbg.contains(t.access_token.expose()));
    assert!(!dbg.contains(t.refresh_token.expose()));
    assert!(!dbg.contains("sim-client-secret"));
    // The refresh went to the sim's OAuth server, with our local app keys.
    env.sim.expire_access_tokens(MEMBER);
    p.user_current().await.unwrap();
    let rec = &env.sim.calls_to("oauth/token")[0];
    assert_eq!(rec.params["client_id"], env.client.app().client_id.as_str());
    assert!(env.client.app().is_local());
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_by_the_oauth_server() {
    let env = env().await;
    let bad =
        b24_client::Client::builder(b24_client::OAuthApp::new(env.sim.app().client_id, "wrong"))
            .rate_limit(RateLimit::ENTERPRISE)
            .build()
            .unwrap();
    let p = bad.portal(env.sim.issue_tokens(MEMBER, 1).unwrap());
    env.sim.expire_access_tokens(MEMBER);
    let e = p.call("user.current", json!({})).await.unwrap_err();
    assert!(
        matches!(e, Error::ReinstallRequired { reason: ErrorCode::InvalidClient, .. }),
        "{e:?}"
    );
    let _ = Duration::ZERO;
}
