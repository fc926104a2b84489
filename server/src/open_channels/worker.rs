//! The outbox towards Bitrix24, sent: every installed portal's due items are claimed, oldest
//! first, and each becomes its connector call through the portal's b24-client (its rate limit,
//! token refresh and retries). Bitrix24 being down, rate limiting or refusing tokens puts the
//! item back with backoff, and a line's later items wait behind it, so nothing is lost and the
//! order holds; a refusal for good is kept as failed with its error. A claim is a lease, so
//! items claimed by a process that died are sent after the restart. Every outcome is audited
//! (`b24.connector_call`), logged and counted (`wab24_connector_calls_total`).
//!
//! A `confirm_event` item is a connector event to confirm with the portal before acting on it
//! ([`super::confirm`]); it is retried like a call, but neither waits for its line's calls nor
//! holds them.
//!
//! Items of kinds carrying their own calls (`update_message`, `delete_message`,
//! `status_delivery`, `status_reading`) hold `{"open_line_id": N, "messages": [...]}`: the
//! method's `MESSAGES` as they go.

use std::{collections::HashSet, time::Duration};

use b24_client::{Error as B24Error, ErrorCode, Id, Portal};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tenancy::{B24MessageLink, B24OutboxItem, B24OutboxKind, Caller, Tenant, b24_backoff};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::{
    connector::CONNECTOR_ID,
    customer_message::{self, Context},
    line_state, registration,
    store_error::storage,
};
use crate::{metrics::ConnectorOutcome, state::AppState};

/// How many items one round claims per portal.
const BATCH: u32 = 50;

/// How long a claim holds an item (longer than a call with its retries can take).
const LEASE: Duration = Duration::from_secs(120);

/// How often the worker tries again to bring message providers in step after a failure.
const SENDERS_RETRY: Duration = Duration::from_secs(30);

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
/// first, and the CRM cards' WhatsApp tab bound ([`crate::crm_tab::placements`]).
pub async fn run(state: AppState) {
    registration::register_all(&state).await;
    crate::crm_tab::placements::bind_all(&state).await;
    let mut events = state.bus().subscribe();
    let mut senders_due = tokio::time::Instant::now();
    loop {
        let round = deliver_due(&state).await;
        // Message providers a failed sync left out of step, tried again now and then.
        if tokio::time::Instant::now() >= senders_due {
            super::sms_senders::sync_stale(&state).await;
            senders_due = tokio::time::Instant::now() + SENDERS_RETRY;
        }
        if round.done + round.retried + round.failed > 0 {
            tracing::debug!(?round, "Open Channels outbox round");
        }
        // Wait for an event (one that came during the round counts) or the tick, then take
        // every event waiting: the next round sees what they announce.
        let woken = tokio::time::timeout(TICK, async {
            tokio::select! {
                received = events.recv() => matches!(received, Err(RecvError::Closed)),
                () = state.b24_outbox_woken() => false,
            }
        });
        if let Ok(true) = woken.await {
            tokio::time::sleep(TICK).await;
        }
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = events.try_recv() {}
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
    // Portals side by side (a slow or rate-limited one holds up no other), a few at a time.
    let rounds: Vec<Round> = futures_util::stream::iter(members)
        .map(|member_id| async move {
            match state.store().tenant(&member_id).await {
                Ok(tenant) => deliver_tenant(state, &tenant).await,
                Err(_) => Round::default(),
            }
        })
        .buffer_unordered(PORTALS_AT_ONCE)
        .collect()
        .await;
    for r in rounds {
        round.done += r.done;
        round.retried += r.retried;
        round.failed += r.failed;
    }
    round
}

/// How many portals a round serves at once.
const PORTALS_AT_ONCE: usize = 8;

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
    // A line (and lane) whose item was put back: its later items wait, so that they keep
    // their order.
    let mut held: HashSet<(i64, bool)> = HashSet::new();
    let mut next = 0;
    while next < items.len() {
        let item = &items[next];
        let run = message_run(&items[next..]);
        if let (Some(portal), false, true) = (&portal, held.contains(&lane(item)), run > 1) {
            let group = &items[next..next + run];
            if let Some(outcomes) = send_messages(state, tenant, portal, group).await {
                for (item, outcome) in group.iter().zip(outcomes) {
                    settle(state, tenant, &mut round, &mut held, item, outcome).await;
                }
                next += run;
                continue;
            }
        }
        // A connector event to confirm is a read of the portal: it neither waits for the
        // line's calls nor holds them.
        let waits = held.contains(&lane(item)) && item.kind != B24OutboxKind::ConfirmEvent;
        let outcome = match (&portal, waits) {
            (_, true) => Err((
                "an earlier item of the line waits".to_owned(),
                Verdict::Retry(Duration::ZERO),
            )),
            (None, false) => Err((
                "the portal is not reachable".to_owned(),
                Verdict::Retry(b24_backoff(item.attempts)),
            )),
            (Some(portal), false) => call(state, tenant, portal, item).await.map_err(|e| {
                state.metrics().b24_error();
                let v = verdict(&e, item.attempts);
                (e.to_string(), v)
            }),
        };
        settle(state, tenant, &mut round, &mut held, item, outcome).await;
        next += 1;
    }
    round
}

