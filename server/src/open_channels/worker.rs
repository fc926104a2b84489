//! The outbox towards Bitrix24, sent: every installed portal's due items are claimed, oldest
//! first, and each becomes its connector call through the portal's b24-client (its rate limit,
//! token refresh and retries). Bitrix24 being down, rate limiting or refusing tokens puts the
//! item back with backoff, and a line's later items wait behind it, so nothing is lost and the
//! order holds; a refusal for good is kept as failed with its error. A claim is a lease, so
//! items claimed by a process that died are sent after the restart. Every outcome is audited
//! (`b24.connector_call`), logged and counted (`wab24_connector_calls_total`).
//!
//! Items of kinds carrying their own calls (`update_message`, `delete_message`,
//! `status_delivery`, `status_reading`) hold `{"open_line_id": N, "messages": [...]}`: the
//! method's `MESSAGES` as they go.

use std::{collections::HashSet, time::Duration};

use b24_client::{Error as B24Error, ErrorCode, Id, Portal};
use serde_json::{Value, json};
use tenancy::{B24MessageLink, B24OutboxItem, B24OutboxKind, Caller, Tenant, b24_backoff};

use super::{
    connector::CONNECTOR_ID,
    customer_message::{self, Context},
    line_state, registration,
};
use crate::{metrics::ConnectorOutcome, state::AppState};

/// How many items one round claims per portal.
const BATCH: u32 = 50;

/// How long a claim holds an item (longer than a call with its retries can take).
const LEASE: Duration = Duration::from_secs(120);

/// How often the worker looks when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Calls Bitrix24 accepted.
    pub done: usize,
    /// Items put back for later.
    pub retried: usize,
    /// Items Bitrix24 refused for good.
    pub failed: usize,
}

/// What to do with an item whose call failed.
enum Verdict {
    /// Try again later (at least after this long).
    Retry(Duration),
    /// Bitrix24 refused it; sending it again would not change that.
    Refused,
}

/// Whether a failed call is worth repeating. Everything that is about Bitrix24's or the
/// network's state (down, 5xx, rate limits, tokens, a line not active yet) is; a request
/// Bitrix24 says is wrong is not.
fn verdict(e: &B24Error, attempts: i64) -> Verdict {
    let backoff = b24_backoff(attempts);
    match e {
        B24Error::Api { code, status, .. } => match code {
            ErrorCode::QueryLimitExceeded | ErrorCode::OperationTimeLimit => {
                Verdict::Retry(backoff.max(Duration::from_secs(1)))
            }
            ErrorCode::Argument
            | ErrorCode::InvalidArgValue
            | ErrorCode::InvalidRequest
            | ErrorCode::ImconnectorNotAllTheRequiredData
            | ErrorCode::ImconnectorNotSpecifiedCorrectCommand => Verdict::Refused,
            ErrorCode::Other(_) if *status == 400 => Verdict::Refused,
            _ => Verdict::Retry(backoff),
        },
        B24Error::Decode { .. } => Verdict::Refused,
        // Uninstalled or reinstall required: kept until the portal comes back.
        B24Error::ReinstallRequired { .. } | B24Error::Uninstalled { .. } => {
            Verdict::Retry(backoff.max(Duration::from_secs(60)))
        }
        _ => Verdict::Retry(backoff),
    }
}

/// Runs the worker for ever: a round whenever something happens on the bus (a message stored,
/// a line changed) and every second; the connector is registered on every installed portal
/// first.
pub async fn run(state: AppState) {
    registration::register_all(&state).await;
    let mut events = state.bus().subscribe();
    loop {
        let round = deliver_due(&state).await;
        if round.done + round.retried + round.failed > 0 {
            tracing::debug!(?round, "Open Channels outbox round");
        }
        // Drain what woke us, then wait for more or the tick.
        while events.try_recv().is_ok() {}
        let _ = tokio::time::timeout(TICK, events.recv()).await;
    }
}

/// One round over every installed portal.
pub async fn deliver_due(state: &AppState) -> Round {
    let mut round = Round::default();
    let members = match state.store().active_tenants().await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "portals not listed for the Open Channels outbox");
            return round;
        }
    };
    for member_id in members {
        let Ok(tenant) = state.store().tenant(&member_id).await else { continue };
        let r = deliver_tenant(state, &tenant).await;
        round.done += r.done;
        round.retried += r.retried;
        round.failed += r.failed;
    }
    round
}

