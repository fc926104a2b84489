//! The storage of the Open Channels connector, identical on every backend: where a line's
//! conversations go, the outbox towards Bitrix24, message links and handled events.

use std::time::Duration;

use tenancy::{
    B24Enqueue, B24MessageLink, B24OutboxKind, B24OutboxState, Error, LineSettings, LineStatus,
    MessageKind, MessageNote, OpenChannel, OpenChannelStatus, OpenLineChange, WaAmended,
    WaAmendment, WaChange, audit,
};

use crate::support::{ADMIN, ALICE, Env, SYSTEM, at, inbound};

crate::on_every_backend!(
    lines_choose_where_conversations_go,
    inbound_messages_of_a_fed_line_are_queued_with_them,
    outbox_claims_in_order_and_resumes_after_a_crash,
    events_to_confirm_neither_wait_nor_are_waited_for,
    outbox_completion_links_and_audits_failure_keeps_the_error,
    outbox_keys_make_each_call_once,
    message_links_are_one_to_one,
    events_are_seen_once_even_concurrently,
    the_connector_status_follows_whatsapp,
    messages_sent_from_the_phone_are_outbound_and_go_to_the_open_line,
    panel_replies_go_to_the_open_line_once_whatsapp_has_them,
    the_operator_signature_is_a_line_setting,
    whatsapp_amendments_change_the_senders_message_once,
);

fn feed(open_channel: OpenChannel, open_line_id: Option<i64>) -> LineSettings {
    LineSettings {
        open_channel: Some(open_channel),
        open_line_id: Some(open_line_id),
        ..LineSettings::default()
    }
}

async fn lines_choose_where_conversations_go(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    let other = t.create_line(ADMIN, "Support", None, at(2)).await.unwrap();
    assert_eq!(
        (line.open_channel, line.open_line_id, line.open_channel_status),
        (OpenChannel::Panel, None, OpenChannelStatus::Off),
        "today's behaviour is the default"
    );
    // An Open Channel needs an Open Line; users may not choose.
    let err = t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::OpenLine, None), at(3)).await;
    assert!(matches!(err, Err(Error::InvalidInput(_))), "{err:?}");
    let err = t.set_line_settings(ALICE, line.id, &feed(OpenChannel::Both, Some(7)), at(3)).await;
    assert!(matches!(err, Err(Error::Forbidden(_))), "{err:?}");
    let err = t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::Both, Some(0)), at(3)).await;
    assert!(matches!(err, Err(Error::InvalidInput(_))), "{err:?}");
    let fed = t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::Both, Some(7)), at(4)).await;
    let fed = fed.unwrap();
    assert_eq!((fed.open_channel, fed.open_line_id), (OpenChannel::Both, Some(7)));
    assert_eq!(t.line(ADMIN, line.id).await.unwrap(), fed);
    assert_eq!(t.line_for_open_line(SYSTEM, 7).await.unwrap().id, line.id);
    assert!(matches!(t.line_for_open_line(SYSTEM, 8).await, Err(Error::NotFound(_))));
    // One line per Open Line (Bitrix24 activates one connector per Open Line).
    let err =
        t.set_line_settings(ADMIN, other.id, &feed(OpenChannel::OpenLine, Some(7)), at(5)).await;
    assert!(matches!(err, Err(Error::InvalidInput(_))), "{err:?}");
    // Each change of the Open Line fed is queued for Bitrix24 with the previous one.
    let queued = t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].kind, B24OutboxKind::ConnectorStatus);
    // A persisted format: the worker of another version reads it.
    // (Each test runs once per backend in one process, so the same snapshot is seen twice.)
    insta::allow_duplicates! {
        insta::assert_snapshot!(queued[0].payload, @r#"{"open_channel":"both","open_line_id":7,"previous_open_line_id":null,"line_status":"new"}"#);
    }
    // Back to the panel: deactivation queued, the Open Line kept for next time; no-op is silent.
    let panel = LineSettings { open_channel: Some(OpenChannel::Panel), ..LineSettings::default() };
    let back = t.set_line_settings(ADMIN, line.id, &panel, at(6)).await.unwrap();
    assert_eq!((back.open_channel, back.open_line_id), (OpenChannel::Panel, Some(7)));
    t.set_line_settings(ADMIN, line.id, &panel, at(7)).await.unwrap();
    let queued = t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 10).await.unwrap();
    assert_eq!(queued.len(), 2);
    let payload: serde_json::Value = serde_json::from_str(&queued[1].payload).unwrap();
    assert_eq!(
        (payload["open_channel"].as_str(), payload["previous_open_line_id"].as_i64()),
        (Some("panel"), Some(7))
    );
    // Now the other line may take it.
    t.set_line_settings(ADMIN, other.id, &feed(OpenChannel::OpenLine, Some(7)), at(8))
        .await
        .unwrap();
    let q = audit::Query {
        kind: Some(audit::Kind::LineSettingsChanged),
        limit: 10,
        ..audit::Query::default()
    };
    let records = t.audit_query(ADMIN, &q).await.unwrap().records;
    assert_eq!(records.len(), 3);
    let first: serde_json::Value = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(
        first,
        serde_json::json!({
            "open_channel": {"from": "panel", "to": "both"},
            "open_line_id": {"from": null, "to": 7},
        })
    );
}

