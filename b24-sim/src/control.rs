//! The test control endpoints (`/_sim/...`): expire tokens, finish an install, issue tokens, add
//! a fault, read the recorded calls and deliveries, send a CRM message through a provider.

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
