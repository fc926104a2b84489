//! `POST /b24/crm-tab`: the "WhatsApp" tab of a CRM card (placements `CRM_*_DETAIL_TAB`, bound
//! by [`crate::crm_tab::placements`]; REST docs `api-reference/widgets/crm/detail-tab.md`). The
//! frame is confirmed as the app frame is ([`super::bitrix`]: `AUTH_ID` by the portal, a session
//! token issued), the card's phone numbers are read from the portal
//! ([`crate::crm_tab::phones`]), and the chat panel opens in its client mode (`ui/crm_tab.js`):
//! the conversations with those numbers on the lines the viewer may see
//! (`GET /api/conversations/by-phone`), with the panel's composer, and a new chat to one of the
//! numbers.

use b24_client::inbound::FrameRequest;
use bytes::Bytes;
use serde_json::{Value, json};
use warp::{http::StatusCode, reply::Response};

use super::bitrix::{OpenedApp, error_page, frame_context, html, open_app};
use crate::{
    crm_tab::phones::{self, card_phones},
    error::{ApiError, ApiResult},
    state::AppState,
};

/// `POST /b24/crm-tab`: the tab's page, or an error page the portal may frame.
pub async fn page(state: AppState, query: String, body: Bytes) -> Response {
    match open(&state, &query, &body).await {
        Ok((opened, card)) => {
            let origin = opened.origin.clone();
            html(StatusCode::OK, page_html(&opened, &card), origin)
        }
        Err(e) => error_page(&e, frame_context(&state, &query, &body).await),
    }
}

async fn open(state: &AppState, query: &str, body: &[u8]) -> ApiResult<(OpenedApp, Value)> {
    let frame = FrameRequest::parse(query, body)
        .map_err(|e| ApiError::BadRequest(format!("not a Bitrix24 frame: {e}")))?;
    let card = phones::card(&frame)?;
    // The viewer first: nothing is read from the portal for an unconfirmed frame.
    let opened = open_app(state, query, body).await?;
    let portal = state.portal(&frame.member_id).await?;
    let found = card_phones(&portal, card).await.map_err(|e| {
        state.metrics().b24_error();
        tracing::warn!(member_id = %frame.member_id, error = %e, "CRM card not read");
        match e {
            b24_client::Error::Api { code: b24_client::ErrorCode::NotFound, .. } => {
                ApiError::NotFound("no such CRM item")
            }
            _ => ApiError::Portal,
        }
    })?;
    tracing::info!(member_id = %frame.member_id, kind = card.kind.as_str(), phones = found.phones.len(), "CRM tab opened");
    Ok((
        opened,
        json!({
            "entity_type": card.kind.as_str(),
            "entity_id": card.id,
            "title": found.title,
            "phones": found.phones,
        }),
    ))
}

/// The panel's page in its client mode: the session (with the card) for the scripts, JSON with
/// `<` escaped so that it cannot close the element.
fn page_html(app: &OpenedApp, card: &Value) -> String {
    let session = json!({
        "token": app.token,
        "role": app.role.as_str(),
        "user_id": app.user_id,
        "lang": app.lang,
        "crm": card,
    })
    .to_string()
    .replace('<', "\\u003c");
    format!(
        "<!doctype html><html lang={lang}><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\"><title>WhatsApp</title>\
         <link rel=stylesheet href=\"/ui/app.css\">\
         <script type=\"application/json\" id=\"wab24-session\">{session}</script>\
         <div id=app></div><script type=module src=\"/ui/app.js\"></script>",
        lang = app.lang,
    )
}
