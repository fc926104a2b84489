//! A tiny WhatsApp-like WebSocket endpoint for the Noise interop check
//! (`interop/checks/noise-baileys.mjs`): it runs wa-session's Noise responder against a real client.
//!
//! It listens on `127.0.0.1:0` and prints one JSON line `{"event":"listening","port":..,"root":..}`
//! (the test root public key, hex, that the client must trust). For each connection it reads the
//! optional `ED` prefix and the `WA` header, answers the ClientHello with a ServerHello carrying a
//! certificate chain signed by that root, decrypts the ClientFinish and prints
//! `{"event":"handshake",..}` with the ClientPayload as JSON. Then, to exercise the transport
//! ciphers both ways, it sends an encrypted `<iq type="set"><pair-device><ref>..</ref></pair-device>`
//! and prints every node the client sends back (`{"event":"node",..}`).
//!
//! Loopback only; runs until killed (or until stdin closes).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use futures_util::{SinkExt, StreamExt};
use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, error::ProtocolError};
use wa_proto::{
    Node,
    proto::{
        cert::CertChain,
        handshake::{
            ClientPayload,
            client_payload::{ConnectReason, ConnectType, user_agent::Platform, web_info},
        },
    },
};
use wa_session::{
    KeyPair, PublicKey,
    cert::ChainSpec,
    noise::{FrameDecoder, FrameEncoder, ResponderHandshake, Transport},
};

/// The pair-device ref we send; the client's QR code starts with it.
const PAIR_REF: &str = "2@wab24-noise-responder-ref";

fn emit(value: &Value) {
    println!("{value}");
}

fn hex_opt(bytes: Option<&Vec<u8>>) -> Value {
    bytes.map_or(Value::Null, |b| Value::String(hex::encode(b)))
}

fn payload_json(payload: &ClientPayload) -> Value {
    let agent = payload.user_agent.as_ref();
    let platform = agent
        .and_then(|a| a.platform)
        .and_then(|p| Platform::try_from(p).ok())
        .map(|p| p.as_str_name());
    let version = agent
        .and_then(|a| a.app_version.as_ref())
        .map(|v| json!([v.primary, v.secondary, v.tertiary]));
    let pairing = payload.device_pairing_data.as_ref().map(|d| {
        // The signed prekey signature must verify under the identity key (`0x05 || key`).
        let signature_valid = match (&d.e_ident, &d.e_skey_val, &d.e_skey_sig) {
            (Some(ident), Some(val), Some(sig)) => PublicKey::from_slice(ident)
                .ok()
                .map(|key| key.verify(&[&[5u8][..], val].concat(), sig).is_ok()),
            _ => None,
        };
        json!({
            "e_regid": hex_opt(d.e_regid.as_ref()),
            "e_keytype": hex_opt(d.e_keytype.as_ref()),
            "e_ident": hex_opt(d.e_ident.as_ref()),
            "e_skey_id": hex_opt(d.e_skey_id.as_ref()),
            "e_skey_val": hex_opt(d.e_skey_val.as_ref()),
            "e_skey_sig": hex_opt(d.e_skey_sig.as_ref()),
            "e_skey_sig_valid": signature_valid,
            "build_hash": hex_opt(d.build_hash.as_ref()),
            "device_props_len": d.device_props.as_ref().map(Vec::len),
        })
    });
    json!({
        "platform": platform,
        "app_version": version,
        "passive": payload.passive,
        "pull": payload.pull,
        "username": payload.username,
        "device": payload.device,
        "push_name": payload.push_name,
        "connect_type": payload.connect_type.and_then(|c| ConnectType::try_from(c).ok()).map(|c| c.as_str_name()),
        "connect_reason": payload.connect_reason.and_then(|c| ConnectReason::try_from(c).ok()).map(|c| c.as_str_name()),
        "web_sub_platform": payload.web_info.as_ref().and_then(|w| w.web_sub_platform)
            .and_then(|w| web_info::WebSubPlatform::try_from(w).ok()).map(|w| w.as_str_name()),
        "device_pairing_data": pairing,
    })
}

/// The server's long-lived material: static key and the chain certifying it.
struct Server {
    root_public: PublicKey,
    static_key: KeyPair,
    chain: CertChain,
}

