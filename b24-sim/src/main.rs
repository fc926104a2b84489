//! `b24-sim serve`: runs the simulator on a loopback address and prints one JSON line with its
//! URL, the application's keys and a token pair per portal.

#![forbid(unsafe_code)]

use std::{net::SocketAddr, process::ExitCode};

use b24_client::RateLimit;
use b24_sim::{PortalSpec, Sim, SimConfig};
use serde_json::json;

const USAGE: &str = "usage: b24-sim serve [--addr 127.0.0.1:0] [--portal MEMBER_ID=DOMAIN]... [--users N]
                     [--rate BURST/PER_SECOND] [--app-url URL] [--client-id ID] [--client-secret SECRET]
                     [--access-ttl SECONDS]

Serves fake Bitrix24 portals and their OAuth server on a loopback address. Prints one JSON line:
{\"base_url\", \"client_id\", \"client_secret\", \"server_endpoint\", \"portals\": [{\"member_id\", \"domain\",
\"client_endpoint\", \"shell_url\", \"application_token\", \"tokens\": {...}}]}.";

struct Args {
    addr: SocketAddr,
    portals: Vec<(String, String)>,
    users: u32,
    rate: RateLimit,
    app_url: Option<String>,
    config: SimConfig,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    if it.next().as_deref() != Some("serve") {
        return Err("expected the `serve` command".to_owned());
    }
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        portals: vec![],
        users: 3,
        rate: RateLimit::STANDARD,
        app_url: None,
        config: SimConfig::default(),
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = val()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--portal" => {
                let v = val()?;
                let (m, d) = v.split_once('=').ok_or("--portal takes MEMBER_ID=DOMAIN")?;
                a.portals.push((m.to_owned(), d.to_owned()));
            }
            "--users" => a.users = val()?.parse().map_err(|e| format!("--users: {e}"))?,
            "--rate" => {
                let v = val()?;
                let (b, r) = v.split_once('/').ok_or("--rate takes BURST/PER_SECOND")?;
                a.rate = RateLimit {
                    burst: b.parse().map_err(|e| format!("--rate: {e}"))?,
                    per_second: r.parse().map_err(|e| format!("--rate: {e}"))?,
                };
            }
            "--app-url" => a.app_url = Some(val()?),
            "--client-id" => a.config.client_id = val()?,
            "--client-secret" => a.config.client_secret = val()?,
            "--access-ttl" => {
                a.config.access_ttl = val()?.parse().map_err(|e| format!("--access-ttl: {e}"))?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.portals.is_empty() {
        a.portals.push(("sim-member-alpha".to_owned(), "alpha.bitrix24.test".to_owned()));
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("b24-sim: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let sim = Sim::new(args.config.clone());
    for (m, d) in &args.portals {
        let mut spec = PortalSpec::new(m, d);
        spec.users = args.users;
        spec.rate_limit = args.rate;
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
    for (m, d) in &args.portals {
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
        json!({"base_url": base, "client_id": args.config.client_id, "client_secret": args.config.client_secret,
               "server_endpoint": format!("{base}/rest/"), "portals": portals})
    );
    eprintln!("b24-sim: serving on {base} (Ctrl-C to stop)");
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
