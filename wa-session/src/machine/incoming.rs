//! Receiving: decrypting without writing, committing once the application has the message,
//! retry receipts for what cannot be decrypted, and answering the retry receipts of others from
//! the sent store.

use rand_core::CryptoRng;
use wa_proto::Node;

use super::{BundleQuery, MAX_RETRIES, Machine};
use crate::{
    Error, MessageError, Result, SignalError,
    message::{
        OwnDevice, Receipt, ReceivedMessage, RetryRequest, ack_for, decrypt_message,
        decrypt_message_uncommitted, delivery_receipt, encrypt_retry, parse_message_info,
        protocol_address, retry_receipt,
    },
    signal::{PreKeyBundle, cipher},
    store::SignalStore,
};

/// What a retry receipt for an undecryptable message should carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAsk {
    /// How many times we have asked for this message (1 the first time).
    pub count: u32,
    /// Whether our keys go along (from the second time on; with a fresh one-time prekey).
    pub include_keys: bool,
}

/// What [`Machine::open`] made of a `<message>`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Opened {
    /// Decrypted, nothing written yet: hand it to the application (its envelope by phone
    /// number where known), then [`Machine::commit`] the stanza once it is safe.
    Message(Box<ReceivedMessage>),
    /// Committed before (the receipt or ack got lost): send these again (receipt, ack).
    Duplicate(Vec<Node>),
    /// Nothing in it for this machine (no `<enc>` for us, an unsupported one): the caller
    /// handles the stanza itself.
    NotForUs,
    /// It cannot be decrypted: send `ack`, and if `retry` is given a retry receipt built by
    /// [`Machine::retry_receipt`] (with our keys if it says so); `None` after
    /// [`MAX_RETRIES`].
    Undecryptable {
        /// Why.
        error: Error,
        /// The retry receipt to send, if any is left.
        retry: Option<RetryAsk>,
        /// The stanza's ack.
        ack: Node,
    },
    /// It can never be processed (malformed beyond a retry): send `ack` and drop it.
    Dropped {
        /// Why.
        error: Error,
        /// The stanza's ack.
        ack: Node,
    },
}

/// What answers a retry receipt for one of our messages.
#[derive(Debug)]
#[non_exhaustive]
pub enum Resend {
    /// The message encrypted again for the device that asked: send it.
    Stanza(Node),
    /// We have no session with the device and it sent no keys: send this bundle query, push
    /// the answer to [`Machine::bundles_answered`], then ask [`Machine::retry_requested`] again.
    NeedBundle(BundleQuery),
    /// The message is no longer in the sent store: nothing to send.
    Forgotten,
}

impl<S: SignalStore + ?Sized> Machine<S> {
    /// Decrypts the `<message>` `node` for `own` without writing anything: learns the sender's
    /// other addressing from its attributes and moves the session if the contact changed
    /// addressing, then decrypts.
    ///
    /// # Errors
    ///
    /// Store errors only (the stanza comes again); what the stanza itself gets wrong is an
    /// [`Opened`] outcome.
    pub async fn open(
        &self,
        own: &OwnDevice,
        node: &Node,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<Opened> {
        let ack = ack_for(node)?;
        if let Ok(info) = parse_message_info(node, own) {
            if let Some(alt) = &info.sender_alt {
                self.learn_addressing(&info.sender, alt);
            }
            // A contact that moved to LID addressing (or back) keeps its session.
            self.follow_addressing(std::slice::from_ref(&info.sender)).await?;
        }
        match decrypt_message_uncommitted(&*self.store, own, node, rng).await {
            Ok((received, _)) => Ok(Opened::Message(Box::new(received))),
            Err(Error::Signal(SignalError::DuplicateMessage { .. })) => {
                let mut again = Vec::new();
                if let Ok(info) = parse_message_info(node, own) {
                    again.push(delivery_receipt(&info));
                }
                again.push(ack);
                Ok(Opened::Duplicate(again))
            }
            Err(
                Error::Message(MessageError::NothingToDecrypt { .. })
                | Error::Message(MessageError::UnsupportedEnc { .. }),
            ) => Ok(Opened::NotForUs),
            Err(error) if error.asks_for_retry_receipt() => {
                let id = node.attr_opt_str("id").ok().flatten().unwrap_or_default();
                let count = self.state().retries.bump(id);
                let retry =
                    (count <= MAX_RETRIES).then_some(RetryAsk { count, include_keys: count >= 2 });
                Ok(Opened::Undecryptable { error, retry, ack })
            }
            Err(error @ Error::Store(_)) => Err(error),
            Err(error) => Ok(Opened::Dropped { error, ack }),
        }
    }

    /// The retry receipt for the undecryptable `node`, carrying `keys` (our bundle, with a
    /// fresh one-time prekey when `ask.include_keys`).
    ///
    /// # Errors
    ///
    /// [`MessageError::Stanza`] if `node` has no id or sender.
    pub fn retry_receipt(
        &self,
        own: &OwnDevice,
        node: &Node,
        ask: RetryAsk,
        keys: &PreKeyBundle,
    ) -> Result<Node> {
        retry_receipt(node, ask.count, keys, ask.include_keys, own.device_identity.as_deref())
    }

    /// Commits the `<message>` `node` that [`Machine::open`] decrypted: decrypts it again and
    /// writes the Signal state in one store write (sends that happened meanwhile changed the
    /// same session record, so the first decryption's state is not reused). Returns the
    /// delivery receipt and the ack to send.
    ///
    /// # Errors
    ///
    /// Store errors and decryption errors (the message comes again and is recognised by id).
    pub async fn commit(
        &self,
        own: &OwnDevice,
        node: &Node,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<Vec<Node>> {
        let ack = ack_for(node)?;
        let info = match decrypt_message(&*self.store, own, node, rng).await {
            Ok(received) => received.info,
            Err(Error::Signal(SignalError::DuplicateMessage { .. })) => {
                parse_message_info(node, own)?
            }
            Err(error) => return Err(error),
        };
        self.state().retries.clear(&info.id);
        Ok(vec![delivery_receipt(&info), ack])
    }

    /// Answers a `retry` receipt for one of our messages: encrypts it again for the device that
    /// asked, with a new session from the keys it sent (its keys are authoritative: it
    /// reinstalled or lost its session), or with the session we have.
    ///
    /// # Errors
    ///
    /// Store and encryption errors.
    pub async fn retry_requested(
        &self,
        own: &OwnDevice,
        receipt: &Receipt,
        request: &RetryRequest,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<Resend> {
        let Some(id) = receipt.ids.first() else { return Ok(Resend::Forgotten) };
        let Some(entry) = self.state().sent.get(id).cloned() else {
            return Ok(Resend::Forgotten);
        };
        let device = &receipt.sender;
        if let Some(keys) = &request.keys {
            let address = protocol_address(device);
            self.store.save_identity(&address, &keys.identity_key).await?;
            cipher::process_pre_key_bundle(&*self.store, &address, keys, rng).await?;
        } else if let Some(query) = self.sessions_needed(std::slice::from_ref(device)).await? {
            return Ok(Resend::NeedBundle(query));
        }
        let node = encrypt_retry(
            &*self.store,
            own,
            id,
            &entry.chat,
            &entry.message,
            device,
            request.count,
            rng,
        )
        .await?;
        Ok(Resend::Stanza(node))
    }
}
