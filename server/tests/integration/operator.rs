//! Bitrix24 to WhatsApp through the Open Channels connector: an operator answers in an Open Line
//! (b24-sim delivers `ONIMCONNECTORMESSAGEADD` as Bitrix24 does, twice), the portal confirms it
//! (the connector's worker reads the chat's history), and the customer's phone (wa-sim)
//! receives the text, with BB-code as WhatsApp markup, and a file, each once; the panel shows
//! them as the operator's; events with a wrong token are refused, and events with the real
//! token that the portal does not confirm change nothing and are audited as unconfirmed; the
//! ticks go back to Bitrix24 as delivery and reading statuses; an edit and a deletion reach the
//! phone; the connector switched off and the Open Line deleted leave the line to the panel; a
//! portal down delays an operator's message, which arrives once it is back, once.

use b24_client::ErrorCode;
use b24_sim::{Delivery, Dialog, EventOptions, Fault, FaultAction, OutFile};
use serde_json::{Value, json};
use tenancy::{B24OutboxKind, B24OutboxState, Caller, OpenChannel};
use wa_sim::{PhoneContent, PhoneMessage, PhoneReceived};

use crate::app::{ALPHA, App, Sse, start};

const LINE_PHONE: &str = "79990000301";
const CUSTOMER: &str = "79160000301";

