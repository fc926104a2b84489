//! Incoming messages and receipts, one at a time, in the order the server sent them.
//!
//! The durability contract: a message is decrypted without writing anything
//! ([`decrypt_message_uncommitted`]) and handed to the application; only when the application
//! confirms ([`MessageAck::ack`]) is it decrypted again under the Signal lock and committed (one
//! atomic store write), then the delivery receipt and the ack go out. A crash before the
//! confirmation leaves the ratchet where it was, so the server's redelivery decrypts; a
//! redelivery of a committed message fails as a duplicate and is acked without an event.
//! Decrypting twice (rather than applying the first commit) keeps sends that happened meanwhile:
//! they changed the same session record.

use std::sync::Arc;

use rand::rngs::StdRng;
use tokio::sync::mpsc;
use tracing::{debug, warn};
use wa_proto::Node;

use super::{
    Event, MessageAck, PendingAck, Shared,
    driver::{Command, Ctx},
    send::own_device,
    stanza,
};
use crate::{
    Error, Result,
    message::{
        OwnDevice, ReceiptKind, RetryRequest, decrypt_message, decrypt_message_uncommitted,
        delivery_receipt, encrypt_retry, parse_message_info, parse_receipt, protocol_address,
        retry_receipt,
    },
    signal::{PreKeyBundle, cipher, generate_pre_keys, prekey::MAX_PRE_KEY_ID},
    store::{DeviceStore, SignalStore},
};

/// After this many retry receipts for one message we give up on it.
pub const MAX_RETRIES: u32 = 5;

/// Serves the stanzas of one connection until it ends or the application drops a token.
pub(crate) async fn serve<S: SignalStore + DeviceStore + 'static>(
    ctx: Ctx<S>,
    shared: Arc<Shared>,
    mut stanzas: mpsc::UnboundedReceiver<Node>,
    mut rng: StdRng,
) {
    while let Some(node) = stanzas.recv().await {
        let own = own_device(&*ctx.credentials.lock().await);
        let outcome = match (node.tag.as_ref(), own) {
            ("message", Some(own)) => message(&ctx, &shared, &own, &node, &mut rng).await,
            ("receipt", Some(own)) => receipt(&ctx, &shared, &own, &node, &mut rng).await,
            _ => {
                pass_on(&ctx, node).await;
                Ok(true)
            }
        };
        match outcome {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => warn!("incoming stanza not handled (it will come again): {error}"),
        }
    }
}

fn send(ctx: &Ctx<impl Send + Sync>, node: Node) {
    let _ = ctx.connection.send(Command::Send(node));
}

/// A stanza the client does not handle: [`Event::Stanza`], acked by the application.
async fn pass_on<S: SignalStore + DeviceStore + 'static>(ctx: &Ctx<S>, node: Node) {
    match stanza::ack_for(&node) {
        Ok(ack) => {
            let ack = PendingAck::new(ack, ctx.connection.clone());
            ctx.emit(Event::Stanza { node, ack }).await;
        }
        Err(error) => warn!("cannot ack a {}: {error}", node.tag),
    }
}

/// Returns `Ok(false)` when the application dropped the token (the connection is being ended).
async fn message<S: SignalStore + DeviceStore + 'static>(
    ctx: &Ctx<S>,
    shared: &Shared,
    own: &OwnDevice,
    node: &Node,
    rng: &mut StdRng,
) -> Result<bool> {
    let ack = stanza::ack_for(node)?;
    if let Ok(info) = parse_message_info(node, own) {
        if let Some(alt) = &info.sender_alt {
            shared.state().devices.lids().learn(&info.sender, alt);
        }
        // A contact that moved to LID addressing (or back) keeps its session.
        let _signal = shared.signal.lock().await;
        shared.follow_addressing(&*ctx.store, std::slice::from_ref(&info.sender)).await?;
    }
    let (received, _) = match decrypt_message_uncommitted(&*ctx.store, own, node, rng).await {
        Ok(decrypted) => decrypted,
        Err(Error::DuplicateMessage { .. }) => {
            // Committed before: the application has it; the receipt or ack got lost.
            debug!("duplicate message acked again");
            if let Ok(info) = parse_message_info(node, own) {
                send(ctx, delivery_receipt(&info));
            }
            send(ctx, ack);
            return Ok(true);
        }
        Err(Error::NothingToDecrypt { .. } | Error::UnsupportedEnc { .. }) => {
            pass_on(ctx, node.clone()).await;
            return Ok(true);
        }
        Err(error) if error.asks_for_retry_receipt() => {
            ask_again(ctx, shared, own, node, &error).await?;
            send(ctx, ack);
            return Ok(true);
        }
        Err(error @ Error::Store(_)) => return Err(error),
        Err(error) => {
            warn!("dropping a message that cannot be processed: {error}");
            send(ctx, ack);
            return Ok(true);
        }
    };
    let info = received.info.clone();
    let (token, confirmed) = MessageAck::new();
    let message = Box::new(received.message);
    let shown = shared.by_phone_number(received.info);
    if received.identity_changed {
        let (sender, chat) = (shown.sender.clone(), shown.chat.clone());
        ctx.emit(Event::IdentityChanged { sender, chat }).await;
    }
    ctx.emit(Event::Message { info: shown, message, ack: token }).await;
    if confirmed.await.is_err() {
        debug!(id = info.id, "message not confirmed: reconnecting for a redelivery");
        let _ = ctx.connection.send(Command::End(super::DisconnectReason::MessageNotHandled));
        return Ok(false);
    }
    {
        let _signal = shared.signal.lock().await;
        match decrypt_message(&*ctx.store, own, node, rng).await {
            Ok(_) | Err(Error::DuplicateMessage { .. }) => {}
            // The application has the message; if this recurs it comes again and is
            // recognised by id.
            Err(error) => return Err(error),
        }
    }
    shared.state().retries.clear(&info.id);
    send(ctx, delivery_receipt(&info));
    send(ctx, ack);
    Ok(true)
}

