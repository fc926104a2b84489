//! Operators: who gets a new session (the line's queue and `QUEUE_TYPE`), and what a simulated
//! operator does through the control API (answer, edit, delete, close the dialog), each sent to
//! the application as the documented connector event.

use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    contact_center::{MessageAuthor, OpenLineMessage, OpenLineSession, events::PendingEvent},
    error::{Error, Result},
    outbound::{EventOptions, OutFile},
    portal::Portal,
    sim::Sim,
    state::Delivery,
};

/// Which dialog an operator acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialog {
    /// The open session of a Bitrix24 chat (`session.CHAT_ID`).
    Chat(u64),
    /// A session (`session.ID`).
    Session(u64),
}

impl std::fmt::Display for Dialog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dialog::Chat(id) => write!(f, "chat {id}"),
            Dialog::Session(id) => write!(f, "session {id}"),
        }
    }
}

/// What an operator's message became.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Posted {
    /// The Bitrix24 message id (`im.message_id`).
    pub message_id: u64,
    /// The Bitrix24 chat (`im.chat_id`).
    pub chat_id: u64,
    /// The session (0 when the chat had none).
    pub session_id: u64,
    /// The deliveries of `ONIMCONNECTORMESSAGEADD`.
    pub deliveries: Vec<Delivery>,
}

/// Who a new session goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assignment {
    /// The operator; `None` while a line distributing to `all` waits for the first answer.
    pub(crate) operator: Option<u64>,
    /// Who is responsible for CRM items made for the session.
    pub(crate) responsible: u64,
}

impl Portal {
    /// Picks the operator of a new session on `line` (imopenlines.config.add, `QUEUE_TYPE`):
    /// `strictly` the first of the queue, `evenly` each in turn, `all` nobody until one of
    /// them answers. A line with no usable queue goes to the user who set it up.
    pub(crate) fn assign_operator(&mut self, line: u64) -> Assignment {
        let queue = self.queue_users(line);
        let owner =
            self.line_setting(line, "MODIFY_USER_ID").and_then(|u| u.parse().ok()).unwrap_or(1);
        let Some(first) = queue.first().copied() else {
            return Assignment { operator: Some(owner), responsible: owner };
        };
        match self.line_setting(line, "QUEUE_TYPE").as_deref() {
            Some("strictly") => Assignment { operator: Some(first), responsible: first },
            Some("evenly") => {
                let turn = self.center.handed_out.entry(line).or_insert(0);
                let operator = queue[*turn % queue.len()];
                *turn += 1;
                Assignment { operator: Some(operator), responsible: operator }
            }
            _ => Assignment { operator: None, responsible: first },
        }
    }

    /// "Name Last name" of a portal user.
    pub(crate) fn user_name(&self, user: u64) -> Option<String> {
        let u = self.users.get(&user)?;
        let part = |k: &str| u.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        Some(format!("{} {}", part("NAME"), part("LAST_NAME")).trim().to_owned())
    }

    /// The text an operator's message carries to the connector: with the operator's name in
    /// front when the connector wants a signature (`NEED_SIGNATURE`, default true;
    /// events/on-im-connector-message-add.md shows `[b]Name Surname:[/b] [br]text`).
    fn signed(&self, connector: &str, operator: u64, text: &str) -> String {
        match self.user_name(operator) {
            Some(name) if self.connector_flag(connector, "NEED_SIGNATURE", true) => {
                format!("[b]{name}:[/b] [br]{text}")
            }
            _ => text.to_owned(),
        }
    }

    /// The session a dialog names, if it is open.
    fn open_session(&self, dialog: Dialog) -> Result<OpenLineSession> {
        let session = match dialog {
            Dialog::Chat(chat) => self.center.open_session_of_chat(chat),
            Dialog::Session(id) => self.center.sessions.get(&id).filter(|s| !s.closed),
        };
        session.cloned().ok_or_else(|| Error::NoOpenSession(dialog.to_string()))
    }

