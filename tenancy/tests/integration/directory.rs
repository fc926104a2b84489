//! The portal's people and departments: lines assigned to a department, the access list, users
//! deactivated in the portal, and the responsible person per conversation.

use tenancy::{
    AccessList, Caller, Department, Error, LineSettings, PortalUser, ResponsibleMode, audit,
};

use crate::support::{ADMIN, ALICE, BOB, Env, SYSTEM, at, inbound};

crate::on_every_backend!(
    department_members_and_those_below_see_the_line,
    moving_a_user_out_of_the_department_takes_the_line_away,
    the_access_list_admits_listed_users_and_departments_and_admins_always,
    a_complete_listing_marks_users_the_portal_dropped_inactive,
    responsible_first_to_answer_is_whoever_answers_first,
    responsible_evenly_goes_round_the_department,
);

const CAROL: Caller = Caller::User(4);

/// Company (1) > Sales (2) > Retail (3); Support (4) under Company.
fn tree() -> Vec<Department> {
    let d = |id, name: &str, parent| Department { id, name: name.to_owned(), parent, head: None };
    vec![
        d(1, "Company", None),
        d(2, "Sales", Some(1)),
        d(3, "Retail", Some(2)),
        d(4, "Support", Some(1)),
    ]
}

fn user(id: i64, departments: &[i64]) -> PortalUser {
    PortalUser {
        id,
        name: format!("User {id}"),
        active: true,
        avatar: Some(format!("https://cdn.test/{id}.png")),
        departments: departments.to_vec(),
    }
}

async fn directory(t: &tenancy::Tenant, users: &[PortalUser]) {
    t.sync_directory(SYSTEM, Some(&tree()), users, true, at(1)).await.unwrap();
}

fn to_department(d: i64) -> LineSettings {
    LineSettings { assigned_department: Some(Some(d)), ..LineSettings::default() }
}

async fn department_members_and_those_below_see_the_line(env: Env) {
    let t = env.tenant("dept", 3).await;
    // Alice in Sales, Bob in Retail (below Sales), Carol in Support.
    directory(&t, &[user(2, &[2]), user(3, &[3]), user(4, &[4])]).await;
    let line = t.create_line(ADMIN, "Sales line", None, at(2)).await.unwrap();
    assert!(matches!(
        t.set_line_settings(ADMIN, line.id, &to_department(99), at(3)).await,
        Err(Error::NotFound("department"))
    ));
    assert!(matches!(
        t.set_line_settings(ALICE, line.id, &to_department(2), at(3)).await,
        Err(Error::Forbidden(_))
    ));
    let set = t.set_line_settings(ADMIN, line.id, &to_department(2), at(3)).await.unwrap();
    assert_eq!(set.assigned_department, Some(2));
    t.record_inbound(SYSTEM, &inbound(line.id, "100@s.whatsapp.net", "w1", "hi"), at(4))
        .await
        .unwrap();
    for member in [ALICE, BOB] {
        assert_eq!(t.lines(member).await.unwrap().len(), 1, "{member:?}");
        let conv = t.conversations(member, line.id).await.unwrap().remove(0);
        t.conversation(member, conv.id).await.unwrap();
        assert_eq!(t.search_contacts(member, "100", 10).await.unwrap().len(), 1);
        assert_eq!(t.search_messages(member, "hi", 10).await.unwrap().len(), 1);
    }
    assert!(t.lines(CAROL).await.unwrap().is_empty());
    assert!(matches!(t.line(CAROL, line.id).await, Err(Error::NotFound("line"))));
    assert!(t.search_messages(CAROL, "hi", 10).await.unwrap().is_empty());
    // A member reading the chat clears its unread count: the department works it.
    let conv = t.conversations(BOB, line.id).await.unwrap().remove(0);
    assert!(t.mark_read(BOB, conv.id, at(5)).await.unwrap().cleared);
    // The change is audited with both values; clearing it takes the line away.
    let records = t.audit_query(ADMIN, &audit::Query::default()).await.unwrap().records;
    assert!(records.iter().any(|r| {
        r.kind == audit::Kind::LineSettingsChanged
            && String::from_utf8_lossy(&r.payload)
                .contains("\"assigned_department\":{\"from\":null,\"to\":2}")
    }));
    let cleared = LineSettings { assigned_department: Some(None), ..LineSettings::default() };
    t.set_line_settings(ADMIN, line.id, &cleared, at(6)).await.unwrap();
    assert!(t.lines(BOB).await.unwrap().is_empty());
}

