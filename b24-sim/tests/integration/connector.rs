//! The Open Lines connector methods an application uses outside messaging: register, list,
//! activate, status, data.set and chat.name.set (messaging itself: see the contact-center
//! tests).

use serde_json::json;

use crate::support::{MEMBER, env, env_with};

fn register_params(id: &str) -> serde_json::Value {
    json!({"ID": id, "NAME": "WhatsApp (wab24)", "ICON": {"DATA_IMAGE": "data:image/svg+xml,%3Csvg%3E%3C/svg%3E"},
           "PLACEMENT_HANDLER": "https://app.test/connector"})
}

/// RD `imconnector/imconnector-register.md`: scope `imopenlines`, "who can call: any user";
/// errors come as 200 with `result:false`; the id is lower-cased.
#[tokio::test]
async fn register_is_open_to_any_user_with_scope_imopenlines() {
    let env = env_with(|s| s.scope = vec!["imopenlines".to_owned()]).await;
    let by_user = env.call_as(2, "imconnector.register", register_params("WAB24_user")).await;
    assert_eq!(by_user.result(), &json!({"result": true}));
    assert!(env.sim.inspect(MEMBER).unwrap()["connectors"].get("wab24_user").is_some());
    let no_id = env.call("imconnector.register", json!({"NAME": "x"})).await;
    assert_eq!(no_id.result()["result"], false);
    assert_eq!(no_id.result()["error"], "CONNECTOR_ID_REQUIRED");
    let dot = env.call("imconnector.register", register_params("wa.b")).await;
    assert_eq!(dot.result()["error"], "APPLICATION_REGISTRATION_ERROR_POINT");
    let no_icon = env
        .call(
            "imconnector.register",
            json!({"ID": "a", "NAME": "a", "PLACEMENT_HANDLER": "https://app.test/c"}),
        )
        .await;
    assert_eq!(no_icon.result()["error"], "ICON_REQUIRED");

    let without = env_with(|s| s.scope = vec!["imconnector".to_owned()]).await;
    let r = without.call("imconnector.register", register_params("wab24")).await;
    assert_eq!((r.status, r.error()), (403, "insufficient_scope"));
}

/// RD `imconnector/imconnector-list.md`: every connector of the portal, built-in ones included
/// (`livechat`, `whatsappbytwilio`, `avito`, `viber`, `telegrambot`, `imessage`, `vkgroup`, `ok`,
/// `facebook`, `facebookcomments`, `fbinstagramdirect`, `network`, `notifications`,
/// `whatsappbyedna` in the page's full example), as `id: name`; for users who may change
/// connectors, others get 400 `ACCESS_DENIED`.
#[tokio::test]
async fn list_has_the_built_in_connectors_and_the_registered_ones() {
    let env = env().await;
    env.call("imconnector.register", register_params("wab24")).await.result();
    let list = env.call("imconnector.list", json!({})).await;
    let list = list.result().as_object().unwrap().clone();
    for id in [
        "livechat",
        "whatsappbytwilio",
        "avito",
        "viber",
        "telegrambot",
        "imessage",
        "vkgroup",
        "ok",
        "facebook",
        "facebookcomments",
        "fbinstagramdirect",
        "network",
        "notifications",
        "whatsappbyedna",
    ] {
        assert!(list.get(id).is_some_and(serde_json::Value::is_string), "{id}");
    }
    assert_eq!(list["wab24"], "WhatsApp (wab24)");
    let user = env.call_as(2, "imconnector.list", json!({})).await;
    assert_eq!((user.status, user.error()), (400, "ACCESS_DENIED"));
}

/// RD `imconnector-activate.md`, `imconnector-status.md`, `imconnector-connector-data-set.md`:
/// a registered connector is switched on per open line and carries its data; an unknown
/// connector is `IMCONNECTOR_NO_CORRECT_PROVIDER`, a missing line `NOT_ACTIVE_LINE`.
#[tokio::test]
async fn activate_status_and_data_per_line() {
    let env = env().await;
    let line = env.connector_on_line("wab24", json!({})).await;
    let status = env.call("imconnector.status", json!({"CONNECTOR": "wab24", "LINE": line})).await;
    assert_eq!(
        (status.result()["STATUS"].clone(), status.result()["CONFIGURED"].clone()),
        (json!(true), json!(false))
    );
    let data = env
        .call("imconnector.connector.data.set", json!({"CONNECTOR": "wab24", "LINE": line,
            "DATA": {"id": "wab24line1", "url_im": "https://wa.me/79990000000", "name": "+7 999 000-00-00"}}))
        .await;
    assert_eq!(data.result(), &json!(true));
    let status = env.call("imconnector.status", json!({"CONNECTOR": "wab24", "LINE": line})).await;
    assert_eq!(status.result()["CONFIGURED"], true);
    let unknown = env
        .call("imconnector.activate", json!({"CONNECTOR": "nobody", "LINE": line, "ACTIVE": 1}))
        .await;
    assert_eq!((unknown.status, unknown.error()), (400, "IMCONNECTOR_NO_CORRECT_PROVIDER"));
    let no_line = env
        .call("imconnector.activate", json!({"CONNECTOR": "wab24", "LINE": 99_999, "ACTIVE": 1}))
        .await;
    assert_eq!((no_line.status, no_line.error()), (400, "NOT_ACTIVE_LINE"));
    let sent = env
        .call("imconnector.send.messages", json!({"CONNECTOR": "wab24", "LINE": line, "MESSAGES": [
            {"user": {"id": "79991234567", "name": "Anna"}, "message": {"id": "3EB0A", "date": 1_738_065_600, "text": "Hello"},
             "chat": {"id": "79991234567"}}]}))
        .await;
    assert_eq!(sent.result()["SUCCESS"], true);
    assert_eq!(sent.result()["DATA"]["RESULT"][0]["SUCCESS"], true);
}

