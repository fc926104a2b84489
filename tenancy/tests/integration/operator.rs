//! Storage for operators' messages from Bitrix24 Open Lines, identical on every backend: the
//! conversation an external chat id names, messages queued as the operator's, and their ticks
//! queued for Bitrix24 once, in the transaction of the receipt.

use tenancy::{
    B24MessageLink, B24OutboxKind, B24OutboxState, Error, MessageKind, MessageNote, MessageStatus,
    Outbound,
};

use crate::support::{ADMIN, ALICE, Env, SYSTEM, at, inbound};

crate::on_every_backend!(
    an_external_chat_id_names_a_conversation_by_jid_or_phone,
    operator_messages_are_the_operators_and_their_ticks_go_back_once,
    edits_and_revokes_of_our_messages_are_recorded,
);

async fn an_external_chat_id_names_a_conversation_by_jid_or_phone(env: Env) {
    let t = env.tenant("op", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    let other = t.create_line(ADMIN, "Other", None, at(2)).await.unwrap();
    let jid = "5511987654321@s.whatsapp.net";
    let m = t.record_inbound(SYSTEM, &inbound(line.id, jid, "W1", "hi"), at(3)).await.unwrap();
    let conversation = m.message.conversation_id;
    for chat in [jid, "5511987654321"] {
        let found = t.conversation_with(SYSTEM, line.id, chat).await.unwrap();
        assert_eq!(found.map(|c| c.id), Some(conversation), "{chat}");
    }
    assert_eq!(t.conversation_with(SYSTEM, line.id, "5511000000000").await.unwrap(), None);
    assert_eq!(t.conversation_with(SYSTEM, other.id, jid).await.unwrap(), None);
    // A user who does not work the line sees nothing of it.
    let err = t.conversation_with(ALICE, line.id, jid).await;
    assert!(matches!(err, Err(Error::NotFound(_) | Error::Forbidden(_))), "{err:?}");
}

async fn operator_messages_are_the_operators_and_their_ticks_go_back_once(env: Env) {
    let t = env.tenant("op", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    let jid = "5511987654321@s.whatsapp.net";
    let m = t.record_inbound(SYSTEM, &inbound(line.id, jid, "W1", "hi"), at(3)).await.unwrap();
    let conversation = m.message.conversation_id;
    let text = |s: &str| Outbound {
        kind: MessageKind::Text,
        text: Some(s.to_owned()),
        media: None,
        quoted_id: None,
    };
    // Only the server sends for an operator; the sender is the operator.
    let err = t.enqueue_for_operator(ADMIN, 27, conversation, &text("x"), "k0", at(4)).await;
    assert!(matches!(err, Err(Error::Forbidden(_))), "{err:?}");
    let (answer, _) = t
        .enqueue_for_operator(SYSTEM, 27, conversation, &text("Hello"), "b24:1:86497:t", at(4))
        .await
        .unwrap();
    assert_eq!(answer.sender, "operator:27");
    let (again, _) = t
        .enqueue_for_operator(SYSTEM, 27, conversation, &text("Hello"), "b24:1:86497:t", at(5))
        .await
        .unwrap();
    assert_eq!(again.id, answer.id, "the same key is the same message");
    // A panel reply, not linked to Bitrix24: its ticks stay here.
    let (panel, _) =
        t.enqueue(SYSTEM, conversation, &text("From the panel"), "p1", at(5)).await.unwrap();
    for (message, wa_id) in [(answer.id, "3EB0A1"), (panel.id, "3EB0A2")] {
        t.reserve_wa_id(SYSTEM, message, wa_id).await.unwrap();
    }
    let link = B24MessageLink {
        message_id: answer.id,
        line_id: line.id,
        b24_message_id: Some("86497".to_owned()),
        b24_chat_id: Some(1807),
        external_chat_id: "5511987654321".to_owned(),
        session_id: None,
    };
    t.link_b24_message(SYSTEM, &link, at(6)).await.unwrap();
    let ticks = || async {
        let mut items =
            t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 100).await.unwrap();
        items.retain(|i| {
            matches!(i.kind, B24OutboxKind::StatusDelivery | B24OutboxKind::StatusReading)
        });
        items
    };
    // Linked after it was delivered: the tick is queued on demand, and a receipt later too.
    t.update_status(SYSTEM, line.id, "3EB0A1", MessageStatus::Delivered, b"{}", at(7))
        .await
        .unwrap();
    t.update_status(SYSTEM, line.id, "3EB0A2", MessageStatus::Read, b"{}", at(7)).await.unwrap();
    t.queue_operator_ticks(SYSTEM, answer.id, at(8)).await.unwrap();
    let queued = ticks().await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].kind, B24OutboxKind::StatusDelivery);
    assert_eq!(queued[0].message_id, Some(answer.id));
    let payload: serde_json::Value = serde_json::from_str(&queued[0].payload).unwrap();
    assert_eq!(
        payload["messages"][0],
        serde_json::json!({
            "im": {"chat_id": 1807, "message_id": 86497},
            "message": {"id": ["3EB0A1"], "date": 0},
            "chat": {"id": "5511987654321"},
        })
    );
    // Read: the reading tick, once however often it is asked.
    t.update_status(SYSTEM, line.id, "3EB0A1", MessageStatus::Read, b"{}", at(9_000))
        .await
        .unwrap();
    t.queue_operator_ticks(SYSTEM, answer.id, at(9_500)).await.unwrap();
    let queued = ticks().await;
    let kinds: Vec<_> = queued.iter().map(|i| i.kind).collect();
    assert_eq!(kinds, [B24OutboxKind::StatusDelivery, B24OutboxKind::StatusReading]);
    assert!(matches!(
        t.queue_operator_ticks(ADMIN, answer.id, at(10)).await,
        Err(Error::Forbidden(_))
    ));
}

