//! Incoming messages and receipts, one at a time, in the order the server sent them.
//!
//! The durability contract: a message is decrypted without writing anything
//! ([`crate::machine::Machine::open`]) and handed to the application; only when the application
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
    command::Command,
    event::{Event, MessageAck, PendingAck},
    handle::Ctx,
    reason::DisconnectReason,
    shared::Shared,
    stanza,
};
use crate::{
    Result,
    machine::{MAX_RETRIES, Opened, Resend},
    message::{OwnDevice, Receipt, ReceiptKind, RetryRequest, parse_receipt},
    signal::{PreKeyBundle, generate_pre_keys, prekey::MAX_PRE_KEY_ID},
    store::{DeviceStore, SignalStore},
};

/// Serves the stanzas of one connection until it ends or the application drops a token.
pub(crate) async fn serve<S: SignalStore + DeviceStore + 'static>(
    ctx: Ctx<S>,
    shared: Arc<Shared>,
    mut stanzas: mpsc::UnboundedReceiver<Node>,
    mut rng: StdRng,
) {
    while let Some(node) = stanzas.recv().await {
        let own = OwnDevice::of(&*ctx.credentials.lock().await);
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
    let opened = {
        let _signal = shared.signal.lock().await;
        shared.machine.open(own, node, rng).await?
    };
    let received = match opened {
        Opened::Message(received) => received,
        Opened::Duplicate(again) => {
            // Committed before: the application has it; the receipt or ack got lost.
            debug!("duplicate message acked again");
            for stanza in again {
                send(ctx, stanza);
            }
            return Ok(true);
        }
        Opened::NotForUs => {
            pass_on(ctx, node.clone()).await;
            return Ok(true);
        }
        Opened::Undecryptable { error, retry, ack } => {
            let id = node.attr_opt_str("id").ok().flatten().unwrap_or_default();
            match retry {
                Some(ask) => {
                    debug!(id, count = ask.count, "cannot decrypt ({error}): asking for it again");
                    let keys = own_keys(ctx, shared, own, ask.include_keys).await?;
                    send(ctx, shared.machine.retry_receipt(own, node, ask, &keys)?);
                }
                None => {
                    warn!(id, "giving up on a message after {MAX_RETRIES} retry receipts: {error}");
                }
            }
            send(ctx, ack);
            return Ok(true);
        }
        Opened::Dropped { error, ack } => {
            warn!("dropping a message that cannot be processed: {error}");
            send(ctx, ack);
            return Ok(true);
        }
    };
    let info = received.info.clone();
    let (token, confirmed) = MessageAck::new();
    let message = Box::new(received.message);
    let shown = shared.machine.by_phone_number(received.info);
    if received.identity_changed {
        let (sender, chat) = (shown.sender.clone(), shown.chat.clone());
        ctx.emit(Event::IdentityChanged { sender, chat }).await;
    }
    ctx.emit(Event::Message { info: shown, message, ack: token }).await;
    if confirmed.await.is_err() {
        debug!(id = info.id, "message not confirmed: reconnecting for a redelivery");
        let _ = ctx.connection.send(Command::End(DisconnectReason::MessageNotHandled));
        return Ok(false);
    }
    let done = {
        let _signal = shared.signal.lock().await;
        // The application has the message; if committing fails it comes again and is
        // recognised by id.
        shared.machine.commit(own, node, rng).await?
    };
    for stanza in done {
        send(ctx, stanza);
    }
    Ok(true)
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
        _ => ctx.emit(Event::Receipt(shared.machine.receipt_by_phone_number(receipt))).await,
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
    receipt: &Receipt,
    request: &RetryRequest,
    rng: &mut StdRng,
) -> Result<()> {
    let id = &receipt.ids[0];
    let _signal = shared.signal.lock().await;
    let mut outcome = shared.machine.retry_requested(own, receipt, request, rng).await?;
    if let Resend::NeedBundle(query) = &outcome {
        let answer = ctx.iq(query.node(&shared.random_id())).await?;
        shared.machine.bundles_answered(&answer, &mut shared.rng()).await?;
        outcome = shared.machine.retry_requested(own, receipt, request, rng).await?;
    }
    match outcome {
        Resend::Stanza(node) => {
            debug!(id, device = %receipt.sender, count = request.count, "sending a message again");
            send(ctx, node);
        }
        Resend::Forgotten => debug!(id, "retry receipt for a message we no longer have"),
        other => warn!(id, "cannot answer a retry receipt: {other:?}"),
    }
    Ok(())
}
