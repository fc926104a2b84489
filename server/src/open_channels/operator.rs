//! Bitrix24 to WhatsApp: what the portal's operators do in an Open Line, as the connector events
//! tell it (`ONIMCONNECTORMESSAGEADD`/`UPDATE`/`DELETE`, `DIALOGSTART`/`FINISH`,
//! `STATUSDELETE`, `LINEDELETE`; REST docs `api-reference/imopenlines/imconnector/events/`).
//!
//! An event is only a hint: its `application_token` is no secret. What it asks to do is queued
//! for the portal's confirmation ([`super::confirm`], through the outbox towards Bitrix24) and
//! done from there, with the portal's text:
//!
//! - An operator's message is queued on the line's WhatsApp outbox (the path the panel's replies
//!   take) under an idempotency key made of the line and the Bitrix24 message id, so an event
//!   delivered twice sends once; its text turned from BB-code into WhatsApp markup, its files
//!   fetched from the portal and sent as media. It is stored as ours with the operator as sender
//!   (the panel shows it) and linked to Bitrix24's ids; the delivery and read ticks go back to
//!   Bitrix24 from tenancy's status update (`send.status.delivery`/`reading`).
//! - An edit or a deletion becomes a WhatsApp edit or revoke of the linked message, once per
//!   change.
//! - A connector switched off or an Open Line deleted leaves the line to the panel.
//!
//! Every event is audited with its raw payload; a message that cannot be handled is answered in
//! the result (and logged) without stopping the others; one the portal does not confirm is
//! audited as refused.

use b24_client::inbound::{
    ConnectorDialog, ConnectorFile, ConnectorMessage, ConnectorMessages, Event, EventKind,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tenancy::{
    B24Enqueue, B24MessageLink, B24OutboxKind, Caller, Line, LineSettings, MessageKind,
    OpenChannel, OpenChannelStatus, Outbound, Tenant, User,
};

use super::{
    download::{self, DownloadError},
    pending_event::{self, Action, EventMessage, MAX_FILES, PendingEvent},
};
use crate::{
    error::{ApiError, ApiResult},
    events::ServerEvent,
    open_channels::format,
    runtime::{MediaUpload, Runtime, RuntimeError},
    state::AppState,
    wire::{LineOut, MessageOut},
};

/// The most messages of one event that are handled (Bitrix24 sends one; each may fetch files).
const MAX_MESSAGES: usize = 50;

/// What became of one message of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Queued (or edited, revoked) now: our message ids.
    Done(Vec<i64>),
    /// Handled before (a redelivered event).
    Duplicate,
    /// Not handled, and why (no user data).
    Refused(String),
}

impl Outcome {
    fn json(&self, b24_message_id: Option<u64>) -> Value {
        match self {
            Outcome::Done(ids) => {
                json!({"im_message_id": b24_message_id, "result": "done", "message_ids": ids})
            }
            Outcome::Duplicate => json!({"im_message_id": b24_message_id, "result": "duplicate"}),
            Outcome::Refused(why) => {
                json!({"im_message_id": b24_message_id, "result": "refused", "reason": why})
            }
        }
    }
}

fn refused(why: impl std::fmt::Display) -> Outcome {
    Outcome::Refused(why.to_string())
}

/// Whether `kind` is a connector event handled here.
pub fn handles(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ConnectorMessageAdd(_)
            | EventKind::ConnectorMessageUpdate(_)
            | EventKind::ConnectorMessageDelete(_)
            | EventKind::ConnectorDialogStart(_)
            | EventKind::ConnectorDialogFinish(_)
            | EventKind::ConnectorStatusDelete { .. }
            | EventKind::ConnectorLineDelete { .. }
    )
}

