//! A minimal companion device written with wa-session's Noise initiator and strict certificate
//! verifier: it registers (QR pairing) or logs in, and sends and receives stanzas. It is test
//! support for this crate's integration tests and its load generator (`examples/load.rs`), not a
//! WhatsApp client: it has no Signal sessions, keepalive or reconnects.

use std::collections::VecDeque;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use futures_util::{SinkExt as _, StreamExt as _};
use hmac::{Hmac, KeyInit as _, Mac as _};
use prost::Message as _;
use rand::CryptoRng;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::{
    WebSocketStream, client_async_with_config,
    tungstenite::{Message, protocol::WebSocketConfig},
};
use wa_proto::{
    Jid, Node,
    proto::{
        adv::{DeviceIdentity, SignedDeviceIdentity, SignedDeviceIdentityHmac},
        handshake::{ClientPayload, client_payload::DevicePairingRegistrationData},
    },
};
use wa_session::{
    KeyPair, PublicKey,
    cert::CertVerifier,
    noise::{FrameDecoder, FrameEncoder, InitiatorHandshake, Transport},
};

use crate::{Error, Result};

fn fail(what: impl std::fmt::Display) -> Error {
    Error::Companion(what.to_string())
}

/// A companion's long-lived keys.
#[derive(Debug)]
pub struct Companion {
    /// The Noise static key it logs in with.
    pub noise: KeyPair,
    /// Its Signal identity key.
    pub identity: KeyPair,
    /// The ADV secret its QR carries (the phone HMACs the signed identity with it).
    pub adv_secret: [u8; 32],
    /// Its Signal registration id.
    pub registration_id: u32,
}

