//! The permission matrix: every token-scoped endpoint times nine callers (alpha's
//! administrator, a user the line is assigned to, a member of the department the line is also
//! assigned to, a user it is not, beta's administrator, no token, an expired token, a token
//! signed with another key, and a user's token whose role was changed to admin without
//! re-signing), each with its expected status; and no answer carries another tenant's or
//! another line's data (each line's name, contacts and messages hold a unique marker).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use wab24::session::{self, Role, SessionKey};

use crate::app::{ALPHA, BETA, start};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    NoToken,
    Expired,
    Forged,
    Tampered,
    AdminB,
    UserNotAssigned,
    UserAssigned,
    DepartmentMember,
    AdminA,
}

const EVERYONE: [Who; 9] = [
    Who::NoToken,
    Who::Expired,
    Who::Forged,
    Who::Tampered,
    Who::AdminB,
    Who::UserNotAssigned,
    Who::UserAssigned,
    Who::DepartmentMember,
    Who::AdminA,
];

/// Markers no other tenant's or line's caller may see.
fn forbidden(who: Who) -> &'static [&'static str] {
    match who {
        Who::AdminA => &["MK-B"],
        Who::UserAssigned | Who::DepartmentMember => &["MK-B", "MK-A-L4"],
        Who::UserNotAssigned => &["MK-B", "MK-A-L3", "MK-A-L4"],
        Who::AdminB => &["MK-A"],
        _ => &["MK-"],
    }
}

/// Expected status for the authenticated callers (the token-less and bad-token ones get 401).
#[derive(Clone, Copy)]
struct Expect {
    admin_a: u16,
    assigned: u16,
    /// A member of Sales, the department line 3 is also assigned to.
    member: u16,
    not_assigned: u16,
    admin_b: u16,
}

const fn all(s: u16) -> Expect {
    Expect { admin_a: s, assigned: s, member: s, not_assigned: s, admin_b: s }
}
/// Admin-only, tenant-wide (each admin sees their own tenant).
const fn admins(s: u16) -> Expect {
    Expect { admin_a: s, assigned: 403, member: 403, not_assigned: 403, admin_b: s }
}
/// Admin-only on an object of alpha.
const fn admin_a_object(s: u16) -> Expect {
    Expect { admin_a: s, assigned: 403, member: 403, not_assigned: 403, admin_b: 404 }
}
/// An object of alpha's line 3 (assigned to user 2 and to Sales), answering `s`.
const fn assigned_object(s: u16) -> Expect {
    Expect { admin_a: s, assigned: s, member: s, not_assigned: 404, admin_b: 404 }
}
/// An object of alpha's line 3 (assigned to user 2 and to Sales).
const ASSIGNED_OBJECT: Expect =
    Expect { admin_a: 200, assigned: 200, member: 200, not_assigned: 404, admin_b: 404 };
/// An object of alpha's line 4 (nobody's).
const UNASSIGNED_OBJECT: Expect =
    Expect { admin_a: 200, assigned: 404, member: 404, not_assigned: 404, admin_b: 404 };

