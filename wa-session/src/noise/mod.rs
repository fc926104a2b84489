//! The Noise layer of a WhatsApp Web connection, sans-IO: the frame codec ([`frame`]), the XX
//! handshake in both roles ([`handshake`]) and the transport ciphers ([`Transport`]).
//!
//! The caller owns the socket and the clock: it feeds received bytes to a [`FrameDecoder`],
//! passes whole frames to the handshake states or to [`Transport::decrypt`], and sends what
//! [`FrameEncoder::encode`] returns. Ephemeral keys and the time the certificate chain is
//! checked at are parameters.
//!
//! ```
//! use rand::{SeedableRng, rngs::StdRng};
//! use wa_proto::proto::handshake::ClientPayload;
//! use wa_session::{KeyPair, cert::{CertVerifier, ChainSpec}, noise::*};
//!
//! let mut rng = StdRng::seed_from_u64(3);
//! let root = KeyPair::generate(&mut rng);
//! let server_static = KeyPair::generate(&mut rng);
//! let chain = ChainSpec::new(&root, KeyPair::generate(&mut rng), 0, u64::MAX)
//!     .build(&server_static.public, &mut rng);
//! let noise_key = KeyPair::generate(&mut rng);
//! let payload = ClientPayload { push_name: Some("me".into()), ..Default::default() };
//!
//! let (client, hello) = InitiatorHandshake::start(KeyPair::generate(&mut rng));
//! let (server, server_hello) =
//!     ResponderHandshake::respond(&hello, KeyPair::generate(&mut rng), &server_static, &chain)?;
//! let verifier = CertVerifier::new(root.public, 1_700_000_000);
//! let (mut client, finish, _server) = client.process(&server_hello, &verifier, &noise_key, &payload)?;
//! let (mut server, accepted) = server.process(&finish)?;
//! assert_eq!(accepted.noise_key, noise_key.public);
//! assert_eq!(accepted.payload, payload);
//!
//! let frame = server.encrypt(b"<success/>")?;
//! assert_eq!(client.decrypt(&frame)?, b"<success/>");
//! # Ok::<(), wa_session::Error>(())
//! ```

pub mod frame;
pub mod handshake;
mod transport;

pub use frame::{FrameDecoder, FrameEncoder, MAX_FRAME_LEN, WA_HEADER};
pub use handshake::{
    AcceptedClient, ExpectClientFinish, ExpectServerHello, InitiatorHandshake, NOISE_PATTERN,
    ResponderHandshake, ServerIdentity,
};
pub use transport::Transport;
