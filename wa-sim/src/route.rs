//! Message and receipt routing between logged-in devices, with a per-device offline queue.
//!
//! Routing is plain work on the [`State`]: every stanza routed to a companion goes into that
//! device's queue, and every stanza routed to any device (the simulated phones are device 0) into
//! the state's outbox. Whoever routed drains the outbox before releasing the lock
//! ([`State::drain_outbox`]): a companion gets it at once if it is connected, and again on every
//! later login until it acks it (`<ack class id>`); the account's simulated phone
//! ([`crate::phone`]) decrypts messages and handles receipts.

use tracing::debug;
use wa_proto::{Jid, Node, Server};

use crate::{
    report::RoutedMessage,
    state::{Delivery, Queued, State, lid_jid, phone_jid},
};

/// How many routed messages are remembered per companion for the control API.
const ROUTED_LOG: usize = 256;

/// One addressed account, found by phone number or LID.
fn account_of(state: &State, jid: &Jid) -> Option<String> {
    if jid.server != Server::Lid {
        // Accounts are keyed by phone number: no scan (this is on every routed message).
        return state.accounts.get(&jid.user).map(|a| a.phone.clone());
    }
    state.accounts.values().find(|a| a.lid == jid.user).map(|a| a.phone.clone())
}

/// The same device in the other addressing (phone number <-> LID), for a known account.
pub(crate) fn other_addressing(state: &State, jid: &Jid) -> Option<Jid> {
    if !matches!(jid.server, Server::User | Server::Lid) {
        return None;
    }
    let phone = account_of(state, jid)?;
    device_jid(state, &phone, jid.device, jid.server != Server::Lid)
}

/// The device JID of `phone:device` in the addressing of `like` (LID or phone number).
fn device_jid(state: &State, phone: &str, device: u16, lid: bool) -> Option<Jid> {
    let account = state.accounts.get(phone)?;
    Some(if lid { lid_jid(&account.lid, device) } else { phone_jid(phone, device) })
}

/// Queues `node` for `phone:device` and puts it in the outbox.
fn deliver(state: &mut State, phone: &str, device: u16, class: &'static str, id: &str, node: Node) {
    if device == 0 {
        // Phones ack nothing: counted apart, so `routed` = `acked` once companions caught up.
        state.counters.to_phones += 1;
        state.outbox.push(Delivery { phone: phone.to_owned(), device, node });
        return;
    }
    let live =
        state.accounts.get(phone).and_then(|a| a.devices.get(&device)).is_some_and(|d| !d.removed);
    if !live {
        return;
    }
    state.outbox.push(Delivery { phone: phone.to_owned(), device, node: node.clone() });
    state.counters.routed += 1;
    if class == "receipt" {
        state.counters.receipts_relayed += 1;
    }
    if class == "message" {
        let log = state.routed_log.entry((phone.to_owned(), device)).or_default();
        if log.len() >= ROUTED_LOG {
            log.pop_front();
        }
        log.push_back(RoutedMessage {
            id: id.to_owned(),
            from: node
                .attr_opt_jid("from")
                .ok()
                .flatten()
                .map(|j| j.to_string())
                .unwrap_or_default(),
            kind: node.attr_opt_str("type").ok().flatten().unwrap_or_default().to_owned(),
            enc_types: node
                .children_with_tag("enc")
                .map(|e| e.attr_opt_str("type").ok().flatten().unwrap_or_default().to_owned())
                .collect(),
            t: node.attr_opt_str("t").ok().flatten().and_then(|t| t.parse().ok()).unwrap_or(0),
        });
    }
    state.queues.entry((phone.to_owned(), device)).or_default().push(Queued {
        class,
        id: id.to_owned(),
        node,
    });
}

/// What routing a `<message>` did.
#[derive(Debug, Default)]
pub(crate) struct Routed {
    /// Whether any device was addressed.
    pub(crate) addressed: bool,
    /// The server's participant hash when the message's `phash` differs from it (the sender's
    /// device lists are stale): the ack carries it.
    pub(crate) phash: Option<String>,
}

