//! Messages are never lost or stuck (issue 16, items 9 to 12): an inbound message that cannot be
//! stored as it came is stored as well as it can be, acked, and the line goes on; a customer who
//! reinstalls WhatsApp is heard and the chat says their security code changed; a stopped line's
//! queue holds up no other line; a line that is not connected queues sends (202), and an
//! idempotency key reused with another body is refused with 422.

use serde_json::json;
use tenancy::{Caller, LineId, MessageKind, MessageNote, MessageStatus, audit};
use wab24::{events::ServerEvent, runtime::LineState};

use crate::{
    app::{ALPHA, start},
    runtime::{
        ADMIN, CUSTOMER, LINE_PHONE, MEMBER, companion_delivered, env, eventually, expect, pair,
        stored_event, text,
    },
};

const OTHER_CUSTOMER: &str = "15550004002";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_and_huge_texts_are_stored_and_the_line_keeps_taking_messages() {
    let env = env().await;
    env.sim.create_account(OTHER_CUSTOMER, Some("300000000000002")).unwrap();
    let (runtime, mut events) = env.runtime();
    pair(&env, &runtime, &mut events).await;
    let mut watch = runtime.subscribe();

    // 40,000 Cyrillic characters (80 KB) are a legal WhatsApp text: stored whole.
    let cyrillic = "щ".repeat(40_000);
    let long_id = env.sim.phone_send(CUSTOMER, text(LINE_PHONE, &cyrillic)).await.unwrap();
    let (long, conversation, _) = stored_event(&mut events).await;
    let tenant = env.tenant().await;
    let stored = tenant.message(ADMIN, long).await.unwrap();
    assert_eq!((stored.text.as_deref(), stored.note), (Some(cyrillic.as_str()), None));
    assert_eq!(stored.wa_id.as_deref(), Some(long_id.as_str()));

    // 1 MB: the start is stored, marked truncated, the reason audited, and the message acked.
    let huge = "ю".repeat(500_000);
    let huge_id = env.sim.phone_send(CUSTOMER, text(LINE_PHONE, &huge)).await.unwrap();
    let (cut, same_conversation, _) = stored_event(&mut events).await;
    assert_eq!(same_conversation, conversation);
    let stored = tenant.message(ADMIN, cut).await.unwrap();
    assert_eq!(stored.note, Some(MessageNote::Truncated));
    let kept = stored.text.unwrap();
    assert!(kept.len() <= tenancy::MAX_INBOUND_TEXT && huge.starts_with(&kept));
    let query = audit::Query {
        limit: 10,
        kind: Some(audit::Kind::MessageAdjusted),
        ..audit::Query::default()
    };
    let adjusted = tenant.audit_query(ADMIN, &query).await.unwrap().records;
    assert_eq!(adjusted.len(), 1);
    assert_eq!(adjusted[0].subject, format!("message:{cut}"));
    eventually("the huge message acked to the customer", async || {
        companion_delivered(&env, &huge_id)
    })
    .await;

    // Another customer's next message is stored, and the line never dropped.
    env.sim.phone_send(OTHER_CUSTOMER, text(LINE_PHONE, "next customer")).await.unwrap();
    let (next, other_conversation, unread) = stored_event(&mut events).await;
    assert_ne!(other_conversation, conversation);
    assert_eq!(unread, 1);
    assert_eq!(tenant.message(ADMIN, next).await.unwrap().text.as_deref(), Some("next customer"));
    assert_eq!(runtime.status(MEMBER, env.line_id), Some(LineState::Connected));
    while let Ok(event) = watch.try_recv() {
        assert!(
            !matches!(&*event, ServerEvent::LineStatus { state, .. } if *state != LineState::Connected),
            "the line left the connected state: {event:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_reinstalls_whatsapp_is_heard_and_the_chat_says_so() {
    let env = env().await;
    let (runtime, mut events) = env.runtime();
    pair(&env, &runtime, &mut events).await;
    env.sim.phone_send(CUSTOMER, text(LINE_PHONE, "before")).await.unwrap();
    let (before, conversation, _) = stored_event(&mut events).await;

    env.sim.reinstall_phone(CUSTOMER).unwrap();
    let after_id = env.sim.phone_send(CUSTOMER, text(LINE_PHONE, "after")).await.unwrap();
    let (notice, notice_conversation, _) = stored_event(&mut events).await;
    let (after, after_conversation, unread) = stored_event(&mut events).await;
    assert_eq!((notice_conversation, after_conversation), (conversation, conversation));
    assert_eq!(unread, 2, "the notice is not counted as unread");
    let tenant = env.tenant().await;
    let notice = tenant.message(ADMIN, notice).await.unwrap();
    assert_eq!(
        (notice.kind, notice.note, notice.wa_id),
        (MessageKind::System, Some(MessageNote::IdentityChanged), None)
    );
    let after = tenant.message(ADMIN, after).await.unwrap();
    assert_eq!(after.text.as_deref(), Some("after"));
    let history = tenant.history(ADMIN, conversation, None, 10).await.unwrap();
    let order: Vec<i64> = history.messages.iter().rev().map(|m| m.id).collect();
    assert_eq!(order, [before, notice.id, after.id]);
    eventually("the new phone gets the delivery receipt", async || {
        companion_delivered(&env, &after_id)
    })
    .await;
    let query = audit::Query {
        limit: 10,
        kind: Some(audit::Kind::IdentityChanged),
        ..audit::Query::default()
    };
    let records = tenant.audit_query(ADMIN, &query).await.unwrap().records;
    assert_eq!(records.len(), 1);
    assert!(String::from_utf8_lossy(&records[0].payload).contains(CUSTOMER));

    // The answer reaches the new phone.
    let reply = runtime
        .send_text(MEMBER, ADMIN, conversation, "welcome back", None, "k-welcome")
        .await
        .unwrap();
    expect(&mut events, |e| match e {
        ServerEvent::MessageStatus { message_id: id, status: MessageStatus::Sent, .. }
            if *id == reply.id =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    eventually("the reply decrypted on the new phone", async || {
        env.sim
            .phone_received(CUSTOMER)
            .unwrap()
            .iter()
            .any(|r| r.text.as_deref() == Some("welcome back") && r.error.is_none())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_line_with_300_queued_messages_does_not_delay_another_line() {
    let env = env().await;
    let tenant = env.tenant().await;
    let now = time::OffsetDateTime::now_utc();
    // A second line that never runs, with 300 messages queued to its customer.
    let stopped: LineId = tenant.create_line(ADMIN, "Stopped", None, now).await.unwrap().id;
    let inbound = tenancy::Inbound {
        line_id: stopped,
        jid: "15550009999@s.whatsapp.net".into(),
        phone: None,
        push_name: None,
        wa_id: "STOPPED-1".into(),
        kind: MessageKind::Text,
        text: Some("hello".into()),
        media: None,
        quoted_wa_id: None,
        raw: b"{}".to_vec(),
        note: None,
    };
    let waiting = tenant.record_inbound(Caller::System, &inbound, now).await.unwrap();
    let (runtime, mut events) = env.runtime();
    for n in 0..300 {
        runtime
            .send_text(
                MEMBER,
                ADMIN,
                waiting.message.conversation_id,
                "queued",
                None,
                &format!("q{n}"),
            )
            .await
            .unwrap();
    }
    assert!(runtime.status(MEMBER, stopped).is_none());

    // The running line's message goes out at once.
    pair(&env, &runtime, &mut events).await;
    env.sim.phone_send(CUSTOMER, text(LINE_PHONE, "anyone there?")).await.unwrap();
    let (_, conversation, _) = stored_event(&mut events).await;
    let reply =
        runtime.send_text(MEMBER, ADMIN, conversation, "yes!", None, "k-yes").await.unwrap();
    expect(&mut events, |e| match e {
        ServerEvent::MessageStatus { message_id: id, status: MessageStatus::Sent, .. }
            if *id == reply.id =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    let pending = tenant.pending_outbox(Caller::System, 200).await.unwrap();
    assert_eq!(pending.len(), 200, "the stopped line's queue is still there");
    assert!(pending.iter().all(|item| item.line_id == stopped));
}

#[tokio::test]
async fn a_line_that_is_not_connected_queues_and_a_reused_key_with_another_body_is_422() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    let conv = app.inbound(ALPHA, line, "79160000777@s.whatsapp.net", "Ana", "IN-1", "hi").await;
    let path = format!("/api/conversations/{conv}/messages");
    let send = |text: &str| json!({"text": text, "idempotency_key": "reused"});

    // Never connected: queued all the same.
    let first = app.call("POST", &path, Some(&admin), Some(send("hello"))).await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(
        (first.json()["status"].clone(), first.json()["note"].clone()),
        (json!("pending"), json!(null))
    );
    let again = app.call("POST", &path, Some(&admin), Some(send("hello"))).await;
    assert_eq!((again.status, again.json()["id"].clone()), (202, first.json()["id"].clone()));
    let other = app.call("POST", &path, Some(&admin), Some(send("goodbye"))).await;
    assert_eq!(other.status, 422, "{}", other.body);
    assert_eq!(other.json()["error"]["code"], "unprocessable");
    assert!(
        other.json()["error"]["message"].as_str().unwrap().contains("idempotency key"),
        "{}",
        other.body
    );
    let history = app.get(&format!("{path}?limit=10"), &admin).await.json();
    let out = history["messages"].as_array().unwrap().iter().filter(|m| m["direction"] == "out");
    assert_eq!(out.count(), 1, "nothing more was queued");
}