async fn inbound_messages_of_a_fed_line_are_queued_with_them(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    let jid = "5511987654321@s.whatsapp.net";
    t.record_inbound(SYSTEM, &inbound(line.id, jid, "W1", "panel only"), at(3)).await.unwrap();
    assert_eq!(t.b24_outbox_backlog(SYSTEM).await.unwrap(), 0, "a panel line queues nothing");
    t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::OpenLine, Some(3)), at(4))
        .await
        .unwrap();
    let status = t.claim_b24_outbox(SYSTEM, 10, Duration::from_secs(30), at(4)).await.unwrap();
    t.complete_b24_outbox(SYSTEM, status[0].id, None, &serde_json::json!({}), at(4)).await.unwrap();
    let m = t.record_inbound(SYSTEM, &inbound(line.id, jid, "W2", "hello"), at(5)).await.unwrap();
    // A redelivery is not queued twice; a reaction has no place in an Open Lines chat.
    t.record_inbound(SYSTEM, &inbound(line.id, jid, "W2", "hello"), at(6)).await.unwrap();
    let mut reaction = inbound(line.id, jid, "W3", "👍");
    reaction.kind = MessageKind::Reaction;
    reaction.quoted_wa_id = Some("W2".to_owned());
    t.record_inbound(SYSTEM, &reaction, at(7)).await.unwrap();
    // A location and contact cards are stored under their kind, as text, and go on too.
    let mut place = inbound(line.id, jid, "W4", "MASP\n-23.561414, -46.655881");
    place.kind = MessageKind::Location;
    let mut card = inbound(line.id, jid, "W5", "Ana\n+55 11 98765-4321");
    card.kind = MessageKind::Contact;
    for (record, kind) in [(&place, "location"), (&card, "contact")] {
        let stored = t.record_inbound(SYSTEM, record, at(8)).await.unwrap().message;
        let read = t.message(SYSTEM, stored.id).await.unwrap();
        assert_eq!((read.kind.as_str(), read.text), (kind, record.text.clone()));
    }
    let queued = t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 10).await.unwrap();
    assert_eq!(queued.len(), 3, "{queued:?}");
    assert_eq!(queued[0].kind, B24OutboxKind::SendMessage);
    assert_eq!(queued[0].message_id, Some(m.message.id));
    assert_eq!(queued[0].idempotency_key, format!("send_message:{}", m.message.id));
    assert_eq!(queued[0].next_attempt_at, 5, "due at once");
    insta::allow_duplicates! {
        insta::assert_snapshot!(queued[0].payload, @r#"{"open_line_id":3}"#);
    }
}

