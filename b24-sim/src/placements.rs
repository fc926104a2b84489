//! `placement.bind`, `placement.get` and `placement.unbind` (RD `api-reference/widgets/`): the
//! handlers an application binds to the portal's placements, kept as `placement.get` lists them.

use b24_client::{ErrorCode, Id};
use serde_json::{Value, json};

use crate::portal::{MethodError, Portal, str_arg};

/// At most this many handlers per portal (the simulator's bound; Bitrix24 documents none).
const MAX_PLACEMENTS: usize = 100;

/// Placements that take one handler only (`ERROR_PLACEMENT_MAX_COUNT` on a second bind).
const SINGLE_HANDLER: &[&str] = &["PAGE_BACKGROUND_WORKER", "REST_APP_URI"];

/// The one placement that binds per user (`USER_ID`).
const PER_USER: &str = "PAGE_BACKGROUND_WORKER";

/// PHP sends an empty array for a missing map.
fn map_or_empty(v: Option<&Value>) -> Value {
    v.filter(|v| v.as_object().is_some_and(|o| !o.is_empty())).cloned().unwrap_or_else(|| json!([]))
}

impl Portal {
    /// `placement.bind` (RD `widgets/placement-bind.md`): `PLACEMENT` and `HANDLER` required;
    /// `TITLE`, `DESCRIPTION`, `GROUP_NAME`, `LANG_ALL`, `OPTIONS` and `USER_ID` kept.
    pub(crate) fn placement_bind(&mut self, p: &Value) -> Result<Value, MethodError> {
        let placement = str_arg(p, "PLACEMENT")
            .ok_or_else(|| (ErrorCode::Argument, "Argument 'PLACEMENT' is null or empty".into()))?
            .to_ascii_uppercase();
        let handler = str_arg(p, "HANDLER")
            .ok_or_else(|| (ErrorCode::Argument, "Argument 'HANDLER' is null or empty".into()))?;
        let user_id = p.get("USER_ID").and_then(Id::from_value).map_or(0, |i| i.0);
        if user_id != 0 && placement != PER_USER {
            return Err((ErrorCode::PlacementUserMode, "User mode is not available".into()));
        }
        let taken = self.placements.iter().any(|x| x["placement"] == placement.as_str());
        if (taken && SINGLE_HANDLER.contains(&placement.as_str()))
            || self.placements.len() >= MAX_PLACEMENTS
        {
            return Err((ErrorCode::PlacementMaxCount, "Placement max count reached".into()));
        }
        let text = |k: &str| str_arg(p, k).unwrap_or_default();
        self.placements.push(json!({
            "placement": placement, "userId": user_id, "handler": handler,
            "options": map_or_empty(p.get("OPTIONS")), "title": text("TITLE"),
            "description": text("DESCRIPTION"), "groupName": text("GROUP_NAME"),
            "langAll": map_or_empty(p.get("LANG_ALL")),
        }));
        Ok(json!(true))
    }

    /// `placement.unbind` (RD `widgets/placement-unbind.md`): with `HANDLER` only that handler,
    /// without it every handler of the placement; with `USER_ID` only that user's. `count`
    /// goes up by one when a handler is found and by one more when it is deleted, so it is
    /// twice the number removed (0 when nothing matched: not an error).
    pub(crate) fn placement_unbind(&mut self, p: &Value) -> Result<Value, MethodError> {
        let placement = match p.get("PLACEMENT") {
            Some(Value::String(s)) if !s.is_empty() => s.to_ascii_uppercase(),
            Some(Value::Array(_) | Value::Object(_)) => {
                return Err((
                    ErrorCode::Argument,
                    "The value of an argument 'PLACEMENT' must be of type string".into(),
                ));
            }
            _ => {
                return Err((ErrorCode::Argument, "Argument 'PLACEMENT' is null or empty".into()));
            }
        };
        let handler = str_arg(p, "HANDLER");
        let user_id = p.get("USER_ID").and_then(Id::from_value).map(|i| i.0);
        let before = self.placements.len();
        self.placements.retain(|x| {
            let matches = x["placement"] == placement.as_str()
                && handler.as_deref().is_none_or(|h| x["handler"] == h)
                && user_id.is_none_or(|u| x["userId"] == u);
            !matches
        });
        Ok(json!({"count": 2 * (before - self.placements.len())}))
    }
}