/// A connected line whose conversations go to a new Open Line of the portal, with one
/// conversation (the customer wrote first, and again once the line was on the Open Line, which
/// opened a session there). Returns the admin token, the line, the Open Line,
/// the conversation and the admin's event stream.
async fn line_on_open_line(app: &App) -> (String, i64, u64, i64, Sse) {
    app.install(ALPHA).await;
    app.wa.create_account(LINE_PHONE, Some("200000000000301")).unwrap();
    app.wa.create_account(CUSTOMER, Some("100000000000301")).unwrap();
    let admin = app.token(ALPHA, 1).await;
    let mut events = Sse::open(app, &admin).await;
    let line = app.call("POST", "/api/lines", Some(&admin), Some(json!({"name": "Sales"}))).await;
    let line = line.json()["id"].as_i64().unwrap();
    app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    let qr = events.find("line.status", |d| d["line_id"] == line && d["state"] == "qr").await;
    app.wa.scan(qr["qr"].as_str().unwrap(), LINE_PHONE).await.unwrap();
    events.find("line.status", |d| d["line_id"] == line && d["state"] == "connected").await;
    let hello = PhoneMessage {
        to: LINE_PHONE.to_owned(),
        content: PhoneContent::Text("Добрый день".to_owned()),
        quoted: None,
    };
    app.wa.phone_send(CUSTOMER, hello).await.unwrap();
    let stored = events.find("message.stored", |d| d["direction"] == "in").await;
    let conversation = stored["conversation_id"].as_i64().unwrap();
    let portal = app.state.portal(ALPHA).await.unwrap();
    let open_line = portal.openlines_config_add(json!({"LINE_NAME": "Sales"})).await.unwrap().0;
    let a = app
        .call(
            "PATCH",
            &format!("/api/lines/{line}"),
            Some(&admin),
            Some(json!({"open_channel": "openline", "open_line_id": open_line})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    deliver_all(app).await;
    let shown = app.get(&format!("/api/lines/{line}"), &admin).await.json();
    assert_eq!(shown["open_channel_status"], "active", "{shown}");
    // The customer writes again: the message opens a session in the Open Line, where the
    // operators answer.
    let again = PhoneMessage {
        to: LINE_PHONE.to_owned(),
        content: PhoneContent::Text("Есть вопрос".to_owned()),
        quoted: None,
    };
    app.wa.phone_send(CUSTOMER, again).await.unwrap();
    events.find("message.stored", |d| d["message"]["text"] == "Есть вопрос").await;
    confirm(app).await;
    (admin, line, open_line, conversation, events)
}

/// Runs the connector's worker until the outbox towards Bitrix24 has nothing due; nothing may
/// fail or wait.
async fn deliver_all(app: &App) {
    for _ in 0..20 {
        let round = wab24::open_channels::worker::deliver_due(&app.state).await;
        if (round.failed, round.retried) != (0, 0) {
            let tenant = app.store.tenant(ALPHA).await.unwrap();
            let mut stuck = vec![];
            for line in 1..=3 {
                for state in [B24OutboxState::Pending, B24OutboxState::Failed] {
                    let items = tenant.b24_outbox_items(Caller::System, line, state, 100).await;
                    stuck.extend(items.unwrap_or_default());
                }
            }
            panic!("{round:?}: {stuck:?}");
        }
        if round.done == 0 {
            return;
        }
    }
    panic!("the outbox towards Bitrix24 does not drain");
}

/// The Bitrix24 message id of an operator event's first message, checked queued for the
/// portal's confirmation (nothing is done on the event's word).
fn queued_im(d: &[Delivery]) -> u64 {
    assert_eq!(d[0].status, 200, "{}", d[0].body);
    let answer: Value = serde_json::from_str(&d[0].body).unwrap();
    assert_eq!(answer["result"]["messages"][0]["result"], "queued", "{answer}");
    answer["result"]["messages"][0]["im_message_id"].as_u64().unwrap()
}

/// Has the portal confirm the events waiting (the connector's worker, with the server's clock
/// past the line runtime's receipts so that they are due too).
async fn confirm(app: &App) {
    app.clock.advance(60);
    deliver_all(app).await;
}

/// Our message sent for Bitrix24 message `im` on `line`, once the portal confirmed it.
async fn sent_for(app: &App, line: i64, im: u64) -> Option<i64> {
    confirm(app).await;
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    let link = tenant.b24_link_for_b24_message(Caller::System, line, &im.to_string()).await;
    link.unwrap().map(|l| l.message_id)
}

/// A portal user's name as the portal lists it (`user.get`: `NAME LAST_NAME`).
async fn portal_name(app: &App, user: u64) -> String {
    let portal = app.state.portal(ALPHA).await.unwrap();
    let found = portal.call("user.get", json!({"ID": user})).await.unwrap().result;
    let part = |k: &str| found[0][k].as_str().unwrap_or("").to_owned();
    format!("{} {}", part("NAME"), part("LAST_NAME")).trim().to_owned()
}

/// The records of one audit kind.
async fn audited(app: &App, admin: &str, kind: &str) -> Vec<Value> {
    let audit = app.get(&format!("/api/audit?kind={kind}&limit=100"), admin).await.json();
    audit["records"].as_array().unwrap().clone()
}

fn to_app(app: &App) -> EventOptions {
    EventOptions { url: Some(app.url("/b24/events")), ..EventOptions::default() }
}

/// What the customer's phone received from the line (not its own companions' copies).
fn received(app: &App) -> Vec<PhoneReceived> {
    app.wa.phone_received(CUSTOMER).unwrap().into_iter().filter(|m| !m.from_me).collect()
}

#[tokio::test]
async fn an_operator_answers_and_the_customer_gets_it_once() {
    let app = start().await;
    let (admin, line, open_line, conversation, mut events) = line_on_open_line(&app).await;
    let connector = wab24::open_channels::CONNECTOR_ID;

    // Text with the operator's signature and BB-code, delivered twice (Bitrix24 duplicates).
    let twice = EventOptions { copies: 2, ..to_app(&app) };
    let text =
        "[b]Anna Petrova:[/b] [br]Доставка [b]завтра[/b], [url=https://shop.test/d]подробнее[/url]";
    let deliveries = app
        .sim
        .operator_message(ALPHA, connector, open_line, CUSTOMER, text, &[], twice.clone())
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 2);
    for d in &deliveries {
        assert_eq!(d.status, 200, "{}", d.body);
    }
    let first_im = queued_im(&deliveries);
    assert_eq!(queued_im(&deliveries[1..]), first_im);
    assert!(received(&app).is_empty(), "nothing is sent before the portal confirms it");
    let text_id = sent_for(&app, line, first_im).await.unwrap();
    events
        .find("message.status", |d| d["message_id"] == text_id && d["status"] == "delivered")
        .await;

    // A file on the portal's disk, an image: downloaded and sent as WhatsApp media.
    let mut jpeg: Vec<u8> = (0..5_000u32).map(|i| (i * 13 % 251) as u8).collect();
    jpeg[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    let link = app.sim.host_file(ALPHA, "photo.jpg", "image/jpeg", jpeg.clone()).unwrap();
    let file = OutFile { name: "photo.jpg".to_owned(), link, kind: "image".to_owned() };
    let deliveries = app
        .sim
        .operator_message(ALPHA, connector, open_line, CUSTOMER, "", &[file], twice)
        .await
        .unwrap();
    let image_id = sent_for(&app, line, queued_im(&deliveries)).await.unwrap();
    events
        .find("message.status", |d| d["message_id"] == image_id && d["status"] == "delivered")
        .await;

    // The phone has each once, in order.
    let got = received(&app);
    assert_eq!(got.len(), 2, "{got:?}");
    // Signed with the author's name the portal lists (the event said Anna Petrova).
    let name = portal_name(&app, 1).await;
    assert_eq!(
        got[0].text.as_deref(),
        Some(format!("*{name}:*\nДоставка *завтра*, подробнее (https://shop.test/d)").as_str())
    );
    assert_eq!((got[1].kind.as_str(), got[1].mimetype.as_deref()), ("image", Some("image/jpeg")));
    assert_eq!(got[1].file_length, Some(jpeg.len() as u64));

    // The panel shows them as ours, written by the operator (user 1 of the portal).
    let history =
        app.get(&format!("/api/conversations/{conversation}/messages"), &admin).await.json();
    let out: Vec<&Value> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "out")
        .collect();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|m| m["sender"] == "operator:1"), "{out:?}");

    // The ticks go back to Bitrix24: delivered now, read once the customer reads.
    let ids: Vec<String> = got.iter().map(|m| m.id.clone()).collect();
    app.wa.phone_read(CUSTOMER, LINE_PHONE, &ids).unwrap();
    events.find("message.status", |d| d["message_id"] == text_id && d["status"] == "read").await;
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    let mut ticks = vec![];
    for state in [B24OutboxState::Pending, B24OutboxState::Sending, B24OutboxState::Done] {
        ticks.extend(tenant.b24_outbox_items(Caller::System, line, state, 100).await.unwrap());
    }
    let ticks: Vec<_> = ticks
        .into_iter()
        .filter(|i| {
            matches!(i.kind, B24OutboxKind::StatusDelivery | B24OutboxKind::StatusReading)
                && i.message_id == Some(text_id)
        })
        .collect();
    assert_eq!(ticks.len(), 2, "{ticks:?}");
    for tick in &ticks {
        let payload: Value = serde_json::from_str(&tick.payload).unwrap();
        let element = &payload["messages"][0];
        assert_eq!(element["im"]["message_id"], json!(first_im));
        assert_eq!(element["chat"]["id"], CUSTOMER);
        assert_eq!(element["message"]["id"][0], json!(ids[0]));
    }

    // The connector's worker tells Bitrix24: the operator's message shows delivered and read.
    let chat =
        serde_json::from_str::<Value>(&ticks[0].payload).unwrap()["messages"][0]["im"]["chat_id"]
            .as_u64()
            .unwrap();
    // The receipts were stored at the line runtime's (system) time; the server's manual clock
    // catches up so that their items are due.
    app.clock.advance(60);
    deliver_all(&app).await;
    let in_b24 = app.sim.open_line_messages(ALPHA, chat);
    let first = in_b24.iter().find(|m| m.id == first_im).unwrap();
    assert!(first.delivered && first.read, "{first:?}");

    // A wrong token: refused before anything is done.
    let forged = EventOptions { forge_token: true, ..to_app(&app) };
    let d = app
        .sim
        .operator_message(ALPHA, connector, open_line, CUSTOMER, "forged", &[], forged)
        .await
        .unwrap();
    assert_eq!(d[0].status, 403, "{}", d[0].body);

    // An edit, then a deletion, reach the phone as an edit and a revoke of the first message.
    app.sim.operator_edit(ALPHA, first_im, "Доставка послезавтра", to_app(&app)).await.unwrap();
    confirm(&app).await;
    let edited = events
        .find("message.status", |d| d["message_id"] == text_id && d["message"]["note"] == "edited")
        .await;
    assert!(
        edited["message"]["text"].as_str().unwrap().ends_with("Доставка послезавтра"),
        "{edited}"
    );
    app.sim.operator_delete(ALPHA, first_im, to_app(&app)).await.unwrap();
    confirm(&app).await;
    // And a last message, so that the phone has had everything before it.
    let d = app
        .sim
        .operator_message(ALPHA, connector, open_line, CUSTOMER, "ок", &[], to_app(&app))
        .await
        .unwrap();
    let last_id = sent_for(&app, line, queued_im(&d)).await.unwrap();
    events
        .find("message.status", |d| d["message_id"] == last_id && d["status"] == "delivered")
        .await;
    let got = received(&app);
    let kinds: Vec<&str> = got.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["text", "image", "edit", "revoke", "text"], "{got:?}");
    assert_eq!(got[2].quoted_id.as_deref(), Some(ids[0].as_str()));
    assert!(got[2].text.as_deref().unwrap().ends_with("Доставка послезавтра"), "{got:?}");
    assert_eq!(got[3].quoted_id.as_deref(), Some(ids[0].as_str()));
    assert_eq!(got[4].text.as_deref(), Some("ок"));

    // An operator the app did not know (user 3 never opened it) is known by the name their
    // signature carries.
    let sessions = app.sim.open_line_sessions(ALPHA);
    let session = sessions.iter().find(|s| s.line == open_line && !s.closed).unwrap();
    let posted = app
        .sim
        .operator_reply_as(ALPHA, Dialog::Chat(session.chat_id), 3, "Добавлю", &[], to_app(&app))
        .await
        .unwrap();
    let third = sent_for(&app, line, posted.message_id).await.unwrap();
    let users = app.get("/api/users", &admin).await.json();
    let named = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["id"] == 3 && !u["name"].as_str().unwrap_or("").is_empty());
    assert!(named, "{users}");
    let message = app
        .get(&format!("/api/conversations/{conversation}/messages?limit=1"), &admin)
        .await
        .json();
    assert_eq!(
        (message["messages"][0]["id"].as_i64(), message["messages"][0]["sender"].as_str()),
        (Some(third), Some("operator:3"))
    );

    // The panel shows what the customer sees: the first message edited, then deleted.
    let history = app
        .get(&format!("/api/conversations/{conversation}/messages?limit=50"), &admin)
        .await
        .json();
    let first =
        history["messages"].as_array().unwrap().iter().find(|m| m["id"] == text_id).unwrap();
    assert_eq!(first["note"], "revoked", "{first}");
    assert!(first["text"].as_str().unwrap().ends_with("Доставка послезавтра"), "{first}");

    // Each event is audited with Bitrix24's ids; the portal confirmed every one.
    assert!(audited(&app, &admin, "b24.connector_event").await.len() >= 6);
    assert!(audited(&app, &admin, "b24.connector_event_unconfirmed").await.is_empty());
}

