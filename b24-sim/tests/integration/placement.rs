//! `placement.bind`, `placement.get`, `placement.unbind`.

use serde_json::json;

use crate::support::env;

/// RD `api-reference/widgets/placement-bind.md` (`OPTIONS`, `LANG_ALL` and the other
/// parameters) and `placement-get.md` (each handler listed with `placement`, `userId`,
/// `handler`, `options`, `title`, `description`, `langAll`).
#[tokio::test]
async fn bind_keeps_options_and_translations_that_get_returns() {
    let env = env().await;
    let lang = json!({"en": {"TITLE": "WhatsApp", "DESCRIPTION": "", "GROUP_NAME": ""},
                      "ru": {"TITLE": "Ватсап", "DESCRIPTION": "", "GROUP_NAME": ""}});
    let bound = env
        .call("placement.bind", json!({"PLACEMENT": "IM_CONTEXT_MENU", "HANDLER": "https://app.test/im",
            "TITLE": "WhatsApp", "OPTIONS": {"extranet": "N", "context": "ALL", "role": "USER"}, "LANG_ALL": lang}))
        .await;
    assert_eq!(bound.result(), &json!(true));
    env.call(
        "placement.bind",
        json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": "https://app.test/tab"}),
    )
    .await
    .result();
    let list = env.call("placement.get", json!({})).await;
    let list = list.result().as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    let im = &list[0];
    assert_eq!(im["placement"], "IM_CONTEXT_MENU");
    assert_eq!(
        (im["userId"].clone(), im["handler"].clone()),
        (json!(0), json!("https://app.test/im"))
    );
    assert_eq!(im["options"], json!({"extranet": "N", "context": "ALL", "role": "USER"}));
    assert_eq!(im["langAll"]["ru"]["TITLE"], "Ватсап");
    assert_eq!(im["title"], "WhatsApp");
    assert_eq!(list[1]["options"], json!([]), "no OPTIONS: PHP's empty array");
}

/// RD `api-reference/widgets/placement-unbind.md`: with `HANDLER` only that handler goes,
/// without it every handler of the placement; `count` grows by one per handler found and one
/// per handler deleted.
#[tokio::test]
async fn unbind_with_a_handler_removes_only_that_handler() {
    let env = env().await;
    for (placement, handler) in [
        ("CRM_DEAL_DETAIL_TAB", "https://app.test/a"),
        ("CRM_DEAL_DETAIL_TAB", "https://app.test/b"),
        ("CRM_DEAL_DETAIL_TAB", "https://app.test/c"),
        ("CRM_LEAD_DETAIL_TAB", "https://app.test/a"),
    ] {
        env.call("placement.bind", json!({"PLACEMENT": placement, "HANDLER": handler}))
            .await
            .result();
    }
    let one = env
        .call(
            "placement.unbind",
            json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": "https://app.test/a"}),
        )
        .await;
    assert_eq!(one.result(), &json!({"count": 2}));
    let left = env.call("placement.get", json!({})).await.result().clone();
    let handlers: Vec<(&str, &str)> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["placement"].as_str().unwrap(), p["handler"].as_str().unwrap()))
        .collect();
    assert_eq!(
        handlers,
        [
            ("CRM_DEAL_DETAIL_TAB", "https://app.test/b"),
            ("CRM_DEAL_DETAIL_TAB", "https://app.test/c"),
            ("CRM_LEAD_DETAIL_TAB", "https://app.test/a")
        ]
    );
    let all = env.call("placement.unbind", json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB"})).await;
    assert_eq!(all.result(), &json!({"count": 4}));
    assert_eq!(env.call("placement.get", json!({})).await.result().as_array().unwrap().len(), 1);
    let none = env.call("placement.unbind", json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB"})).await;
    assert_eq!(none.result(), &json!({"count": 0}));
}

/// RD `placement-bind.md` and `placement-unbind.md`: administrators only (403
/// `ACCESS_DENIED`), `PLACEMENT` required (`ERROR_ARGUMENT`), `USER_ID` only for
/// `PAGE_BACKGROUND_WORKER` (`ERROR_PLACEMENT_USER_MODE`), one handler only for
/// `REST_APP_URI` (`ERROR_PLACEMENT_MAX_COUNT`).
#[tokio::test]
async fn placement_errors_follow_the_docs() {
    let env = env().await;
    let user = env
        .call_as(
            2,
            "placement.bind",
            json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": "https://app.test/a"}),
        )
        .await;
    assert_eq!((user.status, user.error()), (403, "ACCESS_DENIED"));
    let user =
        env.call_as(2, "placement.unbind", json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB"})).await;
    assert_eq!((user.status, user.error()), (403, "ACCESS_DENIED"));
    let empty = env.call("placement.unbind", json!({"PLACEMENT": ""})).await;
    assert_eq!((empty.status, empty.error()), (400, "ERROR_ARGUMENT"));
    let no_handler = env.call("placement.bind", json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB"})).await;
    assert_eq!(no_handler.error(), "ERROR_ARGUMENT");
    let per_user = env
        .call("placement.bind", json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": "https://app.test/a", "USER_ID": 2}))
        .await;
    assert_eq!(per_user.error(), "ERROR_PLACEMENT_USER_MODE");
    let worker = env
        .call("placement.bind", json!({"PLACEMENT": "PAGE_BACKGROUND_WORKER", "HANDLER": "https://app.test/w", "USER_ID": 2,
            "OPTIONS": {"errorHandlerUrl": "https://app.test/e"}}))
        .await;
    assert_eq!(worker.result(), &json!(true));
    let first = env
        .call(
            "placement.bind",
            json!({"PLACEMENT": "REST_APP_URI", "HANDLER": "https://app.test/u"}),
        )
        .await;
    assert_eq!(first.result(), &json!(true));
    let second = env
        .call(
            "placement.bind",
            json!({"PLACEMENT": "REST_APP_URI", "HANDLER": "https://app.test/v"}),
        )
        .await;
    assert_eq!(second.error(), "ERROR_PLACEMENT_MAX_COUNT");
}
