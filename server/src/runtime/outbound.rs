//! Sending the line's outbox: each pending item's message is rebuilt from what tenancy stored,
//! its WhatsApp id chosen once and stored before the first attempt (a resend after a crash
//! reuses it), sent, and completed.

use std::path::Path;

use tenancy::{Caller, Direction, Message, MessageId, MessageKind, OutboxItem, Tenant};
use wa_proto::{
    Jid,
    proto::{
        common::MessageKey,
        e2e::{self, ContextInfo, message::ExtendedTextMessage, message::ReactionMessage},
    },
};
use wa_session::client::{Client, MediaKind, MediaOptions};

use super::RuntimeError;
use crate::voice;

/// The wa-session media kind of a stored kind, if it is media.
pub(crate) fn media_kind(kind: MessageKind) -> Option<MediaKind> {
    Some(match kind {
        MessageKind::Image => MediaKind::Image,
        MessageKind::Video => MediaKind::Video,
        MessageKind::Document => MediaKind::Document,
        MessageKind::Audio => MediaKind::Audio,
        MessageKind::Voice => MediaKind::VoiceNote,
        MessageKind::Sticker => MediaKind::Sticker,
        _ => return None,
    })
}

/// The chat partner of a conversation.
async fn chat_of(tenant: &Tenant, message: &Message) -> Result<Jid, RuntimeError> {
    let conversation = tenant.conversation(Caller::System, message.conversation_id).await?;
    conversation.contact.jid.parse::<Jid>().map_err(|_| RuntimeError::Invalid("contact JID"))
}

/// The message a reply quotes or a reaction targets, as WhatsApp names it.
struct Target {
    wa_id: String,
    from_me: bool,
    participant: Option<String>,
    text: Option<String>,
}

async fn target(
    tenant: &Tenant,
    client: &Client,
    quoted_id: Option<i64>,
) -> Result<Option<Target>, RuntimeError> {
    let Some(id) = quoted_id else { return Ok(None) };
    let quoted = tenant.message(Caller::System, id).await?;
    let wa_id =
        quoted.wa_id.ok_or(RuntimeError::Invalid("quoted message has no WhatsApp id yet"))?;
    let from_me = quoted.direction == Direction::Outbound;
    let participant = if from_me {
        client.credentials().await.account.map(|a| a.jid.to_non_device().to_string())
    } else {
        Some(quoted.sender.clone())
    };
    Ok(Some(Target { wa_id, from_me, participant, text: quoted.text }))
}

/// The `e2e::Message` for a stored outbound message (media uploaded first).
async fn build(
    tenant: &Tenant,
    client: &Client,
    media_dir: &Path,
    chat: &Jid,
    message: &Message,
    now_ms: i64,
) -> Result<e2e::Message, RuntimeError> {
    let target = target(tenant, client, message.quoted_id).await?;
    let context = target.as_ref().map(|t| {
        Box::new(ContextInfo {
            stanza_id: Some(t.wa_id.clone()),
            participant: t.participant.clone(),
            quoted_message: Some(Box::new(e2e::Message {
                conversation: t.text.clone(),
                ..Default::default()
            })),
            ..Default::default()
        })
    });
    if message.kind == MessageKind::Reaction {
        let t = target.ok_or(RuntimeError::Invalid("reaction without a target"))?;
        return Ok(e2e::Message {
            reaction_message: Some(ReactionMessage {
                key: Some(MessageKey {
                    remote_jid: Some(chat.to_non_device().to_string()),
                    from_me: Some(t.from_me),
                    id: Some(t.wa_id),
                    participant: None,
                }),
                text: message.text.clone(),
                sender_timestamp_ms: Some(now_ms),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    if let Some(kind) = media_kind(message.kind) {
        let media =
            message.media.as_ref().ok_or(RuntimeError::Invalid("media message without a file"))?;
        let bytes = tokio::fs::read(media_dir.join(&media.path)).await?;
        let seconds = match kind {
            MediaKind::VoiceNote => voice::ogg_opus_duration(&bytes).ok().map(|d| {
                u32::try_from(d.as_millis().saturating_add(500) / 1000).unwrap_or(u32::MAX).max(1)
            }),
            _ => None,
        };
        let file_name =
            Path::new(&media.path).file_name().map(|n| n.to_string_lossy().into_owned());
        let uploaded = client.upload_bytes(kind, &bytes).await?;
        let mut built = uploaded.message(&MediaOptions {
            mimetype: Some(media.mime.clone()),
            caption: message.text.clone(),
            file_name: (kind == MediaKind::Document).then_some(file_name).flatten(),
            seconds,
            ..MediaOptions::default()
        });
        if let Some(context) = context {
            attach_context(&mut built, context);
        }
        return Ok(built);
    }
    let text = message.text.clone().unwrap_or_default();
    Ok(match context {
        None => e2e::Message { conversation: Some(text), ..Default::default() },
        Some(context) => e2e::Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some(text),
                context_info: Some(context),
                ..Default::default()
            })),
            ..Default::default()
        },
    })
}

/// Puts a reply's context on whichever media message `built` holds.
fn attach_context(built: &mut e2e::Message, context: Box<ContextInfo>) {
    let slot = if let Some(m) = built.image_message.as_mut() {
        &mut m.context_info
    } else if let Some(m) = built.video_message.as_mut() {
        &mut m.context_info
    } else if let Some(m) = built.document_message.as_mut() {
        &mut m.context_info
    } else if let Some(m) = built.audio_message.as_mut() {
        &mut m.context_info
    } else if let Some(m) = built.sticker_message.as_mut() {
        &mut m.context_info
    } else {
        return;
    };
    *slot = Some(context);
}

/// An outbox item that went out.
pub(crate) struct Sent {
    /// Our id.
    pub(crate) message_id: MessageId,
    /// WhatsApp's id it went out under.
    pub(crate) wa_id: String,
}

/// Sends one outbox item: the id is reserved (or the stored one reused), the message built and
/// sent, the send completed. Returns what went out, for the status event.
pub(crate) async fn send_item(
    tenant: &Tenant,
    client: &Client,
    media_dir: &Path,
    item: &OutboxItem,
    now: time::OffsetDateTime,
) -> Result<Sent, (Option<i64>, RuntimeError)> {
    let message_id =
        item.message_id.ok_or((None, RuntimeError::Invalid("outbox item without a message")))?;
    let fail = |e: RuntimeError| (Some(message_id), e);
    let message = tenant.message(Caller::System, message_id).await.map_err(|e| fail(e.into()))?;
    let wa_id = match &message.wa_id {
        Some(id) => id.clone(),
        None => {
            let fresh = client.new_message_id().await.map_err(|e| fail(e.into()))?;
            tenant
                .reserve_wa_id(Caller::System, message_id, &fresh)
                .await
                .map_err(|e| fail(e.into()))?
        }
    };
    let chat = chat_of(tenant, &message).await.map_err(fail)?;
    let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let built = build(tenant, client, media_dir, &chat, &message, now_ms).await.map_err(fail)?;
    client.send_message_with_id(&chat, &wa_id, built).await.map_err(|e| fail(e.into()))?;
    tenant.complete_send(Caller::System, item.id, &wa_id, now).await.map_err(|e| fail(e.into()))?;
    Ok(Sent { message_id, wa_id })
}