/// A `<message>` from `me`, either with `<participants><to jid><enc/></to>...</participants>` or,
/// for a retry resend, `<message to=<device>><enc/></message>` to one device: each addressed
/// device of the chat partner or of `me`'s own account gets its own
/// `<message from ...><enc/></message>`; devices of other accounts are ignored.
///
/// A `phash` attribute is checked against [`participant_hash`] over the devices the message
/// should reach (every live device of the chat partner and `me`'s own other live devices, in the
/// chat's addressing), as the server knows them now.
///
/// [`participant_hash`]: wa_session::message::participant_hash
pub(crate) fn message(state: &mut State, now: u64, me: &(String, u16), node: &Node) -> Routed {
    let mut routed = Routed::default();
    let Ok(id) = node.attr_str("id") else { return routed };
    let Ok(to) = node.attr_jid("to") else { return routed };
    let targets: Vec<(Jid, Vec<Node>)> = match node.child("participants") {
        Some(participants) => participants
            .children_with_tag("to")
            .filter_map(|t| Some((t.attr_jid("jid").ok()?, vec![t.child("enc")?.clone()])))
            .collect(),
        // A direct `<enc>` (retry resend) goes to the one device `to` names.
        None => {
            let encs: Vec<Node> = node.children_with_tag("enc").cloned().collect();
            if encs.is_empty() {
                return routed;
            }
            vec![(to.clone(), encs)]
        }
    };
    // The chat: `to`, or for a direct copy to one of our own devices, its `recipient`.
    let chat_jid = match node.attr_opt_jid("recipient").ok().flatten() {
        Some(recipient) if node.child("participants").is_none() => recipient,
        _ => to.to_non_device(),
    };
    let kind = node.attr_opt_str("type").ok().flatten().unwrap_or("text").to_owned();
    let identity = node.child("device-identity").cloned();
    let now = now.to_string();
    let (phone, device) = me;
    let chat = account_of(state, &chat_jid);
    if let (Ok(Some(claimed)), Some(chat)) = (node.attr_opt_str("phash"), &chat) {
        let expected = expected_phash(state, me, chat, chat_jid.server == Server::Lid);
        // Baileys sends the first 6 base64 characters of the whole hash: a prefix of ours.
        let matches = claimed == expected || (claimed.len() >= 8 && expected.starts_with(claimed));
        if !matches {
            debug!(id, claimed, expected, "stale participant list");
            routed.phash = Some(expected);
        }
    }
    for (jid, encs) in targets {
        let Some(recipient) = account_of(state, &jid) else { continue };
        // Only the chat partner's devices and the sender's own other devices may be addressed.
        if Some(&recipient) != chat.as_ref() && &recipient != phone {
            debug!(id, to = %jid, "device of a third account addressed; dropped");
            continue;
        }
        // The real server never echoes a message to the device that sent it.
        if &recipient == phone && jid.device == *device {
            debug!(id, to = %jid, "the sending device addressed itself; not echoed");
            continue;
        }
        let lid = jid.server == Server::Lid;
        let (Some(from), Some(alt)) =
            (device_jid(state, phone, *device, lid), device_jid(state, phone, *device, !lid))
        else {
            continue;
        };
        let mut out = Node::builder("message")
            .attr("id", id.to_owned())
            .attr("from", from)
            .attr("type", kind.clone())
            .attr("t", now.clone())
            .attr("addressing_mode", if lid { "lid" } else { "pn" })
            .attr(if lid { "sender_pn" } else { "sender_lid" }, alt);
        // A copy for the sender's own other devices says which chat it belongs to.
        if &recipient == phone {
            out = out.attr("recipient", chat_jid.clone());
        }
        let mut children = encs;
        if let Some(identity) = &identity {
            children.push(identity.clone());
        }
        let out = out.children(children).build();
        debug!(id, to = %jid, "routing message");
        deliver(state, &recipient, jid.device, "message", id, out);
        routed.addressed = true;
    }
    routed
}

/// The participant hash of a message from `me` to account `chat`: every live device of `chat`
/// and `me`'s own other live devices.
fn expected_phash(state: &State, me: &(String, u16), chat: &str, lid: bool) -> String {
    let mut devices = Vec::new();
    for account in [chat, me.0.as_str()] {
        let Some(account) = state.accounts.get(account) else { continue };
        for (&id, device) in &account.devices {
            if device.removed || (account.phone == me.0 && id == me.1) {
                continue;
            }
            devices.push(if lid {
                lid_jid(&account.lid, id)
            } else {
                phone_jid(&account.phone, id)
            });
        }
        if chat == me.0 {
            break;
        }
    }
    wa_session::message::participant_hash(devices.iter())
}

/// A `<receipt id to [participant] [type]>` from `me`, relayed to the devices of the account
/// `to` names (except `me`) as `<receipt id from=me [participant] [type] t>`. The receipt type is
/// relayed as sent (an `inactive` receipt stays `inactive`). Like an ack, the receipt removes the
/// message with that id from `me`'s queue (Baileys answers a message it decrypted with a receipt
/// only, and acks only failures).
pub(crate) fn receipt(state: &mut State, now: u64, me: &(String, u16), node: &Node) {
    let (Ok(id), Ok(to)) = (node.attr_str("id"), node.attr_jid("to")) else { return };
    let (phone, device) = me;
    let now = now.to_string();
    // The recipient's receipt also settles the message it names, like an ack.
    let mut settled = 0;
    if let Some(queue) = state.queues.get_mut(me) {
        let before = queue.len();
        queue.retain(|q| !(q.id == id && q.class == "message"));
        settled = before - queue.len();
    }
    state.counters.acked += settled as u64;
    let Some(sender) = account_of(state, &to) else { return };
    let Some(from) = device_jid(state, phone, *device, to.server == Server::Lid) else { return };
    let devices: Vec<u16> = state
        .accounts
        .get(&sender)
        .map(|a| a.devices.keys().copied().collect())
        .unwrap_or_default();
    let mut out = Node::builder("receipt").attr("id", id.to_owned()).attr("from", from);
    for key in ["participant", "type", "recipient"] {
        if let Ok(Some(value)) = node.attr_opt_str(key) {
            out = out.attr(key, value.to_owned());
        }
    }
    let out = out.attr("t", now).children(node.children().to_vec()).build();
    for target in devices {
        if sender == *phone && target == *device {
            continue;
        }
        deliver(state, &sender, target, "receipt", id, out.clone());
    }
}

/// The client acked a routed stanza: drop it from the device's queue.
pub(crate) fn acked(state: &mut State, me: &(String, u16), node: &Node) {
    let (Ok(id), Ok(class)) = (node.attr_str("id"), node.attr_str("class")) else { return };
    let mut removed = 0;
    if let Some(queue) = state.queues.get_mut(me) {
        let before = queue.len();
        queue.retain(|q| !(q.id == id && q.class == class));
        removed = before - queue.len();
    }
    state.counters.acked += removed as u64;
}

/// What is queued for `phone:device`, oldest first (sent at login, before `<ib><offline>`).
pub(crate) fn pending(state: &State, phone: &str, device: u16) -> Vec<Node> {
    state
        .queues
        .get(&(phone.to_owned(), device))
        .map(|q| q.iter().map(|q| q.node.clone()).collect())
        .unwrap_or_default()
}
