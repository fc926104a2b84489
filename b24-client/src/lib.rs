#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod batch;
mod client;
mod clock;
mod envelope;
mod error;
pub mod form;
pub mod inbound;
mod limits;
mod list;
mod oauth;
pub mod quirks;
mod secret;
mod services;

#[doc(hidden)]
pub mod fuzzing;

pub use batch::{BATCH_LIMIT, Batch, BatchResult, command_string, result_ref};
pub use client::{CallOptions, Client, ClientBuilder, ClientConfig, FrameUser, Portal};
pub use clock::{Clock, ManualClock, SystemClock, now_unix};
pub use envelope::{Envelope, TimeInfo, parse as parse_envelope};
pub use error::{BodyKind, Error, ErrorCode, Result};
pub use limits::{BucketState, Jitter, RateLimit, RetryPolicy, is_idempotent};
pub use list::{PAGE_SIZE, page_items};
pub use oauth::{
    DEFAULT_SERVER_ENDPOINT, MemoryTokenStore, OAuthApp, TokenSet, TokenStore,
    parse_token_response, split_scope, token_endpoint,
};
pub use quirks::Id;
pub use secret::Secret;
pub use services::{AppInfo, Department, DuplicateMatches, User};