async fn outbox_claims_in_order_and_resumes_after_a_crash(mut env: Env) {
    let t = env.tenant("oc", 5).await;
    let one = t.create_line(ADMIN, "One", None, at(2)).await.unwrap();
    let two = t.create_line(ADMIN, "Two", None, at(2)).await.unwrap();
    let item = |line_id: i64, key: &str| B24Enqueue {
        line_id,
        message_id: None,
        kind: B24OutboxKind::DataSet,
        payload: "{}".to_owned(),
        idempotency_key: key.to_owned(),
    };
    for (line, key) in [(one.id, "a"), (one.id, "b"), (two.id, "c")] {
        assert!(t.enqueue_b24(SYSTEM, &item(line, key), at(10)).await.unwrap().1);
    }
    let lease = Duration::from_secs(30);
    let claimed = t.claim_b24_outbox(SYSTEM, 2, lease, at(10)).await.unwrap();
    let keys: Vec<&str> = claimed.iter().map(|i| i.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["a", "b"], "oldest first");
    assert!(claimed.iter().all(|i| i.state == B24OutboxState::Sending && i.attempts == 1));
    assert_eq!(claimed[0].next_attempt_at, 10 + 30_000, "the lease");
    // Claimed items are not claimed again while their lease runs.
    let next = t.claim_b24_outbox(SYSTEM, 10, lease, at(20)).await.unwrap();
    assert_eq!(next.iter().map(|i| i.idempotency_key.as_str()).collect::<Vec<_>>(), ["c"]);
    t.complete_b24_outbox(SYSTEM, next[0].id, None, &serde_json::json!({}), at(21)).await.unwrap();
    // "a" fails and backs off: "b" of the same line waits for it, even when its lease ends.
    t.retry_b24_outbox(SYSTEM, claimed[0].id, "HTTP 503", at(100_000), at(30)).await.unwrap();
    assert!(t.claim_b24_outbox(SYSTEM, 10, lease, at(40_000)).await.unwrap().is_empty());
    let a = t.b24_outbox_item(SYSTEM, claimed[0].id).await.unwrap();
    assert_eq!((a.state, a.last_error.as_deref()), (B24OutboxState::Pending, Some("HTTP 503")));
    // A restart: the store is opened again; everything unfinished is claimed once due.
    env.reopen().await;
    let t = env.store.tenant(t.member_id()).await.unwrap();
    let resumed = t.claim_b24_outbox(SYSTEM, 10, lease, at(100_000)).await.unwrap();
    let keys: Vec<&str> = resumed.iter().map(|i| i.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["a", "b"], "what was done stays done");
    assert_eq!(resumed.iter().map(|i| i.attempts).collect::<Vec<_>>(), [2, 2]);
    assert!(matches!(t.claim_b24_outbox(ALICE, 10, lease, at(1)).await, Err(Error::Forbidden(_))));
    assert!(matches!(
        t.claim_b24_outbox(SYSTEM, 0, lease, at(1)).await,
        Err(Error::InvalidInput(_))
    ));
}

/// A connector event to confirm (`confirm_event`, a read of the portal) is claimed while an
/// older call of its line backs off, and holds none of the line's later calls back; an event the
/// portal did not confirm is audited as such.
async fn events_to_confirm_neither_wait_nor_are_waited_for(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "One", None, at(2)).await.unwrap();
    let item = |kind: B24OutboxKind, key: &str| B24Enqueue {
        line_id: line.id,
        message_id: None,
        kind,
        payload: "{}".to_owned(),
        idempotency_key: key.to_owned(),
    };
    for (kind, key) in [
        (B24OutboxKind::DataSet, "a"),
        (B24OutboxKind::ConfirmEvent, "confirm"),
        (B24OutboxKind::DataSet, "b"),
    ] {
        t.enqueue_b24(SYSTEM, &item(kind, key), at(10)).await.unwrap();
    }
    let lease = Duration::from_secs(30);
    let first = t.claim_b24_outbox(SYSTEM, 1, lease, at(10)).await.unwrap();
    assert_eq!(first[0].idempotency_key, "a");
    t.retry_b24_outbox(SYSTEM, first[0].id, "HTTP 503", at(100_000), at(11)).await.unwrap();
    let next = t.claim_b24_outbox(SYSTEM, 10, lease, at(20)).await.unwrap();
    let keys: Vec<&str> = next.iter().map(|i| i.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["confirm"], "the event does not wait; \"b\" waits for \"a\"");
    assert_eq!(next[0].kind, B24OutboxKind::ConfirmEvent);
    // The event backs off too: "a", once due, does not wait for it.
    t.retry_b24_outbox(SYSTEM, next[0].id, "HTTP 503", at(500_000), at(21)).await.unwrap();
    let due = t.claim_b24_outbox(SYSTEM, 10, lease, at(100_000)).await.unwrap();
    let keys: Vec<&str> = due.iter().map(|i| i.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);

    let record = serde_json::json!({"event": "ONIMCONNECTORSTATUSDELETE", "reason": "active"});
    t.record_unconfirmed_connector_event(SYSTEM, Some(line.id), &record, at(30)).await.unwrap();
    assert!(matches!(
        t.record_unconfirmed_connector_event(ALICE, None, &record, at(30)).await,
        Err(Error::Forbidden(_))
    ));
    let q = audit::Query {
        kind: Some(audit::Kind::ConnectorEventUnconfirmed),
        limit: 10,
        ..Default::default()
    };
    let records = t.audit_query(ADMIN, &q).await.unwrap().records;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].subject, format!("line:{}", line.id));
}

