//! The storage contract, identical on every backend.

use sqlx::Row;
use tenancy::{
    B24OutboxKind, B24OutboxState, Cleanup, CrmLink, CrmMode, CrmPolicy, Error, LineStatus,
    MAX_INBOUND_TEXT, Media, MessageKind, MessageNote, MessageStatus, Outbound, OutboxKind,
    PortalTokens, StatusChange, TenantStatus, audit,
};

use crate::support::{ADMIN, ALICE, BOB, Env, SYSTEM, at, inbound, install, pg_url};

crate::on_every_backend!(
    migrations_run_from_empty_and_are_idempotent,
    quota_error_names_current_and_maximum,
    users_cannot_manage_lines,
    reassignment_moves_full_history_and_keeps_unread,
    inbound_bumps_unread_once_and_mark_read_clears,
    status_only_moves_forward,
    history_pages_by_keyset,
    contact_search_is_scoped_and_escapes_wildcards,
    uninstall_keeps_data_for_reinstall,
    uninstall_clean_is_a_soft_delete_a_reinstall_restores,
    uninstall_clean_is_purged_after_the_grace_period,
    generations_move_and_sessions_can_be_revoked,
    blocked_tenant_cannot_be_opened,
    portal_tokens_are_encrypted_at_rest,
    plan_change_sets_quota_and_trial_and_is_audited,
    device_store_is_encrypted_and_bound_to_its_place,
    outbox_is_idempotent,
    outbound_replies_reactions_media_and_reserved_ids,
    every_operation_is_audited_and_tampering_is_detected,
    audit_chain_is_keyed_by_the_master_key,
    legacy_unkeyed_logs_are_sealed_once,
    untrusted_input_gets_typed_errors,
    long_inbound_texts_are_stored_whole_or_cut_and_marked,
    inbound_notes_from_the_runtime_are_kept_and_audited,
    identity_change_leaves_a_notice_and_an_audit_record,
    outbox_is_read_per_line,
    idempotency_key_with_another_request_is_refused,
    crm_policy_queues_routing_once_and_a_timeline_entry_per_day,
);

