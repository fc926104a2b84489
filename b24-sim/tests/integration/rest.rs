//! The REST endpoint: addresses, envelopes, pagination, `batch`, authentication and scopes.

use serde_json::{Value, json};

use crate::support::{DOMAIN, MEMBER, env, env_with};

/// RD `settings/oauth/index.md`: "calls go to the address in `client_endpoint` with the method
/// name appended"; `client_endpoint` ends in `/` (`https://portal.bitrix24.ru/rest/`), so an
/// SDK that joins with `/` asks for `/rest//method`, which Bitrix24 answers like `/rest/method`.
#[tokio::test]
async fn a_method_appended_to_client_endpoint_with_a_slash_works() {
    let env = env().await;
    let endpoint = env.admin.client_endpoint.clone();
    assert!(endpoint.ends_with("/rest/"), "{endpoint}");
    let auth = json!({"auth": env.admin.access_token.expose()});
    for url in [
        format!("{endpoint}/profile"),
        format!("{endpoint}/profile.json"),
        format!("{endpoint}profile"),
    ] {
        let r = env.post(&url, auth.clone()).await;
        assert_eq!(r.result()["ID"], "1", "{url}");
    }
    // A webhook address ends in `/` too.
    let hook = format!("{}/p/{DOMAIN}/rest/1/wh{MEMBER}/", env.base);
    let r = env.post(&format!("{hook}/user.current"), json!({})).await;
    assert_eq!(r.result()["ID"], "1");
    // So does the OAuth server's `server_endpoint`.
    let r = env.post(&format!("{}/app.info", env.admin.server_endpoint), auth).await;
    assert_eq!(r.result()["install"]["member_id"], MEMBER);
}

/// RD `settings/how-to-call-rest-api/general-principles.md`: `result` plus a `time` block with
/// `operating` and `operating_reset_at`; errors are `{error, error_description}`.
#[tokio::test]
async fn answers_come_in_the_documented_envelopes() {
    let env = env().await;
    let r = env.call("user.current", json!({})).await;
    assert_eq!(r.result()["ID"], "1");
    for k in [
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
        "operating",
        "operating_reset_at",
    ] {
        assert!(r.body["time"].get(k).is_some(), "time.{k}");
    }
    let unknown = env.call("no.such.method", json!({})).await;
    assert_eq!((unknown.status, unknown.error()), (404, "ERROR_METHOD_NOT_FOUND"));
    assert!(unknown.body["error_description"].is_string());
    let nobody = env.post(&format!("{}/p/{DOMAIN}/rest/user.current", env.base), json!({})).await;
    assert_eq!((nobody.status, nobody.error()), (401, "NO_AUTH_FOUND"));
    let forged = env.call_with("at-forged", "user.current", json!({})).await;
    assert_eq!((forged.status, forged.error()), (401, "invalid_token"));
    let gone = env.post(&format!("{}/p/nowhere.test/rest/user.current", env.base), json!({})).await;
    assert_eq!(gone.error(), "PORTAL_DELETED");
}

/// RD `settings/how-to-call-rest-api/list-methods-pecularities.md`: pages of 50 with `total` and
/// `next`; `start=-1` gives one page without counting.
#[tokio::test]
async fn lists_come_in_pages_of_fifty() {
    let env = env_with(|s| s.users = 120).await;
    let first = env.call("user.get", json!({})).await;
    assert_eq!(first.result().as_array().unwrap().len(), 50);
    assert_eq!((first.body["total"].clone(), first.body["next"].clone()), (json!(120), json!(50)));
    let last = env.call("user.get", json!({"start": 100})).await;
    assert_eq!(last.result().as_array().unwrap().len(), 20);
    assert!(last.body.get("next").is_none());
    let fast = env.call("user.get", json!({"start": -1, "order": {"ID": "ASC"}})).await;
    assert_eq!(fast.result().as_array().unwrap().len(), 50);
    assert!(fast.body.get("total").is_none() && fast.body.get("next").is_none());
}

/// RD `settings/how-to-call-rest-api/batch.md`: up to 50 commands, `$result[key][field]`
/// references, errors per command in `result_error`, no `batch` inside `batch`.
#[tokio::test]
async fn batch_runs_commands_with_references_and_per_command_errors() {
    let env = env().await;
    let r = env
        .call(
            "batch",
            json!({"halt": 0, "cmd": {
                "me": "user.current",
                "same": "user.get?ID=$result[me][ID]",
                "bad": "no.such.method",
                "inner": "batch?cmd[a]=user.current",
            }}),
        )
        .await;
    let b = r.result();
    assert_eq!(b["result"]["same"][0]["ID"], "1");
    assert_eq!(b["result_error"]["bad"]["error"], "ERROR_METHOD_NOT_FOUND");
    assert_eq!(b["result_error"]["inner"]["error"], "ERROR_BATCH_METHOD_NOT_ALLOWED");
    assert_eq!(b["result_time"], json!([]), "PHP's empty map");
    let calls = env.sim.calls();
    assert_eq!(calls.iter().filter(|c| c.in_batch).count(), 4);

    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("c{i}"), json!("server.time"))).collect();
    let over = env.call("batch", json!({"cmd": many})).await;
    assert_eq!((over.status, over.error()), (400, "ERROR_BATCH_LENGTH_EXCEEDED"));
}

/// RD `settings/oauth/index.md` and `api-reference/scopes/permissions.md`: a method outside the
/// application's scopes answers 403 `insufficient_scope`; `profile` and `user.access` need none.
#[tokio::test]
async fn scopes_are_checked() {
    let env = env_with(|s| s.scope = vec!["user".to_owned()]).await;
    let crm = env.call("crm.item.list", json!({"entityTypeId": 3})).await;
    assert_eq!((crm.status, crm.error()), (403, "insufficient_scope"));
    assert_eq!(env.call("user.get", json!({})).await.status, 200);
    assert_eq!(env.call("profile", json!({})).await.status, 200);
    assert_eq!(env.call("user.access", json!({"ACCESS": ["AU"]})).await.status, 200);
    let in_batch = env.call("batch", json!({"cmd": {"a": "crm.item.list?entityTypeId=3"}})).await;
    assert_eq!(in_batch.result()["result_error"]["a"]["error"], "insufficient_scope");
}

/// RD `api-reference/widgets/placement-get.md`, `imconnector/imconnector-register.md`: methods
/// that work only in an application's context answer a webhook with 403 `WRONG_AUTH_TYPE`.
#[tokio::test]
async fn application_only_methods_refuse_webhooks() {
    let env = env().await;
    for method in
        ["placement.get", "imconnector.register", "event.get", "imconnector.chat.name.set"]
    {
        let r = env.webhook(1, method, json!({})).await;
        assert_eq!((r.status, r.error()), (403, "WRONG_AUTH_TYPE"), "{method}");
    }
    let wrong_code =
        env.post(&format!("{}/p/{DOMAIN}/rest/1/nope/user.current", env.base), json!({})).await;
    assert_eq!((wrong_code.status, wrong_code.error()), (401, "NO_AUTH_FOUND"));
    assert_eq!(env.webhook(2, "user.current", json!({})).await.result()["ID"], "2");
}