async fn outbox_completion_links_and_audits_failure_keeps_the_error(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::OpenLine, Some(3)), at(3))
        .await
        .unwrap();
    let jid = "5511987654321@s.whatsapp.net";
    let m1 = t.record_inbound(SYSTEM, &inbound(line.id, jid, "W1", "one"), at(4)).await.unwrap();
    let m2 = t.record_inbound(SYSTEM, &inbound(line.id, jid, "W2", "two"), at(5)).await.unwrap();
    let claimed = t.claim_b24_outbox(SYSTEM, 10, Duration::from_secs(30), at(6)).await.unwrap();
    assert_eq!(claimed.len(), 3, "the activation, then both messages");
    let link = B24MessageLink {
        message_id: m1.message.id,
        line_id: line.id,
        b24_message_id: None,
        b24_chat_id: Some(55),
        external_chat_id: "5511987654321".to_owned(),
        session_id: Some(12),
    };
    let answer = serde_json::json!({ "method": "imconnector.send.messages", "session_id": 12 });
    assert!(t.complete_b24_outbox(SYSTEM, claimed[0].id, None, &answer, at(7)).await.unwrap());
    assert!(
        t.complete_b24_outbox(SYSTEM, claimed[1].id, Some(&link), &answer, at(7)).await.unwrap()
    );
    assert!(
        !t.complete_b24_outbox(SYSTEM, claimed[1].id, Some(&link), &answer, at(8)).await.unwrap(),
        "completing twice changes nothing"
    );
    assert_eq!(t.b24_link_for_message(SYSTEM, m1.message.id).await.unwrap(), Some(link.clone()));
    assert_eq!(t.b24_link_for_b24_message(SYSTEM, line.id, "902").await.unwrap(), None);
    // A refusal for good: failed, with its error, audited.
    t.fail_b24_outbox(SYSTEM, claimed[2].id, "ERROR_ARGUMENT: bad", at(9)).await.unwrap();
    let failed = t.b24_outbox_item(SYSTEM, claimed[2].id).await.unwrap();
    assert_eq!(failed.state, B24OutboxState::Failed);
    assert_eq!(failed.message_id, Some(m2.message.id));
    assert_eq!(failed.last_error.as_deref(), Some("ERROR_ARGUMENT: bad"));
    assert!(matches!(
        t.retry_b24_outbox(SYSTEM, failed.id, "x", at(10), at(10)).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(t.b24_outbox_backlog(SYSTEM).await.unwrap(), 0);
    let q =
        audit::Query { kind: Some(audit::Kind::ConnectorCall), limit: 10, ..Default::default() };
    let records = t.audit_query(ADMIN, &q).await.unwrap().records;
    assert_eq!(records.len(), 3);
    let sent: serde_json::Value = serde_json::from_slice(&records[1].payload).unwrap();
    assert_eq!(sent["answer"]["session_id"], 12);
    assert_eq!(sent["kind"], "send_message");
    let refused: serde_json::Value = serde_json::from_slice(&records[2].payload).unwrap();
    assert_eq!(refused["error"], "ERROR_ARGUMENT: bad");
    // An error is kept to 1 KiB.
    let m3 = t.record_inbound(SYSTEM, &inbound(line.id, jid, "W3", "three"), at(11)).await.unwrap();
    let claimed = t.claim_b24_outbox(SYSTEM, 10, Duration::from_secs(30), at(12)).await.unwrap();
    assert_eq!(claimed[0].message_id, Some(m3.message.id));
    t.retry_b24_outbox(SYSTEM, claimed[0].id, &"é".repeat(2000), at(13), at(12)).await.unwrap();
    let kept = t.b24_outbox_item(SYSTEM, claimed[0].id).await.unwrap().last_error.unwrap();
    assert_eq!(kept.len(), 1024);
    t.verify_audit(ADMIN).await.unwrap();
}

async fn outbox_keys_make_each_call_once(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    let item = B24Enqueue {
        line_id: line.id,
        message_id: None,
        kind: B24OutboxKind::StatusDelivery,
        payload: r#"{"b24_message_id":"77"}"#.to_owned(),
        idempotency_key: "status_delivery:77".to_owned(),
    };
    let (first, new) = t.enqueue_b24(SYSTEM, &item, at(3)).await.unwrap();
    assert!(new);
    let (again, new) = t.enqueue_b24(SYSTEM, &item, at(4)).await.unwrap();
    assert!(!new);
    assert_eq!(again, first);
    let other = B24Enqueue { payload: r#"{"b24_message_id":"78"}"#.to_owned(), ..item.clone() };
    assert!(matches!(t.enqueue_b24(SYSTEM, &other, at(5)).await, Err(Error::IdempotencyKeyReused)));
    // Untrusted sizes and shapes get typed errors, nothing is queued.
    for bad in [
        B24Enqueue { idempotency_key: String::new(), ..item.clone() },
        B24Enqueue { idempotency_key: "k".repeat(129), ..item.clone() },
        B24Enqueue {
            payload: "not json".to_owned(),
            idempotency_key: "x".to_owned(),
            ..item.clone()
        },
    ] {
        assert!(matches!(t.enqueue_b24(SYSTEM, &bad, at(6)).await, Err(Error::InvalidInput(_))));
    }
    let missing = B24Enqueue { line_id: 999, idempotency_key: "y".to_owned(), ..item.clone() };
    assert!(matches!(t.enqueue_b24(SYSTEM, &missing, at(6)).await, Err(Error::NotFound("line"))));
    assert!(matches!(t.enqueue_b24(ADMIN, &item, at(6)).await, Err(Error::Forbidden(_))));
    assert_eq!(t.b24_outbox_backlog(SYSTEM).await.unwrap(), 1);
}

async fn message_links_are_one_to_one(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    let other = t.create_line(ADMIN, "Other", None, at(2)).await.unwrap();
    let jid = "5511987654321@s.whatsapp.net";
    let m1 = t.record_inbound(SYSTEM, &inbound(line.id, jid, "W1", "one"), at(3)).await.unwrap();
    let m2 = t.record_inbound(SYSTEM, &inbound(line.id, jid, "W2", "two"), at(3)).await.unwrap();
    let link = B24MessageLink {
        message_id: m1.message.id,
        line_id: line.id,
        b24_message_id: Some("500".to_owned()),
        b24_chat_id: None,
        external_chat_id: "5511987654321".to_owned(),
        session_id: None,
    };
    t.link_b24_message(SYSTEM, &link, at(4)).await.unwrap();
    t.link_b24_message(SYSTEM, &link, at(5)).await.unwrap();
    let same_b24 = B24MessageLink { message_id: m2.message.id, ..link.clone() };
    let err = t.link_b24_message(SYSTEM, &same_b24, at(6)).await;
    assert!(matches!(err, Err(Error::IdempotencyKeyReused)), "{err:?}");
    let same_ours = B24MessageLink { b24_message_id: Some("501".to_owned()), ..link.clone() };
    let err = t.link_b24_message(SYSTEM, &same_ours, at(6)).await;
    assert!(matches!(err, Err(Error::IdempotencyKeyReused)), "{err:?}");
    // The same Bitrix24 id on another line is another message.
    let elsewhere = B24MessageLink { line_id: other.id, message_id: m2.message.id, ..link.clone() };
    let err = t.link_b24_message(SYSTEM, &elsewhere, at(7)).await;
    assert!(matches!(err, Err(Error::InvalidInput(_))), "a message links on its own line: {err:?}");
    let unknown =
        B24MessageLink { message_id: 999, b24_message_id: Some("9".to_owned()), ..link.clone() };
    assert!(matches!(t.link_b24_message(SYSTEM, &unknown, at(7)).await, Err(Error::NotFound(_))));
    let empty = B24MessageLink { b24_message_id: Some(String::new()), ..link.clone() };
    assert!(matches!(t.link_b24_message(SYSTEM, &empty, at(7)).await, Err(Error::InvalidInput(_))));
    assert!(matches!(t.b24_link_for_message(ADMIN, m1.message.id).await, Err(Error::Forbidden(_))));
}

async fn events_are_seen_once_even_concurrently(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    assert!(t.mark_b24_event_seen(SYSTEM, line.id, "700", "add", at(3)).await.unwrap());
    assert!(!t.mark_b24_event_seen(SYSTEM, line.id, "700", "add", at(4)).await.unwrap());
    assert!(t.mark_b24_event_seen(SYSTEM, line.id, "700", "update", at(4)).await.unwrap());
    let racers = (0..8).map(|_| {
        let t = t.clone();
        tokio::spawn(
            async move { t.mark_b24_event_seen(SYSTEM, line.id, "701", "add", at(5)).await },
        )
    });
    let mut firsts = 0;
    for racer in racers.collect::<Vec<_>>() {
        firsts += usize::from(racer.await.unwrap().unwrap());
    }
    assert_eq!(firsts, 1);
    let long = "9".repeat(129);
    assert!(matches!(
        t.mark_b24_event_seen(SYSTEM, line.id, &long, "add", at(6)).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        t.mark_b24_event_seen(SYSTEM, 999, "1", "add", at(6)).await,
        Err(Error::NotFound("line"))
    ));
}

async fn the_connector_status_follows_whatsapp(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    let panel = t.create_line(ADMIN, "Panel", None, at(2)).await.unwrap();
    t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::OpenLine, Some(4)), at(3))
        .await
        .unwrap();
    let lease = Duration::from_secs(1);
    let activation = t.claim_b24_outbox(SYSTEM, 10, lease, at(3)).await.unwrap();
    t.complete_b24_outbox(SYSTEM, activation[0].id, None, &serde_json::json!({}), at(3))
        .await
        .unwrap();
    for (status, when) in [
        (LineStatus::Pairing, 4),
        (LineStatus::Connected, 5),
        (LineStatus::Connected, 6),
        (LineStatus::Disconnected, 7),
        (LineStatus::LoggedOut, 8),
    ] {
        t.set_line_status(SYSTEM, line.id, status, b"{}", at(when)).await.unwrap();
        t.set_line_status(SYSTEM, panel.id, status, b"{}", at(when)).await.unwrap();
    }
    // Only the crossings of "connected" are news for Bitrix24; a panel line tells it nothing.
    let queued = t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 10).await.unwrap();
    let states: Vec<String> = queued
        .iter()
        .map(|i| {
            serde_json::from_str::<serde_json::Value>(&i.payload).unwrap()["line_status"]
                .to_string()
        })
        .collect();
    assert_eq!(states, [r#""connected""#, r#""disconnected""#]);
    assert!(
        t.b24_outbox_items(SYSTEM, panel.id, B24OutboxState::Pending, 10).await.unwrap().is_empty()
    );
    let shown = t.set_open_channel_status(SYSTEM, line.id, OpenChannelStatus::Error).await.unwrap();
    assert_eq!(shown.open_channel_status, OpenChannelStatus::Error);
    assert_eq!(t.line(ADMIN, line.id).await.unwrap().open_channel_status, OpenChannelStatus::Error);
    assert!(matches!(
        t.set_open_channel_status(ADMIN, line.id, OpenChannelStatus::Active).await,
        Err(Error::Forbidden(_))
    ));
}

async fn messages_sent_from_the_phone_are_outbound_and_go_to_the_open_line(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    t.assign_line(ADMIN, line.id, Some(2), at(2)).await.unwrap();
    let jid = "5511987654321@s.whatsapp.net";
    let mut customer = inbound(line.id, jid, "C1", "hello");
    customer.push_name = Some("Ana".to_owned());
    t.record_inbound(SYSTEM, &customer, at(3)).await.unwrap();
    t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::Both, Some(9)), at(4)).await.unwrap();
    let mut own = inbound(line.id, jid, "P1", "our answer from the phone");
    own.push_name = Some("Our Shop".to_owned());
    let r = t.record_sent_from_phone(SYSTEM, &own, at(5)).await.unwrap();
    assert!(r.new);
    assert_eq!(r.unread, 1, "the customer's message is still unread; ours counts nothing");
    assert_eq!(r.message.direction, tenancy::Direction::Outbound);
    assert_eq!(r.message.status, tenancy::MessageStatus::Sent);
    assert_eq!(r.message.sender, "phone");
    let conv = t.conversation(ALICE, r.message.conversation_id).await.unwrap();
    assert_eq!(conv.contact.push_name.as_deref(), Some("Ana"), "our name is not the customer's");
    assert_eq!(conv.last_message_id, Some(r.message.id));
    // Seen again: nothing new, nothing queued twice.
    assert!(!t.record_sent_from_phone(SYSTEM, &own, at(6)).await.unwrap().new);
    let queued = t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 10).await.unwrap();
    let sends: Vec<_> = queued.iter().filter(|i| i.kind == B24OutboxKind::SendMessage).collect();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].message_id, Some(r.message.id));
    assert!(matches!(t.record_sent_from_phone(ADMIN, &own, at(7)).await, Err(Error::Forbidden(_))));
}

