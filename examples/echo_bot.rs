//! An echo bot on a simulated WhatsApp, in one process: it starts wa-sim, links a wa-session
//! device to the bot's account by QR (the account's simulated phone scans it), then a simulated
//! customer writes to the bot and the bot answers `echo: <text>`. The program ends when the
//! echo has reached the customer's phone, so it doubles as a test.
//!
//! ```text
//! cargo run -p wab24-examples --example echo_bot [-- TEXT]
//! ```
//!
//! Against the real WhatsApp the bot loop ([`echo`]) is the same; only the linking differs (a
//! person scans the QR code: see `qr_login.rs`).
#![allow(clippy::print_stdout)]

use std::time::Duration;

use wa_session::client::{Client, Event, Events};
use wa_sim::{PhoneContent, PhoneMessage};
use wab24_examples::{LocalWhatsApp, eventually, text_of};

/// The bot's WhatsApp number.
const BOT: &str = "15550001000";
/// The customer's number.
const CUSTOMER: &str = "15550002000";

/// Answers every text from someone else with `echo: <text>`, until the client stops or, with
/// `Some(limit)`, until it has answered that many (each accepted by the server). Returns how
/// many it answered.
async fn echo(client: Client, mut events: Events, limit: Option<u64>) -> anyhow::Result<u64> {
    let mut answered = 0;
    while limit.is_none_or(|limit| answered < limit)
        && let Some(event) = events.recv().await
    {
        match event {
            Event::Message { info, message, ack } => {
                // The bot keeps nothing, so there is nothing to store before confirming.
                ack.ack();
                if info.from_me {
                    continue; // our own sends, copied to this device
                }
                if let Some(text) = text_of(&message) {
                    let sent = client.send_text(&info.chat, &format!("echo: {text}")).await?;
                    println!("bot: answered {} from {} with {}", info.id, info.chat, sent.id);
                    answered += 1;
                }
            }
            // Stanzas the client does not handle itself: nothing to keep, confirm them.
            Event::Stanza { ack, .. } => {
                ack.ack();
            }
            _ => {}
        }
    }
    Ok(answered)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let text = std::env::args().nth(1).unwrap_or_else(|| "hello, bot".to_owned());
    let whatsapp = LocalWhatsApp::start().await?;
    whatsapp.add_account(BOT)?;
    whatsapp.add_account(CUSTOMER)?;
    println!("wa-sim at {}", whatsapp.url);

    let (client, events) = whatsapp.link(BOT).await?;
    println!("bot: linked to {BOT} and online");
    // One answer is all this run needs; a real bot passes `None` and runs until stopped.
    let bot = tokio::spawn(echo(client.clone(), events, Some(1)));

    let message = PhoneMessage {
        to: BOT.to_owned(),
        content: PhoneContent::Text(text.clone()),
        quoted: None,
    };
    let id = whatsapp.sim.phone_send(CUSTOMER, message).await?;
    println!("customer: sent {id}: {text}");

    let expected = format!("echo: {text}");
    let echoed = eventually("the echo on the customer's phone", Duration::from_secs(10), || {
        let received = whatsapp.sim.phone_received(CUSTOMER).ok()?;
        received.into_iter().find(|m| m.text.as_deref() == Some(expected.as_str()))
    })
    .await?;
    println!("customer: received {} from {}: {}", echoed.id, echoed.sender, expected);

    // The bot returns once the server has accepted its answer; only then close the client, so
    // that no send is cut off half-way.
    let answered = bot.await??;
    client.close();
    println!("done: the bot answered {answered} message(s)");
    Ok(())
}
