//! The OAuth server: token refresh, rotation, expiry and uninstall.

use serde_json::json;

use crate::support::env;

/// RD `settings/oauth/auto-renewal.md`: a refresh returns a new pair and the application saves
/// the new refresh token "instead of the previous one"; the access token lives one hour. The
/// previous access token is not revoked by the refresh, so requests in flight and other holders
/// keep working until it expires; the spent refresh token is `invalid_grant`.
#[tokio::test]
async fn refresh_keeps_the_previous_access_token_until_it_expires() {
    let env = env().await;
    let old_access = env.admin.access_token.expose().to_owned();
    let old_refresh = env.admin.refresh_token.expose().to_owned();
    let fresh = env.refresh(&old_refresh).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    let new_access = fresh.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new_access, old_access);
    assert_ne!(fresh.body["refresh_token"].as_str().unwrap(), old_refresh, "the pair rotates");

    let with_old = env.call_with(&old_access, "user.current", json!({})).await;
    assert_eq!(with_old.result()["ID"], "1", "the previous access token still works");
    let with_new = env.call_with(&new_access, "user.current", json!({})).await;
    assert_eq!(with_new.result()["ID"], "1");

    // A second refresher holding the spent refresh token gets invalid_grant, and does not
    // break the access token the first one still uses.
    let again = env.refresh(&old_refresh).await;
    assert_eq!((again.status, again.error()), (400, "invalid_grant"));
    let still = env.call_with(&old_access, "user.current", json!({})).await;
    assert_eq!(still.status, 200, "{}", still.body);

    env.sim.expire_access_tokens(crate::support::MEMBER);
    let expired = env.call_with(&old_access, "user.current", json!({})).await;
    assert_eq!((expired.status, expired.error()), (401, "expired_token"));
}

/// RD `settings/oauth/error-codes.md`: wrong application keys are `invalid_client`, an unknown
/// grant type `invalid_request`.
#[tokio::test]
async fn the_token_endpoint_checks_the_client_and_the_grant() {
    let env = env().await;
    let refresh = env.admin.refresh_token.expose().to_owned();
    let wrong = env
        .token_endpoint(&[
            ("grant_type", "refresh_token"),
            ("client_id", "someone.else"),
            ("client_secret", "x"),
            ("refresh_token", &refresh),
        ])
        .await;
    assert_eq!((wrong.status, wrong.error()), (401, "invalid_client"));
    let unknown = env.refresh("rt-never-issued").await;
    assert_eq!((unknown.status, unknown.error()), (400, "invalid_grant"));
    let ok = env.refresh(&refresh).await;
    assert_eq!(ok.status, 200, "a refused attempt does not spend the refresh token");
    for k in [
        "access_token",
        "refresh_token",
        "expires",
        "expires_in",
        "client_endpoint",
        "server_endpoint",
        "member_id",
        "scope",
        "status",
        "user_id",
        "domain",
    ] {
        assert!(ok.body.get(k).is_some(), "{k} in {}", ok.body);
    }
}

/// RD `api-reference/common/events/on-app-uninstall.md`: after uninstalling, the application's
/// tokens no longer work, and the refresh token cannot bring them back.
#[tokio::test]
async fn uninstall_revokes_every_token() {
    let env = env().await;
    env.sim.uninstall(crate::support::MEMBER, true).await.unwrap();
    let r = env.call("user.current", json!({})).await;
    assert_eq!((r.status, r.error()), (401, "invalid_token"));
    let refresh = env.refresh(env.admin.refresh_token.expose()).await;
    assert_eq!(refresh.error(), "invalid_grant");
}
