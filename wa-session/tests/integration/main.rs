//! wa-session's integration tests, one binary.

mod media;
mod session;
mod vectors;
