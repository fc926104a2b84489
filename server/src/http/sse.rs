//! `GET /api/events`: the bus as Server-Sent Events, scoped by the token. Each event is checked
//! when it is delivered: same tenant; administrators get all of it; a user gets an event of a
//! line only while that line is assigned to them (asked of the store at that moment), and no
//! administrator-only or line-less event.

use std::{convert::Infallible, sync::Arc, time::Duration};

use futures_util::stream;
use tenancy::Caller;
use tokio::sync::{broadcast, mpsc};
use warp::{Reply, reply::Response, sse};

use crate::{
    error::ApiResult,
    events::{Audience, ServerEvent},
    metrics::SseGuard,
    state::{AppState, Session},
};

/// Whether `s` may receive `e` now.
pub async fn may_see(s: &Session, e: &ServerEvent) -> bool {
    if e.member_id != s.claims.mid {
        return false;
    }
    match (s.caller(), e.audience, e.line_id) {
        (Caller::Admin(_) | Caller::System, _, _) => true,
        (Caller::User(_), Audience::Admins, _) | (Caller::User(_), _, None) => false,
        (caller @ Caller::User(_), Audience::Line, Some(line)) => {
            s.tenant.line(caller, line).await.is_ok()
        }
    }
}

/// The SSE response. A task per stream reads the bus and applies [`may_see`] (which asks the
/// store), and hands what passes to the response through a channel; it ends when the client
/// goes away.
pub async fn events(state: AppState, bearer: Option<String>) -> ApiResult<Response> {
    let s = state.authenticate(bearer.as_deref()).await?;
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
    let body = sse::keep_alive().interval(Duration::from_secs(15)).stream(stream);
    Ok(sse::reply(body).into_response())
}

async fn pump(
    s: Session,
    mut bus: broadcast::Receiver<Arc<ServerEvent>>,
    tx: mpsc::Sender<sse::Event>,
    _guard: SseGuard,
) {
    loop {
        let next = tokio::select! {
            _ = tx.closed() => break,
            next = bus.recv() => next,
        };
        let ev = match next {
            Ok(e) => {
                if !may_see(&s, &e).await {
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