async fn panel_replies_go_to_the_open_line_once_whatsapp_has_them(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    t.assign_line(ADMIN, line.id, Some(2), at(2)).await.unwrap();
    let jid = "5511987654321@s.whatsapp.net";
    let conv = t.record_inbound(SYSTEM, &inbound(line.id, jid, "C1", "hi"), at(3)).await.unwrap();
    let conv = conv.message.conversation_id;
    t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::Both, Some(9)), at(4)).await.unwrap();
    let sends = |t: tenancy::Tenant| async move {
        t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 50)
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.kind == B24OutboxKind::SendMessage)
            .filter_map(|i| i.message_id)
            .collect::<Vec<_>>()
    };
    let (reply, item) =
        t.enqueue_text(ALICE, conv, "hello from the panel", "k1", at(5)).await.unwrap();
    assert!(sends(t.clone()).await.is_empty(), "not before WhatsApp has it");
    t.complete_send(SYSTEM, item.id, "OUT1", at(6)).await.unwrap();
    assert_eq!(sends(t.clone()).await, [reply.id]);
    // What the server sends for the Open Line's operators is there already: not mirrored.
    let (_, item) =
        t.enqueue_text(SYSTEM, conv, "from an operator", "b24:1:77:t", at(7)).await.unwrap();
    t.complete_send(SYSTEM, item.id, "OUT2", at(8)).await.unwrap();
    assert_eq!(sends(t.clone()).await, [reply.id]);
}

