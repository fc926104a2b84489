//! wa-proto's integration tests, one binary.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod baileys_nodes;
mod codec;
mod fuzz_seeds;
mod node_json;
mod protobuf;
