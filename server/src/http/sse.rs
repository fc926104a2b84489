//! `GET /api/events`: the bus as Server-Sent Events, scoped by the token ([`Scope`]): same
//! tenant; administrators get all of it; a user gets an event of a line only while that line is
//! assigned to them, and no administrator-only or line-less event. A user whose line is
//! reassigned, unassigned or deleted gets `line.unassigned` (`{"line_id"}`) and nothing of that
//! line after it.

use std::{collections::HashSet, convert::Infallible, sync::Arc, time::Duration};

use futures_util::stream;
use tenancy::{Caller, LineId};
use tokio::sync::{broadcast, mpsc};
use warp::{Reply, reply::Response, sse};

use crate::{
    error::ApiResult,
    events::{Audience, LINE_UNASSIGNED, ServerEvent},
    metrics::SseGuard,
    state::{AppState, Session},
};

/// What a stream's caller may receive: administrators everything of their tenant; a user the
/// events of lines assigned to them, and no administrator-only or line-less event. A user's
/// lines are read from the store when the stream opens and again whenever a line of the tenant
/// is created, assigned or deleted: the bus is ordered, so every later event is judged by the
/// new assignment, without a store query per event and stream.
pub struct Scope {
    member_id: String,
    /// `None` for administrators.
    user_lines: Option<HashSet<LineId>>,
}

impl Scope {
    /// The scope of `s` as the store says now.
    pub async fn load(s: &Session) -> Scope {
        let user_lines = match s.caller() {
            Caller::Admin(_) | Caller::System => None,
            caller @ Caller::User(_) => Some(match s.tenant.lines(caller).await {
                Ok(lines) => lines.into_iter().map(|l| l.id).collect(),
                Err(error) => {
                    // Fail closed: nothing until the next successful reload.
                    tracing::warn!(member_id = %s.claims.mid, %error, "stream scope not readable");
                    HashSet::new()
                }
            }),
        };
        Scope { member_id: s.claims.mid.clone(), user_lines }
    }

    /// Whether an event changes which lines a user sees.
    pub fn changes_scope(&self, e: &ServerEvent) -> bool {
        self.user_lines.is_some()
            && e.member_id == self.member_id
            && matches!(e.kind, "line.assigned" | "line.created" | "line.deleted")
    }

    /// The lines this (older) scope had that `newer` does not (a user's only).
    pub fn lost(&self, newer: &Scope) -> Vec<LineId> {
        match (&self.user_lines, &newer.user_lines) {
            (Some(old), Some(new)) => {
                let mut lost: Vec<LineId> = old.difference(new).copied().collect();
                lost.sort_unstable();
                lost
            }
            _ => Vec::new(),
        }
    }

    /// Whether the scope lets `e` through.
    pub fn allows(&self, e: &ServerEvent) -> bool {
        if e.member_id != self.member_id {
            return false;
        }
        match (&self.user_lines, e.audience, e.line_id) {
            (None, _, _) => true,
            (Some(_), Audience::Admins, _) | (Some(_), _, None) => false,
            (Some(lines), Audience::Line, Some(line)) => lines.contains(&line),
        }
    }
}

/// The SSE response. A task per stream reads the bus, lets through what its [`Scope`] allows
/// and hands it to the response through a channel; it ends when the client goes away.
pub async fn events(state: AppState, s: Session) -> ApiResult<Response> {
    tracing::info!(member_id = %s.claims.mid, user_id = s.claims.uid, "event stream opened");
    let (tx, rx) = mpsc::channel::<sse::Event>(256);
    let hello = sse::Event::default().event("hello").json_data(serde_json::json!({
        "member_id": s.claims.mid, "user_id": s.claims.uid, "role": s.claims.role,
    }));
    if let Ok(h) = hello {
        let _ = tx.try_send(h);
    }
    let bus = state.bus().subscribe();
    let guard = state.metrics().sse_client();
    tokio::spawn(pump(s, bus, tx, guard));
    let stream = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    // Within the server's idle timeout, so that an open stream is never taken for idle.
    let interval = (state.settings().limits.idle_timeout / 3).min(Duration::from_secs(15));
    let body = sse::keep_alive().interval(interval).stream(stream);
    Ok(sse::reply(body).into_response())
}

async fn pump(
    s: Session,
    mut bus: broadcast::Receiver<Arc<ServerEvent>>,
    tx: mpsc::Sender<sse::Event>,
    _guard: SseGuard,
) {
    let mut scope = Scope::load(&s).await;
    'stream: loop {
        let next = tokio::select! {
            _ = tx.closed() => break,
            next = bus.recv() => next,
        };
        let ev = match next {
            Ok(e) => {
                if scope.changes_scope(&e) {
                    let before = std::mem::replace(&mut scope, Scope::load(&s).await);
                    // The lines taken away: the panel removes their conversations now.
                    for line_id in before.lost(&scope) {
                        let gone = sse::Event::default()
                            .event(LINE_UNASSIGNED)
                            .json_data(serde_json::json!({ "line_id": line_id }));
                        if let Ok(gone) = gone
                            && tx.send(gone).await.is_err()
                        {
                            break 'stream;
                        }
                    }
                }
                if !scope.allows(&e) {
                    continue;
                }
                match sse::Event::default().event(e.kind).json_data(&e.payload) {
                    Ok(ev) => ev,
                    Err(_) => continue,
                }
            }
            // Too slow: tell the client to reload what it shows.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                sse::Event::default().event("resync").data(format!("{{\"skipped\":{n}}}"))
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if tx.send(ev).await.is_err() {
            break;
        }
    }
    tracing::debug!(member_id = %s.claims.mid, user_id = s.claims.uid, "event stream closed");
}
