//! `wa-sim serve`: runs the simulator on loopback and prints one JSON line with its WebSocket
//! URL, the test root's public key (hex) and the control API's address.

#![forbid(unsafe_code)]

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use serde_json::json;
use wa_sim::{Sim, SimConfig};

/// A WhatsApp Web server simulator that also plays its users' primary phones, for tests,
/// benchmarks and local runs. Loopback only.
#[derive(Debug, Parser)]
#[command(name = "wa-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the simulator on loopback and prints one JSON line with its addresses and keys.
    #[command(long_about = SERVE_ABOUT)]
    Serve(Args),
}

/// The long help of `wa-sim serve`.
const SERVE_ABOUT: &str = "Serves a simulated WhatsApp Web server on a loopback address and prints one JSON line:
{\"ws_url\", \"wss_url\", \"root_key\", \"static_key\", \"control_url\", \"media_url\", \"certificate_pem\"}.

wss_url (only with --wss-addr or --tls) and media_url (HTTPS) present the self-signed certificate
certificate_pem, also served at GET {control_url}/certificate. The control API (HTTP JSON) creates
accounts, pairs devices, injects faults and drives the simulated phones. Runs until Ctrl-C. Logs go
to stderr (RUST_LOG=wa_sim=debug shows every stanza).";

/// The flags of `wa-sim serve`.
#[derive(Debug, clap::Args)]
struct Args {
    /// The WebSocket listener (`ws://ADDR/ws/chat`); port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Also serve `wss://ADDR/ws/chat` with the self-signed certificate.
    #[arg(long, value_name = "ADDR")]
    wss_addr: Option<SocketAddr>,
    /// Also serve `wss://` on a free loopback port (`--wss-addr 127.0.0.1:0`).
    #[arg(long)]
    tls: bool,
    /// The control API (HTTP JSON).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    control_addr: SocketAddr,
    /// The media blob host (HTTPS).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    media_addr: SocketAddr,
    /// The most bytes of media blobs kept in memory at once (64 MiB by default).
    #[arg(long, value_name = "N", default_value_t = 64 << 20)]
    media_max_bytes: usize,
    /// Seeds every key and random value, so that runs repeat (default: drawn from the system).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Reads accounts, devices, prekeys and queued stanzas from FILE at start (if it exists) and
    /// writes them to it atomically whenever they change, so linked devices survive a restart.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

impl Args {
    /// Where `wss://` listens, if it does.
    fn wss(&self) -> Option<SocketAddr> {
        self.wss_addr.or(self.tls.then_some(SocketAddr::from(([127, 0, 0, 1], 0))))
    }
}

/// Starts every listener; the JSON line to print.
async fn serve(sim: &Sim, args: &Args) -> wa_sim::Result<serde_json::Value> {
    let ws = sim.serve_ws(args.addr).await?;
    let wss = match args.wss() {
        Some(addr) => Some(sim.serve_wss(addr).await?),
        None => None,
    };
    let control = sim.serve_control(args.control_addr).await?;
    let media = sim.serve_media(args.media_addr, args.media_max_bytes).await?;
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
    let Command::Serve(args) = Cli::parse().command;
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
