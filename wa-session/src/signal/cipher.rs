//! The Signal operations over a [`SignalStore`]: load, run the pure step, write back with one
//! [`MessageCommit`]. Nothing is written when an operation fails.

use rand_core::CryptoRng;

use super::{
    message::{PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage, SignalMessage},
    prekey::PreKeyBundle,
    sender_key::SenderKeyRecord,
    session::{self, CiphertextMessage, PreKeys},
    state::SessionRecord,
};
use crate::{
    Error, Result, SignalError,
    store::{MessageCommit, ProtocolAddress, SenderKeyName, SignalStore},
};

async fn check_trust<S: SignalStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    key: &crate::IdentityKey,
) -> Result<()> {
    if store.is_trusted_identity(address, key).await? {
        Ok(())
    } else {
        Err(Error::Signal(SignalError::UntrustedIdentity { address: address.to_string() }))
    }
}

/// Whether `key` would replace a different identity stored for `address` (the peer reinstalled
/// WhatsApp or changed phone: its "security code changed").
///
/// # Errors
///
/// Store failures.
pub async fn replaces_identity<S: SignalStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    key: &crate::IdentityKey,
) -> Result<bool> {
    Ok(store.identity(address).await?.is_some_and(|stored| stored != *key))
}

/// Starts a session with `address` from its prekey bundle (verifies the signed prekey signature).
/// An identity is trusted on first use and, as WhatsApp does, a changed one is accepted: the
/// commit replaces the stored key and the old session is archived ([`replaces_identity`] tells
/// the caller beforehand).
pub async fn process_pre_key_bundle<S: SignalStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    bundle: &PreKeyBundle,
    rng: &mut (impl CryptoRng + Send),
) -> Result<()> {
    let identity = store.identity_key_pair().await?;
    let registration_id = store.local_registration_id().await?;
    let mut record = store.session(address).await?.unwrap_or_default();
    session::initiate(&mut record, &identity, registration_id, bundle, rng)?;
    store
        .commit(MessageCommit {
            session: Some((address.clone(), record)),
            identity: Some((address.clone(), bundle.identity_key)),
            ..MessageCommit::default()
        })
        .await
}

/// Encrypts `plaintext` (already padded) for `address`.
pub async fn encrypt<S: SignalStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    plaintext: &[u8],
) -> Result<CiphertextMessage> {
    let mut record =
        store.session(address).await?.filter(SessionRecord::has_current_session).ok_or_else(
            || Error::Signal(SignalError::NoSession { address: address.to_string() }),
        )?;
    if let Some(remote) = record.remote_identity() {
        check_trust(store, address, &remote).await?;
    }
    let message = session::encrypt(&mut record, plaintext)?;
    store
        .commit(MessageCommit {
            session: Some((address.clone(), record)),
            ..MessageCommit::default()
        })
        .await?;
    Ok(message)
}

/// Decrypts a `msg` from `address`.
pub async fn decrypt_message<S: SignalStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut (impl CryptoRng + Send),
) -> Result<Vec<u8>> {
    let (plaintext, commit) = decrypt_message_uncommitted(store, address, bytes, rng).await?;
    store.commit(commit).await?;
    Ok(plaintext)
}

/// [`decrypt_message`] without writing anything: returns the plaintext and the
/// [`MessageCommit`] that would make it permanent. Until that commit is applied the message can be
/// decrypted again (a redelivery after a crash still decrypts).
pub async fn decrypt_message_uncommitted<S: SignalStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut (impl CryptoRng + Send),
) -> Result<(Vec<u8>, MessageCommit)> {
    let message = SignalMessage::deserialize(bytes)?;
    let mut record = store
        .session(address)
        .await?
        .ok_or_else(|| Error::Signal(SignalError::NoSession { address: address.to_string() }))?;
    let plaintext = session::decrypt(&mut record, &message, rng).map_err(|error| match error {
        Error::Signal(SignalError::NoSession { .. }) => {
            Error::Signal(SignalError::NoSession { address: address.to_string() })
        }
        other => other,
    })?;
    if let Some(remote) = record.remote_identity() {
        check_trust(store, address, &remote).await?;
    }
    let commit =
        MessageCommit { session: Some((address.clone(), record)), ..MessageCommit::default() };
    Ok((plaintext, commit))
}

/// Decrypts a `pkmsg` from `address`, creating the session (and consuming the one-time prekey) in
/// the same commit.
pub async fn decrypt_pre_key_message<S: SignalStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut (impl CryptoRng + Send),
) -> Result<Vec<u8>> {
    let (plaintext, commit) =
        decrypt_pre_key_message_uncommitted(store, address, bytes, rng).await?;
    store.commit(commit).await?;
    Ok(plaintext)
}

