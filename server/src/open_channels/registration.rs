//! Registering the connector on a portal: `imconnector.register` and `event.bind` of the
//! connector events, at install and for every installed portal at start (an upgrade of an
//! existing installation), idempotently. Each step is audited with Bitrix24's answer.

use serde_json::{Value, json};
use tenancy::Caller;

use super::connector::{CONNECTOR_ID, EVENTS, EVENTS_PATH, register_params};
use crate::{error::ApiResult, state::AppState};

/// What a registration did, for the audit log and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Events bound by this call.
    pub bound: Vec<&'static str>,
    /// Events that were bound already (to our handler).
    pub already: Vec<&'static str>,
}

/// Registers the connector on `member_id`'s portal and binds the connector events that are not
/// bound yet to our events route. Re-registering updates the connector (REST docs
/// `imconnector-register.md`: calling again with the same `ID` updates it). Audited
/// (`b24.connector_call`) on success and on failure.
pub async fn register(state: &AppState, member_id: &str) -> ApiResult<Registered> {
    let tenant = state.store().tenant(member_id).await?;
    let outcome = register_on_portal(state, member_id).await;
    let _ = super::sms_senders::sync_now(state, member_id).await;
    let payload = match &outcome {
        Ok(r) => json!({
            "method": "imconnector.register",
            "connector": CONNECTOR_ID,
            "result": "ok",
            "events_bound": r.bound,
            "events_already_bound": r.already,
        }),
        Err(e) => json!({
            "method": "imconnector.register",
            "connector": CONNECTOR_ID,
            "result": "error",
            "error": e.to_string(),
        }),
    };
    let subject = format!("connector:{CONNECTOR_ID}");
    if let Err(e) =
        tenant.record_connector_call(Caller::System, &subject, &payload, state.now()).await
    {
        tracing::warn!(member_id, error = %e, "connector registration not audited");
    }
    match outcome {
        Ok(r) => {
            tracing::info!(member_id, bound = r.bound.len(), "Open Channels connector registered");
            Ok(r)
        }
        Err(e) => {
            state.metrics().b24_error();
            tracing::warn!(member_id, error = %e, "Open Channels connector not registered");
            Err(crate::error::ApiError::Portal)
        }
    }
}

async fn register_on_portal(
    state: &AppState,
    member_id: &str,
) -> Result<Registered, b24_client::Error> {
    let portal = state
        .portal(member_id)
        .await
        .map_err(|_| b24_client::Error::Config("the portal's tokens are not stored".to_owned()))?;
    let public_url = &state.settings().public_url;
    portal.imconnector_register(register_params(public_url)).await?;
    let handler = format!("{public_url}{EVENTS_PATH}");
    let existing = portal.event_get().await?;
    let is_bound = |event: &str| {
        existing.iter().any(|b| {
            let name = b.get("event").and_then(Value::as_str).unwrap_or("");
            let to = b.get("handler").and_then(Value::as_str).unwrap_or("");
            name.eq_ignore_ascii_case(event) && to == handler
        })
    };
    let mut done = Registered { bound: vec![], already: vec![] };
    for event in EVENTS {
        if is_bound(event) {
            done.already.push(event);
        } else {
            portal.event_bind(event, &handler).await?;
            done.bound.push(event);
        }
    }
    Ok(done)
}

/// Registers the connector on every installed portal (at start: an installation made by an
/// older version gets it too). Failures are logged; the outbox worker tries again.
pub async fn register_all(state: &AppState) -> Vec<String> {
    let members = match state.store().active_tenants().await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "installed portals not listed for the connector");
            return vec![];
        }
    };
    let mut registered = vec![];
    for member_id in members {
        if register(state, &member_id).await.is_ok() {
            registered.push(member_id);
        }
    }
    registered
}
