//! What the server holds for whom: authentication before any body is read, JSON bodies checked
//! (415, 413 also when chunked, 400), uploads streamed with bounded memory, capped per tenant
//! and in all, within a storage quota, checked by their first bytes, leaving no file when
//! refused; slow, silent and surplus connections closed; the app page's CSP; `/metrics`
//! behind a token; private files.
//!
//! The memory tests read the process's resident size, so each runs alone in a process of its
//! own (the test binary started again on that one test), where no other test allocates.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::app::{ALPHA, App, BETA, METRICS_TOKEN, start, start_with};

const MIB: usize = 1024 * 1024;

/// A line with one conversation on `member`; the conversation's id.
async fn conversation(app: &App, member: &str, admin: &str) -> i64 {
    let line = app.call("POST", "/api/lines", Some(admin), Some(json!({"name": "L"}))).await;
    assert_eq!(line.status, 201, "{}", line.body);
    let line = line.json()["id"].as_i64().unwrap();
    app.inbound(member, line, "79160000555@s.whatsapp.net", "c", &format!("{member}-w1"), "hi")
        .await
}

fn host(app: &App) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

async fn connect(app: &App) -> TcpStream {
    TcpStream::connect(host(app)).await.unwrap()
}

/// The head of a request with a body of `length` bytes (`None`: chunked).
fn head(
    method: &str,
    path: &str,
    token: Option<&str>,
    kind: &str,
    length: Option<usize>,
) -> String {
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let length = match length {
        Some(n) => format!("content-length: {n}\r\n"),
        None => "transfer-encoding: chunked\r\n".to_owned(),
    };
    format!("{method} {path} HTTP/1.1\r\nhost: wab24\r\n{auth}content-type: {kind}\r\n{length}\r\n")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one answer: its status and body (by `content-length`).
async fn read_answer(stream: &mut (impl AsyncRead + Unpin)) -> (u16, String) {
    let mut buf = Vec::new();
    let mut part = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let status = head[9..12].parse().unwrap();
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut part).await.unwrap();
                assert!(n > 0, "closed inside the body");
                buf.extend_from_slice(&part[..n]);
            }
            return (status, String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned());
        }
        let n = stream.read(&mut part).await.unwrap();
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&part[..n]);
    }
}

/// Whether the server closes `stream` (end of file or reset) within a minute, reading
/// whatever it sends first.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut part = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match stream.read(&mut part).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Every file under `dir` (none if it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

fn tenant_dir(app: &App, member: &str) -> PathBuf {
    app._dir.path().join("tenants").join(member)
}

/// Waits (at most a minute) until `dir` holds `n` files.
async fn until_files(dir: &Path, n: usize) {
    for _ in 0..600 {
        if files_under(dir).len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} holds {:?}, not {n} files", dir.display(), files_under(dir));
}

