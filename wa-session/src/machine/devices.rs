//! The device-list cache and the LID <-> phone-number map, sans-IO (time is a parameter).
//!
//! usync answers fill both; a `devices` notification or a participant-hash mismatch in a server
//! ack drops a user's entry; entries expire after the configured time to live.

use std::collections::HashMap;

use wa_proto::{Jid, Server};

use crate::message::UserDevices;

/// Device lists by user (no device part), with when they were fetched (unix seconds).
#[derive(Debug, Default)]
pub(crate) struct DeviceCache {
    entries: HashMap<Jid, (Vec<Jid>, u64)>,
    lids: LidMap,
}

impl DeviceCache {
    /// The cached devices of `user`, unless older than `ttl` seconds at `now`.
    pub(crate) fn get(&self, user: &Jid, now: u64, ttl: u64) -> Option<Vec<Jid>> {
        let (devices, fetched) = self.entries.get(&user.to_non_device())?;
        (now.saturating_sub(*fetched) < ttl).then(|| devices.clone())
    }

    /// Stores what usync said about each user (in the addressing the user was asked in), and
    /// learns their LIDs.
    pub(crate) fn insert(&mut self, answer: &[UserDevices], now: u64) {
        for user in answer {
            self.entries.insert(user.user.to_non_device(), (user.device_jids(), now));
            if let Some(lid) = &user.lid {
                self.lids.learn(&user.user, lid);
                self.entries.insert(lid.to_non_device(), (user.device_jids_in(lid), now));
            }
        }
    }

    /// Forgets the devices of `user` (in both addressings).
    pub(crate) fn invalidate(&mut self, user: &Jid) {
        let user = user.to_non_device();
        if let Some(other) = self.lids.other(&user) {
            self.entries.remove(&other);
        }
        self.entries.remove(&user);
    }

    /// The LID map.
    pub(crate) fn lids(&mut self) -> &mut LidMap {
        &mut self.lids
    }
}

/// Which LID belongs to which phone number, as usync answers and message attributes told us.
#[derive(Debug, Default)]
pub(crate) struct LidMap {
    pn_to_lid: HashMap<String, String>,
    lid_to_pn: HashMap<String, String>,
}

impl LidMap {
    /// Learns that `a` and `b` (one a phone-number JID, the other a LID) are the same user.
    pub(crate) fn learn(&mut self, a: &Jid, b: &Jid) {
        let (pn, lid) = match (&a.server, &b.server) {
            (Server::User, Server::Lid) => (a, b),
            (Server::Lid, Server::User) => (b, a),
            _ => return,
        };
        self.pn_to_lid.insert(pn.user.clone(), lid.user.clone());
        self.lid_to_pn.insert(lid.user.clone(), pn.user.clone());
    }

    /// The same user (and device) in the other addressing, if known.
    pub(crate) fn other(&self, jid: &Jid) -> Option<Jid> {
        let (user, server) = match jid.server {
            Server::User => (self.pn_to_lid.get(&jid.user)?, Server::Lid),
            Server::Lid => (self.lid_to_pn.get(&jid.user)?, Server::User),
            _ => return None,
        };
        Some(Jid { user: user.clone(), server, ..jid.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::DeviceEntry;

    fn jid(text: &str) -> Jid {
        text.parse().unwrap()
    }

    fn answer() -> Vec<UserDevices> {
        vec![UserDevices {
            user: jid("5511@s.whatsapp.net"),
            devices: vec![
                DeviceEntry { id: 0, key_index: None },
                DeviceEntry { id: 3, key_index: Some(1) },
            ],
            lid: Some(jid("777@lid")),
        }]
    }

    #[test]
    fn entries_expire_and_are_invalidated_in_both_addressings() {
        let mut cache = DeviceCache::default();
        cache.insert(&answer(), 100);
        let devices = cache.get(&jid("5511:9@s.whatsapp.net"), 150, 60).unwrap();
        assert_eq!(devices, vec![jid("5511@s.whatsapp.net"), jid("5511:3@s.whatsapp.net")]);
        assert_eq!(cache.get(&jid("777@lid"), 150, 60).unwrap()[1], jid("777:3@lid"));
        assert!(cache.get(&jid("5511@s.whatsapp.net"), 160, 60).is_none());
        cache.invalidate(&jid("777@lid"));
        assert!(cache.get(&jid("5511@s.whatsapp.net"), 150, 60).is_none());
        assert!(cache.get(&jid("777@lid"), 150, 60).is_none());
    }

    #[test]
    fn lids_map_both_ways_keeping_the_device() {
        let mut cache = DeviceCache::default();
        cache.insert(&answer(), 0);
        let lids = cache.lids();
        assert_eq!(lids.other(&jid("5511:3@s.whatsapp.net")), Some(jid("777:3@lid")));
        assert_eq!(lids.other(&jid("777@lid")), Some(jid("5511@s.whatsapp.net")));
        lids.learn(&jid("5522:1@s.whatsapp.net"), &jid("888:1@lid"));
        assert_eq!(lids.other(&jid("888@lid")), Some(jid("5522@s.whatsapp.net")));
        assert_eq!(lids.other(&jid("5599@s.whatsapp.net")), None);
    }
}
