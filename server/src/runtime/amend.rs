//! Changing a message already sent: a WhatsApp edit of its text, or a revoke ("deleted for
//! everyone"). Both go out at once on the running line (they are not queued: an edit or a
//! revoke of a message that is not out yet has nothing to change).

use tenancy::{Caller, Direction, Message, MessageKind};
use wa_proto::{Jid, proto::e2e};
use wa_session::client::Client;

use super::{Runtime, RuntimeError};

/// What went out for an edit or a revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amended {
    /// The WhatsApp id of the message changed.
    pub target_wa_id: String,
    /// The WhatsApp id the edit or revoke itself went out under.
    pub wa_id: String,
}

impl Runtime {
    /// The client of a running line and the chat of `message`'s conversation, with the WhatsApp
    /// id of `message` (which must be ours and sent).
    async fn amend_target(
        &self,
        member_id: &str,
        message: &Message,
    ) -> Result<(Client, Jid, String), RuntimeError> {
        if message.direction != Direction::Outbound {
            return Err(RuntimeError::Invalid("only our own messages can be changed"));
        }
        let wa_id =
            message.wa_id.clone().ok_or(RuntimeError::Invalid("the message is not sent yet"))?;
        let client = self
            .lines()
            .get(&(member_id.to_owned(), message.line_id))
            .filter(|h| h.running())
            .map(|h| h.ctx.client.clone())
            .ok_or(RuntimeError::NotRunning(message.line_id))?;
        let tenant = self.shared.store.tenant(member_id).await?;
        let conversation = tenant.conversation(Caller::System, message.conversation_id).await?;
        let chat: Jid =
            conversation.contact.jid.parse().map_err(|_| RuntimeError::Invalid("contact JID"))?;
        Ok((client, chat, wa_id))
    }

    /// Replaces the text of our sent text message `message` on WhatsApp with `text`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Invalid`] for a message that is not ours, not sent yet or not a text;
    /// [`RuntimeError::NotRunning`]; the client's errors.
    pub async fn edit_text(
        &self,
        member_id: &str,
        message: &Message,
        text: &str,
    ) -> Result<Amended, RuntimeError> {
        if message.kind != MessageKind::Text {
            return Err(RuntimeError::Invalid("only a text message can be edited"));
        }
        let (client, chat, target) = self.amend_target(member_id, message).await?;
        let content = e2e::Message { conversation: Some(text.to_owned()), ..Default::default() };
        let id = client.new_message_id().await?;
        client.edit_message(&chat, &target, content, &id).await?;
        Ok(Amended { target_wa_id: target, wa_id: id })
    }

    /// Revokes our sent message `message` on WhatsApp ("deleted for everyone").
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Invalid`] for a message that is not ours or not sent yet;
    /// [`RuntimeError::NotRunning`]; the client's errors.
    pub async fn revoke(
        &self,
        member_id: &str,
        message: &Message,
    ) -> Result<Amended, RuntimeError> {
        let (client, chat, target) = self.amend_target(member_id, message).await?;
        let id = client.new_message_id().await?;
        client.revoke_message(&chat, &target, &id).await?;
        Ok(Amended { target_wa_id: target, wa_id: id })
    }
}
