//! WhatsApp's Noise XX handshake, as initiator (the client) and responder (a simulated server).
//!
//! Each state is a type that a transition consumes, so a message cannot be processed twice or out
//! of order. Messages in and out are serialized `HandshakeMessage` protobufs: the frame payloads,
//! without the 3-byte length (see [`super::frame`]).

use std::fmt;

use prost::Message as _;
use wa_proto::proto::{
    cert::CertChain,
    handshake::{
        ClientPayload, HandshakeMessage,
        handshake_message::{ClientFinish, ClientHello, ServerHello},
    },
};
use zeroize::Zeroizing;

use super::{Transport, frame::WA_HEADER};
use crate::{
    Error, KeyPair, NoiseError, PublicKey, Result,
    cert::{CertVerifier, VerifiedChain},
    crypto,
};

/// The Noise protocol name, exactly 32 bytes, used directly as the initial hash.
pub const NOISE_PATTERN: [u8; 32] = *b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

/// The Noise symmetric state: `h`, `ck` (the salt), `k` and the handshake counter `n`.
#[derive(Clone)]
struct SymmetricState {
    hash: [u8; 32],
    salt: Zeroizing<[u8; 32]>,
    key: Zeroizing<[u8; 32]>,
    counter: u32,
}

impl fmt::Debug for SymmetricState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymmetricState").field("counter", &self.counter).finish_non_exhaustive()
    }
}

impl SymmetricState {
    /// `h = ck = k = pattern`, `n = 0`, then `MixHash(prologue)`.
    fn new() -> Self {
        let mut state = Self {
            hash: NOISE_PATTERN,
            salt: Zeroizing::new(NOISE_PATTERN),
            key: Zeroizing::new(NOISE_PATTERN),
            counter: 0,
        };
        state.mix_hash(&WA_HEADER);
        state
    }

    fn mix_hash(&mut self, data: &[u8]) {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(self.hash);
        hasher.update(data);
        self.hash = hasher.finalize().into();
    }

    fn mix_key(&mut self, ikm: &[u8]) {
        let okm = crypto::hkdf::<64>(Some(self.salt.as_ref()), ikm, &[]);
        self.salt.copy_from_slice(&okm[..32]);
        self.key.copy_from_slice(&okm[32..]);
        self.counter = 0;
    }

    fn next_counter(&mut self) -> Result<u32> {
        let n = self.counter;
        self.counter = n.checked_add(1).ok_or(Error::Noise(NoiseError::NonceExhausted))?;
        Ok(n)
    }

    fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let n = self.next_counter()?;
        let ciphertext = crypto::aes_gcm_encrypt(&self.key, n, &self.hash, plaintext)?;
        self.mix_hash(&ciphertext);
        Ok(ciphertext)
    }

    fn decrypt_and_hash(&mut self, ciphertext: &[u8], what: &'static str) -> Result<Vec<u8>> {
        let n = self.next_counter()?;
        let plaintext = crypto::aes_gcm_decrypt(&self.key, n, &self.hash, ciphertext, what)?;
        self.mix_hash(ciphertext);
        Ok(plaintext)
    }

    /// `(first, second) = HKDF(salt = ck, ikm = empty, 64)`.
    fn split(&self) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
        let okm = crypto::hkdf::<64>(Some(self.salt.as_ref()), &[], &[]);
        let (a, b) = crypto::split::<32, 32>(okm.as_ref());
        (Zeroizing::new(a), Zeroizing::new(b))
    }
}

fn decode_handshake(bytes: &[u8]) -> Result<HandshakeMessage> {
    HandshakeMessage::decode(bytes)
        .map_err(|error| Error::malformed("HandshakeMessage", error.to_string()))
}

fn key32(bytes: &[u8], what: &'static str) -> Result<PublicKey> {
    let array: [u8; 32] =
        bytes.try_into().map_err(|_| Error::Noise(NoiseError::Handshake(what)))?;
    Ok(PublicKey::from_bytes(array))
}

/// The client side: starts the handshake.
#[derive(Debug)]
#[non_exhaustive]
pub struct InitiatorHandshake;

impl InitiatorHandshake {
    /// Starts a handshake with the fresh `ephemeral` key pair; returns the state that waits for
    /// the ServerHello and the serialized ClientHello to send.
    #[must_use]
    pub fn start(ephemeral: KeyPair) -> (ExpectServerHello, Vec<u8>) {
        let mut state = SymmetricState::new();
        state.mix_hash(ephemeral.public.as_bytes());
        let hello = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral.public.as_bytes().to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        };
        (ExpectServerHello { state, ephemeral }, hello.encode_to_vec())
    }
}