#[tokio::test]
async fn switching_the_connector_off_or_deleting_the_open_line_leaves_the_line_to_the_panel() {
    let app = start().await;
    let (admin, line, open_line, _conversation, _events) = line_on_open_line(&app).await;
    let connector = wab24::open_channels::CONNECTOR_ID;
    // Another connector's event changes nothing.
    app.sim
        .deliver_event(
            ALPHA,
            "ONIMCONNECTORSTATUSDELETE",
            json!({"connector": "someone_else", "line": open_line}),
            to_app(&app),
        )
        .await
        .unwrap();
    let shown = app.get(&format!("/api/lines/{line}"), &admin).await.json();
    assert_eq!(shown["open_channel"], "openline");

    // An administrator switches the connector off in the contact center: once the portal
    // confirms it, the line is back on the panel.
    let d = app.sim.disconnect_connector(ALPHA, connector, open_line, to_app(&app)).await.unwrap();
    assert_eq!(d[0].status, 200, "{}", d[0].body);
    let shown = app.get(&format!("/api/lines/{line}"), &admin).await.json();
    assert_eq!(shown["open_channel"], "openline", "not before the portal confirms it");
    confirm(&app).await;
    let shown = app.get(&format!("/api/lines/{line}"), &admin).await.json();
    assert_eq!(
        (
            shown["open_channel"].as_str(),
            shown["open_line_id"].as_u64(),
            shown["open_channel_status"].as_str()
        ),
        (Some("panel"), Some(open_line), Some("off"))
    );
    // The deactivation queued by the change goes through.
    deliver_all(&app).await;
    // An operator message for a line that no longer feeds the Open Line is refused.
    let d = app
        .sim
        .operator_message(ALPHA, connector, open_line, CUSTOMER, "late", &[], to_app(&app))
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&d[0].body).unwrap();
    assert_eq!(answer["result"]["messages"][0]["result"], "refused", "{answer}");

    // Back on the Open Line, which is then deleted: the line forgets it.
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    let settings = tenancy::LineSettings {
        open_channel: Some(OpenChannel::Both),
        ..tenancy::LineSettings::default()
    };
    tenant.set_line_settings(Caller::System, line, &settings, app.state.now()).await.unwrap();
    confirm(&app).await;
    let d = app.sim.delete_open_line(ALPHA, open_line, to_app(&app)).await.unwrap();
    let deleted = d.iter().find(|d| d.what == "ONIMCONNECTORLINEDELETE").unwrap();
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    confirm(&app).await;
    let shown = app.get(&format!("/api/lines/{line}"), &admin).await.json();
    assert_eq!(
        (shown["open_channel"].as_str(), shown["open_channel_status"].as_str()),
        (Some("panel"), Some("off"))
    );
    assert!(shown["open_line_id"].is_null(), "{shown}");
    // Deactivating the deleted Open Line is no call to retry for ever.
    deliver_all(&app).await;
    // A malformed connector event is a typed 400, not a crash.
    let d = app
        .sim
        .deliver_event(
            ALPHA,
            "ONIMCONNECTORMESSAGEADD",
            json!({"CONNECTOR": connector}),
            to_app(&app),
        )
        .await
        .unwrap();
    assert_eq!(d[0].status, 400, "{}", d[0].body);
}

