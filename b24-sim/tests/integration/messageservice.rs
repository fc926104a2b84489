//! `messageservice.sender.*`, `messageservice.message.status.update` and the CRM sending a
//! message through a provider (RD `api-reference/messageservice/`).

use b24_client::form;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warp::Filter;

use crate::support::{Env, MEMBER, env};

/// A loopback handler that answers 200 and passes each form body on, decoded.
async fn handler() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let route = warp::post().and(warp::body::bytes()).map(move |body: bytes::Bytes| {
        let _ = tx.send(form::parse(&body, form::FormLimits::default()).unwrap());
        warp::http::StatusCode::OK
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, rx)
}

async fn add(env: &Env, code: &str, url: &str) -> Value {
    env.call(
        "messageservice.sender.add",
        json!({"CODE": code, "TYPE": "SMS", "HANDLER": url, "NAME": "WhatsApp: Sales"}),
    )
    .await
    .result()
    .clone()
}

/// RD `messageservice-sender-add.md`, `-sender-list.md`, `-sender-delete.md`: a provider is
/// added once (`ERROR_SENDER_ALREADY_INSTALLED` the second time), listed by code, deleted
/// (`ERROR_SENDER_NOT_FOUND` after).
#[tokio::test]
async fn senders_are_added_listed_and_deleted() {
    let env = env().await;
    assert_eq!(add(&env, "wab24_line_1", "https://app.test/sms").await, json!(true));
    let again = env
        .call(
            "messageservice.sender.add",
            json!({"CODE": "wab24_line_1", "TYPE": "SMS", "HANDLER": "https://x", "NAME": "x"}),
        )
        .await;
    assert_eq!((again.status, again.error()), (400, "ERROR_SENDER_ALREADY_INSTALLED"));
    add(&env, "wab24_line_2", "https://app.test/sms2").await;
    let list = env.call("messageservice.sender.list", json!({})).await;
    assert_eq!(list.result(), &json!(["wab24_line_1", "wab24_line_2"]));
    let upd = env
        .call("messageservice.sender.update", json!({"CODE": "wab24_line_2", "NAME": "Renamed"}))
        .await;
    assert_eq!(upd.result(), &json!(true));
    assert_eq!(env.sim.senders(MEMBER)[1]["NAME"], "Renamed");
    let del = env.call("messageservice.sender.delete", json!({"CODE": "wab24_line_1"})).await;
    assert_eq!(del.result(), &json!(true));
    let gone = env.call("messageservice.sender.delete", json!({"CODE": "wab24_line_1"})).await;
    assert_eq!((gone.status, gone.error()), (400, "ERROR_SENDER_NOT_FOUND"));
    let list = env.call("messageservice.sender.list", json!({})).await;
    assert_eq!(list.result(), &json!(["wab24_line_2"]));
}

/// RD `messageservice-sender-add.md` ("Возможные коды ошибок") and `-sender-update.md`: the
/// documented validation errors.
#[tokio::test]
async fn sender_add_validates_as_documented() {
    let env = env().await;
    let cases = [
        (json!({}), "Empty data!"),
        (json!({"TYPE": "SMS", "HANDLER": "h", "NAME": "n"}), "Empty sender code!"),
        (json!({"CODE": "a b", "TYPE": "SMS", "HANDLER": "h", "NAME": "n"}), "Wrong sender code!"),
        (json!({"CODE": "a", "TYPE": "SMS", "HANDLER": "h"}), "Empty sender NAME!"),
        (json!({"CODE": "a", "HANDLER": "h", "NAME": "n"}), "Empty sender message TYPE!"),
        (
            json!({"CODE": "a", "TYPE": "VOICE", "HANDLER": "h", "NAME": "n"}),
            "Unknown sender message TYPE!",
        ),
    ];
    for (params, msg) in cases {
        let a = env.call("messageservice.sender.add", params).await;
        assert_eq!((a.status, a.error()), (400, "ERROR_SENDER_VALIDATION_FAILURE"), "{msg}");
        assert_eq!(a.body["error_description"], msg);
    }
    let named = env
        .call(
            "messageservice.sender.add",
            json!({"CODE": "a", "TYPE": "SMS", "HANDLER": "h", "NAME": {"en": "A", "ru": "А"}}),
        )
        .await;
    assert_eq!(named.result(), &json!(true), "NAME may be a map of translations");
    let u = env.call("messageservice.sender.update", json!({"CODE": "a"})).await;
    assert_eq!(u.error(), "ERROR_SENDER_OTHER_PARAMS_REQUIRED");
    let u = env.call("messageservice.sender.update", json!({"NAME": "x"})).await;
    assert_eq!(u.error(), "ERROR_SENDER_CODE_REQUIRED");
}