/// The queue an item waits in: its line's CRM work, or the rest of its line's calls (CRM
/// work held up by Bitrix24 never holds up a customer's messages to the Open Line).
fn lane(item: &B24OutboxItem) -> (i64, bool) {
    (item.line_id, item.kind.is_crm())
}

/// What came of an item's call: the link and the audit record, or why not and what next.
type Outcome = Result<(Option<B24MessageLink>, Value), (String, Verdict)>;

/// Records what came of an item: done, put back (holding its line's later items), or failed.
async fn settle(
    state: &AppState,
    tenant: &Tenant,
    round: &mut Round,
    held: &mut HashSet<(i64, bool)>,
    item: &B24OutboxItem,
    outcome: Outcome,
) {
    let member_id = tenant.member_id();
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
                    // The call was made; once the lease runs out it is made again.
                    tracing::error!(member_id, outbox_id = item.id, error = %e, "sent to Bitrix24 but not recorded");
                }
            }
        }
        Err((why, Verdict::Retry(after))) => {
            if item.kind != B24OutboxKind::ConfirmEvent {
                held.insert(lane(item));
            }
            let at = now
                .saturating_add(time::Duration::try_from(after).unwrap_or(time::Duration::MINUTE));
            if let Err(e) = tenant.retry_b24_outbox(Caller::System, item.id, &why, at, now).await {
                tracing::error!(member_id, outbox_id = item.id, error = %e, "outbox item not put back");
            }
            round.retried += 1;
            state.metrics().connector_call(ConnectorOutcome::Retried);
            if matches!(item.kind, B24OutboxKind::ConnectorStatus | B24OutboxKind::DataSet)
                && item.attempts >= 2
            {
                // Still not confirmed after a retry (an Open Line that is not active, Bitrix24
                // away): the line shows the error until a call goes through.
                line_state::refused(state, tenant, item.line_id).await;
            }
            tracing::warn!(member_id, line_id = item.line_id, outbox_id = item.id, kind = %item.kind, attempts = item.attempts, retry_in_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX), error = %why, "Bitrix24 call to be retried");
        }
        Err((why, Verdict::Refused)) => {
            if let Err(e) = tenant.fail_b24_outbox(Caller::System, item.id, &why, now).await {
                tracing::error!(member_id, outbox_id = item.id, error = %e, "refused outbox item not recorded");
            }
            round.failed += 1;
            state.metrics().connector_call(ConnectorOutcome::Failed);
            if matches!(item.kind, B24OutboxKind::ConnectorStatus | B24OutboxKind::DataSet) {
                // Bitrix24 refused the connector on that Open Line (a wrong or deleted one).
                line_state::refused(state, tenant, item.line_id).await;
            }
            tracing::error!(member_id, line_id = item.line_id, outbox_id = item.id, kind = %item.kind, error = %why, "Bitrix24 refused a connector call");
        }
    }
}

/// The most messages one `imconnector.send.messages` call carries.
const MAX_MESSAGES_PER_CALL: usize = 20;

