#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod keys;
pub mod xeddsa;

pub use error::{Error, Result};
pub use keys::{DJB_TYPE, IdentityKey, IdentityKeyPair, KeyPair, PrivateKey, PublicKey};
mod crypto;
#[doc(hidden)]
pub mod fuzzing;
pub mod media;
mod proto;
pub mod signal;
pub mod store;
