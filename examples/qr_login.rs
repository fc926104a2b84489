//! Linking a device by QR code: a wa-session client shows its QR code (drawn in the terminal,
//! then its text) and waits until a phone has scanned it and the device is logged in.
//!
//! ```text
//! cargo run -p wab24-examples --example qr_login
//! cargo run -p wab24-examples --example qr_login -- --url ws://127.0.0.1:PORT/ws/chat --root-key HEX
//! ```
//!
//! Without arguments it starts a wa-sim in the process and has the simulated phone of a test
//! account scan the code, so the program ends by itself within a second or two. With `--url`
//! (and the server's `--root-key`, as `wa-sim serve` prints them) it connects there and waits
//! for someone to scan: `curl -XPOST <control>/scan -d '{"qr":"<text>","phone":"..."}'` for a
//! wa-sim. The device's keys live in memory only; `wa-session`'s own `qr_login` example keeps
//! them in a file and talks to WhatsApp itself.
#![allow(clippy::print_stdout)]

use anyhow::{Context as _, bail};
use qrcode::{QrCode, render::unicode::Dense1x2};
use wa_session::{
    PublicKey,
    client::{Config, Event},
};
use wab24_examples::{LocalWhatsApp, new_device};

/// The account whose simulated phone scans the code when no `--url` is given.
const PHONE: &str = "15550003000";

fn server_from_args() -> anyhow::Result<Option<Config>> {
    let mut url = None;
    let mut root_key = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => url = Some(value()?),
            "--root-key" => root_key = Some(value()?),
            other => bail!("unknown argument {other} (see the header of examples/qr_login.rs)"),
        }
    }
    let Some(url) = url else { return Ok(None) };
    let mut config = Config { url, ..Config::default() };
    if let Some(hex) = root_key {
        config.root_key = PublicKey::from_slice(&hex::decode(hex.trim())?)?;
    }
    Ok(Some(config))
}

/// Draws the code with light modules as full blocks, so that it reads on a dark terminal.
fn draw(code: &str) -> anyhow::Result<String> {
    let qr = QrCode::new(code.as_bytes())?;
    Ok(qr
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // Without --url: a simulator in this process, whose phone scans (`scanner`); with it, a
    // person or a script scans.
    let (config, scanner) = match server_from_args()? {
        Some(config) => (config, None),
        None => {
            let whatsapp = LocalWhatsApp::start().await?;
            whatsapp.add_account(PHONE)?;
            (whatsapp.config(), Some(whatsapp))
        }
    };
    println!("connecting to {}", config.url);
    let (client, mut events) = new_device(config).await?;
    while let Some(event) = events.recv().await {
        match event {
            Event::Qr { code, expires } => {
                println!("{}", draw(&code)?);
                println!("QR text (valid {} s): {code}", expires.as_secs());
                if let Some(whatsapp) = &scanner {
                    whatsapp.sim.scan(&code, PHONE).await?;
                    println!("the phone of {PHONE} scanned it");
                }
            }
            Event::PairSuccess { jid, .. } => println!("linked as {jid}; logging in"),
            Event::PairError { error } => bail!("pairing refused: {error}"),
            Event::Connected => {
                let account = client.credentials().await.account;
                let jid = account.map_or_else(|| "?".to_owned(), |a| a.jid.to_string());
                println!("online as {jid}");
                client.close();
            }
            Event::Disconnected { reason, reconnect_in: None } => println!("stopped ({reason})"),
            Event::LoggedOut { reason } => bail!("logged out: {reason}"),
            // Stanzas that arrive while we log in: nothing to keep, confirm them.
            Event::Stanza { ack, .. } => {
                ack.ack();
            }
            _ => {}
        }
    }
    Ok(())
}
