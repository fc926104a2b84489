//! Bitrix24 to WhatsApp through the Open Channels connector: an operator answers in an Open Line
//! (b24-sim delivers `ONIMCONNECTORMESSAGEADD` as Bitrix24 does, twice), and the customer's
//! phone (wa-sim) receives the text, with BB-code as WhatsApp markup, and a file, each once; the
//! panel shows them as the operator's; forged events are refused; the ticks go back to
//! Bitrix24 as delivery and reading statuses; an edit and a deletion reach the phone; the
//! connector switched off and the Open Line deleted leave the line to the panel.

use b24_sim::{Dialog, EventOptions, OutFile};
use serde_json::{Value, json};
use tenancy::{B24OutboxKind, B24OutboxState, Caller, OpenChannel};
use wa_sim::{PhoneContent, PhoneMessage, PhoneReceived};

use crate::app::{ALPHA, App, Sse, start};

const LINE_PHONE: &str = "79990000301";
const CUSTOMER: &str = "79160000301";

/// A connected line whose conversations go to a new Open Line of the portal, with one
/// conversation (the customer wrote first). Returns the admin token, the line, the Open Line,
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
    (admin, line, open_line, conversation, events)
}

/// Runs the connector's worker until the outbox towards Bitrix24 has nothing due; nothing may
/// fail or wait.
async fn deliver_all(app: &App) {
    for _ in 0..20 {
        let round = wab24::open_channels::worker::deliver_due(&app.state).await;
        assert_eq!((round.failed, round.retried), (0, 0), "{round:?}");
        if round.done == 0 {
            return;
        }
    }
    panic!("the outbox towards Bitrix24 does not drain");
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
    let answers: Vec<Value> =
        deliveries.iter().map(|d| serde_json::from_str(&d.body).unwrap()).collect();
    assert_eq!(answers[0]["result"]["messages"][0]["result"], "done", "{}", answers[0]);
    assert_eq!(answers[1]["result"]["messages"][0]["result"], "duplicate", "{}", answers[1]);
    let first_im = answers[0]["result"]["messages"][0]["im_message_id"].as_u64().unwrap();
    let text_id = answers[0]["result"]["messages"][0]["message_ids"][0].as_i64().unwrap();
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
    let answer: Value = serde_json::from_str(&deliveries[0].body).unwrap();
    let image_id = answer["result"]["messages"][0]["message_ids"][0].as_i64().unwrap();
    events
        .find("message.status", |d| d["message_id"] == image_id && d["status"] == "delivered")
        .await;

    // The phone has each once, in order.
    let got = received(&app);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0].text.as_deref(),
        Some("*Anna Petrova:*\nДоставка *завтра*, подробнее (https://shop.test/d)")
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

    // Forged: refused before anything is done.
    let forged = EventOptions { forge_token: true, ..to_app(&app) };
    let d = app
        .sim
        .operator_message(ALPHA, connector, open_line, CUSTOMER, "forged", &[], forged)
        .await
        .unwrap();
    assert_eq!(d[0].status, 403, "{}", d[0].body);

    // An edit, then a deletion, reach the phone as an edit and a revoke of the first message.
    app.sim.operator_edit(ALPHA, first_im, "Доставка послезавтра", to_app(&app)).await.unwrap();
    let edited = events
        .find("message.status", |d| d["message_id"] == text_id && d["message"]["note"] == "edited")
        .await;
    assert!(
        edited["message"]["text"].as_str().unwrap().ends_with("Доставка послезавтра"),
        "{edited}"
    );
    app.sim.operator_delete(ALPHA, first_im, to_app(&app)).await.unwrap();
    // And a last message, so that the phone has had everything before it.
    let d = app
        .sim
        .operator_message(ALPHA, connector, open_line, CUSTOMER, "ок", &[], to_app(&app))
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&d[0].body).unwrap();
    let last_id = answer["result"]["messages"][0]["message_ids"][0].as_i64().unwrap();
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

    // An operator the app did not know is known by the name their signature carries.
    let data = json!({"CONNECTOR": connector, "LINE": open_line, "MESSAGES": [{
        "im": {"chat_id": 1807, "message_id": 555_001},
        "message": {"user_id": 42, "text": "[b]Ivan Sidorov:[/b] [br]Добавлю"},
        "chat": {"id": CUSTOMER},
    }]});
    let d =
        app.sim.deliver_event(ALPHA, "ONIMCONNECTORMESSAGEADD", data, to_app(&app)).await.unwrap();
    let answer: Value = serde_json::from_str(&d[0].body).unwrap();
    let ivan = answer["result"]["messages"][0]["message_ids"][0].as_i64().unwrap();
    let users = app.get("/api/users", &admin).await.json();
    let named = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["id"] == 42 && u["name"] == "Ivan Sidorov");
    assert!(named, "{users}");
    let message = app
        .get(&format!("/api/conversations/{conversation}/messages?limit=1"), &admin)
        .await
        .json();
    assert_eq!(
        (message["messages"][0]["id"].as_i64(), message["messages"][0]["sender"].as_str()),
        (Some(ivan), Some("operator:42"))
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

    // Each event is audited with Bitrix24's ids.
    let audit = app.get("/api/audit?kind=b24.connector_event&limit=100", &admin).await.json();
    let records = audit["records"].as_array().unwrap();
    assert!(records.len() >= 6, "{audit}");
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

    // An administrator switches the connector off in the contact center.
    let d = app.sim.disconnect_connector(ALPHA, connector, open_line, to_app(&app)).await.unwrap();
    assert_eq!(d[0].status, 200, "{}", d[0].body);
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
    let d = app.sim.delete_open_line(ALPHA, open_line, to_app(&app)).await.unwrap();
    let deleted = d.iter().find(|d| d.what == "ONIMCONNECTORLINEDELETE").unwrap();
    assert_eq!(deleted.status, 200, "{}", deleted.body);
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
    let (admin, _line, open_line, conversation, mut events) = line_on_open_line(&app).await;
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
    let answer: Value = serde_json::from_str(&posted.deliveries[0].body).unwrap();
    assert_eq!(answer["result"]["messages"][0]["result"], "done", "{answer}");
    let id = answer["result"]["messages"][0]["message_ids"][0].as_i64().unwrap();
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
    let answer: Value = serde_json::from_str(&d[0].body).unwrap();
    assert_eq!(answer["result"]["messages"][0]["result"], "done", "{answer}");
    let id = answer["result"]["messages"][0]["message_ids"][0].as_i64().unwrap();
    // An edit of a message that is not out yet has nothing to change: refused, said so.
    let im = answer["result"]["messages"][0]["im_message_id"].as_u64().unwrap();
    let d = app.sim.operator_edit(ALPHA, im, "Перезвоню завтра", to_app(&app)).await.unwrap();
    let edit: Value = serde_json::from_str(&d[0].body).unwrap();
    assert_eq!(edit["result"]["messages"][0]["result"], "refused", "{edit}");
    assert!(received(&app).is_empty());

    let a = app.call("POST", &format!("/api/lines/{line}/connect"), Some(&admin), None).await;
    assert!(a.status == 200 || a.status == 202, "{}", a.body);
    events.find("message.status", |d| d["message_id"] == id && d["status"] == "delivered").await;
    // The same edit asked again now goes.
    let d = app.sim.operator_edit(ALPHA, im, "Перезвоню завтра", to_app(&app)).await.unwrap();
    let edit: Value = serde_json::from_str(&d[0].body).unwrap();
    assert_eq!(edit["result"]["messages"][0]["result"], "done", "{edit}");
    let got = received(&app);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].text.as_deref(), Some("Перезвоню"));
    assert_eq!(got[1].kind, "edit");
}
