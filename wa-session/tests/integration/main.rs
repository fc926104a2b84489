//! wa-session's integration tests, one binary.

mod media;
