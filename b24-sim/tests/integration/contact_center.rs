//! The contact center: open line settings, sessions opened by connector messages, operators,
//! the CRM tracker and the connector events, checked against the REST documentation
//! (`bitrix-tools/b24-rest-docs`, pages named in each test).

use std::{net::SocketAddr, time::Duration};

use b24_client::{
    Client, ErrorCode, Id, Portal,
    inbound::{Event, EventKind},
};
use b24_sim::{Dialog, EventOptions, MessageAuthor, OutFile, PortalSpec, Sim, SimConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warp::Filter as _;

const MEMBER: &str = "center-member";
const CONNECTOR: &str = "wab24";
/// Every connector event the tests listen to.
const EVENTS: &[&str] = &[
    "ONIMCONNECTORMESSAGEADD",
    "ONIMCONNECTORMESSAGEUPDATE",
    "ONIMCONNECTORMESSAGEDELETE",
    "ONIMCONNECTORDIALOGSTART",
    "ONIMCONNECTORDIALOGFINISH",
    "ONIMCONNECTORSTATUSDELETE",
    "ONIMCONNECTORLINEDELETE",
];

/// A portal with the connector registered and every connector event bound to a loopback
/// receiver.
struct Center {
    sim: Sim,
    portal: Portal,
    events: mpsc::UnboundedReceiver<Event>,
}

/// Listens on loopback for event POSTs and passes each parsed one on (as
/// `examples/open_line_bridge.rs` does).
async fn receiver() -> (String, mpsc::UnboundedReceiver<Event>) {
    let (sender, events) = mpsc::unbounded_channel();
    let route = warp::post().and(warp::body::bytes()).map(move |body: bytes::Bytes| {
        let event = Event::parse(&body).expect("an event the client parses");
        let _ = sender.send(event);
        warp::http::StatusCode::OK
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, events)
}

impl Center {
    async fn start() -> Center {
        Self::start_with(json!({})).await
    }

    /// `extra` goes into `imconnector.register` (`CHAT_GROUP`, `NEED_SIGNATURE`...).
    async fn start_with(extra: Value) -> Center {
        let sim = Sim::new(SimConfig::default());
        let mut spec = PortalSpec::new(MEMBER, "center.test");
        spec.users = 4;
        spec.rate_limit = b24_client::RateLimit::ENTERPRISE;
        sim.add_portal(spec);
        sim.start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let client = Client::builder(sim.app()).build().unwrap();
        let portal = client.portal(sim.issue_tokens(MEMBER, 1).unwrap());
        let mut register = json!({"ID": CONNECTOR, "NAME": "WhatsApp",
            "ICON": {"DATA_IMAGE": "data:image/svg+xml,x"}, "PLACEMENT_HANDLER": "http://127.0.0.1:1/c"});
        if let (Some(r), Some(e)) = (register.as_object_mut(), extra.as_object()) {
            r.extend(e.clone());
        }
        portal.imconnector_register(register).await.unwrap();
        let (url, events) = receiver().await;
        for event in EVENTS {
            portal.event_bind(event, &url).await.unwrap();
        }
        Center { sim, portal, events }
    }

    /// A line with these settings and the connector switched on.
    async fn line(&self, params: Value) -> Id {
        let line = self.portal.openlines_config_add(params).await.unwrap();
        self.portal.imconnector_activate(CONNECTOR, line, true).await.unwrap();
        line
    }

    /// A customer's text through `imconnector.send.messages`; the first answer element.
    async fn customer_says(
        &self,
        line: Id,
        user: Value,
        chat: &str,
        id: &str,
        text: &str,
    ) -> Value {
        let answer = self
            .portal
            .imconnector_send_messages(
                CONNECTOR,
                line,
                json!([{"user": user, "message": {"id": id, "date": 1_738_065_600, "text": text},
                        "chat": {"id": chat}}]),
            )
            .await
            .unwrap();
        answer["DATA"]["RESULT"][0].clone()
    }

    /// The next event with this name (others before it are dropped).
    async fn next(&mut self, name: &str) -> Event {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no {name} event"))
                .unwrap();
            if event.name == name {
                return event;
            }
        }
    }
}

/// A CRM item through `crm.item.get`.
async fn crm_item(portal: &Portal, entity_type: u32, id: u64) -> Value {
    let env = portal.call("crm.item.get", json!({"entityTypeId": entity_type, "id": id})).await;
    env.unwrap().result["item"].clone()
}

fn chat_of(result: &Value) -> u64 {
    result["session"]["CHAT_ID"].as_str().unwrap().parse().unwrap()
}

fn session_of(result: &Value) -> u64 {
    result["session"]["ID"].as_str().unwrap().parse().unwrap()
}

/// imopenlines-config-add.md, -get.md, -update.md, -list-get.md, -delete.md: defaults,
/// cleaned values, the queue in both forms, `false` for a missing line, `CONFIG_ID_EMPTY`.
#[tokio::test]
async fn line_settings_follow_the_documentation() {
    let c = Center::start().await;
    let line = c
        .portal
        .openlines_config_add(json!({"LINE_NAME": "Sales", "QUEUE_TYPE": "round-robin",
            "CRM_CREATE": "invoice", "CRM_FORWARD": "maybe",
            "QUEUE": [{"ENTITY_TYPE": "user", "ENTITY_ID": "3"}, {"ENTITY_TYPE": "department", "ENTITY_ID": "1"}]}))
        .await
        .unwrap();
    let got = c.portal.openlines_config_get(line).await.unwrap();
    assert_eq!(got["ID"], line.0.to_string());
    assert_eq!(got["LINE_NAME"], "Sales");
    assert_eq!(got["ACTIVE"], "Y");
    assert_eq!(got["QUEUE_TYPE"], "all", "an unknown distribution becomes all");
    assert_eq!(got["CRM"], "Y");
    assert_eq!(got["CRM_CREATE"], "lead", "an unknown CRM_CREATE becomes lead");
    assert_eq!(got["CRM_FORWARD"], "Y");
    // User 3 first, then the department's other users, each once.
    assert_eq!(got["QUEUE"], json!(["3", "1", "2", "4"]));
    assert_eq!(got["QUEUE_FULL"]["3"]["USER_ID"], "3");

    assert_eq!(c.portal.openlines_config_get(Id(9_999)).await.unwrap(), json!(false));
    let e = c.portal.call("imopenlines.config.get", json!({})).await.unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::Other("CONFIG_ID_EMPTY".into())));

    // An empty queue is refused with `false` and changes nothing.
    let refused = c
        .portal
        .call(
            "imopenlines.config.update",
            json!({"CONFIG_ID": line, "PARAMS": {"QUEUE": [], "LINE_NAME": "X"}}),
        )
        .await
        .unwrap();
    assert_eq!(refused.result, json!(false));
    c.portal
        .openlines_config_update(line, json!({"QUEUE": [2], "QUEUE_TYPE": "strictly", "CRM": "N"}))
        .await
        .unwrap();
    let got = c.portal.openlines_config_get(line).await.unwrap();
    assert_eq!(
        (got["QUEUE"].clone(), got["QUEUE_TYPE"].clone(), got["CRM"].clone()),
        (json!(["2"]), json!("strictly"), json!("N"))
    );
    assert_eq!(got["LINE_NAME"], "Sales");

    let list = c
        .portal
        .call(
            "imopenlines.config.list.get",
            json!({"PARAMS": {"select": ["ID", "LINE_NAME"]}, "OPTIONS": {"CONFIG_QUEUE": "Y"}}),
        )
        .await
        .unwrap()
        .result;
    assert_eq!(
        list,
        json!([{"ID": line.0.to_string(), "LINE_NAME": "Sales",
        "CONFIG_QUEUE": [{"ENTITY_TYPE": "user", "ENTITY_ID": "2"}]}])
    );
    let e = c
        .portal
        .call("imopenlines.config.list.get", json!({"PARAMS": {"filter": "x"}}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::Other("INVALID_FORMAT".into())));

    assert_eq!(
        c.portal
            .call("imopenlines.config.delete", json!({"CONFIG_ID": line}))
            .await
            .unwrap()
            .result,
        json!(true)
    );
    assert_eq!(
        c.portal
            .call("imopenlines.config.delete", json!({"CONFIG_ID": line}))
            .await
            .unwrap()
            .result,
        json!(false)
    );
}

