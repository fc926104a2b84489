//! `wa-sim serve`: runs the simulator on loopback and prints one JSON line with its WebSocket
//! URL, the test root's public key (hex) and the control API's address.

#![forbid(unsafe_code)]

use std::{net::SocketAddr, process::ExitCode};

use serde_json::json;
use wa_sim::{Sim, SimConfig};

const USAGE: &str = "usage: wa-sim serve [--addr 127.0.0.1:0] [--wss-addr 127.0.0.1:0 | --tls] [--control-addr 127.0.0.1:0] [--media-addr 127.0.0.1:0] [--media-max-bytes N] [--seed N] [--state FILE]

Serves a simulated WhatsApp Web server on a loopback address. Prints one JSON line:
{\"ws_url\", \"wss_url\", \"root_key\", \"static_key\", \"control_url\", \"media_url\",
\"certificate_pem\"}. wss_url (only with --wss-addr or --tls, which picks a free loopback
port) and media_url (HTTPS) present the self-signed certificate certificate_pem, also served at
GET {control_url}/certificate. Blobs are kept in memory up to --media-max-bytes, default 64 MiB.
With --state, accounts, devices, prekeys and queued stanzas are read from FILE at start (if it
exists) and written to it atomically whenever they change, so linked devices survive a restart.
Logs go to stderr (RUST_LOG=wa_sim=debug shows every stanza).";

struct Args {
    addr: SocketAddr,
    wss: Option<SocketAddr>,
    control: SocketAddr,
    media: SocketAddr,
    media_max: usize,
    seed: Option<u64>,
    state: Option<std::path::PathBuf>,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    if it.next().as_deref() != Some("serve") {
        return Err("expected the `serve` command".to_owned());
    }
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut args = Args {
        addr: loopback,
        wss: None,
        control: loopback,
        media: loopback,
        media_max: 64 << 20,
        seed: None,
        state: None,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--wss-addr" => {
                args.wss = Some(value()?.parse().map_err(|e| format!("--wss-addr: {e}"))?);
            }
            "--tls" => args.wss = Some(args.wss.unwrap_or(loopback)),
            "--control-addr" => {
                args.control = value()?.parse().map_err(|e| format!("--control-addr: {e}"))?;
            }
            "--media-addr" => {
                args.media = value()?.parse().map_err(|e| format!("--media-addr: {e}"))?;
            }
            "--media-max-bytes" => {
                args.media_max = value()?.parse().map_err(|e| format!("--media-max-bytes: {e}"))?;
            }
            "--seed" => args.seed = Some(value()?.parse().map_err(|e| format!("--seed: {e}"))?),
            "--state" => args.state = Some(value()?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// Starts every listener; the JSON line to print.
async fn serve(sim: &Sim, args: &Args) -> wa_sim::Result<serde_json::Value> {
    let ws = sim.serve_ws(args.addr).await?;
    let wss = match args.wss {
        Some(addr) => Some(sim.serve_wss(addr).await?),
        None => None,
    };
    let control = sim.serve_control(args.control).await?;
    let media = sim.serve_media(args.media, args.media_max).await?;
    Ok(json!({
        "ws_url": format!("ws://{ws}/ws/chat"),
        "wss_url": wss.map(|wss| format!("wss://{wss}/ws/chat")),
        "root_key": hex::encode(sim.root_key().as_bytes()),
        "static_key": hex::encode(sim.static_key().as_bytes()),
        "control_url": format!("http://{control}"),
        "media_url": format!("https://{media}"),
        "certificate_pem": sim.certificate_pem()?,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            if !error.is_empty() {
                eprintln!("wa-sim: {error}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("wa_sim=info")),
        )
        .init();
    let config = SimConfig { seed: args.seed, ..SimConfig::default() };
    let sim = match &args.state {
        Some(path) => match Sim::open_state(config, path) {
            Ok(sim) => sim,
            Err(error) => {
                eprintln!("wa-sim: {error}");
                return ExitCode::FAILURE;
            }
        },
        None => Sim::new(config),
    };
    if let Some(path) = &args.state {
        sim.persist(path.clone(), std::time::Duration::from_millis(250));
    }
    match serve(&sim, &args).await {
        Ok(info) => println!("{info}"),
        Err(error) => {
            eprintln!("wa-sim: {error}");
            return ExitCode::FAILURE;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    if let Some(path) = &args.state
        && let Err(error) = sim.save_state(path)
    {
        eprintln!("wa-sim: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
