//! What an application can read back of an open line's dialogs: `imopenlines.dialog.get`
//! (a chat by `CHAT_ID`, `DIALOG_ID` `chat<ID>`, `SESSION_ID` or the connector's `USER_CODE`
//! `<connector>|<LINE_ID>|<CONNECTOR_CHAT_ID>|<CONNECTOR_USER_ID>`) and
//! `imopenlines.session.history.get` (a session's messages, `params.connectorMid` carrying the
//! connector's message ids). REST docs: api-reference/imopenlines/openlines/sessions/
//! imopenlines-dialog-get.md and imopenlines-session-history-get.md (`senderid`, `params.fileId`,
//! `users{id: {connector}}`, `files{id: {name, urldownload}}`).

use b24_client::{ErrorCode, Id};
use serde_json::{Map, Value, json};

use crate::{
    contact_center::{MessageAuthor, OpenLineMessage, OpenLineSession},
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
    /// An operator's message as the chat shows it: without the signature the connector's
    /// event carries in front (`[b]Name:[/b] [br]`, added for the connector only).
    fn unsigned(&self, m: &OpenLineMessage, sender: u64) -> String {
        if let MessageAuthor::Operator(_) = m.author
            && let Some(name) = self.user_name(sender)
            && let Some(body) = m.text.strip_prefix(&format!("[b]{name}:[/b] [br]"))
        {
            return body.to_owned();
        }
        m.text.clone()
    }

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
        let mut users = Map::new();
        let mut files = Map::new();
        let mut ids = vec![];
        for m in self.center.messages.values().filter(|m| m.session_id == s.id) {
            let (sender, connector) = match m.author {
                MessageAuthor::Customer(u) => (u, true),
                MessageAuthor::Operator(u) => (u, false),
            };
            let mut params = json!({});
            if !m.external_ids.is_empty() {
                params["connectorMid"] = json!(m.external_ids);
            }
            // The im module's message flags: an edited message shows its new text with
            // `IS_EDITED`, a deleted one stays in the history, emptied, with `IS_DELETED`.
            if m.edited {
                params["IS_EDITED"] = json!("Y");
            }
            let text = if m.deleted {
                params["IS_DELETED"] = json!("Y");
                String::new()
            } else {
                self.unsigned(m, sender)
            };
            if !m.deleted && !m.files.is_empty() {
                let mut file_ids = vec![];
                for (i, f) in m.files.iter().enumerate() {
                    let id = m.id * 1000 + i as u64 + 1;
                    file_ids.push(id);
                    files.insert(
                        id.to_string(),
                        json!({
                            "id": id, "chatid": m.chat_id, "type": f.get("type").cloned()
                                .unwrap_or(json!("file")),
                            "name": f.get("name").cloned().unwrap_or(json!("")),
                            "authorid": sender,
                            "urldownload": f.get("link").or_else(|| f.get("url")).cloned()
                                .unwrap_or(json!("")),
                        }),
                    );
                }
                params["fileId"] = json!(file_ids);
            }
            messages.insert(
                m.id.to_string(),
                json!({
                    "id": m.id.to_string(), "chatid": m.chat_id.to_string(),
                    "senderid": sender.to_string(), "recipientid": format!("chat{}", m.chat_id),
                    "text": text, "params": params,
                }),
            );
            users.entry(sender.to_string()).or_insert_with(|| {
                json!({
                    "id": sender.to_string(),
                    "name": self.user_name(sender).unwrap_or_default(),
                    "bot": false,
                    "connector": connector,
                })
            });
            ids.push(m.id.to_string());
        }
        ids.reverse();
        Ok(MethodOk::plain(json!({
            "chatId": s.chat_id,
            "sessionId": s.id,
            "message": messages,
            "usersMessage": {format!("chat{}", s.chat_id): ids},
            "users": users,
            "files": files,
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
