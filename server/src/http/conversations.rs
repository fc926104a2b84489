//! Conversations: a line's list, search, one conversation, and marking it read.

use tenancy::LineId;

use warp::reply::Response;

use super::{
    models::{ContactOut, ConversationOut, MessageOut, PhonesQuery, SearchQuery},
    shared::{json, page_size},
};
use crate::{
    error::{ApiError, ApiResult},
    events::ServerEvent,
    state::{AppState, Session},
};

/// `GET /api/lines/{id}/conversations`: most recent first, with unread counts.
pub async fn of_line(_state: AppState, s: Session, line_id: LineId) -> ApiResult<Response> {
    let conversations = s.tenant.conversations_with_last_message(s.caller(), line_id).await?;
    let list: Vec<ConversationOut> = conversations
        .into_iter()
        .map(|(c, last)| {
            let mut out = ConversationOut::from(c);
            out.last_message = last.map(MessageOut::from);
            out
        })
        .collect();
    Ok(json(&serde_json::json!({ "conversations": list })))
}

/// `GET /api/conversations/search?q=`: on the caller's lines, contacts whose name, phone
/// (digits, or as displayed) or JID matches, with their conversations, then messages whose text
/// matches (`message`, newest first), with theirs.
pub async fn search(_state: AppState, s: Session, q: SearchQuery) -> ApiResult<Response> {
    let limit = page_size(q.limit, 50, tenancy::MAX_PAGE)?;
    if q.q.trim().is_empty() {
        return Err(ApiError::BadRequest("q must not be empty".to_owned()));
    }
    let contacts = s.tenant.search_contacts(s.caller(), q.q.trim(), limit).await?;
    let mut results = Vec::with_capacity(contacts.len());
    for c in contacts {
        // A contact's conversation: the one on its line with this contact.
        let conv = s
            .tenant
            .conversations(s.caller(), c.line_id)
            .await?
            .into_iter()
            .find(|k| k.contact.id == c.id)
            .map(ConversationOut::from);
        results.push(serde_json::json!({ "contact": ContactOut::from(c), "conversation": conv }));
    }
    for hit in s.tenant.search_messages(s.caller(), q.q.trim(), limit).await? {
        let contact = ContactOut::from(hit.conversation.contact.clone());
        results.push(serde_json::json!({
            "contact": contact,
            "conversation": ConversationOut::from(hit.conversation),
            "message": MessageOut::from(hit.message),
        }));
    }
    Ok(json(&serde_json::json!({ "results": results })))
}

/// `GET /api/conversations/by-phone?phones=`: the conversations with any of these numbers (as
/// written in a CRM card: each compared by its digits) on every line the caller may see, most
/// recent first, with their newest message. 400 without a usable number or with more than 20.
pub async fn by_phones(_state: AppState, s: Session, q: PhonesQuery) -> ApiResult<Response> {
    use crate::crm_tab::matching::{MAX_PHONES, keys, matches};
    let given: Vec<String> =
        q.phones.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if given.len() > MAX_PHONES {
        return Err(ApiError::BadRequest(format!("at most {MAX_PHONES} phone numbers")));
    }
    let keys = keys(&given);
    if keys.is_empty() {
        return Err(ApiError::BadRequest("phones names no usable phone number".to_owned()));
    }
    let mut list: Vec<ConversationOut> = vec![];
    for line in s.tenant.lines(s.caller()).await? {
        for (c, last) in s.tenant.conversations_with_last_message(s.caller(), line.id).await? {
            if matches(&c, &keys) {
                let mut out = ConversationOut::from(c);
                out.last_message = last.map(MessageOut::from);
                list.push(out);
            }
        }
    }
    list.sort_by(|a, b| b.last_message_at.cmp(&a.last_message_at).then(b.id.cmp(&a.id)));
    Ok(json(&serde_json::json!({ "conversations": list })))
}

/// `GET /api/conversations/{id}`.
pub async fn get(_state: AppState, s: Session, id: i64) -> ApiResult<Response> {
    Ok(json(&ConversationOut::from(s.tenant.conversation(s.caller(), id).await?)))
}

/// `POST /api/conversations/{id}/read`: the caller opened the conversation. When the count is
/// theirs (the line's assigned user; administrators while nobody is assigned) it goes to zero
/// and, unless the line's setting says not to, WhatsApp gets read receipts for the inbound
/// messages read now. Anyone else looking changes nothing. Allowed when read-only (it only
/// changes what the viewer has seen).
pub async fn mark_read(state: AppState, s: Session, id: i64) -> ApiResult<Response> {
    let read = s.tenant.mark_read(s.caller(), id, state.now()).await?;
    if read.cleared {
        state.bus().publish(ServerEvent::ConversationRead {
            member_id: s.claims.mid.clone(),
            line_id: read.line_id,
            conversation_id: id,
        });
    }
    if read.send_read_receipts
        && !read.newly_read.is_empty()
        && let Some(rt) = state.runtime()
        && let Err(error) =
            rt.send_read_receipts(&s.claims.mid, read.line_id, &read.chat, &read.newly_read)
    {
        // The messages stay read here; WhatsApp is told only while the line runs.
        tracing::info!(member_id = %s.claims.mid, line_id = read.line_id, %error, "read receipts not sent");
    }
    Ok(json(&serde_json::json!({
        "conversation_id": id, "unread": read.unread, "cleared": read.cleared,
    })))
}
