//! The HTTP surface on warp: [`filters`] builds the routes, the handlers live in [`api`],
//! [`bitrix`], [`sessions`], [`sse`] and [`meta`], the JSON shapes in [`models`].
//!
//! Every route is listed in [`ROUTES`]; the OpenAPI document ([`openapi`]) is checked against
//! it, and the tests check that each listed route answers.

pub mod api;
pub mod bitrix;
pub mod connection;
pub mod filters;
pub mod meta;
pub mod models;
pub mod openapi;
pub mod sending;
pub mod sessions;
pub mod sse;
pub mod ui;

pub use filters::routes;

/// Every route the server answers: (method, path with `{parameters}`).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/ui/{file}"),
    ("POST", "/b24/install"),
    ("POST", "/b24/app"),
    ("POST", "/b24/events"),
    ("GET", "/api/me"),
    ("GET", "/api/lines"),
    ("POST", "/api/lines"),
    ("GET", "/api/lines/{line_id}"),
    ("PATCH", "/api/lines/{line_id}"),
    ("DELETE", "/api/lines/{line_id}"),
    ("PUT", "/api/lines/{line_id}/assignment"),
    ("POST", "/api/lines/{line_id}/connect"),
    ("POST", "/api/lines/{line_id}/disconnect"),
    ("POST", "/api/lines/{line_id}/logout"),
    ("GET", "/api/lines/{line_id}/conversations"),
    ("GET", "/api/conversations/search"),
    ("GET", "/api/conversations/{conversation_id}"),
    ("GET", "/api/conversations/{conversation_id}/messages"),
    ("POST", "/api/conversations/{conversation_id}/messages"),
    ("POST", "/api/conversations/{conversation_id}/reactions"),
    ("POST", "/api/conversations/{conversation_id}/media"),
    ("POST", "/api/conversations/{conversation_id}/read"),
    ("GET", "/api/messages/{message_id}/media"),
    ("GET", "/api/users"),
    ("POST", "/api/users/{user_id}/sessions/revoke"),
    ("GET", "/api/audit"),
    ("GET", "/api/audit/export"),
    ("GET", "/api/audit/verify"),
    ("GET", "/api/subscription"),
    ("POST", "/api/subscription/upgrade"),
    ("POST", "/api/hooks/plan"),
    ("GET", "/api/events"),
];
