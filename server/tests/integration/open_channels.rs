//! The Open Channels connector: the line settings that send conversations to a Bitrix24 Open
//! Line, and what they queue for Bitrix24.

use serde_json::json;
use tenancy::{B24OutboxKind, B24OutboxState, Caller};

use crate::app::{ALPHA, start};

#[tokio::test]
async fn an_administrator_sends_a_lines_conversations_to_an_open_line() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let user = app.token(ALPHA, 2).await;
    let created =
        app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    let line = created.json()["id"].as_i64().unwrap();
    assert_eq!(
        (
            created.json()["open_channel"].as_str(),
            created.json()["open_line_id"].as_i64(),
            created.json()["open_channel_status"].as_str()
        ),
        (Some("panel"), None, Some("off"))
    );
    let path = format!("/api/lines/{line}");
    let both = json!({"open_channel": "both", "open_line_id": 7});
    let a = app.call("PATCH", &path, Some(&user), Some(both.clone())).await;
    assert_eq!(a.status, 403, "{}", a.body);
    // Typed refusals: an unknown channel, an Open Channel without an Open Line.
    for bad in [
        json!({"open_channel": "openlines"}),
        json!({"open_channel": "openline"}),
        json!({"open_line_id": "7"}),
    ] {
        let a = app.call("PATCH", &path, Some(&admin), Some(bad.clone())).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
    }
    let a = app.call("PATCH", &path, Some(&admin), Some(both)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (a.json()["open_channel"].as_str(), a.json()["open_line_id"].as_i64()),
        (Some("both"), Some(7))
    );
    // Leaving `open_line_id` out keeps it; `null` clears it (allowed once back on the panel).
    let a = app.call("PATCH", &path, Some(&admin), Some(json!({"open_channel": "panel"}))).await;
    assert_eq!(
        (a.json()["open_channel"].as_str(), a.json()["open_line_id"].as_i64()),
        (Some("panel"), Some(7))
    );
    let a = app.call("PATCH", &path, Some(&admin), Some(json!({"open_line_id": null}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.json()["open_line_id"].is_null());
    // Each change of the Open Line fed is queued for Bitrix24 and audited.
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    let queued =
        tenant.b24_outbox_items(Caller::System, line, B24OutboxState::Pending, 10).await.unwrap();
    assert_eq!(
        queued.iter().map(|i| i.kind).collect::<Vec<_>>(),
        [B24OutboxKind::ConnectorStatus; 2]
    );
    let audit = app.get("/api/audit?kind=line.settings_changed", &admin).await.json();
    assert_eq!(audit["records"].as_array().unwrap().len(), 3);
}
