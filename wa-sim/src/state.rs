//! The simulator's data model: accounts and their devices, open connections and their roles,
//! the per-device offline queues, the outbox routing fills, counters and fault rules. Plain data
//! behind one lock; every other module reads and writes it, and it calls none of them.

use std::collections::{BTreeMap, VecDeque};

use tokio::sync::{mpsc, oneshot};
use wa_proto::{Jid, Node, Server};
use wa_session::{KeyPair, PublicKey};

use crate::{
    error::{Error, Result},
    fault_rule::FaultRule,
    report::{AccountInfo, Counters, PairedDevice, RoutedMessage},
    target::Target,
};

/// How many companion devices an account can have linked at once, as on WhatsApp.
pub const MAX_COMPANIONS: usize = 4;

/// An account: its primary phone's identity and its devices (0 is the primary phone).
pub(crate) struct Account {
    pub(crate) phone: String,
    pub(crate) lid: String,
    pub(crate) identity: KeyPair,
    pub(crate) adv_raw_id: u32,
    pub(crate) next_key_index: u32,
    pub(crate) next_device: u16,
    pub(crate) devices: BTreeMap<u16, Device>,
}

impl Account {
    /// Refuses a new companion when [`MAX_COMPANIONS`] are linked (removed ones do not count).
    pub(crate) fn check_room_for_companion(&self, phone: &str) -> Result<()> {
        let linked = self.devices.iter().filter(|(id, d)| **id != 0 && !d.removed).count();
        if linked >= MAX_COMPANIONS {
            return Err(Error::TooManyCompanions(phone.to_owned()));
        }
        Ok(())
    }
}

/// One device of an account, as the server knows it: its keys and what it published.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    pub(crate) noise_key: Option<PublicKey>,
    pub(crate) identity_key: PublicKey,
    pub(crate) registration_id: u32,
    pub(crate) key_index: u32,
    pub(crate) platform: Option<String>,
    pub(crate) removed: bool,
    pub(crate) prekeys: BTreeMap<u32, Vec<u8>>,
    pub(crate) signed_prekey: Option<SignedPreKey>,
}

/// A device's published signed prekey.
#[derive(Debug, Clone)]
pub(crate) struct SignedPreKey {
    pub(crate) id: u32,
    pub(crate) public: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// What a registering companion told the server in its `devicePairingData`.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) noise_key: PublicKey,
    pub(crate) identity_key: PublicKey,
    pub(crate) registration_id: u32,
    pub(crate) signed_prekey: Option<SignedPreKey>,
}

/// A pairing the phone started ([`crate::Sim::scan`]), waiting for the companion's
/// `pair-device-sign`.
pub(crate) struct PendingPair {
    pub(crate) iq_id: String,
    pub(crate) phone: String,
    pub(crate) device: u16,
    pub(crate) key_index: u32,
    pub(crate) details: Vec<u8>,
    pub(crate) account_key: PublicKey,
    pub(crate) platform: Option<String>,
    pub(crate) done: oneshot::Sender<Result<PairedDevice>>,
}

/// Where a connection stands: handshaking, registering (showing QR refs) or logged in.
pub(crate) enum Role {
    Handshaking,
    Registering { refs: Vec<String>, registration: Registration, pending: Option<Box<PendingPair>> },
    LoggedIn { phone: String, device: u16 },
}

/// What a connection task is told to do.
#[derive(Debug)]
pub(crate) enum Command {
    Send(Node),
    /// Send the node, then close.
    End(Node),
    Close,
    /// Stop sending and answering, keep the socket open (a dead connection).
    BlackHole,
}

/// An open connection: the channel to its task and its role.
pub(crate) struct ConnEntry {
    pub(crate) tx: mpsc::UnboundedSender<Command>,
    pub(crate) role: Role,
}

/// A routed stanza waiting for the recipient's ack.
pub(crate) struct Queued {
    pub(crate) class: &'static str,
    pub(crate) id: String,
    pub(crate) node: Node,
}

/// A stanza routing addressed to one device, waiting in the [`State::outbox`] until whoever
/// routed it hands it over ([`State::drain_outbox`]).
pub(crate) struct Delivery {
    /// The account.
    pub(crate) phone: String,
    /// The device (0: the simulated phone).
    pub(crate) device: u16,
    /// The stanza in its delivered form.
    pub(crate) node: Node,
}

/// Everything the simulator knows, behind the one lock of [`crate::Sim`].
#[derive(Default)]
pub(crate) struct State {
    pub(crate) accounts: BTreeMap<String, Account>,
    /// Per device (`phone`, `device`): routed stanzas not yet acked.
    pub(crate) queues: BTreeMap<(String, u16), Vec<Queued>>,
    pub(crate) conns: BTreeMap<u64, ConnEntry>,
    pub(crate) next_conn: u64,
    pub(crate) counters: Counters,
    /// Latency and drop rules, in the order they were set.
    pub(crate) faults: Vec<FaultRule>,
    /// The last messages routed to each companion (what the control API lists).
    pub(crate) routed_log: BTreeMap<(String, u16), VecDeque<RoutedMessage>>,
    /// What routing addressed to devices and phones, not yet handed over. Routing only fills
    /// it, so that it needs no connection or phone; the caller drains it before releasing the
    /// lock ([`State::drain_outbox`]).
    pub(crate) outbox: Vec<Delivery>,
    /// Per device: its logged-in connections, an index over `conns` so that routing a stanza
    /// does not visit every connection.
    online: BTreeMap<(String, u16), Vec<u64>>,
}