/// Takes a connector event whose `application_token` was checked: it is audited and, for what
/// it asks to do, queued for the portal's confirmation (`confirm_event` items of the outbox
/// towards Bitrix24, see [`super::confirm`]); nothing is done on its word. Returns what became
/// of it.
///
/// # Errors
///
/// Storage failures of the tenant (unknown tenant, database unavailable). What concerns one
/// message is in the result instead.
pub async fn handle(state: &AppState, event: &Event, raw: &[u8]) -> ApiResult<Value> {
    let member_id = event.auth.member_id.as_str();
    let tenant = state.store().tenant(member_id).await?;
    let handled = match &event.kind {
        EventKind::ConnectorMessageAdd(data) => {
            queue_messages(state, &tenant, event, data, Action::Add).await?
        }
        EventKind::ConnectorMessageUpdate(data) => {
            queue_messages(state, &tenant, event, data, Action::Update).await?
        }
        EventKind::ConnectorMessageDelete(data) => {
            queue_messages(state, &tenant, event, data, Action::Delete).await?
        }
        EventKind::ConnectorDialogStart(dialog) | EventKind::ConnectorDialogFinish(dialog) => {
            dialog_summary(&tenant, dialog).await
        }
        EventKind::ConnectorStatusDelete { connector, line } => {
            if connector != super::CONNECTOR_ID {
                json!({"lines": [], "reason": "another connector"})
            } else {
                queue_open_line(state, &tenant, line.0, Action::StatusDelete).await?
            }
        }
        EventKind::ConnectorLineDelete { line } => {
            queue_open_line(state, &tenant, line.0, Action::LineDelete).await?
        }
        _ => return Err(ApiError::BadRequest("not a connector event".to_owned())),
    };
    let open_line = match &event.kind {
        EventKind::ConnectorMessageAdd(d)
        | EventKind::ConnectorMessageUpdate(d)
        | EventKind::ConnectorMessageDelete(d) => Some(d.line.0),
        EventKind::ConnectorDialogStart(d) | EventKind::ConnectorDialogFinish(d) => Some(d.line.0),
        EventKind::ConnectorStatusDelete { line, .. } | EventKind::ConnectorLineDelete { line } => {
            Some(line.0)
        }
        _ => None,
    };
    let line_id = match open_line.and_then(|l| i64::try_from(l).ok()) {
        Some(open_line) => tenant.line_for_open_line(Caller::System, open_line).await.ok(),
        None => None,
    }
    .map(|l| l.id);
    let record = json!({
        "event": event.name,
        "open_line_id": open_line,
        "handled": handled,
        "raw": String::from_utf8_lossy(raw),
    });
    if let Err(error) =
        tenant.record_connector_event(Caller::System, line_id, &record, state.now()).await
    {
        tracing::warn!(member_id, event = %event.name, %error, "connector event not audited");
    }
    state.wake_b24_outbox();
    Ok(json!({"ok": true, "event": event.name, "handled": true, "result": handled}))
}

/// The most unfinished items a tenant's outbox towards Bitrix24 holds before connector events
/// are refused (a flood of events, each a read of the portal, is bounded).
const MAX_WAITING: i64 = 10_000;

/// Queues one `confirm_event` item; its id, or why not.
async fn queue(
    state: &AppState,
    tenant: &Tenant,
    line_id: i64,
    pending: &PendingEvent,
) -> Result<i64, String> {
    match tenant.b24_outbox_backlog(Caller::System).await {
        Ok(waiting) if waiting >= MAX_WAITING => {
            tracing::warn!(
                line_id,
                waiting,
                "connector event refused: the outbox towards Bitrix24 is full"
            );
            return Err("too many calls waiting for Bitrix24".to_owned());
        }
        Ok(_) => {}
        Err(error) => return Err(error.to_string()),
    }
    let payload = serde_json::to_string(pending).map_err(|e| e.to_string())?;
    let now = state.now();
    let at_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    let item = B24Enqueue {
        line_id,
        message_id: None,
        kind: B24OutboxKind::ConfirmEvent,
        idempotency_key: pending_event::key(line_id, &payload, at_ms),
        payload,
    };
    match tenant.enqueue_b24(Caller::System, &item, now).await {
        Ok((item, _)) => Ok(item.id),
        Err(error) => {
            tracing::warn!(line_id, %error, "connector event not queued for confirmation");
            Err(error.to_string())
        }
    }
}