/// [`decrypt_pre_key_message`] without writing anything: the plaintext and the commit (session,
/// identity, consumed prekey) to apply once the message is safe. A sender whose identity changed
/// (a reinstall, a new phone) is accepted as WhatsApp accepts it: the commit replaces the stored
/// key and the new session archives the old one ([`replaces_identity`] tells the caller).
pub async fn decrypt_pre_key_message_uncommitted<S: SignalStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut (impl CryptoRng + Send),
) -> Result<(Vec<u8>, MessageCommit)> {
    let message = PreKeySignalMessage::deserialize(bytes)?;
    let identity = store.identity_key_pair().await?;
    let registration_id = store.local_registration_id().await?;
    let mut record = store.session(address).await?.unwrap_or_default();
    let (signed, one_time) = if session::knows_base_key(&record, &message) {
        (None, None)
    } else {
        let signed = store.signed_pre_key(message.signed_pre_key_id).await?;
        let one_time = match message.pre_key_id {
            Some(id) => store.pre_key(id).await?,
            None => None,
        };
        (signed, one_time)
    };
    let pre_keys = PreKeys {
        signed_pre_key: signed.as_ref().map(|record| &record.key_pair),
        one_time_pre_key: one_time.as_ref().map(|record| &record.key_pair),
    };
    let outcome =
        session::decrypt_pre_key(&mut record, &identity, registration_id, &message, pre_keys, rng)?;
    let commit = MessageCommit {
        session: Some((address.clone(), record)),
        identity: Some((address.clone(), outcome.remote_identity)),
        consumed_pre_key: outcome.consumed_pre_key,
        ..MessageCommit::default()
    };
    Ok((outcome.plaintext, commit))
}

/// Our distribution message for the group in `name` (whose sender is us), creating our sender key
/// on first use.
pub async fn create_sender_key_distribution<S: SignalStore + ?Sized>(
    store: &S,
    name: &SenderKeyName,
    rng: &mut (impl CryptoRng + Send),
) -> Result<SenderKeyDistributionMessage> {
    let mut record = store.sender_key(name).await?.unwrap_or_default();
    let message = record.create_distribution(rng);
    store
        .commit(MessageCommit {
            sender_key: Some((name.clone(), record)),
            ..MessageCommit::default()
        })
        .await?;
    Ok(message)
}

/// Stores a member's distribution message.
pub async fn process_sender_key_distribution<S: SignalStore + ?Sized>(
    store: &S,
    name: &SenderKeyName,
    bytes: &[u8],
) -> Result<()> {
    let message = SenderKeyDistributionMessage::deserialize(bytes)?;
    let mut record = store.sender_key(name).await?.unwrap_or_default();
    record.process_distribution(&message);
    store
        .commit(MessageCommit {
            sender_key: Some((name.clone(), record)),
            ..MessageCommit::default()
        })
        .await
}

/// Encrypts `plaintext` (already padded) for the group with our sender key.
pub async fn group_encrypt<S: SignalStore + ?Sized>(
    store: &S,
    name: &SenderKeyName,
    plaintext: &[u8],
    rng: &mut (impl CryptoRng + Send),
) -> Result<SenderKeyMessage> {
    let mut record = store.sender_key(name).await?.ok_or_else(|| {
        Error::Signal(SignalError::NoSenderKey { name: name.to_string(), key_id: None })
    })?;
    let message = record.encrypt(plaintext, rng).map_err(|error| rename(error, name))?;
    store
        .commit(MessageCommit {
            sender_key: Some((name.clone(), record)),
            ..MessageCommit::default()
        })
        .await?;
    Ok(message)
}

fn rename(error: Error, name: &SenderKeyName) -> Error {
    match error {
        Error::Signal(SignalError::NoSenderKey { key_id, .. }) => {
            Error::Signal(SignalError::NoSenderKey { name: name.to_string(), key_id })
        }
        other => other,
    }
}

/// Decrypts a group message from the sender in `name`.
pub async fn group_decrypt<S: SignalStore + ?Sized>(
    store: &S,
    name: &SenderKeyName,
    bytes: &[u8],
) -> Result<Vec<u8>> {
    let message = SenderKeyMessage::deserialize(bytes)?;
    let mut record: SenderKeyRecord = store.sender_key(name).await?.ok_or_else(|| {
        Error::Signal(SignalError::NoSenderKey {
            name: name.to_string(),
            key_id: Some(message.key_id),
        })
    })?;
    let plaintext = record.decrypt(&message).map_err(|error| rename(error, name))?;
    store
        .commit(MessageCommit {
            sender_key: Some((name.clone(), record)),
            ..MessageCommit::default()
        })
        .await?;
    Ok(plaintext)
}
