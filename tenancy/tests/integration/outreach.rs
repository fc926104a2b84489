//! Writing first: a conversation opened by phone number, and what the anti-ban guard reads
//! about cold outreach (our messages to customers who never wrote), on every backend.

use tenancy::{Error, MessageKind, Outbound};

use crate::support::{ADMIN, ALICE, BOB, Env, SYSTEM, at, inbound};

crate::on_every_backend!(
    a_conversation_opened_by_number_is_found_again_and_by_the_customer,
    cold_outreach_lists_messages_to_customers_who_never_wrote,
);

fn text(body: &str) -> Outbound {
    Outbound { kind: MessageKind::Text, text: Some(body.to_owned()), media: None, quoted_id: None }
}

const JID: &str = "79160000401@s.whatsapp.net";
const PHONE: &str = "79160000401";

async fn a_conversation_opened_by_number_is_found_again_and_by_the_customer(env: Env) {
    let t = env.tenant("a", 2).await;
    let line = t.create_line(ADMIN, "Sales", None, at(1)).await.unwrap();
    t.assign_line(ADMIN, line.id, Some(2), at(1)).await.unwrap();
    let (opened, created) = t.open_conversation(ALICE, line.id, JID, PHONE, at(5)).await.unwrap();
    assert!(created);
    assert_eq!((opened.contact.jid.as_str(), opened.contact.phone.as_deref()), (JID, Some(PHONE)));
    assert_eq!((opened.unread, opened.last_message_at), (0, Some(5)));
    // Again, by the administrator: the same one.
    let (again, created) = t.open_conversation(ADMIN, line.id, JID, PHONE, at(6)).await.unwrap();
    assert_eq!((again.id, created), (opened.id, false));
    // Listed on the line.
    assert_eq!(t.conversations(ALICE, line.id).await.unwrap().len(), 1);
    // Only the line's assigned user and administrators; never the server on its own.
    assert!(matches!(
        t.open_conversation(BOB, line.id, JID, PHONE, at(6)).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        t.open_conversation(SYSTEM, line.id, JID, PHONE, at(6)).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        t.open_conversation(ADMIN, line.id, &"9".repeat(200), PHONE, at(6)).await,
        Err(Error::InvalidInput(_))
    ));
    // The customer answers: the same conversation.
    let recorded =
        t.record_inbound(SYSTEM, &inbound(line.id, JID, "w1", "hi"), at(7)).await.unwrap();
    assert_eq!(recorded.message.conversation_id, opened.id);
}

async fn cold_outreach_lists_messages_to_customers_who_never_wrote(env: Env) {
    let t = env.tenant("a", 2).await;
    let line = t.create_line(ADMIN, "Sales", None, at(1)).await.unwrap();
    let other = t.create_line(ADMIN, "Other", None, at(1)).await.unwrap();
    let (cold, _) = t.open_conversation(ADMIN, line.id, JID, PHONE, at(2)).await.unwrap();
    let (cold2, _) = t
        .open_conversation(ADMIN, line.id, "79160000402@s.whatsapp.net", "79160000402", at(2))
        .await
        .unwrap();
    let (elsewhere, _) = t.open_conversation(ADMIN, other.id, JID, PHONE, at(2)).await.unwrap();
    let warm = t
        .record_inbound(
            SYSTEM,
            &inbound(line.id, "79160000409@s.whatsapp.net", "w9", "hello"),
            at(3),
        )
        .await
        .unwrap()
        .message
        .conversation_id;
    t.enqueue(ADMIN, cold.id, &text("offer 1"), "k1", at(10)).await.unwrap();
    t.enqueue(ADMIN, cold2.id, &text("offer 2"), "k2", at(20)).await.unwrap();
    t.enqueue(ADMIN, warm, &text("reply"), "k3", at(30)).await.unwrap();
    t.enqueue(ADMIN, elsewhere.id, &text("other line"), "k4", at(40)).await.unwrap();

    let o = t.cold_outreach(ADMIN, cold.id, at(0), Some("k1")).await.unwrap();
    assert!(o.cold && o.already_queued);
    assert_eq!(o.line_id, line.id);
    let listed: Vec<(i64, i64)> = o.sent.iter().map(|s| (s.at, s.conversation_id)).collect();
    assert_eq!(listed, [(10, cold.id), (20, cold2.id)]);
    // Since a later time; another key.
    let o = t.cold_outreach(ADMIN, cold.id, at(15), Some("new")).await.unwrap();
    assert_eq!((o.sent.len(), o.already_queued), (1, false));
    // A customer who wrote is not cold.
    assert!(!t.cold_outreach(ADMIN, warm, at(0), None).await.unwrap().cold);
    // Once the customer answers, their messages no longer count.
    t.record_inbound(SYSTEM, &inbound(line.id, JID, "w1", "yes?"), at(50)).await.unwrap();
    let o = t.cold_outreach(ADMIN, cold2.id, at(0), None).await.unwrap();
    assert_eq!(o.sent.iter().map(|s| s.conversation_id).collect::<Vec<_>>(), [cold2.id]);
    assert!(!t.cold_outreach(ADMIN, cold.id, at(0), None).await.unwrap().cold);
    // Scoped like the conversation.
    assert!(matches!(t.cold_outreach(BOB, cold.id, at(0), None).await, Err(Error::NotFound(_))));
}
