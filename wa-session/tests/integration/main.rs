//! wa-session's integration tests, one binary.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)]

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod client_media;
#[cfg(feature = "client")]
mod client_messaging;
mod fuzz_seeds;
mod media;
mod message;
mod noise;
mod session;
mod vectors;
