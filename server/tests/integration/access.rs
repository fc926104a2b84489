//! Access by the portal's people and departments (issue 20): a line assigned to a department
//! is worked by its members and those of the departments below it; moving a user out of the
//! department takes the line away; a user deactivated in the portal is refused and their event
//! stream ends; the administrator's access list refuses outsiders and never administrators; the
//! responsible person per conversation (first to answer, evenly).
//!
//! b24-sim follows RD `api-reference/user/user-get.md` (filters at the top level or in
//! `FILTER`, `UF_DEPARTMENT` matched as a multiple field, `ACTIVE`) and
//! `api-reference/departments/department-get.md` (`ID`, `NAME`, `PARENT`, `UF_HEAD`).

use std::time::Duration;

use serde_json::json;
use tenancy::Caller;

use crate::app::{ALPHA, App, Sse, start};

/// alpha installed; departments Company (1) > Sales (2) > Retail (3); user 2 in Sales, user 3
/// in Company only (above Sales: not a member). Tokens of the administrator, 2 and 3.
async fn portal() -> (App, String, String, String) {
    let app = start().await;
    app.install(ALPHA).await;
    app.sim.add_department(ALPHA, 3, "Retail", Some(2), Some(3));
    app.sim.move_user(ALPHA, 2, &[2]);
    let admin = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    let u3 = app.token(ALPHA, 3).await;
    (app, admin, u2, u3)
}

