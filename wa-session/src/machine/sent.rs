//! A bounded store of recently sent messages (what a retry receipt asks us to encrypt again) and
//! the retry counts of messages we could not decrypt.

use std::collections::{HashMap, VecDeque};

use wa_proto::{Jid, proto::e2e};

/// A message we sent, kept for retry receipts.
#[derive(Debug, Clone)]
pub(crate) struct SentEntry {
    /// The chat it went to.
    pub(crate) chat: Jid,
    /// Its content.
    pub(crate) message: e2e::Message,
}

/// The last `capacity` sent messages by id; the oldest is dropped first.
#[derive(Debug)]
pub(crate) struct SentStore {
    capacity: usize,
    order: VecDeque<String>,
    entries: HashMap<String, SentEntry>,
}

impl SentStore {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), order: VecDeque::new(), entries: HashMap::new() }
    }

    pub(crate) fn insert(&mut self, id: String, entry: SentEntry) {
        if self.entries.insert(id.clone(), entry).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&SentEntry> {
        self.entries.get(id)
    }
}

/// How often we asked for each message again; bounded like [`SentStore`].
#[derive(Debug)]
pub(crate) struct RetryCounts {
    capacity: usize,
    order: VecDeque<String>,
    counts: HashMap<String, u32>,
}

impl RetryCounts {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), order: VecDeque::new(), counts: HashMap::new() }
    }

    /// Counts one more retry of `id` and returns the new count (1 for the first).
    pub(crate) fn bump(&mut self, id: &str) -> u32 {
        let count = self.counts.entry(id.to_owned()).or_insert_with(|| {
            self.order.push_back(id.to_owned());
            0
        });
        *count += 1;
        let count = *count;
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.counts.remove(&old);
            }
        }
        count
    }

    /// Forgets `id` (it finally decrypted).
    pub(crate) fn clear(&mut self, id: &str) {
        self.counts.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> SentEntry {
        SentEntry {
            chat: "5511@s.whatsapp.net".parse().unwrap(),
            message: e2e::Message { conversation: Some(text.into()), ..Default::default() },
        }
    }

    #[test]
    fn keeps_only_the_newest() {
        let mut store = SentStore::new(2);
        store.insert("a".into(), entry("1"));
        store.insert("b".into(), entry("2"));
        store.insert("c".into(), entry("3"));
        assert!(store.get("a").is_none());
        assert_eq!(store.get("c").unwrap().message.conversation.as_deref(), Some("3"));
        assert!(store.get("b").is_some());
    }

    #[test]
    fn counts_retries_per_id() {
        let mut counts = RetryCounts::new(2);
        assert_eq!(counts.bump("x"), 1);
        assert_eq!(counts.bump("x"), 2);
        assert_eq!(counts.bump("y"), 1);
        counts.clear("x");
        assert_eq!(counts.bump("x"), 1);
    }
}
