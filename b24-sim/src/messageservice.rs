//! The message providers (RD `api-reference/messageservice/`): `messageservice.sender.add`,
//! `.sender.update`, `.sender.list`, `.sender.delete` and `messageservice.message.status.update`,
//! and the CRM sending a message through a provider: a POST to the sender's `HANDLER` with the
//! fields of `messageservice-sender-add.md` ("Что приходит в обработчик").

use b24_client::{ErrorCode, form};
use serde_json::{Value, json};

use crate::{
    error::{Error, Result},
    outbound::EventOptions,
    portal::{MethodError, Portal, str_arg},
    sim::Sim,
    state::Delivery,
};

/// At most this many providers per portal (the simulator's bound; Bitrix24 documents none).
const MAX_SENDERS: usize = 200;

/// At most this many messages kept per portal (the oldest go first).
const MAX_MESSAGES: usize = 10_000;

/// The statuses `messageservice.message.status.update` accepts (RD
/// `messageservice-message-status-update.md`, `STATUS`).
const STATUSES: &[&str] = &["queued", "sent", "delivered", "undelivered", "failed"];

fn validation(msg: &str) -> MethodError {
    (ErrorCode::Other("ERROR_SENDER_VALIDATION_FAILURE".to_owned()), msg.to_owned())
}

/// `CODE`: required, `a-z`, `A-Z`, `0-9`, `.`, `-`, `_` (RD `messageservice-sender-add.md`).
fn code_arg(p: &Value) -> Result<String, MethodError> {
    let code = str_arg(p, "CODE")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| validation("Empty sender code!"))?;
    if !code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return Err(validation("Wrong sender code!"));
    }
    Ok(code)
}

/// A string or a map of localised strings (`NAME`, `DESCRIPTION`), as given.
fn text_or_map(p: &Value, key: &str) -> Option<Value> {
    match p.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(json!(s)),
        Some(Value::Object(o)) if !o.is_empty() => Some(Value::Object(o.clone())),
        _ => None,
    }
}

impl Portal {
    /// `messageservice.sender.add` (RD `messageservice-sender-add.md`): `CODE`, `TYPE` (`SMS`
    /// only), `HANDLER` and `NAME` required; a second `CODE` is `ERROR_SENDER_ALREADY_INSTALLED`.
    pub(crate) fn sender_add(&mut self, p: &Value) -> Result<Value, MethodError> {
        if p.as_object().is_none_or(|o| o.keys().all(|k| k == "auth")) {
            return Err(validation("Empty data!"));
        }
        let code = code_arg(p)?;
        let name = text_or_map(p, "NAME").ok_or_else(|| validation("Empty sender NAME!"))?;
        let kind = str_arg(p, "TYPE").filter(|t| !t.is_empty());
        let kind = kind.ok_or_else(|| validation("Empty sender message TYPE!"))?;
        if kind != "SMS" {
            return Err(validation("Unknown sender message TYPE!"));
        }
        let handler = str_arg(p, "HANDLER").filter(|h| !h.is_empty());
        let handler = handler.ok_or_else(|| validation("Empty sender HANDLER!"))?;
        if self.senders.contains_key(&code) {
            return Err((
                ErrorCode::Other("ERROR_SENDER_ALREADY_INSTALLED".to_owned()),
                "Sender already installed!".to_owned(),
            ));
        }
        if self.senders.len() >= MAX_SENDERS {
            return Err((
                ErrorCode::Other("ERROR_SENDER_ADD_FAILURE".to_owned()),
                "Sender save error!".to_owned(),
            ));
        }
        let description = text_or_map(p, "DESCRIPTION").unwrap_or_else(|| json!(""));
        self.senders.insert(
            code.clone(),
            json!({"CODE": code, "TYPE": kind, "HANDLER": handler, "NAME": name,
                   "DESCRIPTION": description}),
        );
        Ok(json!(true))
    }

    /// `messageservice.sender.update` (RD `messageservice-sender-update.md`): `CODE` and at
    /// least one of `NAME`, `DESCRIPTION`, `HANDLER`, which replace what was there.
    pub(crate) fn sender_update(&mut self, p: &Value) -> Result<Value, MethodError> {
        if str_arg(p, "CODE").is_none_or(|c| c.is_empty()) {
            return Err((
                ErrorCode::Other("ERROR_SENDER_CODE_REQUIRED".to_owned()),
                "CODE is required!".to_owned(),
            ));
        }
        let code = code_arg(p)?;
        if ["NAME", "DESCRIPTION", "HANDLER"].iter().all(|k| text_or_map(p, k).is_none()) {
            return Err((
                ErrorCode::Other("ERROR_SENDER_OTHER_PARAMS_REQUIRED".to_owned()),
                "At least one other parameter is required!".to_owned(),
            ));
        }
        let sender = self.senders.get_mut(&code).ok_or_else(not_found)?;
        for key in ["NAME", "DESCRIPTION"] {
            if let Some(v) = text_or_map(p, key) {
                sender[key] = v;
            }
        }
        if let Some(h) = str_arg(p, "HANDLER").filter(|h| !h.is_empty()) {
            sender["HANDLER"] = json!(h);
        }
        Ok(json!(true))
    }

