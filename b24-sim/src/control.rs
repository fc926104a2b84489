//! The test control endpoints (`/_sim/...`): expire tokens, finish an install, issue tokens, add
//! a fault, add a CRM item (`crm/items`), read the recorded calls and deliveries, add departments,
//! move and deactivate users, send a CRM message through a provider.

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
        ["departments"] => {
            let id = |k: &str| params.get(k).and_then(Id::from_value).map(|i| i.0);
            let (Some(dep), Some(name)) = (id("ID"), params.get("NAME").and_then(Value::as_str))
            else {
                return json_reply(400, &json!({"error": "ID and NAME are required"}));
            };
            sim.add_department(&member, dep, name, id("PARENT"), id("UF_HEAD"));
            json_reply(200, &json!({"ok": true}))
        }
        ["users", user, what] => {
            let Some(user) = user.parse::<u64>().ok() else {
                return json_reply(400, &json!({"error": "user id"}));
            };
            match *what {
                "departments" => {
                    let ds: Vec<u64> = params
                        .get("UF_DEPARTMENT")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Id::from_value).map(|i| i.0).collect())
                        .unwrap_or_default();
                    sim.move_user(&member, user, &ds);
                }
                "active" => {
                    let Some(active) = params.get("ACTIVE").and_then(b24_client::quirks::flex_bool)
                    else {
                        return json_reply(400, &json!({"error": "ACTIVE is required"}));
                    };
                    sim.set_user_active(&member, user, active);
                }
                _ => return json_reply(404, &json!({"error": "unknown control path"})),
            }
            json_reply(200, &json!({"ok": true}))
        }
        ["center", rest @ ..] => crate::contact_center::control::handle(sim, rest, params).await,
        // The CRM's "send message" through a provider: `code`, `to`, `body`, `user_id`,
        // `contact_id` (query); answers the `message_id` and the handler's answer.
        ["sms", "send"] => {
            let text = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let num = |k: &str, d: u64| params.get(k).and_then(Id::from_value).map_or(d, |i| i.0);
            let sent = sim
                .send_sms(
                    &member,
                    &text("code"),
                    num("user_id", 1),
                    &text("to"),
                    &text("body"),
                    num("contact_id", 0),
                )
                .await;
            match sent {
                Ok(s) => json_reply(
                    200,
                    &json!({"message_id": s.message_id,
                    "handler_status": s.delivery.status, "handler_body": s.delivery.body}),
                ),
                Err(e) => json_reply(404, &json!({"error": e.to_string()})),
            }
        }
        // The statuses reported for `message_id`, in order.
        ["sms", "statuses"] => {
            let id = params.get("message_id").and_then(Value::as_str).unwrap_or("");
            json_reply(200, &json!(sim.sms_statuses(&member, id)))
        }
        ["calls"] => json_reply(200, &serde_json::to_value(sim.calls()).unwrap_or(Value::Null)),
        ["deliveries"] => {
            json_reply(200, &serde_json::to_value(sim.deliveries()).unwrap_or(Value::Null))
        }
        _ => json_reply(404, &json!({"error": "unknown control path"})),
    }
}
