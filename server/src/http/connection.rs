//! Connecting lines to WhatsApp: `connect` (pairing by QR for a new line, login for a paired
//! one), `disconnect` and `logout`, for administrators. QR codes travel as SSE `line.status`
//! events to administrators; the answer to `connect` carries the current one too, so a page
//! opened later shows it at once.

use qrcode::{EcLevel, QrCode, render::svg};
use tenancy::LineId;
use warp::{
    Reply,
    http::StatusCode,
    reply::{self, Response},
};

use crate::{
    error::{ApiError, ApiResult},
    runtime::LineState,
    state::{AppState, Session},
};

/// An SVG image of a QR code (black on white, with the quiet zone), or `None` if the text does
/// not fit a QR code.
pub fn qr_svg(code: &str) -> Option<String> {
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::L).ok()?;
    Some(
        qr.render::<svg::Color<'_>>()
            .min_dimensions(256, 256)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

/// A line state as JSON: `{state}` plus `qr`, `qr_svg` and `expires_in_ms` for a QR code,
/// `reason` and `retry_in_ms` where the state has them.
pub fn state_json(line_id: LineId, state: &LineState) -> serde_json::Value {
    let mut out = serde_json::json!({ "line_id": line_id, "state": state.name() });
    let ms = |d: &std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match state {
        LineState::Qr { code, expires } => {
            out["qr"] = code.clone().into();
            out["qr_svg"] = qr_svg(code).into();
            out["expires_in_ms"] = ms(expires).into();
        }
        LineState::Reconnecting { reason, retry_in } => {
            out["reason"] = reason.clone().into();
            out["retry_in_ms"] = ms(retry_in).into();
        }
        LineState::Disconnected { reason } | LineState::LoggedOut { reason } => {
            out["reason"] = reason.clone().into();
        }
        _ => {}
    }
    out
}

/// `POST /api/lines/{id}/connect` (administrators): starts the line (a running line is left as
/// it is) and answers its state, 202.
pub async fn connect(state: AppState, s: Session, id: LineId) -> ApiResult<Response> {
    let runtime = state.require_runtime()?;
    s.tenant.line(s.caller(), id).await?;
    let now = runtime.connect(&s.claims.mid, id).await?;
    tracing::info!(member_id = %s.claims.mid, line_id = id, "line connect requested");
    Ok(reply::with_status(reply::json(&state_json(id, &now)), StatusCode::ACCEPTED).into_response())
}

/// `POST /api/lines/{id}/disconnect` (administrators): stops the line; it stays stopped across
/// restarts until the next connect. 204; 409 if it is not running.
pub async fn disconnect(state: AppState, s: Session, id: LineId) -> ApiResult<Response> {
    let runtime = state.require_runtime()?;
    s.tenant.line(s.caller(), id).await?;
    runtime.disconnect(&s.claims.mid, id).await?;
    tracing::info!(member_id = %s.claims.mid, line_id = id, "line disconnected");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/lines/{id}/logout` (administrators): WhatsApp forgets this device and the line
/// must be paired again. 204; 409 if it is not running.
pub async fn logout(state: AppState, s: Session, id: LineId) -> ApiResult<Response> {
    let runtime = state.require_runtime()?;
    s.tenant.line(s.caller(), id).await?;
    runtime.logout(&s.claims.mid, id).await.map_err(|e| match e {
        crate::runtime::RuntimeError::NotRunning(_) => {
            ApiError::Conflict(format!("line {id} is not connected; connect it to log it out"))
        }
        other => other.into(),
    })?;
    tracing::info!(member_id = %s.claims.mid, line_id = id, "line logged out");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qr_ref_renders_as_svg() {
        let svg = qr_svg("2@abc,def,ghi,jkl").unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..40]);
        assert!(svg.contains("<svg") && svg.contains("#000000"));
        let json = state_json(
            3,
            &LineState::Qr {
                code: "2@abc".to_owned(),
                expires: std::time::Duration::from_secs(60),
            },
        );
        assert_eq!(json["state"], "qr");
        assert_eq!(json["expires_in_ms"], 60_000);
        assert!(json["qr_svg"].as_str().unwrap().contains("<svg"));
    }
}
