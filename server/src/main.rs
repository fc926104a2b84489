//! The `wab24` binary.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use wab24::cli::{AuditCommand, Cli, Command};

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WAB24_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    // `--help` and `--version` print and exit 0; a command line not understood exits 2.
    let Some(command) = Cli::parse().command else {
        // Without a command: the help, as `wab24 --help` prints it.
        return match Cli::command().print_help() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    };
    match command {
        Command::Demo(args) => {
            let Some(rt) = runtime() else { return ExitCode::FAILURE };
            match rt.block_on(wab24::demo::run(args.options())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wab24: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Audit(AuditCommand::Verify { config, member_id }) => {
            let Some(rt) = runtime() else { return ExitCode::FAILURE };
            let result = rt.block_on(async {
                let config = wab24::config::Config::load(&config.config)?;
                let store = wab24::serve::open_store(&config).await?;
                Ok::<_, wab24::serve::ServeError>(
                    wab24::audit_check::verify_all(&store, member_id.as_deref()).await?,
                )
            });
            match result {
                Ok(reports) => {
                    for r in &reports {
                        match &r.result {
                            Ok(v) if v.ok => {
                                println!("{}: ok ({} records)", r.log, v.records_checked)
                            }
                            Ok(v) => match &v.broken {
                                Some(b) => println!(
                                    "{}: BROKEN at record {}: {} ({} records verified before it)",
                                    r.log, b.seq, b.message, v.records_checked
                                ),
                                None => println!("{}: BROKEN", r.log),
                            },
                            Err(e) => println!("{}: cannot verify: {e}", r.log),
                        }
                    }
                    if reports.iter().all(|r| r.ok()) {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("wab24: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(config) => {
            let Some(rt) = runtime() else { return ExitCode::FAILURE };
            let result = rt.block_on(async {
                let config = wab24::config::Config::load(&config.config)?;
                let state = wab24::serve::build(&config).await?;
                wab24::serve::run(state, config.listen, config.metrics_listen).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wab24: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("wab24: cannot start the async runtime: {e}");
            None
        }
    }
}