    /// `messageservice.sender.delete` (RD `messageservice-sender-delete.md`).
    pub(crate) fn sender_delete(&mut self, p: &Value) -> Result<Value, MethodError> {
        let code = code_arg(p)?;
        self.senders.remove(&code).ok_or_else(not_found)?;
        Ok(json!(true))
    }

    /// `messageservice.sender.list` (RD `messageservice-sender-list.md`): the codes.
    pub(crate) fn sender_list(&self) -> Value {
        json!(self.senders.keys().collect::<Vec<_>>())
    }

    /// `messageservice.message.status.update` (RD `messageservice-message-status-update.md`):
    /// by the message's sender or an administrator; the statuses are kept in order.
    pub(crate) fn message_status_update(
        &mut self,
        p: &Value,
        user: u64,
    ) -> Result<Value, MethodError> {
        let code = code_arg(p)?;
        let id = str_arg(p, "MESSAGE_ID").unwrap_or_default();
        let admin = self.is_admin(user);
        let msg = self
            .sms
            .iter_mut()
            .find(|m| m["message_id"] == id.as_str() && m["code"] == code.as_str())
            .ok_or_else(|| {
                (
                    ErrorCode::Other("ERROR_MESSAGE_NOT_FOUND".to_owned()),
                    "Message not found!".to_owned(),
                )
            })?;
        let status = str_arg(p, "STATUS").unwrap_or_default();
        if !STATUSES.contains(&status.as_str()) {
            return Err((
                ErrorCode::Other("ERROR_MESSAGE_STATUS_INCORRECT".to_owned()),
                "Message status incorrect!".to_owned(),
            ));
        }
        if !admin && msg["user_id"] != user {
            return Err((ErrorCode::AccessDenied, "Access denied!".to_owned()));
        }
        if let Some(a) = msg["statuses"].as_array_mut() {
            a.push(json!(status));
        }
        Ok(json!(true))
    }
}

fn not_found() -> MethodError {
    (ErrorCode::Other("ERROR_SENDER_NOT_FOUND".to_owned()), "Sender not found!".to_owned())
}

/// A message the CRM sent through a provider.
#[derive(Debug, Clone)]
pub struct SentSms {
    /// The `message_id` Bitrix24 gave it.
    pub message_id: String,
    /// The POST to the provider's `HANDLER`.
    pub delivery: Delivery,
}

impl Sim {
    /// The CRM's "send message" through the provider `code`, by `user_id`, from the card of
    /// the contact `contact_id`: the message is recorded and POSTed (form-encoded) to the
    /// provider's `HANDLER` with `module_id=crm`, `bindings`, `properties`, `type`, `code`,
    /// `message_id`, `message_to`, `message_body`, `ts` and `auth` (RD
    /// `messageservice-sender-add.md`, "Что приходит в обработчик").
    pub async fn send_sms(
        &self,
        member_id: &str,
        code: &str,
        user_id: u64,
        to: &str,
        body: &str,
        contact_id: u64,
    ) -> Result<SentSms> {
        let (handler, message_id) = {
            let mut st = self.state();
            let p = st
                .portals
                .get_mut(member_id)
                .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
            let handler = p
                .senders
                .get(code)
                .and_then(|s| s["HANDLER"].as_str())
                .map(str::to_owned)
                .ok_or_else(|| Error::Delivery(format!("no provider {code}")))?;
            let n = p.id();
            let message_id = format!("{:032x}", u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            if p.sms.len() >= MAX_MESSAGES {
                p.sms.remove(0);
            }
            p.sms.push(json!({"message_id": message_id, "code": code, "user_id": user_id,
                "message_to": to, "message_body": body, "statuses": []}));
            (handler, message_id)
        };
        let auth = self.auth_block(member_id, user_id, &EventOptions::default(), false)?;
        let ts = b24_client::now_unix(&*self.inner.config.clock);
        let payload = json!({
            "module_id": "crm",
            "bindings": [{"OWNER_TYPE_ID": 3, "OWNER_ID": contact_id}],
            "properties": {"phone_number": to, "message_text": body},
            "type": "SMS", "code": code, "message_id": message_id,
            "message_to": to, "message_body": body, "ts": ts.to_string(), "auth": auth,
        });
        let delivery = self.post("MESSAGESERVICE", &handler, form::encode(&payload)).await;
        Ok(SentSms { message_id, delivery })
    }

    /// The providers registered on the portal (`CODE` → the fields given to `sender.add`).
    pub fn senders(&self, member_id: &str) -> Vec<Value> {
        self.state()
            .portals
            .get(member_id)
            .map(|p| p.senders.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The statuses reported for a message, in order.
    pub fn sms_statuses(&self, member_id: &str, message_id: &str) -> Vec<String> {
        self.state()
            .portals
            .get(member_id)
            .and_then(|p| p.sms.iter().find(|m| m["message_id"] == message_id).cloned())
            .and_then(|m| m["statuses"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    }
}
