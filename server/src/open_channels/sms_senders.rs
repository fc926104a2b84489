//! wab24 as the CRM's message provider: one provider per line (REST docs
//! `api-reference/messageservice/messageservice-sender-add.md`), so that the CRM's "send message"
//! and robots choose the WhatsApp line by choosing the provider. One per line rather than one
//! for all: what Bitrix24 POSTs to the `HANDLER` names the provider (`code`) and the recipient
//! but no sender number (there is no `MESSAGE_FROM` among the documented fields), so the line
//! can only be told by the provider.
//!
//! The providers are brought in step with the lines (added for a line that has none, deleted
//! for a line that is gone) at install, at start and when a line is created or deleted. What
//! they should be follows from the stored lines, so nothing needs queueing: a portal whose sync
//! failed (Bitrix24 away) stays marked and the outbox worker tries again every 30 s, and a
//! restart syncs every portal. Each step is idempotent (listed first), so a retry never adds
//! twice.

use b24_client::{Error as B24Error, Portal};
use serde_json::{Value, json};
use tenancy::{Caller, LineId, Tenant};

use super::store_error::storage;
use crate::state::AppState;

/// What every provider code of ours starts with; the line's id follows.
pub const CODE_PREFIX: &str = "wab24_line_";

/// The path of the providers' handler (a signed token follows).
pub const HANDLER_PATH: &str = "/b24/messageservice/";

/// The provider code of `line_id`.
#[must_use]
pub fn code(line_id: LineId) -> String {
    format!("{CODE_PREFIX}{line_id}")
}

/// The line of one of our provider codes.
#[must_use]
pub fn line_of(code: &str) -> Option<LineId> {
    code.strip_prefix(CODE_PREFIX)?.parse().ok().filter(|id: &LineId| *id > 0)
}

/// The `HANDLER` URL of `line_id`: it carries a token we signed naming the portal and line,
/// which the handler checks before reading the body (the `application_token` Bitrix24 sends is
/// no secret).
#[must_use]
pub fn handler_url(state: &AppState, member_id: &str, line_id: LineId) -> String {
    let token = state.settings().media_links.key.sign_handler(member_id, line_id);
    format!("{}{HANDLER_PATH}{token}", state.settings().public_url.trim_end_matches('/'))
}

/// Brings `tenant`'s providers in step with its lines: `messageservice.sender.list`, then
/// `.sender.add` for each line without one and `.sender.delete` for each of ours whose line is
/// gone. Returns what was done, for the audit log.
///
/// # Errors
///
/// Bitrix24's (the caller retries), our store's.
pub async fn sync(state: &AppState, tenant: &Tenant, portal: &Portal) -> Result<Value, B24Error> {
    let lines = tenant.lines(Caller::System).await.map_err(storage)?;
    let existing: Vec<String> = portal.call_as("messageservice.sender.list", json!({})).await?;
    let mut added = vec![];
    for line in &lines {
        let code = code(line.id);
        if existing.contains(&code) {
            continue;
        }
        let params = json!({
            "CODE": code,
            "TYPE": "SMS",
            "HANDLER": handler_url(state, tenant.member_id(), line.id),
            "NAME": format!("WhatsApp: {}", line.name),
            "DESCRIPTION": "Sends the message through this WhatsApp line of wab24",
        });
        match portal.call_as::<Value>("messageservice.sender.add", params).await {
            Ok(_) => added.push(code),
            Err(B24Error::Api { code: c, .. })
                if c.as_str() == "ERROR_SENDER_ALREADY_INSTALLED" => {}
            Err(e) => return Err(e),
        }
    }
    let mut deleted = vec![];
    for code in existing {
        let Some(line_id) = line_of(&code) else { continue };
        if lines.iter().any(|l| l.id == line_id) {
            continue;
        }
        match portal.call_as::<Value>("messageservice.sender.delete", json!({"CODE": code})).await {
            Ok(_) => deleted.push(code),
            Err(B24Error::Api { code: c, .. }) if c.as_str() == "ERROR_SENDER_NOT_FOUND" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json!({"method": "messageservice.sender", "added": added, "deleted": deleted}))
}

fn stale(state: &AppState) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
    state.stale_senders().lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A line of `member_id` was created or deleted: its providers are brought in step now, or by
/// the worker once Bitrix24 answers.
pub async fn line_changed(state: AppState, member_id: String) {
    stale(&state).insert(member_id);
    sync_stale(&state).await;
}

/// Brings in step the providers of every portal marked stale; a portal whose sync fails stays
/// marked. Returns how many were done.
pub async fn sync_stale(state: &AppState) -> usize {
    let members: Vec<String> = stale(state).iter().cloned().collect();
    let mut done = 0;
    for member_id in members {
        if sync_now(state, &member_id).await {
            stale(state).remove(&member_id);
            done += 1;
        }
    }
    done
}

/// [`sync`] for one portal, audited (`b24.connector_call`) when it changed something or failed,
/// and logged; a failure marks the portal stale for the worker. True when done.
pub async fn sync_now(state: &AppState, member_id: &str) -> bool {
    let Ok(tenant) = state.store().tenant(member_id).await else { return false };
    let portal = match state.portal(member_id).await {
        Ok(p) => p,
        Err(_) => {
            stale(state).insert(member_id.to_owned());
            return false;
        }
    };
    let (payload, ok) = match sync(state, &tenant, &portal).await {
        Ok(done) if done["added"] == json!([]) && done["deleted"] == json!([]) => return true,
        Ok(done) => (done, true),
        Err(e) => {
            state.metrics().b24_error();
            tracing::warn!(member_id, error = %e, "message providers not brought in step");
            stale(state).insert(member_id.to_owned());
            let failed = json!({"method": "messageservice.sender", "result": "error",
                "error": e.to_string()});
            (failed, false)
        }
    };
    if let Err(e) = tenant
        .record_connector_call(Caller::System, "messageservice:senders", &payload, state.now())
        .await
    {
        tracing::warn!(member_id, error = %e, "message providers' sync not audited");
    }
    ok
}
