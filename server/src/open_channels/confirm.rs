//! A connector event confirmed by the portal before it is acted on. Its `application_token` is
//! no secret (every portal user can read it), so an event only says what to look at: the worker
//! asks the portal, under the installation's own OAuth tokens, through the outbox towards
//! Bitrix24 (a portal down delays the event; it is never lost, and never acted on unconfirmed).
//!
//! - A message, edit or deletion: the customer's chat (`imopenlines.dialog.get` by the
//!   connector's `USER_CODE`) must be the event's Bitrix24 chat, and its latest session's
//!   history (`imopenlines.session.history.get`) must show the message written by an operator
//!   (not the connector's customer, not the system) with the event's text (without the
//!   signature) and files; the text sent is the portal's. A deletion: the history shows the
//!   message deleted (`params.IS_DELETED`), or no longer has it while it has an earlier one of
//!   the same session.
//! - The connector switched off: `imconnector.status` says it is not active on the Open Line.
//! - An Open Line deleted: `imopenlines.config.get` does not find it.
//!
//! What the portal does not confirm is audited (`b24.connector_event_unconfirmed`) with the
//! reason, and nothing is done. REST docs: api-reference/imopenlines/openlines/sessions/
//! imopenlines-dialog-get.md, imopenlines-session-history-get.md (`senderid`, `params`,
//! `users{id: {connector, bot}}`, `files{id: {name}}`), api-reference/imconnector/
//! imconnector-status.md (`STATUS`), api-reference/imopenlines/openlines/
//! imopenlines-config-get.md.

use b24_client::{
    Error as B24Error, ErrorCode, Id, Portal,
    inbound::{ConnectorFile, ConnectorMessage, ConnectorMessageBody, ExternalChat, ImRef},
};
use serde_json::{Value, json};
use tenancy::{B24MessageLink, B24OutboxItem, Caller, Line, Tenant};

use super::{
    connector::CONNECTOR_ID,
    operator::{self, Amend},
    pending_event::{Action, EventMessage, PendingEvent, body_digest},
    store_error::storage,
};
use crate::state::AppState;

/// What the portal says of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    /// It is so; for a message, the portal's text and author.
    Confirmed(Option<PortalMessage>),
    /// It is not so (no user data in the reason).
    Unconfirmed(&'static str),
}

/// An operator's message as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PortalMessage {
    /// Its author (a portal user).
    author: u64,
    /// Its text (BB-code).
    text: String,
    /// The author's name as the portal lists it (`users{id: {name}}`), when it does.
    name: Option<String>,
}

/// Confirms a `confirm_event` item with the portal and acts on it when confirmed. Returns what
/// to audit as the item's answer.
///
/// # Errors
///
/// Bitrix24's (the item is retried with the outbox's backoff, or given up when Bitrix24 refuses
/// the read for good) and our store's.
pub(crate) async fn run(
    state: &AppState,
    tenant: &Tenant,
    portal: &Portal,
    item: &B24OutboxItem,
) -> Result<(Option<B24MessageLink>, Value), B24Error> {
    let pending: PendingEvent = serde_json::from_str(&item.payload).map_err(|e| {
        B24Error::Decode { what: "outbox payload", message: format!("not a pending event: {e}") }
    })?;
    let line = tenant.line(Caller::System, item.line_id).await.map_err(storage)?;
    let check = match (pending.action, &pending.message) {
        (Action::Add | Action::Update | Action::Delete, Some(m)) => {
            check_message(portal, pending.action, pending.open_line_id, m).await?
        }
        (Action::StatusDelete, _) => check_status(portal, pending.open_line_id).await?,
        (Action::LineDelete, _) => check_line(portal, pending.open_line_id).await?,
        (_, None) => {
            return Err(B24Error::Decode {
                what: "outbox payload",
                message: "a message event without its message".to_owned(),
            });
        }
    };
    let ids =
        pending.message.as_ref().map(|m| json!({"chat_id": m.chat_id, "message_id": m.message_id}));
    let summary = json!({
        "event": pending.action.event(),
        "open_line_id": pending.open_line_id,
        "im": ids,
    });
    let confirmed = match check {
        Check::Unconfirmed(reason) => {
            let record = json!({"event": summary, "reason": reason});
            tenant
                .record_unconfirmed_connector_event(
                    Caller::System,
                    Some(line.id),
                    &record,
                    state.now(),
                )
                .await
                .map_err(storage)?;
            tracing::warn!(
                member_id = tenant.member_id(),
                line_id = line.id,
                event = pending.action.event(),
                reason,
                "connector event not confirmed by the portal: refused"
            );
            return Ok((None, json!({"confirmed": false, "event": summary, "reason": reason})));
        }
        Check::Confirmed(m) => m,
    };
    let result = act(state, tenant, &line, &pending, confirmed).await?;
    Ok((None, json!({"confirmed": true, "event": summary, "result": result})))
}