/// imconnector-send-messages.md: the answer's shape, one chat and session per customer, the
/// next message continuing the session, and what is stored.
#[tokio::test]
async fn messages_open_and_continue_sessions_in_the_documented_shape() {
    let mut c = Center::start().await;
    let line = c.line(json!({"QUEUE": [{"ENTITY_TYPE": "user", "ENTITY_ID": 2}], "QUEUE_TYPE": "strictly", "CRM": "N"})).await;
    let answer = c
        .portal
        .imconnector_send_messages(
            CONNECTOR,
            line,
            json!([{"user": {"id": "79990001", "name": "Anna", "last_name": "K", "phone": "+7 999 0001",
                              "picture": {"url": "https://pics.test/a.jpg"}, "skip_phone_validate": "Y"},
                    "message": {"id": "wa-1", "date": 1_738_065_600, "text": "Hello",
                                "files": [{"url": "https://files.test/a.jpg", "name": "a.jpg"}]},
                    "chat": {"id": "79990001", "name": "Anna K", "url": "https://wa.test/79990001"}}]),
        )
        .await
        .unwrap();
    assert_eq!(answer["SUCCESS"], true);
    let first = &answer["DATA"]["RESULT"][0];
    let customer = c.sim.open_line_customers(MEMBER);
    assert_eq!(customer.len(), 1);
    assert_eq!(
        first["user"],
        customer[0].user_id.to_string(),
        "user is the portal's id for the customer"
    );
    assert_eq!(
        first["message"],
        json!({"id": "wa-1", "date": {}, "text": "Hello",
        "files": [{"url": "https://files.test/a.jpg", "name": "a.jpg"}]})
    );
    assert_eq!(
        first["chat"],
        json!({"id": "79990001", "name": "Anna K", "description": "https://wa.test/79990001"})
    );
    assert_eq!(first["extra"], json!({"skip_phone_validate": "Y"}));
    assert_eq!((first["SUCCESS"].clone(), first["ERRORS"].clone()), (json!(true), json!([])));
    let (chat, session) = (chat_of(first), session_of(first));
    assert_ne!(chat, session);
    assert_eq!(customer[0].phone.as_deref(), Some("+7 999 0001"));
    assert_eq!(customer[0].picture.as_deref(), Some("https://pics.test/a.jpg"));
    assert_eq!(customer[0].display_name(), "Anna K");

    let start = c.next("ONIMCONNECTORDIALOGSTART").await;
    let EventKind::ConnectorDialogStart(d) = start.kind else { panic!() };
    assert_eq!(d.line, line);
    assert_eq!(d.data[0]["session"]["id"], session.to_string());
    assert_eq!(d.data[0]["session"]["closed"], "N");
    assert_eq!(d.data[0]["chat"]["id"], chat.to_string());
    assert_eq!(start.handler_id, None, "dialog events carry eventId instead");

    let again =
        c.customer_says(line, json!({"id": "79990001"}), "79990001", "wa-2", "Anyone?").await;
    assert_eq!((chat_of(&again), session_of(&again)), (chat, session), "the same session goes on");
    let other = c.customer_says(line, json!({"id": "79990002"}), "79990002", "wa-3", "Hi").await;
    assert_ne!(chat_of(&other), chat, "another customer, another chat");
    assert_ne!(session_of(&other), session);

    let stored = c.sim.open_line_messages(MEMBER, chat);
    assert_eq!(stored.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["Hello", "Anyone?"]);
    assert_eq!(stored[0].external_ids, ["wa-1"]);
    assert_eq!(stored[0].date, 1_738_065_600);
    assert_eq!(stored[0].files[0]["name"], "a.jpg");
    assert_eq!(stored[0].author, MessageAuthor::Customer(customer[0].user_id));
    let sessions = c.sim.open_line_sessions(MEMBER);
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].operator, Some(2));
    assert_eq!(sessions[0].external_chat_id, "79990001");
    // The same message id twice is stored twice, as Bitrix24 does: the application dedupes.
    c.customer_says(line, json!({"id": "79990001"}), "79990001", "wa-2", "Anyone?").await;
    assert_eq!(c.sim.open_line_messages(MEMBER, chat).len(), 3);
    let inspected = c.sim.inspect(MEMBER).unwrap();
    assert_eq!(inspected["im_messages"].as_array().unwrap().len(), 4);
    assert_eq!(inspected["sessions"].as_array().unwrap().len(), 2);
}

