//! The demo's Open Channel: on its first run the demo makes a line ("Demo") whose
//! conversations go both to the chat panel and to a demo Open Line of the simulated portal
//! (`imopenlines.config.add`, queue: the demo operator), and connects it, so that the portal's
//! contact center (`/p/<domain>/center`) shows its conversations and the operator answers
//! there.

use serde_json::json;
use tenancy::{Caller, CrmMode, CrmPolicy, CrmResponsible, LineSettings, OpenChannel, User};

use crate::{runtime::Runtime, state::AppState};

/// The portal user who works the demo Open Line (b24-sim's user 2).
pub const DEMO_OPERATOR: u64 = 2;

/// The demo operator's name (b24-sim's user 2).
pub const DEMO_OPERATOR_NAME: &str = "Clara User2";

/// The demo line's CRM policy: a new customer gets a contact and a lead, the line's user
/// responsible.
pub fn demo_crm_policy() -> CrmPolicy {
    CrmPolicy {
        mode: CrmMode::ContactLead,
        responsible: CrmResponsible::LineUser,
        ..CrmPolicy::default()
    }
}

/// The demo line's name.
pub const DEMO_LINE_NAME: &str = "Demo";

/// The demo Open Line's name.
pub const DEMO_OPEN_LINE_NAME: &str = "WhatsApp demo";

/// Why the demo Open Channel was not set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoOpenLineError {
    /// The store refused.
    #[error("storage: {0}")]
    Store(#[from] tenancy::Error),
    /// The simulated portal is not installed yet.
    #[error("the simulated portal is not usable: {0}")]
    NoPortal(String),
    /// The simulated portal refused.
    #[error("the simulated portal: {0}")]
    Portal(#[from] b24_client::Error),
    /// The runtime did not start the line.
    #[error("connecting the demo line: {0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// The portal's answer named no usable Open Line.
    #[error("imopenlines.config.add answered an id out of range")]
    OpenLineId,
}

/// Makes the demo line and its Open Line when the portal has no line yet (a first run), and
/// connects the line; a later run finds the line and leaves it to the runtime's restore.
/// Returns the line and the Open Line when it made them.
///
/// # Errors
///
/// [`DemoOpenLineError`] when the store, the simulated portal or the runtime refuses.
pub async fn set_up(
    state: &AppState,
    runtime: &Runtime,
    member_id: &str,
) -> Result<Option<(i64, i64)>, DemoOpenLineError> {
    let tenant = state.store().tenant(member_id).await?;
    if !tenant.lines(Caller::System).await?.is_empty() {
        return Ok(None);
    }
    let portal =
        state.portal(member_id).await.map_err(|e| DemoOpenLineError::NoPortal(e.to_string()))?;
    // REST docs: api-reference/imopenlines/openlines/imopenlines-config-add.md (QUEUE of
    // users, QUEUE_TYPE, CRM). The Open Line's own CRM is off: the line's CRM policy below is the
    // one source of truth, so a customer never gets two leads.
    let params = json!({
        "LINE_NAME": DEMO_OPEN_LINE_NAME,
        "ACTIVE": "Y",
        "QUEUE_TYPE": "strictly",
        "QUEUE": [{"ENTITY_TYPE": "user", "ENTITY_ID": DEMO_OPERATOR}],
        "CRM": "N",
    });
    let open_line = portal.openlines_config_add(params).await?;
    let open_line = i64::try_from(open_line.0).map_err(|_| DemoOpenLineError::OpenLineId)?;
    let line = tenant.create_line(Caller::System, DEMO_LINE_NAME, None, state.now()).await?;
    let settings = LineSettings {
        open_channel: Some(OpenChannel::Both),
        open_line_id: Some(Some(open_line)),
        ..LineSettings::default()
    };
    tenant.set_line_settings(Caller::System, line.id, &settings, state.now()).await?;
    // The line is the operator's, and a new customer's first message makes a contact and a
    // lead (the operator responsible) whose timeline shows the conversation.
    let operator = i64::try_from(DEMO_OPERATOR).map_err(|_| DemoOpenLineError::OpenLineId)?;
    let user = User { id: operator, name: DEMO_OPERATOR_NAME.to_owned(), is_admin: false };
    tenant.upsert_user(Caller::System, &user, state.now()).await?;
    tenant.assign_line(Caller::System, line.id, Some(operator), state.now()).await?;
    tenant.set_crm_policy(Caller::System, line.id, &demo_crm_policy(), state.now()).await?;
    runtime.connect(member_id, line.id).await?;
    tracing::info!(member_id, line_id = line.id, open_line, "demo line fed to the demo Open Line");
    Ok(Some((line.id, open_line)))
}
