//! The server is killed with SIGKILL in the middle of a stream of 1,000 inbound and 1,000
//! outbound messages (`WAB24_RESTART_MESSAGES` changes the count) on two lines. After the
//! restart both lines reconnect by themselves, every inbound message is stored exactly once and
//! in order per chat, and every outbound message (retried by its sender with the same
//! idempotency key while the server was down) is stored once and reaches the customer under one
//! WhatsApp id.

use std::{
    collections::{BTreeMap, HashMap},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use b24_sim::{PortalSpec, Sim, SimConfig};
use serde_json::{Value, json};
use wa_sim::{PhoneContent, PhoneMessage};

use crate::app::token_of;

const MEMBER: &str = "restart0member";
const KEY: &str = "5f1d0c3e9a8b7f6e5d4c3b2a19080706f5e4d3c2b1a09f8e7d6c5b4a39281706";
/// Two lines, two customers each.
const LINE_PHONES: [&str; 2] = ["79990000201", "79990000202"];
const CUSTOMERS: [&str; 4] = ["79160000201", "79160000202", "79160000203", "79160000204"];
const WAIT: Duration = Duration::from_secs(180);

/// `wab24 serve` as a child process, against simulators that live in the test's process.
pub(crate) struct Server {
    bin: &'static str,
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
    runs: usize,
}

impl Server {
    /// A server on a free loopback port with its data under `dir` and `extra` environment;
    /// its base URL.
    pub(crate) fn new(
        b24: &Sim,
        wa: &wa_sim::Sim,
        ws: std::net::SocketAddr,
        dir: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> (Server, String) {
        let loopback: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        let port = std::net::TcpListener::bind(loopback).unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let config = SimConfig::default();
        let mut env: Vec<(String, String)> = [
            ("WAB24_CLIENT_ID", config.client_id.clone()),
            ("WAB24_CLIENT_SECRET", config.client_secret),
            ("WAB24_PUBLIC_URL", base.clone()),
            ("WAB24_LISTEN", format!("127.0.0.1:{port}")),
            ("WAB24_DATA_DIR", dir.join("data").display().to_string()),
            ("WAB24_MASTER_KEY", KEY.to_owned()),
            ("WAB24_OAUTH_SERVER", b24.server_endpoint().unwrap()),
            ("WAB24_DEFAULT_LINE_QUOTA", "5".to_owned()),
            ("WAB24_WHATSAPP_URL", format!("ws://{ws}/ws/chat")),
            ("WAB24_WHATSAPP_ROOT_KEY", hex::encode(wa.root_key().as_bytes())),
            ("WAB24_CONFIG", "/dev/null".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let server = Server { bin: env!("CARGO_BIN_EXE_wab24"), env, dir: dir.to_owned(), runs: 0 };
        (server, base)
    }

    pub(crate) fn spawn(&mut self) -> Child {
        self.runs += 1;
        let log =
            std::fs::File::create(self.dir.join(format!("server-{}.log", self.runs))).unwrap();
        Command::new(self.bin)
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }
}

/// A server that answers, installed by `member`'s administrator (who opened the app), with one
/// line paired by the phone `line_phone`: where the Open Channels and CRM restart tests start.
pub(crate) struct Paired {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) line: i64,
}

impl Paired {
    pub(crate) async fn start(
        b24: &Sim,
        wa: &wa_sim::Sim,
        base: &str,
        (member, line_name, line_phone): (&str, &str, &str),
        wait: Duration,
    ) -> Paired {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        until_within("the server to answer", wait, || {
            let (http, url) = (http.clone(), format!("{base}/healthz"));
            async move { http.get(url).send().await.ok().map(|_| ()) }
        })
        .await;
        let form = |path: &'static str| {
            let (q, body) = b24.frame_request(member, 1, "DEFAULT", &json!({})).unwrap();
            http.post(format!("{base}{path}?{q}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };
        assert_eq!(form("/b24/install").await.unwrap().status().as_u16(), 200);
        b24.finish_install(member);
        let token = token_of(&form("/b24/app").await.unwrap().text().await.unwrap());
        let mut paired = Paired { http, base: base.to_owned(), token, line: 0 };
        let r = paired.call(
            reqwest::Method::POST,
            "/api/lines".into(),
            Some(json!({"name": line_name})),
        );
        paired.line = r.await.unwrap().json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let qr = until_within("a QR code", wait, || {
            let r = paired.call(
                reqwest::Method::POST,
                format!("/api/lines/{}/connect", paired.line),
                None,
            );
            async move {
                let v: Value = r.await.ok()?.json().await.ok()?;
                v["qr"].as_str().map(str::to_owned)
            }
        })
        .await;
        wa.scan(&qr, line_phone).await.unwrap();
        paired
    }

    /// A request with the administrator's token.
    pub(crate) fn call(
        &self,
        method: reqwest::Method,
        path: String,
        body: Option<Value>,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + use<> {
        let mut rb =
            self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send()
    }
}

fn messages() -> usize {
    std::env::var("WAB24_RESTART_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    probe: impl FnMut() -> F,
) -> T {
    until_within(what, WAIT, probe).await
}

/// Polls `probe` every 100 ms until it gives a value; fails the test after `wait`.
pub(crate) async fn until_within<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    wait: Duration,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn get(http: &reqwest::Client, url: String, token: &str) -> Option<Value> {
    let r = http.get(url).bearer_auth(token).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// Every message of a conversation, oldest first (paged).
async fn history(http: &reqwest::Client, base: &str, token: &str, conv: i64) -> Vec<Value> {
    let mut all = vec![];
    let mut before = String::new();
    loop {
        let url = format!("{base}/api/conversations/{conv}/messages?limit=200{before}");
        let page = until("a history page", || get(http, url.clone(), token)).await;
        all.extend(page["messages"].as_array().unwrap().iter().cloned());
        match page["next"].as_i64() {
            Some(n) => before = format!("&before={n}"),
            None => break,
        }
    }
    all.reverse();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_duplicates_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n = messages();
    let dir = tempfile::tempdir().unwrap();
    let loopback: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();

    // Bitrix24 and WhatsApp, in this process: they outlive the server.
    let b24 = Sim::new(SimConfig::default());
    b24.start(loopback).await.unwrap();
    let mut spec = PortalSpec::new(MEMBER, "restart.test");
    spec.install_finished = false;
    b24.add_portal(spec);
    b24.set_rate_limit(MEMBER, b24_client::RateLimit { per_second: 1000.0, burst: 1000 });
    let wa = wa_sim::Sim::new(wa_sim::SimConfig { seed: Some(21), ..wa_sim::SimConfig::default() });
    for (i, phone) in LINE_PHONES.iter().chain(CUSTOMERS.iter()).enumerate() {
        wa.create_account(phone, Some(&format!("30000000000{i:04}"))).unwrap();
    }
    let ws = wa.serve_ws(loopback).await.unwrap();
    wa.serve_media(loopback, 1024 * 1024).await.unwrap();

    let (mut server, base) = Server::new(&b24, &wa, ws, dir.path(), &[]);
    let mut child = server.spawn();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    until("the server to answer", || {
        let http = http.clone();
        let url = format!("{base}/healthz");
        async move { http.get(url).send().await.ok().map(|_| ()) }
    })
    .await;

    // Installed by its administrator, who opens the app.
    let form = |path: &'static str| {
        let (q, body) = b24.frame_request(MEMBER, 1, "DEFAULT", &json!({})).unwrap();
        http.post(format!("{base}{path}?{q}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(form("/b24/install").await.unwrap().status().as_u16(), 200);
    b24.finish_install(MEMBER);
    let token = token_of(&form("/b24/app").await.unwrap().text().await.unwrap());
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut rb = http.request(method, format!("{base}{path}")).bearer_auth(&token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send()
    };

    // Two lines, paired by their phones.
    let mut lines = vec![];
    for (i, phone) in LINE_PHONES.iter().enumerate() {
        let r = call(
            reqwest::Method::POST,
            "/api/lines".into(),
            Some(json!({"name": format!("L{i}")})),
        );
        let line = r.await.unwrap().json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let qr = until("a QR code", || {
            let r = call(reqwest::Method::POST, format!("/api/lines/{line}/connect"), None);
            async move {
                let v: Value = r.await.ok()?.json().await.ok()?;
                v["qr"].as_str().map(str::to_owned)
            }
        })
        .await;
        wa.scan(&qr, phone).await.unwrap();
        lines.push(line);
    }
    let connected = |lines: Vec<i64>| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let v = get(&http, format!("{base}/api/lines"), &token).await?;
            let all = v["lines"].as_array()?;
            lines
                .iter()
                .all(|id| all.iter().any(|l| l["id"] == *id && l["state"] == "connected"))
                .then_some(())
        }
    };
    until("both lines connected", || connected(lines.clone())).await;

    // Customer c writes to line c / 2 first, which makes the conversations.
    let line_of = |c: usize| LINE_PHONES[c / 2];
    for (c, customer) in CUSTOMERS.iter().enumerate() {
        let m = PhoneMessage {
            to: line_of(c).to_owned(),
            content: PhoneContent::Text(format!("hello-{c}")),
            quoted: None,
        };
        wa.phone_send(customer, m).await.unwrap();
    }
    let mut convs: HashMap<String, i64> = HashMap::new();
    for line in &lines {
        let list = until("conversations", || {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            let line = *line;
            async move {
                let v =
                    get(&http, format!("{base}/api/lines/{line}/conversations"), &token).await?;
                let list = v["conversations"].as_array()?.clone();
                (list.len() == 2).then_some(list)
            }
        })
        .await;
        for c in list {
            convs.insert(
                c["contact"]["phone"].as_str().unwrap().to_owned(),
                c["id"].as_i64().unwrap(),
            );
        }
    }
    let conv_of: Vec<i64> = CUSTOMERS.iter().map(|c| convs[*c]).collect();

    // The streams: customers write n messages; a sender posts n replies, retrying each with its
    // key until the server takes it.
    let sent_in = Arc::new(AtomicUsize::new(0));
    let posted_out = Arc::new(AtomicUsize::new(0));
    let inbound = {
        let (wa, sent_in, posted_out) = (wa.clone(), sent_in.clone(), posted_out.clone());
        tokio::spawn(async move {
            for i in 0..n {
                // In step with the replies, so that the kill falls in the middle of both.
                while posted_out.load(Ordering::SeqCst) + 10 < i {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let c = i % CUSTOMERS.len();
                let m = PhoneMessage {
                    to: LINE_PHONES[c / 2].to_owned(),
                    content: PhoneContent::Text(format!("in-{i}")),
                    quoted: None,
                };
                wa.phone_send(CUSTOMERS[c], m).await.unwrap();
                sent_in.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let outbound = {
        let (http, base, token, posted_out) =
            (http.clone(), base.clone(), token.clone(), posted_out.clone());
        let conv_of = conv_of.clone();
        tokio::spawn(async move {
            let mut retries = 0usize;
            for i in 0..n {
                let conv = conv_of[i % CUSTOMERS.len()];
                let body =
                    json!({"text": format!("out-{i}"), "idempotency_key": format!("out-{i}")});
                loop {
                    let r = http
                        .post(format!("{base}/api/conversations/{conv}/messages"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status().as_u16() == 202) {
                        break;
                    }
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                posted_out.fetch_add(1, Ordering::SeqCst);
            }
            retries
        })
    };

    // SIGKILL a third of the way through both streams, then start again.
    until("a third of both streams", || {
        let done =
            sent_in.load(Ordering::SeqCst) >= n / 3 && posted_out.load(Ordering::SeqCst) >= n / 3;
        async move { done.then_some(()) }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = (sent_in.load(Ordering::SeqCst), posted_out.load(Ordering::SeqCst));
    let mut child = server.spawn();
    until("both lines reconnected by themselves", || connected(lines.clone())).await;
    inbound.await.unwrap();
    let retries = outbound.await.unwrap();
    assert!(at_kill.0 < n && at_kill.1 < n, "the kill came before the streams ended: {at_kill:?}");
    assert!(retries > 0, "some sends were refused while the server was down");

    // Everything arrives: n + 4 inbound and n outbound, each once.
    let mut stored: Vec<Vec<Value>> = vec![];
    until("every message stored and sent", || {
        let (http, base, token, conv_of) =
            (http.clone(), base.clone(), token.clone(), conv_of.clone());
        async move {
            let mut all = vec![];
            for conv in conv_of {
                all.push(history(&http, &base, &token, conv).await);
            }
            let total: usize = all.iter().map(Vec::len).sum();
            let pending = all.iter().flatten().any(|m| m["status"] == "pending");
            (total >= 2 * n + CUSTOMERS.len() && !pending).then_some(all)
        }
    })
    .await
    .clone_into(&mut stored);
    for (c, messages) in stored.iter().enumerate() {
        let ins: Vec<&str> = messages
            .iter()
            .filter(|m| m["direction"] == "in")
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        let mut want = vec![format!("hello-{c}")];
        want.extend((c..n).step_by(CUSTOMERS.len()).map(|i| format!("in-{i}")));
        assert_eq!(ins, want, "customer {c}: inbound once each and in order");
        let mut outs: Vec<&str> = messages
            .iter()
            .filter(|m| m["direction"] == "out")
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        outs.sort_unstable();
        let mut want: Vec<String> =
            (c..n).step_by(CUSTOMERS.len()).map(|i| format!("out-{i}")).collect();
        want.sort_unstable();
        assert_eq!(outs, want, "customer {c}: outbound stored once each");
        // The customer's phone got each reply under one WhatsApp id.
        let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in wa.phone_received(CUSTOMERS[c]).unwrap() {
            if let Some(t) = m.text.filter(|t| t.starts_with("out-")) {
                ids.entry(t).or_default().push(m.id);
            }
        }
        assert_eq!(ids.len(), want.len(), "customer {c}: every reply arrived");
        for (text, mut list) in ids {
            list.dedup();
            assert_eq!(list.len(), 1, "{text} arrived under several ids: {list:?}");
        }
    }
    eprintln!(
        "restart: {n} in + {n} out, killed at {} in / {} out, {retries} refused posts retried",
        at_kill.0, at_kill.1
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
