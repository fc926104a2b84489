//! A portal's contact center (Open Lines): line settings with their operator queues, the chats
//! and sessions that connector messages open, the operators who answer, the CRM tracker, and the
//! events all of that sends to the application. Bitrix24 facts come from the REST documentation
//! (`bitrix-tools/b24-rest-docs`, `api-reference/imopenlines/`), cited where each is used.

pub(crate) mod config;
pub(crate) mod control;
mod crm;
mod dialog;
pub(crate) mod events;
pub(crate) mod messages;
mod operator;
mod page;
pub(crate) mod queue;
pub(crate) mod session;

use std::collections::BTreeMap;

pub use operator::{Dialog, Posted};
pub use session::{CrmBindings, MessageAuthor, OpenLineCustomer, OpenLineMessage, OpenLineSession};

use crate::contact_center::{events::PendingEvent, queue::QueueEntry};

/// Most events a portal keeps waiting for delivery after REST calls (they are handed to a task
/// after each call, so the queue stays short; the cap only guards against a runaway).
const MAX_PENDING_EVENTS: usize = 10_000;

/// Everything a portal's contact center holds besides the line settings (`Portal::lines`).
#[derive(Debug, Default)]
pub(crate) struct ContactCenter {
    /// Customers by (connector, external user id).
    pub(crate) customers: BTreeMap<(String, String), OpenLineCustomer>,
    /// Bitrix24 chat ids by (connector, line, dialog key): the external chat id in group mode,
    /// the external user id otherwise.
    pub(crate) chats: BTreeMap<(String, u64, String), u64>,
    /// Sessions by id.
    pub(crate) sessions: BTreeMap<u64, OpenLineSession>,
    /// Messages by id.
    pub(crate) messages: BTreeMap<u64, OpenLineMessage>,
    /// Each line's operator queue, in order.
    pub(crate) queues: BTreeMap<u64, Vec<QueueEntry>>,
    /// Per line, how many sessions `evenly` has handed out (the round-robin position).
    pub(crate) handed_out: BTreeMap<u64, usize>,
    /// Events to deliver once the current REST call is answered.
    pending: Vec<PendingEvent>,
}

impl ContactCenter {
    /// Queues an event for delivery after the current call.
    pub(crate) fn push_event(&mut self, event: PendingEvent) {
        if self.pending.len() < MAX_PENDING_EVENTS {
            self.pending.push(event);
        }
    }

    /// Takes the events waiting for delivery.
    pub(crate) fn take_events(&mut self) -> Vec<PendingEvent> {
        std::mem::take(&mut self.pending)
    }

    /// The open session of a chat, if any.
    pub(crate) fn open_session_of_chat(&self, chat_id: u64) -> Option<&OpenLineSession> {
        self.sessions.values().rev().find(|s| s.chat_id == chat_id && !s.closed)
    }

    /// The latest session of a chat, open or closed.
    pub(crate) fn last_session_of_chat(&self, chat_id: u64) -> Option<&OpenLineSession> {
        self.sessions.values().rev().find(|s| s.chat_id == chat_id)
    }
}
