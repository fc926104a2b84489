#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod keys;
pub mod xeddsa;

pub use error::{
    CertError, CertRole, ConnectionError, CryptoError, Error, MediaError, MessageError, NoiseError,
    PairingError, Result, SignalError,
};
pub use keys::{DJB_TYPE, IdentityKey, IdentityKeyPair, KeyPair, PrivateKey, PublicKey};
pub mod cert;
#[cfg(feature = "client")]
pub mod client;
pub mod credentials;
mod crypto;
#[doc(hidden)]
pub mod fuzzing;
pub mod machine;
pub mod media;
pub mod message;
pub mod noise;
pub mod pairing;
mod proto;
pub mod signal;
pub mod store;
