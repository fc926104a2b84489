//! `profile` and `user.access`.

use serde_json::{Value, json};

use crate::support::{env, env_with};

/// RD `api-reference/common/users/profile.md`: `ID` (a string), `ADMIN`, `NAME`, `LAST_NAME`,
/// `PERSONAL_GENDER` and `TIME_ZONE` (empty strings when unset), `PERSONAL_PHOTO` only when
/// uploaded; scope `basic`, any user, webhooks too.
#[tokio::test]
async fn profile_says_who_the_user_is_and_whether_an_administrator() {
    let env = env_with(|s| s.scope = vec![]).await;
    let admin = env.call("profile", json!({})).await;
    let p = admin.result().as_object().unwrap();
    let mut keys: Vec<&str> = p.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["ADMIN", "ID", "LAST_NAME", "NAME", "PERSONAL_GENDER", "TIME_ZONE"]);
    assert_eq!((p["ID"].clone(), p["ADMIN"].clone()), (json!("1"), json!(true)));
    assert_eq!((p["PERSONAL_GENDER"].clone(), p["TIME_ZONE"].clone()), (json!(""), json!("")));
    let user = env.call_as(2, "profile", json!({})).await;
    assert_eq!(
        (user.result()["ID"].clone(), user.result()["ADMIN"].clone()),
        (json!("2"), json!(false))
    );
    let hook = env.webhook(3, "profile", json!({})).await;
    assert_eq!(hook.result()["ID"], "3");
}

/// RD `api-reference/common/users/user-access.md`: true when the user holds at least one of
/// the codes in `ACCESS` (`U<id>`, `G<id>`, `AU`, ...), and always for a user who manages
/// application settings.
#[tokio::test]
async fn user_access_checks_the_codes_and_always_admits_an_administrator() {
    let env = env().await;
    let access = |codes: Value| {
        let env = &env;
        async move { env.call_as(2, "user.access", json!({"ACCESS": codes})).await.result().clone() }
    };
    assert_eq!(access(json!(["U2"])).await, json!(true));
    assert_eq!(access(json!(["U3"])).await, json!(false));
    assert_eq!(access(json!(["U3", "AU"])).await, json!(true), "one of them is enough");
    assert_eq!(access(json!(["G2"])).await, json!(true), "G2: every user");
    assert_eq!(access(json!(["G1"])).await, json!(false), "G1: administrators");
    assert_eq!(access(json!(["D1"])).await, json!(true), "user 2 works in department 1");
    assert_eq!(access(json!(["D2", "DR2"])).await, json!(false));
    assert_eq!(access(json!(["DR1"])).await, json!(true));
    assert_eq!(access(json!([])).await, json!(false));
    let admin = env.call("user.access", json!({"ACCESS": ["U3"]})).await;
    assert_eq!(admin.result(), &json!(true));
    let form = env
        .http
        .post(format!("{}/p/{}/rest/user.access", env.base, crate::support::DOMAIN))
        .form(&[
            (
                "auth",
                env.sim.issue_tokens(crate::support::MEMBER, 3).unwrap().access_token.expose(),
            ),
            ("ACCESS[]", "U3"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = form.json().await.unwrap();
    assert_eq!(body["result"], true, "form-encoded ACCESS[]: {body}");
}
