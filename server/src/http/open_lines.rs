//! The portal's Open Lines (Bitrix24's contact-center lines), for administrators choosing where
//! a line's conversations go: listing them (`imopenlines.config.list.get`) and creating one
//! (`imopenlines.config.add`) whose operator queue is the line's assigned user. What Bitrix24
//! refuses becomes a clear API error: its own words for a refused argument, what to do for a
//! missing permission, "try again" when it is busy or unreachable.

use std::collections::HashMap;

use b24_client::{Error as B24Error, ErrorCode, Id};
use serde_json::{Value, json};
use warp::{
    Reply,
    http::StatusCode,
    reply::{self, Response},
};

use super::{
    models::{CreateOpenLine, OpenLineOut, OpenLinesOut},
    shared::json,
};
use crate::{
    error::{ApiError, ApiResult},
    state::{AppState, Session},
};

/// The longest Open Line name accepted, in characters.
const MAX_NAME: usize = 100;

/// `GET /api/open-lines` (administrators): the portal's Open Lines, each with the line of ours
/// that feeds it.
pub async fn list(state: AppState, s: Session) -> ApiResult<Response> {
    let portal = state.portal(&s.claims.mid).await?;
    let listed = portal
        .openlines_config_list()
        .await
        .map_err(|e| portal_error(&state, "imopenlines.config.list.get", e))?;
    let fed: HashMap<i64, i64> = s
        .tenant
        .lines(s.caller())
        .await?
        .into_iter()
        .filter(|l| l.open_channel.feeds_open_line())
        .filter_map(|l| Some((l.open_line_id?, l.id)))
        .collect();
    let mut open_lines: Vec<OpenLineOut> =
        listed.iter().filter_map(|config| open_line(config, &fed)).collect();
    open_lines.sort_by_key(|l| l.id);
    Ok(json(&OpenLinesOut { open_lines }))
}

/// An Open Line from `imopenlines.config.list.get`'s answer (`ID` a string, `LINE_NAME`,
/// `ACTIVE` `Y`/`N`: REST docs, api-reference/imopenlines/openlines/imopenlines-config-list-get.md);
/// `None` for an entry without a usable id.
fn open_line(config: &Value, fed: &HashMap<i64, i64>) -> Option<OpenLineOut> {
    let id = config.get("ID").and_then(Id::from_value).and_then(|id| i64::try_from(id.0).ok())?;
    let name = config.get("LINE_NAME").and_then(Value::as_str).unwrap_or_default();
    let name = if name.trim().is_empty() { format!("#{id}") } else { name.to_owned() };
    let active = config.get("ACTIVE").and_then(Value::as_str) != Some("N");
    Some(OpenLineOut { id, name, active, line_id: fed.get(&id).copied() })
}

/// `POST /api/open-lines` (administrators): creates an Open Line named `name`; with `line_id`,
/// that line's assigned user (if any) is its queue. Answers 201 with the new Open Line.
pub async fn create(state: AppState, s: Session, body: CreateOpenLine) -> ApiResult<Response> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "name must be 1 to {MAX_NAME} characters without control characters"
        )));
    }
    let queue_user = match body.line_id {
        Some(id) => s.tenant.line(s.caller(), id).await?.assigned_user,
        None => None,
    };
    let params = config_params(name, queue_user);
    let portal = state.portal(&s.claims.mid).await?;
    let id = portal
        .openlines_config_add(params)
        .await
        .map_err(|e| portal_error(&state, "imopenlines.config.add", e))?;
    let id = i64::try_from(id.0).map_err(|_| ApiError::Portal)?;
    tracing::info!(member_id = %s.claims.mid, open_line_id = id, by = s.claims.uid, "open line created");
    let out = OpenLineOut { id, name: name.to_owned(), active: true, line_id: None };
    Ok(reply::with_status(reply::json(&out), StatusCode::CREATED).into_response())
}

/// `imopenlines.config.add`'s `PARAMS`: the name, active, and the queue of one user when
/// given (`QUEUE: [{ENTITY_TYPE: "user", ENTITY_ID}]`: REST docs,
/// api-reference/imopenlines/openlines/imopenlines-config-add.md).
fn config_params(name: &str, queue_user: Option<i64>) -> Value {
    let mut params = json!({ "LINE_NAME": name, "ACTIVE": "Y" });
    if let Some(user) = queue_user {
        params["QUEUE"] = json!([{ "ENTITY_TYPE": "user", "ENTITY_ID": user }]);
    }
    params
}

/// What a failed Bitrix24 call means to the administrator who asked.
fn portal_error(state: &AppState, method: &'static str, e: B24Error) -> ApiError {
    state.metrics().b24_error();
    tracing::warn!(method, error = %e, "Open Lines call failed");
    match e {
        B24Error::Api { code, description, .. } => match code {
            ErrorCode::InsufficientScope
            | ErrorCode::AccessDenied
            | ErrorCode::InvalidCredentials
            | ErrorCode::UserAccessError
            | ErrorCode::MethodConfirmWaiting
            | ErrorCode::MethodConfirmDenied
            | ErrorCode::PaymentRequired => ApiError::PortalRefused(format!(
                "Bitrix24 refused {method} ({code}): the app needs the Open Lines (imopenlines) \
                 permission and Open Lines on the portal's plan"
            )),
            ErrorCode::QueryLimitExceeded
            | ErrorCode::OperationTimeLimit
            | ErrorCode::OverloadLimit
            | ErrorCode::InternalServerError => ApiError::Unavailable(format!(
                "Bitrix24 is busy ({code}); try again in a moment"
            )),
            _ => {
                let said: String = description.chars().filter(|c| !c.is_control()).take(200).collect();
                ApiError::PortalRefused(format!("Bitrix24 refused {method} ({code}): {said}"))
            }
        },
        B24Error::Timeout { .. } | B24Error::Transport { .. } => {
            ApiError::Unavailable("Bitrix24 did not answer; try again in a moment".to_owned())
        }
        B24Error::ReinstallRequired { .. } | B24Error::Uninstalled { .. } => {
            ApiError::PortalRefused(
                "the portal no longer accepts this app's tokens: open the app again, or reinstall it"
                    .to_owned(),
            )
        }
        _ => ApiError::Portal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_lines_are_read_as_the_docs_show_them() {
        let fed = HashMap::from([(15, 3)]);
        let vip = json!({"ID": "15", "LINE_NAME": "VIP", "ACTIVE": "Y", "QUEUE": [101, 205]});
        let out = open_line(&vip, &fed).unwrap();
        assert_eq!(
            (out.id, out.name.as_str(), out.active, out.line_id),
            (15, "VIP", true, Some(3))
        );
        let off = open_line(&json!({"ID": 16, "LINE_NAME": " ", "ACTIVE": "N"}), &fed).unwrap();
        assert_eq!((off.name.as_str(), off.active, off.line_id), ("#16", false, None));
        assert!(open_line(&json!({"LINE_NAME": "no id"}), &fed).is_none());
        assert!(open_line(&json!({"ID": "x"}), &fed).is_none());
    }

    #[test]
    fn a_new_open_line_queues_the_lines_user() {
        assert_eq!(config_params("Sales", None), json!({"LINE_NAME": "Sales", "ACTIVE": "Y"}));
        assert_eq!(
            config_params("Sales", Some(7))["QUEUE"],
            json!([{"ENTITY_TYPE": "user", "ENTITY_ID": 7}])
        );
    }
}