/// Does what a confirmed event asks for.
async fn act(
    state: &AppState,
    tenant: &Tenant,
    line: &Line,
    pending: &PendingEvent,
    portal: Option<PortalMessage>,
) -> Result<Value, B24Error> {
    let feeds = line.open_channel.feeds_open_line()
        && line.open_line_id.and_then(|l| u64::try_from(l).ok()) == Some(pending.open_line_id);
    match (pending.action, &pending.message, portal) {
        (Action::StatusDelete | Action::LineDelete, _, _) => {
            let deleted = pending.action == Action::LineDelete;
            operator::leave_open_line(state, tenant, line.id, pending.open_line_id, deleted)
                .await
                .map_err(|e| B24Error::Transport {
                    method: "tenancy".to_owned(),
                    message: e.to_string(),
                })
        }
        _ if !feeds => Ok(
            json!({"result": "refused", "reason": "the WhatsApp line no longer feeds this Open Line"}),
        ),
        (Action::Add, Some(m), Some(portal)) => {
            let message = connector_message(m, &portal, true);
            let fallback = i64::try_from(portal.author).ok();
            Ok(operator::send_confirmed(state, tenant, line, &message, fallback).await)
        }
        (Action::Update, Some(m), Some(portal)) => {
            let message = connector_message(m, &portal, false);
            Ok(operator::amend_confirmed(state, tenant, line, &message, Amend::Edit).await)
        }
        (Action::Delete, Some(m), _) => {
            let gone = PortalMessage { author: 0, text: String::new(), name: None };
            let message = connector_message(m, &gone, false);
            Ok(operator::amend_confirmed(state, tenant, line, &message, Amend::Revoke).await)
        }
        _ => Err(B24Error::Decode {
            what: "outbox payload",
            message: "nothing to act on".to_owned(),
        }),
    }
}

/// The message to act on: the event's ids and files, the portal's text and author (signed, as
/// the event was, with the author's name as the portal lists it).
fn connector_message(m: &EventMessage, portal: &PortalMessage, files: bool) -> ConnectorMessage {
    let body = super::format::split_signature(&portal.text).body;
    let name = portal.name.as_deref().filter(|n| !n.trim().is_empty() && !n.contains(['[', ']']));
    let text = match (name, &m.signature) {
        (Some(name), Some(_)) => format!("[b]{}:[/b] [br]{body}", name.trim()),
        (None, Some(name)) => format!("[b]{name}:[/b] [br]{body}"),
        (_, None) => portal.text.clone(),
    };
    let files = if files {
        m.files
            .iter()
            .map(|f| ConnectorFile {
                name: f.name.clone(),
                link: f.link.clone(),
                kind: f.kind.clone(),
                size: None,
            })
            .collect()
    } else {
        vec![]
    };
    ConnectorMessage {
        im: Some(ImRef { chat_id: Id(m.chat_id), message_id: Id(m.message_id) }),
        message: ConnectorMessageBody {
            id: vec![],
            user_id: (portal.author > 0).then_some(Id(portal.author)),
            text,
            files,
        },
        chat: ExternalChat { id: m.chat.clone() },
    }
}

/// Whether a history message's flag (`params.IS_DELETED`, `IS_EDITED`) is set.
fn flag(message: &Value, name: &str) -> bool {
    match message.pointer(&format!("/params/{name}")) {
        Some(Value::String(s)) => s.eq_ignore_ascii_case("y"),
        Some(Value::Bool(b)) => *b,
        _ => false,
    }
}

fn id_of(v: Option<&Value>) -> Option<u64> {
    v.and_then(Id::from_value).map(|i| i.0)
}

fn no_dialog(e: &B24Error) -> bool {
    matches!(e, B24Error::Api { code: ErrorCode::Other(code), .. } if code == "ACCESS_ERROR")
}

