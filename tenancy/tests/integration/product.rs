//! Product rules of the storage, identical on every backend: unread counts belong to whoever
//! works the line, per-line settings, and search by phone as displayed and by message text.

use tenancy::{Caller, Error, LineSettings, MessageKind, MessageStatus, audit};

use crate::support::{ADMIN, ALICE, BOB, Env, SYSTEM, at, inbound};

crate::on_every_backend!(
    unread_belongs_to_whoever_works_the_line,
    line_settings_are_for_administrators_and_audited,
    search_finds_phones_as_displayed_and_message_text,
);

async fn unread_belongs_to_whoever_works_the_line(env: Env) {
    let t = env.tenant("read", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    t.assign_line(ADMIN, line.id, Some(2), at(3)).await.unwrap();
    let jid = "79160000001@s.whatsapp.net";
    for (i, wa) in ["W1", "W2"].into_iter().enumerate() {
        t.record_inbound(SYSTEM, &inbound(line.id, jid, wa, "hi"), at(10 + i as i64))
            .await
            .unwrap();
    }
    let conv = t.conversations(ALICE, line.id).await.unwrap().remove(0);
    assert_eq!(conv.unread, 2);

    // An administrator looking at Alice's chat leaves her badge and the messages alone.
    let looked = t.mark_read(ADMIN, conv.id, at(20)).await.unwrap();
    assert_eq!((looked.cleared, looked.unread, looked.newly_read.len()), (false, 2, 0));
    assert_eq!(t.conversation(ALICE, conv.id).await.unwrap().unread, 2);
    let page = t.history(ALICE, conv.id, None, 10).await.unwrap();
    assert!(
        page.messages.iter().all(|m| m.status == MessageStatus::Delivered && m.read_at.is_none())
    );

    // Alice opens it: zero, and both inbound messages are read, oldest first, once.
    let read = t.mark_read(ALICE, conv.id, at(21)).await.unwrap();
    assert!(read.cleared);
    assert_eq!(read.unread, 0);
    assert_eq!(read.newly_read, ["W1", "W2"]);
    assert_eq!((read.chat.as_str(), read.line_id), (jid, line.id));
    assert!(read.send_read_receipts);
    let page = t.history(ALICE, conv.id, None, 10).await.unwrap();
    assert!(page.messages.iter().all(|m| m.status == MessageStatus::Read && m.read_at == Some(21)));
    assert!(t.mark_read(ALICE, conv.id, at(22)).await.unwrap().newly_read.is_empty());
    // Only what came since is read the next time.
    t.record_inbound(SYSTEM, &inbound(line.id, jid, "W3", "more"), at(23)).await.unwrap();
    assert_eq!(t.mark_read(ALICE, conv.id, at(24)).await.unwrap().newly_read, ["W3"]);

    // Bob cannot even see it; on a line nobody works the administrators own the count.
    assert!(matches!(t.mark_read(BOB, conv.id, at(25)).await, Err(Error::NotFound(_))));
    t.assign_line(ADMIN, line.id, None, at(26)).await.unwrap();
    t.record_inbound(SYSTEM, &inbound(line.id, jid, "W4", "anyone?"), at(27)).await.unwrap();
    let read = t.mark_read(ADMIN, conv.id, at(28)).await.unwrap();
    assert_eq!(
        (read.cleared, read.unread, read.newly_read.as_slice()),
        (true, 0, ["W4".to_owned()].as_slice())
    );
    // An administrator who is assigned the line is its agent.
    t.assign_line(ADMIN, line.id, Some(1), at(29)).await.unwrap();
    t.record_inbound(SYSTEM, &inbound(line.id, jid, "W5", "admin?"), at(30)).await.unwrap();
    assert!(t.mark_read(ADMIN, conv.id, at(31)).await.unwrap().cleared);
}

async fn line_settings_are_for_administrators_and_audited(env: Env) {
    let t = env.tenant("settings", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    assert!(line.send_read_receipts, "read receipts are on by default");
    t.assign_line(ADMIN, line.id, Some(2), at(3)).await.unwrap();
    let off = LineSettings { send_read_receipts: Some(false), ..LineSettings::default() };
    assert!(matches!(
        t.set_line_settings(ALICE, line.id, &off, at(4)).await,
        Err(Error::Forbidden(_))
    ));
    let changed = t.set_line_settings(ADMIN, line.id, &off, at(5)).await.unwrap();
    assert!(!changed.send_read_receipts);
    assert!(!t.line(ALICE, line.id).await.unwrap().send_read_receipts);
    assert!(!t.lines(ADMIN).await.unwrap()[0].send_read_receipts);
    // The same value again, or nothing asked: no change, no record.
    t.set_line_settings(ADMIN, line.id, &off, at(6)).await.unwrap();
    t.set_line_settings(ADMIN, line.id, &LineSettings::default(), at(6)).await.unwrap();
    let q = audit::Query {
        kind: Some(audit::Kind::LineSettingsChanged),
        limit: 10,
        ..audit::Query::default()
    };
    let records = t.audit_query(ADMIN, &q).await.unwrap().records;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].subject, format!("line:{}", line.id));
    let payload: serde_json::Value = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(payload["send_read_receipts"], serde_json::json!({"from": true, "to": false}));
    // The setting travels with the read outcome; the count is still cleared.
    t.record_inbound(SYSTEM, &inbound(line.id, "5@s.whatsapp.net", "W", "x"), at(7)).await.unwrap();
    let conv = t.conversations(ALICE, line.id).await.unwrap().remove(0);
    let read = t.mark_read(ALICE, conv.id, at(8)).await.unwrap();
    assert!(read.cleared && !read.send_read_receipts);
    assert!(matches!(
        t.set_line_settings(ADMIN, 999, &off, at(9)).await,
        Err(Error::NotFound("line"))
    ));
}