async fn post_bytes(app: &App, token: &str, path: &str, kind: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", kind)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

// ---- JSON bodies -------------------------------------------------------------------------

#[tokio::test]
async fn json_bodies_are_read_after_the_token_and_answer_413_415_400() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let send = |method: &'static str,
                path: String,
                token: Option<String>,
                kind: &'static str,
                body: Vec<u8>| {
        let app = &app;
        async move {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut rb =
                app.http.request(m, app.url(&path)).header("content-type", kind).body(body);
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let admin_t = Some(admin.clone());
    // An anonymous caller learns nothing about the body's fields, whatever it sends.
    for body in [b"{\"nom\": 1}".to_vec(), b"{".to_vec(), vec![b' '; 70 * 1024]] {
        let (status, text) =
            send("POST", "/api/lines".into(), None, "application/json", body).await;
        assert_eq!(status, 401, "{text}");
        assert!(!text.contains("name") && !text.contains("field"), "{text}");
    }
    // The billing hook checks its secret before the body too.
    let (status, text) =
        send("POST", "/api/hooks/plan".into(), None, "application/json", b"{\"x\": 1}".to_vec())
            .await;
    assert_eq!(status, 401, "{text}");
    assert!(!text.contains("member_id"), "{text}");
    // Wrong content type, too large (a route with other methods on the same path: not 405).
    let (status, text) =
        send("POST", "/api/lines".into(), admin_t.clone(), "text/plain", b"{}".to_vec()).await;
    assert_eq!((status, text.contains("unsupported_media_type")), (415, true), "{text}");
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024)).into_bytes();
    let (status, text) =
        send("POST", "/api/lines".into(), admin_t.clone(), "application/json", big.clone()).await;
    assert_eq!((status, text.contains("too_large")), (413, true), "{text}");
    let (status, _) = send(
        "PUT",
        "/api/lines/1/assignment".into(),
        admin_t.clone(),
        "application/json",
        big.clone(),
    )
    .await;
    assert_eq!(status, 413);
    // Malformed; a missing field is named to the authenticated caller.
    let (status, _) =
        send("POST", "/api/lines".into(), admin_t.clone(), "application/json", b"{".to_vec()).await;
    assert_eq!(status, 400);
    let (status, text) = send(
        "POST",
        "/api/lines".into(),
        admin_t.clone(),
        "application/json",
        b"{\"nom\": 1}".to_vec(),
    )
    .await;
    assert_eq!((status, text.contains("name")), (400, true), "{text}");

    // Chunked: accepted under the limit, 413 over it (the server stops reading).
    let chunked = |body: &[u8]| {
        let mut req = head("POST", "/api/lines", Some(&admin), "application/json", None);
        req = req.replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n");
        let mut bytes = req.into_bytes();
        for piece in body.chunks(1000) {
            bytes.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            bytes.extend_from_slice(piece);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        bytes
    };
    let mut s = connect(&app).await;
    s.write_all(&chunked(b"{\"name\": \"Chunked\"}")).await.unwrap();
    let (status, text) = read_answer(&mut s).await;
    assert_eq!(status, 201, "{text}");
    let mut s = connect(&app).await;
    let (mut rd, mut wr) = s.split();
    let req = chunked(&big);
    let (_, (status, text)) = tokio::join!(wr.write_all(&req), read_answer(&mut rd));
    assert_eq!((status, text.contains("too_large")), (413, true), "{text}");
    let lines = app.get("/api/lines", &admin).await.json();
    assert_eq!(lines["lines"].as_array().unwrap().len(), 1, "only the chunked line: {lines}");
}

// ---- Uploads -----------------------------------------------------------------------------

/// Runs the named test alone in a new process of this binary (see the module's comment) and
/// says whether the caller is that process.
fn alone(name: &str) -> bool {
    const CHILD: &str = "WAB24_TEST_ALONE";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// A field of `/proc/self/status` in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

#[test]
fn anonymous_and_out_of_scope_uploads_hold_no_memory_and_leave_no_file() {
    if !alone("hardening::anonymous_and_out_of_scope_uploads_hold_no_memory_and_leave_no_file") {
        return;
    }
    runtime().block_on(async {
        let app = start().await;
        app.install(ALPHA).await;
        let admin = app.token(ALPHA, 1).await;
        let outsider = app.token(ALPHA, 2).await;
        let conv = conversation(&app, ALPHA, &admin).await;
        let chunk = Arc::new(vec![b'%'; MIB]);
        let path = format!("/api/conversations/{conv}/media?kind=document&file_name=a.pdf");
        let before = status_bytes("VmRSS:");
        // Eight callers each announce 64 MiB and send half of it, then hold the connection.
        let mut held = vec![];
        for n in 0..8 {
            let token = (n % 2 == 1).then_some(outsider.as_str());
            let s = connect(&app).await;
            let (mut rd, mut wr) = s.into_split();
            let req = head("POST", &path, token, "application/pdf", Some(64 * MIB));
            let chunk = chunk.clone();
            let writer = tokio::spawn(async move {
                wr.write_all(req.as_bytes()).await?;
                for _ in 0..32 {
                    wr.write_all(&chunk).await?;
                }
                Ok::<_, std::io::Error>(wr)
            });
            let answer = tokio::time::timeout(Duration::from_secs(60), read_answer(&mut rd))
                .await
                .expect("an answer before the body is read");
            let want = if token.is_some() { 404 } else { 401 };
            assert_eq!(answer.0, want, "{}", answer.1);
            held.push((rd, writer));
        }
        let grown = status_bytes("VmRSS:").saturating_sub(before);
        eprintln!("resident memory grew by {} KiB", grown / 1024);
        assert!(grown < 8 * MIB, "resident memory grew by {} KiB", grown / 1024);
        assert!(files_under(&tenant_dir(&app, ALPHA)).is_empty());
        drop(held);
    });
}

#[test]
fn an_authorised_upload_is_streamed_to_disk() {
    if !alone("hardening::an_authorised_upload_is_streamed_to_disk") {
        return;
    }
    runtime().block_on(async {
        let app = start().await;
        app.install(ALPHA).await;
        let admin = app.token(ALPHA, 1).await;
        let conv = conversation(&app, ALPHA, &admin).await;
        let mut chunk = vec![b'7'; MIB];
        chunk[..5].copy_from_slice(b"%PDF-");
        let size = 64 * MIB;
        let path = format!("/api/conversations/{conv}/media?kind=document&file_name=big.pdf");
        let before = status_bytes("VmRSS:");
        // The peak from here on.
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let s = connect(&app).await;
        let (mut rd, mut wr) = s.into_split();
        let req = head("POST", &path, Some(&admin), "application/pdf", Some(size));
        wr.write_all(req.as_bytes()).await.unwrap();
        for _ in 0..64 {
            wr.write_all(&chunk).await.unwrap();
        }
        let (status, body) = read_answer(&mut rd).await;
        assert_eq!(status, 202, "{body}");
        let peak = status_bytes("VmHWM:").saturating_sub(before);
        eprintln!("the peak rose by {} KiB for a 64 MiB upload", peak / 1024);
        assert!(peak < size / 4, "the peak rose by {} MiB for a 64 MiB upload", peak / MIB);
        let files = files_under(&tenant_dir(&app, ALPHA).join("media"));
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(std::fs::metadata(&files[0]).unwrap().len(), size as u64);
        assert!(files_under(&tenant_dir(&app, ALPHA).join("uploads")).is_empty());
    });
}

#[tokio::test]
async fn uploads_are_capped_per_tenant_and_in_all_and_partial_files_removed() {
    let app = start_with(|s| {
        s.limits.uploads_per_tenant = 2;
        s.limits.uploads_total = 3;
    })
    .await;
    app.install(ALPHA).await;
    app.install(BETA).await;
    let admin = app.token(ALPHA, 1).await;
    let beta = app.token(BETA, 1).await;
    let conv = conversation(&app, ALPHA, &admin).await;
    let conv_b = conversation(&app, BETA, &beta).await;
    let staging = |m: &str| tenant_dir(&app, m).join("uploads");
    // Uploads under way: announced, partly sent, held open.
    let hold = |token: String, conv: i64| {
        let app = &app;
        async move {
            let mut s = connect(app).await;
            let path = format!("/api/conversations/{conv}/media?kind=document");
            let req = head("POST", &path, Some(&token), "text/plain", Some(MIB));
            s.write_all(req.as_bytes()).await.unwrap();
            s.write_all(&[b'a'; 1000]).await.unwrap();
            s
        }
    };
    let a1 = hold(admin.clone(), conv).await;
    let a2 = hold(admin.clone(), conv).await;
    until_files(&staging(ALPHA), 2).await;
    let upload = |token: String, conv: i64| {
        let app = &app;
        async move {
            let path = format!("/api/conversations/{conv}/media?kind=document");
            post_bytes(app, &token, &path, "text/plain", b"note".to_vec()).await
        }
    };
    let (status, body) = upload(admin.clone(), conv).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_uploads")));
    let b1 = hold(beta.clone(), conv_b).await;
    until_files(&staging(BETA), 1).await;
    let (status, body) = upload(beta.clone(), conv_b).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("unavailable")), "{body}");
    // A broken-off upload frees its place and leaves no file.
    drop(a1);
    until_files(&staging(ALPHA), 1).await;
    let (status, body) = upload(admin.clone(), conv).await;
    assert_eq!(status, 202, "{body}");
    drop((a2, b1));
    until_files(&staging(ALPHA), 0).await;
    until_files(&staging(BETA), 0).await;
    assert_eq!(files_under(&tenant_dir(&app, BETA).join("media")), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn the_storage_quota_names_current_and_maximum() {
    let app = start_with(|s| s.limits.storage_per_tenant = MIB as u64).await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let conv = conversation(&app, ALPHA, &admin).await;
    let path = format!("/api/conversations/{conv}/media?kind=document&file_name=a.bin");
    let (status, body) = post_bytes(&app, &admin, &path, "text/plain", vec![1; 600_000]).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post_bytes(&app, &admin, &path, "text/plain", vec![2; 600_000]).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["current"].as_u64(),
            body["error"]["max"].as_u64()
        ),
        (Some("storage_quota_exceeded"), Some(600_000), Some(MIB as u64)),
        "{body}"
    );
    assert_eq!(files_under(&tenant_dir(&app, ALPHA)).len(), 1);
}

