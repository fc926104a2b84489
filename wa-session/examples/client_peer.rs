//! A [`Client`] driven by JSON lines, for the live interop check against Baileys
//! (`interop/checks/wa-sim-client.mjs`): commands on stdin, events on stdout, one JSON object a
//! line. The device lives in a [`MemoryStore`] and is gone when the process ends.
//!
//! ```text
//! WA_URL=ws://127.0.0.1:PORT/ws/chat WA_ROOT_KEY=HEX WA_CERT_PEM="$(certificate_pem)" \
//!     cargo run --release -p wa-session --example client_peer
//! ```
//!
//! `WA_URL` and `WA_ROOT_KEY` are `ws_url` (or `wss_url`) and `root_key` as `wa-sim serve` prints
//! them; `WA_CERT_PEM` (optional) is its `certificate_pem`, trusted for `wss://` and for the
//! media host.
//!
//! Events: `{"event":"qr","code"}` (the driver scans it through wa-sim's control API),
//! `paired`, `connected`, `disconnected`, `logged_out`, `message` (id, chat, sender, from_me,
//! type, content, text, quoted_id, reaction, media with the downloaded bytes' sha256, size and
//! base64), `receipt` (kind, ids, sender, chat), `ack` (the server accepted a message of ours).
//!
//! Commands, each with an optional `req` that the answer repeats: `send_text {to, text}`,
//! `send_reply {to, text, quoted}`, `send_reaction {to, target, emoji}` (`quoted` and `target`
//! are ids of messages this peer sent or received), `send_media {to, kind, data_b64 | path,
//! mimetype, caption, file_name, seconds, width, height}` (kind: image, video, document, audio,
//! voice_note, sticker), `mark_read {chat, sender, ids}`, `close`. The answer is
//! `{"event":"sent","req","op","id",...}` or `{"event":"error","req","op","error"}`; commands run
//! concurrently, so answers may come in another order than the commands.
//!
//! Every message is confirmed (`MessageAck::ack`) after its event is written, media after the
//! download was tried: this peer stores nothing else.

use std::{
    collections::HashMap,
    io::Write as _,
    sync::{Arc, Mutex, PoisonError},
};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use wa_proto::{Jid, proto::e2e};
use wa_session::{
    KeyPair, PublicKey,
    client::{Client, Config, Event, MediaKind, MediaOptions, MediaRef, Quoted},
    message::{MessageInfo, Receipt, ReceiptKind},
    signal::generate_registration_id,
    store::MemoryStore,
};

/// Downloaded media up to this size is echoed in the event as base64 (the sha256 always is).
const MAX_ECHOED_MEDIA: usize = 4 << 20;

/// Writes one JSON line to stdout. A closed stdout (the driver went away) is not an error here:
/// the peer ends when stdin closes.
fn emit(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// The certificates of a PEM text, as DER.
fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>> {
    let mut certificates = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            body = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE") {
            let text = body.take().context("END CERTIFICATE without BEGIN")?;
            certificates.push(BASE64.decode(text).context("certificate is not base64")?);
        } else if let Some(text) = body.as_mut() {
            text.push_str(line);
        }
    }
    if certificates.is_empty() {
        bail!("WA_CERT_PEM holds no certificate");
    }
    Ok(certificates)
}

/// The client's configuration from `WA_URL`, `WA_ROOT_KEY` and `WA_CERT_PEM`.
fn config() -> Result<Config> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = env("WA_URL").context("WA_URL: the simulator's ws_url")?;
    let root = env("WA_ROOT_KEY").context("WA_ROOT_KEY: the simulator's root_key (hex)")?;
    let root_key = PublicKey::from_slice(&hex::decode(root.trim()).context("WA_ROOT_KEY hex")?)?;
    let tls_roots = env("WA_CERT_PEM").map(|pem| pem_certificates(&pem)).transpose()?;
    Ok(Config { url, root_key, tls_roots, ..Config::default() })
}