impl Companion {
    /// Fresh keys from `rng`.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let noise = KeyPair::generate(rng);
        let identity = KeyPair::generate(rng);
        let mut adv_secret = [0u8; 32];
        rng.fill_bytes(&mut adv_secret);
        let registration_id = (rng.next_u32() & 0x3fff).max(1);
        Self { noise, identity, adv_secret, registration_id }
    }

    /// The `ClientPayload` of a registration (asks for `pair-device`).
    #[must_use]
    pub fn registration_payload(&self) -> ClientPayload {
        ClientPayload {
            passive: Some(false),
            device_pairing_data: Some(DevicePairingRegistrationData {
                e_regid: Some(self.registration_id.to_be_bytes().to_vec()),
                e_keytype: Some(vec![5]),
                e_ident: Some(self.identity.public.as_bytes().to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The `ClientPayload` of a login as `phone:device`.
    ///
    /// # Errors
    ///
    /// [`Error::BadPhone`] if `phone` is not a number.
    pub fn login_payload(phone: &str, device: u16) -> Result<ClientPayload> {
        Ok(ClientPayload {
            username: Some(phone.parse().map_err(|_| Error::BadPhone(phone.to_owned()))?),
            device: Some(u32::from(device)),
            passive: Some(true),
            ..Default::default()
        })
    }

    /// The QR text for `reference`, in the older four-field form.
    #[must_use]
    pub fn qr(&self, reference: &str) -> String {
        format!(
            "{reference},{},{},{}",
            STANDARD.encode(self.noise.public.as_bytes()),
            STANDARD.encode(self.identity.public.as_bytes()),
            STANDARD.encode(self.adv_secret)
        )
    }

    /// Checks a `pair-success` iq as a companion does (HMAC with the ADV secret, the account
    /// signature) and answers it with `pair-device-sign` carrying the device signature.
    ///
    /// # Errors
    ///
    /// [`Error::Companion`] if the iq is malformed or a check fails.
    pub fn sign_pair_success(&self, iq: &Node, rng: &mut impl CryptoRng) -> Result<Node> {
        let success = iq.child("pair-success").ok_or_else(|| fail("no pair-success"))?;
        let wrapped = success
            .child("device-identity")
            .and_then(Node::content_bytes)
            .ok_or_else(|| fail("no device-identity"))?;
        let wrapped = SignedDeviceIdentityHmac::decode(wrapped).map_err(fail)?;
        let signed_bytes = wrapped.details.ok_or_else(|| fail("no details"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.adv_secret).map_err(fail)?;
        mac.update(&signed_bytes);
        mac.verify_slice(&wrapped.hmac.unwrap_or_default()).map_err(|_| fail("bad ADV HMAC"))?;
        let mut signed = SignedDeviceIdentity::decode(signed_bytes.as_slice()).map_err(fail)?;
        let details = signed.details.clone().ok_or_else(|| fail("no identity details"))?;
        let account =
            PublicKey::from_slice(signed.account_signature_key.as_deref().unwrap_or_default())
                .map_err(fail)?;
        let message = [&[6, 0][..], &details, self.identity.public.as_bytes()].concat();
        account
            .verify(&message, signed.account_signature.as_deref().unwrap_or_default())
            .map_err(fail)?;
        let message =
            [&[6, 1][..], &details, self.identity.public.as_bytes(), account.as_bytes()].concat();
        signed.device_signature = Some(self.identity.sign(&message, rng).to_vec());
        signed.account_signature_key = None;
        let key_index = DeviceIdentity::decode(details.as_slice())
            .map_err(fail)?
            .key_index
            .ok_or_else(|| fail("no key index"))?;
        Ok(Node::builder("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "result")
            .attr("id", iq.attr_str("id").map_err(fail)?.to_owned())
            .children([Node::builder("pair-device-sign")
                .children([Node::builder("device-identity")
                    .attr("key-index", key_index.to_string())
                    .bytes(signed.encode_to_vec())
                    .build()])
                .build()])
            .build())
    }
}

/// One connection of a companion: WebSocket, frame codec and Noise transport.
#[derive(Debug)]
pub struct Client<S> {
    ws: WebSocketStream<S>,
    decoder: FrameDecoder,
    encoder: FrameEncoder,
    transport: Transport,
    frames: VecDeque<Vec<u8>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Opens the WebSocket at `url` over `stream` (TCP, or TLS for `wss://`) and completes the
    /// Noise handshake, verifying the server's chain strictly under `root` at time `now` (unix
    /// seconds), then sends `payload` (a registration or a login).
    ///
    /// # Errors
    ///
    /// [`Error::Companion`] if the upgrade or the handshake fails, [`Error::Session`] if the
    /// chain does not verify.
    pub async fn connect(
        stream: S,
        url: &str,
        root: PublicKey,
        now: u64,
        noise_key: &KeyPair,
        payload: &ClientPayload,
        rng: &mut impl CryptoRng,
    ) -> Result<Self> {
        // A small read buffer, as the simulator's own (tungstenite allocates it up front).
        let config = WebSocketConfig::default().read_buffer_size(crate::conn::READ_BUFFER);
        let (mut ws, _) =
            client_async_with_config(url, stream, Some(config)).await.map_err(fail)?;
        let mut decoder = FrameDecoder::client();
        let mut encoder = FrameEncoder::client(None)?;
        let mut frames = VecDeque::new();
        let (state, hello) = InitiatorHandshake::start(KeyPair::generate(rng));
        send_frame(&mut ws, &mut encoder, &hello).await?;
        let server_hello = read_frame(&mut ws, &mut decoder, &mut frames).await?;
        let verifier = CertVerifier::new(root, now);
        let (transport, finish, _server) =
            state.process(&server_hello, &verifier, noise_key, payload)?;
        send_frame(&mut ws, &mut encoder, &finish).await?;
        Ok(Self { ws, decoder, encoder, transport, frames })
    }

    /// The next stanza from the server. Cancel-safe: dropping the future loses nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Companion`] if the connection closed, [`Error::Session`] or [`Error::Proto`] if
    /// the frame does not decrypt or decode.
    pub async fn recv(&mut self) -> Result<Node> {
        let frame = read_frame(&mut self.ws, &mut self.decoder, &mut self.frames).await?;
        Ok(wa_proto::decode(&self.transport.decrypt(&frame)?)?)
    }

    /// Sends a stanza.
    ///
    /// # Errors
    ///
    /// [`Error::Companion`] if the connection is gone, [`Error::Proto`] if `node` does not
    /// encode.
    pub async fn send(&mut self, node: &Node) -> Result<()> {
        let sealed = self.transport.encrypt(&wa_proto::encode(node)?)?;
        send_frame(&mut self.ws, &mut self.encoder, &sealed).await
    }

    /// The WebSocket, e.g. to close it or to read without decrypting.
    pub fn websocket(&mut self) -> &mut WebSocketStream<S> {
        &mut self.ws
    }
}

async fn send_frame<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    encoder: &mut FrameEncoder,
    payload: &[u8],
) -> Result<()> {
    let bytes = encoder.encode(payload)?;
    ws.send(Message::Binary(bytes.into())).await.map_err(fail)
}

/// The next frame; cancel-safe: frames decoded from one message wait in `frames`, and the only
/// await is on the next WebSocket message.
async fn read_frame<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    decoder: &mut FrameDecoder,
    frames: &mut VecDeque<Vec<u8>>,
) -> Result<Vec<u8>> {
    loop {
        if let Some(frame) = frames.pop_front() {
            return Ok(frame);
        }
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => frames.extend(decoder.feed(&bytes)?),
            Some(Ok(Message::Close(_))) | None => return Err(fail("connection closed")),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(fail(error)),
        }
    }
}