/// imconnector-register.md `CHAT_GROUP`: group connectors key chats by `chat.id`, one-to-one
/// connectors by `user.id`.
#[tokio::test]
async fn chat_group_decides_what_makes_a_chat() {
    for (group, same_chat) in [(false, true), (true, false)] {
        let c = Center::start_with(json!({"CHAT_GROUP": if group { "Y" } else { "N" }})).await;
        let line = c.line(json!({"CRM": "N"})).await;
        let a = c.customer_says(line, json!({"id": "u1"}), "room-1", "m1", "one").await;
        let b = c.customer_says(line, json!({"id": "u1"}), "room-2", "m2", "two").await;
        assert_eq!(chat_of(&a) == chat_of(&b), same_chat, "CHAT_GROUP={group}");
    }
}

/// imopenlines-config-add.md `QUEUE_TYPE`: `strictly` the first, `evenly` in turn, `all`
/// nobody until one answers.
#[tokio::test]
async fn distribution_follows_the_queue_type() {
    let c = Center::start().await;
    let queue =
        json!([{"ENTITY_TYPE": "user", "ENTITY_ID": 2}, {"ENTITY_TYPE": "user", "ENTITY_ID": 3}]);
    let mut lines = vec![];
    for kind in ["strictly", "evenly", "all"] {
        lines.push(c.line(json!({"QUEUE": queue, "QUEUE_TYPE": kind, "CRM": "N"})).await);
    }
    let mut operators = vec![];
    for line in &lines {
        let mut of_line = vec![];
        for n in 0..3 {
            let user = format!("c{n}");
            let r = c.customer_says(*line, json!({"id": user}), &user, "m", "hi").await;
            let session = session_of(&r);
            let s = c.sim.open_line_sessions(MEMBER).into_iter().find(|s| s.id == session).unwrap();
            of_line.push(s.operator);
        }
        operators.push(of_line);
    }
    assert_eq!(operators[0], [Some(2), Some(2), Some(2)]);
    assert_eq!(operators[1], [Some(2), Some(3), Some(2)]);
    assert_eq!(operators[2], [None, None, None]);
    // On `all`, whoever answers first takes the session.
    let waiting =
        c.sim.open_line_sessions(MEMBER).into_iter().find(|s| s.line == lines[2].0).unwrap();
    c.sim
        .operator_reply_as(
            MEMBER,
            Dialog::Session(waiting.id),
            3,
            "Mine",
            &[],
            EventOptions::default(),
        )
        .await
        .unwrap();
    let taken = c.sim.open_line_sessions(MEMBER).into_iter().find(|s| s.id == waiting.id).unwrap();
    assert_eq!(taken.operator, Some(3));
}

