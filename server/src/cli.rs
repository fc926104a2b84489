//! The `wab24` command line, derived with clap so that `wab24 --help` and every subcommand's
//! `--help` explain themselves.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::demo::{Behaviour, DemoOptions};

/// wab24: WhatsApp lines inside Bitrix24 Open Lines.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "wab24", version, about, long_about = None)]
pub struct Cli {
    /// What to run; without one, this help.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run against real Bitrix24 portals.
    ///
    /// Reads the configuration file (see wab24.example.toml); every key can also be set as
    /// WAB24_<KEY> in the environment.
    Serve(ConfigFile),
    /// Run with an embedded simulated Bitrix24 portal and WhatsApp, no configuration needed.
    ///
    /// Stores SQLite files and a generated master key in the data directory, installs the app
    /// into the simulated portal and prints the address of its page. A line's simulated phone
    /// scans the QR code by itself, and simulated customers write now and then and answer.
    Demo(DemoArgs),
    /// Work with the keyed audit chains.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `wab24 audit ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AuditCommand {
    /// Verify the keyed audit chains: the registry's and every active tenant's, or one tenant's.
    ///
    /// Prints one line per chain; the exit code is 1 when one is broken.
    Verify {
        /// The configuration file (for the master key and the database).
        #[command(flatten)]
        config: ConfigFile,
        /// Verify only this tenant's chain (its Bitrix24 member_id).
        #[arg(long, value_name = "ID")]
        member_id: Option<String>,
    },
}

/// The configuration file option shared by the commands that read one.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ConfigFile {
    /// The configuration file (TOML, see wab24.example.toml).
    #[arg(short, long, value_name = "FILE", env = "WAB24_CONFIG")]
    pub config: PathBuf,
}

/// The options of `wab24 demo`; the defaults are [`DemoOptions::default`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DemoArgs {
    /// The data directory (databases, master key, the simulated WhatsApp's state).
    #[arg(long, value_name = "DIR", default_value_os_t = DemoOptions::default().data_dir)]
    pub data: PathBuf,
    /// The server's address.
    #[arg(long, value_name = "ADDR", default_value_t = DemoOptions::default().listen)]
    pub listen: SocketAddr,
    /// The simulated Bitrix24 portal's address.
    #[arg(long, value_name = "ADDR", default_value_t = DemoOptions::default().sim_listen)]
    pub sim_listen: SocketAddr,
    /// The simulated WhatsApp's WebSocket address.
    #[arg(long, value_name = "ADDR", default_value_t = DemoOptions::default().wa_listen)]
    pub wa_listen: SocketAddr,
    /// The simulated WhatsApp's control API (scan, send as a customer; wa-sim's README lists the
    /// routes).
    #[arg(long, value_name = "ADDR", default_value_t = DemoOptions::default().wa_control)]
    pub wa_control: SocketAddr,
    /// Seconds after which a new line's phone scans its QR code (0: never, scan through the
    /// control API).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = default_auto_scan_seconds(),
        value_parser = seconds
    )]
    pub auto_scan: u64,
    /// Simulated customers neither write by themselves nor answer.
    #[arg(long)]
    pub quiet_customers: bool,
}

impl DemoArgs {
    /// The demo's options as the command line sets them.
    pub fn options(&self) -> DemoOptions {
        DemoOptions {
            data_dir: self.data.clone(),
            listen: self.listen,
            sim_listen: self.sim_listen,
            wa_listen: self.wa_listen,
            wa_control: self.wa_control,
            behaviour: Behaviour {
                auto_scan: (self.auto_scan > 0).then(|| Duration::from_secs(self.auto_scan)),
                chatty_customers: !self.quiet_customers,
            },
        }
    }
}

/// The default `--auto-scan`, in whole seconds as the option takes it.
fn default_auto_scan_seconds() -> u64 {
    DemoOptions::default().behaviour.auto_scan.map_or(0, |d| d.as_secs())
}

