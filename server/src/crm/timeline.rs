//! A conversation day in the CRM timeline, one outbox item (`crm_timeline`, keyed by our
//! conversation id and the UTC day): a log entry (`crm.timeline.logmessage.add`, RD
//! `crm/timeline/logmessage/crm-timeline-logmessage-add.md`) on the contact and on the lead or
//! deal the conversation is linked to, with a link that opens the chat in the portal and the
//! day's files so far as signed links. It waits behind the conversation's routing (items of a
//! line's CRM work keep their order). A retry looks for the entry (`crm.timeline.logmessage.list`,
//! by its title naming the conversation and the day) before adding it again.

use b24_client::{Error as B24Error, Portal};
use serde_json::{Value, json};
use tenancy::{B24OutboxItem, Caller, Tenant};

use super::{
    entity::{CONTACT, DEAL, LEAD},
    phone::e164,
    route::conversation_of,
};
use crate::{open_channels::store_error::storage, state::AppState};

/// The icon Bitrix24 offers every application (`crm.timeline.icon.list`).
const ICON: &str = "info";

/// How many of the conversation's newest messages are looked through for the day's files.
const SCAN: u32 = 200;

/// The entry's title: names the conversation and the day, so that a retry can find it.
fn title(conversation_id: i64, day: &str) -> String {
    format!("WhatsApp {day} (conversation {conversation_id})")
}

/// The link that opens the conversation in the portal: the application's page with the
/// conversation as its parameter.
pub fn chat_link(domain: &str, client_id: &str, conversation_id: i64) -> String {
    format!(
        "https://{domain}/marketplace/app/{client_id}/?params[conversation_id]={conversation_id}"
    )
}

/// Whether an entry with this title is among the item's newest ones.
async fn already_there(
    portal: &Portal,
    entity_type: u32,
    id: i64,
    title: &str,
) -> Result<bool, B24Error> {
    let page = portal
        .call(
            "crm.timeline.logmessage.list",
            json!({ "entityTypeId": entity_type, "entityId": id, "order": { "id": "desc" } }),
        )
        .await?;
    Ok(page
        .result
        .as_array()
        .is_some_and(|a| a.iter().any(|e| e.get("title").and_then(Value::as_str) == Some(title))))
}

/// Adds the day's entry to the conversation's CRM items. Returns what to audit.
pub async fn run(
    state: &AppState,
    tenant: &Tenant,
    portal: &Portal,
    item: &B24OutboxItem,
) -> Result<Value, B24Error> {
    let conversation_id = conversation_of(item)?;
    let payload: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
    let day = payload.get("day").and_then(Value::as_str).unwrap_or("").to_owned();
    let sys = Caller::System;
    let Some(link) = tenant.crm_link(sys, conversation_id).await.map_err(storage)? else {
        return Ok(
            json!({ "method": "crm.timeline.logmessage.add", "conversation_id": conversation_id,
            "entries": [], "note": "the conversation is not in the CRM" }),
        );
    };
    let conversation = tenant.conversation(sys, conversation_id).await.map_err(storage)?;
    let line = tenant.line(sys, item.line_id).await.map_err(storage)?;
    let member_id = tenant.member_id().to_owned();
    let domain = state.store().info(&member_id).await.map_err(storage)?.domain;
    let name = conversation.contact.push_name.clone().unwrap_or_default();
    let phone = e164(&conversation).unwrap_or_default();
    let mut text = format!(
        "WhatsApp conversation with {} {phone} on the line \"{}\", {day}.\nOpen the chat: {}",
        name.trim(),
        line.name,
        chat_link(&domain, &state.settings().client_id, conversation_id),
    );
    let history = tenant.history(sys, conversation_id, None, SCAN).await.map_err(storage)?;
    let files: Vec<String> = history
        .messages
        .iter()
        .rev()
        .filter(|m| m.media.is_some() && tenancy::crm_day(m.at) == day)
        .map(|m| crate::open_channels::files::file_url(state, &member_id, m.id))
        .collect();
    if !files.is_empty() {
        text.push_str("\nFiles:");
        for f in &files {
            text.push('\n');
            text.push_str(f);
        }
    }
    let title = title(conversation_id, &day);
    let targets = [(CONTACT, link.contact_id), (LEAD, link.lead_id), (DEAL, link.deal_id)];
    let mut entries = vec![];
    for (entity_type, id) in targets {
        let Some(id) = id else { continue };
        if item.attempts > 1 && already_there(portal, entity_type, id, &title).await? {
            entries.push(json!({ "entity_type_id": entity_type, "entity_id": id, "found": true }));
            continue;
        }
        let added = portal
            .call(
                "crm.timeline.logmessage.add",
                json!({ "fields": { "entityTypeId": entity_type, "entityId": id,
                    "title": title, "text": text, "iconCode": ICON } }),
            )
            .await
            .map_err(super::route::answer_lost)?;
        let entry = added.result.pointer("/logMessage/id").cloned().unwrap_or(Value::Null);
        entries.push(json!({ "entity_type_id": entity_type, "entity_id": id, "entry_id": entry }));
    }
    Ok(json!({ "method": "crm.timeline.logmessage.add", "conversation_id": conversation_id,
        "day": day, "entries": entries, "files": files.len() }))
}