    /// Stores an operator's message in a session (claiming it for `operator` when nobody had
    /// it) and returns it with the event to send.
    fn post_operator_message(
        &mut self,
        dialog: Dialog,
        operator: Option<u64>,
        text: &str,
        files: &[OutFile],
        now: i64,
    ) -> Result<(OpenLineMessage, PendingEvent)> {
        let session = self.open_session(dialog)?;
        let queue_first = self.queue_users(session.line).first().copied();
        let author = operator.or(session.operator).or(queue_first).unwrap_or(1);
        if !self.users.contains_key(&author) {
            return Err(Error::UnknownUser(author));
        }
        if session.operator.is_none()
            && let Some(s) = self.center.sessions.get_mut(&session.id)
        {
            s.operator = Some(author);
        }
        let id = self.id();
        let message = OpenLineMessage {
            id,
            chat_id: session.chat_id,
            session_id: session.id,
            line: session.line,
            connector: session.connector.clone(),
            external_chat_id: session.external_chat_id.clone(),
            author: MessageAuthor::Operator(author),
            external_ids: vec![],
            text: self.signed(&session.connector, author, text),
            files: out_files(files),
            date: now,
            edited: false,
            deleted: false,
            delivered: false,
            read: false,
        };
        self.center.messages.insert(id, message.clone());
        let event = PendingEvent::message_add(&message, author);
        Ok((message, event))
    }

    /// An operator's message to edit or delete.
    fn operator_message_mut(&mut self, id: u64) -> Result<&mut OpenLineMessage> {
        self.center
            .messages
            .get_mut(&id)
            .filter(|m| matches!(m.author, MessageAuthor::Operator(_)) && !m.deleted)
            .ok_or(Error::UnknownMessage(id))
    }
}

fn out_files(files: &[OutFile]) -> Vec<Value> {
    files.iter().map(|f| json!({"name": f.name, "link": f.link, "type": f.kind})).collect()
}

impl Sim {
    /// Runs `f` on a portal.
    fn with_portal<T>(
        &self,
        member_id: &str,
        f: impl FnOnce(&mut Portal) -> Result<T>,
    ) -> Result<T> {
        let mut st = self.state();
        let p = st
            .portals
            .get_mut(member_id)
            .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
        f(p)
    }

    async fn send(
        &self,
        member_id: &str,
        event: PendingEvent,
        opts: EventOptions,
    ) -> Result<Vec<Delivery>> {
        self.deliver_event_for(member_id, event.name, event.data, opts, event.user).await
    }

    /// Delivers, in a task of its own, the events REST calls of a portal left waiting
    /// (`ONIMCONNECTORDIALOGSTART` of a new session, `ONIMCONNECTORLINEDELETE`).
    pub(crate) fn deliver_pending(&self, member_id: &str) {
        let events = match self.state().portals.get_mut(member_id) {
            Some(p) => p.center.take_events(),
            None => return,
        };
        if events.is_empty() {
            return;
        }
        let sim = self.clone();
        let member_id = member_id.to_owned();
        tokio::spawn(async move {
            for event in events {
                // A failed delivery is recorded; Bitrix24 does not retry either.
                let _ = sim.send(&member_id, event, EventOptions::default()).await;
            }
        });
    }

    /// The session's operator answers in a dialog: `ONIMCONNECTORMESSAGEADD` with the text
    /// (signed when the connector asks for it) and files. On a line distributing to `all`,
    /// the first operator of the queue takes the session.
    pub async fn operator_reply(
        &self,
        member_id: &str,
        dialog: Dialog,
        text: &str,
        files: &[OutFile],
        opts: EventOptions,
    ) -> Result<Posted> {
        self.reply(member_id, dialog, None, text, files, opts).await
    }

    /// [`Sim::operator_reply`] by a given portal user, who takes the session if nobody had it.
    pub async fn operator_reply_as(
        &self,
        member_id: &str,
        dialog: Dialog,
        operator: u64,
        text: &str,
        files: &[OutFile],
        opts: EventOptions,
    ) -> Result<Posted> {
        self.reply(member_id, dialog, Some(operator), text, files, opts).await
    }

