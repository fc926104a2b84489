//! A line's CRM policy and what its form offers: `GET /api/lines/{id}/crm` (the policy, also
//! set with `PATCH /api/lines/{id}` `crm`) and `GET /api/crm/pipelines` (the portal's deal
//! pipelines and stages, read from Bitrix24). What Bitrix24 refuses becomes a clear API error.

use b24_client::{Error as B24Error, ErrorCode};
use tenancy::LineId;
use warp::reply::Response;

use super::{models::CrmPolicyIo, shared::json};
use crate::{
    crm::pipelines::pipelines as read_pipelines,
    error::{ApiError, ApiResult},
    state::{AppState, Session},
};

/// `GET /api/lines/{id}/crm` (administrators): the line's CRM policy.
pub async fn policy(_state: AppState, s: Session, id: LineId) -> ApiResult<Response> {
    let policy = s.tenant.crm_policy(s.caller(), id).await?;
    Ok(json(&CrmPolicyIo::from(&policy)))
}

/// `GET /api/crm/pipelines` (administrators): the deal pipelines and their stages.
pub async fn pipelines(state: AppState, s: Session) -> ApiResult<Response> {
    let portal = state.portal(&s.claims.mid).await?;
    let list = read_pipelines(&portal).await.map_err(|e| portal_error(&state, e))?;
    Ok(json(&serde_json::json!({ "pipelines": list })))
}

fn portal_error(state: &AppState, e: B24Error) -> ApiError {
    state.metrics().b24_error();
    tracing::warn!(error = %e, "CRM pipelines not read");
    match e {
        B24Error::Api { code, .. } => match code {
            ErrorCode::InsufficientScope | ErrorCode::AccessDenied => {
                ApiError::PortalRefused(format!(
                    "Bitrix24 refused to list the pipelines ({code}): the app needs the crm permission"
                ))
            }
            ErrorCode::QueryLimitExceeded
            | ErrorCode::OperationTimeLimit
            | ErrorCode::OverloadLimit
            | ErrorCode::InternalServerError => {
                ApiError::Unavailable(format!("Bitrix24 is busy ({code}); try again in a moment"))
            }
            _ => {
                ApiError::PortalRefused(format!("Bitrix24 refused to list the pipelines ({code})"))
            }
        },
        _ => ApiError::Unavailable("Bitrix24 did not answer; try again in a moment".to_owned()),
    }
}
