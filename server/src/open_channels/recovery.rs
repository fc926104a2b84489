//! Whether a customer's message already reached Bitrix24. `imconnector.send.messages` has no
//! idempotency key, so a call whose answer was lost (a proxy error after Bitrix24 committed, a
//! process killed before the outbox marked it done) would put the message in the Open Line
//! twice if simply sent again. Before a retry the worker asks: the chat of the customer
//! (`imopenlines.dialog.get` by the connector's `USER_CODE`), then its latest session's
//! messages (`imopenlines.session.history.get`), each carrying the connector's message ids in
//! `params.connectorMid`.
//!
//! REST docs: api-reference/imopenlines/openlines/sessions/imopenlines-dialog-get.md
//! (`USER_CODE` `<connector>|<LINE_ID>|<CONNECTOR_CHAT_ID>|<CONNECTOR_USER_ID>`, `ACCESS_ERROR`
//! when there is no such dialog) and imopenlines-session-history-get.md (`message.*.params.
//! connectorMid`, `chatId`, `sessionId`).
//!
//! Not covered: a message that landed in a session closed since (the history read is the
//! chat's latest session's).

use b24_client::{Error as B24Error, ErrorCode, Id, Portal};
use serde_json::{Value, json};

use super::connector::CONNECTOR_ID;

/// Bitrix24's answer element for `element` (an `imconnector.send.messages` `MESSAGES` item)
/// when the message is already in the customer's Open Line chat: `{SUCCESS, session{ID,
/// CHAT_ID}}` as `send.messages` would have answered; `None` when it is not.
///
/// # Errors
///
/// Bitrix24's, other than "no such dialog" (the caller retries later).
pub async fn already_sent(
    portal: &Portal,
    line: Id,
    element: &Value,
) -> Result<Option<Value>, B24Error> {
    let text = |pointer: &str| match element.pointer(pointer) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (Some(chat), Some(user), Some(message)) =
        (text("/chat/id"), text("/user/id"), text("/message/id"))
    else {
        return Ok(None);
    };
    let user_code = format!("{CONNECTOR_ID}|{}|{chat}|{user}", line.0);
    let dialog =
        match portal.call("imopenlines.dialog.get", json!({ "USER_CODE": user_code })).await {
            Ok(envelope) => envelope.result,
            Err(B24Error::Api { code: ErrorCode::Other(code), .. }) if code == "ACCESS_ERROR" => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
    let Some(chat_id) = dialog.get("id").and_then(Id::from_value) else { return Ok(None) };
    let history =
        portal.call("imopenlines.session.history.get", json!({ "CHAT_ID": chat_id.0 })).await?;
    let history = history.result;
    let sent = history
        .get("message")
        .and_then(Value::as_object)
        .is_some_and(|all| all.values().any(|m| carries(m, &message)));
    if !sent {
        return Ok(None);
    }
    let session = history.get("sessionId").and_then(Id::from_value).map_or(0, |s| s.0);
    Ok(Some(json!({
        "SUCCESS": true,
        "session": {"ID": session.to_string(), "CHAT_ID": chat_id.0.to_string()},
    })))
}

/// Whether a history message carries the connector's message id `id`.
fn carries(message: &Value, id: &str) -> bool {
    match message.pointer("/params/connectorMid") {
        Some(Value::Array(ids)) => ids.iter().any(|v| v.as_str() == Some(id)),
        Some(Value::String(s)) => s == id,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connectors_message_id_is_read_from_the_documented_params() {
        let doc = json!({"id": "85851", "params": {"connectorMid": ["85853"], "fileId": [5437]}});
        assert!(carries(&doc, "85853"));
        assert!(!carries(&doc, "85851"), "Bitrix24's own id is not the connector's");
        assert!(carries(&json!({"params": {"connectorMid": "WA1"}}), "WA1"));
        assert!(!carries(&json!({"params": []}), "WA1"));
    }
}
