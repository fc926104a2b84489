//! One device, two names: WhatsApp addresses a contact's device by phone number
//! (`5511...:3@s.whatsapp.net`) or by LID (`777...:3@lid`), and moves chats from the first to the
//! second. The Signal session with the device is one; it lives under the address in use and
//! moves when the other one is used, so that neither side starts over (which shows up as
//! "no session" retry receipts and lost messages in the other implementations).

use wa_proto::{Jid, Server};

use super::protocol_address;
use crate::{Result, store::SessionStore};

/// Whether `jid` is a user or device JID in one of the two addressings of a person.
pub fn is_person(jid: &Jid) -> bool {
    matches!(jid.server, Server::User | Server::Lid)
}

/// Before a message is encrypted for or decrypted from `device`, moves the session kept under
/// `alternate` (the same device in the other addressing) to `device`'s address, when only the
/// alternate has one. Returns whether it moved. Call it with the Signal lock held.
///
/// # Errors
///
/// The store's.
pub async fn migrate_session<S: SessionStore + ?Sized>(
    store: &S,
    device: &Jid,
    alternate: &Jid,
) -> Result<bool> {
    if !is_person(device) || !is_person(alternate) || device.server == alternate.server {
        return Ok(false);
    }
    let (to, from) = (protocol_address(device), protocol_address(alternate));
    if store.session(&to).await?.is_some() {
        return Ok(false);
    }
    store.move_session(&from, &to).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        KeyPair, PrivateKey,
        signal::SessionRecord,
        store::{MemoryStore, ProtocolAddress},
    };

    fn jid(s: &str) -> Jid {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn the_session_follows_the_address_in_use() {
        let store = MemoryStore::new(KeyPair::from_private(PrivateKey::from_bytes([1; 32])), 7);
        let (pn, lid) = (jid("5511:3@s.whatsapp.net"), jid("777:3@lid"));
        assert!(!migrate_session(&store, &lid, &pn).await.unwrap(), "no session anywhere");
        store.save_session(&protocol_address(&pn), &SessionRecord::new()).await.unwrap();
        assert!(migrate_session(&store, &lid, &pn).await.unwrap());
        assert_eq!(protocol_address(&lid), ProtocolAddress::new("777_1", 3));
        assert!(store.session(&protocol_address(&lid)).await.unwrap().is_some());
        assert!(store.session(&protocol_address(&pn)).await.unwrap().is_none());
        // Already where it is used: nothing moves; and back when the phone number is used again.
        assert!(!migrate_session(&store, &lid, &pn).await.unwrap());
        assert!(migrate_session(&store, &pn, &lid).await.unwrap());
        // Groups and other servers are not persons.
        assert!(!migrate_session(&store, &jid("123@g.us"), &pn).await.unwrap());
        assert!(!migrate_session(&store, &pn, &jid("5511:3@s.whatsapp.net")).await.unwrap());
    }
}