/// What the portal shows of the event's message.
async fn check_message(
    portal: &Portal,
    action: Action,
    open_line: u64,
    m: &EventMessage,
) -> Result<Check, B24Error> {
    // The customer's chat, by the connector's user code: the event's Bitrix24 chat must be it
    // (else an operator's message of one chat could be sent to another customer).
    let user_code = format!("{CONNECTOR_ID}|{open_line}|{}|{}", m.chat, m.chat);
    let dialog = match portal.call("imopenlines.dialog.get", json!({"USER_CODE": user_code})).await
    {
        Ok(envelope) => envelope.result,
        Err(e) if no_dialog(&e) => return Ok(Check::Unconfirmed("the portal has no such chat")),
        Err(e) => return Err(e),
    };
    if id_of(dialog.get("id")) != Some(m.chat_id) {
        return Ok(Check::Unconfirmed("the message is not in this customer's chat"));
    }
    let history = match portal
        .call("imopenlines.session.history.get", json!({"CHAT_ID": m.chat_id}))
        .await
    {
        Ok(envelope) => envelope.result,
        Err(e) if no_dialog(&e) => return Ok(Check::Unconfirmed("the portal has no such chat")),
        Err(e) => return Err(e),
    };
    Ok(judge(action, m, &history))
}

/// Judges a message event against the chat's history (`imopenlines.session.history.get`).
fn judge(action: Action, m: &EventMessage, history: &Value) -> Check {
    let all = history.get("message").and_then(Value::as_object);
    let found = all.and_then(|all| all.get(&m.message_id.to_string()));
    if action == Action::Delete {
        return match found {
            Some(message) if flag(message, "IS_DELETED") => Check::Confirmed(None),
            Some(_) => Check::Unconfirmed("the portal still shows the message"),
            // Ids grow: a message absent from the latest session while an earlier one of it is
            // there was deleted; one before the session may just be in an older one.
            None if all.is_some_and(|all| {
                all.keys().filter_map(|k| k.parse::<u64>().ok()).any(|k| k < m.message_id)
            }) =>
            {
                Check::Confirmed(None)
            }
            None => Check::Unconfirmed("the message is not in the chat's latest session"),
        };
    }
    let Some(message) = found else {
        return Check::Unconfirmed("the portal has no such message in the chat");
    };
    if id_of(message.get("chatid")).is_some_and(|c| c != m.chat_id) {
        return Check::Unconfirmed("the message is in another chat");
    }
    if flag(message, "IS_DELETED") {
        return Check::Unconfirmed("the portal shows the message deleted");
    }
    let Some(author) = id_of(message.get("senderid")).filter(|a| *a > 0) else {
        return Check::Unconfirmed("the message was written by the system, not an operator");
    };
    let user = history.pointer(&format!("/users/{author}"));
    let is = |key: &str| user.and_then(|u| u.get(key)).and_then(Value::as_bool) == Some(true);
    if is("connector") || is("bot") {
        return Check::Unconfirmed("the message was not written by an operator");
    }
    if action == Action::Add && m.operator.is_some_and(|o| o != author) {
        return Check::Unconfirmed("the message was written by another user");
    }
    let text = message.get("text").and_then(Value::as_str).unwrap_or("");
    // An operator's message edited since keeps its author: the portal's text goes.
    let same_text = body_digest(text) == m.body_sha256;
    let edited_since = action == Action::Add && flag(message, "IS_EDITED");
    if !(same_text || edited_since) {
        return Check::Unconfirmed("the text differs from the portal's");
    }
    if action == Action::Add && !files_match(history, message, m) {
        return Check::Unconfirmed("the files differ from the portal's");
    }
    let name = user.and_then(|u| u.get("name")).and_then(Value::as_str).map(str::to_owned);
    Check::Confirmed(Some(PortalMessage { author, text: text.to_owned(), name }))
}

/// Whether every file the event named is one of the portal message's (`params.fileId`, by name
/// in `files`), each once.
fn files_match(history: &Value, message: &Value, m: &EventMessage) -> bool {
    let mut names: Vec<String> = message
        .pointer("/params/fileId")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id_of(Some(id)))
                .filter_map(|id| history.pointer(&format!("/files/{id}/name")))
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    m.files.iter().all(|f| match names.iter().position(|n| *n == f.name) {
        Some(i) => {
            names.swap_remove(i);
            true
        }
        None => false,
    })
}

/// `imconnector.status`: the connector must not be active on the Open Line any more.
async fn check_status(portal: &Portal, open_line: u64) -> Result<Check, B24Error> {
    let status = portal.imconnector_status(CONNECTOR_ID, Id(open_line)).await?;
    let active = match status.get("STATUS") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("y") || s == "1" || s == "true",
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    };
    Ok(if active {
        Check::Unconfirmed("the portal shows the connector active on the Open Line")
    } else {
        Check::Confirmed(None)
    })
}