/// The whole loop: the customer's message opens a session in the contact center (through the
/// connector's outbox), the session's operator answers in it, and the phone has the answer.
#[tokio::test]
async fn an_operator_answers_in_the_session_a_customer_opened() {
    let app = start().await;
    let (admin, line, open_line, conversation, mut events) = line_on_open_line(&app).await;
    let again = PhoneMessage {
        to: LINE_PHONE.to_owned(),
        content: PhoneContent::Text("Есть размер M?".to_owned()),
        quoted: None,
    };
    app.wa.phone_send(CUSTOMER, again).await.unwrap();
    events.find("message.stored", |d| d["message"]["text"] == "Есть размер M?").await;
    app.clock.advance(60);
    deliver_all(&app).await;
    let sessions = app.sim.open_line_sessions(ALPHA);
    let session = sessions.iter().find(|s| s.line == open_line && !s.closed).unwrap();
    assert_eq!(session.external_chat_id, CUSTOMER);
    let posted = app
        .sim
        .operator_reply(ALPHA, Dialog::Chat(session.chat_id), "Да, есть", &[], to_app(&app))
        .await
        .unwrap();
    assert_eq!(queued_im(&posted.deliveries), posted.message_id);
    let id = sent_for(&app, line, posted.message_id).await.unwrap();
    events.find("message.status", |d| d["message_id"] == id && d["status"] == "delivered").await;
    let got = received(&app);
    let last = got.last().unwrap();
    // Signed with the session operator's name, as Bitrix24 signs it.
    let text = last.text.as_deref().unwrap();
    assert!(text.starts_with('*') && text.ends_with(":*\nДа, есть"), "{text}");
    let history = app
        .get(&format!("/api/conversations/{conversation}/messages?limit=1"), &admin)
        .await
        .json();
    assert_eq!(history["messages"][0]["id"].as_i64(), Some(id));
    let operator = session.operator.unwrap_or(0);
    assert_eq!(history["messages"][0]["sender"], format!("operator:{operator}"));
    // Its ticks reach the contact center.
    app.clock.advance(60);
    deliver_all(&app).await;
    let in_b24 = app.sim.open_line_messages(ALPHA, session.chat_id);
    let ours = in_b24.iter().find(|m| m.id == posted.message_id).unwrap();
    assert!(ours.delivered, "{ours:?}");
    // It is not sent back to the Open Line as if it were a reply from the panel.
    let copies = in_b24.iter().filter(|m| m.text.contains("Да, есть")).count();
    assert_eq!(copies, 1, "{in_b24:?}");
}