/// Messages this peer sent or received, by id: what `send_reply` quotes and `send_reaction`
/// reacts to.
#[derive(Clone, Default)]
struct Known(Arc<Mutex<HashMap<String, Quoted>>>);

impl Known {
    fn insert(&self, quoted: Quoted) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(quoted.id.clone(), quoted);
    }

    fn get(&self, id: &str) -> Result<Quoted> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .with_context(|| format!("no message {id} was sent or received here"))
    }
}

fn text(request: &Value, field: &str) -> Result<String> {
    request[field].as_str().map(str::to_owned).with_context(|| format!("missing string {field}"))
}

fn jid(request: &Value, field: &str) -> Result<Jid> {
    text(request, field)?.parse().map_err(|e| anyhow!("{field} is not a JID: {e}"))
}

fn optional_u32(request: &Value, field: &str) -> Result<Option<u32>> {
    match &request[field] {
        Value::Null => Ok(None),
        value => {
            let n = value.as_u64().with_context(|| format!("{field} is not a number"))?;
            Ok(Some(u32::try_from(n).with_context(|| format!("{field} is too large"))?))
        }
    }
}

fn optional_text(request: &Value, field: &str) -> Option<String> {
    request[field].as_str().map(str::to_owned)
}

fn media_kind(name: &str) -> Result<MediaKind> {
    Ok(match name {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "document" => MediaKind::Document,
        "audio" => MediaKind::Audio,
        "voice_note" => MediaKind::VoiceNote,
        "sticker" => MediaKind::Sticker,
        other => bail!("unknown media kind {other}"),
    })
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Document => "document",
        MediaKind::Audio => "audio",
        MediaKind::VoiceNote => "voice_note",
        MediaKind::Sticker => "sticker",
        _ => "media",
    }
}

/// The bytes of a `send_media` command: `data_b64`, or the file at `path`.
async fn media_bytes(request: &Value) -> Result<Vec<u8>> {
    if let Some(data) = request["data_b64"].as_str() {
        return BASE64.decode(data).context("data_b64 is not base64");
    }
    let path = text(request, "path").context("send_media needs data_b64 or path")?;
    tokio::fs::read(&path).await.with_context(|| format!("reading {path}"))
}

/// Runs one command; returns the fields of its `sent` answer.
async fn run(client: &Client, known: &Known, own: &Jid, request: &Value) -> Result<Value> {
    let op = text(request, "op")?;
    if op == "mark_read" {
        let ids = request["ids"]
            .as_array()
            .context("missing ids")?
            .iter()
            .map(|id| id.as_str().map(str::to_owned).context("ids are strings"))
            .collect::<Result<Vec<_>>>()?;
        client.mark_read(&jid(request, "chat")?, &jid(request, "sender")?, &ids)?;
        return Ok(json!({ "ids": ids }));
    }
    let to = jid(request, "to")?;
    let mut answer = json!({});
    // The content kept for quoting and reacting later. The reply and reaction helpers build their
    // message inside; only reacting to them is needed, which takes the id alone.
    let (sent, content) = match op.as_str() {
        "send_text" => {
            let message =
                e2e::Message { conversation: Some(text(request, "text")?), ..Default::default() };
            (client.send_message(&to, message.clone()).await?, message)
        }
        "send_reply" => {
            let quoted = known.get(&text(request, "quoted")?)?;
            let sent = client.send_reply(&to, &text(request, "text")?, &quoted).await?;
            (sent, e2e::Message::default())
        }
        "send_reaction" => {
            let target = known.get(&text(request, "target")?)?;
            let sent = client.send_reaction(&to, &target, &text(request, "emoji")?).await?;
            (sent, e2e::Message::default())
        }
        "send_media" => {
            let kind = media_kind(&text(request, "kind")?)?;
            let bytes = media_bytes(request).await?;
            let options = MediaOptions {
                mimetype: optional_text(request, "mimetype"),
                caption: optional_text(request, "caption"),
                file_name: optional_text(request, "file_name"),
                width: optional_u32(request, "width")?,
                height: optional_u32(request, "height")?,
                seconds: optional_u32(request, "seconds")?,
            };
            let message = client.upload_bytes(kind, &bytes).await?.message(&options);
            answer["sha256"] = json!(hex::encode(Sha256::digest(&bytes)));
            answer["size"] = json!(bytes.len());
            (client.send_message(&to, message.clone()).await?, message)
        }
        other => bail!("unknown op {other}"),
    };
    known.insert(Quoted {
        id: sent.id.clone(),
        sender: own.clone(),
        from_me: true,
        message: content,
    });
    answer["id"] = json!(sent.id);
    answer["timestamp"] = json!(sent.timestamp);
    answer["devices"] = json!(sent.devices);
    Ok(answer)
}

