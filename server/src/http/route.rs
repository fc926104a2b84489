//! What a route is: its method, path, access, writability, OpenAPI description and handler.
//! The routes themselves are listed in [`super::table`].

use warp::{filters::BoxedFilter, reply::Response};

use crate::state::{AppState, Session};

/// An HTTP method the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method as HTTP writes it (`GET`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// Who may call a route, checked by filters before the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; the handler may ask for a token of its own (`/metrics`).
    Public,
    /// Bitrix24, proven by its own means (a frame token or the `application_token`), which the
    /// handler checks against the portal.
    Bitrix,
    /// The billing system, with the plan hook's secret header.
    HookSecret,
    /// Any user of an installed portal, with a session token.
    Member,
    /// A portal administrator, with a session token.
    Admin,
}

/// What the OpenAPI document says of a route beyond its method, path and access.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    /// One line on what the route does.
    pub summary: &'static str,
    /// The request body: a schema name, `form` or `binary`.
    pub body: Option<&'static str>,
    /// The success status and what it returns (a schema name or a content kind).
    pub ok: (&'static str, &'static str),
    /// Error statuses the route itself answers, besides those of its access and body.
    pub errors: &'static [&'static str],
}

/// A built route: the filter answering it.
pub type Endpoint = BoxedFilter<(Response,)>;

/// How a handler is reached: what the filters in front of it produce (path matched, method
/// matched, access and writability checked), and how it takes its own input from there. Each
/// variant holds a builder given `g`, that filter; the builder adds the route's own input (a
/// JSON body, a query, headers) and calls the handler.
#[derive(Clone, Copy)]
pub enum Handler {
    /// No parameter in the path, no session: the state.
    Open(fn(BoxedFilter<(AppState,)>) -> Endpoint),
    /// A file name in the path, no session.
    File(fn(BoxedFilter<(String,)>) -> Endpoint),
    /// A text parameter in the path (a signed token), no session: the parameter and the state.
    Param(fn(BoxedFilter<(String, AppState)>) -> Endpoint),
    /// No parameter in the path: the state and the admitted caller.
    Scoped(fn(BoxedFilter<(AppState, Session)>) -> Endpoint),
    /// An object's id in the path: the id, the state and the admitted caller.
    ScopedId(fn(BoxedFilter<(i64, AppState, Session)>) -> Endpoint),
    /// The OpenAPI document of the table, which the router derives and serves itself (a
    /// handler listed in the table cannot reach the table).
    Document,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Open(_) => "Open",
            Handler::File(_) => "File",
            Handler::Param(_) => "Param",
            Handler::Scoped(_) => "Scoped",
            Handler::ScopedId(_) => "ScopedId",
            Handler::Document => "Document",
        })
    }
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path, parameters as `{name}`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Refused with 402 once the trial has ended (it changes something that costs).
    pub writable: bool,
    /// The session token may come as `?access_token=` too, where the browser cannot set a
    /// header (`<img src>`, `<audio src>`, EventSource).
    pub token_in_query: bool,
    /// The OpenAPI description.
    pub doc: Doc,
    /// The handler.
    pub handler: Handler,
}

impl Route {
    /// Whether a session token is asked for.
    pub fn scoped(&self) -> bool {
        matches!(self.access, Access::Member | Access::Admin)
    }
}