/// `ONIMCONNECTORMESSAGEADD`/`UPDATE`/`DELETE`: each message of a line that feeds the Open Line
/// is queued for the portal's confirmation.
async fn queue_messages(
    state: &AppState,
    tenant: &Tenant,
    event: &Event,
    data: &ConnectorMessages,
    action: Action,
) -> ApiResult<Value> {
    let line = match line_of(tenant, data).await {
        Ok(line) => line,
        Err(outcome) => {
            let results: Vec<Value> = data
                .messages
                .iter()
                .map(|m| outcome.json(m.im.as_ref().map(|i| i.message_id.0)))
                .collect();
            return Ok(json!({"messages": results}));
        }
    };
    let operator_fallback = event.auth.user_id.map(|u| u.0);
    let mut results = Vec::with_capacity(data.messages.len());
    for (i, message) in data.messages.iter().enumerate() {
        let im_id = message.im.as_ref().map(|i| i.message_id.0);
        if i >= MAX_MESSAGES {
            results.push(refused("too many messages in one event").json(im_id));
            continue;
        }
        let Some(im) = &message.im else {
            results.push(refused("the message has no im ids").json(im_id));
            continue;
        };
        let files = if action == Action::Add {
            match pending_event::files_of(&message.message.files) {
                Some(files) => files,
                None => {
                    results.push(refused("a file name or link is too long").json(im_id));
                    continue;
                }
            }
        } else {
            vec![]
        };
        let pending = PendingEvent {
            action,
            open_line_id: data.line.0,
            message: Some(EventMessage {
                chat_id: im.chat_id.0,
                message_id: im.message_id.0,
                chat: message.chat.id.clone(),
                operator: message.message.user_id.map(|u| u.0).or(operator_fallback),
                signature: pending_event::signature_of(&message.message.text),
                body_sha256: pending_event::body_digest(&message.message.text),
                files,
            }),
        };
        results.push(match queue(state, tenant, line.id, &pending).await {
            Ok(id) => json!({"im_message_id": im_id, "result": "queued", "outbox_id": id}),
            Err(why) => refused(why).json(im_id),
        });
    }
    Ok(json!({"line_id": line.id, "messages": results}))
}

/// `ONIMCONNECTORSTATUSDELETE`/`LINEDELETE`: each line on the Open Line is queued for the
/// portal's confirmation.
async fn queue_open_line(
    state: &AppState,
    tenant: &Tenant,
    open_line: u64,
    action: Action,
) -> ApiResult<Value> {
    let Ok(open_line_id) = i64::try_from(open_line) else {
        return Ok(json!({"lines": []}));
    };
    let mut queued = Vec::new();
    for line in tenant.lines(Caller::System).await? {
        if line.open_line_id != Some(open_line_id) {
            continue;
        }
        let pending = PendingEvent { action, open_line_id: open_line, message: None };
        match queue(state, tenant, line.id, &pending).await {
            Ok(id) => queued.push(json!({"line_id": line.id, "result": "queued", "outbox_id": id})),
            Err(why) => {
                queued.push(json!({"line_id": line.id, "result": "refused", "reason": why}))
            }
        }
    }
    Ok(json!({"lines": queued}))
}

/// The line that feeds Open Line `open_line`, through our connector.
async fn line_of(tenant: &Tenant, data: &ConnectorMessages) -> Result<Line, Outcome> {
    if data.connector != super::CONNECTOR_ID {
        return Err(refused("the event is for another connector"));
    }
    let open_line = i64::try_from(data.line.0).map_err(|_| refused("Open Line id out of range"))?;
    let line = match tenant.line_for_open_line(Caller::System, open_line).await {
        Ok(line) => line,
        Err(tenancy::Error::NotFound(_)) => {
            return Err(refused("no WhatsApp line feeds this Open Line"));
        }
        Err(error) => return Err(refused(error)),
    };
    if !line.open_channel.feeds_open_line() {
        return Err(refused("the WhatsApp line no longer feeds this Open Line"));
    }
    Ok(line)
}

/// A confirmed operator message (`ONIMCONNECTORMESSAGEADD`, the portal's text) goes to the
/// customer once: what became of it.
pub(super) async fn send_confirmed(
    state: &AppState,
    tenant: &Tenant,
    line: &Line,
    message: &ConnectorMessage,
    operator_fallback: Option<i64>,
) -> Value {
    let im_id = message.im.as_ref().map(|i| i.message_id.0);
    let rt = match state.require_runtime() {
        Ok(rt) => rt,
        Err(error) => return refused(error).json(im_id),
    };
    let member_id = tenant.member_id().to_owned();
    let portal_origin = match state.store().portal_tokens(&member_id).await {
        Ok(tokens) => tokens.and_then(|t| download::origin_of(&t.client_endpoint)),
        Err(error) => return refused(error).json(im_id),
    };
    let outcome = match one_message(
        state,
        rt,
        tenant,
        &member_id,
        line,
        message,
        portal_origin.as_deref(),
        operator_fallback,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::warn!(line_id = line.id, im_message_id = im_id, %error, "operator message not sent");
            refused(error)
        }
    };
    outcome.json(im_id)
}

/// Whether the operator's signature (`[b]Name:[/b] [br]`, which Bitrix24 adds when the
/// connector asks for it) is kept in what the customer receives: the line's
/// `open_channel_signature` setting, on by default.
const fn keep_signature(line: &Line) -> bool {
    line.open_channel_signature
}