async fn edits_and_revokes_of_our_messages_are_recorded(env: Env) {
    let t = env.tenant("op", 5).await;
    let line = t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    let jid = "5511987654321@s.whatsapp.net";
    let m = t.record_inbound(SYSTEM, &inbound(line.id, jid, "W1", "hi"), at(3)).await.unwrap();
    let text = Outbound {
        kind: MessageKind::Text,
        text: Some("Tomorrow".to_owned()),
        media: None,
        quoted_id: None,
    };
    let (ours, _) = t
        .enqueue_for_operator(SYSTEM, 27, m.message.conversation_id, &text, "k1", at(4))
        .await
        .unwrap();
    let record = serde_json::json!({"action": "update", "im": {"message_id": 86497}});
    let err = t.record_edited(ADMIN, ours.id, "x", &record, at(5)).await;
    assert!(matches!(err, Err(Error::Forbidden(_))), "{err:?}");
    // Only ours: a customer's message is not changed this way.
    let err = t.record_revoked(SYSTEM, m.message.id, &record, at(5)).await;
    assert!(matches!(err, Err(Error::NotFound(_))), "{err:?}");
    let edited = t.record_edited(SYSTEM, ours.id, "The day after", &record, at(5)).await.unwrap();
    assert_eq!(
        (edited.text.as_deref(), edited.note),
        (Some("The day after"), Some(MessageNote::Edited))
    );
    let revoked = t.record_revoked(SYSTEM, ours.id, &record, at(6)).await.unwrap();
    assert_eq!(
        (revoked.text.as_deref(), revoked.note),
        (Some("The day after"), Some(MessageNote::Revoked))
    );
    assert_eq!(t.message(SYSTEM, ours.id).await.unwrap(), revoked);
    let audit = t
        .audit_query(
            ADMIN,
            &tenancy::audit::Query {
                kind: Some(tenancy::audit::Kind::ConnectorEvent),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(audit.records.len(), 2);
}