/// imopenlines-config-add.md `CRM`, `CRM_CREATE`, `CRM_FORWARD`, `CRM_CREATE_SECOND`: the
/// tracker finds the client by phone or creates a lead, or a contact and a deal.
#[tokio::test]
async fn the_crm_tracker_finds_or_creates_the_client() {
    let c = Center::start().await;
    let queue = json!([{"ENTITY_TYPE": "user", "ENTITY_ID": 2}]);
    // A new client on a lead line: a lead, responsible the operator.
    let leads = c.line(json!({"QUEUE": queue, "QUEUE_TYPE": "strictly", "CRM": "Y", "CRM_CREATE": "lead", "LINE_NAME": "WA"})).await;
    let r = c
        .customer_says(
            leads,
            json!({"id": "n1", "name": "Nina", "phone": "+7 (999) 111-22-33"}),
            "n1",
            "m",
            "hi",
        )
        .await;
    let session =
        c.sim.open_line_sessions(MEMBER).into_iter().find(|s| s.id == session_of(&r)).unwrap();
    let lead = session.crm.lead.expect("a lead");
    assert!(session.crm.created);
    let item = crm_item(&c.portal, 1, lead).await;
    assert_eq!(item["title"], "Nina - WA");
    assert_eq!(item["assignedById"], 2);
    let found = c.portal.crm_find_by_comm("PHONE", &["79991112233"]).await.unwrap();
    assert_eq!(found.leads, [Id(lead)], "the lead carries the phone");

    // A known contact with CRM_FORWARD: found, no repeat lead, and their responsible answers.
    let contact = c
        .portal
        .crm_item_add(
            3,
            json!({"name": "Oleg", "assignedById": 4,
            "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+7 999 444-55-66"}]}),
        )
        .await
        .unwrap();
    let contact = Id::from_value(&contact["id"]).unwrap();
    let forward = c
        .line(json!({"QUEUE": queue, "QUEUE_TYPE": "strictly", "CRM_CREATE": "lead",
        "CRM_FORWARD": "Y", "CRM_CREATE_SECOND": "N"}))
        .await;
    let r = c
        .customer_says(forward, json!({"id": "o1", "phone": "79994445566"}), "o1", "m", "hi")
        .await;
    let session =
        c.sim.open_line_sessions(MEMBER).into_iter().find(|s| s.id == session_of(&r)).unwrap();
    assert_eq!(session.crm.contact, Some(contact.0));
    assert_eq!((session.crm.lead, session.crm.created), (None, false));
    assert_eq!(session.operator, Some(4), "forwarded to the client's responsible");
    // The same client on a deal line without forwarding: a deal for the contact, the queue's
    // operator responsible.
    let deals = c.line(json!({"QUEUE": queue, "QUEUE_TYPE": "strictly", "CRM_CREATE": "deal", "CRM_FORWARD": "N"})).await;
    let r =
        c.customer_says(deals, json!({"id": "o1", "phone": "79994445566"}), "o1", "m", "hi").await;
    let session =
        c.sim.open_line_sessions(MEMBER).into_iter().find(|s| s.id == session_of(&r)).unwrap();
    assert_eq!(session.operator, Some(2));
    let deal = crm_item(&c.portal, 2, session.crm.deal.expect("a deal")).await;
    assert_eq!(
        (deal["contactId"].clone(), deal["assignedById"].clone()),
        (json!(contact.0), json!(2))
    );
    // A new client on a deal line: a contact and a deal.
    let r = c
        .customer_says(
            deals,
            json!({"id": "p1", "name": "Pavel", "phone": "+7 999 777"}),
            "p1",
            "m",
            "hi",
        )
        .await;
    let session =
        c.sim.open_line_sessions(MEMBER).into_iter().find(|s| s.id == session_of(&r)).unwrap();
    assert!(session.crm.contact.is_some() && session.crm.deal.is_some() && session.crm.created);
    // CRM off, or `disable_crm`: nothing.
    let off = c.line(json!({"CRM": "N"})).await;
    let r = c.customer_says(off, json!({"id": "q1", "phone": "+7 999 888"}), "q1", "m", "hi").await;
    let session =
        c.sim.open_line_sessions(MEMBER).into_iter().find(|s| s.id == session_of(&r)).unwrap();
    assert_eq!(session.crm, Default::default());
    let before = c.sim.inspect(MEMBER).unwrap()["crm"]["1"].as_array().unwrap().len();
    let r = c
        .portal
        .imconnector_send_messages(
            CONNECTOR,
            leads,
            json!([{"user": {"id": "r1", "phone": "+7 999 999"},
            "message": {"id": "m", "text": "hi", "disable_crm": "Y"}, "chat": {"id": "r1"}}]),
        )
        .await
        .unwrap();
    assert_eq!(r["DATA"]["RESULT"][0]["extra"], json!({"disable_tracker": "Y"}));
    assert_eq!(c.sim.inspect(MEMBER).unwrap()["crm"]["1"].as_array().unwrap().len(), before);
}

