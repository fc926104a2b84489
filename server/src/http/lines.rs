//! Lines: listing, creating, reading, changing settings, deleting and assigning them. Who may
//! do what is checked by the route table's filters; a user sees only the lines assigned to them
//! (the tenant's store scopes every query by the caller).

use tenancy::LineId;
use warp::{
    Reply,
    http::StatusCode,
    reply::{self, Response},
};

use super::{
    models::{Assign, CreateLine, LineOut, UpdateLine},
    shared::json,
};
use crate::{
    error::{ApiError, ApiResult},
    events::ServerEvent,
    state::{AppState, Session},
};

/// A line with its live state from the runtime.
fn line_out(state: &AppState, member_id: &str, line: tenancy::Line) -> LineOut {
    let id = line.id;
    let mut out = LineOut::from(line);
    out.state =
        state.runtime().and_then(|rt| rt.status(member_id, id)).map(|st| st.name().to_owned());
    out
}

/// `GET /api/lines`: every line for administrators, the assigned ones for users.
pub async fn list(state: AppState, s: Session) -> ApiResult<Response> {
    let lines: Vec<LineOut> = s
        .tenant
        .lines(s.caller())
        .await?
        .into_iter()
        .map(|l| line_out(&state, &s.claims.mid, l))
        .collect();
    Ok(json(&serde_json::json!({ "lines": lines })))
}

/// `POST /api/lines` (administrators; within the quota; not when read-only).
pub async fn create(state: AppState, s: Session, body: CreateLine) -> ApiResult<Response> {
    let line =
        s.tenant.create_line(s.caller(), &body.name, body.phone.as_deref(), state.now()).await?;
    tracing::info!(member_id = %s.claims.mid, line_id = line.id, "line created");
    let out = LineOut::from(line);
    state
        .bus()
        .publish(ServerEvent::LineCreated { member_id: s.claims.mid.clone(), line: out.clone() });
    tokio::spawn(crate::open_channels::sms_senders::line_changed(
        state.clone(),
        s.claims.mid.clone(),
    ));
    Ok(reply::with_status(reply::json(&out), StatusCode::CREATED).into_response())
}

/// `GET /api/lines/{id}`.
pub async fn get(state: AppState, s: Session, id: LineId) -> ApiResult<Response> {
    Ok(json(&line_out(&state, &s.claims.mid, s.tenant.line(s.caller(), id).await?)))
}

/// `DELETE /api/lines/{id}` (administrators): the line disappears, its history is kept; a
/// running line is stopped first.
pub async fn delete(state: AppState, s: Session, id: LineId) -> ApiResult<Response> {
    s.tenant.line(s.caller(), id).await?;
    if let Some(rt) = state.runtime()
        && let Err(e) = rt.disconnect(&s.claims.mid, id).await
    {
        tracing::warn!(member_id = %s.claims.mid, line_id = id, error = %e, "stopping a deleted line failed");
    }
    s.tenant.delete_line(s.caller(), id, state.now()).await?;
    tracing::info!(member_id = %s.claims.mid, line_id = id, "line deleted");
    state.bus().publish(ServerEvent::LineDeleted { member_id: s.claims.mid.clone(), line_id: id });
    tokio::spawn(crate::open_channels::sms_senders::line_changed(
        state.clone(),
        s.claims.mid.clone(),
    ));
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH /api/lines/{id}` (administrators; not when read-only): changes the line's settings
/// (`send_read_receipts`, `open_channel`, `open_line_id`, `open_channel_signature`,
/// `assigned_department` (a department known from `/api/users`), `responsible_mode`, the CRM
/// policy `crm`); a change is audited and published
/// as `line.updated`, and a change of where conversations go is queued for Bitrix24.
pub async fn update(
    state: AppState,
    s: Session,
    id: LineId,
    body: UpdateLine,
) -> ApiResult<Response> {
    let crm = match &body.crm {
        Some(c) => Some(c.policy().map_err(|m| ApiError::BadRequest(m.to_owned()))?),
        None => None,
    };
    let settings = tenancy::LineSettings {
        send_read_receipts: body.send_read_receipts,
        open_channel: body.open_channel.map(Into::into),
        open_line_id: body.open_line_id,
        open_channel_signature: body.open_channel_signature,
        assigned_department: body.assigned_department,
        responsible_mode: body.responsible_mode.map(Into::into),
    };
    let line = s.tenant.set_line_settings(s.caller(), id, &settings, state.now()).await?;
    if let Some(crm) = &crm {
        s.tenant.set_crm_policy(s.caller(), id, crm, state.now()).await?;
    }
    tracing::info!(member_id = %s.claims.mid, line_id = id, "line settings changed");
    let out = line_out(&state, &s.claims.mid, line);
    state
        .bus()
        .publish(ServerEvent::LineUpdated { member_id: s.claims.mid.clone(), line: out.clone() });
    Ok(json(&out))
}

/// `PUT /api/lines/{id}/assignment` (administrators): assign, reassign (the history moves with
/// the line) or unassign (`user_id: null`). The user must be known (listed by `/api/users`).
pub async fn assign(state: AppState, s: Session, id: LineId, body: Assign) -> ApiResult<Response> {
    let before = s.tenant.line(s.caller(), id).await?.assigned_user;
    let line = s.tenant.assign_line(s.caller(), id, body.user_id, state.now()).await?;
    tracing::info!(member_id = %s.claims.mid, line_id = id, "line assigned");
    let out = LineOut::from(line);
    state.bus().publish(ServerEvent::LineAssigned {
        member_id: s.claims.mid.clone(),
        line: out.clone(),
        previous_user: before,
    });
    Ok(json(&out))
}