/// An operator answers while the line is down: the answer waits in the line's outbox and
/// reaches the phone once the line is back, once.
#[tokio::test]
async fn an_answer_written_while_the_line_is_down_goes_when_it_is_back() {
    let app = start().await;
    let (admin, line, open_line, _conversation, mut events) = line_on_open_line(&app).await;
    let connector = wab24::open_channels::CONNECTOR_ID;
    let a = app.call("POST", &format!("/api/lines/{line}/disconnect"), Some(&admin), None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let d = app
        .sim
        .operator_message(ALPHA, connector, open_line, CUSTOMER, "Перезвоню", &[], to_app(&app))
        .await
        .unwrap();
    let im = queued_im(&d);
    let id = sent_for(&app, line, im).await.unwrap();
    // An edit of a message that is not out yet has nothing to change: nothing is sent.
    app.sim.operator_edit(ALPHA, im, "Перезвоню завтра", to_app(&app)).await.unwrap();
    confirm(&app).await;
    assert!(received(&app).is_empty());

    let a = app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    assert!(a.status == 200 || a.status == 202, "{}", a.body);
    events.find("message.status", |d| d["message_id"] == id && d["status"] == "delivered").await;
    // The same edit asked again now goes.
    app.sim.operator_edit(ALPHA, im, "Перезвоню завтра", to_app(&app)).await.unwrap();
    confirm(&app).await;
    events
        .find("message.status", |d| d["message_id"] == id && d["message"]["note"] == "edited")
        .await;
    let got = received(&app);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].text.as_deref(), Some("Перезвоню"));
    assert_eq!(got[1].kind, "edit");
}

