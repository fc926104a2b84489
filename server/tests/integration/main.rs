//! The server's integration tests: the line runtime against wa-sim and tenancy on SQLite, and
//! the voice-note remux on recorded and hand-built files.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)]

mod runtime;
mod voice;
