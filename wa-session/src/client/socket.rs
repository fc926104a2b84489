//! One connection: TCP, TLS for `wss://`, the WebSocket upgrade, the Noise handshake, then
//! encrypted stanzas in frames.

use std::{collections::VecDeque, sync::Arc};

use futures_util::{SinkExt as _, StreamExt as _};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_tungstenite::{
    WebSocketStream, client_async_with_config,
    tungstenite::{
        Message, client::IntoClientRequest as _, http::HeaderValue, protocol::WebSocketConfig,
    },
};
use wa_proto::{Node, proto::handshake::ClientPayload};

use super::config::Config;
use crate::{
    ConnectionError, Error, KeyPair, Result,
    cert::CertVerifier,
    noise::{FrameDecoder, FrameEncoder, InitiatorHandshake, Transport},
};

/// The WebSocket read buffer. tungstenite allocates its default of 128 KiB up front for every
/// connection, which alone is over the memory budget of an idle line; stanzas arrive in frames
/// of a few hundred bytes, and larger ones are read in several passes.
const READ_BUFFER: usize = 8 * 1024;

/// A byte stream the WebSocket runs over: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn connect_error(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Connection(ConnectionError::Connect(format!("{what}: {error}")))
}

/// WebSocket messages as frames.
struct Framed {
    ws: WebSocketStream<Box<dyn Io>>,
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    frames: VecDeque<Vec<u8>>,
}

/// An open, handshaken connection.
pub(crate) struct Socket {
    framed: Framed,
    transport: Transport,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").finish_non_exhaustive()
    }
}

pub(crate) fn tls_config(config: &Config) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match &config.tls_roots {
        Some(certs) => {
            for der in certs {
                roots
                    .add(CertificateDer::from(der.clone()))
                    .map_err(|e| connect_error("trusted certificate", e))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(Error::Connection(ConnectionError::Connect(
                    "no system root certificates".to_owned(),
                )));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| connect_error("TLS", e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Opens TCP (+ TLS for `wss://`) and upgrades to a WebSocket.
async fn open(config: &Config) -> Result<WebSocketStream<Box<dyn Io>>> {
    let mut request =
        config.url.as_str().into_client_request().map_err(|e| connect_error("URL", e))?;
    let origin = HeaderValue::from_str(&config.origin).map_err(|e| connect_error("origin", e))?;
    request.headers_mut().insert("Origin", origin);
    let uri = request.uri().clone();
    let host = uri
        .host()
        .ok_or_else(|| Error::Connection(ConnectionError::Connect("URL has no host".to_owned())))?;
    // Strip the brackets of an IPv6 literal for TCP and TLS.
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let tls = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        other => {
            return Err(Error::Connection(ConnectionError::Connect(format!(
                "unsupported scheme {other:?}"
            ))));
        }
    };
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp =
        TcpStream::connect((host.as_str(), port)).await.map_err(|e| connect_error("TCP", e))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if tls {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(config)?));
        let name = ServerName::try_from(host).map_err(|e| connect_error("TLS server name", e))?;
        Box::new(connector.connect(name, tcp).await.map_err(|e| connect_error("TLS", e))?)
    } else {
        Box::new(tcp)
    };
    let ws_config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (ws, _) = client_async_with_config(request, stream, Some(ws_config))
        .await
        .map_err(|e| connect_error("WebSocket", e))?;
    Ok(ws)
}

impl Socket {
    /// Connects and runs the Noise handshake with `ephemeral`, our `noise_key` and `payload`,
    /// checking the server's certificate chain against the configured root at `now`.
    pub(crate) async fn connect(
        config: &Config,
        ephemeral: KeyPair,
        noise_key: &KeyPair,
        payload: &ClientPayload,
        now: u64,
    ) -> Result<Self> {
        let mut framed = Framed {
            ws: open(config).await?,
            encoder: FrameEncoder::client(None)?,
            decoder: FrameDecoder::client(),
            frames: VecDeque::new(),
        };
        let (state, hello) = InitiatorHandshake::start(ephemeral);
        framed.send_frame(&hello).await?;
        let server_hello = framed.recv_frame().await?;
        let verifier = CertVerifier::new(config.root_key, now);
        let (transport, finish, _server) =
            state.process(&server_hello, &verifier, noise_key, payload)?;
        framed.send_frame(&finish).await?;
        Ok(Self { framed, transport })
    }

    /// Encrypts and sends a stanza.
    pub(crate) async fn send(&mut self, node: &Node) -> Result<()> {
        let plain = wa_proto::encode(node)
            .map_err(|e| Error::malformed("outgoing stanza", e.to_string()))?;
        let sealed = self.transport.encrypt(&plain)?;
        self.framed.send_frame(&sealed).await
    }

    /// The next stanza. Cancel-safe. A frame that does not decrypt ends the connection (the
    /// counters would be out of step); one that decrypts but does not decode is an inner error
    /// the caller may skip.
    pub(crate) async fn recv(&mut self) -> Result<std::result::Result<Node, Error>> {
        let frame = self.framed.recv_frame().await?;
        let plain = self.transport.decrypt(&frame)?;
        Ok(wa_proto::decode(&plain).map_err(|e| Error::malformed("incoming stanza", e.to_string())))
    }

    /// Closes the WebSocket politely.
    pub(crate) async fn close(mut self) {
        let _ = self.framed.ws.close(None).await;
    }
}

impl Framed {
    async fn send_frame(&mut self, payload: &[u8]) -> Result<()> {
        let bytes = self.encoder.encode(payload)?;
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|e| connect_error("WebSocket send", e))
    }

    /// The next frame. Cancel-safe: frames already decoded wait in the queue.
    async fn recv_frame(&mut self) -> Result<Vec<u8>> {
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return Ok(frame);
            }
            match self.ws.next().await {
                Some(Ok(Message::Binary(bytes))) => self.frames.extend(self.decoder.feed(&bytes)?),
                Some(Ok(Message::Close(_))) | None => {
                    return Err(Error::Connection(ConnectionError::Connect(
                        "the server closed the WebSocket".to_owned(),
                    )));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(connect_error("WebSocket receive", e)),
            }
        }
    }
}
