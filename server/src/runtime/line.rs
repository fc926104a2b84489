//! The two tasks of a running line: one handles the Client's events (status, inbound messages
//! committed before their ack, receipts), the other sends the line's outbox while connected.

use std::{path::PathBuf, sync::Arc, time::Duration};

use tenancy::{
    Caller, Inbound, LineId, LineStatus, Message, MessageId, MessageStatus, OutboxKind, Recorded,
    StatusChange, Tenant,
};
use tokio::sync::{Notify, watch};
use tracing::{debug, error, info, warn};
use wa_proto::{Jid, Server};
use wa_session::{
    client::{Client, Event, Events},
    message::{Receipt, ReceiptKind},
};

use super::{LineState, Shared, inbound, outbound};
use crate::{events::ServerEvent, wire::MessageOut};

/// What both tasks of a line share.
pub(crate) struct LineCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) member_id: String,
    pub(crate) line_id: LineId,
    pub(crate) tenant: Tenant,
    pub(crate) client: Client,
    pub(crate) media_dir: PathBuf,
    pub(crate) wake: Arc<Notify>,
    pub(crate) state: watch::Sender<LineState>,
}

impl LineCtx {
    fn now(&self) -> time::OffsetDateTime {
        tenancy::now(&*self.shared.config.clock)
    }

    pub(crate) fn publish(&self, event: ServerEvent) {
        self.shared.events.publish(event);
    }

    /// Counts and announces a stored message, with its conversation's unread count.
    pub(crate) fn stored(&self, message: Message, unread: i64) {
        self.shared.metrics.message(message.direction);
        self.publish(ServerEvent::MessageStored {
            member_id: self.member_id.clone(),
            message: MessageOut::from(message),
            unread,
        });
    }

    /// Announces a status change of our message `message_id`, with the message as it is now.
    async fn status_moved(&self, message_id: MessageId, wa_id: String, status: MessageStatus) {
        let message = match self.tenant.message(Caller::System, message_id).await {
            Ok(message) => Some(MessageOut::from(message)),
            Err(error) => {
                // The change is stored; the panel shows the status without the message.
                warn!(line_id = self.line_id, %error, "message not read back for its event");
                None
            }
        };
        self.publish(ServerEvent::MessageStatus {
            member_id: self.member_id.clone(),
            line_id: self.line_id,
            message_id,
            wa_id,
            status,
            message,
        });
    }

    fn set_state(&self, state: LineState) {
        self.state.send_replace(state.clone());
        self.publish(ServerEvent::LineStatus {
            member_id: self.member_id.clone(),
            line_id: self.line_id,
            state,
        });
    }

    async fn store_status(&self, status: LineStatus, raw: serde_json::Value) {
        let raw = raw.to_string();
        if let Err(error) = self
            .tenant
            .set_line_status(Caller::System, self.line_id, status, raw.as_bytes(), self.now())
            .await
        {
            warn!(line_id = self.line_id, %error, "line status not stored");
        }
    }

