//! `POST /b24/messageservice/{token}`: the handler of wab24's message providers, which Bitrix24
//! calls when the CRM's "send message" or a robot sends through one (REST docs
//! `api-reference/messageservice/messageservice-sender-add.md`, "Что приходит в обработчик":
//! `type`, `code`, `message_id`, `message_to`, `message_body`, `module_id`, `bindings`, `ts`,
//! `auth`).
//!
//! The `application_token` in `auth` is no secret (every portal user can see it), so the call is
//! admitted on the token we signed into the provider's `HANDLER` URL
//! ([`crate::media_link::MediaLinkKey::sign_handler`]: the portal and the line, HMAC-SHA256
//! under a key derived from the master key), checked before the body is read; the body must
//! then name the same portal and the line's provider. The text goes to `message_to` through the
//! line as a message written first would (the number normalised, checked with WhatsApp, the
//! anti-ban guard): a refusal is a `failed` status with its reason (the answer and the audit
//! log), never a silent drop. Statuses go back through the Bitrix24 outbox. Each call is audited.

use b24_client::form::{self, FormLimits};
use bytes::Bytes;
use serde_json::{Value, json};
use tenancy::{Caller, LineId, MessageId, TenantStatus};
use warp::reply::Response;

use super::{chats::normalise_phone, filters::refuse, shared::json};
use crate::{
    error::{ApiError, ApiResult},
    open_channels::sms_senders,
    state::AppState,
};

/// The most a handler call's form may hold.
const LIMITS: FormLimits = FormLimits { max_pairs: 200, max_depth: 6, max_len: 320 * 1024 };

/// A handler call whose token we signed: the portal and line it names (checked before the body
/// is read).
#[derive(Debug, Clone)]
pub struct Admitted {
    state: AppState,
    member_id: String,
    line_id: LineId,
}

/// Checks the path's token (403 when it is not ours or was altered) and that its portal is
/// installed (404), before the body is read.
///
/// # Errors
///
/// The refusal, as the API's JSON error.
pub async fn admit(token: String, state: AppState) -> Result<Admitted, warp::Rejection> {
    let (member_id, line_id) =
        state.settings().media_links.key.verify_handler(&token).map_err(|e| {
            tracing::warn!(reason = %e, "message provider call refused: not our handler token");
            refuse(ApiError::Forbidden("not a message provider handler of this service"))
        })?;
    let info =
        state.store().info(&member_id).await.map_err(|_| refuse(ApiError::NotFound("portal")))?;
    if info.status != TenantStatus::Active {
        return Err(refuse(ApiError::NotFound("portal")));
    }
    Ok(Admitted { state, member_id, line_id })
}

