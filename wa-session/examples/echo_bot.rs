//! A bot on a simulated WhatsApp: starts a wa-sim in the process (or uses one already running),
//! creates an account, links a fresh device to it by having the simulated phone scan the QR
//! code, then echoes every text it receives and sends every image back to its sender.
//!
//! ```text
//! cargo run -p wa-session --example echo_bot -- [--phone DIGITS] [--seconds N]
//! WA_SIM_CONTROL=http://127.0.0.1:PORT WA_URL=ws://127.0.0.1:PORT/ws/chat WA_ROOT_KEY=HEX \
//!     cargo run -p wa-session --example echo_bot
//! ```
//!
//! With `WA_SIM_CONTROL` (plus the simulator's `WA_URL` and `WA_ROOT_KEY`, as `wa-sim serve`
//! prints them) it uses that simulator's control API (`POST /accounts`, `POST /scan`); without, it
//! starts one on loopback. `--seconds N` stops after N seconds (for scripts); by default it runs
//! until interrupted.
//!
//! What it answers: a text with `echo: <text>`; an image by sending the same image message back
//! (media already on the host is announced again, as a forward is: no download or upload). Each
//! message is confirmed (`MessageAck::ack`) before the answer goes out: the bot stores nothing, so
//! there is nothing to persist first. Other stanzas are acknowledged and counted.
#![allow(clippy::print_stdout)]

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use wa_proto::proto::e2e;
use wa_session::{
    KeyPair, PublicKey,
    client::{Client, Config, Event},
    signal::generate_registration_id,
    store::MemoryStore,
};

/// How the bot reaches the simulator's phone.
enum Phone {
    Embedded(wa_sim::Sim),
    Control(String),
}

/// A JSON POST to the control API (plain HTTP/1.1 on loopback); returns the status and body.
async fn post(
    control: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, String)> {
    let authority =
        control.strip_prefix("http://").context("WA_SIM_CONTROL is http://host:port")?;
    let authority = authority.trim_end_matches('/');
    let body = body.to_string();
    let mut stream = TcpStream::connect(authority).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status in the answer")?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

impl Phone {
    async fn create_account(&self, phone: &str) -> anyhow::Result<()> {
        match self {
            Self::Embedded(sim) => {
                sim.create_account(phone, None)?;
            }
            Self::Control(control) => {
                let (status, body) =
                    post(control, "/accounts", &serde_json::json!({ "phone": phone })).await?;
                // 409: it exists already, which suits us.
                if status != 200 && status != 409 {
                    bail!("POST /accounts answered {status}: {body}");
                }
            }
        }
        Ok(())
    }

    async fn scan(&self, qr: &str, phone: &str) -> anyhow::Result<()> {
        match self {
            Self::Embedded(sim) => {
                sim.scan(qr, phone).await?;
            }
            Self::Control(control) => {
                let body = serde_json::json!({ "qr": qr, "phone": phone });
                let (status, body) = post(control, "/scan", &body).await?;
                if status != 200 {
                    bail!("POST /scan answered {status}: {body}");
                }
            }
        }
        Ok(())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut phone_number = "15550009999".to_owned();
    let mut seconds: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--phone" => phone_number = args.next().context("--phone needs a value")?,
            "--seconds" => seconds = Some(args.next().context("--seconds needs a value")?.parse()?),
            other => bail!("unknown argument {other}"),
        }
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (phone, url, root_key) = match env("WA_SIM_CONTROL") {
        Some(control) => {
            let url = env("WA_URL").context("WA_URL: the simulator's ws_url")?;
            let root = env("WA_ROOT_KEY").context("WA_ROOT_KEY: the simulator's root_key")?;
            let root_key = PublicKey::from_slice(&hex::decode(root.trim())?)?;
            (Phone::Control(control), url, root_key)
        }
        None => {
            let sim = wa_sim::Sim::new(wa_sim::SimConfig::default());
            let addr = sim.serve_ws("127.0.0.1:0".parse()?).await?;
            let root_key = sim.root_key();
            println!("started a simulator at ws://{addr}/ws/chat");
            (Phone::Embedded(sim), format!("ws://{addr}/ws/chat"), root_key)
        }
    };
    phone.create_account(&phone_number).await?;

    let mut rng = rand::rng();
    let identity = KeyPair::generate(&mut rng);
    let store = Arc::new(MemoryStore::new(identity, generate_registration_id(&mut rng)));
    let config = Config { url, root_key, ..Config::default() };
    let (client, mut events) = Client::start(config, store).await?;
    if let Some(seconds) = seconds {
        let client = client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            client.close();
        });
    }

    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Qr { code, .. } => {
                println!("showing a QR code; the phone {phone_number} scans it");
                phone.scan(&code, &phone_number).await?;
            }
            Event::PairSuccess { jid, .. } => println!("linked as {jid}"),
            Event::Connected => println!("online; waiting for messages"),
            Event::Message { info, message, ack } => {
                ack.ack();
                *counts.entry("message".to_owned()).or_default() += 1;
                if info.from_me {
                    continue; // our own sends, copied to this device
                }
                let text = message.conversation.clone().or_else(|| {
                    message.extended_text_message.as_ref().and_then(|m| m.text.clone())
                });
                let answer = if let Some(text) = text {
                    println!("text from {}: {} chars", info.sender, text.chars().count());
                    client.send_text(&info.chat, &format!("echo: {text}")).await
                } else if let Some(image) = &message.image_message {
                    println!("image from {}", info.sender);
                    let back = e2e::Message {
                        image_message: Some(image.clone()),
                        ..e2e::Message::default()
                    };
                    client.send_message(&info.chat, back).await
                } else {
                    println!("{} message from {}: not answered", info.kind, info.sender);
                    continue;
                };
                match answer {
                    Ok(sent) => println!("answered with {}", sent.id),
                    Err(error) => println!("could not answer: {error}"),
                }
            }
            Event::Stanza { node, ack } => {
                *counts.entry(node.tag.to_string()).or_default() += 1;
                ack.ack();
            }
            Event::Disconnected { reason, reconnect_in } => {
                println!("disconnected ({reason}), reconnect in {reconnect_in:?}");
            }
            Event::LoggedOut { reason } => println!("logged out ({reason})"),
            other => println!("{other:?}"),
        }
    }
    println!("stopped; served: {counts:?}");
    Ok(())
}