/// events/on-im-connector-message-add.md, -update.md, -delete.md, -dialog-finish.md and
/// imconnector-send-status-delivery.md: the operator's side, in the session's chat.
#[tokio::test]
async fn operators_answer_edit_delete_and_close_in_the_sessions_chat() {
    let mut c = Center::start().await;
    let line = c.line(json!({"QUEUE": [2], "QUEUE_TYPE": "strictly", "CRM": "N"})).await;
    let r = c.customer_says(line, json!({"id": "79990001"}), "79990001", "wa-1", "Hello").await;
    let (chat, session) = (chat_of(&r), session_of(&r));
    c.next("ONIMCONNECTORDIALOGSTART").await;
    let files = [OutFile {
        name: "price.pdf".into(),
        link: "https://center.test/f/1".into(),
        kind: "file".into(),
    }];
    let posted = c
        .sim
        .operator_reply(MEMBER, Dialog::Chat(chat), "Good day!", &files, EventOptions::default())
        .await
        .unwrap();
    assert_eq!((posted.chat_id, posted.session_id, posted.deliveries.len()), (chat, session, 1));
    let add = c.next("ONIMCONNECTORMESSAGEADD").await;
    add.verify(&c.sim.application_token(MEMBER).unwrap()).unwrap();
    assert_eq!(add.auth.user_id, Some(Id(2)), "auth is the operator's");
    let EventKind::ConnectorMessageAdd(batch) = add.kind else { panic!() };
    assert_eq!((batch.connector.as_str(), batch.line), (CONNECTOR, line));
    let m = &batch.messages[0];
    let im = m.im.clone().unwrap();
    assert_eq!((im.chat_id, im.message_id), (Id(chat), Id(posted.message_id)));
    assert_eq!(m.chat.id, "79990001");
    assert_eq!(m.message.user_id, Some(Id(2)));
    assert_eq!(m.message.text, "[b]Clara User2:[/b] [br]Good day!");
    assert_eq!(
        (m.message.files[0].name.as_str(), m.message.files[0].kind.as_str()),
        ("price.pdf", "file")
    );
    // What an application reads back (imopenlines-session-history-get.md): the chat's text
    // without the signature the connector's event carries, its author (`senderid`), the files
    // by `params.fileId` in `files`, and who is the connector's customer (`users{id:
    // {connector}}`).
    let portal = c.portal.clone();
    let history = |chat: u64| {
        let portal = portal.clone();
        async move {
            let params = json!({"CHAT_ID": chat});
            portal.call("imopenlines.session.history.get", params).await.unwrap().result
        }
    };
    let h = history(chat).await;
    let ours = &h["message"][posted.message_id.to_string()];
    assert_eq!((ours["senderid"].as_str(), ours["text"].as_str()), (Some("2"), Some("Good day!")));
    let file = ours["params"]["fileId"][0].as_u64().unwrap();
    assert_eq!(h["files"][file.to_string()]["name"], "price.pdf", "{h}");
    assert_eq!(h["users"]["2"]["connector"], false, "{h}");
    let customer = h["message"]
        .as_object()
        .unwrap()
        .values()
        .find(|m| m["text"] == "Hello")
        .map(|m| m["senderid"].as_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(h["users"][customer.as_str()]["connector"], true, "{h}");

    // Delivered: the application's ids are kept, and the edit and delete events carry them.
    c.portal
        .imconnector_status_delivery(
            CONNECTOR,
            line,
            json!([{"im": {"chat_id": chat, "message_id": posted.message_id},
            "message": {"id": ["3EB0AA"]}, "chat": {"id": "79990001"}}]),
        )
        .await
        .unwrap();
    let stored = c.sim.open_line_messages(MEMBER, chat);
    let answer = stored.iter().find(|m| m.id == posted.message_id).unwrap();
    assert!(answer.delivered && answer.read, "delivery marks read too");
    assert_eq!(answer.external_ids, ["3EB0AA"]);
    let e = c
        .portal
        .imconnector_status_delivery(
            CONNECTOR,
            line,
            json!([{"im": {"chat_id": chat, "message_id": posted.message_id},
            "message": {"id": "3EB0AA"}, "chat": {"id": "79990001"}}]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::Argument), "message.id must be an array");
    let unknown = json!([{"im": {"chat_id": chat, "message_id": 999_999}, "message": {"id": ["x"]}, "chat": {"id": "79990001"}}]);
    let e =
        c.portal.imconnector_status_delivery(CONNECTOR, line, unknown.clone()).await.unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::Argument), "delivery of a message that does not exist");
    c.portal.imconnector_status_reading(CONNECTOR, line, unknown).await.unwrap();

    c.sim
        .operator_edit(MEMBER, posted.message_id, "Good evening!", EventOptions::default())
        .await
        .unwrap();
    let EventKind::ConnectorMessageUpdate(batch) = c.next("ONIMCONNECTORMESSAGEUPDATE").await.kind
    else {
        panic!()
    };
    assert_eq!(batch.messages[0].message.id, ["3EB0AA"]);
    assert_eq!(batch.messages[0].message.text, "[b]Clara User2:[/b] [br]Good evening!");
    // An edited message shows its new text, flagged `IS_EDITED`.
    let h = history(chat).await;
    let ours = &h["message"][posted.message_id.to_string()];
    assert_eq!(
        (ours["text"].as_str(), ours["params"]["IS_EDITED"].as_str()),
        (Some("Good evening!"), Some("Y"))
    );
    c.sim.operator_delete(MEMBER, posted.message_id, EventOptions::default()).await.unwrap();
    let EventKind::ConnectorMessageDelete(batch) = c.next("ONIMCONNECTORMESSAGEDELETE").await.kind
    else {
        panic!()
    };
    assert_eq!(batch.messages[0].message.id, ["3EB0AA"]);
    assert_eq!(batch.messages[0].im.clone().unwrap().chat_id, Id(chat));
    // A deleted message stays in the history, emptied, flagged `IS_DELETED`.
    let h = history(chat).await;
    let ours = &h["message"][posted.message_id.to_string()];
    assert_eq!(
        (ours["text"].as_str(), ours["params"]["IS_DELETED"].as_str()),
        (Some(""), Some("Y"))
    );
    assert!(ours["params"].get("fileId").is_none(), "{ours}");
    assert!(
        c.sim.operator_edit(MEMBER, posted.message_id, "x", EventOptions::default()).await.is_err()
    );

    c.sim.close_session(MEMBER, Dialog::Session(session), EventOptions::default()).await.unwrap();
    let EventKind::ConnectorDialogFinish(d) = c.next("ONIMCONNECTORDIALOGFINISH").await.kind else {
        panic!()
    };
    assert_eq!(d.data[0]["session"]["closed"], "Y");
    assert_eq!(d.data[0]["session"]["id"], session.to_string());
    assert!(
        c.sim
            .operator_reply(MEMBER, Dialog::Chat(chat), "late", &[], EventOptions::default())
            .await
            .is_err()
    );
    // The customer's next message: a new session in the same chat, its parent the old one.
    let r = c.customer_says(line, json!({"id": "79990001"}), "79990001", "wa-2", "Me again").await;
    assert_eq!(chat_of(&r), chat);
    assert_ne!(session_of(&r), session);
    let EventKind::ConnectorDialogStart(d) = c.next("ONIMCONNECTORDIALOGSTART").await.kind else {
        panic!()
    };
    assert_eq!(d.data[0]["session"]["id"], session_of(&r).to_string());
    assert_eq!(d.data[0]["session"]["parent_id"], session.to_string());
}