/// A line of alpha assigned to `department`, with one customer's conversation.
async fn department_line(app: &App, admin: &str, department: i64, mode: &str) -> (i64, i64) {
    let a = app.call("POST", "/api/lines", Some(admin), Some(json!({"name": "Sales line"}))).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let line = a.json()["id"].as_i64().unwrap();
    let body = json!({"assigned_department": department, "responsible_mode": mode});
    let a = app.call("PATCH", &format!("/api/lines/{line}"), Some(admin), Some(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["assigned_department"], department);
    assert_eq!(a.json()["responsible_mode"], mode);
    let c = app.inbound(ALPHA, line, "15550002001@s.whatsapp.net", "Ann", "d1", "hello").await;
    (line, c)
}

/// Lets the cached portal state expire, so that the next request re-reads it.
fn expire_cache(app: &App) {
    app.clock.advance(121);
}

/// The statuses a caller gets on a line's and its conversation's endpoints.
async fn statuses(app: &App, token: &str, line: i64, c: i64, key: &str) -> Vec<u16> {
    let body = json!({"text": "from the department", "idempotency_key": key});
    vec![
        app.get(&format!("/api/lines/{line}"), token).await.status,
        app.get(&format!("/api/lines/{line}/conversations"), token).await.status,
        app.get(&format!("/api/conversations/{c}"), token).await.status,
        app.get(&format!("/api/conversations/{c}/messages"), token).await.status,
        app.call("POST", &format!("/api/conversations/{c}/messages"), Some(token), Some(body))
            .await
            .status,
        app.call("POST", &format!("/api/conversations/{c}/read"), Some(token), None).await.status,
    ]
}

#[tokio::test]
async fn department_members_see_the_line_and_others_do_not() {
    let (app, admin, u2, u3) = portal().await;
    let a = app
        .call("PATCH", "/api/lines/99", Some(&admin), Some(json!({"assigned_department": 2})))
        .await;
    assert_eq!(a.status, 404);
    let (line, c) = department_line(&app, &admin, 2, "first_to_answer").await;
    let a = app
        .call(
            "PATCH",
            &format!("/api/lines/{line}"),
            Some(&admin),
            Some(json!({"assigned_department": 77})),
        )
        .await;
    assert_eq!(
        (a.status, a.json()["error"]["message"].as_str()),
        (404, Some("department not found"))
    );
    let a = app
        .call(
            "PATCH",
            &format!("/api/lines/{line}"),
            Some(&u2),
            Some(json!({"assigned_department": 1})),
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(statuses(&app, &u2, line, c, "m2").await, vec![200, 200, 200, 200, 202, 200]);
    assert_eq!(statuses(&app, &u3, line, c, "m3").await, vec![404; 6]);
    assert_eq!(statuses(&app, &admin, line, c, "m1").await, vec![200, 200, 200, 200, 202, 200]);
    let lines = |t: &str| {
        let app = &app;
        let t = t.to_owned();
        async move { app.get("/api/lines", &t).await.json()["lines"].as_array().unwrap().len() }
    };
    assert_eq!((lines(&u2).await, lines(&u3).await), (1, 0));
    // Search follows too.
    let hits = app.get("/api/conversations/search?q=hello", &u3).await.json();
    assert_eq!(hits["results"].as_array().map(Vec::len), Some(0), "{hits}");

    // User 3 moves into Retail, below Sales: once the cache expires, the line is theirs too.
    app.sim.move_user(ALPHA, 3, &[3]);
    assert_eq!(lines(&u3).await, 0, "the cache holds until it expires");
    expire_cache(&app);
    assert_eq!(statuses(&app, &u3, line, c, "m3b").await, vec![200, 200, 200, 200, 202, 200]);
}

#[tokio::test]
async fn moving_a_user_out_of_the_department_removes_access() {
    let (app, admin, u2, _) = portal().await;
    let (line, c) = department_line(&app, &admin, 2, "first_to_answer").await;
    let mut stream = Sse::open(&app, &u2).await;
    assert_eq!(app.get(&format!("/api/lines/{line}"), &u2).await.status, 200);
    app.sim.move_user(ALPHA, 2, &[1]);
    expire_cache(&app);
    assert_eq!(statuses(&app, &u2, line, c, "gone").await, vec![404; 6]);
    // The open stream learns that the line went away.
    let gone = stream.find("line.unassigned", |d| d["line_id"] == line).await;
    assert_eq!(gone["line_id"], line);
    // Reopening the app reads the move at once (no expiry needed), and a department the cache
    // does not know yet with it: into a new Outlet under Sales, back in.
    app.sim.add_department(ALPHA, 5, "Outlet", Some(2), None);
    app.sim.move_user(ALPHA, 2, &[5]);
    let again = app.token(ALPHA, 2).await;
    assert_eq!(app.get(&format!("/api/lines/{line}"), &again).await.status, 200);
}

#[tokio::test]
async fn a_deactivated_user_is_refused_and_their_stream_ends() {
    let (app, admin, u2, u3) = portal().await;
    let mut stream = Sse::open(&app, &u2).await;
    // The portal deactivates user 2; the administrator's listing of users reads it.
    app.sim.set_user_active(ALPHA, 2, false);
    let users = app.get("/api/users", &admin).await.json();
    assert_eq!(users["source"], "portal");
    let two = users["users"].as_array().unwrap().iter().find(|u| u["id"] == 2).unwrap().clone();
    assert_eq!(two["active"], false, "{users}");
    let a = app.get("/api/me", &u2).await;
    assert_eq!(a.status, 401);
    assert!(a.body.contains("deactivated in the portal"), "{}", a.body);
    let ended = stream.find("session.ended", |_| true).await;
    assert!(ended["reason"].as_str().unwrap().contains("session ended"), "{ended}");
    assert!(stream.next(Duration::from_secs(2)).await.is_none(), "the stream is over");
    // Opening the app again is refused: the portal does not confirm an inactive user's frame.
    let page = app.open_app(ALPHA, 2).await;
    assert!(matches!(page.status, 401 | 403) && !page.body.contains("\"token\""), "{}", page.body);
    // Without any administrator action: user 3 is deactivated, and once the cache expires their
    // next request reads it.
    app.sim.set_user_active(ALPHA, 3, false);
    assert_eq!(app.get("/api/me", &u3).await.status, 200, "within the cache's life");
    expire_cache(&app);
    assert_eq!(app.get("/api/me", &u3).await.status, 401);
    // Reactivated, they come back by opening the app (their old tokens stay ended).
    app.sim.set_user_active(ALPHA, 3, true);
    // (A token issued in the second of the revocation counts as before it.)
    app.clock.advance(1);
    let fresh = app.token(ALPHA, 3).await;
    assert_eq!(app.get("/api/me", &fresh).await.status, 200);
    assert_eq!(app.get("/api/me", &u3).await.status, 401);
    assert_eq!(app.get("/api/me", &admin).await.status, 200);
}

#[tokio::test]
async fn the_access_list_refuses_outsiders_and_never_administrators() {
    let (app, admin, u2, u3) = portal().await;
    assert_eq!(
        app.get("/api/access", &admin).await.json(),
        json!({"users": [], "departments": []})
    );
    let put = |token: &str, body: serde_json::Value| {
        let app = &app;
        let token = token.to_owned();
        async move { app.call("PUT", "/api/access", Some(&token), Some(body)).await }
    };
    assert_eq!(put(&u2, json!({"users": [], "departments": []})).await.status, 403);
    assert_eq!(put(&admin, json!({"users": [99], "departments": []})).await.status, 404);
    assert_eq!(put(&admin, json!({"users": [], "departments": [99]})).await.status, 404);
    assert_eq!(put(&admin, json!({"users": []})).await.status, 400);
    // Only user 3: user 2's open stream ends too.
    let mut stream = Sse::open(&app, &u2).await;
    let a = put(&admin, json!({"users": [3], "departments": []})).await;
    assert_eq!(a.json(), json!({"users": [3], "departments": []}));
    let refused = app.get("/api/me", &u2).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("has not given you access"), "{}", refused.body);
    assert_eq!(app.get("/api/me", &u3).await.status, 200);
    assert_eq!(app.get("/api/me", &admin).await.status, 200);
    let ended = stream.find("session.ended", |_| true).await;
    assert!(ended["reason"].as_str().unwrap().contains("has not given you access"), "{ended}");
    let page = app.open_app(ALPHA, 2).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("has not given you access"), "{}", page.body);
    assert!(!page.body.contains("\"token\""));
    // By department: Sales (user 2) in, user 3 (Company only) out.
    put(&admin, json!({"users": [], "departments": [2]})).await;
    assert_eq!(app.get("/api/me", &u2).await.status, 200);
    assert_eq!(app.get("/api/me", &u3).await.status, 403);
    assert_eq!(app.open_app(ALPHA, 1).await.status, 200, "administrators always");
    // Empty again: everyone; the changes are audited.
    put(&admin, json!({"users": [], "departments": []})).await;
    assert_eq!(app.get("/api/me", &u3).await.status, 200);
    let audit = app.get("/api/audit?kind=app.access_changed", &admin).await.json();
    assert_eq!(audit["records"].as_array().unwrap().len(), 3, "{audit}");
}

