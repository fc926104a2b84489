//! Generated attempts to reach another tenant's or another user's data through the public API.

use std::collections::HashMap;

use tenancy::{Caller, Error, Tenant};

use crate::support::{ADMIN, Env, SYSTEM, at, inbound};

crate::on_every_backend!(generated_cross_scope_attempts_all_fail);

/// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> i64 {
        i64::try_from(self.next() % n).unwrap()
    }
}

/// What the admin sees of a tenant: conversation -> assignee of its line, message -> conversation.
struct Truth {
    conv_owner: HashMap<i64, Option<i64>>,
    line_owner: HashMap<i64, Option<i64>>,
    msg_conv: HashMap<i64, i64>,
}

/// Tenant `tag` gets `lines` lines (line i goes to Alice if i % 3 == 0, Bob if 1, nobody if 2;
/// user 4 owns nothing), each with `contacts` contacts and two messages per contact; every text,
/// name and JID carries the tag.
async fn populate(t: &Tenant, tag: &str, lines: i64, contacts: i64) -> Truth {
    let mut truth =
        Truth { conv_owner: HashMap::new(), line_owner: HashMap::new(), msg_conv: HashMap::new() };
    for i in 0..lines {
        let line = t.create_line(ADMIN, &format!("{tag}-line{i}"), None, at(2)).await.unwrap();
        let owner = match i % 3 {
            0 => Some(2),
            1 => Some(3),
            _ => None,
        };
        if owner.is_some() {
            t.assign_line(ADMIN, line.id, owner, at(3)).await.unwrap();
        }
        truth.line_owner.insert(line.id, owner);
        for c in 0..contacts {
            for k in 0..2 {
                let jid = format!("{tag}{i}{c}@s.whatsapp.net");
                let mut m =
                    inbound(line.id, &jid, &format!("{tag}-{i}-{c}-{k}"), &format!("{tag} secret"));
                m.push_name = Some(format!("{tag} person"));
                let r = t.record_inbound(SYSTEM, &m, at(4)).await.unwrap();
                truth.conv_owner.insert(r.message.conversation_id, owner);
                truth.msg_conv.insert(r.message.id, r.message.conversation_id);
            }
        }
    }
    truth
}

async fn generated_cross_scope_attempts_all_fail(env: Env) {
    let a = env.tenant("a", 10).await;
    let b = env.tenant("b", 10).await;
    // Tenant B has more of everything, so ids that exist only in B are tried through A's handle.
    let truths = [populate(&a, "AAA", 3, 2).await, populate(&b, "BBB", 5, 3).await];
    let mut truths = truths;
    let handles = [(a, "AAA"), (b, "BBB")];
    let users = [Caller::User(2), Caller::User(3), Caller::User(4)];
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut forbidden_attempts = 0;
    let mut allowed_ok = 0;
    for attempt in 0..600 {
        let which = usize::try_from(g.below(2)).unwrap();
        let (t, tag) = &handles[which];
        let truth = &mut truths[which];
        let caller = users[usize::try_from(g.below(3)).unwrap()];
        let Caller::User(uid) = caller else { unreachable!() };
        let id = g.below(40) + 1;
        let op = g.below(7);
        let ctx = format!("attempt {attempt}: tenant {tag}, {caller:?}, op {op}, id {id}");
        let conv_allowed = truth.conv_owner.get(&id).copied().flatten() == Some(uid);
        let line_allowed = truth.line_owner.get(&id).copied().flatten() == Some(uid);
        let msg_allowed = truth
            .msg_conv
            .get(&id)
            .is_some_and(|c| truth.conv_owner.get(c).copied().flatten() == Some(uid));
        let (allowed, result): (bool, Result<String, Error>) = match op {
            0 => (
                conv_allowed,
                t.history(caller, id, None, 50).await.map(|p| {
                    p.messages.iter().map(|m| m.text.clone().unwrap()).collect::<Vec<_>>().join(",")
                }),
            ),
            1 => (conv_allowed, t.conversation(caller, id).await.map(|c| c.contact.jid)),
            2 => (msg_allowed, t.message(caller, id).await.map(|m| m.text.unwrap())),
            3 => (
                line_allowed,
                t.conversations(caller, id)
                    .await
                    .map(|v| v.iter().map(|c| c.contact.jid.clone()).collect::<Vec<_>>().join(",")),
            ),
            4 => (line_allowed, t.line(caller, id).await.map(|l| l.name)),
            5 => (conv_allowed, t.mark_read(caller, id, at(5)).await.map(|_| tag.to_string())),
            _ => (
                conv_allowed,
                t.enqueue_text(
                    caller,
                    id,
                    &format!("{tag} probe"),
                    &format!("probe-{attempt}"),
                    at(9),
                )
                .await
                .map(|(m, _)| {
                    truth.msg_conv.insert(m.id, m.conversation_id);
                    format!("{tag}:{}", m.line_id)
                }),
            ),
        };
        match (allowed, result) {
            (true, Ok(text)) => {
                allowed_ok += 1;
                assert!(text.is_empty() || text.contains(tag), "{ctx}: leaked {text}");
                assert!(
                    !text.contains(if *tag == "AAA" { "BBB" } else { "AAA" }),
                    "{ctx}: cross-tenant {text}"
                );
            }
            (true, Err(e)) => panic!("{ctx}: allowed access failed: {e}"),
            (false, Err(Error::NotFound(_))) => forbidden_attempts += 1,
            (false, other) => panic!("{ctx}: forbidden access was not refused: {other:?}"),
        }
        // List operations never show anything outside the caller's lines or tenant.
        if attempt % 10 == 0 {
            for l in t.lines(caller).await.unwrap() {
                assert_eq!(l.assigned_user, Some(uid), "{ctx}");
                assert!(l.name.starts_with(tag));
            }
            for c in t.search_contacts(caller, "", 200).await.unwrap() {
                assert_eq!(truth.line_owner[&c.line_id], Some(uid), "{ctx}");
                assert!(c.jid.starts_with(tag));
            }
        }
    }
    assert!(
        forbidden_attempts >= 200,
        "only {forbidden_attempts} forbidden attempts were generated"
    );
    assert!(allowed_ok >= 20, "only {allowed_ok} allowed accesses were exercised");
    // The admin of each tenant sees only that tenant's data.
    for (t, tag) in &handles {
        for l in t.lines(ADMIN).await.unwrap() {
            assert!(l.name.starts_with(tag));
        }
    }
}