/// One round over one portal's due items.
pub async fn deliver_tenant(state: &AppState, tenant: &Tenant) -> Round {
    let mut round = Round::default();
    let items = match tenant.claim_b24_outbox(Caller::System, BATCH, LEASE, state.now()).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(member_id = tenant.member_id(), error = %e, "Open Channels outbox not read");
            return round;
        }
    };
    if items.is_empty() {
        return round;
    }
    let member_id = tenant.member_id().to_owned();
    let portal = state.portal(&member_id).await.ok();
    // A line whose item was put back: its later items wait, so that they keep their order.
    let mut held: HashSet<i64> = HashSet::new();
    for item in items {
        let outcome = match (&portal, held.contains(&item.line_id)) {
            (_, true) => Err((
                "an earlier item of the line waits".to_owned(),
                Verdict::Retry(Duration::ZERO),
            )),
            (None, false) => Err((
                "the portal is not reachable".to_owned(),
                Verdict::Retry(b24_backoff(item.attempts)),
            )),
            (Some(portal), false) => call(state, tenant, portal, &item).await.map_err(|e| {
                state.metrics().b24_error();
                let v = verdict(&e, item.attempts);
                (e.to_string(), v)
            }),
        };
        let now = state.now();
        match outcome {
            Ok((link, answer)) => {
                match tenant
                    .complete_b24_outbox(Caller::System, item.id, link.as_ref(), &answer, now)
                    .await
                {
                    Ok(_) => {
                        round.done += 1;
                        state.metrics().connector_call(ConnectorOutcome::Done);
                        tracing::info!(member_id, line_id = item.line_id, outbox_id = item.id, kind = %item.kind, "sent to Bitrix24");
                    }
                    Err(e) => {
                        // The call was made; the lease runs out and it is made again, which
                        // Bitrix24 answers with the same chat.
                        tracing::error!(member_id, outbox_id = item.id, error = %e, "sent to Bitrix24 but not recorded");
                    }
                }
            }
            Err((why, Verdict::Retry(after))) => {
                held.insert(item.line_id);
                let at = now.saturating_add(
                    time::Duration::try_from(after).unwrap_or(time::Duration::MINUTE),
                );
                if let Err(e) =
                    tenant.retry_b24_outbox(Caller::System, item.id, &why, at, now).await
                {
                    tracing::error!(member_id, outbox_id = item.id, error = %e, "outbox item not put back");
                }
                round.retried += 1;
                state.metrics().connector_call(ConnectorOutcome::Retried);
                tracing::warn!(member_id, line_id = item.line_id, outbox_id = item.id, kind = %item.kind, attempts = item.attempts, retry_in_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX), error = %why, "Bitrix24 call to be retried");
            }
            Err((why, Verdict::Refused)) => {
                if let Err(e) = tenant.fail_b24_outbox(Caller::System, item.id, &why, now).await {
                    tracing::error!(member_id, outbox_id = item.id, error = %e, "refused outbox item not recorded");
                }
                round.failed += 1;
                state.metrics().connector_call(ConnectorOutcome::Failed);
                tracing::error!(member_id, line_id = item.line_id, outbox_id = item.id, kind = %item.kind, error = %why, "Bitrix24 refused a connector call");
            }
        }
    }
    round
}

fn open_line_of(payload: &Value) -> Result<Id, B24Error> {
    payload.get("open_line_id").and_then(Value::as_u64).map(Id).ok_or_else(|| B24Error::Decode {
        what: "outbox payload",
        message: "no open_line_id".to_owned(),
    })
}

fn storage(e: tenancy::Error) -> B24Error {
    // Reading our own store failed: not Bitrix24's refusal, so the item is retried.
    B24Error::Transport { method: "tenancy".to_owned(), message: e.to_string() }
}

