//! `GET /api/events`: scoped by the token, checked at delivery against the current assignment.

use std::time::Duration;

use serde_json::json;
use wab24::{events::ServerEvent, runtime::LineState, wire::MessageOut};

use crate::app::{ALPHA, BETA, Sse, start};

/// The event each stream's test ends at (published last).
const END: &str = "message.send_failed";

#[tokio::test]
async fn events_reach_only_those_who_may_see_them() {
    let app = start().await;
    app.install(ALPHA).await;
    app.install(BETA).await;
    let admin = app.token(ALPHA, 1).await;
    let u2 = app.token(ALPHA, 2).await;
    let u3 = app.token(ALPHA, 3).await;
    let admin_b = app.token(BETA, 1).await;
    // User 3 has a line of their own, with a conversation: their sentinel events.
    let l3 = app
        .call("POST", "/api/lines", Some(&admin), Some(json!({"name": "three"})))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    app.call(
        "PUT",
        &format!("/api/lines/{l3}/assignment"),
        Some(&admin),
        Some(json!({"user_id": 3})),
    )
    .await;
    let c3 = app.inbound(ALPHA, l3, "1555@s.whatsapp.net", "c", "w3", "t").await;

    let mut s_admin = Sse::open(&app, &admin).await;
    let mut s_u2 = Sse::open(&app, &u2).await;
    let mut s_u3 = Sse::open(&app, &u3).await;
    let mut s_b = Sse::open(&app, &admin_b).await;
    // The query-string form (EventSource cannot send headers).
    let q = app.http.get(app.url(&format!("/api/events?access_token={u2}"))).send().await.unwrap();
    assert_eq!(q.status().as_u16(), 200);
    drop(q);

    // A new line (unassigned): administrators only.
    let line = app
        .call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"})))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    // Assigned to user 2: user 2 now sees its events.
    app.call(
        "PUT",
        &format!("/api/lines/{line}/assignment"),
        Some(&admin),
        Some(json!({"user_id": 2})),
    )
    .await;
    let conv = app.inbound(ALPHA, line, "1666@s.whatsapp.net", "d", "w4", "t").await;
    // A stored message as the runtime reports it, and a QR code (administrators only).
    app.state.bus().publish(ServerEvent::LineStatus {
        member_id: ALPHA.to_owned(),
        line_id: line,
        state: LineState::Qr { code: "2@secret-qr".to_owned(), expires: Duration::from_secs(60) },
    });
    // The message as the API shows it (the event carries it), under the id 7.
    let page = app.get(&format!("/api/conversations/{conv}/messages"), &admin).await.json();
    let mut message: MessageOut = serde_json::from_value(page["messages"][0].clone()).unwrap();
    message.id = 7;
    app.state.bus().publish(ServerEvent::MessageStored {
        member_id: ALPHA.to_owned(),
        message,
        unread: 1,
    });
    app.call("POST", &format!("/api/conversations/{conv}/read"), Some(&u2), None).await;
    // Reassigned to user 3: from now on user 2 gets nothing of it.
    app.call(
        "PUT",
        &format!("/api/lines/{line}/assignment"),
        Some(&admin),
        Some(json!({"user_id": 3})),
    )
    .await;
    // An administrator looking at user 3's chat leaves the badge alone: no event.
    app.inbound(ALPHA, line, "1666@s.whatsapp.net", "d", "w5", "t").await;
    let looked =
        app.call("POST", &format!("/api/conversations/{conv}/read"), Some(&admin), None).await;
    assert_eq!(
        (looked.json()["cleared"].as_bool(), looked.json()["unread"].as_i64()),
        (Some(false), Some(1))
    );
    assert_eq!(app.get(&format!("/api/conversations/{conv}"), &u3).await.json()["unread"], 1);
    // Sentinels: one event each stream may see, published last.
    app.call("POST", &format!("/api/conversations/{c3}/read"), Some(&u3), None).await;
    let lb = app.call("POST", "/api/lines", Some(&admin_b), Some(json!({"name": "beta"}))).await;
    assert_eq!(lb.status, 201);
    // The last event, on the line: a failed send nobody else causes here.
    app.state.bus().publish(ServerEvent::SendFailed {
        member_id: ALPHA.to_owned(),
        line_id: line,
        message_id: 0,
        error: "test end".to_owned(),
    });

    let names = |evs: &[(String, serde_json::Value)]| {
        evs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
    };
    let a = s_admin.until(END).await;
    assert_eq!(
        names(&a),
        [
            "line.created",
            "line.assigned",
            "line.status",
            "message.stored",
            "conversation.read",
            "line.assigned",
            "conversation.read",
            END
        ]
    );
    assert_eq!(a[2].1["qr"], "2@secret-qr");
    let u = s_u2.until("line.unassigned").await;
    assert_eq!(
        names(&u),
        ["line.assigned", "message.stored", "conversation.read", "line.unassigned"]
    );
    // Every field the event has always had, and the message itself besides.
    let mut stored = u[1].1.clone();
    let message = stored.as_object_mut().unwrap().remove("message").unwrap();
    assert_eq!(
        stored,
        json!({"line_id": line, "message_id": 7, "conversation_id": conv, "direction": "in", "unread": 1})
    );
    assert_eq!(
        (&message["id"], &message["conversation_id"], &message["text"], &message["direction"]),
        (&json!(7), &json!(conv), &json!("t"), &json!("in"))
    );
    // The reassignment itself tells user 2 the line is gone (the panel drops its chats), and
    // nothing of it reaches them after that (the last event is on the line, now user 3's).
    assert_eq!(u[3].1, json!({"line_id": line}));
    assert!(s_u2.next(Duration::from_millis(500)).await.is_none());
    let u = s_u3.until(END).await;
    assert_eq!(names(&u), ["line.assigned", "conversation.read", END]);
    let b = s_b.until("line.created").await;
    assert_eq!(names(&b), ["line.created"]);
    assert!(!format!("{u:?}{b:?}").contains("secret-qr"));
    // The gauge counts open streams.
    assert_eq!(app.state.metrics().sse_clients(), 4);
    drop((s_admin, s_u2, s_u3, s_b));
    for _ in 0..50 {
        // Streams end at the next event after their client left.
        app.state.bus().publish(ServerEvent::SubscriptionChanged {
            member_id: "x".into(),
            plan: "tick".into(),
            lines_allowed: 0,
            trial_ends_at: None,
        });
        if app.state.metrics().sse_clients() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.state.metrics().sse_clients(), 0);
}