/// Parses `--auto-scan`'s value, saying what it takes when it is not a number.
fn seconds(value: &str) -> Result<u64, String> {
    value.parse().map_err(|_| "expected whole seconds (0: never)".to_owned())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, error::ErrorKind};

    use super::*;

    fn p(args: &[&str]) -> Result<Option<Command>, clap::Error> {
        Cli::try_parse_from(std::iter::once("wab24").chain(args.iter().copied())).map(|c| c.command)
    }

    fn demo(args: &[&str]) -> DemoOptions {
        let mut all = vec!["demo"];
        all.extend_from_slice(args);
        match p(&all) {
            Ok(Some(Command::Demo(d))) => d.options(),
            other => panic!("not demo: {other:?}"),
        }
    }

    fn serve(config: &str) -> Command {
        Command::Serve(ConfigFile { config: config.into() })
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_takes_a_configuration_file() {
        assert_eq!(p(&["serve", "--config", "a.toml"]).unwrap(), Some(serve("a.toml")));
        assert_eq!(p(&["serve", "--config=b.toml"]).unwrap(), Some(serve("b.toml")));
        assert_eq!(p(&["serve", "-c", "c.toml"]).unwrap(), Some(serve("c.toml")));
        let e = p(&["serve", "--config"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        assert!(e.to_string().contains("--config <FILE>"), "{e}");
        let e = p(&["serve", "--port", "1"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
        assert!(e.to_string().contains("--port"), "{e}");
        assert!(p(&["serve", "--config", "a", "--member-id", "m"]).is_err());
    }

    #[test]
    fn demo_defaults_are_the_demo_options_defaults() {
        assert_eq!(demo(&[]), DemoOptions::default());
    }

    #[test]
    fn demo_options() {
        let o = demo(&["--data", "/tmp/d", "--listen", "127.0.0.1:1"]);
        assert_eq!((o.data_dir.to_str(), o.listen.port()), (Some("/tmp/d"), 1));
        let o = demo(&[
            "--sim-listen",
            "127.0.0.1:2",
            "--wa-listen",
            "127.0.0.1:3",
            "--wa-control",
            "127.0.0.1:4",
        ]);
        assert_eq!((o.sim_listen.port(), o.wa_listen.port(), o.wa_control.port()), (2, 3, 4));
        let o = demo(&["--auto-scan", "0", "--quiet-customers"]);
        assert_eq!(o.behaviour.auto_scan, None);
        assert!(!o.behaviour.chatty_customers);
        assert_eq!(demo(&["--auto-scan", "9"]).behaviour.auto_scan, Some(Duration::from_secs(9)));
    }

    #[test]
    fn bad_demo_values_say_what_is_expected() {
        let e = p(&["demo", "--listen", "x"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        assert!(e.to_string().contains("--listen <ADDR>"), "{e}");
        let e = p(&["demo", "--auto-scan", "soon"]).unwrap_err();
        assert!(e.to_string().contains("seconds"), "{e}");
        assert!(p(&["demo", "--frobnicate"]).is_err());
    }

    #[test]
    fn audit_verify() {
        assert_eq!(
            p(&["audit", "verify", "--config", "a.toml", "--member-id", "m1"]).unwrap(),
            Some(Command::Audit(AuditCommand::Verify {
                config: ConfigFile { config: "a.toml".into() },
                member_id: Some("m1".to_owned()),
            }))
        );
        let e = p(&["audit", "check"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSubcommand);
        assert!(e.to_string().contains("check"), "{e}");
    }

    #[test]
    fn no_command_is_help_and_unknown_ones_are_refused() {
        assert_eq!(p(&[]).unwrap(), None);
        let e = p(&["frobnicate"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSubcommand);
        assert!(e.to_string().contains("frobnicate"), "{e}");
    }

    #[test]
    fn every_command_explains_itself() {
        for args in [
            &["--help"][..],
            &["help"],
            &["serve", "--help"],
            &["demo", "--help"],
            &["audit", "--help"],
            &["audit", "verify", "--help"],
            &["help", "demo"],
        ] {
            let e = p(args).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{args:?}");
            assert!(e.to_string().contains("Usage: wab24"), "{args:?}: {e}");
        }
        let demo_help = p(&["demo", "--help"]).unwrap_err().to_string();
        for option in ["--data", "--listen", "--sim-listen", "--wa-listen", "--wa-control"] {
            assert!(demo_help.contains(option), "{option} missing from {demo_help}");
        }
        assert!(demo_help.contains("--auto-scan <SECONDS>") && demo_help.contains("[default: 5]"));
        assert!(p(&["serve", "--help"]).unwrap_err().to_string().contains("WAB24_CONFIG"));
        let version = p(&["--version"]).unwrap_err();
        assert_eq!(version.kind(), ErrorKind::DisplayVersion);
        assert_eq!(version.to_string().trim(), format!("wab24 {}", env!("CARGO_PKG_VERSION")));
    }
}