/// The client has sent its ClientHello and waits for the ServerHello.
#[derive(Debug)]
pub struct ExpectServerHello {
    state: SymmetricState,
    ephemeral: KeyPair,
}

/// What the client learnt about the server during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// The server's Noise static key (certified by the chain).
    pub static_key: PublicKey,
    /// What the verified certificate chain asserted.
    pub chain: VerifiedChain,
}

impl ExpectServerHello {
    /// Processes the ServerHello: the server's ephemeral key, its encrypted static key and the
    /// encrypted certificate chain, which `verifier` checks fully. Then answers with the
    /// ClientFinish, carrying our long-lived `noise_key` and the `payload`, both encrypted.
    ///
    /// Returns the transport ciphers, the serialized ClientFinish to send and what the server
    /// proved about itself.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] if the message does not decode, [`NoiseError::Handshake`] if the
    /// ServerHello is missing or has parts of the wrong size, [`crate::CryptoError::BadMac`] if the
    /// static key or the chain does not decrypt, and every certificate error of
    /// [`CertVerifier::verify`].
    pub fn process(
        mut self,
        server_hello: &[u8],
        verifier: &CertVerifier,
        noise_key: &KeyPair,
        payload: &ClientPayload,
    ) -> Result<(Transport, Vec<u8>, ServerIdentity)> {
        let hello = decode_handshake(server_hello)?
            .server_hello
            .ok_or(Error::Noise(NoiseError::Handshake("no ServerHello")))?;
        let server_ephemeral = key32(
            hello.ephemeral.as_deref().unwrap_or_default(),
            "ServerHello ephemeral is not 32 bytes",
        )?;
        let encrypted_static = hello
            .r#static
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(Error::Noise(NoiseError::Handshake("ServerHello has no static key")))?;
        let encrypted_chain =
            hello.payload.as_deref().filter(|s| !s.is_empty()).ok_or(Error::Noise(
                NoiseError::Handshake("ServerHello has no certificate payload"),
            ))?;

        let state = &mut self.state;
        state.mix_hash(server_ephemeral.as_bytes());
        state.mix_key(self.ephemeral.private.agree(&server_ephemeral).as_ref());
        let server_static = state.decrypt_and_hash(encrypted_static, "ServerHello static key")?;
        let server_static = key32(&server_static, "server static key is not 32 bytes")?;
        state.mix_key(self.ephemeral.private.agree(&server_static).as_ref());
        let chain = state.decrypt_and_hash(encrypted_chain, "ServerHello certificate payload")?;
        let chain = verifier.verify_bytes(&chain, &server_static)?;

        let encrypted_noise_key = state.encrypt_and_hash(noise_key.public.as_bytes())?;
        state.mix_key(noise_key.private.agree(&server_ephemeral).as_ref());
        let encrypted_payload = state.encrypt_and_hash(&payload.encode_to_vec())?;
        let finish = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(encrypted_noise_key),
                payload: Some(encrypted_payload),
                extended_ciphertext: None,
            }),
            ..Default::default()
        };
        let (write, read) = state.split();
        let transport = Transport::new(write, read);
        Ok((transport, finish.encode_to_vec(), ServerIdentity { static_key: server_static, chain }))
    }
}

/// The server side: answers a ClientHello.
#[derive(Debug)]
#[non_exhaustive]
pub struct ResponderHandshake;

impl ResponderHandshake {
    /// Processes the client's ClientHello and answers with a ServerHello carrying the fresh
    /// `ephemeral` key, the server's `static_key` and `chain` (both encrypted). `chain` should
    /// certify `static_key`.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] if the message does not decode, [`NoiseError::Handshake`] if it has no
    /// ClientHello or the ephemeral key is not 32 bytes.
    pub fn respond(
        client_hello: &[u8],
        ephemeral: KeyPair,
        static_key: &KeyPair,
        chain: &CertChain,
    ) -> Result<(ExpectClientFinish, Vec<u8>)> {
        let hello = decode_handshake(client_hello)?
            .client_hello
            .ok_or(Error::Noise(NoiseError::Handshake("no ClientHello")))?;
        let client_ephemeral = key32(
            hello.ephemeral.as_deref().unwrap_or_default(),
            "ClientHello ephemeral is not 32 bytes",
        )?;
        let mut state = SymmetricState::new();
        state.mix_hash(client_ephemeral.as_bytes());
        state.mix_hash(ephemeral.public.as_bytes());
        state.mix_key(ephemeral.private.agree(&client_ephemeral).as_ref());
        let encrypted_static = state.encrypt_and_hash(static_key.public.as_bytes())?;
        state.mix_key(static_key.private.agree(&client_ephemeral).as_ref());
        let encrypted_chain = state.encrypt_and_hash(&chain.encode_to_vec())?;
        let reply = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(ephemeral.public.as_bytes().to_vec()),
                r#static: Some(encrypted_static),
                payload: Some(encrypted_chain),
                extended_static: None,
            }),
            ..Default::default()
        };
        Ok((ExpectClientFinish { state, ephemeral }, reply.encode_to_vec()))
    }
}