impl State {
    /// Marks connection `id` logged in as `phone:device`.
    pub(crate) fn log_in(&mut self, id: u64, phone: &str, device: u16) {
        if let Some(entry) = self.conns.get_mut(&id) {
            entry.role = Role::LoggedIn { phone: phone.to_owned(), device };
            self.online.entry((phone.to_owned(), device)).or_default().push(id);
        }
    }

    /// Forgets connection `id`; its entry, if it was there.
    pub(crate) fn remove_conn(&mut self, id: u64) -> Option<ConnEntry> {
        let entry = self.conns.remove(&id)?;
        if let Role::LoggedIn { phone, device } = &entry.role {
            let key = (phone.clone(), *device);
            if let Some(ids) = self.online.get_mut(&key) {
                ids.retain(|c| *c != id);
                if ids.is_empty() {
                    self.online.remove(&key);
                }
            }
        }
        Some(entry)
    }

    /// The logged-in connections of `phone:device`, with their ids.
    pub(crate) fn connections_of(
        &self,
        phone: &str,
        device: u16,
    ) -> impl Iterator<Item = (u64, &ConnEntry)> {
        self.online
            .get(&(phone.to_owned(), device))
            .into_iter()
            .flatten()
            .filter_map(|id| Some((*id, self.conns.get(id)?)))
    }

    /// Hands the outbox over: a companion's stanzas go to its open connections (it also has
    /// them queued until it acks), and the stanzas for the simulated phones are returned as
    /// (account, stanza) for the caller to hand to them once the lock is released. Called under
    /// the same lock as the routing that filled the outbox, so that a device logging in
    /// meanwhile never gets a stanza both from its queue and from here.
    pub(crate) fn drain_outbox(&mut self) -> Vec<(String, Node)> {
        let mut to_phones = Vec::new();
        for delivery in std::mem::take(&mut self.outbox) {
            if delivery.device == 0 {
                to_phones.push((delivery.phone, delivery.node));
                continue;
            }
            // Usually one connection: the last one gets the stanza itself, not a copy.
            let mut node = Some(delivery.node);
            let mut connections = self.connections_of(&delivery.phone, delivery.device).peekable();
            while let Some((_, entry)) = connections.next() {
                let copy = if connections.peek().is_none() { node.take() } else { node.clone() };
                if let Some(copy) = copy {
                    let _ = entry.tx.send(Command::Send(copy));
                }
            }
        }
        to_phones
    }
}

/// `phone:device@s.whatsapp.net`.
pub(crate) fn phone_jid(phone: &str, device: u16) -> Jid {
    Jid::with_device(phone, Server::from_name("s.whatsapp.net"), device)
}

/// `lid:device@lid`.
pub(crate) fn lid_jid(lid: &str, device: u16) -> Jid {
    Jid::with_device(lid, Server::from_name("lid"), device)
}

/// Whether `target` covers the connection `entry` (no phone: every connection).
pub(crate) fn matches(entry: &ConnEntry, target: &Target) -> bool {
    let Some(phone) = &target.phone else { return true };
    match &entry.role {
        Role::LoggedIn { phone: p, device } => {
            p == phone && target.device.is_none_or(|d| d == *device)
        }
        _ => false,
    }
}

/// What the control API reports about `account`.
pub(crate) fn account_info(account: &Account) -> AccountInfo {
    AccountInfo {
        phone: account.phone.clone(),
        jid: phone_jid(&account.phone, 0).to_string(),
        lid: lid_jid(&account.lid, 0).to_string(),
        identity_key: hex::encode(account.identity.public.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;
    use wa_proto::Node;

    use super::{Command, ConnEntry, Delivery, Role, State};

    fn delivery(phone: &str, device: u16, id: &str) -> Delivery {
        Delivery {
            phone: phone.to_owned(),
            device,
            node: Node::builder("message").attr("id", id.to_owned()).build(),
        }
    }

    #[test]
    fn draining_the_outbox_sends_to_companions_and_returns_the_phones_share() {
        let mut state = State::default();
        let mut receivers = Vec::new();
        // Two connections of the same companion (the second is about to replace the first).
        for id in [1, 2] {
            let (tx, rx) = mpsc::unbounded_channel();
            state.conns.insert(id, ConnEntry { tx, role: Role::Handshaking });
            state.log_in(id, "15550001111", 1);
            receivers.push(rx);
        }
        state.outbox.push(delivery("15550001111", 1, "to-companion"));
        state.outbox.push(delivery("15550001111", 2, "to-offline-companion"));
        state.outbox.push(delivery("15550002222", 0, "to-phone"));

        let to_phones = state.drain_outbox();

        assert!(state.outbox.is_empty());
        assert_eq!(to_phones.len(), 1);
        assert_eq!(to_phones[0].0, "15550002222");
        assert_eq!(to_phones[0].1.attr_str("id").ok(), Some("to-phone"));
        for rx in &mut receivers {
            match rx.try_recv() {
                Ok(Command::Send(node)) => {
                    assert_eq!(node.attr_str("id").ok(), Some("to-companion"));
                }
                other => panic!("expected the companion's stanza, got {other:?}"),
            }
            // The offline companion's stanza reaches no connection (its queue keeps it).
            assert!(rx.try_recv().is_err());
        }
    }
}
