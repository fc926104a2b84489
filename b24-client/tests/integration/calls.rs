use b24_client::{Error, ErrorCode, Id};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_call_returns_the_envelope_and_typed_results() {
    let env = env().await;
    let p = env.portal();
    let env_ = p.call("user.current", json!({})).await.unwrap();
    assert_eq!(env_.result["ID"], "1");
    assert!(env_.time.unwrap().operating_reset_at.is_some());
    let me = p.user_current().await.unwrap();
    assert_eq!(me.id, Id(1));
    assert!(p.user_admin().await.unwrap());
    assert_eq!(p.department_get(json!({"ID": 2})).await.unwrap()[0].parent, Some(Id(1)));
    assert!(p.app_info().await.unwrap().installed);
    // The sim recorded our User-Agent and the token, never in the params.
    let rec = env.sim.calls_to("user.current");
    assert!(rec[0].user_agent.as_deref().unwrap().starts_with("wab24-b24-client/"));
    assert!(rec[0].params.get("auth").is_none() && rec[0].auth.is_some());
}

#[tokio::test]
async fn errors_are_typed() {
    let env = env().await;
    let p = env.portal();
    let e = p.call("no.such.method", json!({})).await.unwrap_err();
    assert!(matches!(e, Error::Api { code: ErrorCode::MethodNotFound, status: 404, .. }), "{e:?}");
    let e = p.crm_timeline_comment_add("spaceship", Id(1), "x").await.unwrap_err();
    assert!(matches!(e, Error::Api { code: ErrorCode::Argument, status: 400, .. }), "{e:?}");
    // A 200 with result:false (imconnector.register) is an error too.
    let e = p.imconnector_register(json!({"ID": "wa.bad", "NAME": "x"})).await.unwrap_err();
    assert_eq!(e.code().unwrap().as_str(), "APPLICATION_REGISTRATION_ERROR_POINT");
}

#[tokio::test]
async fn every_documented_code_injected_by_the_sim_comes_back_typed() {
    let env = env().await;
    let p = env.portal();
    // Handled elsewhere: refresh, backoff, pause; 5xx on a read is retried.
    let skip = [
        ErrorCode::ExpiredToken,
        ErrorCode::InvalidToken,
        ErrorCode::QueryLimitExceeded,
        ErrorCode::OperationTimeLimit,
    ];
    let retried = [ErrorCode::InternalServerError, ErrorCode::UnexpectedAnswer];
    for code in retried.clone() {
        env.sim.add_fault(
            b24_sim::Fault::on("crm.item.add", b24_sim::FaultAction::error(code.clone())).times(1),
        );
        let e = p.call("crm.item.add", json!({"entityTypeId": 3, "fields": {}})).await.unwrap_err();
        assert_eq!(e.code(), Some(&code), "a write is not retried");
        env.sim.add_fault(
            b24_sim::Fault::on("user.current", b24_sim::FaultAction::error(code.clone())).times(1),
        );
        p.call("user.current", json!({})).await.unwrap();
        env.sim.clear_faults();
    }
    for code in ErrorCode::all().filter(|c| !skip.contains(c) && !retried.contains(c)) {
        env.sim.add_fault(
            b24_sim::Fault::on("user.current", b24_sim::FaultAction::error(code.clone())).times(1),
        );
        let e = p.call("user.current", json!({})).await.unwrap_err();
        match e {
            Error::Api { code: got, status, .. } => {
                assert_eq!(got, code);
                assert_eq!(status, code.http_status());
            }
            other => panic!("{code}: {other:?}"),
        }
        env.sim.clear_faults();
    }
}