    async fn reply(
        &self,
        member_id: &str,
        dialog: Dialog,
        operator: Option<u64>,
        text: &str,
        files: &[OutFile],
        opts: EventOptions,
    ) -> Result<Posted> {
        let now = self.now();
        let (message, event) = self.with_portal(member_id, |p| {
            p.post_operator_message(dialog, operator, text, files, now)
        })?;
        let deliveries = self.send(member_id, event, opts).await?;
        Ok(Posted {
            message_id: message.id,
            chat_id: message.chat_id,
            session_id: message.session_id,
            deliveries,
        })
    }

    /// An operator writes in the chat that `chat_id` (the application's external chat id)
    /// names on `line`, as typed (no signature): `ONIMCONNECTORMESSAGEADD` carrying the
    /// chat's Bitrix24 id. Prefer [`Sim::operator_reply`], which acts in a session.
    #[allow(clippy::too_many_arguments)] // one argument per field of the request
    pub async fn operator_message(
        &self,
        member_id: &str,
        connector: &str,
        line: u64,
        chat_id: &str,
        text: &str,
        files: &[OutFile],
        opts: EventOptions,
    ) -> Result<Vec<Delivery>> {
        let now = self.now();
        let event = self.with_portal(member_id, |p| {
            let connector = connector.to_ascii_lowercase();
            let session = p
                .center
                .sessions
                .values()
                .rev()
                .find(|s| {
                    s.connector == connector && s.line == line && s.external_chat_id == chat_id
                })
                .cloned();
            let author = session.as_ref().and_then(|s| s.operator).unwrap_or(1);
            let chat = match &session {
                Some(s) => s.chat_id,
                None => p.chat_for(&connector, line, chat_id),
            };
            let id = p.id();
            let message = OpenLineMessage {
                id,
                chat_id: chat,
                session_id: session.as_ref().map_or(0, |s| s.id),
                line,
                connector,
                external_chat_id: chat_id.to_owned(),
                author: MessageAuthor::Operator(author),
                external_ids: vec![],
                text: text.to_owned(),
                files: out_files(files),
                date: now,
                edited: false,
                deleted: false,
                delivered: false,
                read: false,
            };
            let event = PendingEvent::message_add(&message, author);
            p.center.messages.insert(id, message);
            Ok(event)
        })?;
        self.send(member_id, event, opts).await
    }

    /// Sends an operator's message's `ONIMCONNECTORMESSAGEADD` again, as it was first sent: the
    /// offline-event safety net of an application that was down when the online event came
    /// (Bitrix24 itself never retries an online event).
    pub async fn redeliver_operator_message(
        &self,
        member_id: &str,
        message_id: u64,
        opts: EventOptions,
    ) -> Result<Vec<Delivery>> {
        let event = self.with_portal(member_id, |p| {
            let m = p
                .center
                .messages
                .get(&message_id)
                .filter(|m| matches!(m.author, MessageAuthor::Operator(_)))
                .ok_or(Error::UnknownMessage(message_id))?;
            let MessageAuthor::Operator(author) = m.author else {
                return Err(Error::UnknownMessage(message_id));
            };
            Ok(PendingEvent::message_add(m, author))
        })?;
        self.send(member_id, event, opts).await
    }

    /// An operator edits their message: `ONIMCONNECTORMESSAGEUPDATE` with the new text (signed
    /// like the original) and the application's ids of the message.
    pub async fn operator_edit(
        &self,
        member_id: &str,
        message_id: u64,
        text: &str,
        opts: EventOptions,
    ) -> Result<Vec<Delivery>> {
        let event = self.with_portal(member_id, |p| {
            let (connector, author) = {
                let m = p.operator_message_mut(message_id)?;
                let MessageAuthor::Operator(author) = m.author else {
                    return Err(Error::UnknownMessage(message_id));
                };
                (m.connector.clone(), author)
            };
            let signed = p.signed(&connector, author, text);
            let m = p.operator_message_mut(message_id)?;
            m.text = signed;
            m.edited = true;
            Ok(PendingEvent::message_update(m, author))
        })?;
        self.send(member_id, event, opts).await
    }