/// How many items from the first are customer messages to the same Open Line of the same line,
/// which one call can carry (Bitrix24 allows a couple of requests a second per portal).
fn message_run(items: &[B24OutboxItem]) -> usize {
    let Some(first) = items.first() else { return 0 };
    if first.kind != B24OutboxKind::SendMessage {
        return 1;
    }
    items
        .iter()
        .take(MAX_MESSAGES_PER_CALL)
        .take_while(|i| {
            i.kind == B24OutboxKind::SendMessage
                && i.line_id == first.line_id
                && i.payload == first.payload
        })
        .count()
}

/// Sends several customer messages in one call. `None` when one of them cannot be prepared or
/// Bitrix24 refuses the call as a whole for what it is: they then go one by one, so that only
/// the wrong one fails.
async fn send_messages(
    state: &AppState,
    tenant: &Tenant,
    portal: &Portal,
    group: &[B24OutboxItem],
) -> Option<Vec<Outcome>> {
    let mut prepared = Vec::with_capacity(group.len());
    for item in group {
        prepared.push(prepare_message(state, tenant, item).await.ok()?);
    }
    let line_no = prepared.first()?.line_no;
    let retry_all = |e: &B24Error, attempts: i64| {
        state.metrics().b24_error();
        match verdict(e, attempts) {
            Verdict::Refused => None,
            Verdict::Retry(after) => {
                Some(group.iter().map(|_| Err((e.to_string(), Verdict::Retry(after)))).collect())
            }
        }
    };
    // A retried message may be in Bitrix24 already (see `recovery`): each is looked for first.
    let mut found: Vec<Option<Value>> = Vec::with_capacity(group.len());
    for (item, p) in group.iter().zip(&prepared) {
        if item.attempts <= 1 {
            found.push(None);
            continue;
        }
        match super::recovery::already_sent(portal, line_no, &p.element).await {
            Ok(f) => found.push(f),
            Err(e) => return retry_all(&e, item.attempts),
        }
    }
    let elements: Vec<Value> = prepared
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(p, _)| p.element.clone())
        .collect();
    let result = if elements.is_empty() {
        json!({"SUCCESS": true})
    } else {
        match portal.imconnector_send_messages(CONNECTOR_ID, line_no, json!(elements)).await {
            Ok(result) => result,
            Err(e) => return retry_all(&e, group[0].attempts),
        }
    };
    let mut sent = 0;
    Some(
        prepared
            .into_iter()
            .zip(found)
            .map(|(p, found)| {
                let recovered = found.is_some();
                let (whole, own) = match found {
                    Some(own) => (json!({"SUCCESS": true}), own),
                    None => {
                        let own = result.pointer(&format!("/DATA/RESULT/{sent}")).cloned();
                        sent += 1;
                        (result.clone(), own.unwrap_or(Value::Null))
                    }
                };
                p.finish(&whole, own)
                    .map(|(link, mut answer)| {
                        if recovered {
                            answer["found_in_bitrix24"] = json!(true);
                        }
                        (link, answer)
                    })
                    .map_err(|e| {
                        let v = verdict(&e, 0);
                        (e.to_string(), v)
                    })
            })
            .collect(),
    )
}

fn open_line_of(payload: &Value) -> Result<Id, B24Error> {
    payload.get("open_line_id").and_then(Value::as_u64).map(Id).ok_or_else(|| B24Error::Decode {
        what: "outbox payload",
        message: "no open_line_id".to_owned(),
    })
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
        B24OutboxKind::SendMessage => send_message(state, tenant, portal, item).await,
        B24OutboxKind::ConnectorStatus | B24OutboxKind::DataSet => {
            let answer = line_state::apply(state, tenant, portal, item.line_id, &payload).await?;
            Ok((None, answer))
        }
        B24OutboxKind::ConfirmEvent => super::confirm::run(state, tenant, portal, item).await,
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
        B24OutboxKind::SmsStatus => {
            let field = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let params = json!({"CODE": field("code"), "MESSAGE_ID": field("message_id"),
                "STATUS": field("status")});
            let result: Value =
                portal.call_as("messageservice.message.status.update", params.clone()).await?;
            Ok((
                None,
                json!({"method": "messageservice.message.status.update",
                "line": item.line_id, "params": params, "result": result}),
            ))
        }
        B24OutboxKind::CrmRoute => {
            crate::crm::route::run(state, tenant, portal, item).await.map(|a| (None, a))
        }
        B24OutboxKind::CrmTimeline => {
            crate::crm::timeline::run(state, tenant, portal, item).await.map(|a| (None, a))
        }
        _ => Err(B24Error::Decode {
            what: "outbox item",
            message: format!("unknown kind {}", item.kind),
        }),
    }
}