/// The existing `operator_message` (external chat id, text as typed) now carries the session's
/// chat, and every operator event honours `EventOptions`.
#[tokio::test]
async fn operator_messages_honour_event_options() {
    let mut c = Center::start_with(json!({"NEED_SIGNATURE": "N"})).await;
    let line = c.line(json!({"CRM": "N"})).await;
    let r = c.customer_says(line, json!({"id": "u"}), "chat-u", "m1", "hi").await;
    c.sim
        .operator_message(
            MEMBER,
            CONNECTOR,
            line.0,
            "chat-u",
            "plain",
            &[],
            EventOptions { copies: 2, ..Default::default() },
        )
        .await
        .unwrap();
    let a = c.next("ONIMCONNECTORMESSAGEADD").await;
    let b = c.next("ONIMCONNECTORMESSAGEADD").await;
    let (EventKind::ConnectorMessageAdd(a), EventKind::ConnectorMessageAdd(b)) = (a.kind, b.kind)
    else {
        panic!()
    };
    assert_eq!(a.messages[0].im, b.messages[0].im, "a duplicate carries the same ids");
    assert_eq!(a.messages[0].im.clone().unwrap().chat_id, Id(chat_of(&r)));
    let posted = c
        .sim
        .operator_reply(
            MEMBER,
            Dialog::Chat(chat_of(&r)),
            "unsigned",
            &[],
            EventOptions { forge_token: true, without_tokens: true, ..Default::default() },
        )
        .await
        .unwrap();
    let forged = c.next("ONIMCONNECTORMESSAGEADD").await;
    assert!(forged.verify(&c.sim.application_token(MEMBER).unwrap()).is_err());
    assert!(forged.auth.access_token.is_none());
    let EventKind::ConnectorMessageAdd(batch) = forged.kind else { panic!() };
    assert_eq!(batch.messages[0].message.text, "unsigned", "NEED_SIGNATURE=N");
    assert_eq!(batch.messages[0].im.clone().unwrap().message_id, Id(posted.message_id));
}