async fn moving_a_user_out_of_the_department_takes_the_line_away(env: Env) {
    let t = env.tenant("move", 3).await;
    directory(&t, &[user(2, &[3]), user(3, &[4])]).await;
    let line = t.create_line(ADMIN, "Sales line", None, at(2)).await.unwrap();
    t.set_line_settings(ADMIN, line.id, &to_department(2), at(3)).await.unwrap();
    assert_eq!(t.lines(ALICE).await.unwrap().len(), 1);
    // One user re-read (a refresh): Alice moved to Support.
    t.sync_directory(SYSTEM, Some(&tree()), &[user(2, &[4])], false, at(4)).await.unwrap();
    assert!(t.lines(ALICE).await.unwrap().is_empty());
    // The tree changes instead: Support moves under Sales, and Bob (in Support) reaches it.
    let mut moved = tree();
    moved[3].parent = Some(2);
    t.sync_directory(SYSTEM, Some(&moved), &[], false, at(5)).await.unwrap();
    assert_eq!(t.lines(BOB).await.unwrap().len(), 1);
    let dir = t.directory(ADMIN).await.unwrap();
    assert_eq!(dir.iter().find(|u| u.id == 2).unwrap().departments, vec![4]);
    assert_eq!(t.departments(ADMIN).await.unwrap().len(), 4);
    assert!(matches!(t.directory(ALICE).await, Err(Error::Forbidden(_))));
}

async fn the_access_list_admits_listed_users_and_departments_and_admins_always(env: Env) {
    let t = env.tenant("acl", 1).await;
    directory(&t, &[user(1, &[1]), user(2, &[3]), user(3, &[4]), user(4, &[1])]).await;
    // Empty: everyone.
    for u in [2, 3, 4] {
        assert!(t.standing(u, false).await.unwrap().allowed);
    }
    assert!(matches!(
        t.set_access_list(ALICE, &AccessList::default(), at(2)).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        t.set_access_list(ADMIN, &AccessList { users: vec![77], departments: vec![] }, at(2)).await,
        Err(Error::NotFound("user"))
    ));
    assert!(matches!(
        t.set_access_list(ADMIN, &AccessList { users: vec![], departments: vec![77] }, at(2)).await,
        Err(Error::NotFound("department"))
    ));
    let too_many = AccessList { users: (0..1001).collect(), departments: vec![] };
    assert!(matches!(
        t.set_access_list(ADMIN, &too_many, at(2)).await,
        Err(Error::InvalidInput(_))
    ));
    // Sales (with Retail below it) and user 4.
    let list = AccessList { users: vec![4, 4], departments: vec![2] };
    let saved = t.set_access_list(ADMIN, &list, at(3)).await.unwrap();
    assert_eq!(saved, AccessList { users: vec![4], departments: vec![2] });
    assert_eq!(t.access_list(ADMIN).await.unwrap(), saved);
    assert!(t.standing(2, false).await.unwrap().allowed, "Retail lies under Sales");
    assert!(!t.standing(3, false).await.unwrap().allowed, "Support does not");
    assert!(t.standing(4, false).await.unwrap().allowed);
    assert!(t.standing(3, true).await.unwrap().allowed, "administrators always");
    let q = audit::Query { kind: Some(audit::Kind::AccessChanged), ..audit::Query::default() };
    let records = t.audit_query(ADMIN, &q).await.unwrap().records;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor, "admin:1");
}