/// RD `api-reference/messageservice/index.md`: the methods work only in an application's
/// context and the providers are for administrators (`ACCESS_DENIED`).
#[tokio::test]
async fn senders_need_an_administrator_and_the_application() {
    let env = env().await;
    let params = json!({"CODE": "c", "TYPE": "SMS", "HANDLER": "h", "NAME": "n"});
    let user = env.call_as(2, "messageservice.sender.add", params.clone()).await;
    assert_eq!((user.status, user.error()), (403, "ACCESS_DENIED"));
    let hook = env.webhook(1, "messageservice.sender.add", params).await;
    assert_eq!(hook.error(), "ACCESS_DENIED");
    assert_eq!(hook.body["error_description"], "Application context required");
    let list = env.call_as(3, "messageservice.sender.list", json!({})).await;
    assert_eq!(list.error(), "ACCESS_DENIED");
}

/// RD `messageservice-sender-add.md` ("Что приходит в обработчик") and
/// `messageservice-message-status-update.md`: the CRM POSTs the message to the handler; the
/// provider reports statuses (only the documented ones), kept in order.
#[tokio::test]
async fn the_crm_posts_to_the_handler_and_statuses_are_recorded() {
    let env = env().await;
    let (url, mut rx) = handler().await;
    add(&env, "wab24_line_7", &url).await;
    let sent = env.sim.send_sms(MEMBER, "wab24_line_7", 2, "+7 900 111-22-33", "Hello", 55).await;
    let sent = sent.unwrap();
    assert_eq!(sent.delivery.status, 200);
    let got = rx.recv().await.unwrap();
    assert_eq!(got["module_id"], "crm");
    assert_eq!(got["type"], "SMS");
    assert_eq!(got["code"], "wab24_line_7");
    assert_eq!(got["message_id"], sent.message_id.as_str());
    assert_eq!(got["message_to"], "+7 900 111-22-33");
    assert_eq!(got["message_body"], "Hello");
    assert_eq!(got["properties"]["message_text"], "Hello");
    assert_eq!(got["bindings"][0]["OWNER_ID"], "55");
    assert_eq!(got["auth"]["member_id"], MEMBER);
    assert!(got["auth"]["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    let id = sent.message_id.clone();
    for status in ["sent", "delivered"] {
        let a = env
            .call(
                "messageservice.message.status.update",
                json!({"CODE": "wab24_line_7", "MESSAGE_ID": id, "STATUS": status}),
            )
            .await;
        assert_eq!(a.result(), &json!(true));
    }
    let bad = env
        .call(
            "messageservice.message.status.update",
            json!({"CODE": "wab24_line_7", "MESSAGE_ID": id, "STATUS": "read"}),
        )
        .await;
    assert_eq!(bad.error(), "ERROR_MESSAGE_STATUS_INCORRECT");
    let unknown = env
        .call(
            "messageservice.message.status.update",
            json!({"CODE": "wab24_line_7", "MESSAGE_ID": "nope", "STATUS": "failed"}),
        )
        .await;
    assert_eq!(unknown.error(), "ERROR_MESSAGE_NOT_FOUND");
    let other = env
        .call_as(
            3,
            "messageservice.message.status.update",
            json!({"CODE": "wab24_line_7", "MESSAGE_ID": id, "STATUS": "failed"}),
        )
        .await;
    assert_eq!(other.error(), "ACCESS_DENIED", "neither the sender nor an administrator");
    let own = env
        .call_as(
            2,
            "messageservice.message.status.update",
            json!({"CODE": "wab24_line_7", "MESSAGE_ID": id, "STATUS": "failed"}),
        )
        .await;
    assert_eq!(own.result(), &json!(true), "the message's sender");
    assert_eq!(env.sim.sms_statuses(MEMBER, &id), ["sent", "delivered", "failed"]);
    let ctl = env
        .http
        .get(format!("{}/_sim/sms/statuses", env.base))
        .query(&[("member_id", MEMBER), ("message_id", id.as_str())])
        .send()
        .await
        .unwrap();
    let ctl: Value = ctl.json().await.unwrap();
    assert_eq!(ctl, json!(["sent", "delivered", "failed"]));
}

/// The control endpoint `/_sim/sms/send` does what [`b24_sim::Sim::send_sms`] does; an unknown
/// provider is a 404 and nothing is POSTed; uninstalling removes the app's providers.
#[tokio::test]
async fn the_control_endpoint_sends_and_uninstall_removes_providers() {
    let env = env().await;
    let (url, mut rx) = handler().await;
    add(&env, "wab24_line_3", &url).await;
    let r = env
        .http
        .post(format!("{}/_sim/sms/send", env.base))
        .query(&[
            ("member_id", MEMBER),
            ("code", "wab24_line_3"),
            ("to", "+15550001003"),
            ("body", "Hi"),
            ("user_id", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["handler_status"], 200);
    let got = rx.recv().await.unwrap();
    assert_eq!(got["message_id"], answer["message_id"]);
    assert_eq!(got["message_to"], "+15550001003");
    let unknown = env
        .http
        .post(format!("{}/_sim/sms/send", env.base))
        .query(&[("member_id", MEMBER), ("code", "nope"), ("to", "1"), ("body", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    env.sim.uninstall(MEMBER, false).await.unwrap();
    assert!(env.sim.senders(MEMBER).is_empty());
}
