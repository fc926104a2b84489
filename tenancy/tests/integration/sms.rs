//! The CRM's messages through a line's message provider (Bitrix24 `messageservice`): the link
//! from Bitrix24's MESSAGE_ID to our message, and the statuses queued for
//! `messageservice.message.status.update` (RD `api-reference/messageservice/`
//! `messageservice-message-status-update.md`: sent, delivered, failed; no "read"), on every
//! backend.

use serde_json::Value;
use tenancy::{B24OutboxKind, B24OutboxState, Error, MessageKind, MessageStatus, Outbound};

use crate::support::{ADMIN, Env, SYSTEM, at};

crate::on_every_backend!(
    a_linked_message_queues_sent_and_delivered_once,
    a_refused_message_queues_failed_and_repeats_change_nothing,
);

const JID: &str = "79160000501@s.whatsapp.net";
const PHONE: &str = "79160000501";

async fn sms_statuses(t: &tenancy::Tenant, line: i64) -> Vec<(String, String)> {
    t.b24_outbox_items(SYSTEM, line, B24OutboxState::Pending, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == B24OutboxKind::SmsStatus)
        .map(|i| {
            let p: Value = serde_json::from_str(&i.payload).unwrap();
            (p["message_id"].as_str().unwrap().to_owned(), p["status"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn a_linked_message_queues_sent_and_delivered_once(env: Env) {
    let t = env.tenant("a", 2).await;
    let line = t.create_line(ADMIN, "Sales", None, at(1)).await.unwrap();
    let (c, _) = t.open_conversation(ADMIN, line.id, JID, PHONE, at(2)).await.unwrap();
    let text = Outbound {
        kind: MessageKind::Text,
        text: Some("Your order".to_owned()),
        media: None,
        quoted_id: None,
    };
    let (m, item) = t.enqueue(ADMIN, c.id, &text, "sms:wab24_line_1:abc", at(3)).await.unwrap();
    assert!(t.link_sms(SYSTEM, line.id, "wab24_line_1", "abc", m.id, at(3)).await.unwrap());
    assert!(!t.link_sms(SYSTEM, line.id, "wab24_line_1", "abc", m.id, at(3)).await.unwrap());
    assert_eq!(
        t.sms_message(SYSTEM, "wab24_line_1", "abc").await.unwrap(),
        Some((line.id, Some(m.id)))
    );
    assert_eq!(t.sms_message(SYSTEM, "wab24_line_2", "abc").await.unwrap(), None);
    assert!(sms_statuses(&t, line.id).await.is_empty(), "pending: nothing yet");
    t.complete_send(SYSTEM, item.id, "WA1", at(4)).await.unwrap();
    t.update_status(SYSTEM, line.id, "WA1", MessageStatus::Delivered, b"{}", at(5)).await.unwrap();
    t.update_status(SYSTEM, line.id, "WA1", MessageStatus::Read, b"{}", at(6)).await.unwrap();
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(sms_statuses(&t, line.id).await, [s("abc", "sent"), s("abc", "delivered")]);
    // Only the server records them; ids are bounded.
    assert!(matches!(
        t.link_sms(ADMIN, line.id, "wab24_line_1", "abd", m.id, at(3)).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        t.link_sms(SYSTEM, line.id, "wab24_line_1", &"x".repeat(65), m.id, at(3)).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        t.fail_sms(SYSTEM, line.id, "wab 24", "abe", at(3)).await,
        Err(Error::InvalidInput(_))
    ));
}

async fn a_refused_message_queues_failed_and_repeats_change_nothing(env: Env) {
    let t = env.tenant("a", 2).await;
    let line = t.create_line(ADMIN, "Sales", None, at(1)).await.unwrap();
    assert!(t.fail_sms(SYSTEM, line.id, "wab24_line_1", "f1", at(2)).await.unwrap());
    assert!(!t.fail_sms(SYSTEM, line.id, "wab24_line_1", "f1", at(3)).await.unwrap());
    assert_eq!(t.sms_message(SYSTEM, "wab24_line_1", "f1").await.unwrap(), Some((line.id, None)));
    assert_eq!(sms_statuses(&t, line.id).await, [("f1".to_owned(), "failed".to_owned())]);
}
