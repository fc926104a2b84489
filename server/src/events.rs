//! The in-process event bus: everything the API and the line runtimes do that a browser should
//! see live. SSE streams subscribe and filter per token (see `http::sse`).

use std::sync::Arc;

use serde_json::Value;
use tenancy::LineId;
use tokio::sync::broadcast;

use crate::runtime::{LineEvent, LineEventKind, LineState};

/// The event a user's stream gets when one of their lines is taken away (reassigned,
/// unassigned or deleted): `{"line_id": ..}`, so that the panel removes its conversations at
/// once. Made by the stream itself (`http::sse`), which alone knows what its user had.
pub const LINE_UNASSIGNED: &str = "line.unassigned";

/// Who may receive an event (within its tenant; never another tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Administrators, and users to whom the event's line is assigned when it is delivered (an
    /// event without a line goes to administrators only).
    Line,
    /// Administrators only (QR codes, tenant-wide notices).
    Admins,
}

/// One event of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEvent {
    /// The tenant.
    pub member_id: String,
    /// The line it concerns, if any.
    pub line_id: Option<LineId>,
    /// What happened (`line.created`, `line.assigned`, `message.stored`, ...): the SSE event name.
    pub kind: &'static str,
    /// The data sent to the browser (never tokens).
    pub payload: Value,
    /// Who may see it.
    pub audience: Audience,
}

/// A broadcast bus of [`ServerEvent`]s. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<ServerEvent>>,
}

impl EventBus {
    /// A bus that buffers `capacity` events per slow subscriber before it lags.
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(16));
        EventBus { tx }
    }

    /// Publishes an event (nobody listening is fine).
    pub fn publish(&self, event: ServerEvent) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ServerEvent>> {
        self.tx.subscribe()
    }
}

/// Turns a line runtime's event into the bus's form (QR codes go to administrators only).
pub fn from_line_event(e: &LineEvent) -> ServerEvent {
    let (kind, payload, audience) = match &e.kind {
        LineEventKind::Status(state) => {
            let audience = match state {
                LineState::Qr { .. } => Audience::Admins,
                _ => Audience::Line,
            };
            ("line.status", crate::http::connection::state_json(e.line_id, state), audience)
        }
        LineEventKind::MessageStored {
            message_id,
            conversation_id,
            wa_id: _,
            direction,
            unread,
        } => (
            "message.stored",
            serde_json::json!({ "line_id": e.line_id, "message_id": message_id,
                "conversation_id": conversation_id, "direction": direction.as_str(), "unread": unread }),
            Audience::Line,
        ),
        LineEventKind::MessageStatus { message_id, wa_id: _, status } => (
            "message.status",
            serde_json::json!({ "line_id": e.line_id, "message_id": message_id,
                "status": crate::http::models::status_name(*status) }),
            Audience::Line,
        ),
        LineEventKind::SendFailed { message_id, error: _ } => (
            "message.send_failed",
            serde_json::json!({ "line_id": e.line_id, "message_id": message_id }),
            Audience::Line,
        ),
    };
    ServerEvent {
        member_id: e.member_id.clone(),
        line_id: Some(e.line_id),
        kind,
        payload,
        audience,
    }
}

/// Forwards a line runtime's events to the bus until the runtime is dropped, counting messages
/// in and out.
pub async fn forward_line_events(
    mut rx: broadcast::Receiver<LineEvent>,
    bus: EventBus,
    metrics: Arc<crate::metrics::Metrics>,
) {
    loop {
        match rx.recv().await {
            Ok(e) => {
                if let LineEventKind::MessageStored { direction, .. } = &e.kind {
                    metrics.message(*direction);
                }
                bus.publish(from_line_event(&e));
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "event bus forwarder lagged behind the line runtime");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