/// The line's `open_channel_signature` setting: off, the operator's name that Bitrix24 puts
/// before an Open Line answer (`[b]Name:[/b] [br]`, REST docs
/// `api-reference/imopenlines/imconnector/events/on-imconnector-message-add.md`) does not reach
/// the customer; on (the default), it does, in WhatsApp bold.
#[tokio::test]
async fn the_operator_signature_follows_the_line_setting() {
    let app = start().await;
    let (admin, line, open_line, _conversation, mut events) = line_on_open_line(&app).await;
    let connector = wab24::open_channels::CONNECTOR_ID;
    let shown = app.get(&format!("/api/lines/{line}"), &admin).await.json();
    assert_eq!(shown["open_channel_signature"], true, "{shown}");
    let set = |on: bool| {
        let (app, admin) = (&app, &admin);
        async move {
            let patch = json!({"open_channel_signature": on});
            app.call("PATCH", &format!("/api/lines/{line}"), Some(admin), Some(patch)).await
        }
    };
    let a = set(false).await;
    assert_eq!((a.status, &a.json()["open_channel_signature"]), (200, &json!(false)), "{}", a.body);
    events
        .find("line.updated", |d| {
            d["line"]["id"] == line && d["line"]["open_channel_signature"] == false
        })
        .await;
    let say = |text: &'static str| {
        let app = &app;
        async move {
            let d = app
                .sim
                .operator_message(ALPHA, connector, open_line, CUSTOMER, text, &[], to_app(app))
                .await
                .unwrap();
            sent_for(app, line, queued_im(&d)).await.unwrap()
        }
    };
    let unsigned = say("[b]Anna Petrova:[/b] [br]Заказ [b]готов[/b]").await;
    events
        .find("message.status", |d| d["message_id"] == unsigned && d["status"] == "delivered")
        .await;
    assert_eq!(set(true).await.status, 200);
    let signed = say("[b]Anna Petrova:[/b] [br]Ждём вас").await;
    events
        .find("message.status", |d| d["message_id"] == signed && d["status"] == "delivered")
        .await;
    let texts: Vec<Option<String>> = received(&app).into_iter().map(|m| m.text).collect();
    assert_eq!(
        texts,
        [
            Some("Заказ *готов*".to_owned()),
            Some(format!("*{}:*\nЖдём вас", portal_name(&app, 1).await))
        ]
    );
    // A user may not change it.
    let user = app.token(ALPHA, 2).await;
    let patch = json!({"open_channel_signature": false});
    let a = app.call("PATCH", &format!("/api/lines/{line}"), Some(&user), Some(patch)).await;
    assert_eq!(a.status, 403, "{}", a.body);
}

