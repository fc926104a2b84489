//! An edit or a revoke arriving from WhatsApp: a customer changing their message, or the
//! business phone changing one of ours. The stored message follows (tenancy keeps what it said
//! in the audit log), the panel is told (`message.status` with the message), and an Open Line
//! that has the message gets `imconnector.update.messages` / `delete.messages` through the
//! outbox, queued in the same transaction. Only the sender changes its message (WhatsApp's
//! rule); an edit of a message we do not have is kept as a message of its own, noted edited.

use tenancy::{Caller, MessageKind, MessageNote, OpenLineChange, WaAmended, WaAmendment, WaChange};
use tracing::warn;
use wa_proto::proto::e2e;
use wa_session::{
    client::MessageAck,
    message::{Amendment, MessageContent, MessageInfo},
};

use super::{inbound, line::LineCtx};
use crate::{
    events::ServerEvent,
    open_channels::customer_message::{self, Context},
    wire::MessageOut,
};

impl LineCtx {
    /// Applies an edit or a revoke; acked once recorded (or refused for what it is), left unacked
    /// while the database is away so that WhatsApp delivers it again.
    pub(super) async fn amended(
        &self,
        info: &MessageInfo,
        message: &e2e::Message,
        amendment: Amendment<'_>,
        ack: MessageAck,
    ) {
        let (target, change) = match amendment {
            Amendment::Revoke { target } => (target, WaChange::Revoke),
            Amendment::Edit { target, content } => {
                let text = MessageContent::of(content).body().unwrap_or_default();
                (target, WaChange::Edit(text.to_owned()))
            }
            _ => {
                ack.ack();
                return;
            }
        };
        let open_line = self.open_line_change(target, &change).await;
        let record = WaAmendment {
            line_id: self.line_id,
            jid: info.chat.to_non_device().to_string(),
            from_me: info.from_me,
            wa_id: info.id.clone(),
            target_wa_id: target.to_owned(),
            change: change.clone(),
            raw: inbound::raw_event(info, message),
        };
        match self
            .tenant
            .record_wa_amendment(Caller::System, &record, open_line.as_ref(), self.now())
            .await
        {
            Ok(WaAmended::Changed(changed)) => {
                ack.ack();
                self.publish(ServerEvent::MessageStatus {
                    member_id: self.member_id.clone(),
                    line_id: self.line_id,
                    message_id: changed.id,
                    wa_id: target.to_owned(),
                    status: changed.status,
                    message: Some(MessageOut::from(changed)),
                });
            }
            Ok(WaAmended::Unknown) => match change {
                WaChange::Edit(text) => self.keep_edit(info, message, text, ack).await,
                WaChange::Revoke => {
                    ack.ack();
                }
            },
            Ok(_) => {
                ack.ack();
            }
            Err(error) if error.is_transient() => {
                warn!(line_id = self.line_id, %error, "WhatsApp edit or revoke not stored");
                drop(ack);
            }
            Err(error) => {
                warn!(line_id = self.line_id, %error, "WhatsApp edit or revoke refused");
                ack.ack();
            }
        }
    }

    /// What the line's Open Line is to be told, built from the message as it is now (tenancy
    /// checks in its transaction that it is still the one changed and that it went there).
    async fn open_line_change(&self, target: &str, change: &WaChange) -> Option<OpenLineChange> {
        let system = Caller::System;
        let line = self.tenant.line(system, self.line_id).await.ok()?;
        line.open_line_id.filter(|_| line.open_channel.feeds_open_line())?;
        let message = self.tenant.message_by_wa_id(system, self.line_id, target).await.ok()??;
        let conversation = self.tenant.conversation(system, message.conversation_id).await.ok()?;
        let element = match change {
            WaChange::Edit(text) => {
                let quoted = match message.quoted_id {
                    Some(q) => self.tenant.message(system, q).await.ok(),
                    None => None,
                };
                let cx = Context {
                    line: &line,
                    conversation: &conversation,
                    quoted: quoted.as_ref(),
                    file_url: None,
                };
                customer_message::update_element(&message, text, &cx)
            }
            WaChange::Revoke => customer_message::delete_element(&message, &conversation),
        };
        Some(OpenLineChange { message_id: message.id, element })
    }

    /// An edit of a message this line does not have (or not the sender's): kept as a text of its
    /// own, noted edited, as the sender's (the business phone's, or the customer's).
    async fn keep_edit(
        &self,
        info: &MessageInfo,
        message: &e2e::Message,
        text: String,
        ack: MessageAck,
    ) {
        let classified = inbound::Classified {
            kind: MessageKind::Text,
            text: Some(text),
            quoted_wa_id: None,
            mime: None,
            has_media: false,
            file_name: None,
        };
        let mut record = inbound::inbound(
            &self.client,
            self.line_id,
            &self.media_dir,
            info,
            message,
            classified,
        )
        .await;
        record.note = Some(MessageNote::Edited);
        let stored = if info.from_me {
            record.push_name = None;
            self.tenant.record_sent_from_phone(Caller::System, &record, self.now()).await.map(Some)
        } else {
            self.store_inbound(&record).await
        };
        match stored {
            Ok(Some(recorded)) => {
                ack.ack();
                if recorded.new {
                    self.stored(recorded.message, recorded.unread);
                }
            }
            Ok(None) => {
                ack.ack();
            }
            Err(error) if error.is_transient() => {
                warn!(line_id = self.line_id, %error, "edit kept as a message not stored");
                drop(ack);
            }
            Err(error) => {
                warn!(line_id = self.line_id, %error, "edit kept as a message refused");
                ack.ack();
            }
        }
    }
}
