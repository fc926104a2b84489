//! `GET /media/signed/{token}`: a message's file for whoever holds a signed, unexpired link
//! ([`crate::media_link`]): Bitrix24 downloading the files of a customer's message that the
//! Open Channels connector sent it. No session; the token is the proof, checked before
//! anything is looked up. A link of an absent message, or of a portal that is no longer
//! installed, answers as an absent file does, so a link says nothing about other tenants.

use tenancy::{Caller, TenantStatus};
use warp::reply::Response;

pub use crate::media_link::signed_media_url;
use crate::{
    error::{ApiError, ApiResult},
    media_link::LinkError,
    state::AppState,
};

/// Serves the file a signed link names: 403 when the token is not ours or was altered, 410
/// when it has expired, 404 when the message or its file is not there (or its portal is not
/// installed).
pub async fn download(token: String, state: AppState) -> ApiResult<Response> {
    let link = state.settings().media_links.key.verify(&token, state.now_unix()).map_err(|e| {
        tracing::debug!(reason = %e, "media link refused");
        match e {
            LinkError::Expired => {
                ApiError::Gone("this media link has expired; ask for the message again")
            }
            _ => ApiError::Forbidden("invalid media link"),
        }
    })?;
    let runtime = state.require_runtime()?;
    let absent = || ApiError::NotFound("media");
    let info = state.store().info(&link.member_id).await.map_err(|e| match e {
        tenancy::Error::UnknownTenant | tenancy::Error::InvalidMemberId => absent(),
        other => ApiError::from(other),
    })?;
    if info.status != TenantStatus::Active {
        return Err(absent());
    }
    let tenant = state.store().tenant(&link.member_id).await?;
    let message = tenant.message(Caller::System, link.message_id).await.map_err(|e| match e {
        tenancy::Error::NotFound(_) => absent(),
        other => ApiError::from(other),
    })?;
    tracing::info!(member_id = %link.member_id, message_id = link.message_id, "media served by signed link");
    super::media::file_response(runtime, &link.member_id, message).await
}
