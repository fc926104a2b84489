//! What an application can read back of an open line's dialogs: `imopenlines.dialog.get`
//! (a chat by `CHAT_ID`, `DIALOG_ID` `chat<ID>`, `SESSION_ID` or the connector's `USER_CODE`
//! `<connector>|<LINE_ID>|<CONNECTOR_CHAT_ID>|<CONNECTOR_USER_ID>`) and
//! `imopenlines.session.history.get` (a session's messages, `params.connectorMid` carrying the
//! connector's message ids). REST docs: api-reference/imopenlines/openlines/sessions/
//! imopenlines-dialog-get.md and imopenlines-session-history-get.md.

use b24_client::{ErrorCode, Id};
use serde_json::{Map, Value, json};

use crate::{
    contact_center::{MessageAuthor, OpenLineSession},
    portal::{MethodError, MethodOk, Portal},
};

fn access_error() -> MethodError {
    (
        ErrorCode::Other("ACCESS_ERROR".to_owned()),
        "You do not have access to the specified dialog".to_owned(),
    )
}

fn id_of(p: &Value, key: &str) -> Option<u64> {
    p.get(key).and_then(Id::from_value).map(|id| id.0).filter(|id| *id > 0)
}

impl Portal {
    /// The latest session of the chat a request names.
    fn session_named(&self, p: &Value) -> Option<&OpenLineSession> {
        if let Some(id) = id_of(p, "SESSION_ID") {
            return self.center.sessions.get(&id);
        }
        let dialog = p
            .get("DIALOG_ID")
            .and_then(Value::as_str)
            .and_then(|d| d.strip_prefix("chat"))
            .and_then(|d| d.parse::<u64>().ok());
        if let Some(chat) = id_of(p, "CHAT_ID").or(dialog) {
            return self.center.last_session_of_chat(chat);
        }
        let code = p.get("USER_CODE").and_then(Value::as_str)?;
        let parts: Vec<&str> = code.split('|').collect();
        let [connector, line, chat, user] = parts.as_slice() else { return None };
        let line: u64 = line.parse().ok()?;
        self.center.sessions.values().rev().find(|s| {
            s.connector.eq_ignore_ascii_case(connector)
                && s.line == line
                && s.external_chat_id == *chat
                && s.external_user_id == *user
        })
    }

    /// `imopenlines.dialog.get`: the chat's data; `ACCESS_ERROR` (400) when there is none.
    pub(crate) fn openlines_dialog_get(&self, p: &Value) -> Result<MethodOk, MethodError> {
        let s = self.session_named(p).ok_or_else(access_error)?;
        let code =
            format!("{}|{}|{}|{}", s.connector, s.line, s.external_chat_id, s.external_user_id);
        Ok(MethodOk::plain(json!({
            "id": s.chat_id,
            "dialog_id": format!("chat{}", s.chat_id),
            "type": "lines",
            "entity_type": "LINES",
            "entity_id": code,
            // The session id is the sixth field.
            "entity_data_1": format!("Y|NONE|0|N|N|{}|0|0|0|0", s.id),
            "entity_link": {"type": "LINES", "url": "", "id": code},
        })))
    }

    /// `imopenlines.session.history.get`: the messages of a session (`SESSION_ID`) or of the
    /// chat's latest session (`CHAT_ID`).
    pub(crate) fn openlines_session_history(&self, p: &Value) -> Result<MethodOk, MethodError> {
        if id_of(p, "SESSION_ID").is_none() && id_of(p, "CHAT_ID").is_none() {
            return Err((ErrorCode::Argument, "SESSION_ID or CHAT_ID is required".to_owned()));
        }
        let s = self.session_named(p).ok_or_else(access_error)?;
        let mut messages = Map::new();
        let mut ids = vec![];
        for m in self.center.messages.values().filter(|m| m.session_id == s.id && !m.deleted) {
            let sender = match m.author {
                MessageAuthor::Customer(u) | MessageAuthor::Operator(u) => u,
            };
            let mut params = json!({});
            if !m.external_ids.is_empty() {
                params["connectorMid"] = json!(m.external_ids);
            }
            messages.insert(
                m.id.to_string(),
                json!({
                    "id": m.id.to_string(), "chatid": m.chat_id.to_string(),
                    "senderid": sender.to_string(), "recipientid": format!("chat{}", m.chat_id),
                    "text": m.text, "params": params,
                }),
            );
            ids.push(m.id.to_string());
        }
        ids.reverse();
        Ok(MethodOk::plain(json!({
            "chatId": s.chat_id,
            "sessionId": s.id,
            "message": messages,
            "usersMessage": {format!("chat{}", s.chat_id): ids},
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortalSpec;

    #[test]
    fn an_unknown_dialog_is_an_access_error() {
        let p = Portal::new(&PortalSpec::new("m", "d.test"), "app-token".to_owned());
        for request in [
            json!({"USER_CODE": "wab24_whatsapp|1|5599|5599"}),
            json!({"USER_CODE": "garbage"}),
            json!({"CHAT_ID": 999_999}),
        ] {
            let e = p.openlines_dialog_get(&request).unwrap_err();
            assert_eq!(e.0, ErrorCode::Other("ACCESS_ERROR".to_owned()), "{request}");
        }
        let e = p.openlines_session_history(&json!({})).unwrap_err();
        assert_eq!(e.0, ErrorCode::Argument);
    }
}