/// Makes an item's call. Returns the link to store (for a message sent) and what to audit.
async fn call(
    state: &AppState,
    tenant: &Tenant,
    portal: &Portal,
    item: &B24OutboxItem,
) -> Result<(Option<B24MessageLink>, Value), B24Error> {
    let payload: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
    match item.kind {
        B24OutboxKind::SendMessage => send_message(state, tenant, portal, item, &payload).await,
        B24OutboxKind::ConnectorStatus | B24OutboxKind::DataSet => {
            let answer = line_state::apply(state, tenant, portal, item.line_id, &payload).await?;
            Ok((None, answer))
        }
        B24OutboxKind::UpdateMessage
        | B24OutboxKind::DeleteMessage
        | B24OutboxKind::StatusDelivery
        | B24OutboxKind::StatusReading => {
            let line = open_line_of(&payload)?;
            let messages = payload.get("messages").cloned().unwrap_or(Value::Null);
            if !messages.is_array() {
                return Err(B24Error::Decode {
                    what: "outbox payload",
                    message: "no messages".to_owned(),
                });
            }
            let result = match item.kind {
                B24OutboxKind::UpdateMessage => {
                    portal.imconnector_update_messages(CONNECTOR_ID, line, messages).await?
                }
                B24OutboxKind::DeleteMessage => {
                    portal.imconnector_delete_messages(CONNECTOR_ID, line, messages).await?
                }
                B24OutboxKind::StatusDelivery => {
                    portal.imconnector_status_delivery(CONNECTOR_ID, line, messages).await?
                }
                _ => portal.imconnector_status_reading(CONNECTOR_ID, line, messages).await?,
            };
            Ok((None, json!({ "kind": item.kind.as_str(), "line": line.0, "result": result })))
        }
        _ => Err(B24Error::Decode {
            what: "outbox item",
            message: format!("unknown kind {}", item.kind),
        }),
    }
}

/// `imconnector.send.messages` for a stored message; the answer's session and chat are linked
/// to it (REST docs `imconnector-send-messages.md`: `DATA.RESULT[]` with `SUCCESS`, `ERRORS`,
/// `session{ID, CHAT_ID}`).
async fn send_message(
    state: &AppState,
    tenant: &Tenant,
    portal: &Portal,
    item: &B24OutboxItem,
    payload: &Value,
) -> Result<(Option<B24MessageLink>, Value), B24Error> {
    let line_no = open_line_of(payload)?;
    let message_id = item.message_id.ok_or_else(|| B24Error::Decode {
        what: "outbox item",
        message: "no message".to_owned(),
    })?;
    let message = tenant.message(Caller::System, message_id).await.map_err(storage)?;
    let conversation =
        tenant.conversation(Caller::System, message.conversation_id).await.map_err(storage)?;
    let line = tenant.line(Caller::System, item.line_id).await.map_err(storage)?;
    let quoted = match message.quoted_id {
        Some(q) => tenant.message(Caller::System, q).await.ok(),
        None => None,
    };
    let file_url = message
        .media
        .as_ref()
        .map(|_| super::files::file_url(state, tenant.member_id(), message.id));
    let cx =
        Context { line: &line, conversation: &conversation, quoted: quoted.as_ref(), file_url };
    let element = customer_message::element(&message, &cx);
    // A retried item may have reached Bitrix24 already (its answer lost, or the process died
    // before marking it done): Bitrix24 has no idempotency key for this method, so ask first.
    let found = if item.attempts > 1 {
        super::recovery::already_sent(portal, line_no, &element).await?
    } else {
        None
    };
    let (result, first, recovered) = match found {
        Some(found) => (json!({"SUCCESS": true}), found, true),
        None => {
            let result =
                portal.imconnector_send_messages(CONNECTOR_ID, line_no, json!([element])).await?;
            let first = result.pointer("/DATA/RESULT/0").cloned().unwrap_or(Value::Null);
            (result, first, false)
        }
    };
    let refused = result.get("SUCCESS").and_then(Value::as_bool) == Some(false)
        || first.get("SUCCESS").and_then(Value::as_bool) == Some(false);
    if refused {
        let errors = first.get("ERRORS").cloned().unwrap_or(Value::Null);
        return Err(B24Error::Api {
            code: ErrorCode::Other("SEND_MESSAGES_REFUSED".to_owned()),
            description: format!("imconnector.send.messages refused the message: {errors}"),
            status: 400,
        });
    }
    let number = customer_message::customer_number(&conversation);
    let as_i64 = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let session_id = as_i64(first.pointer("/session/ID"));
    let chat_id = as_i64(first.pointer("/session/CHAT_ID"));
    let link = B24MessageLink {
        message_id: message.id,
        line_id: line.id,
        b24_message_id: None,
        b24_chat_id: chat_id,
        external_chat_id: number.clone(),
        session_id,
    };
    let answer = json!({
        "method": "imconnector.send.messages",
        "line": line_no.0,
        "message_id": message.id,
        "wa_id": message.wa_id,
        "chat_id": number,
        "b24_user": first.get("user"),
        "session_id": session_id,
        "b24_chat_id": chat_id,
        "files": element.pointer("/message/files").map(|f| f.as_array().map_or(0, Vec::len)),
        "found_in_bitrix24": recovered,
    });
    Ok((Some(link), answer))
}