/// The server has sent its ServerHello and waits for the ClientFinish.
#[derive(Debug)]
pub struct ExpectClientFinish {
    state: SymmetricState,
    ephemeral: KeyPair,
}

/// What the server learnt about the client during the handshake.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedClient {
    /// The client's long-lived Noise key.
    pub noise_key: PublicKey,
    /// The decrypted login or registration payload.
    pub payload: ClientPayload,
}

impl ExpectClientFinish {
    /// Processes the ClientFinish: decrypts the client's Noise key and its `ClientPayload`.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] if the message or the payload does not decode,
    /// [`NoiseError::Handshake`] if it has no ClientFinish or a part is missing or of the wrong
    /// size, [`crate::CryptoError::BadMac`] if a part does not decrypt.
    pub fn process(mut self, client_finish: &[u8]) -> Result<(Transport, AcceptedClient)> {
        let finish = decode_handshake(client_finish)?
            .client_finish
            .ok_or(Error::Noise(NoiseError::Handshake("no ClientFinish")))?;
        let encrypted_key = finish
            .r#static
            .as_deref()
            .ok_or(Error::Noise(NoiseError::Handshake("ClientFinish has no static key")))?;
        let encrypted_payload = finish
            .payload
            .as_deref()
            .ok_or(Error::Noise(NoiseError::Handshake("ClientFinish has no payload")))?;
        let state = &mut self.state;
        let noise_key = state.decrypt_and_hash(encrypted_key, "ClientFinish static key")?;
        let noise_key = key32(&noise_key, "client static key is not 32 bytes")?;
        state.mix_key(self.ephemeral.private.agree(&noise_key).as_ref());
        let payload = state.decrypt_and_hash(encrypted_payload, "ClientFinish payload")?;
        let payload = ClientPayload::decode(payload.as_slice())
            .map_err(|error| Error::malformed("ClientPayload", error.to_string()))?;
        // The client writes with the first key; the server reads with it.
        let (client_write, client_read) = state.split();
        Ok((Transport::new(client_read, client_write), AcceptedClient { noise_key, payload }))
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};
    use wa_proto::proto::handshake::client_payload::{UserAgent, user_agent::Platform};

    use super::*;
    use crate::{CertError, CryptoError};
    use crate::{PrivateKey, cert::ChainSpec};

    fn fixed(byte: u8) -> KeyPair {
        KeyPair::from_private(PrivateKey::from_bytes([byte; 32]))
    }

    struct Setup {
        root: KeyPair,
        server_static: KeyPair,
        chain: CertChain,
        noise_key: KeyPair,
        payload: ClientPayload,
    }

    fn setup() -> Setup {
        let mut rng = StdRng::seed_from_u64(11);
        let root = fixed(1);
        let server_static = fixed(2);
        let chain =
            ChainSpec::new(&root, fixed(3), 1_000, 2_000).build(&server_static.public, &mut rng);
        let payload = ClientPayload {
            user_agent: Some(UserAgent {
                platform: Some(Platform::Web as i32),
                ..Default::default()
            }),
            passive: Some(false),
            ..Default::default()
        };
        Setup { root, server_static, chain, noise_key: fixed(4), payload }
    }

    #[test]
    fn deterministic_handshake_bytes() {
        let s = setup();
        let (client, hello) = InitiatorHandshake::start(fixed(5));
        let (server, server_hello) =
            ResponderHandshake::respond(&hello, fixed(6), &s.server_static, &s.chain).unwrap();
        let verifier = CertVerifier::new(s.root.public, 1_500);
        let (mut client, finish, identity) =
            client.process(&server_hello, &verifier, &s.noise_key, &s.payload).unwrap();
        assert_eq!(identity.static_key, s.server_static.public);
        let (mut server, accepted) = server.process(&finish).unwrap();
        assert_eq!(accepted.noise_key, s.noise_key.public);
        assert_eq!(accepted.payload, s.payload);
        let to_server = client.encrypt(b"client frame").unwrap();
        let to_client = server.encrypt(b"server frame").unwrap();
        assert_eq!(server.decrypt(&to_server).unwrap(), b"client frame");
        assert_eq!(client.decrypt(&to_client).unwrap(), b"server frame");
        // The client hello is the 36-byte message Baileys sends: 12 22 0a 20 <ephemeral>.
        assert_eq!(hello.len(), 36);
        assert_eq!(hello[..4], [0x12, 0x22, 0x0a, 0x20]);
        insta::assert_snapshot!(format!(
            "client_hello  {}\nserver_hello  {}\nclient_finish {}\nclient_frame0 {}\nserver_frame0 {}",
            hex::encode(&hello),
            hex::encode(&server_hello),
            hex::encode(&finish),
            hex::encode(&to_server),
            hex::encode(&to_client),
        ));
    }