/// Receives one message from Bitrix24, admitted by [`admit`]: 403 for a body naming another
/// portal or provider; 400 for a body without the documented fields; 200 with `status`
/// `queued` (our message's id) or `failed` (and why) otherwise.
pub async fn receive(admitted: Admitted, body: Bytes) -> ApiResult<Response> {
    let Admitted { state, member_id, line_id } = admitted;
    let form = form::parse(&body, LIMITS)
        .map_err(|e| ApiError::BadRequest(format!("not a Bitrix24 form: {e}")))?;
    let text = |k: &str| form.get(k).and_then(Value::as_str).unwrap_or("");
    if form.pointer("/auth/member_id").and_then(Value::as_str) != Some(member_id.as_str()) {
        tracing::warn!(member_id = %member_id, "message provider call refused: auth names another portal");
        return Err(ApiError::Forbidden("the call names another portal"));
    }
    let code = sms_senders::code(line_id);
    if text("code") != code {
        tracing::warn!(member_id = %member_id, line_id, "message provider call refused: another provider's code");
        return Err(ApiError::Forbidden("the call names another provider"));
    }
    let b24_message_id = text("message_id");
    if b24_message_id.is_empty()
        || b24_message_id.len() > tenancy::MAX_SMS_ID
        || !b24_message_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(ApiError::BadRequest("message_id: 1 to 64 of a-z A-Z 0-9 . - _".to_owned()));
    }
    let body_text = text("message_body");
    if body_text.trim().is_empty() {
        return Err(ApiError::BadRequest("message_body is empty".to_owned()));
    }
    if body_text.len() > tenancy::MAX_OUTBOUND_TEXT {
        return Err(ApiError::BadRequest("message_body longer than 65536 bytes".to_owned()));
    }
    let tenant = state.store().tenant(&member_id).await?;
    let now = state.now();
    if let Some((_, message)) = tenant.sms_message(Caller::System, &code, b24_message_id).await? {
        // Bitrix24 called again with the same message: nothing is sent twice.
        return Ok(json(&answer(message, None, true)));
    }
    // The person sending: the portal user Bitrix24 names in the call we admitted on our token.
    // The right to send through the line is the administrator's, who has its provider offered
    // to the CRM (one per line).
    let user = form
        .pointer("/auth/user_id")
        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_i64()))
        .filter(|u: &i64| *u > 0)
        .unwrap_or(0);
    let caller = Caller::Admin(user);
    let to = text("message_to");
    let outcome =
        send(&state, &member_id, caller, line_id, to, body_text, &code, b24_message_id).await;
    let (message, reason) = match outcome {
        Ok(id) => {
            tenant.link_sms(Caller::System, line_id, &code, b24_message_id, id, now).await?;
            (Some(id), None)
        }
        Err(why) => {
            tenant.fail_sms(Caller::System, line_id, &code, b24_message_id, now).await?;
            (None, Some(why))
        }
    };
    let audit = json!({
        "method": "messageservice.handler",
        "code": code,
        "b24_message_id": b24_message_id,
        "module_id": text("module_id"),
        "message_id": message,
        "result": if message.is_some() { "queued" } else { "failed" },
        "reason": reason,
    });
    let subject = format!("messageservice:{b24_message_id}");
    if let Err(e) = tenant.record_connector_call(Caller::System, &subject, &audit, now).await {
        tracing::warn!(member_id = %member_id, error = %e, "message provider call not audited");
    }
    tracing::info!(member_id = %member_id, line_id, message_id = ?message, failed = reason.is_some(), "CRM message through the provider");
    Ok(json(&answer(message, reason, false)))
}

fn answer(message: Option<MessageId>, reason: Option<String>, duplicate: bool) -> Value {
    json!({
        "status": if message.is_some() { "queued" } else { "failed" },
        "message_id": message,
        "reason": reason,
        "duplicate": duplicate,
    })
}

/// Sends `body` to `to` through the line, as writing first does; why not, as the panel says it.
#[allow(clippy::too_many_arguments)]
async fn send(
    state: &AppState,
    member_id: &str,
    caller: Caller,
    line_id: LineId,
    to: &str,
    body: &str,
    code: &str,
    b24_message_id: &str,
) -> Result<MessageId, String> {
    let said = |e: ApiError| e.to_string();
    let phone = normalise_phone(to)
        .ok_or_else(|| "message_to is not an international phone number".to_owned())?;
    let runtime = state.require_runtime().map_err(said)?;
    let tenant = state.store().tenant(member_id).await.map_err(|e| said(e.into()))?;
    let conversation = match tenant
        .conversation_with(caller, line_id, &phone)
        .await
        .map_err(|e| said(e.into()))?
    {
        Some(c) => c,
        None => {
            let jid = runtime
                .on_whatsapp(member_id, line_id, &phone)
                .await
                .map_err(|e| said(e.into()))?
                .ok_or_else(|| said(ApiError::NotOnWhatsApp))?;
            tenant
                .open_conversation(caller, line_id, &jid.to_string(), &phone, state.now())
                .await
                .map_err(|e| said(e.into()))?
                .0
        }
    };
    let key = format!("sms:{code}:{b24_message_id}");
    let m = runtime
        .send_text(member_id, caller, conversation.id, body, None, &key)
        .await
        .map_err(|e| said(e.into()))?;
    Ok(m.id)
}