#[tokio::test]
async fn users_come_with_departments_and_avatars() {
    let (app, admin, _, _) = portal().await;
    app.sim.set_user_photo(ALPHA, 2, "https://cdn.alpha.test/2.png");
    let users = app.get("/api/users", &admin).await.json();
    let two = users["users"].as_array().unwrap().iter().find(|u| u["id"] == 2).unwrap().clone();
    assert_eq!(two["avatar"], "https://cdn.alpha.test/2.png");
    assert_eq!(two["departments"], json!([2]));
    assert_eq!(two["active"], true);
    let names: Vec<&str> = users["departments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Company", "Sales", "Retail"]);
    assert_eq!(users["departments"][2]["parent"], 2);
    assert_eq!(users["departments"][2]["head"], 3);
}

#[tokio::test]
async fn responsible_per_conversation_first_to_answer_and_evenly() {
    let (app, admin, u2, u3) = portal().await;
    // Everyone in Company: users 1, 2 and 3 are its members.
    app.get("/api/users", &admin).await;
    let t = app.store.tenant(ALPHA).await.unwrap();
    let (_, c) = department_line(&app, &admin, 1, "first_to_answer").await;
    assert_eq!(t.conversation_responsible(Caller::System, c).await.unwrap(), None);
    let send = |token: &str, key: &str| {
        let app = &app;
        let (token, key) = (token.to_owned(), key.to_owned());
        async move {
            let body = json!({"text": "hi", "idempotency_key": key});
            let a = app
                .call("POST", &format!("/api/conversations/{c}/messages"), Some(&token), Some(body))
                .await;
            assert_eq!(a.status, 202, "{}", a.body);
        }
    };
    send(&u3, "r1").await;
    send(&u2, "r2").await;
    assert_eq!(t.conversation_responsible(Caller::System, c).await.unwrap(), Some(3));
    assert_eq!(t.choose_responsible(Caller::System, c).await.unwrap(), Some(3));

    let (line, first) = department_line(&app, &admin, 1, "evenly").await;
    let mut chosen = vec![t.choose_responsible(Caller::System, first).await.unwrap().unwrap()];
    for i in 0..3 {
        let jid = format!("1555000300{i}@s.whatsapp.net");
        let c = app.inbound(ALPHA, line, &jid, "B", &format!("e{i}"), "hi").await;
        chosen.push(t.choose_responsible(Caller::System, c).await.unwrap().unwrap());
    }
    assert_eq!(chosen, vec![1, 2, 3, 1]);
}