async fn search_finds_phones_as_displayed_and_message_text(env: Env) {
    let t = env.tenant("search", 5).await;
    let l1 = t.create_line(ADMIN, "L1", None, at(2)).await.unwrap();
    let l2 = t.create_line(ADMIN, "L2", None, at(2)).await.unwrap();
    t.assign_line(ADMIN, l1.id, Some(2), at(3)).await.unwrap();
    t.assign_line(ADMIN, l2.id, Some(3), at(3)).await.unwrap();
    for (line, phone, name, wa, text) in [
        (l1.id, "79160000001", "Мария", "a", "Есть ли Доставка в Казань?"),
        (l1.id, "79165550000", "Пётр", "b", "счёт оплачен, 100% предоплата"),
        (l2.id, "79260000001", "Ivan", "c", "ДОСТАВКА завтра"),
    ] {
        let mut m = inbound(line, &format!("{phone}@s.whatsapp.net"), wa, text);
        m.phone = Some(phone.to_owned());
        m.push_name = Some(name.to_owned());
        t.record_inbound(SYSTEM, &m, at(4)).await.unwrap();
    }
    // A reaction's emoji is no text to find.
    let mut reaction = inbound(l1.id, "79160000001@s.whatsapp.net", "r", "доставка");
    reaction.kind = MessageKind::Reaction;
    reaction.quoted_wa_id = Some("a".to_owned());
    t.record_inbound(SYSTEM, &reaction, at(5)).await.unwrap();

    let phones = async |caller: Caller, q: &str| {
        t.search_contacts(caller, q, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.phone.unwrap())
            .collect::<Vec<_>>()
    };
    // Typed as the panel displays it, or as people write it.
    assert_eq!(phones(ADMIN, "000-00-01").await, ["79160000001", "79260000001"]);
    assert_eq!(phones(ADMIN, "+7 916 000-00-01").await, ["79160000001"]);
    assert_eq!(phones(ADMIN, "+7 (916) 000-00-01").await, ["79160000001"]);
    assert_eq!(phones(ADMIN, "916 555").await, ["79165550000"]);
    assert_eq!(phones(ALICE, "000-00-01").await, ["79160000001"]);
    assert_eq!(phones(BOB, "000-00-01").await, ["79260000001"]);
    // Names in any case, Cyrillic included.
    assert_eq!(phones(ADMIN, "мария").await, ["79160000001"]);
    assert_eq!(phones(ADMIN, "ПЁТР").await, ["79165550000"]);
    // A separator alone is no phone number.
    assert!(phones(ADMIN, "-").await.is_empty());

    let texts = async |caller: Caller, q: &str| {
        t.search_messages(caller, q, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|h| {
                assert_eq!(h.conversation.id, h.message.conversation_id);
                h.message.text.unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(ADMIN, "доставка").await, ["ДОСТАВКА завтра", "Есть ли Доставка в Казань?"]);
    assert_eq!(texts(ALICE, "доставка").await, ["Есть ли Доставка в Казань?"]);
    assert_eq!(texts(BOB, "Доставка").await, ["ДОСТАВКА завтра"]);
    assert_eq!(texts(ALICE, "казань").await, ["Есть ли Доставка в Казань?"]);
    assert_eq!(texts(ADMIN, "100%").await, ["счёт оплачен, 100% предоплата"]);
    assert!(texts(ADMIN, "%").await.len() == 1, "wildcards are escaped");
    assert!(texts(ALICE, "zzz").await.is_empty());
    assert!(matches!(
        t.search_messages(ADMIN, &"x".repeat(129), 10).await,
        Err(Error::InvalidInput(_))
    ));
}
