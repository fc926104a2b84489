//! wa-proto's integration tests, one binary.

mod codec;