/// The IO driver is the one place that reads the clock; the protocol code takes the time as a
/// parameter.
#[expect(clippy::disallowed_methods, reason = "the driver supplies the time")]
fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn next_frames(
    ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>,
    decoder: &mut FrameDecoder,
) -> Result<Option<Vec<Vec<u8>>>> {
    loop {
        match ws.next().await {
            None => return Ok(None),
            // A client that goes away without a closing handshake has simply gone.
            Some(Err(
                WsError::ConnectionClosed
                | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            )) => return Ok(None),
            Some(message) => match message? {
                Message::Binary(data) => {
                    let frames = decoder.feed(&data)?;
                    if !frames.is_empty() {
                        return Ok(Some(frames));
                    }
                }
                Message::Close(_) => return Ok(None),
                _ => {}
            },
        }
    }
}

async fn serve(server: &Server, stream: TcpStream, connection: usize) -> Result<()> {
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut ws = tokio_tungstenite::accept_async(stream).await.context("websocket accept")?;
    let mut decoder = FrameDecoder::server();
    let mut encoder = FrameEncoder::server();

    let mut frames = next_frames(&mut ws, &mut decoder)
        .await?
        .ok_or_else(|| anyhow!("closed before ClientHello"))?
        .into_iter();
    let hello = frames.next().ok_or_else(|| anyhow!("no frame"))?;
    let (state, reply) = ResponderHandshake::respond(
        &hello,
        KeyPair::generate(&mut rng),
        &server.static_key,
        &server.chain,
    )?;
    ws.send(Message::binary(encoder.encode(&reply)?)).await?;

    let finish = match frames.next() {
        Some(frame) => frame,
        None => next_frames(&mut ws, &mut decoder)
            .await?
            .and_then(|f| f.into_iter().next())
            .ok_or_else(|| anyhow!("closed before ClientFinish"))?,
    };
    let (mut transport, client) = state.process(&finish)?;
    emit(&json!({
        "event": "handshake",
        "connection": connection,
        "routing_info": decoder.routing_info().map(hex::encode),
        "noise_key": hex::encode(client.noise_key.as_bytes()),
        "payload": payload_json(&client.payload),
    }));

    // Transport, server to client: a pair-device request the client must answer.
    let iq = Node::builder("iq")
        .attr("id", format!("noise-{connection}"))
        .attr("type", "set")
        .attr("xmlns", "md")
        .attr("from", wa_proto::Jid::server_jid())
        .children([Node::builder("pair-device")
            .children([Node::builder("ref").bytes(PAIR_REF.as_bytes()).build()])
            .build()])
        .build();
    send_node(&mut ws, &mut encoder, &mut transport, &iq).await?;

    // Transport, client to server: print what comes back.
    while let Some(frames) = next_frames(&mut ws, &mut decoder).await? {
        for frame in frames {
            let node = wa_proto::decode(&transport.decrypt(&frame)?)?;
            emit(&json!({
                "event": "node",
                "connection": connection,
                "tag": node.tag.as_ref(),
                "id": node.attr_opt_str("id").ok().flatten(),
                "type": node.attr_opt_str("type").ok().flatten(),
            }));
        }
    }
    Ok(())
}

async fn send_node(
    ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>,
    encoder: &mut FrameEncoder,
    transport: &mut Transport,
    node: &Node,
) -> Result<()> {
    let plain = wa_proto::encode(node)?;
    let frame = encoder.encode(&transport.encrypt(&plain)?)?;
    ws.send(Message::binary(frame)).await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let root = KeyPair::generate(&mut rng);
    let static_key = KeyPair::generate(&mut rng);
    let now = now();
    let spec = ChainSpec {
        intermediate_serial: 77,
        leaf_serial: 78,
        ..ChainSpec::new(&root, KeyPair::generate(&mut rng), now - 3600, now + 86_400)
    };
    let chain = spec.build(&static_key.public, &mut rng);
    let server = Arc::new(Server { root_public: root.public, static_key, chain });

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    emit(&json!({
        "event": "listening",
        "port": listener.local_addr()?.port(),
        "root": hex::encode(server.root_public.as_bytes()),
    }));

    // Exit when the parent closes our stdin, so no orphan survives a crashed harness.
    tokio::spawn(async {
        use tokio::io::AsyncReadExt;
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        std::process::exit(0);
    });

    let mut connection = 0;
    loop {
        let (stream, _) = listener.accept().await?;
        connection += 1;
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            if let Err(error) = serve(&server, stream, connection).await {
                emit(
                    &json!({"event": "error", "connection": connection, "error": format!("{error:#}")}),
                );
            }
        });
    }
}