#[tokio::test]
async fn images_and_videos_are_judged_by_their_first_bytes_and_names_lose_bidi_controls() {
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let conv = conversation(&app, ALPHA, &admin).await;
    let media = |q: &str| format!("/api/conversations/{conv}/media?{q}");
    let pdf = b"%PDF-1.7\n1 0 obj << >> endobj\n".to_vec();
    let (status, body) =
        post_bytes(&app, &admin, &media("kind=image"), "image/jpeg", pdf.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (415, Some("unsupported_media_type")));
    let (status, _) =
        post_bytes(&app, &admin, &media("kind=video"), "video/mp4", pdf.clone()).await;
    assert_eq!(status, 415);
    let (status, _) =
        post_bytes(&app, &admin, &media("kind=image"), "image/png", b"\x89PN".to_vec()).await;
    assert_eq!(status, 415, "shorter than a PNG signature");
    let (status, _) =
        post_bytes(&app, &admin, &media("kind=voice"), "audio/webm", b"not a webm".to_vec()).await;
    assert_eq!(status, 400);
    assert!(files_under(&tenant_dir(&app, ALPHA)).is_empty());
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend_from_slice(&[9; 100]);
    let (status, body) = post_bytes(&app, &admin, &media("kind=image"), "image/jpeg", jpeg).await;
    assert_eq!(status, 202, "{body}");
    let mut mp4 = b"\0\0\0\x18ftypmp42".to_vec();
    mp4.extend_from_slice(&[0; 100]);
    let (status, body) = post_bytes(&app, &admin, &media("kind=video"), "video/mp4", mp4).await;
    assert_eq!(status, 202, "{body}");
    // `invoice<RLO>fdp.exe` would show as `invoiceexe.pdf`.
    let q = "kind=document&file_name=invoice%E2%80%AEfdp.exe";
    let (status, body) = post_bytes(&app, &admin, &media(q), "application/pdf", pdf).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["media"]["file_name"], "invoicefdp.exe", "{body}");
    let id = body["id"].as_i64().unwrap();
    let r = app
        .http
        .get(app.url(&format!("/api/messages/{id}/media")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.contains("invoicefdp.exe") && !disposition.contains("%E2%80%AE"));
}

