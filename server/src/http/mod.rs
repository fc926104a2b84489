//! The HTTP surface on warp. [`table`] lists every [`route`] once (method, path, who may call it,
//! whether it writes, its OpenAPI description and its handler); [`router`] builds the warp
//! routes from it, with authentication, role and writability as [`filters`] in front of each
//! handler; [`openapi`] derives the document from it.
//!
//! Handlers, by resource: [`lines`] (and [`connection`] to WhatsApp), [`conversations`] (and
//! [`chats`], writing first), [`messages`], [`media`] (and [`media_links`], signed links for Bitrix24), [`users`], [`audit`], [`subscription`]; the Bitrix24 app in
//! [`bitrix`], the event stream in [`sse`], the panel's files in [`ui`], probes and the document
//! in [`meta`]; JSON shapes in [`models`].

pub mod access;
pub mod audit;
pub mod bitrix;
pub mod chats;
pub mod connection;
pub mod connector_page;
pub mod conversations;
pub mod crm;
pub mod crm_tab;
pub mod filters;
pub mod lines;
pub mod media;
pub mod media_links;
pub mod messages;
pub mod meta;
pub mod models;
pub mod open_lines;
pub mod openapi;
pub mod route;
pub mod router;
mod shared;
pub mod sms_provider;
pub mod sse;
pub mod subscription;
pub mod table;
pub mod ui;
pub mod users;

pub use router::routes;
pub use table::ROUTES;