/// Connector events with the installation's real `application_token` (every portal user can see
/// it) that the portal does not confirm: an operator message it does not have, one of its
/// messages with another text or sent to another customer, an edit it does not show, a deletion
/// of a message it still shows, the connector switched off while it is active, the Open Line
/// deleted while it exists. Nothing reaches the customer, the line stays on the Open Line, and
/// each is audited as `b24.connector_event_unconfirmed` with the reason.
#[tokio::test]
async fn forged_events_with_the_real_token_change_nothing_and_are_audited() {
    let app = start().await;
    let (admin, line, open_line, _conversation, mut events) = line_on_open_line(&app).await;
    let connector = wab24::open_channels::CONNECTOR_ID;
    let sessions = app.sim.open_line_sessions(ALPHA);
    let session = sessions.iter().find(|s| s.line == open_line && !s.closed).unwrap().clone();
    let chat = session.chat_id;
    let posted = app
        .sim
        .operator_reply(ALPHA, Dialog::Chat(chat), "Ваш заказ готов", &[], to_app(&app))
        .await
        .unwrap();
    let genuine = posted.message_id;
    let id = sent_for(&app, line, genuine).await.unwrap();
    events.find("message.status", |d| d["message_id"] == id && d["status"] == "delivered").await;
    assert_eq!(received(&app).len(), 1);

    let message = |im: u64, to: &str, body: Value| {
        json!({"CONNECTOR": connector, "LINE": open_line, "MESSAGES": [{
            "im": {"chat_id": chat, "message_id": im},
            "message": body,
            "chat": {"id": to},
        }]})
    };
    let pay = "Оплатите на карту 1234 5678";
    let operator = session.operator.unwrap_or(1);
    let forged = [
        (
            "ONIMCONNECTORMESSAGEADD",
            message(genuine + 1000, CUSTOMER, json!({"user_id": operator, "text": pay})),
        ),
        (
            "ONIMCONNECTORMESSAGEADD",
            message(genuine, CUSTOMER, json!({"user_id": operator, "text": pay})),
        ),
        (
            "ONIMCONNECTORMESSAGEADD",
            message(
                genuine,
                "79160000999",
                json!({"user_id": operator, "text": "Ваш заказ готов"}),
            ),
        ),
        ("ONIMCONNECTORMESSAGEUPDATE", message(genuine, CUSTOMER, json!({"id": [], "text": pay}))),
        ("ONIMCONNECTORMESSAGEDELETE", message(genuine, CUSTOMER, json!({"id": ""}))),
        ("ONIMCONNECTORSTATUSDELETE", json!({"connector": connector, "line": open_line})),
        ("ONIMCONNECTORLINEDELETE", json!(open_line)),
    ];
    for (name, data) in &forged {
        let d = app.sim.deliver_event(ALPHA, name, data.clone(), to_app(&app)).await.unwrap();
        assert_eq!(d[0].status, 200, "{name}: {}", d[0].body);
        assert!(d[0].body.contains("\"queued\""), "{name}: {}", d[0].body);
    }
    confirm(&app).await;
    // A last genuine message: the phone has had everything before it.
    let posted =
        app.sim.operator_reply(ALPHA, Dialog::Chat(chat), "До встречи", &[], to_app(&app)).await;
    let last = sent_for(&app, line, posted.unwrap().message_id).await.unwrap();
    events.find("message.status", |d| d["message_id"] == last && d["status"] == "delivered").await;
    let got = received(&app);
    let kinds: Vec<&str> = got.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["text", "text"], "{got:?}");
    assert!(got.iter().all(|m| !m.text.as_deref().unwrap_or("").contains("1234")), "{got:?}");
    let shown = app.get(&format!("/api/lines/{line}"), &admin).await.json();
    assert_eq!(
        (shown["open_channel"].as_str(), shown["open_channel_status"].as_str()),
        (Some("openline"), Some("active")),
        "{shown}"
    );
    let refused = audited(&app, &admin, "b24.connector_event_unconfirmed").await;
    assert_eq!(refused.len(), forged.len(), "{refused:?}");
    let text = serde_json::to_string(&refused).unwrap();
    for reason in [
        "the portal has no such message in the chat",
        "the text differs from the portal's",
        "the portal has no such chat",
        "the portal still shows the message",
        "the portal shows the connector active on the Open Line",
        "the portal still has the Open Line",
    ] {
        assert!(text.contains(reason), "{reason}: {text}");
    }
    assert!(!text.contains("1234"), "no user data in the refusal: {text}");
}