async fn migrations_run_from_empty_and_are_idempotent(env: Env) {
    let t = env.tenant("a", 1).await;
    assert_eq!(
        env.store.tenant_migrations(t.member_id()).await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
    // Installing again re-runs the migrator: nothing new is applied, data stays.
    t.create_line(ADMIN, "Sales", None, at(2)).await.unwrap();
    env.store.install(&install(t.member_id(), 1), at(3)).await.unwrap();
    assert_eq!(
        env.store.tenant_migrations(t.member_id()).await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
    assert_eq!(t.lines(ADMIN).await.unwrap().len(), 1);
}

async fn quota_error_names_current_and_maximum(env: Env) {
    let t = env.tenant("a", 2).await;
    t.create_line(ADMIN, "One", Some("+100"), at(2)).await.unwrap();
    t.create_line(ADMIN, "Two", None, at(2)).await.unwrap();
    let err = t.create_line(ADMIN, "Three", None, at(2)).await.unwrap_err();
    assert!(matches!(err, Error::QuotaExceeded { current: 2, max: 2 }), "{err:?}");
    assert_eq!(err.to_string(), "line quota reached: the tenant has 2 of 2 lines");
    // A deleted line frees its slot; raising the plan's quota allows more.
    let first = t.lines(ADMIN).await.unwrap()[0].id;
    t.delete_line(ADMIN, first, at(3)).await.unwrap();
    t.create_line(ADMIN, "Three", None, at(4)).await.unwrap();
    env.store.install(&install(t.member_id(), 3), at(5)).await.unwrap();
    t.create_line(ADMIN, "Four", None, at(6)).await.unwrap();
    assert_eq!(t.lines(ADMIN).await.unwrap().len(), 3);
}

async fn plan_change_sets_quota_and_trial_and_is_audited(env: Env) {
    let t = env.tenant("plan", 1).await;
    t.create_line(ADMIN, "One", None, at(2)).await.unwrap();
    assert!(matches!(
        t.create_line(ADMIN, "Two", None, at(2)).await,
        Err(Error::QuotaExceeded { current: 1, max: 1 })
    ));
    let info = env.store.set_plan(t.member_id(), "pro", 2, Some(99_000), at(3)).await.unwrap();
    assert_eq!((info.plan.as_str(), info.line_quota, info.trial_ends_at), ("pro", 2, Some(99_000)));
    t.create_line(ADMIN, "Two", None, at(4)).await.unwrap();
    assert!(matches!(
        t.create_line(ADMIN, "Three", None, at(4)).await,
        Err(Error::QuotaExceeded { current: 2, max: 2 })
    ));
    // Lowering keeps the lines there are; only new ones are refused.
    env.store.set_plan(t.member_id(), "basic", 1, None, at(5)).await.unwrap();
    assert_eq!(t.lines(ADMIN).await.unwrap().len(), 2);
    assert!(matches!(
        t.create_line(ADMIN, "Three", None, at(6)).await,
        Err(Error::QuotaExceeded { current: 2, max: 1 })
    ));
    assert_eq!(env.store.info(t.member_id()).await.unwrap().trial_ends_at, None);
    for bad in [("", 1), ("x", -1)] {
        assert!(matches!(
            env.store.set_plan(t.member_id(), bad.0, bad.1, None, at(7)).await,
            Err(Error::InvalidInput(_))
        ));
    }
    assert!(matches!(
        env.store.set_plan(&env.member("nobody"), "pro", 1, None, at(7)).await,
        Err(Error::UnknownTenant)
    ));
    // The registry's audit chain records both changes and still verifies.
    let head = env.store.verify_audit().await.unwrap();
    assert!(head.seq >= 3, "{head:?}");
}

async fn users_cannot_manage_lines(env: Env) {
    let t = env.tenant("a", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    assert!(matches!(t.create_line(ALICE, "x", None, at(2)).await, Err(Error::Forbidden(_))));
    assert!(matches!(
        t.assign_line(ALICE, line.id, Some(2), at(2)).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(t.delete_line(ALICE, line.id, at(2)).await, Err(Error::Forbidden(_))));
    assert!(matches!(
        t.record_inbound(ADMIN, &inbound(line.id, "1@s.whatsapp.net", "w", "x"), at(2)).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        t.assign_line(ADMIN, line.id, Some(99), at(2)).await,
        Err(Error::NotFound("user"))
    ));
}

async fn reassignment_moves_full_history_and_keeps_unread(env: Env) {
    let t = env.tenant("a", 5).await;
    let line = t.create_line(ADMIN, "Support", None, at(2)).await.unwrap();
    t.assign_line(ADMIN, line.id, Some(2), at(3)).await.unwrap();
    for i in 0..5 {
        let m = inbound(line.id, "555@s.whatsapp.net", &format!("W{i}"), &format!("hello {i}"));
        t.record_inbound(SYSTEM, &m, at(10 + i)).await.unwrap();
    }
    let conv = t.conversations(ALICE, line.id).await.unwrap().remove(0);
    assert_eq!(conv.unread, 5);
    assert!(t.lines(BOB).await.unwrap().is_empty());
    assert!(matches!(t.history(BOB, conv.id, None, 50).await, Err(Error::NotFound(_))));

    let moved = t.assign_line(ADMIN, line.id, Some(3), at(20)).await.unwrap();
    assert_eq!(moved.assigned_user, Some(3));
    assert!(t.lines(ALICE).await.unwrap().is_empty());
    assert!(matches!(t.conversation(ALICE, conv.id).await, Err(Error::NotFound(_))));
    let page = t.history(BOB, conv.id, None, 50).await.unwrap();
    assert_eq!(page.messages.len(), 5);
    assert_eq!(page.messages[4].text.as_deref(), Some("hello 0"));
    assert_eq!(t.conversation(BOB, conv.id).await.unwrap().unread, 5);

    let kinds: Vec<_> = t
        .audit_query(
            ADMIN,
            &audit::Query { subject: Some(format!("line:{}", line.id)), ..Default::default() },
        )
        .await
        .unwrap()
        .records
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [audit::Kind::LineCreated, audit::Kind::LineAssigned, audit::Kind::LineReassigned]
    );
}

async fn inbound_bumps_unread_once_and_mark_read_clears(env: Env) {
    let t = env.tenant("a", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    let mut m = inbound(line.id, "777@s.whatsapp.net", "WA1", "hi");
    m.push_name = Some("Ana".to_owned());
    let first = t.record_inbound(SYSTEM, &m, at(10)).await.unwrap();
    assert!(first.new);
    assert_eq!(first.unread, 1);
    assert_eq!(first.message.status, MessageStatus::Delivered);
    // A redelivery changes nothing.
    let again = t.record_inbound(SYSTEM, &m, at(11)).await.unwrap();
    assert!(!again.new);
    assert_eq!(again.message.id, first.message.id);
    assert_eq!(again.unread, 1);
    let mut reply = inbound(line.id, "777@s.whatsapp.net", "WA2", "are you there?");
    reply.quoted_wa_id = Some("WA1".to_owned());
    let second = t.record_inbound(SYSTEM, &reply, at(12)).await.unwrap();
    assert_eq!(second.unread, 2);
    assert_eq!(second.message.quoted_id, Some(first.message.id));
    let conv = t.conversation(ADMIN, first.message.conversation_id).await.unwrap();
    assert_eq!((conv.unread, conv.last_message_id), (2, Some(second.message.id)));
    assert_eq!(conv.contact.push_name.as_deref(), Some("Ana"));
    t.mark_read(ADMIN, conv.id, at(13)).await.unwrap();
    assert_eq!(t.conversation(ADMIN, conv.id).await.unwrap().unread, 0);
    assert!(matches!(t.mark_read(ALICE, conv.id, at(13)).await, Err(Error::NotFound(_))));
}

async fn status_only_moves_forward(env: Env) {
    let t = env.tenant("a", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    let rec = t
        .record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", "IN", "x"), at(3))
        .await
        .unwrap();
    let (msg, item) =
        t.enqueue_text(ADMIN, rec.message.conversation_id, "reply", "key-1", at(4)).await.unwrap();
    assert_eq!(msg.status, MessageStatus::Pending);
    t.complete_send(SYSTEM, item.id, "OUT1", at(5)).await.unwrap();
    let up = |s, ms| t.update_status(SYSTEM, line.id, "OUT1", s, b"{}", at(ms));
    assert_eq!(up(MessageStatus::Read, 7).await.unwrap(), StatusChange::Advanced(msg.id));
    assert_eq!(up(MessageStatus::Delivered, 8).await.unwrap(), StatusChange::Unchanged);
    assert_eq!(up(MessageStatus::Sent, 9).await.unwrap(), StatusChange::Unchanged);
    let m = t.message(ADMIN, msg.id).await.unwrap();
    assert_eq!(m.status, MessageStatus::Read);
    // Read implies delivered: the skipped step gets the read time; sent keeps its own.
    assert_eq!((m.sent_at, m.delivered_at, m.read_at), (Some(5), Some(7), Some(7)));
    assert_eq!(
        t.update_status(SYSTEM, line.id, "nope", MessageStatus::Read, b"{}", at(9)).await.unwrap(),
        StatusChange::UnknownMessage
    );
    let audited = t
        .audit_query(
            ADMIN,
            &audit::Query { kind: Some(audit::Kind::StatusUpdate), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(audited.records.len(), 4);
}

async fn history_pages_by_keyset(env: Env) {
    let t = env.tenant("a", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    let mut conv = 0;
    for i in 0..45 {
        let r = t
            .record_inbound(
                SYSTEM,
                &inbound(line.id, "1@s.whatsapp.net", &format!("W{i}"), &format!("{i}")),
                at(10 + i),
            )
            .await
            .unwrap();
        conv = r.message.conversation_id;
    }
    let mut seen = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        let page = t.history(ADMIN, conv, before, 20).await.unwrap();
        pages += 1;
        // Messages arriving while paging do not shift the pages already being read.
        if pages == 1 {
            t.record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", "LATE", "late"), at(99))
                .await
                .unwrap();
        }
        seen.extend(page.messages.iter().map(|m| m.text.clone().unwrap()));
        match page.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..45).rev().map(|i| i.to_string()).collect();
    assert_eq!(seen, expected);
    assert!(matches!(t.history(ADMIN, conv, None, 0).await, Err(Error::InvalidInput(_))));
    assert!(matches!(t.history(ADMIN, conv, None, 201).await, Err(Error::InvalidInput(_))));
}

async fn contact_search_is_scoped_and_escapes_wildcards(env: Env) {
    let t = env.tenant("a", 5).await;
    let l1 = t.create_line(ADMIN, "L1", None, at(2)).await.unwrap();
    let l2 = t.create_line(ADMIN, "L2", None, at(2)).await.unwrap();
    t.assign_line(ADMIN, l1.id, Some(2), at(3)).await.unwrap();
    t.assign_line(ADMIN, l2.id, Some(3), at(3)).await.unwrap();
    for (line, jid, name, wa) in [
        (l1.id, "111@s.whatsapp.net", "Maria Silva", "a"),
        (l1.id, "112@s.whatsapp.net", "100% Juice", "b"),
        (l2.id, "221@s.whatsapp.net", "Mario Rossi", "c"),
    ] {
        let mut m = inbound(line, jid, wa, "x");
        m.push_name = Some(name.to_owned());
        t.record_inbound(SYSTEM, &m, at(4)).await.unwrap();
    }
    let names =
        |v: Vec<tenancy::Contact>| v.into_iter().map(|c| c.push_name.unwrap()).collect::<Vec<_>>();
    assert_eq!(
        names(t.search_contacts(ADMIN, "MARI", 10).await.unwrap()),
        ["Maria Silva", "Mario Rossi"]
    );
    assert_eq!(names(t.search_contacts(ALICE, "mari", 10).await.unwrap()), ["Maria Silva"]);
    assert_eq!(names(t.search_contacts(BOB, "mari", 10).await.unwrap()), ["Mario Rossi"]);
    assert_eq!(names(t.search_contacts(ADMIN, "%", 10).await.unwrap()), ["100% Juice"]);
    assert_eq!(names(t.search_contacts(ADMIN, "22", 10).await.unwrap()), ["Mario Rossi"]);
    assert!(t.search_contacts(Caller::User(42), "", 10).await.unwrap().is_empty());
}

use tenancy::Caller;

async fn uninstall_keeps_data_for_reinstall(env: Env) {
    let t = env.tenant("a", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    t.record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", "W", "kept"), at(3))
        .await
        .unwrap();
    let member = t.member_id().to_owned();
    env.store.uninstall(&member, Cleanup::Keep, at(4)).await.unwrap();
    assert!(matches!(
        env.store.tenant(&member).await,
        Err(Error::TenantInactive(TenantStatus::Uninstalled))
    ));
    env.store.install(&install(&member, 5), at(5)).await.unwrap();
    let t = env.store.tenant(&member).await.unwrap();
    let conv = t.conversations(ADMIN, line.id).await.unwrap().remove(0);
    let page = t.history(ADMIN, conv.id, None, 10).await.unwrap();
    assert_eq!(page.messages[0].text.as_deref(), Some("kept"));
    assert_eq!(env.store.verify_audit().await.unwrap().seq, 3);
}

/// The kinds of a tenant's own audit log, in order.
async fn tenant_log(t: &tenancy::Tenant) -> Vec<String> {
    let page = t.audit_query(ADMIN, &audit::Query { limit: 1000, ..Default::default() }).await;
    page.unwrap().records.iter().map(|r| r.kind.as_str().to_owned()).collect()
}

async fn uninstall_clean_is_a_soft_delete_a_reinstall_restores(env: Env) {
    let t = env.tenant("a", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    t.record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", "W", "kept"), at(3))
        .await
        .unwrap();
    let member = t.member_id().to_owned();
    let before = env.store.info(&member).await.unwrap();
    assert_eq!(before.purge_after, None);
    env.store.uninstall(&member, Cleanup::Clean { purge_after: at(1_000) }, at(4)).await.unwrap();
    let info = env.store.info(&member).await.unwrap();
    assert_eq!((info.status, info.purge_after), (TenantStatus::Uninstalled, Some(1_000)));
    assert_eq!(info.generation, before.generation + 1);
    assert!(matches!(
        env.store.tenant(&member).await,
        Err(Error::TenantInactive(TenantStatus::Uninstalled))
    ));
    // Not due yet: nothing is purged.
    assert!(env.store.purge_due(at(999)).await.unwrap().is_empty());
    if let Some(dir) = &env.dir {
        assert!(dir.path().join("tenants").join(format!("{member}.db")).is_file());
    }
    env.store.install(&install(&member, 5), at(5)).await.unwrap();
    let info = env.store.info(&member).await.unwrap();
    assert_eq!((info.status, info.purge_after), (TenantStatus::Active, None));
    assert_eq!(info.generation, before.generation + 2);
    let t = env.store.tenant(&member).await.unwrap();
    let conv = t.conversations(ADMIN, line.id).await.unwrap().remove(0);
    let page = t.history(ADMIN, conv.id, None, 10).await.unwrap();
    assert_eq!(page.messages[0].text.as_deref(), Some("kept"));
    // The grace period passing after the reinstall purges nothing.
    assert!(env.store.purge_due(at(2_000)).await.unwrap().is_empty());
    assert_eq!(t.lines(ADMIN).await.unwrap().len(), 1);
    // The tenant's own log tells its administrator what happened, and still verifies.
    let kinds = tenant_log(&t).await;
    assert_eq!(kinds.iter().filter(|k| *k == "app.installed").count(), 2, "{kinds:?}");
    assert!(kinds.contains(&"app.uninstalled".to_owned()), "{kinds:?}");
    let page = t
        .audit_query(
            ADMIN,
            &audit::Query {
                kind: Some(audit::Kind::AppInstalled),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let last: serde_json::Value =
        serde_json::from_slice(&page.records.last().unwrap().payload).unwrap();
    assert_eq!(last["restored"], true);
    t.verify_audit(ADMIN).await.unwrap();
    env.store.verify_audit().await.unwrap();
}

async fn uninstall_clean_is_purged_after_the_grace_period(env: Env) {
    let t = env.tenant("a", 5).await;
    let other = env.tenant("b", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    t.record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", "W", "gone"), at(3))
        .await
        .unwrap();
    other.create_line(ADMIN, "Other", None, at(2)).await.unwrap();
    let member = t.member_id().to_owned();
    if let Some(dir) = &env.dir {
        std::fs::create_dir_all(dir.path().join("tenants").join(&member).join("media")).unwrap();
    }
    env.store.set_plan(&member, "pro", 5, None, at(3)).await.unwrap();
    env.store.uninstall(&member, Cleanup::Clean { purge_after: at(1_000) }, at(4)).await.unwrap();
    assert_eq!(env.store.purge_due(at(1_000)).await.unwrap(), vec![member.clone()]);
    // Purged once only.
    assert!(env.store.purge_due(at(5_000)).await.unwrap().is_empty());
    match &env.dir {
        Some(dir) => {
            assert!(!dir.path().join("tenants").join(format!("{member}.db")).exists());
            assert!(!dir.path().join("tenants").join(&member).exists());
        }
        None => {
            let schema = env.store.storage_name(&member);
            assert_eq!(crate::support::pg_schemas_named(&[schema]).await, 0);
        }
    }
    // The registry row stays (a reinstall keeps the plan), with nothing pending.
    let info = env.store.info(&member).await.unwrap();
    assert_eq!(
        (info.status, info.purge_after, info.plan.as_str()),
        (TenantStatus::Uninstalled, None, "pro")
    );
    env.store.install(&install(&member, 5), at(5_001)).await.unwrap();
    let t = env.store.tenant(&member).await.unwrap();
    assert!(t.lines(ADMIN).await.unwrap().is_empty());
    assert_eq!(tenant_log(&t).await, ["app.installed"]);
    // The other tenant is untouched.
    assert_eq!(other.lines(ADMIN).await.unwrap()[0].name, "Other");
    // The registry's log: install, install, plan, uninstall, purge, install.
    let mut control = env.raw_control().await;
    let kinds: Vec<String> = sqlx::query("SELECT kind FROM audit_log ORDER BY seq")
        .fetch_all(&mut control)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        kinds,
        [
            "app.installed",
            "app.installed",
            "app.plan_changed",
            "app.uninstalled",
            "app.purged",
            "app.installed"
        ]
    );
}

async fn generations_move_and_sessions_can_be_revoked(env: Env) {
    let t = env.tenant("a", 5).await;
    let member = t.member_id().to_owned();
    let first = env.store.info(&member).await.unwrap().generation;
    assert!(first >= 1);
    env.store.install(&install(&member, 5), at(2)).await.unwrap();
    assert_eq!(env.store.info(&member).await.unwrap().generation, first + 1);
    env.store.uninstall(&member, Cleanup::Keep, at(3)).await.unwrap();
    assert_eq!(env.store.info(&member).await.unwrap().generation, first + 2);
    assert!(matches!(
        env.store.revoke_sessions(&member, 2, ADMIN, at(4_000)).await,
        Err(Error::TenantInactive(TenantStatus::Uninstalled))
    ));
    env.store.install(&install(&member, 5), at(4)).await.unwrap();
    assert_eq!(env.store.sessions_not_before(&member, 2).await.unwrap(), None);
    assert_eq!(env.store.revoke_sessions(&member, 2, ADMIN, at(4_000)).await.unwrap(), 4);
    assert_eq!(env.store.revoke_sessions(&member, 2, ADMIN, at(9_000)).await.unwrap(), 9);
    assert_eq!(env.store.sessions_not_before(&member, 2).await.unwrap(), Some(9));
    assert_eq!(env.store.sessions_not_before(&member, 3).await.unwrap(), None);
    let other = env.tenant("b", 5).await;
    assert_eq!(env.store.sessions_not_before(other.member_id(), 2).await.unwrap(), None);
    let t = env.store.tenant(&member).await.unwrap();
    let page = t
        .audit_query(
            ADMIN,
            &audit::Query {
                kind: Some(audit::Kind::SessionsRevoked),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.records.len(), 2);
    assert_eq!(
        (page.records[0].actor.as_str(), page.records[0].subject.as_str()),
        ("admin:1", "user:2")
    );
    // A refused uninstall goes to the registry's log only; the tenant's data is not touched.
    let tenant_head = t.verify_audit(ADMIN).await.unwrap();
    let registry = env.store.verify_audit().await.unwrap().seq;
    env.store
        .audit_registry(&member, audit::Kind::UninstallRefused, b"{}", at(10_000))
        .await
        .unwrap();
    assert_eq!(env.store.verify_audit().await.unwrap().seq, registry + 1);
    assert_eq!(t.verify_audit(ADMIN).await.unwrap(), tenant_head);
}

async fn blocked_tenant_cannot_be_opened(env: Env) {
    let t = env.tenant("a", 5).await;
    env.store.set_status(t.member_id(), TenantStatus::Blocked, at(2)).await.unwrap();
    assert!(matches!(
        env.store.tenant(t.member_id()).await,
        Err(Error::TenantInactive(TenantStatus::Blocked))
    ));
    assert!(matches!(env.store.tenant(&env.member("nobody")).await, Err(Error::UnknownTenant)));
    assert!(matches!(env.store.tenant("../../etc").await, Err(Error::InvalidMemberId)));
}

async fn portal_tokens_are_encrypted_at_rest(env: Env) {
    let member = env.member("tok");
    let mut i = install(&member, 1);
    i.tokens = Some(PortalTokens {
        access_token: "ACCESS-SECRET-123".to_owned(),
        refresh_token: "REFRESH-SECRET-456".to_owned(),
        expires_at: 99,
        client_endpoint: "https://tok.test/rest/".to_owned(),
        server_endpoint: "https://oauth.test/rest/".to_owned(),
        application_token: "APPTOKEN-SECRET-789".to_owned(),
    });
    env.store.install(&i, at(1)).await.unwrap();
    assert_eq!(env.store.portal_tokens(&member).await.unwrap(), i.tokens);
    let new = PortalTokens {
        access_token: "A2".to_owned(),
        refresh_token: "R2".to_owned(),
        expires_at: 100,
        client_endpoint: String::new(),
        server_endpoint: String::new(),
        application_token: "APP2".to_owned(),
    };
    env.store.set_portal_tokens(&member, &new, at(2)).await.unwrap();
    assert_eq!(env.store.portal_tokens(&member).await.unwrap(), Some(new));
    // A different master key cannot read them.
    if let Some(dir) = &env.dir {
        let other =
            tenancy::Store::open_sqlite(dir.path(), tenancy::MasterKey::from_bytes([1; 32]))
                .await
                .unwrap();
        assert!(matches!(other.portal_tokens(&member).await, Err(Error::Decrypt)));
        let bytes = std::fs::read(dir.path().join("control.db")).unwrap();
        let needle = b"ACCESS-SECRET";
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }
    env.store.uninstall(&member, Cleanup::Keep, at(3)).await.unwrap();
    assert_eq!(env.store.portal_tokens(&member).await.unwrap(), None);
}

async fn device_store_is_encrypted_and_bound_to_its_place(env: Env) {
    let t = env.tenant("a", 5).await;
    let l1 = t.create_line(ADMIN, "L1", None, at(2)).await.unwrap();
    let l2 = t.create_line(ADMIN, "L2", None, at(2)).await.unwrap();
    let secret: &[u8] = b"IDENTITY-PRIVATE-KEY-BYTES";
    t.device_write(
        SYSTEM,
        l1.id,
        &[
            ("identity", "self", Some(secret)),
            ("prekey", "1", Some(b"p1")),
            ("prekey", "2", Some(b"p2")),
        ],
        at(3),
    )
    .await
    .unwrap();
    t.device_write(SYSTEM, l2.id, &[("identity", "self", Some(b"other line"))], at(3))
        .await
        .unwrap();
    assert_eq!(
        t.device_get(SYSTEM, l1.id, "identity", "self").await.unwrap().unwrap().as_slice(),
        secret
    );
    assert_eq!(t.device_keys(SYSTEM, l1.id, "prekey").await.unwrap(), ["1", "2"]);
    t.device_write(SYSTEM, l1.id, &[("prekey", "1", None)], at(4)).await.unwrap();
    assert_eq!(t.device_keys(SYSTEM, l1.id, "prekey").await.unwrap(), ["2"]);
    assert!(t.device_get(SYSTEM, l1.id, "prekey", "1").await.unwrap().is_none());
    assert!(matches!(
        t.device_get(ADMIN, l1.id, "identity", "self").await,
        Err(Error::Forbidden(_))
    ));

    let mut raw = env.raw(t.member_id()).await;
    let stored: Vec<u8> =
        sqlx::query("SELECT value FROM device_store WHERE line_id = $1 AND key = 'self'")
            .bind(l1.id)
            .fetch_one(&mut raw)
            .await
            .unwrap()
            .get(0);
    assert!(!stored.windows(secret.len()).any(|w| w == secret));
    // Copying line 2's sealed value over line 1's is refused on read.
    sqlx::query("UPDATE device_store SET value = (SELECT value FROM device_store WHERE line_id = $2 AND key = 'self') WHERE line_id = $1 AND key = 'self'")
        .bind(l1.id)
        .bind(l2.id)
        .execute(&mut raw)
        .await
        .unwrap();
    assert!(matches!(t.device_get(SYSTEM, l1.id, "identity", "self").await, Err(Error::Decrypt)));
}

async fn outbox_is_idempotent(env: Env) {
    let t = env.tenant("a", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    t.assign_line(ADMIN, line.id, Some(2), at(2)).await.unwrap();
    let rec = t
        .record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", "IN", "x"), at(3))
        .await
        .unwrap();
    let conv = rec.message.conversation_id;
    let (m1, o1) = t.enqueue_text(ALICE, conv, "hello", "k1", at(4)).await.unwrap();
    let (m2, o2) = t.enqueue_text(ALICE, conv, "hello", "k1", at(5)).await.unwrap();
    assert_eq!((m1.id, o1.id), (m2.id, o2.id));
    assert_eq!(m1.sender, "user:2");
    assert!(matches!(t.enqueue_text(BOB, conv, "x", "k2", at(5)).await, Err(Error::NotFound(_))));
    let pending = t.pending_outbox(SYSTEM, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    t.complete_send(SYSTEM, o1.id, "WAOUT", at(6)).await.unwrap();
    assert!(t.pending_outbox(SYSTEM, 10).await.unwrap().is_empty());
    assert!(matches!(
        t.complete_send(SYSTEM, o1.id, "WAOUT", at(7)).await,
        Err(Error::NotFound(_))
    ));
    let m = t.message(ALICE, m1.id).await.unwrap();
    assert_eq!((m.wa_id.as_deref(), m.status), (Some("WAOUT"), MessageStatus::Sent));
    let page = t.history(ALICE, conv, None, 10).await.unwrap();
    assert_eq!(page.messages.len(), 2);
}

async fn outbound_replies_reactions_media_and_reserved_ids(env: Env) {
    let t = env.tenant("a", 5).await;
    let other = env.tenant("b", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    let conv = t
        .record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", "IN1", "x"), at(3))
        .await
        .unwrap()
        .message;
    let elsewhere = t
        .record_inbound(SYSTEM, &inbound(line.id, "2@s.whatsapp.net", "IN2", "y"), at(3))
        .await
        .unwrap()
        .message;
    let reaction = Outbound {
        kind: MessageKind::Reaction,
        text: Some("+1".into()),
        media: None,
        quoted_id: Some(conv.id),
    };
    let (m, _) = t.enqueue(ADMIN, conv.conversation_id, &reaction, "r1", at(4)).await.unwrap();
    assert_eq!(
        (m.kind, m.quoted_id, m.status),
        (MessageKind::Reaction, Some(conv.id), MessageStatus::Pending)
    );
    // A quoted message of another conversation is refused.
    let wrong = Outbound { quoted_id: Some(elsewhere.id), ..reaction.clone() };
    assert!(matches!(
        t.enqueue(ADMIN, conv.conversation_id, &wrong, "r2", at(4)).await,
        Err(Error::NotFound("quoted message"))
    ));
    let media =
        Media { path: "out/ab/f.png".into(), mime: "image/png".into(), size: 3, sha256: [9; 32] };
    let image = Outbound {
        kind: MessageKind::Image,
        text: Some("cap".into()),
        media: Some(media.clone()),
        quoted_id: None,
    };
    let (img, _) = t.enqueue(ADMIN, conv.conversation_id, &image, "i1", at(5)).await.unwrap();
    assert_eq!(t.message(ADMIN, img.id).await.unwrap().media, Some(media));
    // The first reserved id wins; users cannot reserve; inbound messages keep theirs.
    assert_eq!(t.reserve_wa_id(SYSTEM, img.id, "3EB0AAA").await.unwrap(), "3EB0AAA");
    assert_eq!(t.reserve_wa_id(SYSTEM, img.id, "3EB0BBB").await.unwrap(), "3EB0AAA");
    assert!(matches!(t.reserve_wa_id(ADMIN, img.id, "3EB0CCC").await, Err(Error::Forbidden(_))));
    assert_eq!(t.reserve_wa_id(SYSTEM, conv.id, "3EB0DDD").await.unwrap(), "IN1");
    assert!(matches!(t.reserve_wa_id(SYSTEM, 9_999, "3EB0EEE").await, Err(Error::NotFound(_))));
    // A receipt before the send completes finds the message by its reserved id.
    let change = t
        .update_status(SYSTEM, line.id, "3EB0AAA", MessageStatus::Delivered, b"{}", at(6))
        .await
        .unwrap();
    assert!(matches!(change, StatusChange::Advanced(_)), "{change:?}");
    assert_eq!(env.store.active_tenants().await.unwrap(), vec![env.member("a"), env.member("b")]);
    drop(other);
}

async fn every_operation_is_audited_and_tampering_is_detected(env: Env) {
    let t = env.tenant("a", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    t.assign_line(ADMIN, line.id, Some(2), at(3)).await.unwrap();
    t.set_line_status(SYSTEM, line.id, LineStatus::Connected, b"{\"raw\":1}", at(4)).await.unwrap();
    let raw_event = b"{\"raw\":\"message event\"}";
    let mut m = inbound(line.id, "1@s.whatsapp.net", "W", "x");
    m.raw = raw_event.to_vec();
    t.record_inbound(SYSTEM, &m, at(5)).await.unwrap();
    let page = t.audit_query(ADMIN, &audit::Query::default()).await.unwrap();
    let kinds: Vec<_> = page.records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "app.installed",
            "line.created",
            "line.assigned",
            "wa.connection_state",
            "line.status_changed",
            "wa.message_received"
        ]
    );
    assert_eq!(page.records[5].payload, raw_event);
    assert!(matches!(
        t.audit_query(ALICE, &audit::Query::default()).await,
        Err(Error::Forbidden(_))
    ));
    let mut out = Vec::new();
    assert_eq!(t.audit_export(ADMIN, &audit::Query::default(), &mut out).await.unwrap(), 6);
    assert_eq!(t.verify_audit(ADMIN).await.unwrap().seq, 6);

    // The database refuses changes through the normal path...
    let mut raw = env.raw(t.member_id()).await;
    assert!(
        sqlx::query("UPDATE audit_log SET actor = 'x' WHERE seq = 2")
            .execute(&mut raw)
            .await
            .is_err()
    );
    assert!(sqlx::query("DELETE FROM audit_log WHERE seq = 5").execute(&mut raw).await.is_err());
    // ...and a superuser going around the triggers is caught by verify().
    env.bypass_triggers(t.member_id(), "UPDATE audit_log SET actor = 'admin:2' WHERE seq = 2")
        .await;
    assert!(matches!(
        t.verify_audit(ADMIN).await,
        Err(Error::Audit(audit::Error::Tampered {
            seq: 2,
            reason: audit::TamperReason::ContentChanged
        }))
    ));
}

async fn untrusted_input_gets_typed_errors(env: Env) {
    let t = env.tenant("a", 5).await;
    let long = "x".repeat(300);
    assert!(matches!(t.create_line(ADMIN, &long, None, at(2)).await, Err(Error::InvalidInput(_))));
    assert!(matches!(t.create_line(ADMIN, "  ", None, at(2)).await, Err(Error::InvalidInput(_))));
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    let mut m = inbound(line.id, &long, "W", "x");
    assert!(matches!(t.record_inbound(SYSTEM, &m, at(3)).await, Err(Error::InvalidInput(_))));
    m.jid = "1@s.whatsapp.net".to_owned();
    m.line_id = 999;
    assert!(matches!(t.record_inbound(SYSTEM, &m, at(3)).await, Err(Error::NotFound("line"))));
    assert!(matches!(
        env.store.install(&install("bad id!", 1), at(1)).await,
        Err(Error::InvalidMemberId)
    ));
    // Nothing half-written by the refused calls (the install and the line are recorded).
    assert_eq!(t.verify_audit(ADMIN).await.unwrap().seq, 2);
}

async fn long_inbound_texts_are_stored_whole_or_cut_and_marked(env: Env) {
    let t = env.tenant("long", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    // 40,000 Cyrillic characters (80,000 bytes) are a legal WhatsApp text: stored in full.
    let cyrillic = "ж".repeat(40_000);
    let m = inbound(line.id, "7@s.whatsapp.net", "CYR", &cyrillic);
    let stored = t.record_inbound(SYSTEM, &m, at(3)).await.unwrap().message;
    assert_eq!(stored.text.as_deref(), Some(cyrillic.as_str()));
    assert_eq!(stored.note, None);
    // 1 MB is cut at a character boundary (the odd limit falls inside a two-byte letter).
    let huge = format!("a{}", "я".repeat(500_000));
    let m = inbound(line.id, "7@s.whatsapp.net", "HUGE", &huge);
    let recorded = t.record_inbound(SYSTEM, &m, at(4)).await.unwrap();
    let text = recorded.message.text.clone().unwrap();
    assert!(text.len() <= MAX_INBOUND_TEXT && text.len() > MAX_INBOUND_TEXT - 2, "{}", text.len());
    assert!(huge.starts_with(&text));
    assert_eq!(recorded.message.note, Some(MessageNote::Truncated));
    assert_eq!(recorded.unread, 2);
    let read = t.message(ADMIN, recorded.message.id).await.unwrap();
    assert_eq!(read.note, Some(MessageNote::Truncated));
    let query =
        audit::Query { limit: 50, kind: Some(audit::Kind::MessageAdjusted), ..Default::default() };
    let records = t.audit_query(ADMIN, &query).await.unwrap().records;
    assert_eq!(records.len(), 1);
    let why: serde_json::Value = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(why["note"], "truncated");
    assert_eq!(why["text_bytes"], huge.len());
    assert_eq!(records[0].subject, format!("message:{}", recorded.message.id));
    // An overlong push name is cut rather than refused.
    let mut named = inbound(line.id, "8@s.whatsapp.net", "NAME", "hi");
    named.push_name = Some("N".repeat(10_000));
    let conv = t.record_inbound(SYSTEM, &named, at(5)).await.unwrap().message.conversation_id;
    let contact = t.conversation(ADMIN, conv).await.unwrap().contact;
    assert_eq!(contact.push_name.map(|n| n.len()), Some(256));
}

async fn inbound_notes_from_the_runtime_are_kept_and_audited(env: Env) {
    let t = env.tenant("notes", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    let mut m = inbound(line.id, "7@s.whatsapp.net", "IMG", "caption");
    m.kind = MessageKind::Image;
    m.note = Some(MessageNote::MediaUnavailable);
    let stored = t.record_inbound(SYSTEM, &m, at(3)).await.unwrap().message;
    assert_eq!((stored.note, stored.media), (Some(MessageNote::MediaUnavailable), None));
    let query =
        audit::Query { limit: 50, kind: Some(audit::Kind::MessageAdjusted), ..Default::default() };
    let records = t.audit_query(ADMIN, &query).await.unwrap().records;
    assert_eq!(records.len(), 1);
    assert!(String::from_utf8_lossy(&records[0].payload).contains("media_unavailable"));
    // A message stored as it came has no note and no such record.
    t.record_inbound(SYSTEM, &inbound(line.id, "7@s.whatsapp.net", "OK", "fine"), at(4))
        .await
        .unwrap();
    assert_eq!(t.audit_query(ADMIN, &query).await.unwrap().records.len(), 1);
}

async fn identity_change_leaves_a_notice_and_an_audit_record(env: Env) {
    let t = env.tenant("identity", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    let first = t
        .record_inbound(SYSTEM, &inbound(line.id, "7@s.whatsapp.net", "A", "hi"), at(3))
        .await
        .unwrap();
    assert!(matches!(
        t.record_identity_changed(ADMIN, line.id, "7@s.whatsapp.net", None, b"{}", at(4)).await,
        Err(Error::Forbidden(_))
    ));
    let notice = t
        .record_identity_changed(
            SYSTEM,
            line.id,
            "7@s.whatsapp.net",
            Some("7"),
            b"{\"k\":1}",
            at(4),
        )
        .await
        .unwrap();
    assert_eq!(notice.conversation_id, first.message.conversation_id);
    assert_eq!(
        (notice.kind, notice.note, notice.wa_id.clone(), notice.text.clone()),
        (MessageKind::System, Some(MessageNote::IdentityChanged), None, None)
    );
    // The notice is in the history, not counted as unread.
    let conv = t.conversation(ADMIN, notice.conversation_id).await.unwrap();
    assert_eq!(conv.unread, 1);
    let page = t.history(ADMIN, conv.id, None, 10).await.unwrap();
    assert_eq!(page.messages[0].id, notice.id);
    let query =
        audit::Query { limit: 50, kind: Some(audit::Kind::IdentityChanged), ..Default::default() };
    let records = t.audit_query(ADMIN, &query).await.unwrap().records;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].subject, format!("message:{}", notice.id));
    // A customer not seen before gets a conversation with the notice.
    let fresh = t
        .record_identity_changed(SYSTEM, line.id, "9@s.whatsapp.net", None, b"{}", at(5))
        .await
        .unwrap();
    assert_ne!(fresh.conversation_id, conv.id);
}

async fn outbox_is_read_per_line(env: Env) {
    let t = env.tenant("lines", 5).await;
    let stopped = t.create_line(ADMIN, "Stopped", None, at(2)).await.unwrap();
    let running = t.create_line(ADMIN, "Running", None, at(2)).await.unwrap();
    let on = |line: i64, wa: &str| inbound(line, "7@s.whatsapp.net", wa, "hi");
    let a = t.record_inbound(SYSTEM, &on(stopped.id, "A"), at(3)).await.unwrap().message;
    let b = t.record_inbound(SYSTEM, &on(running.id, "B"), at(3)).await.unwrap().message;
    for n in 0..250 {
        t.enqueue_text(ADMIN, a.conversation_id, "queued", &format!("a{n}"), at(4)).await.unwrap();
    }
    let (mine, _) = t.enqueue_text(ADMIN, b.conversation_id, "mine", "b0", at(5)).await.unwrap();
    // The tenant-wide page is full of the stopped line's items; the line's own read is not.
    let all = t.pending_outbox(SYSTEM, 200).await.unwrap();
    assert!(all.iter().all(|i| i.line_id == stopped.id));
    let own = t.pending_outbox_for_line(SYSTEM, running.id, OutboxKind::Send, 200).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!((own[0].message_id, own[0].kind), (Some(mine.id), OutboxKind::Send));
    let theirs =
        t.pending_outbox_for_line(SYSTEM, stopped.id, OutboxKind::Send, 200).await.unwrap();
    assert_eq!(theirs.len(), 200);
    assert!(theirs.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert!(
        t.pending_outbox_for_line(SYSTEM, running.id, OutboxKind::Delivery, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        t.pending_outbox_for_line(ADMIN, running.id, OutboxKind::Send, 10).await,
        Err(Error::Forbidden(_))
    ));
}

async fn idempotency_key_with_another_request_is_refused(env: Env) {
    let t = env.tenant("idem", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    let one = t
        .record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", "I1", "x"), at(3))
        .await
        .unwrap()
        .message
        .conversation_id;
    let two = t
        .record_inbound(SYSTEM, &inbound(line.id, "2@s.whatsapp.net", "I2", "x"), at(3))
        .await
        .unwrap()
        .message
        .conversation_id;
    let (first, _) = t.enqueue_text(ADMIN, one, "hello", "k", at(4)).await.unwrap();
    // The same request again is answered with the first result.
    assert_eq!(t.enqueue_text(ADMIN, one, "hello", "k", at(5)).await.unwrap().0.id, first.id);
    // Another text, another conversation or another kind under the same key is refused.
    let err = t.enqueue_text(ADMIN, one, "goodbye", "k", at(5)).await.unwrap_err();
    assert!(matches!(err, Error::IdempotencyKeyReused), "{err:?}");
    assert_eq!(err.to_string(), "idempotency key already used for a different request");
    assert!(matches!(
        t.enqueue_text(ADMIN, two, "hello", "k", at(5)).await,
        Err(Error::IdempotencyKeyReused)
    ));
    let reaction = Outbound {
        kind: MessageKind::Reaction,
        text: Some("hello".into()),
        media: None,
        quoted_id: Some(first.id),
    };
    assert!(matches!(
        t.enqueue(ADMIN, one, &reaction, "k", at(5)).await,
        Err(Error::IdempotencyKeyReused)
    ));
    // Nothing more was queued.
    assert_eq!(t.pending_outbox(SYSTEM, 10).await.unwrap().len(), 1);
}

async fn audit_chain_is_keyed_by_the_master_key(env: Env) {
    let t = env.tenant("keyed", 5).await;
    for name in ["One", "Two", "Three"] {
        t.create_line(ADMIN, name, None, at(2)).await.unwrap();
    }
    assert_eq!(t.verify_audit(ADMIN).await.unwrap().seq, 4);
    // The tenant's log opens with `app.installed`, then the three lines.
    // Nothing to seal in logs that were keyed from their first record; the second pass is a no-op.
    assert_eq!(env.store.seal_legacy_audit(at(3)).await.unwrap(), vec![]);
    assert_eq!(env.store.seal_legacy_audit(at(3)).await.unwrap(), vec![]);
    assert_eq!(env.store.verify_tenant_audit(t.member_id()).await.unwrap().seq, 4);
    env.store.verify_audit().await.unwrap();

    // The same rows under another master key do not verify: the key is not in the database.
    let other = tenancy::MasterKey::from_bytes([0x55; 32]);
    let other_store = match (&env.dir, &env.control) {
        (Some(dir), _) => tenancy::Store::open_sqlite(dir.path(), other).await.unwrap(),
        (None, Some(control)) => {
            tenancy::Store::open_postgres(&pg_url(), control, other).await.unwrap()
        }
        (None, None) => unreachable!("an Env is on SQLite or on PostgreSQL"),
    };
    assert!(other_store.verify_tenant_audit(t.member_id()).await.is_err());
    assert!(other_store.verify_audit().await.is_err());

    // Someone with database access rewrites record 2 and recomputes the unkeyed hashes of it and
    // every later record and the head: the chain is consistent, but not keyed.
    let records = t.audit_query(ADMIN, &audit::Query::default()).await.unwrap().records;
    let mut raw = env.raw(t.member_id()).await;
    let disable = if env.dir.is_some() {
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_head_forward;"
    } else {
        "SET session_replication_role = replica;"
    };
    sqlx::raw_sql(disable).execute(&mut raw).await.unwrap();
    let mut prev = records[0].hash;
    for r in &records[1..] {
        let actor = if r.seq == 2 { "admin:9" } else { r.actor.as_str() };
        let hash = audit::chain::record_hash(&audit::chain::Fields {
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
    let broken = Err::<(), _>(audit::TamperReason::Unkeyed);
    let got = t.verify_audit(ADMIN).await.map(|_| ()).map_err(|e| match e {
        Error::Audit(audit::Error::Tampered { seq: 2, reason }) => reason,
        other => panic!("expected tampering at record 2, got {other:?}"),
    });
    assert_eq!(got, broken);
    // A restart's seal pass does not launder the rewritten chain.
    assert_eq!(env.store.seal_legacy_audit(at(4)).await.unwrap(), vec![]);
    assert!(env.store.verify_tenant_audit(t.member_id()).await.is_err());
}

/// Rewrites a whole log (on `raw`) as an older version wrote it: unkeyed SHA-256 hashes.
async fn write_as_version_1(raw: &mut sqlx::AnyConnection, sqlite: bool) {
    let disable = if sqlite {
        "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_head_forward;"
    } else {
        "SET session_replication_role = replica;"
    };
    sqlx::raw_sql(disable).execute(&mut *raw).await.unwrap();
    let records = audit::query(raw, &audit::Query::default()).await.unwrap().records;
    let mut prev = audit::GENESIS;
    for r in &records {
        let hash = audit::chain::record_hash(&audit::chain::Fields {
            seq: r.seq,
            at_ms: r.at_ms,
            kind: r.kind.as_str(),
            actor: &r.actor,
            subject: &r.subject,
            payload: &r.payload,
            prev_hash: &prev,
        });
        sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(prev.to_vec())
            .bind(hash.to_vec())
            .bind(r.seq)
            .execute(&mut *raw)
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(prev.to_vec())
        .execute(&mut *raw)
        .await
        .unwrap();
}

async fn legacy_unkeyed_logs_are_sealed_once(env: Env) {
    let t = env.tenant("legacy", 5).await;
    t.create_line(ADMIN, "One", None, at(2)).await.unwrap();
    t.create_line(ADMIN, "Two", None, at(2)).await.unwrap();
    // Make the registry's and the tenant's logs look as an older version left them.
    let sqlite = env.dir.is_some();
    let mut control = match (&env.dir, &env.control) {
        (Some(dir), _) => {
            let url = format!("sqlite://{}", dir.path().join("control.db").display());
            <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap()
        }
        (None, Some(schema)) => {
            let mut c =
                <sqlx::AnyConnection as sqlx::Connection>::connect(&pg_url()).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
                .execute(&mut c)
                .await
                .unwrap();
            c
        }
        (None, None) => unreachable!("an Env is on SQLite or on PostgreSQL"),
    };
    write_as_version_1(&mut control, sqlite).await;
    write_as_version_1(&mut env.raw(t.member_id()).await, sqlite).await;
    // Readable, but nothing vouches for them until they are sealed.
    assert_eq!(t.audit_query(ADMIN, &audit::Query::default()).await.unwrap().records.len(), 3);
    assert!(t.verify_audit(ADMIN).await.is_err());
    assert!(env.store.verify_audit().await.is_err());

    let sealed = env.store.seal_legacy_audit(at(5)).await.unwrap();
    assert_eq!(
        sealed,
        vec![tenancy::SealedLog::Control, tenancy::SealedLog::Tenant(t.member_id().to_owned())]
    );
    assert_eq!(t.verify_audit(ADMIN).await.unwrap().seq, 4);
    env.store.verify_audit().await.unwrap();
    let last = t.audit_query(ADMIN, &audit::Query::default()).await.unwrap().records;
    assert_eq!(last[3].kind, audit::Kind::AuditKeyed);
    // Once only: a second pass seals nothing, and new records are keyed.
    assert_eq!(env.store.seal_legacy_audit(at(6)).await.unwrap(), vec![]);
    t.create_line(ADMIN, "Three", None, at(7)).await.unwrap();
    assert_eq!(t.verify_audit(ADMIN).await.unwrap().seq, 5);
    // Rewriting the sealed log entirely as version 1 again is not sealed a second time.
    write_as_version_1(&mut env.raw(t.member_id()).await, sqlite).await;
    assert_eq!(env.store.seal_legacy_audit(at(8)).await.unwrap(), vec![]);
    assert!(t.verify_audit(ADMIN).await.is_err());
}

async fn crm_policy_queues_routing_once_and_a_timeline_entry_per_day(env: Env) {
    let t = env.tenant("crm", 5).await;
    let line = t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    // No policy: nothing created, nothing queued.
    assert_eq!(t.crm_policy(ADMIN, line.id).await.unwrap(), CrmPolicy::default());
    let first = t
        .record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", "C0", "x"), at(3))
        .await
        .unwrap()
        .message;
    let pending = t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 10).await.unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    let policy = CrmPolicy {
        mode: CrmMode::ContactDeal,
        category_id: 3,
        stage_id: Some("C3:NEW".into()),
        ..CrmPolicy::default()
    };
    assert!(matches!(
        t.set_crm_policy(ALICE, line.id, &policy, at(4)).await,
        Err(Error::Forbidden(_))
    ));
    let bad = CrmPolicy { category_id: -1, ..policy.clone() };
    assert!(matches!(
        t.set_crm_policy(ADMIN, line.id, &bad, at(4)).await,
        Err(Error::InvalidInput(_))
    ));
    t.set_crm_policy(ADMIN, line.id, &policy, at(4)).await.unwrap();
    assert_eq!(t.crm_policy(ADMIN, line.id).await.unwrap(), policy);
    // Two messages on day one, one on day two: routing once, one timeline entry per day.
    let day = 86_400_000;
    for (wa, when) in [("C1", at(5)), ("C2", at(6)), ("C3", at(day + 5))] {
        t.record_inbound(SYSTEM, &inbound(line.id, "1@s.whatsapp.net", wa, "x"), when)
            .await
            .unwrap();
    }
    let pending = t.b24_outbox_items(SYSTEM, line.id, B24OutboxState::Pending, 10).await.unwrap();
    let kinds: Vec<(B24OutboxKind, String)> =
        pending.iter().map(|i| (i.kind, i.idempotency_key.clone())).collect();
    let c = first.conversation_id;
    assert_eq!(
        kinds,
        vec![
            (B24OutboxKind::CrmRoute, format!("crm_route:{c}")),
            (B24OutboxKind::CrmTimeline, format!("crm_timeline:{c}:1970-01-01")),
            (B24OutboxKind::CrmTimeline, format!("crm_timeline:{c}:1970-01-02")),
        ]
    );
    // The link is the server's to write, step by step.
    let mut link = CrmLink::new(c, line.id);
    link.contact_id = Some(501);
    assert!(matches!(t.set_crm_link(ADMIN, &link, at(7)).await, Err(Error::Forbidden(_))));
    t.set_crm_link(SYSTEM, &link, at(7)).await.unwrap();
    link.deal_id = Some(502);
    link.complete = true;
    t.set_crm_link(SYSTEM, &link, at(8)).await.unwrap();
    assert_eq!(t.crm_link(ADMIN, c).await.unwrap(), Some(link.clone()));
    assert_eq!(t.conversations_of_crm_contact(SYSTEM, 501).await.unwrap(), vec![c]);
    let other = CrmLink { line_id: line.id + 1, ..link };
    assert!(t.set_crm_link(SYSTEM, &other, at(9)).await.is_err());
}