/// The idempotency key of part `part` of Bitrix24 message `b24_id` on `line_id`.
fn key(line_id: i64, b24_id: &str, part: &str) -> String {
    format!("b24:{line_id}:{b24_id}:{part}")
}

#[allow(clippy::too_many_arguments)]
async fn one_message(
    state: &AppState,
    rt: &Runtime,
    tenant: &Tenant,
    member_id: &str,
    line: &Line,
    message: &ConnectorMessage,
    portal_origin: Option<&str>,
    operator_fallback: Option<i64>,
) -> Result<Outcome, RuntimeError> {
    let Some(im) = &message.im else { return Ok(refused("the message has no im ids")) };
    let b24_id = im.message_id.0.to_string();
    if tenant.b24_link_for_b24_message(Caller::System, line.id, &b24_id).await?.is_some() {
        return Ok(Outcome::Duplicate);
    }
    let chat = message.chat.id.as_str();
    let Some(conversation) = tenant.conversation_with(Caller::System, line.id, chat).await? else {
        return Ok(refused("no conversation with this chat on the line"));
    };
    let operator = message
        .message
        .user_id
        .and_then(|u| i64::try_from(u.0).ok())
        .or(operator_fallback)
        .unwrap_or(0);
    remember_operator(state, tenant, operator, &message.message.text).await;
    let keep_signature = keep_signature(line);
    let text = format::operator_text(&message.message.text, keep_signature);
    let mut sent = Vec::new();
    if !text.trim().is_empty() {
        let outbound =
            Outbound { kind: MessageKind::Text, text: Some(text), media: None, quoted_id: None };
        let m = rt
            .send_for_operator(
                member_id,
                operator,
                conversation.id,
                &outbound,
                &key(line.id, &b24_id, "t"),
            )
            .await?;
        sent.push(m.id);
    }
    let mut failed = Vec::new();
    for (i, file) in message.message.files.iter().take(MAX_FILES).enumerate() {
        match file_outbound(rt, member_id, file, portal_origin).await {
            Ok(outbound) => {
                let part = format!("f{i}");
                let m = rt
                    .send_for_operator(
                        member_id,
                        operator,
                        conversation.id,
                        &outbound,
                        &key(line.id, &b24_id, &part),
                    )
                    .await?;
                sent.push(m.id);
            }
            Err(error) => {
                tracing::warn!(line_id = line.id, im_message_id = %b24_id, file = i, %error, "operator file not sent");
                failed.push(format!("file {i}: {error}"));
            }
        }
    }
    let Some(&first) = sent.first() else {
        let why =
            if failed.is_empty() { "the message is empty".to_owned() } else { failed.join("; ") };
        return Ok(Outcome::Refused(why));
    };
    let link = B24MessageLink {
        message_id: first,
        line_id: line.id,
        b24_message_id: Some(b24_id.clone()),
        b24_chat_id: i64::try_from(im.chat_id.0).ok(),
        external_chat_id: chat.to_owned(),
        session_id: None,
    };
    if let Err(error) = tenant.link_b24_message(Caller::System, &link, state.now()).await {
        // A copy of the event handled at the same time linked it first: the sends are the
        // same messages (same keys), so nothing went out twice.
        if tenant.b24_link_for_b24_message(Caller::System, line.id, &b24_id).await?.is_none() {
            return Err(error.into());
        }
    }
    // A message delivered before it was linked: its ticks are queued now (once either way).
    tenant.queue_operator_ticks(Caller::System, first, state.now()).await?;
    if !failed.is_empty() {
        tracing::warn!(line_id = line.id, im_message_id = %b24_id, failed = failed.len(), "operator message sent without some files");
    }
    Ok(Outcome::Done(sent))
}

/// Makes an operator the tenant does not know yet (one who never opened the app) known by the
/// name their signature carries, so that the panel names the author of their messages.
async fn remember_operator(state: &AppState, tenant: &Tenant, operator: i64, bbcode: &str) {
    let Some(name) = format::split_signature(bbcode).operator else { return };
    if operator <= 0 {
        return;
    }
    let known = match tenant.users(Caller::System).await {
        Ok(users) => users.iter().any(|u| u.id == operator),
        Err(error) => {
            tracing::warn!(%error, "users not readable");
            return;
        }
    };
    if known {
        return;
    }
    let name: String = name.chars().take(100).collect();
    let user = User { id: operator, name, is_admin: false };
    if let Err(error) = tenant.upsert_user(Caller::System, &user, state.now()).await {
        tracing::warn!(%error, "operator not recorded as a user");
    }
}