/// The portal is down when an operator answers: the event is kept in the outbox towards
/// Bitrix24 and retried with its backoff; nothing is sent unconfirmed. Once the portal is back
/// the answer reaches the phone, once, also when Bitrix24 delivers the event again. The added
/// latency of the confirmation (event received to message queued for WhatsApp) is measured.
#[tokio::test]
#[allow(clippy::disallowed_methods)] // the latency measured is wall time
async fn the_portal_down_delays_an_operators_message_which_then_arrives_once() {
    let app = start().await;
    let (_admin, line, open_line, _conversation, _events) = line_on_open_line(&app).await;
    let sessions = app.sim.open_line_sessions(ALPHA);
    let chat = sessions.iter().find(|s| s.line == open_line && !s.closed).unwrap().chat_id;

    app.sim.add_fault(Fault::on("imopenlines.dialog.get", FaultAction::Html { status: 503 }));
    app.sim.add_fault(Fault::on(
        "imopenlines.session.history.get",
        FaultAction::error(ErrorCode::Other("INTERNAL_SERVER_ERROR".to_owned())),
    ));
    let posted = app
        .sim
        .operator_reply(ALPHA, Dialog::Chat(chat), "Курьер будет в 15:00", &[], to_app(&app))
        .await
        .unwrap();
    queued_im(&posted.deliveries);
    let mut retried = 0;
    for _ in 0..3 {
        app.clock.advance(600);
        let round = wab24::open_channels::worker::deliver_due(&app.state).await;
        assert_eq!(round.done, 0, "{round:?}");
        retried += round.retried;
    }
    assert!(retried >= 3, "{retried}");
    assert!(received(&app).is_empty(), "nothing is sent unconfirmed");
    let tenant = app.store.tenant(ALPHA).await.unwrap();
    let waiting = tenant.b24_outbox_items(Caller::System, line, B24OutboxState::Pending, 100);
    let waiting = waiting.await.unwrap();
    assert!(
        waiting.iter().any(|i| i.kind == B24OutboxKind::ConfirmEvent && i.last_error.is_some()),
        "{waiting:?}"
    );

    app.sim.clear_faults();
    sent_for(&app, line, posted.message_id).await.unwrap();
    // (The server's clock went half an hour ahead: the phone is asked, not the event stream.)
    for _ in 0..200 {
        if !received(&app).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Bitrix24 delivers it again (the offline-event safety net): nothing more is sent.
    let d = app.sim.redeliver_operator_message(ALPHA, posted.message_id, to_app(&app)).await;
    queued_im(&d.unwrap());
    confirm(&app).await;
    let got = received(&app);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].text.as_deref().map(|t| t.ends_with("Курьер будет в 15:00")), Some(true));

    // The confirmation's cost: from the event received to the message queued for WhatsApp.
    let mut with = vec![];
    for i in 0..15 {
        let text = format!("Ответ {i}");
        let started = std::time::Instant::now();
        let posted = app
            .sim
            .operator_reply(ALPHA, Dialog::Chat(chat), &text, &[], to_app(&app))
            .await
            .unwrap();
        let event_ms = posted.deliveries[0].latency_ms;
        app.clock.advance(60);
        let confirming = std::time::Instant::now();
        let round = wab24::open_channels::worker::deliver_due(&app.state).await;
        assert!(round.done >= 1, "{round:?}");
        let confirm_ms = confirming.elapsed().as_secs_f64() * 1000.0;
        with.push((started.elapsed().as_secs_f64() * 1000.0, event_ms as f64, confirm_ms));
        let tenant = app.store.tenant(ALPHA).await.unwrap();
        let link = tenant
            .b24_link_for_b24_message(Caller::System, line, &posted.message_id.to_string())
            .await
            .unwrap();
        assert!(link.is_some(), "sent after one round");
    }
    let p50 = |k: usize| {
        let mut v: Vec<f64> = with.iter().map(|w| [w.0, w.1, w.2][k]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    eprintln!(
        "operator message, event to WhatsApp outbox: p50 {:.1} ms (event answered {:.1} ms, the portal's confirmation {:.1} ms; b24-sim on localhost)",
        p50(0),
        p50(1),
        p50(2)
    );
}
