//! The `wab24` binary: configuration errors name the key; `serve` starts on SQLite and answers.

use std::{process::Command, time::Duration};

const KEY: &str = "5f1d0c3e9a8b7f6e5d4c3b2a19080706f5e4d3c2b1a09f8e7d6c5b4a39281706";

fn config(dir: &std::path::Path, listen: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("wab24.toml");
    let text = format!(
        "client_id = \"local.x.y\"\nclient_secret = \"s\"\npublic_url = \"https://wa.example.com\"\n\
         listen = \"{listen}\"\ndata_dir = \"{}\"\n{extra}",
        dir.join("data").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn configuration_errors_name_the_key() {
    let bin = env!("CARGO_BIN_EXE_wab24");
    let dir = tempfile::tempdir().unwrap();
    let out =
        Command::new(bin).args(["serve", "--config", "/nonexistent/wab24.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot read configuration file /nonexistent/wab24.toml")
    );
    let path = config(dir.path(), "127.0.0.1:0", "");
    let out = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("WAB24_MASTER_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(
            "configuration key `master_key` is missing (set it in the file or as WAB24_MASTER_KEY)"
        ),
        "{err}"
    );
    let out = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&path)
        .env("WAB24_MASTER_KEY", "12")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("`master_key` is invalid"));
    let out = Command::new(bin).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
}

#[test]
fn serve_starts_and_answers() {
    let bin = env!("CARGO_BIN_EXE_wab24");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let path = config(dir.path(), &format!("127.0.0.1:{port}"), "");
    let mut child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&path)
        .env("WAB24_MASTER_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let answered = rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
                let doc = http
                    .get(format!("http://127.0.0.1:{port}/api/openapi.json"))
                    .send()
                    .await
                    .unwrap();
                return Some((r.text().await.unwrap(), doc.status().as_u16()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answered, Some(("ok".to_owned(), 200)));
    assert!(dir.path().join("data/control.db").exists());
}
