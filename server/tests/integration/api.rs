//! The JSON API, endpoint by endpoint, as an administrator and as users.

use serde_json::json;

use crate::app::{ALPHA, App, HOOK_SECRET, METRICS_TOKEN, start};

async fn installed() -> (App, String, String, String) {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    let u3 = app.token(ALPHA, 3).await;
    (app, admin, u2, u3)
}

#[tokio::test]
async fn lines_within_quota_assign_and_delete() {
    let (app, admin, u2, _u3) = installed().await;
    let mut ids = vec![];
    for name in ["Sales", "Support", "Billing"] {
        let a = app
            .call(
                "POST",
                "/api/lines",
                Some(&admin),
                Some(json!({"name": name, "phone": "+15550001"})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        assert_eq!(
            (a.json()["name"].as_str(), a.json()["status"].as_str()),
            (Some(name), Some("new"))
        );
        ids.push(a.json()["id"].as_i64().unwrap());
    }
    // Quota 3: the fourth is refused naming current and maximum.
    let a = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Fourth"}))).await;
    assert_eq!(a.status, 409);
    assert_eq!(
        a.json(),
        json!({"error": {"code": "quota_exceeded", "message": "line quota reached: 3 of 3 lines in use", "current": 3, "max": 3}})
    );
    // Bad bodies.
    assert_eq!(
        app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": " "}))).await.status,
        400
    );
    assert_eq!(
        app.call("POST", "/api/lines", Some(&admin), Some(json!({"nom": "x"}))).await.code(),
        "bad_request"
    );
    // Users: none visible before assignment.
    assert_eq!(app.get("/api/lines", &u2).await.json()["lines"], json!([]));
    assert_eq!(app.get(&format!("/api/lines/{}", ids[0]), &u2).await.status, 404);
    // Assign to user 2, reassign to 3, unassign.
    let path = format!("/api/lines/{}/assignment", ids[0]);
    let a = app.call("PUT", &path, Some(&admin), Some(json!({"user_id": 2}))).await;
    assert_eq!((a.status, a.json()["assigned_user"].as_i64()), (200, Some(2)));
    let mine = app.get("/api/lines", &u2).await.json();
    assert_eq!(mine["lines"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&format!("/api/lines/{}", ids[0]), &u2).await.json()["name"], "Sales");
    assert_eq!(
        app.call("PUT", &path, Some(&admin), Some(json!({"user_id": 3}))).await.json()["assigned_user"],
        3
    );
    assert_eq!(app.get("/api/lines", &u2).await.json()["lines"], json!([]));
    assert_eq!(
        app.call("PUT", &path, Some(&admin), Some(json!({"user_id": null}))).await.json()["assigned_user"],
        json!(null)
    );
    // Unknown user or line.
    assert_eq!(
        app.call("PUT", &path, Some(&admin), Some(json!({"user_id": 99}))).await.status,
        404
    );
    assert_eq!(
        app.call("PUT", "/api/lines/999/assignment", Some(&admin), Some(json!({"user_id": 2})))
            .await
            .status,
        404
    );
    // Delete frees the quota.
    assert_eq!(
        app.call("DELETE", &format!("/api/lines/{}", ids[2]), Some(&admin), None).await.status,
        204
    );
    assert_eq!(
        app.call("DELETE", &format!("/api/lines/{}", ids[2]), Some(&admin), None).await.status,
        404
    );
    assert_eq!(app.get("/api/lines", &admin).await.json()["lines"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Again"}))).await.status,
        201
    );
    // The audit log has it all.
    let audit = app.get("/api/audit?limit=1000", &admin).await.json();
    let kinds: Vec<&str> =
        audit["records"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    for k in ["line.created", "line.assigned", "line.reassigned", "line.deleted"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
}

#[tokio::test]
async fn conversations_history_search_and_read() {
    let (app, admin, u2, u3) = installed().await;
    let line = app
        .call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"})))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    app.call(
        "PUT",
        &format!("/api/lines/{line}/assignment"),
        Some(&admin),
        Some(json!({"user_id": 2})),
    )
    .await;
    let mut conv = 0;
    for i in 0..5 {
        conv = app
            .inbound(
                ALPHA,
                line,
                "15550009001@s.whatsapp.net",
                "Olga Petrova",
                &format!("wa-{i}"),
                &format!("hello {i}"),
            )
            .await;
    }
    app.inbound(ALPHA, line, "15550009002@s.whatsapp.net", "Ivan", "wa-ivan", "hi").await;
    let list = app.get(&format!("/api/lines/{line}/conversations"), &u2).await.json();
    let convs = list["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 2);
    let olga = convs.iter().find(|c| c["id"] == conv).unwrap();
    assert_eq!(
        (olga["unread"].as_i64(), olga["contact"]["push_name"].as_str()),
        (Some(5), Some("Olga Petrova"))
    );
    // The preview is the newest message.
    assert_eq!(
        (olga["last_message"]["text"].as_str(), olga["last_message"]["id"].as_i64()),
        (Some("hello 4"), olga["last_message_id"].as_i64())
    );
    // Not for user 3.
    assert_eq!(app.get(&format!("/api/lines/{line}/conversations"), &u3).await.status, 404);
    assert_eq!(app.get(&format!("/api/conversations/{conv}"), &u3).await.status, 404);
    // History pages of 2: 5 messages, newest first.
    let mut texts = vec![];
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/api/conversations/{conv}/messages?limit=2&before={b}"),
            None => format!("/api/conversations/{conv}/messages?limit=2"),
        };
        let page = app.get(&path, &u2).await.json();
        for m in page["messages"].as_array().unwrap() {
            assert_eq!(
                (m["direction"].as_str(), m["kind"].as_str(), m["status"].as_str()),
                (Some("in"), Some("text"), Some("delivered"))
            );
            texts.push(m["text"].as_str().unwrap().to_owned());
        }
        match page["next"].as_i64() {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(texts, ["hello 4", "hello 3", "hello 2", "hello 1", "hello 0"]);
    assert_eq!(
        app.get(&format!("/api/conversations/{conv}/messages?limit=0"), &u2).await.status,
        400
    );
    assert_eq!(
        app.get(&format!("/api/conversations/{conv}/messages?limit=201"), &u2).await.status,
        400
    );
    assert_eq!(
        app.get(&format!("/api/conversations/{conv}/messages?color=red"), &u2).await.status,
        400
    );
    // Search.
    let found = app.get("/api/conversations/search?q=petrova", &u2).await.json();
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["conversation"]["id"], conv);
    assert_eq!(
        app.get("/api/conversations/search?q=petrova", &u3).await.json()["results"],
        json!([])
    );
    assert_eq!(
        app.get("/api/conversations/search?q=9002", &admin).await.json()["results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.get("/api/conversations/search?q=", &u2).await.status, 400);
    // Mark read.
    let a = app.call("POST", &format!("/api/conversations/{conv}/read"), Some(&u2), None).await;
    assert_eq!((a.status, a.json()["unread"].as_i64()), (200, Some(0)));
    assert_eq!(app.get(&format!("/api/conversations/{conv}"), &u2).await.json()["unread"], 0);
    assert_eq!(
        app.call("POST", &format!("/api/conversations/{conv}/read"), Some(&u3), None).await.status,
        404
    );
    // After reassignment the new user pages through the whole history.
    app.call(
        "PUT",
        &format!("/api/lines/{line}/assignment"),
        Some(&admin),
        Some(json!({"user_id": 3})),
    )
    .await;
    let page = app.get(&format!("/api/conversations/{conv}/messages?limit=200"), &u3).await.json();
    assert_eq!(page["messages"].as_array().unwrap().len(), 5);
    assert_eq!(app.get(&format!("/api/conversations/{conv}/messages"), &u2).await.status, 404);
}

#[tokio::test]
async fn users_come_from_the_portal_and_fall_back_to_the_cache() {
    let (app, admin, u2, _) = installed().await;
    let a = app.get("/api/users", &admin).await.json();
    assert_eq!(a["source"], "portal");
    let users = a["users"].as_array().unwrap();
    assert_eq!(
        users
            .iter()
            .map(|u| (u["id"].as_i64().unwrap(), u["is_admin"].as_bool().unwrap()))
            .collect::<Vec<_>>(),
        [(1, true), (2, false), (3, false)]
    );
    assert_eq!(users[1]["name"], "Clara User2");
    assert_eq!(app.get("/api/users", &u2).await.status, 403);
    let errors = app.state.metrics().b24_errors();
    app.sim.add_fault(b24_sim::Fault::on(
        "user.get",
        b24_sim::FaultAction::error(b24_client::ErrorCode::AccessDenied),
    ));
    // The portal is read again once the cache expired (user_cache_secs): the administrator's
    // own re-read and the listing both fail, and the cache answers.
    app.clock.advance(121);
    let a = app.get("/api/users", &admin).await.json();
    assert_eq!(a["source"], "cache");
    assert_eq!(a["users"].as_array().unwrap().len(), 3);
    assert_eq!(app.state.metrics().b24_errors(), errors + 2);
}

#[tokio::test]
async fn audit_filters_pages_and_exports() {
    let (app, admin, u2, _) = installed().await;
    for n in 0..3 {
        app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": format!("L{n}")}))).await;
    }
    let all = app.get("/api/audit?kind=line.created", &admin).await.json();
    let recs = all["records"].as_array().unwrap();
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r["actor"] == "admin:1" && r["kind"] == "line.created"));
    let p1 = app.get("/api/audit?kind=line.created&limit=2", &admin).await.json();
    assert_eq!(p1["records"].as_array().unwrap().len(), 2);
    let next = p1["next"].as_i64().unwrap();
    let p2 =
        app.get(&format!("/api/audit?kind=line.created&limit=2&after={next}"), &admin).await.json();
    assert_eq!((p2["records"].as_array().unwrap().len(), p2["next"].as_i64()), (1, None));
    let subject = app.get("/api/audit?subject=line:2", &admin).await.json();
    assert_eq!(subject["records"][0]["subject"], "line:2");
    let by_admin = app.get("/api/audit?actor=admin:1&kind=line.created", &admin).await.json();
    assert_eq!(by_admin["records"].as_array().unwrap().len(), 3);
    let by_user = app.get("/api/audit?actor=user:2", &admin).await.json();
    assert_eq!(by_user["records"], json!([]));
    let future = (b24_client::now_unix(&app.clock) + 60) * 1000;
    assert_eq!(
        app.get(&format!("/api/audit?since={future}"), &admin).await.json()["records"],
        json!([])
    );
    assert_eq!(app.get("/api/audit?kind=nonsense", &admin).await.status, 400);
    assert_eq!(app.get("/api/audit", &u2).await.status, 403);
    let export = app.get("/api/audit/export?kind=line.created", &admin).await;
    assert_eq!(
        (export.status, export.headers["content-type"].to_str().unwrap()),
        (200, "application/x-ndjson")
    );
    let lines: Vec<serde_json::Value> =
        export.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l["kind"] == "line.created" && l["hash"].as_str().unwrap().len() == 64)
    );
    assert_eq!(app.get("/api/audit/export", &u2).await.status, 403);
}

#[tokio::test]
async fn subscription_plan_hook_and_read_only_trial() {
    let (app, admin, u2, _) = installed().await;
    app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "One"}))).await;
    let s = app.get("/api/subscription", &u2).await.json();
    assert_eq!(
        (s["plan"].as_str(), s["lines_used"].as_i64(), s["lines_allowed"].as_i64()),
        (Some("trial"), Some(1), Some(3))
    );
    assert_eq!((s["trial_days_left"].as_i64(), s["read_only"].as_bool()), (Some(15), Some(false)));
    let hook = |secret: Option<&str>, body: serde_json::Value| {
        let mut rb = app.http.post(app.url("/api/hooks/plan")).json(&body);
        if let Some(s) = secret {
            rb = rb.header("x-wab24-hook-secret", s);
        }
        async move {
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let body = json!({"member_id": ALPHA, "plan": "pro", "line_quota": 10});
    assert_eq!(hook(None, body.clone()).await.0, 401);
    assert_eq!(hook(Some("wrong-secret-wrong-secret"), body.clone()).await.0, 403);
    assert_eq!(
        hook(Some(HOOK_SECRET), json!({"member_id": "nobody", "plan": "pro", "line_quota": 1}))
            .await
            .0,
        404
    );
    assert_eq!(
        hook(Some(HOOK_SECRET), json!({"member_id": ALPHA, "plan": "pro", "line_quota": -1}))
            .await
            .0,
        400
    );
    let (status, text) = hook(Some(HOOK_SECRET), body).await;
    assert_eq!(status, 200, "{text}");
    let s = app.get("/api/subscription", &admin).await.json();
    assert_eq!(
        (s["plan"].as_str(), s["lines_allowed"].as_i64(), s["trial_days_left"].as_i64()),
        (Some("pro"), Some(10), None)
    );
    // The registry audits the change.
    let head = app.store.verify_audit().await.unwrap();
    assert!(head.seq >= 2);
    // A trial that ended: writes 402, reads and mark-read go on.
    let ended = (b24_client::now_unix(&app.clock) - 1) * 1000;
    let (status, _) = hook(
        Some(HOOK_SECRET),
        json!({"member_id": ALPHA, "plan": "trial", "line_quota": 3, "trial_ends_at": ended}),
    )
    .await;
    assert_eq!(status, 200);
    let a = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Two"}))).await;
    assert_eq!((a.status, a.code().as_str()), (402, "trial_expired"));
    assert!(a.json()["error"]["message"].as_str().unwrap().contains("read-only"));
    assert_eq!(app.call("DELETE", "/api/lines/1", Some(&admin), None).await.status, 402);
    assert_eq!(
        app.call("PUT", "/api/lines/1/assignment", Some(&admin), Some(json!({"user_id": 2})))
            .await
            .status,
        402
    );
    assert_eq!(app.get("/api/lines", &admin).await.status, 200);
    let s = app.get("/api/subscription", &admin).await.json();
    assert_eq!((s["read_only"].as_bool(), s["trial_days_left"].as_i64()), (Some(true), Some(0)));
    assert_eq!(app.get("/api/me", &u2).await.json()["read_only"], true);
    // The route table decides: every route it marks writable answers 402 now, no other does.
    for r in wab24::http::ROUTES.iter().filter(|r| r.scoped() && r.path != "/api/events") {
        let path = r
            .path
            .replace("{line_id}", "1")
            .replace("{conversation_id}", "1")
            .replace("{message_id}", "1")
            .replace("{user_id}", "999");
        let a = app.call(r.method.as_str(), &path, Some(&admin), Some(json!({}))).await;
        assert_eq!(
            a.status == 402,
            r.writable,
            "{} {}: {} {}",
            r.method.as_str(),
            r.path,
            a.status,
            a.body
        );
    }
}

#[tokio::test]
async fn tokens_expire_after_72_hours() {
    let (app, admin, _, _) = installed().await;
    assert_eq!(app.get("/api/me", &admin).await.status, 200);
    app.clock.advance(72 * 3600 - 1);
    assert_eq!(app.get("/api/me", &admin).await.status, 200);
    app.clock.advance(1);
    let a = app.get("/api/me", &admin).await;
    assert_eq!((a.status, a.code().as_str()), (401, "unauthorized"));
    assert_eq!(a.json()["error"]["message"], "token expired");
}

#[tokio::test]
async fn plan_hook_is_off_without_a_secret() {
    let app = crate::app::start_with(|s| s.plan_hook_secret = None).await;
    app.install(ALPHA).await;
    let r = app
        .http
        .post(app.url("/api/hooks/plan"))
        .header("x-wab24-hook-secret", HOOK_SECRET)
        .json(&json!({"member_id": ALPHA, "plan": "pro", "line_quota": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

/// What someone with database access but without the master key can do: rewrite every record
/// of the tenant's audit log from the first one (actor changed) and recompute the unkeyed hashes,
/// links and head, so the chain is consistent again.
async fn rewrite_audit_without_the_key(app: &App, member: &str) {
    use sqlx::Connection;
    use tenancy::audit::chain;
    let records = app
        .store
        .tenant(member)
        .await
        .unwrap()
        .audit_query(tenancy::Caller::System, &tenancy::audit::Query::default())
        .await
        .unwrap()
        .records;
    let path = app._dir.path().join("tenants").join(app.store.storage_name(member));
    let mut raw =
        sqlx::AnyConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::raw_sql("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_head_forward;")
        .execute(&mut raw)
        .await
        .unwrap();
    let mut prev = tenancy::audit::GENESIS;
    for r in &records {
        let actor = if r.seq == 1 { "admin:99" } else { r.actor.as_str() };
        let hash = chain::record_hash(&chain::Fields {
            seq: r.seq,
            at_ms: r.at_ms,
            kind: r.kind.as_str(),
            actor,
            subject: &r.subject,
            payload: &r.payload,
            prev_hash: &prev,
        });
        sqlx::query("UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
            .bind(actor)
            .bind(prev.to_vec())
            .bind(hash.to_vec())
            .bind(r.seq)
            .execute(&mut raw)
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(prev.to_vec())
        .execute(&mut raw)
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_verify_reports_a_chain_rewritten_without_the_key() {
    let (app, admin, u2, _u3) = installed().await;
    for name in ["Sales", "Support"] {
        let a = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": name}))).await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let v = app.get("/api/audit/verify", &admin).await;
    assert_eq!(v.status, 200, "{}", v.body);
    let v = v.json();
    assert_eq!((v["ok"].as_bool(), v["broken"].is_null()), (Some(true), true));
    let checked = v["records_checked"].as_i64().unwrap();
    assert!(checked >= 2, "{v}");
    assert_eq!(app.get("/api/audit/verify", &u2).await.status, 403);
    let metrics = |app: &App| {
        let url = app.url("/metrics");
        let http = app.http.clone();
        async move {
            http.get(url).bearer_auth(METRICS_TOKEN).send().await.unwrap().text().await.unwrap()
        }
    };
    assert!(metrics(&app).await.contains("wab24_audit_broken_tenants 0"));

    rewrite_audit_without_the_key(&app, ALPHA).await;
    let v = app.get("/api/audit/verify", &admin).await.json();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(
        (v["broken"]["seq"].as_i64(), v["broken"]["reason"].as_str()),
        (Some(1), Some("unkeyed"))
    );
    assert_eq!(v["records_checked"], 0);
    assert!(metrics(&app).await.contains("wab24_audit_broken_tenants 1"));

    // What `wab24 serve` does at start: the seal pass does not launder the rewritten chain, the
    // check records it (and the intact control log) in the metrics.
    wab24::audit_check::at_start(&app.store, app.state.metrics(), app.state.now()).await;
    let text = metrics(&app).await;
    assert!(text.contains("wab24_audit_broken_tenants 1"), "{text}");
    assert!(text.contains("wab24_audit_control_broken 0"), "{text}");
    assert_eq!(app.get("/api/audit/verify", &admin).await.json()["ok"], false);
}

/// A stand-in for the operator's billing system: records each request's signature header and
/// body, answers with the status in `status`.
async fn billing_hook(
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<(Option<String>, bytes::Bytes)>) {
    use warp::Filter;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let route = warp::path!("upgrade")
        .and(warp::post())
        .and(warp::header::optional::<String>("x-wab24-signature"))
        .and(warp::body::bytes())
        .map(move |sig: Option<String>, body: bytes::Bytes| {
            let _ = tx.send((sig, body));
            let code = status.load(std::sync::atomic::Ordering::SeqCst);
            warp::reply::with_status("", warp::http::StatusCode::from_u16(code).unwrap())
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/upgrade", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, rx)
}

#[tokio::test]
async fn trial_ended_plan_and_signed_upgrade_request() {
    use hmac::{Hmac, KeyInit, Mac};
    const SECRET: &str = "billing-hook-secret-0123456789";
    let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
    let (url, mut received) = billing_hook(status.clone()).await;
    let app = crate::app::start_with(|s| {
        s.billing.upgrade_hook =
            Some(wab24::state::BillingHook { url: url.clone(), secret: SECRET.to_owned() });
    })
    .await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let user = app.token(ALPHA, 2).await;
    // A new installation's trial is 15 days.
    let s = app.get("/api/subscription", &admin).await.json();
    assert_eq!(s["trial_days_left"], 15, "{s}");
    assert_eq!((s["price_per_line"].as_i64(), s["currency"].as_str()), (Some(40), Some("USD")));
    assert_eq!(s["upgrade_available"], true);

    // The trial ends: a write answers 402 with the code the panel turns into "open the plan page".
    let ended = (b24_client::now_unix(&app.clock) - 1) * 1000;
    let plan =
        json!({"member_id": ALPHA, "plan": "trial", "line_quota": 3, "trial_ends_at": ended});
    let r = app
        .http
        .post(app.url("/api/hooks/plan"))
        .header("x-wab24-hook-secret", HOOK_SECRET)
        .json(&plan)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let a = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    assert_eq!((a.status, a.code()), (402, "trial_expired".to_owned()), "{}", a.body);
    assert!(!a.json()["error"]["message"].as_str().unwrap().is_empty());

    // Users cannot ask; nonsense is refused before anything is sent.
    let upgrade = |token: &str, body: serde_json::Value| {
        let token = token.to_owned();
        let app = &app;
        async move { app.call("POST", "/api/subscription/upgrade", Some(&token), Some(body)).await }
    };
    assert_eq!(upgrade(&user, json!({"lines": 5})).await.status, 403);
    assert_eq!(upgrade(&admin, json!({"lines": 0})).await.status, 400);
    assert!(received.try_recv().is_err(), "nothing reached the hook");

    // The administrator asks for 5 lines after the trial: the signed request reaches the hook.
    let a = upgrade(&admin, json!({"lines": 5})).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(
        (a.json()["monthly_total"].as_i64(), a.json()["currency"].as_str()),
        (Some(200), Some("USD"))
    );
    let (signature, body) = received.recv().await.unwrap();
    let signature = signature.expect("the request is signed");
    let hex_sig = signature.strip_prefix("sha256=").expect("sha256=<hex>");
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    mac.verify_slice(&hex::decode(hex_sig).unwrap()).expect("the signature verifies");
    let mut wrong = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"another secret").unwrap();
    wrong.update(&body);
    assert!(wrong.verify_slice(&hex::decode(hex_sig).unwrap()).is_err());
    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (
            sent["member_id"].as_str(),
            sent["lines_requested"].as_i64(),
            sent["price_per_line"].as_i64()
        ),
        (Some(ALPHA), Some(5), Some(40))
    );
    assert_eq!((sent["lines_in_use"].as_i64(), sent["requested_by"].as_i64()), (Some(0), Some(1)));

    // Audited in the tenant's log (the administrator sees it) and in the registry's.
    let page = app.get("/api/audit?kind=app.upgrade_requested", &admin).await.json();
    let records = page["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{page}");
    assert_eq!(records[0]["actor"], "admin:1");
    let q = tenancy::audit::Query {
        kind: Some(tenancy::audit::Kind::UpgradeRequested),
        ..tenancy::audit::Query::default()
    };
    let control = app.store.control_audit_query(&q).await.unwrap().records;
    assert_eq!(control.len(), 1);
    assert_eq!(control[0].subject, format!("tenant:{ALPHA}"));
    let audited: serde_json::Value = serde_json::from_slice(&control[0].payload).unwrap();
    assert_eq!(
        (audited["lines_requested"].as_i64(), audited["accepted"].as_bool()),
        (Some(5), Some(true))
    );

    // The billing system refuses: 503, and the attempt is audited as not accepted.
    status.store(500, std::sync::atomic::Ordering::SeqCst);
    let a = upgrade(&admin, json!({"lines": 6})).await;
    assert_eq!((a.status, a.code()), (503, "unavailable".to_owned()), "{}", a.body);
    let control = app.store.control_audit_query(&q).await.unwrap().records;
    assert_eq!(control.len(), 2);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&control[1].payload).unwrap()["accepted"],
        false
    );
    app.store.verify_audit().await.unwrap();
}
