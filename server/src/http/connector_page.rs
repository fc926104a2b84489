//! `POST /b24/connector`: the page Bitrix24 shows in an Open Line's settings for our connector
//! (placement `SETTING_CONNECTOR`, whose handler is the `PLACEMENT_HANDLER` given to
//! `imconnector.register`; REST docs, api-reference/widgets/setting-connector.md). The frame is
//! confirmed as the app frame is ([`super::bitrix`]: `AUTH_ID` by the portal, a session token
//! issued), then the page says which WhatsApp line feeds the Open Line named by
//! `PLACEMENT_OPTIONS.LINE` and lets an administrator choose one (`/ui/connector.js` calls
//! `PATCH /api/lines/{id}`), in the portal's language.

use b24_client::{Id, inbound::FrameRequest};
use bytes::Bytes;
use serde_json::{Value, json};
use tenancy::Caller;
use warp::{http::StatusCode, reply::Response};

use super::bitrix::{OpenedApp, error_page, frame_context, html, open_app};
use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// The placement code of the connector settings page.
pub const PLACEMENT: &str = "SETTING_CONNECTOR";

/// `POST /b24/connector`: the settings page, or an error page the portal may frame.
pub async fn page(state: AppState, query: String, body: Bytes) -> Response {
    match open(&state, &query, &body).await {
        Ok((opened, context)) => {
            let origin = opened.origin.clone();
            html(StatusCode::OK, page_html(&opened, &context), origin)
        }
        Err(e) => error_page(&e, frame_context(&state, &query, &body).await),
    }
}

/// What Bitrix24 says of the connector on the Open Line (`PLACEMENT_OPTIONS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The connector's id (`CONNECTOR`).
    pub connector: String,
    /// The Open Line (`LINE`, sent as a string).
    pub open_line_id: i64,
    /// `ACTIVE_STATUS`, `CONNECTION_STATUS`, `REGISTER_STATUS`, `ERROR_STATUS`, `STATUS`.
    pub flags: [bool; 5],
}

const FLAG_NAMES: [&str; 5] =
    ["ACTIVE_STATUS", "CONNECTION_STATUS", "REGISTER_STATUS", "ERROR_STATUS", "STATUS"];

/// Reads a `SETTING_CONNECTOR` frame's placement: 400 for another placement or without a
/// usable `LINE`.
pub fn placement(frame: &FrameRequest) -> ApiResult<Placement> {
    if !frame.placement.eq_ignore_ascii_case(PLACEMENT) {
        return Err(ApiError::BadRequest(format!(
            "this page is the Open Lines connector's settings (PLACEMENT={PLACEMENT}), not {}",
            frame.placement.chars().take(40).collect::<String>()
        )));
    }
    let options = &frame.placement_options;
    let open_line_id = options
        .get("LINE")
        .and_then(Id::from_value)
        .and_then(|id| i64::try_from(id.0).ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::BadRequest("PLACEMENT_OPTIONS has no Open Line (LINE)".to_owned())
        })?;
    let connector: String = options
        .get("CONNECTOR")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect();
    let flag = |name: &str| match options.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "Y" | "y" | "true" | "1"),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    };
    Ok(Placement { connector, open_line_id, flags: FLAG_NAMES.map(flag) })
}

async fn open(state: &AppState, query: &str, body: &[u8]) -> ApiResult<(OpenedApp, Value)> {
    let frame = FrameRequest::parse(query, body)
        .map_err(|e| ApiError::BadRequest(format!("not a Bitrix24 frame: {e}")))?;
    let placement = placement(&frame)?;
    let opened = open_app(state, query, body).await?;
    let tenant = state.store().tenant(&frame.member_id).await?;
    // The line that feeds this Open Line, whoever looks (the page says so to users too).
    let fed_by = tenant
        .lines(Caller::System)
        .await?
        .into_iter()
        .find(|l| {
            l.open_channel.feeds_open_line() && l.open_line_id == Some(placement.open_line_id)
        })
        .map(|l| {
            json!({ "id": l.id, "name": l.name, "phone": l.phone,
                    "open_channel": l.open_channel.as_str(),
                    "open_channel_status": l.open_channel_status.as_str() })
        });
    let [active, connection, register, error, status] = placement.flags;
    let context = json!({
        "open_line_id": placement.open_line_id,
        "connector": placement.connector,
        "active": active,
        "connection": connection,
        "register": register,
        "error": error,
        "status": status,
        "line": fed_by,
    });
    tracing::info!(member_id = %frame.member_id, open_line_id = placement.open_line_id, "connector settings opened");
    Ok((opened, context))
}

/// The page: the session and the placement for the script (JSON, `<` escaped so that it
/// cannot close the element), the panel's styles and the settings script.
fn page_html(app: &OpenedApp, context: &Value) -> String {
    let session = json!({
        "token": app.token,
        "role": app.role.as_str(),
        "user_id": app.user_id,
        "lang": app.lang,
        "connector": context,
    })
    .to_string()
    .replace('<', "\\u003c");
    let title = match app.lang {
        "ru" => "WhatsApp для Битрикс24: открытая линия",
        _ => "WhatsApp for Bitrix24: Open Line",
    };
    format!(
        "<!doctype html><html lang={lang}><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\"><title>{title}</title>\
         <link rel=stylesheet href=\"/ui/app.css\">\
         <script type=\"application/json\" id=\"wab24-session\">{session}</script>\
         <div id=app></div><script type=module src=\"/ui/connector.js\"></script>",
        lang = app.lang,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(placement: &str, options: &str) -> FrameRequest {
        let query = "DOMAIN=p.bitrix24.com&PROTOCOL=1&LANG=ru&APP_SID=s";
        let body = format!(
            "AUTH_ID=a&member_id=m&PLACEMENT={placement}&PLACEMENT_OPTIONS={}",
            options.replace('{', "%7B").replace('}', "%7D").replace('"', "%22").replace(',', "%2C")
        );
        FrameRequest::parse(query, body.as_bytes()).unwrap()
    }

    /// The options as the docs show them (api-reference/widgets/setting-connector.md).
    #[test]
    fn the_placement_options_are_read_as_documented() {
        let f = frame(
            "SETTING_CONNECTOR",
            r#"{"CONNECTOR":"my_connector","LINE":"17","STATUS":false,"ACTIVE_STATUS":true,"CONNECTION_STATUS":false,"REGISTER_STATUS":false,"ERROR_STATUS":false}"#,
        );
        assert_eq!(
            placement(&f).unwrap(),
            Placement {
                connector: "my_connector".to_owned(),
                open_line_id: 17,
                flags: [true, false, false, false, false]
            }
        );
        for (p, o) in [
            ("DEFAULT", r#"{"LINE":"17"}"#),
            ("SETTING_CONNECTOR", r#"{"CONNECTOR":"c"}"#),
            ("SETTING_CONNECTOR", r#"{"LINE":"0"}"#),
            ("SETTING_CONNECTOR", r#"{"LINE":"x"}"#),
        ] {
            let e = placement(&frame(p, o)).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{p} {o}");
        }
    }
}
