//! Links a device to a WhatsApp account by QR code and stays online, printing what happens.
//!
//! ```text
//! cargo run -p wa-session --example qr_login -- [--store FILE] [--url URL] [--root-key HEX] [--cert PEM]
//! ```
//!
//! By default it talks to WhatsApp itself (`wss://web.whatsapp.com/ws/chat`): each QR code is
//! drawn in the terminal (scan it with the phone: Settings, Linked devices), followed by its text.
//! The device (credentials and Signal records, [`MemoryStore::to_bytes`]) is kept in FILE
//! (default `qr_login.store`, written with mode 0600 where that exists), so the next run logs in
//! without a QR code. It holds private keys: keep it safe.
//!
//! For a simulator, give its URL, root key and (for `wss://`) its certificate, on the command
//! line or as `WA_URL`, `WA_ROOT_KEY`, `WA_TLS_CERT`, e.g. with `wa-sim serve --tls`, then have
//! its phone scan the printed text: `curl -XPOST $control/scan -d '{"qr":"<text>","phone":"..."}'`.
//! `--exit-when-connected` ends the program once logged in (for scripts).
#![allow(clippy::print_stdout)]

use std::{path::PathBuf, sync::Arc};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use qrcode::{QrCode, render::unicode::Dense1x2};
use wa_session::{
    KeyPair, PublicKey,
    client::{Client, Config, Event, WA_WEB_URL},
    signal::generate_registration_id,
    store::MemoryStore,
};

struct Options {
    store: PathBuf,
    url: String,
    root_key: Option<String>,
    cert: Option<PathBuf>,
    exit_when_connected: bool,
}

fn options() -> anyhow::Result<Options> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut options = Options {
        store: PathBuf::from("qr_login.store"),
        url: env("WA_URL").unwrap_or_else(|| WA_WEB_URL.to_owned()),
        root_key: env("WA_ROOT_KEY"),
        cert: env("WA_TLS_CERT").map(PathBuf::from),
        exit_when_connected: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--store" => options.store = value()?.into(),
            "--url" => options.url = value()?,
            "--root-key" => options.root_key = Some(value()?),
            "--cert" => options.cert = Some(value()?.into()),
            "--exit-when-connected" => options.exit_when_connected = true,
            other => bail!("unknown argument {other} (see the header of examples/qr_login.rs)"),
        }
    }
    Ok(options)
}

/// The DER certificates of a PEM file.
fn pem_certificates(pem: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut certificates = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match line {
            "-----BEGIN CERTIFICATE-----" => body = Some(String::new()),
            "-----END CERTIFICATE-----" => {
                let text = body.take().context("END without BEGIN")?;
                certificates.push(base64::engine::general_purpose::STANDARD.decode(text)?);
            }
            line => {
                if let Some(body) = body.as_mut() {
                    body.push_str(line);
                }
            }
        }
    }
    if certificates.is_empty() {
        bail!("no certificate in the PEM file");
    }
    Ok(certificates)
}

/// Writes the store to its file (through a temporary file, so a crash never leaves half of it).
fn save(store: &MemoryStore, path: &PathBuf) -> anyhow::Result<()> {
    let bytes = store.to_bytes()?;
    let temporary = path.with_extension("tmp");
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    std::io::Write::write_all(&mut open.open(&temporary)?, &bytes)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

fn print_qr(code: &str) -> anyhow::Result<()> {
    let qr = QrCode::new(code.as_bytes())?;
    // Light modules as full blocks: the code reads on a dark terminal, with a quiet zone.
    let image = qr
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    println!("{image}");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let store = if options.store.exists() {
        let bytes = std::fs::read(&options.store)
            .with_context(|| format!("reading {}", options.store.display()))?;
        let store = MemoryStore::from_bytes(&bytes)
            .with_context(|| format!("{} is not a device store", options.store.display()))?;
        println!("device loaded from {}", options.store.display());
        store
    } else {
        let mut rng = rand::rng();
        let identity = KeyPair::generate(&mut rng);
        println!("new device; it will be kept in {}", options.store.display());
        MemoryStore::new(identity, generate_registration_id(&mut rng))
    };
    let store = Arc::new(store);
    let mut config = Config { url: options.url.clone(), ..Config::default() };
    if let Some(hex) = &options.root_key {
        config.root_key = PublicKey::from_slice(&hex::decode(hex.trim())?)?;
    }
    if let Some(path) = &options.cert {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        config.tls_roots = Some(pem_certificates(&pem)?);
    }
    println!("connecting to {}", config.url);
    let (client, mut events) = Client::start(config, store.clone()).await?;
    save(&store, &options.store)?;
    let mut stanzas = 0u64;
    while let Some(event) = events.recv().await {
        match event {
            Event::Qr { code, expires } => {
                print_qr(&code)?;
                println!("QR text (valid {} s): {code}", expires.as_secs());
            }
            Event::PairSuccess { jid, platform, .. } => {
                save(&store, &options.store)?;
                println!("paired as {jid} (phone: {})", platform.as_deref().unwrap_or("?"));
            }
            Event::PairError { error } => println!("pairing refused: {error}"),
            Event::PreKeysUploaded { count } => {
                save(&store, &options.store)?;
                println!("uploaded {count} one-time prekeys");
            }
            Event::Connected => {
                save(&store, &options.store)?;
                let account = client.credentials().await.account;
                let jid = account.map_or_else(|| "?".to_owned(), |a| a.jid.to_string());
                println!("connected as {jid}");
                if options.exit_when_connected {
                    client.close();
                }
            }
            Event::Stanza { node, ack } => {
                stanzas += 1;
                println!("stanza {stanzas}: <{}> {:?}", node.tag, node.attrs);
                // Nothing to store here beyond the Signal state the client keeps: ack at once.
                ack.ack();
                save(&store, &options.store)?;
            }
            Event::Disconnected { reason, reconnect_in } => match reconnect_in {
                Some(delay) => println!("disconnected ({reason}); reconnecting in {delay:?}"),
                None => println!("disconnected ({reason}); stopped"),
            },
            Event::LoggedOut { reason } => {
                println!("logged out ({reason}); the device is forgotten");
                save(&store, &options.store)?;
            }
            other => println!("{other:?}"),
        }
    }
    Ok(())
}