async fn a_complete_listing_marks_users_the_portal_dropped_inactive(env: Env) {
    let t = env.tenant("gone", 1).await;
    directory(&t, &[user(2, &[2]), user(3, &[2])]).await;
    assert!(t.standing(3, false).await.unwrap().active);
    assert_eq!(t.standing(3, false).await.unwrap().synced_at, Some(1));
    // Bob deactivated, Carol gone from the listing: both lose access.
    let mut bob = user(3, &[2]);
    bob.active = false;
    let lost = t.sync_directory(SYSTEM, Some(&tree()), &[user(2, &[2]), bob], true, at(9)).await;
    assert_eq!(lost.unwrap(), vec![3]);
    assert!(!t.standing(3, false).await.unwrap().active);
    assert!(t.user_gone(SYSTEM, 2, at(10)).await.unwrap());
    assert!(!t.standing(2, false).await.unwrap().active);
    assert!(matches!(t.user_gone(ADMIN, 2, at(10)).await, Err(Error::Forbidden(_))));
    // user.get never lists integrators: an administrator missing from it is not marked gone.
    t.upsert_user(SYSTEM, &tenancy::User { id: 1, name: "Admin".into(), is_admin: true }, at(11))
        .await
        .unwrap();
    assert!(t.sync_directory(SYSTEM, None, &[], true, at(12)).await.unwrap().is_empty());
    assert!(!t.user_gone(SYSTEM, 1, at(12)).await.unwrap());
    assert!(t.standing(1, true).await.unwrap().active);
    // A user the tenant never saw is not refused for it.
    let unknown = t.standing(55, false).await.unwrap();
    assert!(unknown.active && unknown.synced_at.is_none());
}

async fn responsible_first_to_answer_is_whoever_answers_first(env: Env) {
    let t = env.tenant("first", 1).await;
    directory(&t, &[user(2, &[2]), user(3, &[2])]).await;
    let line = t.create_line(ADMIN, "Sales line", None, at(2)).await.unwrap();
    assert_eq!(line.responsible_mode, ResponsibleMode::FirstToAnswer);
    t.assign_line(ADMIN, line.id, Some(2), at(2)).await.unwrap();
    t.set_line_settings(ADMIN, line.id, &to_department(2), at(3)).await.unwrap();
    let m = t
        .record_inbound(SYSTEM, &inbound(line.id, "100@s.whatsapp.net", "w1", "hi"), at(4))
        .await
        .unwrap();
    let conv = m.message.conversation_id;
    // Before anyone answers: the assigned user, not stored.
    assert_eq!(t.choose_responsible(SYSTEM, conv).await.unwrap(), Some(2));
    assert_eq!(t.conversation_responsible(BOB, conv).await.unwrap(), Some(2));
    // Bob answers first, then Alice: Bob stays responsible.
    t.enqueue_text(BOB, conv, "hello", "k1", at(5)).await.unwrap();
    t.enqueue_text(ALICE, conv, "me too", "k2", at(6)).await.unwrap();
    assert_eq!(t.conversation_responsible(ALICE, conv).await.unwrap(), Some(3));
    assert_eq!(t.choose_responsible(SYSTEM, conv).await.unwrap(), Some(3));
    assert!(matches!(t.choose_responsible(BOB, conv).await, Err(Error::Forbidden(_))));
    assert!(matches!(
        t.conversation_responsible(Caller::User(9), conv).await,
        Err(Error::NotFound(_))
    ));
}

async fn responsible_evenly_goes_round_the_department(env: Env) {
    let t = env.tenant("evenly", 1).await;
    // Alice and Bob in Sales, Carol in Retail (below Sales), user 5 inactive in Sales.
    let mut inactive = user(5, &[2]);
    inactive.active = false;
    directory(&t, &[user(2, &[2]), user(3, &[2]), user(4, &[3]), inactive]).await;
    let line = t.create_line(ADMIN, "Sales line", None, at(2)).await.unwrap();
    let settings = LineSettings {
        assigned_department: Some(Some(2)),
        responsible_mode: Some(ResponsibleMode::Evenly),
        ..LineSettings::default()
    };
    t.set_line_settings(ADMIN, line.id, &settings, at(3)).await.unwrap();
    let mut chosen = vec![];
    for i in 0..5 {
        let m = t
            .record_inbound(
                SYSTEM,
                &inbound(line.id, &format!("10{i}@s.whatsapp.net"), &format!("w{i}"), "hi"),
                at(4 + i),
            )
            .await
            .unwrap();
        let conv = m.message.conversation_id;
        let first = t.choose_responsible(SYSTEM, conv).await.unwrap();
        // Chosen once: asking again, or answering, changes nothing.
        t.enqueue_text(ALICE, conv, "hello", &format!("k{i}"), at(20 + i)).await.unwrap();
        assert_eq!(t.choose_responsible(SYSTEM, conv).await.unwrap(), first);
        assert_eq!(t.conversation_responsible(ADMIN, conv).await.unwrap(), first);
        chosen.push(first.unwrap());
    }
    assert_eq!(chosen, vec![2, 3, 4, 2, 3]);
}
