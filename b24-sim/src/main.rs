//! `b24-sim serve`: runs the simulator on a loopback address and prints one JSON line with its
//! URL, the application's keys and a token pair per portal.

#![forbid(unsafe_code)]

use std::{net::SocketAddr, process::ExitCode};

use b24_client::RateLimit;
use b24_sim::{PortalSpec, Sim, SimConfig};
use clap::{Parser, Subcommand};
use serde_json::json;

/// A fake Bitrix24 for tests and local runs: several portals, their OAuth server, REST methods
/// with real envelopes and errors, a leaky bucket, faults, outbound events and a recorder.
/// Loopback only.
#[derive(Debug, Parser)]
#[command(name = "b24-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves fake portals and their OAuth server on loopback and prints one JSON line with the
    /// URLs, the application's keys and a token pair per portal.
    #[command(long_about = SERVE_ABOUT)]
    Serve(Args),
}

/// The long help of `b24-sim serve`.
const SERVE_ABOUT: &str = "Serves fake Bitrix24 portals and their OAuth server on a loopback address and prints one JSON
line: {\"base_url\", \"client_id\", \"client_secret\", \"server_endpoint\", \"portals\": [{\"member_id\",
\"domain\", \"client_endpoint\", \"shell_url\", \"application_token\", \"tokens\": {...}}]}.

Each portal answers REST at {base_url}/p/DOMAIN/rest/ and shows the application in a shell page at
{base_url}/p/DOMAIN/; test control endpoints are under {base_url}/_sim/. Runs until Ctrl-C.";

/// The flags of `b24-sim serve`.
#[derive(Debug, clap::Args)]
struct Args {
    /// The HTTP listener; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// A portal (repeat for several; default: sim-member-alpha=alpha.bitrix24.test).
    #[arg(long = "portal", value_name = "MEMBER_ID=DOMAIN", value_parser = parse_portal)]
    portals: Vec<(String, String)>,
    /// Users per portal.
    #[arg(long, value_name = "N", default_value_t = 3)]
    users: u32,
    /// Each portal's leaky bucket (default: the standard plan's 50/2).
    #[arg(long, value_name = "BURST/PER_SECOND", value_parser = parse_rate)]
    rate: Option<RateLimit>,
    /// The application's URL, which the shell page opens.
    #[arg(long, value_name = "URL")]
    app_url: Option<String>,
    /// The application's `client_id` (default: local.0000000000sim0.00000001).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// The application's `client_secret` (default: sim-client-secret).
    #[arg(long, value_name = "SECRET")]
    client_secret: Option<String>,
    /// Access token lifetime (default: 3600).
    #[arg(long, value_name = "SECONDS")]
    access_ttl: Option<i64>,
}

impl Args {
    /// The simulator's settings: the defaults with the flags given.
    fn config(&self) -> SimConfig {
        let mut config = SimConfig::default();
        if let Some(id) = &self.client_id {
            config.client_id.clone_from(id);
        }
        if let Some(secret) = &self.client_secret {
            config.client_secret.clone_from(secret);
        }
        if let Some(ttl) = self.access_ttl {
            config.access_ttl = ttl;
        }
        config
    }

    /// The portals to serve: the ones given, or the default one.
    fn portals(&self) -> Vec<(String, String)> {
        if self.portals.is_empty() {
            return vec![("sim-member-alpha".to_owned(), "alpha.bitrix24.test".to_owned())];
        }
        self.portals.clone()
    }
}

/// `MEMBER_ID=DOMAIN`.
fn parse_portal(text: &str) -> Result<(String, String), String> {
    let (member, domain) =
        text.split_once('=').ok_or_else(|| "--portal takes MEMBER_ID=DOMAIN".to_owned())?;
    Ok((member.to_owned(), domain.to_owned()))
}

/// `BURST/PER_SECOND`.
fn parse_rate(text: &str) -> Result<RateLimit, String> {
    let (burst, per_second) =
        text.split_once('/').ok_or_else(|| "--rate takes BURST/PER_SECOND".to_owned())?;
    Ok(RateLimit {
        burst: burst.parse().map_err(|e| format!("--rate: {e}"))?,
        per_second: per_second.parse().map_err(|e| format!("--rate: {e}"))?,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    let config = args.config();
    let portal_list = args.portals();
    let rate = args.rate.unwrap_or(RateLimit::STANDARD);
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let sim = Sim::new(config.clone());
    for (m, d) in &portal_list {
        let mut spec = PortalSpec::new(m, d);
        spec.users = args.users;
        spec.rate_limit = rate;
        spec.app_url = args.app_url.clone();
        sim.add_portal(spec);
    }
    let local = match sim.start(args.addr).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("b24-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base = format!("http://{local}");
    let mut portals = vec![];
    for (m, d) in &portal_list {
        let tokens = match sim.issue_tokens(m, 1) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("b24-sim: {e}");
                return ExitCode::FAILURE;
            }
        };
        portals.push(json!({
            "member_id": m, "domain": d, "client_endpoint": tokens.client_endpoint,
            "shell_url": format!("{base}/p/{d}/"),
            "application_token": sim.application_token(m).map(|s| s.expose().to_owned()),
            "tokens": {"access_token": tokens.access_token.expose(), "refresh_token": tokens.refresh_token.expose(),
                       "expires_at": tokens.expires_at, "user_id": 1},
        }));
    }
    println!(
        "{}",
        json!({"base_url": base, "client_id": config.client_id, "client_secret": config.client_secret,
               "server_endpoint": format!("{base}/rest/"), "portals": portals})
    );
    eprintln!("b24-sim: serving on {base} (Ctrl-C to stop)");
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
