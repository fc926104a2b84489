//! The connector events' `data`, as the REST documentation shows them
//! (`api-reference/imopenlines/imconnector/events/*.md`), and the events waiting for delivery
//! after a REST call.

use serde_json::{Value, json};

use crate::contact_center::session::{OpenLineMessage, OpenLineSession};

/// An event to deliver to the handlers bound for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingEvent {
    /// `ONIMCONNECTOR...`.
    pub(crate) name: &'static str,
    /// `data`.
    pub(crate) data: Value,
    /// The portal user the event's `auth` is for.
    pub(crate) user: u64,
}

impl PendingEvent {
    /// `ONIMCONNECTORLINEDELETE`: `data` is the bare line id.
    pub(crate) fn line_delete(line: u64) -> Self {
        PendingEvent { name: "ONIMCONNECTORLINEDELETE", data: json!(line), user: 1 }
    }

    /// `ONIMCONNECTORSTATUSDELETE`: lower-case keys.
    pub(crate) fn status_delete(connector: &str, line: u64, user: u64) -> Self {
        PendingEvent {
            name: "ONIMCONNECTORSTATUSDELETE",
            data: json!({"connector": connector, "line": line}),
            user,
        }
    }

    /// `ONIMCONNECTORDIALOGSTART` or `...FINISH` (by `session.closed`); `close_term` is the
    /// line's `FULL_CLOSE_TIME` in minutes. `LINE` is a string there.
    pub(crate) fn dialog(session: &OpenLineSession, close_term: u64, user: u64) -> Self {
        let name =
            if session.closed { "ONIMCONNECTORDIALOGFINISH" } else { "ONIMCONNECTORDIALOGSTART" };
        let data = json!({
            "CONNECTOR": session.connector, "LINE": session.line.to_string(),
            "DATA": [{
                "connector": {"connector_id": session.connector, "line_id": session.line,
                              "chat_id": session.chat_id, "user_id": session.external_user_id},
                "session": {"id": session.id, "closed": if session.closed { "Y" } else { "N" },
                            "parent_id": session.parent_id, "close_term": close_term},
                "chat": {"id": session.chat_id},
                "user": {"id": session.external_user_id},
            }],
        });
        PendingEvent { name, data, user }
    }

    /// `ONIMCONNECTORMESSAGEADD`: `message{user_id, text, files[i]{name, link, type}}`.
    pub(crate) fn message_add(m: &OpenLineMessage, user: u64) -> Self {
        let mut message = json!({"user_id": user, "text": m.text});
        if !m.files.is_empty() {
            message["files"] = Value::Array(m.files.clone());
        }
        PendingEvent { name: "ONIMCONNECTORMESSAGEADD", data: envelope(m, message), user }
    }

    /// `ONIMCONNECTORMESSAGEUPDATE`: `message{id: [external ids], text}`.
    pub(crate) fn message_update(m: &OpenLineMessage, user: u64) -> Self {
        let message = json!({"id": m.external_ids, "text": m.text});
        PendingEvent { name: "ONIMCONNECTORMESSAGEUPDATE", data: envelope(m, message), user }
    }

    /// `ONIMCONNECTORMESSAGEDELETE`: `message{id}` (the external id, a string).
    pub(crate) fn message_delete(m: &OpenLineMessage, user: u64) -> Self {
        let id = m.external_ids.first().cloned().unwrap_or_default();
        PendingEvent {
            name: "ONIMCONNECTORMESSAGEDELETE",
            data: envelope(m, json!({"id": id})),
            user,
        }
    }
}

/// `{CONNECTOR, LINE, MESSAGES: [{im{chat_id, message_id}, message, chat{id}}]}`.
fn envelope(m: &OpenLineMessage, message: Value) -> Value {
    json!({"CONNECTOR": m.connector, "LINE": m.line, "MESSAGES": [{
        "im": {"chat_id": m.chat_id, "message_id": m.id},
        "message": message,
        "chat": {"id": m.external_chat_id},
    }]})
}