/// The media message of an operator's file: downloaded from the portal, stored, typed.
async fn file_outbound(
    rt: &Runtime,
    member_id: &str,
    file: &ConnectorFile,
    portal_origin: Option<&str>,
) -> Result<Outbound, FileError> {
    let origin = portal_origin.ok_or(FileError::Download(DownloadError::NotOnPortal))?;
    let limit = rt.max_media();
    let fetched = download::fetch(&file.link, origin, limit).await.map_err(FileError::Download)?;
    let mime = if fetched.mime == "application/octet-stream" {
        download::mime_of_name(&file.name).unwrap_or("application/octet-stream").to_owned()
    } else {
        fetched.mime
    };
    let kind = download::kind_for(&file.kind, &mime);
    let name: String = file.name.chars().take(128).collect();
    let upload = MediaUpload {
        mime: Some(mime),
        caption: None,
        file_name: (!name.is_empty()).then_some(name),
    };
    rt.store_media(member_id, kind, fetched.bytes, &upload, None).await.map_err(FileError::Store)
}

/// Why one file of an operator's message was not sent.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("{0}")]
    Download(DownloadError),
    #[error("{0}")]
    Store(RuntimeError),
}

/// What an update or delete event does to the linked WhatsApp message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Amend {
    /// An edit (`ONIMCONNECTORMESSAGEUPDATE`).
    Edit,
    /// A revoke (`ONIMCONNECTORMESSAGEDELETE`).
    Revoke,
}

/// A confirmed `ONIMCONNECTORMESSAGEUPDATE`/`DELETE` (the portal's text): the linked message
/// is edited or revoked, once per change. What became of it.
pub(super) async fn amend_confirmed(
    state: &AppState,
    tenant: &Tenant,
    line: &Line,
    message: &ConnectorMessage,
    what: Amend,
) -> Value {
    let im_id = message.im.as_ref().map(|i| i.message_id.0);
    let rt = match state.require_runtime() {
        Ok(rt) => rt,
        Err(error) => return refused(error).json(im_id),
    };
    let member_id = tenant.member_id().to_owned();
    let outcome = match amend_one(state, rt, tenant, &member_id, line, message, what).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::warn!(line_id = line.id, im_message_id = im_id, %error, "operator edit or deletion not sent");
            refused(error)
        }
    };
    outcome.json(im_id)
}

async fn amend_one(
    state: &AppState,
    rt: &Runtime,
    tenant: &Tenant,
    member_id: &str,
    line: &Line,
    message: &ConnectorMessage,
    what: Amend,
) -> Result<Outcome, RuntimeError> {
    let Some(im) = &message.im else { return Ok(refused("the message has no im ids")) };
    let b24_id = im.message_id.0.to_string();
    let Some(link) = tenant.b24_link_for_b24_message(Caller::System, line.id, &b24_id).await?
    else {
        return Ok(refused("no WhatsApp message is linked to this Bitrix24 message"));
    };
    let ours = tenant.message(Caller::System, link.message_id).await?;
    let text = format::operator_text(&message.message.text, keep_signature(line));
    let action = match what {
        Amend::Revoke => "delete".to_owned(),
        Amend::Edit => {
            let digest = Sha256::digest(text.as_bytes());
            format!("update:{}", hex::encode(&digest[..8]))
        }
    };
    // What cannot be done now is refused before the change is marked handled, so that the
    // same change asked again later is tried.
    if ours.wa_id.is_none() {
        return Ok(refused("the message is not sent yet"));
    }
    if rt.status(member_id, line.id).is_none() {
        return Ok(refused(RuntimeError::NotRunning(line.id)));
    }
    if what == Amend::Edit && text.trim().is_empty() {
        return Ok(refused("the new text is empty"));
    }
    if !tenant.mark_b24_event_seen(Caller::System, line.id, &b24_id, &action, state.now()).await? {
        return Ok(Outcome::Duplicate);
    }
    let done = match what {
        Amend::Edit => rt.edit_text(member_id, &ours, &text).await,
        Amend::Revoke => rt.revoke(member_id, &ours).await,
    };
    // Bitrix24 does not deliver an event again after a failure, so the mark stays either way:
    // what failed is in the answer and the audit record.
    let amended = done?;
    let record = json!({
        "action": action,
        "im": {"chat_id": im.chat_id.0, "message_id": im.message_id.0},
        "target_wa_id": amended.target_wa_id,
        "wa_id": amended.wa_id,
    });
    let now = state.now();
    let stored = match what {
        Amend::Edit => tenant.record_edited(Caller::System, ours.id, &text, &record, now).await,
        Amend::Revoke => tenant.record_revoked(Caller::System, ours.id, &record, now).await,
    };
    // The panel shows what the customer now sees.
    match stored {
        Ok(message) => state.bus().publish(ServerEvent::MessageStatus {
            member_id: member_id.to_owned(),
            line_id: message.line_id,
            message_id: message.id,
            wa_id: amended.target_wa_id,
            status: message.status,
            message: Some(MessageOut::from(message)),
        }),
        Err(error) => {
            tracing::warn!(line_id = line.id, %error, "edit or revoke sent but not stored");
        }
    }
    Ok(Outcome::Done(vec![ours.id]))
}