    #[test]
    fn initiator_refuses_a_chain_for_another_root() {
        let s = setup();
        let (client, hello) = InitiatorHandshake::start(fixed(5));
        let (_, server_hello) =
            ResponderHandshake::respond(&hello, fixed(6), &s.server_static, &s.chain).unwrap();
        let verifier = CertVerifier::whatsapp(1_500);
        let result = client.process(&server_hello, &verifier, &s.noise_key, &s.payload);
        assert_eq!(
            result.err(),
            Some(Error::Cert(CertError::BadSignature(crate::CertRole::Intermediate)))
        );
    }

    #[test]
    fn initiator_refuses_a_chain_for_another_static_key() {
        let s = setup();
        let (client, hello) = InitiatorHandshake::start(fixed(5));
        // The server proves a different static key than its chain certifies.
        let (_, server_hello) =
            ResponderHandshake::respond(&hello, fixed(6), &fixed(9), &s.chain).unwrap();
        let verifier = CertVerifier::new(s.root.public, 1_500);
        let result = client.process(&server_hello, &verifier, &s.noise_key, &s.payload);
        assert_eq!(result.err(), Some(Error::Cert(CertError::KeyMismatch)));
    }

    #[test]
    fn tampered_messages_fail() {
        let s = setup();
        let verifier = CertVerifier::new(s.root.public, 1_500);
        let (_, hello) = InitiatorHandshake::start(fixed(5));
        let (_, server_hello) =
            ResponderHandshake::respond(&hello, fixed(6), &s.server_static, &s.chain).unwrap();
        let mut parsed = decode_handshake(&server_hello).unwrap();
        let sh = parsed.server_hello.as_mut().unwrap();
        sh.r#static.as_mut().unwrap()[3] ^= 1;
        let tampered = parsed.encode_to_vec();
        let (client, _) = InitiatorHandshake::start(fixed(5));
        assert_eq!(
            client.process(&tampered, &verifier, &s.noise_key, &s.payload).err(),
            Some(Error::Crypto(CryptoError::BadMac("ServerHello static key")))
        );

        for bad in [
            HandshakeMessage::default().encode_to_vec(),
            HandshakeMessage {
                server_hello: Some(ServerHello {
                    ephemeral: Some(vec![1; 31]),
                    r#static: Some(vec![1; 48]),
                    payload: Some(vec![1; 20]),
                    extended_static: None,
                }),
                ..Default::default()
            }
            .encode_to_vec(),
        ] {
            let (client, _) = InitiatorHandshake::start(fixed(5));
            assert!(matches!(
                client.process(&bad, &verifier, &s.noise_key, &s.payload),
                Err(Error::Noise(NoiseError::Handshake(_)))
            ));
        }
        let (client, _) = InitiatorHandshake::start(fixed(5));
        assert!(matches!(
            client.process(&[0xff], &verifier, &s.noise_key, &s.payload),
            Err(Error::Malformed { .. })
        ));

        // The responder: a bad ClientHello, then a tampered ClientFinish.
        assert!(matches!(
            ResponderHandshake::respond(
                &[0x12, 0x02, 0x0a, 0x00],
                fixed(6),
                &s.server_static,
                &s.chain
            ),
            Err(Error::Noise(NoiseError::Handshake(_)))
        ));
        let (client, hello) = InitiatorHandshake::start(fixed(5));
        let (server, server_hello) =
            ResponderHandshake::respond(&hello, fixed(6), &s.server_static, &s.chain).unwrap();
        let (_, finish, _) =
            client.process(&server_hello, &verifier, &s.noise_key, &s.payload).unwrap();
        let mut parsed = decode_handshake(&finish).unwrap();
        parsed.client_finish.as_mut().unwrap().payload.as_mut().unwrap()[0] ^= 1;
        assert_eq!(
            server.process(&parsed.encode_to_vec()).err(),
            Some(Error::Crypto(CryptoError::BadMac("ClientFinish payload")))
        );
    }

    #[test]
    fn debug_hides_state() {
        let (client, _) = InitiatorHandshake::start(fixed(5));
        let shown = format!("{client:?}");
        assert!(!shown.contains("[5, 5"), "{shown}");
        assert!(shown.contains("<redacted>") || !shown.contains("private"), "{shown}");
    }
}
