//! wa-proto's integration tests, one binary.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod codec;
mod fuzz_seeds;
mod protobuf;
