#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chain;
mod error;
mod kind;
mod log;

pub use chain::{ChainKey, GENESIS, Hash};
pub use error::{Error, Result, TamperReason};
pub use kind::{Kind, UnknownKind};
pub use log::{
    Backend, Entry, Head, MAX_PAGE, Page, Query, Record, append, export_ndjson, head, is_keyed,
    query, schema_sql, seal, unix_ms, verify, verify_anchored,
};