#[tokio::test]
async fn data_files_and_folders_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let app = start().await;
    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let conv = conversation(&app, ALPHA, &admin).await;
    let path = format!("/api/conversations/{conv}/media?kind=document&file_name=p.txt");
    assert_eq!(post_bytes(&app, &admin, &path, "text/plain", b"secret".to_vec()).await.0, 202);
    let data = app._dir.path();
    for dir in [data.to_owned(), data.join("tenants"), tenant_dir(&app, ALPHA).join("media")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    let mut files = files_under(&tenant_dir(&app, ALPHA).join("media"));
    files.push(data.join("control.db"));
    files.push(data.join("tenants").join(format!("{ALPHA}.db")));
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        assert_eq!(mode(file.parent().unwrap()), 0o700, "{}", file.display());
    }
}

// ---- Connections -------------------------------------------------------------------------

#[tokio::test]
async fn slow_silent_and_stalled_connections_are_closed_but_event_streams_are_not() {
    let app = start_with(|s| {
        s.limits.header_timeout = Duration::from_millis(500);
        s.limits.idle_timeout = Duration::from_millis(1500);
    })
    .await;
    // Silent from the start.
    let mut silent = connect(&app).await;
    assert!(closed_by_server(&mut silent).await, "a silent connection stays open");
    // Headers a byte at a time.
    let mut slow = connect(&app).await;
    let trickle = async {
        slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        for _ in 0..600 {
            if slow.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    trickle.await;
    assert!(closed_by_server(&mut slow).await, "slow headers kept the connection open");
    // Kept alive after an answer, then silent.
    let mut kept = connect(&app).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    assert_eq!(read_answer(&mut kept).await, (200, "ok".to_owned()));
    assert!(closed_by_server(&mut kept).await, "an idle kept-alive connection stays open");

    app.install(ALPHA).await;
    let admin = app.token(ALPHA, 1).await;
    let conv = conversation(&app, ALPHA, &admin).await;
    // A body that stops coming: the connection closes and the partial file goes.
    let mut stalled = connect(&app).await;
    let path = format!("/api/conversations/{conv}/media?kind=document");
    let req = head("POST", &path, Some(&admin), "text/plain", Some(MIB));
    stalled.write_all(req.as_bytes()).await.unwrap();
    stalled.write_all(&[b'a'; 1000]).await.unwrap();
    assert!(closed_by_server(&mut stalled).await, "a stalled body kept the connection open");
    until_files(&tenant_dir(&app, ALPHA), 0).await;

    // An event stream outlives the idle timeout several times over.
    let mut events =
        app.http.get(app.url(&format!("/api/events?access_token={admin}"))).send().await.unwrap();
    assert_eq!(events.status(), 200);
    let open = tokio::time::Instant::now();
    let mut chunks = 0;
    while open.elapsed() < Duration::from_secs(5) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk()).await;
        assert!(matches!(chunk, Ok(Ok(Some(_)))), "the stream ended: {chunk:?}");
        chunks += 1;
    }
    assert!(chunks > 3, "{chunks} chunks");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_answered_503() {
    let app = start_with(|s| s.limits.max_connections = 2).await;
    let mut open = vec![];
    for _ in 0..2 {
        let mut s = connect(&app).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        assert_eq!(read_answer(&mut s).await.0, 200);
        open.push(s);
    }
    let mut third = connect(&app).await;
    let (status, body) = read_answer(&mut third).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], "unavailable");
    // A closed connection frees its place.
    drop(open.pop());
    for attempt in 0.. {
        let mut s = connect(&app).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        match read_answer(&mut s).await.0 {
            200 => break,
            503 if attempt < 100 => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("answered {other}"),
        }
    }
}

