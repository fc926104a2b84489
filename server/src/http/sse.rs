//! `GET /api/events`: the bus as Server-Sent Events, scoped by the token ([`Scope`]): same
//! tenant; administrators get all of it; a user gets an event of a line only while that line is
//! assigned to them, and no administrator-only or line-less event. A user whose line is
//! reassigned, unassigned or deleted gets `line.unassigned` (`{"line_id"}`) and nothing of that
//! line after it. A stream re-admits its user every few seconds: when the session may not go on
//! (ended by an administrator, the user deactivated in the portal or outside the access list) it
//! sends `session.ended` (`{"reason"}`) and ends.
//!
//! This is the one place where a [`ServerEvent`] becomes JSON ([`render`]): the SSE event's name
//! and its data, the same for an event made on this node or received from another.

use std::{collections::HashSet, convert::Infallible, sync::Arc, time::Duration};

use futures_util::stream;
use serde_json::{Value, json};
use tenancy::{Caller, LineId};
use tokio::sync::{broadcast, mpsc};
use warp::{Reply, reply::Response, sse};

use crate::{
    error::ApiResult,
    events::{Audience, LINE_UNASSIGNED, ServerEvent},
    http::connection::state_json,
    metrics::SseGuard,
    state::{AppState, Session},
    wire::status_name,
};

/// The SSE name of an event (`line.status`, `message.stored`, ...), as the panel listens for it.
#[must_use]
pub fn event_name(e: &ServerEvent) -> &'static str {
    match e {
        ServerEvent::LineStatus { .. } => "line.status",
        ServerEvent::LineCreated { .. } => "line.created",
        ServerEvent::LineUpdated { .. } => "line.updated",
        ServerEvent::LineAssigned { .. } => "line.assigned",
        ServerEvent::LineDeleted { .. } => "line.deleted",
        ServerEvent::MessageStored { .. } => "message.stored",
        ServerEvent::MessageStatus { .. } => "message.status",
        ServerEvent::SendFailed { .. } => "message.send_failed",
        ServerEvent::ConversationRead { .. } => "conversation.read",
        ServerEvent::ConversationOpened { .. } => "conversation.opened",
        ServerEvent::SubscriptionChanged { .. } => "subscription.changed",
    }
}

/// An event's SSE name and data. The data keeps every field the stream has had (the panel, the
/// end-to-end tests and the README rely on them); `message.stored` and `message.status` carry
/// the message itself as `message`, as `GET /api/conversations/{id}/messages` shows it, so that
/// a viewer appends it without asking for it. Never a token or an error text.
#[must_use]
pub fn render(e: &ServerEvent) -> (&'static str, Value) {
    let data = match e {
        ServerEvent::LineStatus { line_id, state, .. } => state_json(*line_id, state),
        ServerEvent::LineCreated { line, .. } | ServerEvent::LineUpdated { line, .. } => {
            json!({ "line": line })
        }
        ServerEvent::LineAssigned { line, previous_user, .. } => {
            json!({ "line": line, "previous_user": previous_user })
        }
        ServerEvent::LineDeleted { line_id, .. } => json!({ "line_id": line_id }),
        ServerEvent::MessageStored { message, unread, .. } => json!({
            "line_id": message.line_id,
            "message_id": message.id,
            "conversation_id": message.conversation_id,
            "direction": message.direction,
            "unread": unread,
            "message": message,
        }),
        ServerEvent::MessageStatus { line_id, message_id, status, message, .. } => json!({
            "line_id": line_id,
            "message_id": message_id,
            "status": status_name(*status),
            "message": message,
        }),
        ServerEvent::SendFailed { line_id, message_id, .. } => {
            json!({ "line_id": line_id, "message_id": message_id })
        }
        ServerEvent::ConversationRead { line_id, conversation_id, .. } => {
            json!({ "conversation_id": conversation_id, "line_id": line_id, "unread": 0 })
        }
        ServerEvent::ConversationOpened { line_id, conversation_id, .. } => {
            json!({ "conversation_id": conversation_id, "line_id": line_id })
        }
        ServerEvent::SubscriptionChanged { plan, lines_allowed, trial_ends_at, .. } => json!({
            "plan": plan, "lines_allowed": lines_allowed, "trial_ends_at": trial_ends_at,
        }),
    };
    (event_name(e), data)
}

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
        self.user_lines.is_some() && e.member_id() == self.member_id && e.changes_assignment()
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
        if e.member_id() != self.member_id {
            return false;
        }
        match (&self.user_lines, e.audience(), e.line_id()) {
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
    tokio::spawn(pump(state.clone(), s, bus, tx, guard));
    let stream = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    // Within the server's idle timeout, so that an open stream is never taken for idle.
    let interval = (state.settings().limits.idle_timeout / 3).min(Duration::from_secs(15));
    let body = sse::keep_alive().interval(interval).stream(stream);
    Ok(sse::reply(body).into_response())
}