async fn the_operator_signature_is_a_line_setting(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    assert!(line.open_channel_signature, "operators sign their messages by default");
    let off = LineSettings { open_channel_signature: Some(false), ..LineSettings::default() };
    let err = t.set_line_settings(ALICE, line.id, &off, at(3)).await;
    assert!(matches!(err, Err(Error::Forbidden(_))), "{err:?}");
    let changed = t.set_line_settings(ADMIN, line.id, &off, at(4)).await.unwrap();
    assert!(!changed.open_channel_signature);
    assert_eq!(t.line(ADMIN, line.id).await.unwrap(), changed);
    // Other settings leave it as it is; it is not a change of the Open Line fed.
    let fed = t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::Both, Some(9)), at(5)).await;
    assert!(!fed.unwrap().open_channel_signature);
    assert!(!t.line_for_open_line(SYSTEM, 9).await.unwrap().open_channel_signature);
    t.set_line_settings(ADMIN, line.id, &off, at(6)).await.unwrap();
    let q = audit::Query {
        kind: Some(audit::Kind::LineSettingsChanged),
        limit: 10,
        ..audit::Query::default()
    };
    let records = t.audit_query(ADMIN, &q).await.unwrap().records;
    assert_eq!(records.len(), 2, "the same value again records nothing");
    let first: serde_json::Value = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(first, serde_json::json!({"open_channel_signature": {"from": true, "to": false}}));
    let statuses = t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 10).await.unwrap();
    assert_eq!(statuses.len(), 1, "only the Open Line change is queued for Bitrix24");
}

