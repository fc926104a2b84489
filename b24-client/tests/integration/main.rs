//! b24-client against b24-sim, one binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

mod batch_lists;
mod calls;
mod faults;
mod inbound;
mod limits;
mod oauth;
