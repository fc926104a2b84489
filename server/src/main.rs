//! The `wab24` binary.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use wab24::cli::{self, Command};

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WAB24_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wab24: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("wab24 {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Demo(opts) => {
            let Some(rt) = runtime() else { return ExitCode::FAILURE };
            match rt.block_on(wab24::demo::run(opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wab24: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { config } => {
            let Some(rt) = runtime() else { return ExitCode::FAILURE };
            let result = rt.block_on(async {
                let config = wab24::config::Config::load(&config)?;
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