/// The sender in the other addressing than the reported `sender`. The Client reports a
/// LID-addressed sender by phone number, and `sender_alt` (from `sender_pn`) is then the same
/// phone number: the LID comes from the Client's LID <-> phone number map instead.
fn alternate_sender(info: &MessageInfo, lookup: impl Fn(&Jid) -> Option<Jid>) -> Option<Jid> {
    let other = |jid: &Jid| jid.server != info.sender.server;
    info.sender_alt.clone().filter(other).or_else(|| lookup(&info.sender).filter(other))
}

/// What a received message holds, as the `message` event; `alternate` is the sender in the
/// other addressing ([`alternate_sender`]).
fn describe(info: &MessageInfo, message: &e2e::Message, alternate: Option<&Jid>) -> Value {
    let mut out = json!({
        "event": "message",
        "id": info.id,
        "chat": info.chat.to_string(),
        "sender": info.sender.to_string(),
        "sender_alt": alternate.map(ToString::to_string),
        "from_me": info.from_me,
        "type": info.kind,
        "push_name": info.push_name,
    });
    let (content, text, context) = if let Some(text) = &message.conversation {
        ("text", Some(text.clone()), None)
    } else if let Some(m) = &message.extended_text_message {
        ("text", m.text.clone(), m.context_info.as_deref())
    } else if let Some(reaction) = &message.reaction_message {
        out["reaction"] = json!({
            "target": reaction.key.as_ref().and_then(|k| k.id.clone()),
            "target_from_me": reaction.key.as_ref().and_then(|k| k.from_me),
            "emoji": reaction.text,
        });
        ("reaction", None, None)
    } else if let Ok(media) = MediaRef::from_message(message) {
        let (mimetype, caption, file_name, seconds, ptt, context) =
            if let Some(m) = &message.image_message {
                (m.mimetype.clone(), m.caption.clone(), None, None, None, m.context_info.as_deref())
            } else if let Some(m) = &message.video_message {
                (
                    m.mimetype.clone(),
                    m.caption.clone(),
                    None,
                    m.seconds,
                    None,
                    m.context_info.as_deref(),
                )
            } else if let Some(m) = &message.document_message {
                let context = m.context_info.as_deref();
                (m.mimetype.clone(), m.caption.clone(), m.file_name.clone(), None, None, context)
            } else if let Some(m) = &message.audio_message {
                (m.mimetype.clone(), None, None, m.seconds, m.ptt, m.context_info.as_deref())
            } else if let Some(m) = &message.sticker_message {
                (m.mimetype.clone(), None, None, None, None, m.context_info.as_deref())
            } else {
                (None, None, None, None, None, None)
            };
        out["media"] = json!({
            "kind": kind_name(media.kind),
            "mimetype": mimetype,
            "caption": caption,
            "file_name": file_name,
            "seconds": seconds,
            "ptt": ptt,
            "file_length": media.file_length,
        });
        (kind_name(media.kind), None, context)
    } else {
        ("other", None, None)
    };
    out["content"] = json!(content);
    out["text"] = json!(text);
    out["quoted_id"] = json!(context.and_then(|c| c.stanza_id.clone()));
    out["quoted_participant"] = json!(context.and_then(|c| c.participant.clone()));
    out
}