    /// Handles the client's events until it stops.
    pub(crate) async fn run_events(self: Arc<Self>, mut events: Events) {
        let mut pairing_stored = false;
        let mut own_users: Vec<String> = Vec::new();
        while let Some(event) = events.recv().await {
            match event {
                Event::Qr { code, expires } => {
                    if !pairing_stored {
                        self.store_status(LineStatus::Pairing, serde_json::json!({"event": "qr"}))
                            .await;
                        pairing_stored = true;
                    }
                    self.set_state(LineState::Qr { code, expires });
                }
                Event::PairSuccess { jid, platform, .. } => {
                    info!(line_id = self.line_id, %jid, "paired");
                    let raw = serde_json::json!({"event": "pair_success", "jid": jid.to_string(), "platform": platform});
                    self.store_status(LineStatus::Pairing, raw).await;
                }
                Event::Connected => {
                    pairing_stored = false;
                    own_users.clear();
                    if let Some(account) = self.client.credentials().await.account {
                        // The line shows the number it is linked to (set before the
                        // `connected` state is published, so a reader of the line sees it).
                        if let Err(error) = self
                            .tenant
                            .set_line_phone(Caller::System, self.line_id, &account.jid.user)
                            .await
                        {
                            warn!(line_id = self.line_id, %error, "line phone not stored");
                        }
                        own_users.push(account.jid.user.clone());
                        if let Some(lid) = account.lid {
                            own_users.push(lid.user);
                        }
                    }
                    self.store_status(
                        LineStatus::Connected,
                        serde_json::json!({"event": "connected"}),
                    )
                    .await;
                    self.set_state(LineState::Connected);
                    self.wake.notify_one();
                }
                Event::Disconnected { reason, reconnect_in } => {
                    let raw = serde_json::json!({
                        "event": "disconnected",
                        "reason": reason.to_string(),
                        "reconnect_in_ms": reconnect_in.map(|d| d.as_millis()),
                    });
                    self.store_status(LineStatus::Disconnected, raw).await;
                    self.set_state(match reconnect_in {
                        Some(retry_in) => {
                            LineState::Reconnecting { reason: reason.to_string(), retry_in }
                        }
                        None => LineState::Disconnected { reason: reason.to_string() },
                    });
                }
                Event::LoggedOut { reason } => {
                    let raw =
                        serde_json::json!({"event": "logged_out", "reason": reason.to_string()});
                    self.store_status(LineStatus::LoggedOut, raw).await;
                    if let Err(error) =
                        super::set_autostart(&self.tenant, self.line_id, false, self.now()).await
                    {
                        warn!(line_id = self.line_id, %error, "autostart flag not cleared");
                    }
                    self.set_state(LineState::LoggedOut { reason: reason.to_string() });
                }
                Event::Message { info, message, ack } => {
                    if info.is_group {
                        // Groups are not stored yet.
                        debug!(line_id = self.line_id, "message not stored (group)");
                        ack.ack();
                        continue;
                    }
                    if info.from_me {
                        self.sent_from_phone(&info, &message, ack).await;
                        continue;
                    }
                    let Some(classified) = inbound::classify(&message) else {
                        ack.ack();
                        continue;
                    };
                    let record = inbound::inbound(
                        &self.client,
                        self.line_id,
                        &self.media_dir,
                        &info,
                        &message,
                        classified,
                    )
                    .await;
                    match self.store_inbound(&record).await {
                        Ok(Some(recorded)) => {
                            // Committed: only now may WhatsApp forget the message.
                            ack.ack();
                            if recorded.new {
                                self.stored(recorded.message, recorded.unread);
                            }
                        }
                        // Refused even as a placeholder: acked, or it would come back for ever.
                        Ok(None) => {
                            ack.ack();
                        }
                        Err(error) => {
                            // Not acked: the client reconnects and the server delivers it again.
                            warn!(line_id = self.line_id, %error, "inbound message not stored");
                            drop(ack);
                        }
                    }
                }
                Event::IdentityChanged { chat, .. } => self.identity_changed(&chat).await,
                Event::Receipt(receipt) => self.receipt(&receipt, &own_users).await,
                Event::Stanza { node, ack } => {
                    // Calls and undecodable stanzas: not stored yet, acked so that they are not
                    // delivered forever.
                    debug!(line_id = self.line_id, tag = %node.tag, "stanza not handled");
                    ack.ack();
                }
                _ => {}
            }
        }
        // The client stopped (closed, logged out, or a reason that does not reconnect).
        if !matches!(
            *self.state.borrow(),
            LineState::LoggedOut { .. } | LineState::Disconnected { .. }
        ) {
            self.set_state(LineState::Disconnected { reason: "client stopped".to_owned() });
        }
    }

    /// A message the line's own phone (or another linked device) sent to a customer: stored as
    /// ours, so that the panel and the Open Line show the whole conversation. Acked once
    /// committed; one refused for what it is (not for the database being away) is acked and
    /// logged, as it would come back for ever.
    async fn sent_from_phone(
        &self,
        info: &wa_session::message::MessageInfo,
        message: &wa_proto::proto::e2e::Message,
        ack: wa_session::client::MessageAck,
    ) {
        let Some(classified) = inbound::classify(message) else {
            ack.ack();
            return;
        };
        if classified.kind == tenancy::MessageKind::Reaction {
            ack.ack();
            return;
        }
        let mut record = inbound::inbound(
            &self.client,
            self.line_id,
            &self.media_dir,
            info,
            message,
            classified,
        )
        .await;
        // The push name on our own copy is the business's, not the customer's.
        record.push_name = None;
        match self.tenant.record_sent_from_phone(Caller::System, &record, self.now()).await {
            Ok(recorded) => {
                ack.ack();
                if recorded.new {
                    self.stored(recorded.message, recorded.unread);
                }
            }
            Err(error) if error.is_transient() => {
                warn!(line_id = self.line_id, %error, "message sent from the phone not stored");
                drop(ack);
            }
            Err(error) => {
                warn!(line_id = self.line_id, %error, "message sent from the phone refused");
                ack.ack();
            }
        }
    }

