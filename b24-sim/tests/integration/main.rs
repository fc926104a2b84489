//! b24-sim's integration tests: each module drives the simulator over HTTP as an application
//! would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod contact_center;
