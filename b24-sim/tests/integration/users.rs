//! `profile`, `user.access`, `user.get` and `department.get`.

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

/// RD `api-reference/user/user-get.md`: filter fields in `FILTER` or at the top level (the
/// documented examples pass `UF_DEPARTMENT` there); `UF_DEPARTMENT` matches a user in that
/// department among theirs; without `ACTIVE: true` fired users are listed too.
#[tokio::test]
async fn user_get_filters_by_department_and_activity() {
    let env = env().await;
    env.sim.add_department(crate::support::MEMBER, 3, "Retail", Some(2), None);
    env.sim.move_user(crate::support::MEMBER, 2, &[2, 3]);
    env.sim.set_user_active(crate::support::MEMBER, 3, false);
    env.sim.set_user_photo(crate::support::MEMBER, 2, "https://cdn.alpha.test/2.png");
    let ids = |a: &crate::support::Answer| -> Vec<String> {
        a.result()
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["ID"].as_str().unwrap().to_owned())
            .collect()
    };
    let top = env.call("user.get", json!({"UF_DEPARTMENT": 3})).await;
    assert_eq!(ids(&top), ["2"]);
    let nested = env.call("user.get", json!({"FILTER": {"UF_DEPARTMENT": 1}})).await;
    assert_eq!(ids(&nested), ["1", "3"], "user 2 left Company");
    assert_eq!(ids(&env.call("user.get", json!({})).await), ["1", "2", "3"]);
    let active = env.call("user.get", json!({"FILTER": {"ACTIVE": true}})).await;
    assert_eq!(ids(&active), ["1", "2"]);
    let two = env.call("user.get", json!({"ID": 2})).await;
    assert_eq!(two.result()[0]["PERSONAL_PHOTO"], "https://cdn.alpha.test/2.png");
    assert_eq!(two.result()[0]["UF_DEPARTMENT"], json!([2, 3]));
    // An inactive user has no profile: the portal gives them no session.
    assert_eq!(env.call_as(3, "profile", json!({})).await.result(), &json!({}));
}

/// RD `api-reference/departments/department-get.md`: `ID`, `NAME`, `PARENT` (absent for the
/// top), `UF_HEAD`; filtered by those fields.
#[tokio::test]
async fn department_get_lists_the_tree() {
    let env = env().await;
    env.sim.add_department(crate::support::MEMBER, 3, "Retail", Some(2), Some(3));
    let all = env.call("department.get", json!({})).await;
    let names: Vec<&str> =
        all.result().as_array().unwrap().iter().map(|d| d["NAME"].as_str().unwrap()).collect();
    assert_eq!(names, ["Company", "Sales", "Retail"]);
    assert!(all.result()[0].get("PARENT").is_none());
    let under = env.call("department.get", json!({"PARENT": 2})).await;
    assert_eq!(under.result().as_array().unwrap().len(), 1);
    assert_eq!(under.result()[0]["UF_HEAD"], "3");
    assert_eq!(under.result()[0]["PARENT"], "2");
}

/// The control routes (`/_sim/departments`, `/_sim/users/{id}/departments|active`) change the
/// portal as the Rust API does.
#[tokio::test]
async fn the_control_routes_add_departments_move_and_deactivate_users() {
    let env = env().await;
    let base = env.sim.base_url().unwrap();
    let post = |path: String, body: Value| {
        let env = &env;
        async move { env.http.post(path).json(&body).send().await.unwrap().status().as_u16() }
    };
    let m = crate::support::MEMBER;
    let dep = json!({"member_id": m, "ID": 9, "NAME": "Night shift", "PARENT": 2});
    assert_eq!(post(format!("{base}/_sim/departments"), dep).await, 200);
    assert_eq!(post(format!("{base}/_sim/departments"), json!({"member_id": m})).await, 400);
    let moved = json!({"member_id": m, "UF_DEPARTMENT": [9]});
    assert_eq!(post(format!("{base}/_sim/users/2/departments"), moved).await, 200);
    let off = json!({"member_id": m, "ACTIVE": false});
    assert_eq!(post(format!("{base}/_sim/users/3/active"), off).await, 200);
    assert_eq!(post(format!("{base}/_sim/users/3/other"), json!({"member_id": m})).await, 404);
    let in_nine = env.call("user.get", json!({"UF_DEPARTMENT": 9})).await;
    assert_eq!(in_nine.result()[0]["ID"], "2");
    let active = env.call("user.get", json!({"ACTIVE": true})).await;
    assert_eq!(active.result().as_array().unwrap().len(), 2);
    let nine = env.call("department.get", json!({"ID": 9})).await;
    assert_eq!(nine.result()[0]["NAME"], "Night shift");
}
