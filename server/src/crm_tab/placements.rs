//! Binding the CRM cards' detail tabs (`placement.bind` `CRM_CONTACT_DETAIL_TAB`,
//! `CRM_COMPANY_DETAIL_TAB`, `CRM_LEAD_DETAIL_TAB`, `CRM_DEAL_DETAIL_TAB`; REST docs
//! `api-reference/widgets/crm/detail-tab.md`) to our tab page, titled "WhatsApp": at install and
//! for every installed portal at start, idempotently (what `placement.get` lists with our
//! handler is not bound again). Each binding is audited with Bitrix24's answer.

use serde_json::{Value, json};
use tenancy::Caller;

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// The placements the tab is bound to.
pub const PLACEMENTS: [&str; 4] = [
    "CRM_CONTACT_DETAIL_TAB",
    "CRM_COMPANY_DETAIL_TAB",
    "CRM_LEAD_DETAIL_TAB",
    "CRM_DEAL_DETAIL_TAB",
];

/// Where Bitrix24 POSTs the tab's frame.
pub const TAB_PATH: &str = "/b24/crm-tab";

/// The tab's title in the card.
pub const TITLE: &str = "WhatsApp";

/// What a binding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// Placements bound by this call.
    pub bound: Vec<&'static str>,
    /// Placements already bound to our handler.
    pub already: Vec<&'static str>,
}

/// Binds the tab's placements that are not bound to our handler yet on `member_id`'s portal.
/// Audited (`b24.connector_call`, subject `placement:crm_tab`) on success and on failure.
pub async fn bind(state: &AppState, member_id: &str) -> ApiResult<Bound> {
    let tenant = state.store().tenant(member_id).await?;
    let outcome = bind_on_portal(state, member_id).await;
    let payload = match &outcome {
        Ok(b) => {
            json!({"method": "placement.bind", "result": "ok", "bound": b.bound, "already_bound": b.already})
        }
        Err(e) => json!({"method": "placement.bind", "result": "error", "error": e.to_string()}),
    };
    if let Err(e) = tenant
        .record_connector_call(Caller::System, "placement:crm_tab", &payload, state.now())
        .await
    {
        tracing::warn!(member_id, error = %e, "CRM tab binding not audited");
    }
    match outcome {
        Ok(b) => {
            tracing::info!(member_id, bound = b.bound.len(), "CRM card tabs bound");
            Ok(b)
        }
        Err(e) => {
            state.metrics().b24_error();
            tracing::warn!(member_id, error = %e, "CRM card tabs not bound");
            Err(ApiError::Portal)
        }
    }
}

async fn bind_on_portal(state: &AppState, member_id: &str) -> Result<Bound, b24_client::Error> {
    let portal = state
        .portal(member_id)
        .await
        .map_err(|_| b24_client::Error::Config("the portal's tokens are not stored".to_owned()))?;
    let handler = format!("{}{TAB_PATH}", state.settings().public_url);
    let existing = portal.placement_get().await?;
    let is_bound = |placement: &str| {
        existing.iter().any(|p| {
            let name = p.get("placement").and_then(Value::as_str).unwrap_or("");
            let to = p.get("handler").and_then(Value::as_str).unwrap_or("");
            name.eq_ignore_ascii_case(placement) && to == handler
        })
    };
    let mut done = Bound { bound: vec![], already: vec![] };
    for placement in PLACEMENTS {
        if is_bound(placement) {
            done.already.push(placement);
        } else {
            portal.placement_bind(placement, &handler, TITLE).await?;
            done.bound.push(placement);
        }
    }
    Ok(done)
}

/// Binds the tabs on every installed portal (at start: an installation made by an older
/// version gets them too). Failures are logged; the next start tries again.
pub async fn bind_all(state: &AppState) -> Vec<String> {
    let members = match state.store().active_tenants().await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "installed portals not listed for the CRM tabs");
            return vec![];
        }
    };
    let mut bound = vec![];
    for member_id in members {
        if bind(state, &member_id).await.is_ok() {
            bound.push(member_id);
        }
    }
    bound
}