// ---- Pages and metrics -------------------------------------------------------------------

#[tokio::test]
async fn the_app_pages_allow_no_inline_script() {
    let app = start().await;
    let install = app.install_frame(ALPHA, 1).await;
    app.sim.finish_install(ALPHA);
    let opened = app.open_app(ALPHA, 2).await;
    for page in [&install, &opened] {
        assert_eq!(page.status, 200, "{}", page.body);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        let script_src = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src"));
        let script_src = script_src.unwrap_or_else(|| panic!("no script-src in {csp}"));
        assert!(!script_src.contains("unsafe-inline"), "{csp}");
        // Every script element loads a file or is data, never inline code.
        for tag in page.body.split("<script").skip(1) {
            let open_tag = &tag[..tag.find('>').unwrap()];
            assert!(
                open_tag.contains(" src=") || open_tag.contains("type=\"application/json\""),
                "inline script: <script{open_tag}>"
            );
        }
    }
    let r = app.http.get(app.url("/ui/install.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("BX24.installFinish()"));
}

#[tokio::test]
async fn metrics_ask_for_their_token_or_a_listener_of_their_own() {
    let app = start().await;
    let get = |token: Option<&'static str>| {
        let app = &app;
        async move { app.call("GET", "/metrics", token, None).await }
    };
    assert_eq!(get(None).await.status, 401);
    assert_eq!(get(Some("wrong-token-wrong-token")).await.status, 403);
    let ok = get(Some(METRICS_TOKEN)).await;
    assert_eq!(ok.status, 200);
    assert!(ok.body.contains("wab24_sse_clients"));
    // Without a token configured, the API's listener does not serve it at all...
    let closed = start_with(|s| s.metrics_token = None).await;
    assert_eq!(closed.call("GET", "/metrics", Some(METRICS_TOKEN), None).await.status, 404);
    // ...and a listener of its own (on an address the operator chose) serves it alone.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(wab24::serve::serve_http(
        listener,
        wab24::http::router::metrics_routes(closed.state.clone()),
        closed.state.settings().limits.clone(),
        std::future::pending(),
    ));
    let m = closed.http.get(format!("http://{addr}/metrics")).send().await.unwrap();
    assert_eq!(m.status(), 200);
    let other = closed.http.get(format!("http://{addr}/api/me")).send().await.unwrap();
    assert_eq!(other.status(), 404);
}
