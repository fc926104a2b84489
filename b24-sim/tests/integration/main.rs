//! b24-sim over HTTP, as an application (or an SDK) talks to Bitrix24: each module pins one
//! topic's behaviour to the REST documentation page its tests cite (RD = the repository
//! `bitrix-tools/b24-rest-docs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod support;

mod connector;
mod contact_center;
mod crm;
mod crm_shell;
mod faults;
mod oauth;
mod placement;
mod rest;
mod users;
