//! The test control endpoints (`/_sim/...`): expire tokens, finish an install, issue tokens, add
//! a fault, add a CRM item (`crm/items`), read the recorded calls and deliveries.

use b24_client::Id;
use serde_json::{Map, Value, json};

use crate::{
    faults::Fault,
    reply::{Reply, json_reply},
    sim::Sim,
};

/// `/_sim/<rest>`.
pub(crate) async fn handle(
    sim: &Sim,
    rest: &[&str],
    params: Map<String, Value>,
    body: &[u8],
) -> Reply {
    let member = params.get("member_id").and_then(Value::as_str).unwrap_or("").to_owned();
    match rest {
        ["expire"] => {
            sim.expire_access_tokens(&member);
            json_reply(200, &json!({"ok": true}))
        }
        ["install-finish"] => {
            sim.finish_install(&member);
            json_reply(200, &json!({"ok": true}))
        }
        ["tokens"] => {
            let user = params.get("user_id").and_then(Id::from_value).map(|i| i.0).unwrap_or(1);
            match sim.issue(&member, user) {
                Ok(v) => json_reply(200, &v),
                Err(e) => json_reply(404, &json!({"error": e.to_string()})),
            }
        }
        ["faults"] => match serde_json::from_slice::<Fault>(body) {
            Ok(f) => {
                sim.add_fault(f);
                json_reply(200, &json!({"ok": true}))
            }
            Err(e) => json_reply(400, &json!({"error": e.to_string()})),
        },
        ["crm", "items"] => {
            let entity_type = params
                .get("entityTypeId")
                .and_then(Id::from_value)
                .and_then(|i| u32::try_from(i.0).ok())
                .filter(|t| (1..=4).contains(t));
            let fields = params.get("fields").filter(|f| f.is_object());
            match (entity_type, fields) {
                (Some(t), Some(f)) => match sim.add_crm_item(&member, t, f) {
                    Ok(id) => json_reply(200, &json!({"id": id})),
                    Err(e) => json_reply(404, &json!({"error": e.to_string()})),
                },
                _ => json_reply(
                    400,
                    &json!({"error": "entityTypeId (1 to 4) and fields (an object) are required"}),
                ),
            }
        }
        ["center", rest @ ..] => crate::contact_center::control::handle(sim, rest, params).await,
        ["calls"] => json_reply(200, &serde_json::to_value(sim.calls()).unwrap_or(Value::Null)),
        ["deliveries"] => {
            json_reply(200, &serde_json::to_value(sim.deliveries()).unwrap_or(Value::Null))
        }
        _ => json_reply(404, &json!({"error": "unknown control path"})),
    }
}
