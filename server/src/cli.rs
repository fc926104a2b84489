//! Command-line parsing (no dependency: a few commands and options).

use std::path::PathBuf;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `wab24 serve --config FILE`.
    Serve {
        /// The configuration file.
        config: PathBuf,
    },
    /// `wab24 demo [--data DIR] [--listen ADDR] [--sim-listen ADDR] [--wa-listen ADDR]
    /// [--wa-control ADDR] [--auto-scan SECONDS] [--quiet-customers]`.
    Demo(crate::demo::DemoOptions),
    /// `wab24 audit verify --config FILE [--member-id X]`: verifies the audit chains (the
    /// registry's and every active tenant's, or one tenant's); exit code 1 when one is broken.
    AuditVerify {
        /// The configuration file (for the master key and the database).
        config: PathBuf,
        /// Only this tenant.
        member_id: Option<String>,
    },
    /// `wab24 help`, `-h`, `--help`.
    Help,
    /// `wab24 --version`.
    Version,
}

/// The usage text.
pub const USAGE: &str = "usage:
  wab24 serve --config wab24.toml   run against real Bitrix24 portals (see wab24.example.toml;
                                    every key can be set as WAB24_<KEY>)
  wab24 demo [--data DIR] [--listen ADDR] [--sim-listen ADDR] [--wa-listen ADDR]
             [--wa-control ADDR] [--auto-scan SECONDS] [--quiet-customers]
                                    embedded simulated Bitrix24 portal and WhatsApp, no
                                    configuration (defaults: ./data, 127.0.0.1:8080, :8081,
                                    :8082, :8083; a line's phone scans its QR code after
                                    5 s, 0: never; customers write now and then and
                                    answer)
  wab24 audit verify --config wab24.toml [--member-id ID]
                                    verify the keyed audit chains (the registry's and
                                    every active tenant's, or one tenant's); exit code 1
                                    when one is broken
  wab24 --version | --help";

/// A command line that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}\n{USAGE}")]
pub struct UsageError(pub String);

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, UsageError> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        None | Some("help" | "-h" | "--help") => Ok(Command::Help),
        Some("-V" | "--version") => Ok(Command::Version),
        Some("demo") => {
            let mut o = crate::demo::DemoOptions::default();
            while let Some(a) = args.next() {
                let mut value = |name: &str| {
                    args.next().ok_or_else(|| UsageError(format!("{name} needs a value")))
                };
                let addr = |v: String| {
                    v.parse().map_err(|_| {
                        UsageError(format!("{v:?} is not an address like 127.0.0.1:8080"))
                    })
                };
                match a.as_str() {
                    "--data" => o.data_dir = value("--data")?.into(),
                    "--listen" => o.listen = addr(value("--listen")?)?,
                    "--sim-listen" => o.sim_listen = addr(value("--sim-listen")?)?,
                    "--wa-listen" => o.wa_listen = addr(value("--wa-listen")?)?,
                    "--wa-control" => o.wa_control = addr(value("--wa-control")?)?,
                    "--auto-scan" => {
                        let v = value("--auto-scan")?;
                        let secs: u64 = v.parse().map_err(|_| {
                            UsageError(format!("--auto-scan takes seconds (0: never), not {v:?}"))
                        })?;
                        o.behaviour.auto_scan =
                            (secs > 0).then(|| std::time::Duration::from_secs(secs));
                    }
                    "--quiet-customers" => o.behaviour.chatty_customers = false,
                    other => return Err(UsageError(format!("unexpected argument {other:?}"))),
                }
            }
            Ok(Command::Demo(o))
        }
        Some("serve") => {
            let (config, member_id) = config_options("serve", args, false)?;
            debug_assert!(member_id.is_none());
            Ok(Command::Serve { config })
        }
        Some("audit") => match args.next().as_deref() {
            Some("verify") => {
                let (config, member_id) = config_options("audit verify", args, true)?;
                Ok(Command::AuditVerify { config, member_id })
            }
            _ => Err(UsageError("audit takes a subcommand: verify".to_owned())),
        },
        Some(other) => Err(UsageError(format!("unknown command {other:?}"))),
    }
}

/// Reads `--config FILE` (or `WAB24_CONFIG`) and, when `member` is allowed, `--member-id ID`.
fn config_options(
    command: &str,
    mut args: impl Iterator<Item = String>,
    member: bool,
) -> Result<(PathBuf, Option<String>), UsageError> {
    let mut config = None;
    let mut member_id = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-c" => {
                config = Some(
                    args.next().ok_or_else(|| UsageError("--config needs a file".to_owned()))?,
                )
            }
            "--member-id" if member => {
                member_id = Some(
                    args.next()
                        .ok_or_else(|| UsageError("--member-id needs a value".to_owned()))?,
                )
            }
            other => match other.strip_prefix("--config=") {
                Some(v) => config = Some(v.to_owned()),
                None => return Err(UsageError(format!("unexpected argument {other:?}"))),
            },
        }
    }
    let config = config
        .or_else(|| std::env::var("WAB24_CONFIG").ok())
        .ok_or_else(|| UsageError(format!("{command} needs --config FILE (or WAB24_CONFIG)")))?;
    Ok((PathBuf::from(config), member_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn commands() {
        assert_eq!(
            p(&["serve", "--config", "a.toml"]).unwrap(),
            Command::Serve { config: "a.toml".into() }
        );
        assert_eq!(
            p(&["serve", "--config=b.toml"]).unwrap(),
            Command::Serve { config: "b.toml".into() }
        );
        assert_eq!(p(&["demo"]).unwrap(), Command::Demo(crate::demo::DemoOptions::default()));
        let Command::Demo(o) = p(&["demo", "--data", "/tmp/d", "--listen", "127.0.0.1:1"]).unwrap()
        else {
            panic!("not demo")
        };
        assert_eq!((o.data_dir.to_str(), o.listen.port()), (Some("/tmp/d"), 1));
        assert!(p(&["demo", "--listen", "x"]).is_err());
        let Command::Demo(o) = p(&["demo", "--auto-scan", "0", "--quiet-customers"]).unwrap()
        else {
            panic!("not demo")
        };
        assert_eq!(o.behaviour.auto_scan, None);
        assert!(!o.behaviour.chatty_customers);
        assert!(p(&["demo", "--auto-scan", "soon"]).unwrap_err().0.contains("seconds"));
        assert_eq!(p(&[]).unwrap(), Command::Help);
        assert!(p(&["serve", "--config"]).unwrap_err().0.contains("needs a file"));
        assert!(p(&["serve", "--port", "1"]).unwrap_err().0.contains("--port"));
        assert!(p(&["frobnicate"]).unwrap_err().0.contains("unknown command"));
        assert_eq!(
            p(&["audit", "verify", "--config", "a.toml", "--member-id", "m1"]).unwrap(),
            Command::AuditVerify { config: "a.toml".into(), member_id: Some("m1".to_owned()) }
        );
        assert!(p(&["audit", "check"]).unwrap_err().0.contains("verify"));
        assert!(p(&["serve", "--config", "a", "--member-id", "m"]).is_err());
    }
}
