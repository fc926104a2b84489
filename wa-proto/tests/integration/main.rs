//! wa-proto's integration tests, one binary.

mod codec;
mod fuzz_seeds;