async fn whatsapp_amendments_change_the_senders_message_once(env: Env) {
    let t = env.tenant("oc", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    t.set_line_settings(ADMIN, line.id, &feed(OpenChannel::Both, Some(9)), at(2)).await.unwrap();
    let jid = "5511987654321@s.whatsapp.net";
    let mut photo = inbound(line.id, jid, "C1", "caption");
    photo.kind = MessageKind::Image;
    photo.media = Some(tenancy::Media {
        path: "in/1/C1".into(),
        mime: "image/jpeg".into(),
        size: 3,
        sha256: [7; 32],
    });
    let theirs = t.record_inbound(SYSTEM, &photo, at(3)).await.unwrap().message;
    let stranger = inbound(line.id, "7@s.whatsapp.net", "D1", "x");
    let other = t.record_inbound(SYSTEM, &stranger, at(3)).await.unwrap().message;
    let amendment = |wa_id: &str, target: &str, change: WaChange| WaAmendment {
        line_id: line.id,
        jid: jid.to_owned(),
        from_me: false,
        wa_id: wa_id.to_owned(),
        target_wa_id: target.to_owned(),
        change,
        raw: b"{\"event\":\"message\"}".to_vec(),
    };
    let element = serde_json::json!({"message": {"id": "C1"}});
    let change = OpenLineChange { message_id: theirs.id, element: element.clone() };
    let edit = amendment("E1", "C1", WaChange::Edit("new caption".into()));
    assert!(matches!(
        t.record_wa_amendment(ADMIN, &edit, None, at(4)).await,
        Err(Error::Forbidden(_))
    ));
    let WaAmended::Changed(edited) =
        t.record_wa_amendment(SYSTEM, &edit, Some(&change), at(4)).await.unwrap()
    else {
        panic!("not changed")
    };
    assert_eq!(
        (edited.text.as_deref(), edited.note),
        (Some("new caption"), Some(MessageNote::Edited))
    );
    assert!(edited.media.is_some(), "an edit changes the caption only");
    // Delivered again after a later edit: changes nothing.
    let later = amendment("E2", "C1", WaChange::Edit("newer".into()));
    t.record_wa_amendment(SYSTEM, &later, Some(&change), at(5)).await.unwrap();
    let again = t.record_wa_amendment(SYSTEM, &edit, Some(&change), at(6)).await.unwrap();
    assert!(
        matches!(again, WaAmended::Unchanged(ref m) if m.text.as_deref() == Some("newer")),
        "{again:?}"
    );
    // Only the sender: another customer's message, or a chat that is not its own, is unknown.
    let foreign = amendment("E3", "D1", WaChange::Revoke);
    assert_eq!(
        t.record_wa_amendment(SYSTEM, &foreign, None, at(7)).await.unwrap(),
        WaAmended::Unknown
    );
    assert_eq!(t.message(SYSTEM, other.id).await.unwrap().note, None);
    // A revoke empties the customer's message; a second one changes nothing.
    let revoke = amendment("R1", "C1", WaChange::Revoke);
    let WaAmended::Changed(revoked) =
        t.record_wa_amendment(SYSTEM, &revoke, Some(&change), at(8)).await.unwrap()
    else {
        panic!("not revoked")
    };
    assert_eq!(
        (revoked.text, revoked.media, revoked.note),
        (None, None, Some(MessageNote::Revoked))
    );
    let edit_after = amendment("E4", "C1", WaChange::Edit("too late".into()));
    let unchanged = t.record_wa_amendment(SYSTEM, &edit_after, Some(&change), at(9)).await.unwrap();
    assert!(matches!(unchanged, WaAmended::Unchanged(ref m) if m.text.is_none()));
    // The Open Line got the message, so each change is queued for it, once.
    let queued = t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 50).await.unwrap();
    let kinds: Vec<_> = queued
        .iter()
        .filter(|i| i.message_id == Some(theirs.id))
        .map(|i| (i.kind, i.idempotency_key.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (B24OutboxKind::SendMessage, format!("send_message:{}", theirs.id)),
            (B24OutboxKind::UpdateMessage, format!("update_message:{}:E1", theirs.id)),
            (B24OutboxKind::UpdateMessage, format!("update_message:{}:E2", theirs.id)),
            (B24OutboxKind::DeleteMessage, format!("delete_message:{}", theirs.id)),
        ]
    );
    let update = queued.iter().find(|i| i.kind == B24OutboxKind::UpdateMessage).unwrap();
    let payload: serde_json::Value = serde_json::from_str(&update.payload).unwrap();
    assert_eq!(payload, serde_json::json!({"open_line_id": 9, "messages": [element]}));
    // What it said is audited.
    let q = audit::Query {
        kind: Some(audit::Kind::MessageReceived),
        subject: Some(format!("message:{}", theirs.id)),
        limit: 10,
        ..audit::Query::default()
    };
    let records = t.audit_query(ADMIN, &q).await.unwrap().records;
    let revoke_record: serde_json::Value =
        serde_json::from_slice(&records.iter().rev().nth(1).unwrap().payload).unwrap();
    assert_eq!(revoke_record["previous"]["text"], "newer");
    assert_eq!(revoke_record["previous"]["media"]["path"], "in/1/C1");
}