/// Sends a retry receipt for a message we could not decrypt (our keys from the second time on;
/// nothing after the fifth).
async fn ask_again<S: SignalStore + DeviceStore + 'static>(
    ctx: &Ctx<S>,
    shared: &Shared,
    own: &OwnDevice,
    node: &Node,
    error: &Error,
) -> Result<()> {
    let id = node.attr_opt_str("id").ok().flatten().unwrap_or_default().to_owned();
    let count = shared.state().retries.bump(&id);
    if count > MAX_RETRIES {
        warn!(id, "giving up on a message after {MAX_RETRIES} retry receipts: {error}");
        return Ok(());
    }
    debug!(id, count, "cannot decrypt ({error}): asking for it again");
    let include_keys = count >= 2;
    let keys = own_keys(ctx, shared, own, include_keys).await?;
    let identity = own.device_identity.as_deref();
    send(ctx, retry_receipt(node, count, &keys, include_keys, identity)?);
    Ok(())
}

/// Our bundle for a retry receipt: with one fresh one-time prekey (stored, counter saved) when
/// the keys go along.
async fn own_keys<S: SignalStore + DeviceStore + 'static>(
    ctx: &Ctx<S>,
    shared: &Shared,
    own: &OwnDevice,
    fresh_pre_key: bool,
) -> Result<PreKeyBundle> {
    let mut credentials = ctx.credentials.lock().await;
    let pre_key = if fresh_pre_key {
        let mut rng = shared.rng();
        let key = generate_pre_keys(credentials.next_pre_key_id, 1, &mut rng).pop();
        match key {
            Some(key) => {
                ctx.store.save_pre_key(&key).await?;
                credentials.next_pre_key_id = key.id % MAX_PRE_KEY_ID + 1;
                ctx.store.save_credentials(&credentials).await?;
                Some((key.id, key.key_pair.public))
            }
            None => None,
        }
    } else {
        None
    };
    Ok(PreKeyBundle {
        registration_id: credentials.registration_id,
        device_id: u32::from(own.jid.device),
        pre_key,
        signed_pre_key_id: credentials.signed_pre_key.id,
        signed_pre_key: credentials.signed_pre_key.key_pair.public,
        signed_pre_key_signature: credentials.signed_pre_key.signature.to_vec(),
        identity_key: credentials.identity.public,
    })
}

async fn receipt<S: SignalStore + DeviceStore + 'static>(
    ctx: &Ctx<S>,
    shared: &Shared,
    own: &OwnDevice,
    node: &Node,
    rng: &mut StdRng,
) -> Result<bool> {
    let Ok(receipt) = parse_receipt(node) else {
        pass_on(ctx, node.clone()).await;
        return Ok(true);
    };
    let ack = stanza::ack_for(node)?;
    match &receipt.kind {
        ReceiptKind::Retry(request) => {
            if let Err(error) = resend(ctx, shared, own, &receipt, request, rng).await {
                warn!(id = receipt.ids[0], "cannot answer a retry receipt: {error}");
            }
        }
        _ => ctx.emit(Event::Receipt(shared.receipt_by_phone_number(receipt))).await,
    }
    send(ctx, ack);
    Ok(true)
}

/// Encrypts a message of ours again for the device that asked, with a new session from the keys
/// it sent (or from its bundle when we have no session), and sends it.
async fn resend<S: SignalStore + DeviceStore + 'static>(
    ctx: &Ctx<S>,
    shared: &Shared,
    own: &OwnDevice,
    receipt: &crate::message::Receipt,
    request: &RetryRequest,
    rng: &mut StdRng,
) -> Result<()> {
    let id = &receipt.ids[0];
    let Some(entry) = shared.state().sent.get(id).cloned() else {
        debug!(id, "retry receipt for a message we no longer have");
        return Ok(());
    };
    let device = &receipt.sender;
    let node = {
        let _signal = shared.signal.lock().await;
        if let Some(keys) = &request.keys {
            let address = protocol_address(device);
            // The device reinstalled or lost its session: its keys are authoritative.
            ctx.store.save_identity(&address, &keys.identity_key).await?;
            cipher::process_pre_key_bundle(&*ctx.store, &address, keys, rng).await?;
        } else {
            shared
                .ensure_sessions(
                    &*ctx.store,
                    &ctx.connection,
                    &ctx.config,
                    std::slice::from_ref(device),
                )
                .await?;
        }
        encrypt_retry(&*ctx.store, own, id, &entry.chat, &entry.message, device, request.count, rng)
            .await?
    };
    debug!(id, %device, count = request.count, "sending a message again");
    send(ctx, node);
    Ok(())
}