/// imconnector-send-messages.md, -update-messages.md, -delete-messages.md: argument errors for
/// the call, per-message errors in `RESULT`, edits and deletions of what was sent.
#[tokio::test]
async fn customer_messages_are_validated_edited_and_deleted() {
    let c = Center::start().await;
    let line = c.line(json!({"CRM": "N"})).await;
    let send = |messages: Value| c.portal.imconnector_send_messages(CONNECTOR, line, messages);
    assert_eq!(send(json!([])).await.unwrap_err().code(), Some(&ErrorCode::Argument));
    let e = c
        .portal
        .call("imconnector.send.messages", json!({"CONNECTOR": CONNECTOR, "MESSAGES": [{}]}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Argument 'LINE' is null or empty"), "{e}");
    let e = send(json!([{"user": {"id": "u"}, "message": {"id": "m", "text": "x"}}]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::Argument), "a message without its chat block");
    let r = send(json!([{"user": {"id": "u"}, "message": {"id": "m", "text": "ok"}, "chat": {"id": "u"}},
                        {"user": {}, "message": {"id": "m", "text": "x"}, "chat": {"id": "u"}},
                        {"user": {"id": "u", "name": "R2-D2"}, "message": {"id": "m", "text": "x"}, "chat": {"id": "u"}}]))
        .await
        .unwrap();
    let results = r["DATA"]["RESULT"].as_array().unwrap();
    assert_eq!(results[0]["SUCCESS"], true);
    assert_eq!(
        results[1],
        json!({"SUCCESS": false, "ERRORS": ["IMCONNECTOR_NOT_ALL_THE_REQUIRED_DATA"]})
    );
    assert_eq!(results[2]["ERRORS"], json!(["ERROR_USER_NAME"]));
    let chat = chat_of(&results[0]);

    let edited = c
        .portal
        .imconnector_update_messages(CONNECTOR, line, json!([{"user": {"id": "u"}, "message": {"id": "m", "text": "ok!"}, "chat": {"id": "u"}},
                                                            {"user": {"id": "u"}, "message": {"id": "nope", "text": "?"}, "chat": {"id": "u"}}]))
        .await
        .unwrap();
    assert_eq!(edited["DATA"]["RESULT"][0]["message"]["text"], "ok!");
    assert_eq!(edited["DATA"]["RESULT"][1]["SUCCESS"], false);
    let stored = c.sim.open_line_messages(MEMBER, chat);
    assert_eq!((stored[0].text.as_str(), stored[0].edited), ("ok!", true));
    let deleted = c
        .portal
        .imconnector_delete_messages(
            CONNECTOR,
            line,
            json!([{"user": {"id": "u"}, "message": {"id": "m"}, "chat": {"id": "u"}}]),
        )
        .await
        .unwrap();
    let MessageAuthor::Customer(customer) = stored[0].author else { panic!() };
    assert_eq!(
        deleted["DATA"]["RESULT"][0],
        json!({"user": customer.to_string(),
        "message": {"id": "m"}, "chat": {"id": "u"}, "SUCCESS": true})
    );
    assert!(c.sim.open_line_messages(MEMBER, chat)[0].deleted);

    // A line that is off answers NOT_ACTIVE_LINE.
    c.portal.openlines_config_update(line, json!({"ACTIVE": "N"})).await.unwrap();
    assert_eq!(send(json!([{"user": {"id": "u"}, "message": {"id": "m2", "text": "x"}, "chat": {"id": "u"}}])).await.unwrap_err().code(),
        Some(&ErrorCode::NotActiveLine));
}

/// events/on-im-connector-status-delete.md and -line-delete.md.
#[tokio::test]
async fn switching_the_connector_off_and_deleting_the_line_are_told() {
    let mut c = Center::start().await;
    let line = c.line(json!({"CRM": "N"})).await;
    c.sim.disconnect_connector(MEMBER, CONNECTOR, line.0, EventOptions::default()).await.unwrap();
    let off = c.next("ONIMCONNECTORSTATUSDELETE").await;
    assert_eq!(off.kind, EventKind::ConnectorStatusDelete { connector: CONNECTOR.into(), line });
    let e = c
        .portal
        .imconnector_send_messages(CONNECTOR, line, json!([{"user": {"id": "u"}, "message": {"id": "m", "text": "x"}, "chat": {"id": "u"}}]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::NotActiveLine));
    assert_eq!(c.portal.imconnector_status(CONNECTOR, line).await.unwrap()["STATUS"], false);

    // Deleting the line through REST sends the bare line id.
    c.portal.call("imopenlines.config.delete", json!({"CONFIG_ID": line})).await.unwrap();
    assert_eq!(
        c.next("ONIMCONNECTORLINEDELETE").await.kind,
        EventKind::ConnectorLineDelete { line }
    );
}

/// The control routes (`/_sim/center/...`) drive the same operator as the Rust API.
#[tokio::test]
async fn the_control_routes_drive_the_operator() {
    let mut c = Center::start().await;
    let line = c.line(json!({"QUEUE": [3], "QUEUE_TYPE": "strictly", "CRM": "N"})).await;
    let r = c.customer_says(line, json!({"id": "u"}), "u", "m1", "hi").await;
    let chat = chat_of(&r);
    let base = c.sim.base_url().unwrap();
    let http = reqwest::Client::new();
    let posted: Value = http
        .post(format!("{base}/_sim/center/reply"))
        .json(&json!({"member_id": MEMBER, "chat_id": chat, "text": "From HTTP",
                      "files": [{"name": "a.png", "link": "https://center.test/a.png", "type": "image"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted["chat_id"], chat);
    let EventKind::ConnectorMessageAdd(batch) = c.next("ONIMCONNECTORMESSAGEADD").await.kind else {
        panic!()
    };
    assert_eq!(batch.messages[0].message.text, "[b]Dmitri User3:[/b] [br]From HTTP");
    assert_eq!(batch.messages[0].message.files[0].kind, "image");
    let status = http
        .post(format!("{base}/_sim/center/close"))
        .form(&[("member_id", MEMBER), ("session_id", &session_of(&r).to_string())])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    c.next("ONIMCONNECTORDIALOGFINISH").await;
    let missing = http
        .post(format!("{base}/_sim/center/close"))
        .form(&[("member_id", MEMBER), ("session_id", &session_of(&r).to_string())])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(missing, 404, "already closed");
    let sessions: Value = http
        .get(format!("{base}/_sim/center/sessions?member_id={MEMBER}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"][0]["closed"], true);
}

/// The shell page frames a minimal contact center: open sessions with their messages, escaped,
/// and a reply box that posts as the session's operator.
#[tokio::test]
async fn the_shell_shows_the_contact_center() {
    let mut c = Center::start().await;
    let line = c
        .line(json!({"LINE_NAME": "Support", "QUEUE": [2], "QUEUE_TYPE": "strictly", "CRM": "N"}))
        .await;
    let r = c
        .customer_says(line, json!({"id": "u", "name": "Anna"}), "u", "m1", "<script>x</script>")
        .await;
    let base = c.sim.base_url().unwrap();
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let shell =
        http.get(format!("{base}/p/center.test/?app=http://127.0.0.1:9/app")).send().await.unwrap();
    assert!(shell.text().await.unwrap().contains("src=\"/p/center.test/center\""));
    let shell_ru = http
        .get(format!("{base}/p/center.test/?lang=ru&app=http://127.0.0.1:9/app"))
        .send()
        .await
        .unwrap();
    assert!(shell_ru.text().await.unwrap().contains("src=\"/p/center.test/center?lang=ru\""));
    let page = http
        .get(format!("{base}/p/center.test/center"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Anna &middot; Line Support &middot; Operator: Clara User2"), "{page}");
    assert!(page.contains("&lt;script&gt;x&lt;/script&gt;") && !page.contains("<script>"));
    assert!(page.contains(&format!("name=\"session_id\" value=\"{}\"", session_of(&r))));
    let ru = http
        .get(format!("{base}/p/center.test/center?lang=ru"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ru.contains("Контакт-центр") && ru.contains("Отправить"));

    let sent = http
        .post(format!("{base}/_sim/center/reply"))
        .form(&[
            ("member_id", MEMBER),
            ("session_id", &session_of(&r).to_string()),
            ("back", "/p/center.test/center"),
            ("text", "Hello from the shell"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 303);
    assert_eq!(sent.headers()["location"], "/p/center.test/center");
    let EventKind::ConnectorMessageAdd(batch) = c.next("ONIMCONNECTORMESSAGEADD").await.kind else {
        panic!()
    };
    assert_eq!(batch.messages[0].message.text, "[b]Clara User2:[/b] [br]Hello from the shell");
    let page = http
        .get(format!("{base}/p/center.test/center"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<p class=\"out\"><b>Clara User2:</b> Hello from the shell</p>"),
        "{page}"
    );
}