    /// An operator deletes their message: `ONIMCONNECTORMESSAGEDELETE`.
    pub async fn operator_delete(
        &self,
        member_id: &str,
        message_id: u64,
        opts: EventOptions,
    ) -> Result<Vec<Delivery>> {
        let event = self.with_portal(member_id, |p| {
            let m = p.operator_message_mut(message_id)?;
            m.deleted = true;
            let author = match m.author {
                MessageAuthor::Operator(u) | MessageAuthor::Customer(u) => u,
            };
            Ok(PendingEvent::message_delete(m, author))
        })?;
        self.send(member_id, event, opts).await
    }

    /// An operator closes a dialog: `ONIMCONNECTORDIALOGFINISH`. The customer's next message
    /// opens a new session in the same chat.
    pub async fn close_session(
        &self,
        member_id: &str,
        dialog: Dialog,
        opts: EventOptions,
    ) -> Result<Vec<Delivery>> {
        let event = self.with_portal(member_id, |p| {
            let session = p.open_session(dialog)?;
            let close_term = p
                .line_setting(session.line, "FULL_CLOSE_TIME")
                .and_then(|t| t.parse().ok())
                .unwrap_or(10);
            let s = p
                .center
                .sessions
                .get_mut(&session.id)
                .ok_or_else(|| Error::NoOpenSession(dialog.to_string()))?;
            s.closed = true;
            Ok(PendingEvent::dialog(s, close_term, s.operator.unwrap_or(1)))
        })?;
        self.send(member_id, event, opts).await
    }

    /// An administrator switches the connector off on a line in the contact center:
    /// `ONIMCONNECTORSTATUSDELETE`; messages to that line then answer `NOT_ACTIVE_LINE`.
    pub async fn disconnect_connector(
        &self,
        member_id: &str,
        connector: &str,
        line: u64,
        opts: EventOptions,
    ) -> Result<Vec<Delivery>> {
        let connector = connector.to_ascii_lowercase();
        let event = self.with_portal(member_id, |p| {
            if let Some(state) = p.connector_lines.get_mut(&(connector.clone(), line)) {
                state.0 = false;
            }
            Ok(PendingEvent::status_delete(&connector, line, 1))
        })?;
        self.send(member_id, event, opts).await
    }

    /// An administrator deletes an open line: its sessions close, its connectors go off, and
    /// `ONIMCONNECTORLINEDELETE` is sent.
    pub async fn delete_open_line(
        &self,
        member_id: &str,
        line: u64,
        opts: EventOptions,
    ) -> Result<Vec<Delivery>> {
        let events = self.with_portal(member_id, |p| {
            if !p.delete_line(line) {
                return Err(Error::UnknownLine(line));
            }
            Ok(p.center.take_events())
        })?;
        let mut out = vec![];
        for event in events {
            out.extend(self.send(member_id, event, opts.clone()).await?);
        }
        Ok(out)
    }

    /// A portal's open line sessions, oldest first.
    pub fn open_line_sessions(&self, member_id: &str) -> Vec<OpenLineSession> {
        self.state()
            .portals
            .get(member_id)
            .map(|p| p.center.sessions.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The messages of a Bitrix24 chat, oldest first (deleted ones flagged, not removed).
    pub fn open_line_messages(&self, member_id: &str, chat_id: u64) -> Vec<OpenLineMessage> {
        self.state()
            .portals
            .get(member_id)
            .map(|p| p.center.messages.values().filter(|m| m.chat_id == chat_id).cloned().collect())
            .unwrap_or_default()
    }

    /// The customers connectors have sent messages for.
    pub fn open_line_customers(&self, member_id: &str) -> Vec<crate::OpenLineCustomer> {
        self.state()
            .portals
            .get(member_id)
            .map(|p| p.center.customers.values().cloned().collect())
            .unwrap_or_default()
    }
}