/// RD `imconnector/imconnector-chat-name-set.md`: scope `imconnector`; `CONNECTOR`, `LINE`,
/// `CHAT_ID`, `NAME` required and `USER_ID` too unless the connector groups chats
/// (`CHAT_GROUP`), else 400 `ERROR_ARGUMENT`; `NOT_ACTIVE_LINE`,
/// `IMCONNECTOR_NO_CORRECT_PROVIDER`, `CHAT_RENAMING_FAILED` (here: a chat no message opened);
/// success is `{SUCCESS: true, DATA: {RESULT: {}}}`.
#[tokio::test]
async fn chat_name_set_names_the_chat() {
    let env = env().await;
    let line = env.connector_on_line("wab24", json!({})).await;
    let set = |params: serde_json::Value| {
        let env = &env;
        async move { env.call("imconnector.chat.name.set", params).await }
    };
    let send = |connector: &'static str, line: u64, user: &'static str, chat: &'static str| {
        let env = &env;
        async move {
            let m = json!({"user": {"id": user, "name": "Anna"}, "message": {"id": format!("m-{chat}"), "text": "Hi"},
                           "chat": {"id": chat}});
            let r = env
                .call(
                    "imconnector.send.messages",
                    json!({"CONNECTOR": connector, "LINE": line, "MESSAGES": [m]}),
                )
                .await;
            assert_eq!(r.result()["DATA"]["RESULT"][0]["SUCCESS"], true, "{}", r.body);
        }
    };
    let early = set(json!({"CONNECTOR": "wab24", "LINE": line, "CHAT_ID": "79991234567", "USER_ID": "79991234567",
                           "NAME": "Anna (WhatsApp)"}))
        .await;
    assert_eq!(
        (early.status, early.error()),
        (400, "CHAT_RENAMING_FAILED"),
        "no message opened the chat yet"
    );
    send("wab24", line, "79991234567", "79991234567").await;
    let ok = set(json!({"CONNECTOR": "wab24", "LINE": line, "CHAT_ID": "79991234567", "USER_ID": "79991234567",
                        "NAME": "Anna (WhatsApp)"}))
        .await;
    assert_eq!(ok.result(), &json!({"SUCCESS": true, "DATA": {"RESULT": {}}}));
    let names = env.sim.inspect(MEMBER).unwrap()["chat_names"].clone();
    assert_eq!(
        names,
        json!([{"connector": "wab24", "line": line, "chat_id": "79991234567",
                              "user_id": "79991234567", "name": "Anna (WhatsApp)"}])
    );

    for missing in ["CONNECTOR", "LINE", "CHAT_ID", "NAME", "USER_ID"] {
        let mut p = json!({"CONNECTOR": "wab24", "LINE": line, "CHAT_ID": "c", "USER_ID": "u", "NAME": "n"});
        p.as_object_mut().unwrap().remove(missing);
        let r = set(p).await;
        assert_eq!((r.status, r.error()), (400, "ERROR_ARGUMENT"), "without {missing}");
    }
    let unknown = set(
        json!({"CONNECTOR": "nobody", "LINE": line, "CHAT_ID": "c", "USER_ID": "u", "NAME": "n"}),
    )
    .await;
    assert_eq!(unknown.error(), "IMCONNECTOR_NO_CORRECT_PROVIDER");
    let no_line = set(
        json!({"CONNECTOR": "wab24", "LINE": 99_999, "CHAT_ID": "c", "USER_ID": "u", "NAME": "n"}),
    )
    .await;
    assert_eq!(no_line.error(), "NOT_ACTIVE_LINE");

    let group_line = env.connector_on_line("wagroups", json!({"CHAT_GROUP": "Y"})).await;
    send("wagroups", group_line, "79990000001", "120363@g.us").await;
    let group = set(json!({"CONNECTOR": "wagroups", "LINE": group_line, "CHAT_ID": "120363@g.us", "NAME": "Team"})).await;
    assert_eq!(group.result()["SUCCESS"], true, "a group chat needs no USER_ID");

    let without = env_with(|s| s.scope = vec!["imopenlines".to_owned()]).await;
    let r = without
        .call(
            "imconnector.chat.name.set",
            json!({"CONNECTOR": "wab24", "LINE": 1, "CHAT_ID": "c", "NAME": "n"}),
        )
        .await;
    assert_eq!((r.status, r.error()), (403, "insufficient_scope"));
}