/// `ONIMCONNECTORDIALOGSTART`/`FINISH`: recorded (the audit record carries the sessions).
async fn dialog_summary(tenant: &Tenant, dialog: &ConnectorDialog) -> Value {
    let line = match i64::try_from(dialog.line.0) {
        Ok(open_line) => tenant.line_for_open_line(Caller::System, open_line).await.ok(),
        Err(_) => None,
    };
    let sessions: Vec<Value> = dialog
        .data
        .iter()
        .take(100)
        .map(|d| {
            json!({
                "session_id": d.pointer("/session/id"),
                "chat_id": d.pointer("/chat/id"),
                "closed": d.pointer("/session/closed"),
            })
        })
        .collect();
    json!({"line_id": line.map(|l| l.id), "sessions": sessions})
}

/// A confirmed `ONIMCONNECTORSTATUSDELETE` (the connector was switched off on an Open Line) or
/// `ONIMCONNECTORLINEDELETE` (the Open Line was deleted): the line, if it is still on that
/// Open Line, goes back to the panel; a deleted Open Line is also forgotten.
pub(super) async fn leave_open_line(
    state: &AppState,
    tenant: &Tenant,
    line_id: i64,
    open_line: u64,
    deleted: bool,
) -> ApiResult<Value> {
    let line = tenant.line(Caller::System, line_id).await?;
    if line.open_line_id.and_then(|l| u64::try_from(l).ok()) != Some(open_line) {
        return Ok(json!({"lines": [], "reason": "the line is on another Open Line now"}));
    }
    let settings = LineSettings {
        open_channel: Some(OpenChannel::Panel),
        open_line_id: deleted.then_some(None),
        ..LineSettings::default()
    };
    tenant.set_line_settings(Caller::System, line.id, &settings, state.now()).await?;
    // Bitrix24 no longer shows the connector there: the panel says so at once.
    let updated =
        tenant.set_open_channel_status(Caller::System, line.id, OpenChannelStatus::Off).await?;
    state.bus().publish(ServerEvent::LineUpdated {
        member_id: tenant.member_id().to_owned(),
        line: LineOut::from(updated),
    });
    Ok(json!({"lines": [line.id], "open_channel": "panel", "open_line_forgotten": deleted}))
}

#[cfg(test)]
mod tests {
    use b24_client::{Id, inbound::ConnectorMessages};

    use super::*;

    #[test]
    fn keys_name_the_line_the_bitrix24_message_and_the_part() {
        assert_eq!(key(3, "86497", "t"), "b24:3:86497:t");
        assert_eq!(key(3, "86497", "f0"), "b24:3:86497:f0");
        assert_ne!(key(3, "86497", "t"), key(4, "86497", "t"));
    }

    #[test]
    fn connector_events_are_ours_and_others_are_not() {
        let data = ConnectorMessages { connector: CONNECTOR.into(), line: Id(1), messages: vec![] };
        assert!(handles(&EventKind::ConnectorMessageAdd(data)));
        assert!(handles(&EventKind::ConnectorLineDelete { line: Id(1) }));
        assert!(!handles(&EventKind::AppUninstall { clean: false, language_id: String::new() }));
        let done = Outcome::Done(vec![5]).json(Some(9));
        assert_eq!(done, json!({"im_message_id": 9, "result": "done", "message_ids": [5]}));
        assert_eq!(refused("why").json(None)["reason"], "why");
    }

    const CONNECTOR: &str = super::super::CONNECTOR_ID;
}