/// How often an open stream re-admits its user at most (and reloads a user's lines, which
/// follow their departments).
const READMIT_EVERY: Duration = Duration::from_secs(5);

/// The stream's last event when its session may not go on (ended by an administrator, the
/// user deactivated in the portal or left out of the access list, the app reinstalled).
pub const SESSION_ENDED: &str = "session.ended";

async fn pump(
    state: AppState,
    s: Session,
    mut bus: broadcast::Receiver<Arc<ServerEvent>>,
    tx: mpsc::Sender<sse::Event>,
    _guard: SseGuard,
) {
    let mut scope = Scope::load(&s).await;
    let mut readmit = tokio::time::interval(READMIT_EVERY.min(state.settings().limits.user_cache));
    readmit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    readmit.tick().await;
    'stream: loop {
        let next = tokio::select! {
            _ = tx.closed() => break,
            _ = readmit.tick() => {
                if let Err(e) = state.readmit(&s).await {
                    tracing::info!(member_id = %s.claims.mid, user_id = s.claims.uid, "event stream ended: {e}");
                    let ended = sse::Event::default()
                        .event(SESSION_ENDED)
                        .json_data(serde_json::json!({ "reason": e.to_string() }));
                    if let Ok(ended) = ended {
                        let _ = tx.send(ended).await;
                    }
                    break;
                }
                let newer = Scope::load(&s).await;
                for line_id in scope.lost(&newer) {
                    let gone = sse::Event::default()
                        .event(LINE_UNASSIGNED)
                        .json_data(serde_json::json!({ "line_id": line_id }));
                    if let Ok(gone) = gone
                        && tx.send(gone).await.is_err()
                    {
                        break 'stream;
                    }
                }
                scope = newer;
                continue;
            }
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
                let (name, data) = render(&e);
                match sse::Event::default().event(name).json_data(&data) {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tenancy::MessageStatus;

    use super::*;
    use crate::{
        events::LineState,
        wire::{LineOut, MediaOut, MessageOut},
    };

    const MEMBER: &str = "m1";

    fn line() -> LineOut {
        LineOut {
            id: 3,
            name: "Sales".to_owned(),
            phone: Some("79160000001".to_owned()),
            status: "connected".to_owned(),
            assigned_user: Some(2),
            assigned_department: None,
            responsible_mode: "first_to_answer".to_owned(),
            created_at: 1_700_000_000_000,
            send_read_receipts: true,
            open_channel: "panel".to_owned(),
            open_line_id: None,
            open_channel_status: "off".to_owned(),
            open_channel_signature: true,
            state: Some("connected".to_owned()),
        }
    }

    fn message() -> MessageOut {
        MessageOut {
            id: 7,
            conversation_id: 5,
            line_id: 3,
            direction: "in".to_owned(),
            kind: "image".to_owned(),
            text: Some("a picture".to_owned()),
            media: Some(MediaOut {
                mime: "image/jpeg".to_owned(),
                size: 1234,
                sha256: "ab".repeat(32),
                file_name: None,
                url: "/api/messages/7/media".to_owned(),
            }),
            quoted_id: None,
            status: "delivered".to_owned(),
            sent_at: None,
            delivered_at: Some(1_700_000_000_500),
            read_at: None,
            sender: "79160000002@s.whatsapp.net".to_owned(),
            at: 1_700_000_000_000,
            note: None,
        }
    }

    /// One event of each kind, named for its snapshot.
    fn every_event() -> Vec<(&'static str, ServerEvent)> {
        let member_id = MEMBER.to_owned();
        vec![
            (
                "line_status_connected",
                ServerEvent::LineStatus {
                    member_id: member_id.clone(),
                    line_id: 3,
                    state: LineState::Connected,
                },
            ),
            (
                "line_status_reconnecting",
                ServerEvent::LineStatus {
                    member_id: member_id.clone(),
                    line_id: 3,
                    state: LineState::Reconnecting {
                        reason: "stream error".to_owned(),
                        retry_in: Duration::from_millis(1500),
                    },
                },
            ),
            (
                "line_status_qr",
                ServerEvent::LineStatus {
                    member_id: member_id.clone(),
                    line_id: 3,
                    state: LineState::Qr {
                        code: "2@ref,key".to_owned(),
                        expires: Duration::from_secs(60),
                    },
                },
            ),
            (
                "line_created",
                ServerEvent::LineCreated { member_id: member_id.clone(), line: line() },
            ),
            (
                "line_updated",
                ServerEvent::LineUpdated { member_id: member_id.clone(), line: line() },
            ),
            (
                "line_assigned",
                ServerEvent::LineAssigned {
                    member_id: member_id.clone(),
                    line: line(),
                    previous_user: Some(4),
                },
            ),
            ("line_deleted", ServerEvent::LineDeleted { member_id: member_id.clone(), line_id: 3 }),
            (
                "message_stored",
                ServerEvent::MessageStored {
                    member_id: member_id.clone(),
                    message: message(),
                    unread: 2,
                },
            ),
            (
                "message_status",
                ServerEvent::MessageStatus {
                    member_id: member_id.clone(),
                    line_id: 3,
                    message_id: 7,
                    wa_id: "3EB0ABCDEF".to_owned(),
                    status: MessageStatus::Delivered,
                    message: Some(message()),
                },
            ),
            (
                "message_send_failed",
                ServerEvent::SendFailed {
                    member_id: member_id.clone(),
                    line_id: 3,
                    message_id: 7,
                    error: "not connected".to_owned(),
                },
            ),
            (
                "conversation_read",
                ServerEvent::ConversationRead {
                    member_id: member_id.clone(),
                    line_id: 3,
                    conversation_id: 5,
                },
            ),
            (
                "conversation_opened",
                ServerEvent::ConversationOpened {
                    member_id: member_id.clone(),
                    line_id: 3,
                    conversation_id: 5,
                },
            ),
            (
                "subscription_changed",
                ServerEvent::SubscriptionChanged {
                    member_id,
                    plan: "pro".to_owned(),
                    lines_allowed: 10,
                    trial_ends_at: None,
                },
            ),
        ]
    }

    #[test]
    fn each_event_renders_as_the_stream_sends_it() {
        for (snapshot, event) in every_event() {
            let (name, mut data) = render(&event);
            if let Some(svg) = data.get_mut("qr_svg") {
                // The picture is qrcode's business; its presence is the stream's.
                assert!(svg.as_str().is_some_and(|s| s.starts_with("<?xml")), "{svg}");
                *svg = json!("<svg>");
            }
            insta::assert_json_snapshot!(
                format!("sse_event_{snapshot}"),
                json!({ "event": name, "data": data })
            );
        }
    }

    #[test]
    fn events_travel_between_nodes_unchanged() {
        for (_, event) in every_event() {
            let wire = serde_json::to_string(&event).unwrap();
            let back: ServerEvent = serde_json::from_str(&wire).unwrap();
            assert_eq!(back, event, "{wire}");
            assert_eq!(render(&back), render(&event));
        }
    }

    #[test]
    fn stored_messages_keep_the_fields_the_stream_always_had() {
        let event =
            ServerEvent::MessageStored { member_id: MEMBER.into(), message: message(), unread: 2 };
        let (_, data) = render(&event);
        for (key, value) in [
            ("line_id", json!(3)),
            ("message_id", json!(7)),
            ("conversation_id", json!(5)),
            ("direction", json!("in")),
            ("unread", json!(2)),
        ] {
            assert_eq!(data[key], value, "{key}");
        }
        assert_eq!(data["message"], serde_json::to_value(message()).unwrap());
    }

    #[test]
    fn qr_codes_deleted_lines_and_plans_are_for_administrators() {
        let audiences: Vec<(&str, Audience)> =
            every_event().iter().map(|(n, e)| (*n, e.audience())).collect();
        for (name, audience) in audiences {
            let admins_only =
                matches!(name, "line_status_qr" | "line_deleted" | "subscription_changed");
            assert_eq!(audience == Audience::Admins, admins_only, "{name}");
        }
    }
}