#[tokio::test]
async fn services_for_the_product() {
    let env = env().await;
    let p = env.portal();
    p.event_bind("ONIMCONNECTORMESSAGEADD", "http://127.0.0.1:1/events").await.unwrap();
    assert_eq!(p.event_get().await.unwrap().len(), 1);
    p.placement_bind("CRM_DEAL_DETAIL_TAB", "http://127.0.0.1:1/tab", "WhatsApp").await.unwrap();
    assert_eq!(p.placement_get().await.unwrap().len(), 1);
    p.imconnector_register(json!({"ID": "wab24", "NAME": "WhatsApp", "ICON": {"DATA_IMAGE": "data:image/svg+xml,x"}, "PLACEMENT_HANDLER": "http://127.0.0.1:1/c"}))
        .await
        .unwrap();
    let line = p
        .openlines_config_add(
            json!({"LINE_NAME": "+7 999", "QUEUE": [{"ENTITY_TYPE": "user", "ENTITY_ID": 2}]}),
        )
        .await
        .unwrap();
    let e = p.imconnector_send_messages("wab24", line, json!([{"user": {"id": "1"}, "message": {"id": "m1", "text": "hi"}, "chat": {"id": "c"}}])).await.unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::NotActiveLine));
    p.imconnector_activate("wab24", line, true).await.unwrap();
    p.imconnector_data_set("wab24", line, json!({"ID": "wab24", "NAME": "WhatsApp"}))
        .await
        .unwrap();
    assert_eq!(p.imconnector_status("wab24", line).await.unwrap()["STATUS"], true);
    let r = p
        .imconnector_send_messages(
            "wab24",
            line,
            json!([{"user": {"id": "79991234567", "name": "Anna"}, "message": {"id": "3EB0A", "date": 1738065600, "text": "Hello"}, "chat": {"id": "79991234567"}},
                   {"user": {"id": "x"}, "message": {"id": "3EB0B"}, "chat": {"id": "x"}}]),
        )
        .await
        .unwrap();
    assert_eq!(r["DATA"]["RESULT"][0]["SUCCESS"], true);
    assert_eq!(r["DATA"]["RESULT"][1]["SUCCESS"], false, "no text nor files");
    // Delivery statuses are for operator messages: an operator answers in the new session.
    let chat: u64 = r["DATA"]["RESULT"][0]["session"]["CHAT_ID"].as_str().unwrap().parse().unwrap();
    let posted = env
        .sim
        .operator_reply(MEMBER, b24_sim::Dialog::Chat(chat), "On it", &[], Default::default())
        .await
        .unwrap();
    p.imconnector_status_delivery("wab24", line, json!([{"im": {"chat_id": chat, "message_id": posted.message_id}, "message": {"id": ["wa1"]}, "chat": {"id": "79991234567"}}])).await.unwrap();
    assert_eq!(p.openlines_config_list().await.unwrap().len(), 1);
    p.openlines_config_update(line, json!({"CRM_CREATE_SECOND": "N"})).await.unwrap();
    assert_eq!(p.openlines_config_get(line).await.unwrap()["CRM_CREATE_SECOND"], "N");

    assert_eq!(
        p.crm_find_by_comm("PHONE", &["+7 (999) 123-45-67"]).await.unwrap(),
        Default::default()
    );
    let c = p.crm_item_add(3, json!({"name": "Anna", "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+79991234567"}]})).await.unwrap();
    let cid = Id::from_value(&c["id"]).unwrap();
    let m = p.crm_find_by_comm("PHONE", &["+7 (999) 123-45-67"]).await.unwrap();
    assert_eq!(m.contacts, [cid]);
    p.crm_item_update(3, cid, json!({"lastName": "K"})).await.unwrap();
    assert_eq!(p.crm_item_list(3, json!({"lastName": "K"})).await.unwrap().len(), 1);
    let comment =
        p.crm_timeline_comment_add("contact", cid, "WhatsApp chat started").await.unwrap();
    assert!(comment.0 > 0);
    let a = p
        .crm_activity_add(
            json!({"OWNER_TYPE_ID": 3, "OWNER_ID": cid, "TYPE_ID": 4, "SUBJECT": "call"}),
        )
        .await
        .unwrap();
    p.crm_activity_update(a, json!({"SUBJECT": "call back"})).await.unwrap();
    assert_eq!(p.crm_activity_get(a).await.unwrap()["SUBJECT"], "call back");
    assert_eq!(p.crm_activity_list(json!({"OWNER_ID": cid})).await.unwrap().len(), 1);
    p.crm_activity_delete(a).await.unwrap();
    p.crm_activity_todo_add(
        json!({"ownerTypeId": 3, "ownerId": cid, "deadline": "2026-01-01T10:00:00"}),
    )
    .await
    .unwrap();
    p.openlines_config_delete(line).await.unwrap();
}