/// A customer's message ready for `imconnector.send.messages`.
struct Prepared {
    line_no: Id,
    element: Value,
    link: B24MessageLink,
    message_id: tenancy::MessageId,
    wa_id: Option<String>,
}

/// Reads what a message item needs and builds its `MESSAGES` element.
async fn prepare_message(
    state: &AppState,
    tenant: &Tenant,
    item: &B24OutboxItem,
) -> Result<Prepared, B24Error> {
    let payload: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
    let line_no = open_line_of(&payload)?;
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
    let link = B24MessageLink {
        message_id: message.id,
        line_id: line.id,
        b24_message_id: None,
        b24_chat_id: None,
        external_chat_id: customer_message::customer_number(&conversation),
        session_id: None,
    };
    Ok(Prepared { line_no, element, link, message_id: message.id, wa_id: message.wa_id })
}

impl Prepared {
    /// What Bitrix24 answered for this message (`result`, and its own `DATA.RESULT[i]`): the
    /// session and chat linked, or its refusal (REST docs `imconnector-send-messages.md`:
    /// `DATA.RESULT[]` with `SUCCESS`, `ERRORS`, `session{ID, CHAT_ID}`).
    fn finish(
        self,
        result: &Value,
        own: Value,
    ) -> Result<(Option<B24MessageLink>, Value), B24Error> {
        let refused = result.get("SUCCESS").and_then(Value::as_bool) == Some(false)
            || own.get("SUCCESS").and_then(Value::as_bool) == Some(false);
        if refused {
            let errors = own.get("ERRORS").cloned().unwrap_or(Value::Null);
            return Err(B24Error::Api {
                code: ErrorCode::Other("SEND_MESSAGES_REFUSED".to_owned()),
                description: format!("imconnector.send.messages refused the message: {errors}"),
                status: 400,
            });
        }
        let as_i64 = |v: Option<&Value>| match v {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let session_id = as_i64(own.pointer("/session/ID"));
        let chat_id = as_i64(own.pointer("/session/CHAT_ID"));
        let link = B24MessageLink { b24_chat_id: chat_id, session_id, ..self.link };
        let answer = json!({
            "method": "imconnector.send.messages",
            "line": self.line_no.0,
            "message_id": self.message_id,
            "wa_id": self.wa_id,
            "chat_id": link.external_chat_id,
            "b24_user": own.get("user"),
            "session_id": session_id,
            "b24_chat_id": chat_id,
            "files": self.element.pointer("/message/files").map(|f| f.as_array().map_or(0, Vec::len)),
        });
        Ok((Some(link), answer))
    }
}

/// `imconnector.send.messages` for one stored message.
async fn send_message(
    state: &AppState,
    tenant: &Tenant,
    portal: &Portal,
    item: &B24OutboxItem,
) -> Result<(Option<B24MessageLink>, Value), B24Error> {
    let prepared = prepare_message(state, tenant, item).await?;
    // A retried item may have reached Bitrix24 already (its answer lost, or the process died
    // before marking it done): Bitrix24 has no idempotency key for this method, so ask first.
    if item.attempts > 1
        && let Some(own) =
            super::recovery::already_sent(portal, prepared.line_no, &prepared.element).await?
    {
        let (link, mut answer) = prepared.finish(&json!({"SUCCESS": true}), own)?;
        answer["found_in_bitrix24"] = json!(true);
        return Ok((link, answer));
    }
    let elements = json!([prepared.element]);
    let result = portal.imconnector_send_messages(CONNECTOR_ID, prepared.line_no, elements).await?;
    let own = result.pointer("/DATA/RESULT/0").cloned().unwrap_or(Value::Null);
    prepared.finish(&result, own)
}
