//! Matching iq answers to requests: every request gets an id, the answer with that id (type
//! `result` or `error`) completes the request's waiter. Any feature of the client uses it through
//! [`Client::iq`](super::Client::iq).

use std::collections::HashMap;

use tokio::sync::oneshot;
use wa_proto::Node;

use crate::{ConnectionError, Error, Result};

/// Where an iq answer goes.
pub(crate) type IqReply = oneshot::Sender<Result<Node>>;

/// The iq requests of one connection that wait for their answer.
#[derive(Debug)]
pub(crate) struct IqMatcher {
    prefix: String,
    counter: u64,
    pending: HashMap<String, IqReply>,
}

impl IqMatcher {
    /// A matcher whose ids are `<prefix>-<counter>`; the prefix is random per connection (as
    /// whatsmeow's), so that answers meant for an earlier connection never match.
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix, counter: 0, pending: HashMap::new() }
    }

    /// A fresh request id.
    pub(crate) fn next_id(&mut self) -> String {
        self.counter += 1;
        format!("{}-{}", self.prefix, self.counter)
    }

    /// Gives `node` an id if it has none, and remembers `reply` for the answer. Returns the node
    /// to send.
    pub(crate) fn register(&mut self, mut node: Node, reply: IqReply) -> Node {
        let id = match node.attr_opt_str("id").ok().flatten() {
            Some(id) => id.to_owned(),
            None => {
                let id = self.next_id();
                node.attrs.push(("id".into(), id.clone().into()));
                id
            }
        };
        self.pending.insert(id, reply);
        node
    }

    /// If `node` answers a pending request, completes it (an `error` answer as
    /// [`ConnectionError::Iq`]) and returns `true`.
    pub(crate) fn resolve(&mut self, node: &Node) -> bool {
        let kind = node.attr_opt_str("type").ok().flatten();
        if node.tag != "iq" || !matches!(kind, Some("result" | "error")) {
            return false;
        }
        let Some(id) = node.attr_opt_str("id").ok().flatten() else { return false };
        let Some(reply) = self.pending.remove(id) else { return false };
        let answer = if kind == Some("error") {
            let error = node.child("error");
            let attr = |key| {
                error
                    .and_then(|e| e.attr_opt_str(key).ok().flatten())
                    .unwrap_or_default()
                    .to_owned()
            };
            Err(Error::Connection(ConnectionError::Iq { code: attr("code"), text: attr("text") }))
        } else {
            Ok(node.clone())
        };
        // The waiter may have given up (timeout); nothing to do then.
        let _ = reply.send(answer);
        true
    }

    /// Fails every pending request with [`ConnectionError::NotConnected`] (the connection ended).
    pub(crate) fn fail_all(&mut self) {
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(Error::Connection(ConnectionError::NotConnected)));
        }
    }

    /// How many requests wait.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str, kind: &'static str) -> Node {
        let mut b = Node::builder("iq").attr("id", id.to_owned()).attr("type", kind);
        if kind == "error" {
            b = b.children([Node::builder("error")
                .attr("code", "404")
                .attr("text", "item-not-found")
                .build()]);
        }
        b.build()
    }

    #[test]
    fn answers_reach_their_request_only() {
        let mut matcher = IqMatcher::new("ab".to_owned());
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        let (tx3, mut rx3) = oneshot::channel();
        let sent1 = matcher.register(Node::builder("iq").attr("type", "get").build(), tx1);
        let sent2 = matcher.register(Node::builder("iq").attr("id", "mine").build(), tx2);
        let _ = matcher.register(Node::builder("iq").build(), tx3);
        assert_eq!(sent1.attr_str("id").unwrap(), "ab-1");
        assert_eq!(sent2.attr_str("id").unwrap(), "mine");
        assert_eq!(matcher.pending(), 3);

        // Unknown ids, requests and other tags are not answers.
        assert!(!matcher.resolve(&answer("ab-9", "result")));
        assert!(
            !matcher.resolve(&Node::builder("iq").attr("id", "ab-1").attr("type", "get").build())
        );
        assert!(!matcher.resolve(&Node::builder("ack").attr("id", "ab-1").build()));

        assert!(matcher.resolve(&answer("mine", "error")));
        assert_eq!(
            rx2.try_recv().unwrap(),
            Err(Error::Connection(ConnectionError::Iq {
                code: "404".into(),
                text: "item-not-found".into()
            }))
        );
        assert!(matcher.resolve(&answer("ab-1", "result")));
        assert_eq!(rx1.try_recv().unwrap().unwrap().attr_str("id").unwrap(), "ab-1");
        // Answered once only.
        assert!(!matcher.resolve(&answer("ab-1", "result")));
        matcher.fail_all();
        assert_eq!(rx3.try_recv().unwrap(), Err(Error::Connection(ConnectionError::NotConnected)));
        assert_eq!(matcher.pending(), 0);
    }
}