    /// Stores an inbound message; one tenancy refuses (too large a field, a constraint) is
    /// stored as a placeholder instead. `Err` only for a failure worth waiting for (the database
    /// is unavailable): the message is then not acked and comes again. `Ok(None)` when even the
    /// placeholder was refused.
    async fn store_inbound(&self, record: &Inbound) -> Result<Option<Recorded>, tenancy::Error> {
        let refusal = match self.tenant.record_inbound(Caller::System, record, self.now()).await {
            Ok(recorded) => return Ok(Some(recorded)),
            Err(error) if error.is_transient() => return Err(error),
            Err(error) => error,
        };
        warn!(line_id = self.line_id, error = %refusal, "inbound message refused; storing a placeholder");
        let placeholder = inbound::placeholder(record, &refusal);
        match self.tenant.record_inbound(Caller::System, &placeholder, self.now()).await {
            Ok(recorded) => Ok(Some(recorded)),
            Err(error) if error.is_transient() => Err(error),
            Err(error) => {
                error!(line_id = self.line_id, %error, "inbound message and its placeholder refused");
                Ok(None)
            }
        }
    }

    /// A customer's identity key changed (reinstall, new phone): the conversation gets a
    /// "security code changed" notice, audited.
    async fn identity_changed(&self, chat: &Jid) {
        let chat = chat.to_non_device();
        let phone = (chat.server == Server::User).then(|| chat.user.clone());
        let raw = serde_json::json!({"event": "identity_changed", "chat": chat.to_string()});
        let stored = self
            .tenant
            .record_identity_changed(
                Caller::System,
                self.line_id,
                &chat.to_string(),
                phone.as_deref(),
                raw.to_string().as_bytes(),
                self.now(),
            )
            .await;
        match stored {
            Ok(message) => {
                let unread = self
                    .tenant
                    .conversation(Caller::System, message.conversation_id)
                    .await
                    .map_or(0, |c| c.unread);
                self.stored(message, unread);
            }
            Err(error) => warn!(line_id = self.line_id, %error, "identity change not stored"),
        }
    }

    async fn receipt(&self, receipt: &Receipt, own_users: &[String]) {
        let status = match receipt.kind {
            ReceiptKind::Delivered => MessageStatus::Delivered,
            ReceiptKind::Read | ReceiptKind::Played => MessageStatus::Read,
            _ => return,
        };
        // Our own devices' receipts say nothing about the customer.
        if own_users.contains(&receipt.sender.user) {
            return;
        }
        let raw = serde_json::json!({
            "event": "receipt",
            "kind": format!("{:?}", receipt.kind),
            "ids": receipt.ids,
            "chat": receipt.chat.to_string(),
            "sender": receipt.sender.to_string(),
            "t": receipt.timestamp,
        })
        .to_string();
        for id in &receipt.ids {
            match self
                .tenant
                .update_status(Caller::System, self.line_id, id, status, raw.as_bytes(), self.now())
                .await
            {
                Ok(StatusChange::Advanced(message_id)) => {
                    self.status_moved(message_id, id.clone(), status).await;
                }
                Ok(_) => {}
                Err(error) => warn!(line_id = self.line_id, %error, "receipt not stored"),
            }
        }
    }

    /// Sends the line's pending outbox items, oldest first, whenever connected and woken.
    pub(crate) async fn run_outbox(self: Arc<Self>) {
        let mut state = self.state.subscribe();
        loop {
            if matches!(*state.borrow_and_update(), LineState::Connected) {
                self.drain().await;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                changed = state.changed() => if changed.is_err() { return },
            }
        }
    }

    async fn drain(&self) {
        loop {
            let mine = match self
                .tenant
                .pending_outbox_for_line(
                    Caller::System,
                    self.line_id,
                    OutboxKind::Send,
                    tenancy::MAX_PAGE,
                )
                .await
            {
                Ok(items) => items,
                Err(error) => {
                    warn!(line_id = self.line_id, %error, "outbox not readable");
                    return self.retry_later().await;
                }
            };
            if mine.is_empty() {
                return;
            }
            for item in &mine {
                if !matches!(*self.state.borrow(), LineState::Connected) {
                    return;
                }
                match outbound::send_item(
                    &self.tenant,
                    &self.client,
                    &self.media_dir,
                    item,
                    self.now(),
                )
                .await
                {
                    Ok(sent) => {
                        self.status_moved(sent.message_id, sent.wa_id, MessageStatus::Sent).await;
                    }
                    Err((message_id, error)) => {
                        warn!(line_id = self.line_id, %error, "send failed; kept in the outbox");
                        if let Some(message_id) = message_id {
                            self.publish(ServerEvent::SendFailed {
                                member_id: self.member_id.clone(),
                                line_id: self.line_id,
                                message_id,
                                error: error.to_string(),
                            });
                        }
                        // Order is kept: later items wait for this one.
                        return self.retry_later().await;
                    }
                }
            }
        }
    }

    async fn retry_later(&self) {
        tokio::time::sleep(self.shared.config.send_retry).await;
        self.wake.notify_one();
    }
}

/// How long `disconnect` and `logout` wait for a line's tasks to end.
pub(crate) const STOP_WAIT: Duration = Duration::from_secs(10);