fn receipt_event(receipt: &Receipt) -> Value {
    let kind = match &receipt.kind {
        ReceiptKind::Delivered => "delivered".to_owned(),
        ReceiptKind::Read => "read".to_owned(),
        ReceiptKind::Played => "played".to_owned(),
        ReceiptKind::Retry(_) => "retry".to_owned(),
        ReceiptKind::Other(other) => other.clone(),
    };
    json!({
        "event": "receipt",
        "kind": kind,
        "ids": receipt.ids,
        "sender": receipt.sender.to_string(),
        "chat": receipt.chat.to_string(),
        "timestamp": receipt.timestamp,
    })
}

/// Handles one event of the client; returns `false` once the client has stopped for good.
async fn on_event(client: &Client, known: &Known, own: &mut Option<Jid>, event: Event) -> bool {
    match event {
        Event::Qr { code, expires } => {
            emit(&json!({ "event": "qr", "code": code, "expires_ms": expires.as_millis() }));
        }
        Event::PairSuccess { jid, lid, .. } => {
            emit(
                &json!({ "event": "paired", "jid": jid.to_string(), "lid": lid.map(|l| l.to_string()) }),
            );
            *own = Some(jid);
        }
        Event::PairError { error } => {
            emit(&json!({ "event": "pair_error", "error": error.to_string() }))
        }
        Event::Connected => {
            let account = client.credentials().await.account;
            if let Some(account) = &account {
                *own = Some(account.jid.clone());
            }
            emit(&json!({ "event": "connected", "jid": own.as_ref().map(ToString::to_string) }));
        }
        Event::Message { info, message, ack } => {
            let alternate = alternate_sender(&info, |jid| client.alternate_jid(jid));
            let mut out = describe(&info, &message, alternate.as_ref());
            if MediaRef::from_message(&message).is_ok() {
                match client.download_to_vec(&message).await {
                    Ok(bytes) => {
                        out["media"]["sha256"] = json!(hex::encode(Sha256::digest(&bytes)));
                        out["media"]["size"] = json!(bytes.len());
                        if bytes.len() <= MAX_ECHOED_MEDIA {
                            out["media"]["data_b64"] = json!(BASE64.encode(&bytes));
                        }
                    }
                    Err(error) => out["media"]["download_error"] = json!(error.to_string()),
                }
            }
            known.insert(Quoted::of(&info, &message));
            emit(&out);
            ack.ack();
        }
        Event::Sent { id, timestamp } => {
            emit(&json!({ "event": "ack", "id": id, "timestamp": timestamp }))
        }
        Event::Receipt(receipt) => emit(&receipt_event(&receipt)),
        Event::Stanza { node, ack } => {
            emit(&json!({ "event": "stanza", "tag": node.tag.to_string() }));
            ack.ack();
        }
        Event::Disconnected { reason, reconnect_in } => {
            emit(&json!({
                "event": "disconnected",
                "reason": reason.to_string(),
                "reconnect_in_ms": reconnect_in.map(|d| d.as_millis()),
            }));
            return reconnect_in.is_some();
        }
        Event::LoggedOut { reason } => {
            emit(&json!({ "event": "logged_out", "reason": reason.to_string() }));
            return false;
        }
        Event::PreKeysUploaded { count } => {
            emit(&json!({ "event": "prekeys_uploaded", "count": count }))
        }
        other => emit(&json!({ "event": "other", "debug": format!("{other:?}") })),
    }
    true
}