#[tokio::test]
async fn every_endpoint_times_every_caller() {
    let app = start().await;
    app.install(ALPHA).await;
    app.install(BETA).await;
    let admin_a = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    let u3 = app.token(ALPHA, 3).await;
    // User 4 works in Sales (department 2); users 2 and 3 in Company (1), above it.
    app.sim.add_user(ALPHA, 4, "Dana", &[2]);
    let u4 = app.token(ALPHA, 4).await;
    let admin_b = app.token(BETA, 1).await;

    // alpha: lines 1 and 2 deleted (so that ids differ from beta's), 3 assigned to user 2,
    // 4 unassigned, 5 to be deleted by the matrix.
    let create = |token: String, name: &'static str| {
        let app = &app;
        async move {
            let a = app.call("POST", "/api/lines", Some(&token), Some(json!({"name": name}))).await;
            assert_eq!(a.status, 201, "{}", a.body);
            a.json()["id"].as_i64().unwrap()
        }
    };
    for name in ["old-1", "old-2"] {
        let id = create(admin_a.clone(), name).await;
        assert_eq!(
            app.call("DELETE", &format!("/api/lines/{id}"), Some(&admin_a), None).await.status,
            204
        );
    }
    let l3 = create(admin_a.clone(), "MK-A-L3 line").await;
    let l4 = create(admin_a.clone(), "MK-A-L4 line").await;
    let l5 = create(admin_a.clone(), "old-5").await;
    assert_eq!((l3, l4, l5), (3, 4, 5));
    app.call(
        "PUT",
        &format!("/api/lines/{l3}/assignment"),
        Some(&admin_a),
        Some(json!({"user_id": 2})),
    )
    .await;
    let a = app
        .call(
            "PATCH",
            &format!("/api/lines/{l3}"),
            Some(&admin_a),
            Some(json!({"assigned_department": 2})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let lb = create(admin_b.clone(), "MK-B-L1 line").await;
    assert_eq!(lb, 1);
    app.inbound(
        ALPHA,
        l3,
        "15550001001@s.whatsapp.net",
        "MK-A-L3-contact-0",
        "a1",
        "MK-A-L3-msg-0",
    )
    .await;
    app.inbound(
        ALPHA,
        l4,
        "15550001002@s.whatsapp.net",
        "MK-A-L4-contact-0",
        "a2",
        "MK-A-L4-msg-0",
    )
    .await;
    let c3 = app
        .inbound(
            ALPHA,
            l3,
            "15550001003@s.whatsapp.net",
            "MK-A-L3-contact-1",
            "a3",
            "MK-A-L3-msg-1",
        )
        .await;
    let c4 = app
        .inbound(
            ALPHA,
            l4,
            "15550001004@s.whatsapp.net",
            "MK-A-L4-contact-1",
            "a4",
            "MK-A-L4-msg-1",
        )
        .await;
    assert_eq!((c3, c4), (3, 4));
    app.inbound(BETA, lb, "15550001001@s.whatsapp.net", "MK-B-L1-contact-0", "b1", "MK-B-L1-msg-0")
        .await;

    // Files on c3 and c4 to download; the first inbound message of c3 to react to.
    let upload = |c: i64| {
        let app = &app;
        let token = admin_a.clone();
        async move {
            let a = app
                .call(
                    "POST",
                    &format!("/api/conversations/{c}/media?kind=document&file_name=n.txt"),
                    Some(&token),
                    Some(json!({"note": 1})),
                )
                .await;
            assert_eq!(a.status, 202, "{}", a.body);
            a.json()["id"].as_i64().unwrap()
        }
    };
    let (m3, m4) = (upload(c3).await, upload(c4).await);
    let in3 =
        app.get(&format!("/api/conversations/{c3}/messages"), &admin_a).await.json()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["direction"] == "in")
            .unwrap()["id"]
            .as_i64()
            .unwrap();

    // Bad tokens.
    let now = b24_client::now_unix(&app.clock);
    let key = SessionKey::derive(&crate::app::MASTER).unwrap();
    let generation = app.store.info(ALPHA).await.unwrap().generation;
    let expired =
        key.issue(&session::claims(ALPHA, 1, Role::Admin, generation, now - 72 * 3600 - 1));
    let mut other_master = crate::app::MASTER;
    other_master[0] ^= 1;
    let forged = SessionKey::derive(&other_master).unwrap().issue(&session::claims(
        ALPHA,
        1,
        Role::Admin,
        generation,
        now,
    ));
    let tampered = {
        let parts: Vec<&str> = u2.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = "admin".into();
        format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2])
    };

    let endpoints: Vec<(&str, String, Option<Value>, Expect)> = vec![
        ("GET", "/api/me".into(), None, all(200)),
        ("GET", "/api/lines".into(), None, all(200)),
        ("GET", format!("/api/lines/{l3}"), None, ASSIGNED_OBJECT),
        ("GET", format!("/api/lines/{l4}"), None, UNASSIGNED_OBJECT),
        ("DELETE", format!("/api/lines/{l5}"), None, admin_a_object(204)),
        (
            "PATCH",
            format!("/api/lines/{l4}"),
            Some(json!({"send_read_receipts": false})),
            admin_a_object(200),
        ),
        (
            "PATCH",
            format!("/api/lines/{l4}"),
            Some(json!({"crm": {"mode": "contact_lead"}})),
            admin_a_object(200),
        ),
        ("GET", format!("/api/lines/{l3}/crm"), None, admin_a_object(200)),
        ("GET", format!("/api/lines/{l4}/crm"), None, admin_a_object(200)),
        ("POST", "/api/lines".into(), Some(json!({"name": "new"})), admins(201)),
        (
            "PUT",
            format!("/api/lines/{l4}/assignment"),
            Some(json!({"user_id": null})),
            admin_a_object(200),
        ),
        // Connect starts l4 (the administrator is the last caller), disconnect stops it, and
        // logging out a stopped line is a conflict.
        ("POST", format!("/api/lines/{l4}/connect"), None, admin_a_object(202)),
        ("POST", format!("/api/lines/{l4}/disconnect"), None, admin_a_object(204)),
        ("POST", format!("/api/lines/{l4}/logout"), None, admin_a_object(409)),
        ("GET", format!("/api/lines/{l3}/conversations"), None, ASSIGNED_OBJECT),
        ("GET", format!("/api/lines/{l4}/conversations"), None, UNASSIGNED_OBJECT),
        // Writing first to a number that has a conversation already: only the line's assigned
        // user and administrators (the line is not connected: no WhatsApp query is needed); a
        // member of the line's department answers the line's chats but starts none.
        (
            "POST",
            format!("/api/lines/{l3}/chats"),
            Some(json!({"phone": "+1 555 000 1003"})),
            Expect { member: 403, ..ASSIGNED_OBJECT },
        ),
        (
            "POST",
            format!("/api/lines/{l4}/chats"),
            Some(json!({"phone": "+15550001004"})),
            UNASSIGNED_OBJECT,
        ),
        ("GET", "/api/conversations/search?q=MK".into(), None, all(200)),
        (
            "GET",
            "/api/conversations/by-phone?phones=15550001001,+1%20555%20000%201002,15550001003"
                .into(),
            None,
            all(200),
        ),
        ("GET", format!("/api/conversations/{c3}"), None, ASSIGNED_OBJECT),
        ("GET", format!("/api/conversations/{c4}"), None, UNASSIGNED_OBJECT),
        ("GET", format!("/api/conversations/{c3}/messages"), None, ASSIGNED_OBJECT),
        ("GET", format!("/api/conversations/{c4}/messages"), None, UNASSIGNED_OBJECT),
        (
            "POST",
            format!("/api/conversations/{c3}/messages"),
            Some(json!({"text": "hello", "idempotency_key": "matrix-text"})),
            assigned_object(202),
        ),
        (
            "POST",
            format!("/api/conversations/{c4}/messages"),
            Some(json!({"text": "hello"})),
            Expect { admin_a: 202, assigned: 404, member: 404, not_assigned: 404, admin_b: 404 },
        ),
        (
            "POST",
            format!("/api/conversations/{c3}/reactions"),
            Some(json!({"message_id": in3, "emoji": "👍"})),
            assigned_object(202),
        ),
        (
            "POST",
            format!("/api/conversations/{c3}/media?kind=document&file_name=a.txt"),
            Some(json!({"note": 2})),
            assigned_object(202),
        ),
        ("GET", format!("/api/messages/{m3}/media"), None, ASSIGNED_OBJECT),
        ("GET", format!("/api/messages/{m4}/media"), None, UNASSIGNED_OBJECT),
        ("POST", format!("/api/conversations/{c3}/read"), None, ASSIGNED_OBJECT),
        ("POST", format!("/api/conversations/{c4}/read"), None, UNASSIGNED_OBJECT),
        ("GET", "/api/users".into(), None, admins(200)),
        ("GET", "/api/access".into(), None, admins(200)),
        // Everyone may use the app (the list stays empty).
        ("PUT", "/api/access".into(), Some(json!({"users": [], "departments": []})), admins(200)),
        ("GET", "/api/open-lines".into(), None, admins(200)),
        ("GET", "/api/crm/pipelines".into(), None, admins(200)),
        ("POST", "/api/open-lines".into(), Some(json!({"name": "Open Line"})), admins(201)),
        ("GET", "/api/audit".into(), None, admins(200)),
        ("GET", "/api/audit/export".into(), None, admins(200)),
        ("GET", "/api/audit/verify".into(), None, admins(200)),
        ("GET", "/api/subscription".into(), None, all(200)),
        // No billing hook in the harness: administrators get 503, users 403.
        ("POST", "/api/subscription/upgrade".into(), Some(json!({"lines": 5})), admins(503)),
        ("GET", "/api/events".into(), None, all(200)),
        // Last: it ends user 3's sessions (each administrator's own user 3; alpha's is last).
        ("POST", "/api/users/3/sessions/revoke".into(), None, admins(200)),
    ];
    // Every token-scoped route of the router is in the matrix.
    let mut covered: Vec<(&str, String)> = endpoints
        .iter()
        .map(|(m, p, _, _)| {
            let path = p.split('?').next().unwrap();
            let templ = path
                .replace(&format!("/lines/{l3}"), "/lines/{line_id}")
                .replace(&format!("/lines/{l4}"), "/lines/{line_id}")
                .replace(&format!("/lines/{l5}"), "/lines/{line_id}")
                .replace(&format!("/conversations/{c3}"), "/conversations/{conversation_id}")
                .replace(&format!("/conversations/{c4}"), "/conversations/{conversation_id}")
                .replace(&format!("/messages/{m3}/"), "/messages/{message_id}/")
                .replace(&format!("/messages/{m4}/"), "/messages/{message_id}/")
                .replace("/users/3/", "/users/{user_id}/");
            (*m, templ)
        })
        .collect();
    let covered_all = covered.clone();
    covered.sort();
    covered.dedup();
    let mut scoped: Vec<(&str, String)> = wab24::http::ROUTES
        .iter()
        .filter(|r| {
            r.path.starts_with("/api/")
                && r.path != "/api/openapi.json"
                && r.path != "/api/hooks/plan"
        })
        .map(|r| (r.method.as_str(), r.path.to_owned()))
        .collect();
    scoped.sort();
    assert_eq!(covered, scoped);
    // The route table says the same: exactly these ask for a session token.
    let mut by_table: Vec<(&str, String)> = wab24::http::ROUTES
        .iter()
        .filter(|r| r.scoped())
        .map(|r| (r.method.as_str(), r.path.to_owned()))
        .collect();
    by_table.sort();
    assert_eq!(by_table, scoped);
    // And the expectations follow the table's roles: users are refused (403) on the
    // administrators' routes, and only there.
    for ((m, templ), (_, p, _, expect)) in covered_all.iter().zip(&endpoints) {
        let route = wab24::http::ROUTES
            .iter()
            .find(|r| r.method.as_str() == *m && r.path == templ)
            .unwrap_or_else(|| panic!("{m} {templ} is not in the route table"));
        let admin_only = route.access == wab24::http::route::Access::Admin;
        let users_refused =
            expect.assigned == 403 && expect.member == 403 && expect.not_assigned == 403;
        assert_eq!(admin_only, users_refused, "{m} {p}: the table's role and the matrix disagree");
    }

    let mut cases = 0;
    let mut failures = vec![];
    for (method, path, body, expect) in &endpoints {
        for who in EVERYONE {
            let token = match who {
                Who::NoToken => None,
                Who::Expired => Some(expired.as_str()),
                Who::Forged => Some(forged.as_str()),
                Who::Tampered => Some(tampered.as_str()),
                Who::AdminB => Some(admin_b.as_str()),
                Who::UserNotAssigned => Some(u3.as_str()),
                Who::UserAssigned => Some(u2.as_str()),
                Who::DepartmentMember => Some(u4.as_str()),
                Who::AdminA => Some(admin_a.as_str()),
            };
            let want = match who {
                Who::NoToken | Who::Expired | Who::Forged | Who::Tampered => 401,
                Who::AdminB => expect.admin_b,
                Who::UserNotAssigned => expect.not_assigned,
                Who::UserAssigned => expect.assigned,
                Who::DepartmentMember => expect.member,
                Who::AdminA => expect.admin_a,
            };
            let (status, text) = if path == "/api/events" {
                // A stream: the status, then the first (hello) event only.
                let mut rb = app.http.get(app.url(path));
                if let Some(t) = token {
                    rb = rb.bearer_auth(t);
                }
                let mut r = rb.send().await.unwrap();
                let status = r.status().as_u16();
                let text = if status == 200 {
                    let chunk = tokio::time::timeout(Duration::from_secs(5), r.chunk())
                        .await
                        .unwrap()
                        .unwrap()
                        .unwrap_or_default();
                    String::from_utf8_lossy(&chunk).into_owned()
                } else {
                    r.text().await.unwrap()
                };
                (status, text)
            } else {
                let a = app.call(method, path, token, body.clone()).await;
                (a.status, a.body)
            };
            cases += 1;
            if status != want {
                failures
                    .push(format!("{method} {path} as {who:?}: {status}, expected {want}: {text}"));
            }
            if status >= 400 && !path.ends_with("/events") {
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if v["error"]["code"].as_str().is_none() || v["error"]["message"].as_str().is_none()
                {
                    failures.push(format!("{method} {path} as {who:?}: error body {text}"));
                }
            }
            for m in forbidden(who) {
                if text.contains(m) {
                    failures
                        .push(format!("{method} {path} as {who:?}: answer contains {m}: {text}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases >= 100, "{cases} cases");
    assert_eq!(cases, endpoints.len() * EVERYONE.len());
    // The markers are really there for those who may see them (the check above is not vacuous).
    let mine = app.get(&format!("/api/conversations/{c3}/messages"), &u2).await.body;
    assert!(mine.contains("MK-A-L3-msg-1"));
    let member = app.get(&format!("/api/conversations/{c3}/messages"), &u4).await.body;
    assert!(member.contains("MK-A-L3-msg-1"), "the department's member sees the line");
    let all_lines = app.get("/api/lines", &admin_a).await.body;
    assert!(all_lines.contains("MK-A-L3") && all_lines.contains("MK-A-L4"));
    assert!(app.get("/api/lines", &admin_b).await.body.contains("MK-B-L1"));
    let audit = app.get("/api/audit", &admin_a).await.body;
    assert!(audit.contains("MK-A-L4-msg-1"), "the raw inbound events are audited");
    // The revocation took: user 3's token is refused, the others' are not.
    assert_eq!(app.get("/api/me", &u3).await.status, 401);
    assert_eq!(app.get("/api/me", &u2).await.status, 200);
    eprintln!("permission matrix: {cases} cases");
}
