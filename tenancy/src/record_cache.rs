//! A write-through cache of one line's opened device-store entries, so that the Signal records a
//! message needs (its session, the contact's identity) are read from the database once, not on
//! every decryption.
//!
//! It is correct only while its [`LineSignalStore`](crate::LineSignalStore) (and the clones of
//! it) is the one writer of the line's Signal records, which the server's line runtime ensures:
//! one running client per line. Values are recorded after their transaction commits; a failed
//! commit forgets the keys it touched. A read that raced a write does not store what it read
//! (a generation counter tells), so the cache never holds a value older than the database's.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use zeroize::Zeroizing;

/// Entries kept before the cache starts again from empty (a line talks to a bounded number of
/// contacts at a time; this bounds memory for one that does not).
const MAX_ENTRIES: usize = 2048;

type Key = (&'static str, String);
/// `None` records that the database has no such entry.
type Value = Option<Zeroizing<Vec<u8>>>;

#[derive(Default)]
struct Entries {
    map: HashMap<Key, Value>,
    /// Bumped by every write, so a read that started before it does not store a stale value.
    generation: u64,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct RecordCache {
    entries: Mutex<Entries>,
}

impl RecordCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        // The map holds no invariant a panic could break half-way: keep using it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached value (`Some(None)`: known to be absent), or `None` if not cached.
    pub(crate) fn get(&self, namespace: &'static str, key: &str) -> Option<Value> {
        self.lock().map.get(&(namespace, key.to_owned())).cloned()
    }

    /// The generation to hand to [`RecordCache::fill`] after reading the database.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Stores what a read found, unless a write happened since `generation`.
    pub(crate) fn fill(&self, generation: u64, namespace: &'static str, key: &str, value: Value) {
        let mut entries = self.lock();
        if entries.generation == generation {
            insert(&mut entries, namespace, key, value);
        }
    }

    /// Records committed writes (`None`: deleted).
    pub(crate) fn written(&self, writes: &[(&'static str, &str, Option<&[u8]>)]) {
        let mut entries = self.lock();
        entries.generation += 1;
        for (namespace, key, value) in writes {
            insert(&mut entries, namespace, key, value.map(|v| Zeroizing::new(v.to_vec())));
        }
    }

    /// Forgets keys whose write failed (the database may or may not have them).
    pub(crate) fn forget(&self, keys: &[(&'static str, &str)]) {
        let mut entries = self.lock();
        entries.generation += 1;
        for (namespace, key) in keys {
            entries.map.remove(&(*namespace, (*key).to_owned()));
        }
    }
}

fn insert(entries: &mut Entries, namespace: &'static str, key: &str, value: Value) {
    if entries.map.len() >= MAX_ENTRIES && !entries.map.contains_key(&(namespace, key.to_owned())) {
        entries.map.clear();
    }
    entries.map.insert((namespace, key.to_owned()), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_write_is_not_stored() {
        let cache = RecordCache::default();
        let before = cache.generation();
        cache.written(&[("ns", "k", Some(b"new"))]);
        cache.fill(before, "ns", "k", Some(Zeroizing::new(b"old".to_vec())));
        assert_eq!(cache.get("ns", "k").flatten().as_deref().map(Vec::as_slice), Some(&b"new"[..]));
    }

    #[test]
    fn absence_is_remembered_and_forgetting_drops_it() {
        let cache = RecordCache::default();
        assert!(cache.get("ns", "k").is_none());
        cache.fill(cache.generation(), "ns", "k", None);
        assert_eq!(cache.get("ns", "k"), Some(None));
        cache.forget(&[("ns", "k")]);
        assert!(cache.get("ns", "k").is_none());
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = RecordCache::default();
        for i in 0..MAX_ENTRIES {
            cache.written(&[("ns", &i.to_string(), Some(b"v"))]);
        }
        assert!(cache.get("ns", "0").is_some());
        cache.written(&[("ns", "one more", Some(b"v"))]);
        assert!(cache.get("ns", "0").is_none());
        assert!(cache.get("ns", "one more").is_some());
    }
}
