//! The server's integration tests: the line runtime against wa-sim and tenancy on SQLite, and
//! the voice-note remux on recorded and hand-built files.

mod runtime;
mod voice;