/// Starts one command as its own task; its answer goes to stdout when it is done.
fn spawn_command(client: &Client, known: &Known, own: Option<&Jid>, line: &str) {
    let request: Value = match serde_json::from_str(line) {
        Ok(request) => request,
        Err(error) => {
            emit(&json!({ "event": "error", "error": format!("not JSON: {error}") }));
            return;
        }
    };
    let req = request["req"].clone();
    let op = request["op"].clone();
    let Some(own) = own.cloned() else {
        emit(&json!({ "event": "error", "req": req, "op": op, "error": "not paired yet" }));
        return;
    };
    let (client, known) = (client.clone(), known.clone());
    tokio::spawn(async move {
        match run(&client, &known, &own, &request).await {
            Ok(mut answer) => {
                answer["event"] = json!("sent");
                answer["req"] = req;
                answer["op"] = op;
                emit(&answer);
            }
            Err(error) => {
                emit(
                    &json!({ "event": "error", "req": req, "op": op, "error": format!("{error:#}") }),
                );
            }
        }
    });
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let config = config()?;
    let mut rng = rand::rng();
    let identity = KeyPair::generate(&mut rng);
    let store = Arc::new(MemoryStore::new(identity, generate_registration_id(&mut rng)));
    let (client, mut events) = Client::start(config, store).await?;
    let known = Known::default();
    let mut own: Option<Jid> = None;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = stdin.next_line() => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) if serde_json::from_str::<Value>(&line).is_ok_and(|r| r["op"] == "close") => break,
                Ok(Some(line)) => spawn_command(&client, &known, own.as_ref(), &line),
                Ok(None) | Err(_) => break,
            },
            event = events.recv() => match event {
                Some(event) => {
                    if !on_event(&client, &known, &mut own, event).await {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    client.close();
    emit(&json!({ "event": "closed" }));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::expect_used)] // Test code: a failed expect is a failed test.
mod tests {
    use wa_proto::Node;
    use wa_session::message::{OwnDevice, parse_message_info};

    use super::*;

    fn jid(text: &str) -> Jid {
        text.parse().expect("a test JID")
    }

    /// Issue 17, difference 7: a message addressed by LID keeps its LID in `sender_alt` once the
    /// Client has reported the sender by phone number.
    #[test]
    fn sender_alt_keeps_the_lid_of_a_lid_addressed_message() {
        let own = OwnDevice {
            jid: jid("15550002222:1@s.whatsapp.net"),
            lid: Some(jid("100200300400500:1@lid")),
            device_identity: None,
        };
        let node = Node::builder("message")
            .attr("id", "3EB0AA")
            .attr("from", jid("900800700600500:2@lid"))
            .attr("type", "text")
            .attr("t", "1800000000")
            .attr("addressing_mode", "lid")
            .attr("sender_pn", jid("15550004444:2@s.whatsapp.net"))
            .build();
        let mut info = parse_message_info(&node, &own).expect("a message");
        let lids = |jid: &Jid| match jid.to_string().as_str() {
            "15550004444:2@s.whatsapp.net" => Some(self::jid("900800700600500:2@lid")),
            "900800700600500:2@lid" => Some(self::jid("15550004444:2@s.whatsapp.net")),
            _ => None,
        };
        // As parsed: sender by LID, the alternate is the phone number.
        let alt = alternate_sender(&info, lids);
        assert_eq!(alt, Some(jid("15550004444:2@s.whatsapp.net")));
        // As the Client reports it (sender by phone number): the alternate is the LID.
        info.sender = jid("15550004444:2@s.whatsapp.net");
        let alt = alternate_sender(&info, lids);
        assert_eq!(alt, Some(jid("900800700600500:2@lid")));
        let event = describe(&info, &e2e::Message::default(), alt.as_ref());
        assert_eq!(event["sender"], "15550004444:2@s.whatsapp.net");
        assert_eq!(event["sender_alt"], "900800700600500:2@lid");
        // Nothing known: no alternate rather than the sender again.
        assert_eq!(alternate_sender(&info, |_| None), None);
    }
}