/// `imopenlines.config.get`: the Open Line must be gone.
async fn check_line(portal: &Portal, open_line: u64) -> Result<Check, B24Error> {
    let gone = match portal.openlines_config_get(Id(open_line)).await {
        Ok(config) => !config.is_object() || config.as_object().is_some_and(|o| o.is_empty()),
        Err(B24Error::Api { code: ErrorCode::Other(code), .. }) if code.contains("NOT_FOUND") => {
            true
        }
        Err(e) => return Err(e),
    };
    Ok(if gone {
        Check::Confirmed(None)
    } else {
        Check::Unconfirmed("the portal still has the Open Line")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action_text: &str) -> EventMessage {
        EventMessage {
            chat_id: 1763,
            message_id: 85851,
            chat: "79160000301".to_owned(),
            operator: Some(103),
            signature: Some("Anna".to_owned()),
            body_sha256: body_digest(action_text),
            files: vec![],
        }
    }

    /// The documented answer (imopenlines-session-history-get.md), trimmed.
    fn history(text: &str, params: Value) -> Value {
        json!({
            "chatId": 1763, "sessionId": 321,
            "message": {
                "85833": {"id": "85833", "chatid": "1763", "senderid": "0", "text": "lead", "params": {}},
                "85851": {"id": "85851", "chatid": "1763", "senderid": "103", "text": text, "params": params},
            },
            "users": {"103": {"id": "103", "name": "Anna Petrova", "connector": false, "bot": false}},
            "files": {"5437": {"id": 5437, "name": "2311.png"}},
        })
    }

    #[test]
    fn an_operators_message_is_confirmed_with_the_portals_text() {
        let m = event("[b]Bank Security:[/b] [br]Hello");
        let h = history("Hello", json!({"fileId": [5437]}));
        let Check::Confirmed(Some(p)) = judge(Action::Add, &m, &h) else { panic!() };
        assert_eq!((p.author, p.text.as_str()), (103, "Hello"));
        let sent = connector_message(&m, &p, true);
        assert_eq!(sent.message.text, "[b]Anna Petrova:[/b] [br]Hello", "the portal's name");
        let unsigned = EventMessage { signature: None, ..m.clone() };
        assert_eq!(connector_message(&unsigned, &p, true).message.text, "Hello");
        assert_eq!(judge(Action::Update, &m, &h), Check::Confirmed(Some(p)));
    }

    #[test]
    fn forged_messages_are_not_confirmed() {
        let h = history("Hello", json!({}));
        let other_text = event("Send me your card number");
        assert_eq!(
            judge(Action::Add, &other_text, &h),
            Check::Unconfirmed("the text differs from the portal's")
        );
        let mut by_another = event("Hello");
        by_another.operator = Some(7);
        assert!(matches!(judge(Action::Add, &by_another, &h), Check::Unconfirmed(_)));
        let mut system = event("lead");
        system.message_id = 85833;
        assert!(matches!(judge(Action::Add, &system, &h), Check::Unconfirmed(_)));
        let mut absent = event("Hello");
        absent.message_id = 99_999;
        assert!(matches!(judge(Action::Add, &absent, &h), Check::Unconfirmed(_)));
        let mut with_file = event("Hello");
        with_file.files = vec![super::super::pending_event::EventFile {
            name: "2311.png".to_owned(),
            link: "https://portal.test/x".to_owned(),
            kind: "image".to_owned(),
        }];
        assert!(matches!(judge(Action::Add, &with_file, &h), Check::Unconfirmed(_)));
        let h = history("Hello", json!({"fileId": [5437]}));
        assert!(matches!(judge(Action::Add, &with_file, &h), Check::Confirmed(_)));
    }

    #[test]
    fn a_deletion_is_confirmed_only_when_the_portal_shows_it() {
        let m = event("Hello");
        let shown = history("Hello", json!({}));
        assert!(matches!(judge(Action::Delete, &m, &shown), Check::Unconfirmed(_)));
        let deleted = history("", json!({"IS_DELETED": "Y"}));
        assert_eq!(judge(Action::Delete, &m, &deleted), Check::Confirmed(None));
        let mut gone = history("", json!({}));
        gone["message"].as_object_mut().unwrap().remove("85851");
        assert_eq!(judge(Action::Delete, &m, &gone), Check::Confirmed(None));
        // Not in the latest session, which starts after it: an older session may have it.
        let mut older = event("Hello");
        older.message_id = 100;
        assert!(matches!(judge(Action::Delete, &older, &gone), Check::Unconfirmed(_)));
    }
}
