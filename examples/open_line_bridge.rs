//! A WhatsApp line forwarded into a Bitrix24 Open Line, with only the public crates: a
//! wa-session device linked to the line's number (on wa-sim) and b24-client on a b24-sim portal.
//! A customer's WhatsApp text goes into the open line (`imconnector.send.messages`); an
//! operator's answer (the `ONIMCONNECTORMESSAGEADD` event) goes back to the customer on WhatsApp
//! and is reported delivered (`imconnector.send.status.delivery`).
//!
//! ```text
//! cargo run -p wab24-examples --example open_line_bridge
//! ```
//!
//! The program plays the customer and the operator itself and ends once both messages made it.
//! A real portal adds what this leaves out: the tokens and `application_token` come from the
//! install (here the simulator issues them), the event handler and `PLACEMENT_HANDLER` must be
//! public HTTPS URLs, operators see the connector in the contact center settings, and there are
//! dialog start/finish, read receipts, files, and operator texts in BB-code with a signature;
//! the server crate does all of that, durably.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use anyhow::Context as _;
use b24_client::{
    Id, Portal, Secret,
    inbound::{Event as B24Event, EventKind},
};
use b24_sim::{EventOptions, PortalSpec, Sim, SimConfig};
use serde_json::json;
use tokio::sync::mpsc;
use wa_session::client::{Client, Event as WaEvent, Events};
use wa_sim::{PhoneContent, PhoneMessage};
use wab24_examples::{LocalWhatsApp, eventually, text_of};
use warp::Filter as _;

const CONNECTOR: &str = "wab24_whatsapp";
const MEMBER_ID: &str = "bridge-member";
/// The business's WhatsApp number (the line) and a customer's.
const LINE_NUMBER: &str = "15550004000";
const CUSTOMER: &str = "15550005000";

/// One WhatsApp line and the Open Line it feeds.
struct Bridge {
    whatsapp: Client,
    portal: Portal,
    line: Id,
    application_token: Secret,
}

/// Listens on loopback for the portal's events (form POSTs) and passes each parsed one on.
async fn serve_events() -> anyhow::Result<(String, mpsc::UnboundedReceiver<B24Event>)> {
    let (sender, events) = mpsc::unbounded_channel();
    let route = warp::post().and(warp::path!("b24" / "events")).and(warp::body::bytes()).map(
        move |body: bytes::Bytes| match B24Event::parse(&body) {
            Ok(event) => match sender.send(event) {
                Ok(()) => warp::http::StatusCode::OK,
                Err(_) => warp::http::StatusCode::SERVICE_UNAVAILABLE, // the bridge stopped
            },
            Err(_) => warp::http::StatusCode::BAD_REQUEST,
        },
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}/b24/events", listener.local_addr()?);
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Ok((url, events))
}

/// Registers the connector, makes an open line with it switched on, and subscribes to the
/// operators' messages. Returns the line.
async fn set_up_open_line(portal: &Portal, handler: &str) -> anyhow::Result<Id> {
    let icon = "data:image/svg+xml;charset=US-ASCII,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%2F%3E";
    portal
        .imconnector_register(json!({"ID": CONNECTOR, "NAME": "WhatsApp (wab24)",
            "ICON": {"DATA_IMAGE": icon}, "PLACEMENT_HANDLER": handler}))
        .await?;
    let line = portal.openlines_config_add(json!({"LINE_NAME": "WhatsApp"})).await?;
    portal.imconnector_activate(CONNECTOR, line, true).await?;
    portal.event_bind("ONIMCONNECTORMESSAGEADD", handler).await?;
    Ok(line)
}

impl Bridge {
    /// A customer wrote: into the open line, and only then confirmed to WhatsApp (if the portal
    /// fails, the unconfirmed message comes again after a reconnect).
    async fn inbound(&self, event: WaEvent) -> anyhow::Result<()> {
        let (info, message, ack) = match event {
            WaEvent::Message { info, message, ack } => (info, message, ack),
            WaEvent::Stanza { ack, .. } => {
                ack.ack(); // a stanza the client does not handle: nothing to keep
                return Ok(());
            }
            _ => return Ok(()),
        };
        let Some(text) = text_of(&message).filter(|_| !info.from_me) else {
            ack.ack(); // our own sends, and what this bridge does not forward (media, reactions)
            return Ok(());
        };
        let customer = info.chat.to_string();
        let messages = json!([{ "user": {"id": customer, "phone": info.chat.user},
            "message": {"id": info.id, "date": info.timestamp, "text": text},
            "chat": {"id": customer} }]);
        let answer = self.portal.imconnector_send_messages(CONNECTOR, self.line, messages).await?;
        let accepted = answer.pointer("/DATA/RESULT/0/SUCCESS") == Some(&json!(true));
        anyhow::ensure!(accepted, "the open line refused {}: {answer}", info.id);
        ack.ack();
        println!("bridge: WhatsApp {} -> open line {}", info.id, self.line);
        Ok(())
    }

