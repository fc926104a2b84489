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
    // The command line is clap's: its usage line reads `Usage: wab24 [COMMAND]`.
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: wab24"));
}

#[test]
fn every_command_explains_itself() {
    let bin = env!("CARGO_BIN_EXE_wab24");
    for (args, expected) in [
        (&[][..], "demo"),
        (&["--help"], "audit"),
        (&["demo", "--help"], "--auto-scan <SECONDS>"),
        (&["serve", "--help"], "WAB24_CONFIG"),
        (&["audit", "verify", "--help"], "--member-id <ID>"),
    ] {
        let out = Command::new(bin).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(text.contains(expected), "{args:?}: {text}");
    }
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Unescapes the few entities the shell page uses.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> String {
    let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = tag[start..].find('"').unwrap() + start;
    unescape(&tag[start..end])
}

#[test]
fn demo_installs_its_portal_pairs_a_line_by_itself_and_its_customers_answer() {
    use std::io::BufRead;
    let bin = env!("CARGO_BIN_EXE_wab24");
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2, p3, p4) = (free_port(), free_port(), free_port(), free_port());
    let mut child = Command::new(bin)
        .args(["demo", "--data"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{p1}"), "--sim-listen", &format!("127.0.0.1:{p2}")])
        .args([
            "--wa-listen",
            &format!("127.0.0.1:{p3}"),
            "--wa-control",
            &format!("127.0.0.1:{p4}"),
        ])
        .args(["--auto-scan", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut shell = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(url) = line.split("portal (administrator):").nth(1) {
            shell = Some(url.trim().to_owned());
            break;
        }
    }
    let shell = shell.expect("the demo prints the portal URL");
    assert_eq!(shell, format!("http://127.0.0.1:{p2}/p/demo.bitrix24.test/"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = rt.block_on(async {
        let http = reqwest::Client::new();
        // The shell page POSTs the frame into the iframe: do what the browser does.
        let page = http.get(&shell).send().await.unwrap().text().await.unwrap();
        let form_start = page.find("<form").unwrap();
        let form_end = page[form_start..].find('>').unwrap() + form_start;
        let action = attr(&page[form_start..form_end], "action");
        let fields: Vec<(String, String)> = page
            .split("<input ")
            .skip(1)
            .map(|tag| (attr(tag, "name"), attr(tag, "value")))
            .collect();
        let r = http.post(&action).form(&fields).send().await.unwrap();
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
        let app_page = r.text().await.unwrap();
        let start = app_page.find("\"token\":\"").unwrap() + 9;
        let token = &app_page[start..start + app_page[start..].find('"').unwrap()];
        let me: serde_json::Value = http
            .get(format!("http://127.0.0.1:{p1}/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // The WhatsApp side: a line's phone scans its QR code by itself, a customer writes,
        // reads the reply and answers it.
        let api = |path: &str| format!("http://127.0.0.1:{p1}{path}");
        let line: serde_json::Value = http
            .post(api("/api/lines"))
            .bearer_auth(token)
            .json(&serde_json::json!({"name": "Demo"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = line["id"].as_i64().unwrap();
        let r = http.post(api(&format!("/api/lines/{id}/connect"))).bearer_auth(token);
        assert_eq!(r.send().await.unwrap().status().as_u16(), 202);
        let get = |path: String| {
            let r = http.get(api(&path)).bearer_auth(token).send();
            async move { r.await.unwrap().json::<serde_json::Value>().await.unwrap() }
        };
        let mut conv = None;
        for _ in 0..300 {
            let list = get(format!("/api/lines/{id}/conversations")).await;
            if let Some(c) = list["conversations"].as_array().and_then(|l| l.first()) {
                conv = c["id"].as_i64();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let conv = conv.expect("a demo customer wrote");
        let state = get(format!("/api/lines/{id}")).await["state"].clone();
        let r = http
            .post(api(&format!("/api/conversations/{conv}/messages")))
            .bearer_auth(token)
            .json(&serde_json::json!({"text": "Добрый день!"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        let mut story = vec![];
        for _ in 0..300 {
            let page = get(format!("/api/conversations/{conv}/messages")).await;
            story = page["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| format!("{} {} {}", m["direction"], m["status"], m["text"]))
                .collect();
            if story.len() >= 3 && story.iter().any(|s| s.starts_with("\"out\" \"read\"")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The demo line made at the first run feeds the demo Open Line: connected, active in
        // Bitrix24, and its customers' messages reach the portal's contact center, where the
        // demo operator answers and the customer gets it.
        let sim = |path: &str| format!("http://127.0.0.1:{p2}/_sim/center/{path}");
        let mut demo = serde_json::Value::Null;
        for _ in 0..300 {
            let lines = get("/api/lines".to_owned()).await;
            demo = lines["lines"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == "Demo" && l["id"] != id)
                .cloned()
                .unwrap_or_default();
            if demo["state"] == "connected" && demo["open_channel_status"] == "active" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let json = |r: reqwest::RequestBuilder| async move {
            r.send().await.unwrap().json::<serde_json::Value>().await.unwrap()
        };
        let mut chat = None;
        for _ in 0..300 {
            let sessions = json(http.get(sim("sessions?member_id=demo0portal"))).await;
            chat = sessions["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["line"] == demo["open_line_id"])
                .and_then(|s| s["chat_id"].as_u64());
            if chat.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let chat = chat.expect("a demo customer's message opened a session in the contact center");
        let reply = http.post(sim("reply")).form(&[
            ("member_id", "demo0portal".to_owned()),
            ("chat_id", chat.to_string()),
            ("text", "Оператор на связи".to_owned()),
        ]);
        let posted = json(reply).await;
        assert_eq!(posted["deliveries"][0]["status"], 200, "{posted}");
        let mut center = vec![];
        for _ in 0..300 {
            let url = sim(&format!("messages?member_id=demo0portal&chat_id={chat}"));
            center = json(http.get(url)).await["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| format!("{} {}", m["author"]["kind"], m["text"]))
                .collect();
            if center
                .iter()
                .any(|m| m.starts_with("\"customer\"") && m.contains("Оператор на связи"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The demo line's CRM policy (contact + lead): a customer's conversation made a lead
        // (or found the seeded one of a known customer) in the portal's CRM whose timeline has
        // the conversation's log entry.
        let shell = |path: &str| format!("http://127.0.0.1:{p2}/p/demo.bitrix24.test/crm{path}");
        let mut lead_page = String::new();
        // Routing goes through the outbox worker: generous (90 s) under a loaded machine.
        for _ in 0..360 {
            let list = http.get(shell("?user=1")).send().await.unwrap().text().await.unwrap();
            let leads = list.split("<section data-kind=\"lead\">").nth(1).unwrap_or_default();
            for part in leads.split("/crm/lead/").skip(1) {
                let id: String = part.chars().take_while(char::is_ascii_digit).collect();
                if id.is_empty() {
                    continue;
                }
                let page = http.get(shell(&format!("/lead/{id}?user=1"))).send().await.unwrap();
                let page = page.text().await.unwrap();
                if page.contains("<li data-entry=\"log\">") {
                    lead_page = page;
                }
            }
            if !lead_page.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        (csp, me, state, story, demo, center, lead_page)
    });
    let _ = child.kill();
    let _ = child.wait();
    let (csp, me, state, story, demo, center, lead_page) = result;
    assert!(
        lead_page.contains("<td data-field=\"responsible\">Clara User2</td>"),
        "a demo customer's lead, the line's user responsible, with the chat in its timeline: {lead_page}"
    );
    assert_eq!(
        (
            demo["open_channel"].as_str(),
            demo["state"].as_str(),
            demo["open_channel_status"].as_str()
        ),
        (Some("both"), Some("connected"), Some("active")),
        "{demo}"
    );
    assert!(center.iter().any(|m| m.starts_with("\"customer\"")), "{center:?}");
    assert!(
        center.iter().any(|m| m.starts_with("\"customer\"") && m.contains("Оператор на связи")),
        "the customer got the operator's answer and answered it: {center:?}"
    );
    assert_eq!(state, "connected");
    assert!(story.iter().any(|s| s.starts_with("\"out\" \"read\" \"Добрый день!\"")), "{story:?}");
    assert!(story.iter().any(|s| s.contains("Добрый день!»")), "the customer answered: {story:?}");
    assert!(
        csp.starts_with(&format!(
            "frame-ancestors http://demo.bitrix24.test http://127.0.0.1:{p2};"
        )),
        "{csp}"
    );
    assert_eq!(
        (me["member_id"].as_str(), me["role"].as_str()),
        (Some("demo0portal"), Some("admin"))
    );
    assert!(dir.path().join("demo-master.key").exists());
}

#[test]
fn audit_verify_exits_non_zero_on_a_broken_chain() {
    use sqlx::Connection;
    let bin = env!("CARGO_BIN_EXE_wab24");
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "127.0.0.1:0", "");
    let master: [u8; 32] = hex::decode(KEY).unwrap().try_into().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let member = "cli0member";
    rt.block_on(async {
        let store = tenancy::Store::open_sqlite(
            &dir.path().join("data"),
            tenancy::MasterKey::from_bytes(master),
        )
        .await
        .unwrap();
        let install = tenancy::Install {
            member_id: member.to_owned(),
            domain: "cli.bitrix24.example".to_owned(),
            plan: "basic".to_owned(),
            line_quota: 3,
            trial_ends_at: None,
            tokens: None,
        };
        let now = time::OffsetDateTime::now_utc();
        store.install(&install, now).await.unwrap();
        let t = store.tenant(member).await.unwrap();
        t.create_line(tenancy::Caller::System, "Sales", None, now).await.unwrap();
        t.create_line(tenancy::Caller::System, "Support", None, now).await.unwrap();
    });
    let verify = |extra: &[&str]| {
        Command::new(bin)
            .args(["audit", "verify", "--config"])
            .arg(&path)
            .args(extra)
            .env("WAB24_MASTER_KEY", KEY)
            .output()
            .unwrap()
    };
    let out = verify(&[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("control: ok (1 records)"), "{text}");
    // The tenant's log: app.installed, then the two lines.
    assert!(text.contains("cli0member: ok (3 records)"), "{text}");
    // Under another master key nothing verifies.
    let other = "00".repeat(32);
    let out = Command::new(bin)
        .args(["audit", "verify", "--config"])
        .arg(&path)
        .env("WAB24_MASTER_KEY", &other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // A record changed behind the triggers' back.
    rt.block_on(async {
        let db = dir.path().join("data/tenants").join(format!("{member}.db"));
        let mut raw =
            sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        sqlx::raw_sql(
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'admin:9' WHERE seq = 2",
        )
        .execute(&mut raw)
        .await
        .unwrap();
    });
    let out = verify(&["--member-id", member]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("cli0member: BROKEN at record 2"), "{text}");
    assert!(!text.contains("control"), "only the tenant asked for: {text}");
}
