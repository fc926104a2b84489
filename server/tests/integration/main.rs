//! The server's integration tests: the HTTP surface against b24-sim (Bitrix24 app endpoints,
//! API, permission matrix, SSE, OpenAPI, metrics), the line runtime against wa-sim and tenancy
//! on SQLite, the embedded chat panel, and the voice-note remux on recorded and hand-built
//! files.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)]

mod access;
mod api;
mod app;
mod bitrix;
mod cli;
mod crm;
mod crm_restart;
mod crm_tab;
mod flow;
mod hardening;
mod matrix;
mod meta;
mod open_channels;
mod open_channels_faults;
mod open_channels_restart;
mod operator;
mod product;
mod reliability;
mod restart;
mod runtime;
mod sms_provider;
mod sse;
mod ui;
mod voice;
mod write_first;