    /// An operator answered: to the customer on WhatsApp, then reported delivered.
    async fn outbound(&self, event: B24Event) -> anyhow::Result<()> {
        event.verify(&self.application_token).context("an event not from our portal")?;
        let EventKind::ConnectorMessageAdd(batch) = event.kind else { return Ok(()) };
        for message in batch.messages.into_iter().filter(|_| batch.connector == CONNECTOR) {
            let customer = message.chat.id.parse().context("the chat is not a WhatsApp JID")?;
            let sent = self.whatsapp.send_text(&customer, &message.message.text).await?;
            println!("bridge: open line {} -> WhatsApp {}", batch.line, sent.id);
            let Some(im) = message.im else { continue };
            let delivered = json!([{ "im": {"chat_id": im.chat_id, "message_id": im.message_id},
                "message": {"id": [sent.id]}, "chat": {"id": message.chat.id} }]);
            self.portal.imconnector_status_delivery(CONNECTOR, self.line, delivered).await?;
        }
        Ok(())
    }

    /// Forwards both ways until the WhatsApp client stops.
    async fn run(self, mut whatsapp: Events, mut bitrix: mpsc::UnboundedReceiver<B24Event>) {
        loop {
            let result = tokio::select! {
                event = whatsapp.recv() => match event {
                    Some(event) => self.inbound(event).await,
                    None => return, // the client stopped
                },
                Some(event) = bitrix.recv() => self.outbound(event).await,
            };
            if let Err(error) = result {
                println!("bridge: {error:#}");
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let bitrix = Sim::new(SimConfig::default());
    bitrix.add_portal(PortalSpec::new(MEMBER_ID, "bridge.bitrix24.test"));
    bitrix.start(([127, 0, 0, 1], 0).into()).await?;
    let client = b24_client::Client::builder(bitrix.app()).build()?;
    // What the install hands the application: a token pair and the portal's event secret.
    let portal = client.portal(bitrix.issue_tokens(MEMBER_ID, 1)?);
    let application_token = bitrix.application_token(MEMBER_ID).context("no such portal")?;
    let (handler, bitrix_events) = serve_events().await?;
    let line = set_up_open_line(&portal, &handler).await?;

    let whatsapp = LocalWhatsApp::start().await?;
    whatsapp.add_account(LINE_NUMBER)?;
    whatsapp.add_account(CUSTOMER)?;
    let (device, device_events) = whatsapp.link(LINE_NUMBER).await?;
    let bridge = Bridge { whatsapp: device.clone(), portal, line, application_token };
    let bridge = tokio::spawn(bridge.run(device_events, bitrix_events));
    println!("bridge: WhatsApp {LINE_NUMBER} <-> open line {line} of {MEMBER_ID}");

    let question = "Hello! Has my order shipped?";
    let to_line = PhoneMessage {
        to: LINE_NUMBER.to_owned(),
        content: PhoneContent::Text(question.to_owned()),
        quoted: None,
    };
    whatsapp.sim.phone_send(CUSTOMER, to_line).await?;
    let within = Duration::from_secs(10);
    let chat = eventually("the question in the open line", within, || {
        let portal = bitrix.inspect(MEMBER_ID)?;
        let seen = portal["im_messages"].as_array()?.iter().find(|m| m["text"] == question)?;
        seen["chat"].as_str().map(str::to_owned)
    })
    .await?;
    println!("operator: sees \"{question}\" in chat {chat}");

    let answer = "Yes, it left the warehouse today.";
    let opts = EventOptions::default();
    bitrix.operator_message(MEMBER_ID, CONNECTOR, line.0, &chat, answer, &[], opts).await?;
    eventually("the answer on the customer's phone", within, || {
        let received = whatsapp.sim.phone_received(CUSTOMER).ok()?;
        received.iter().any(|m| m.text.as_deref() == Some(answer)).then_some(())
    })
    .await?;
    println!("customer: received \"{answer}\"");
    eventually("the delivery status", within, || {
        let calls = bitrix.calls_to("imconnector.send.status.delivery");
        calls.iter().any(|call| call.error.is_none()).then_some(())
    })
    .await?;
    println!("operator: sees it delivered");

    device.close();
    bridge.await?;
    Ok(())
}
