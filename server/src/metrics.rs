//! Counters for `/metrics` (Prometheus text format), kept as atomics.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
};

use tenancy::Direction;

/// The server's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    sse_clients: AtomicI64,
    b24_errors: AtomicU64,
    http_requests: AtomicU64,
    /// Calls towards Bitrix24 taken from the outbox, by outcome.
    connector_done: AtomicU64,
    connector_retried: AtomicU64,
    connector_failed: AtomicU64,
    /// Tenants whose audit chain did not verify at its last check.
    audit_broken_tenants: Mutex<BTreeSet<String>>,
    audit_control_broken: AtomicBool,
}

impl Metrics {
    /// Counts a stored message.
    pub fn message(&self, direction: Direction) {
        match direction {
            Direction::Inbound => self.messages_in.fetch_add(1, Ordering::Relaxed),
            _ => self.messages_out.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Counts a failed Bitrix24 call.
    pub fn b24_error(&self) {
        self.b24_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an outbox call towards Bitrix24 by what came of it.
    pub fn connector_call(&self, outcome: ConnectorOutcome) {
        let counter = match outcome {
            ConnectorOutcome::Done => &self.connector_done,
            ConnectorOutcome::Retried => &self.connector_retried,
            ConnectorOutcome::Failed => &self.connector_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Outbox calls towards Bitrix24 so far with this outcome.
    pub fn connector_calls(&self, outcome: ConnectorOutcome) -> u64 {
        match outcome {
            ConnectorOutcome::Done => &self.connector_done,
            ConnectorOutcome::Retried => &self.connector_retried,
            ConnectorOutcome::Failed => &self.connector_failed,
        }
        .load(Ordering::Relaxed)
    }

    /// Counts an HTTP request.
    pub fn request(&self) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an SSE client in; the guard counts it out when dropped.
    pub fn sse_client(self: &std::sync::Arc<Self>) -> SseGuard {
        self.sse_clients.fetch_add(1, Ordering::Relaxed);
        SseGuard(self.clone())
    }

    /// Records the last verification of a tenant's audit chain.
    pub fn tenant_audit_chain(&self, member_id: &str, ok: bool) {
        let mut broken =
            self.audit_broken_tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if ok {
            broken.remove(member_id);
        } else {
            broken.insert(member_id.to_owned());
        }
    }

    /// Records the last verification of the registry's (control) audit chain.
    pub fn control_audit_chain(&self, ok: bool) {
        self.audit_control_broken.store(!ok, Ordering::Relaxed);
    }

    /// Tenants whose audit chain was broken at its last check.
    pub fn audit_broken_tenants(&self) -> usize {
        self.audit_broken_tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// SSE clients connected now.
    pub fn sse_clients(&self) -> i64 {
        self.sse_clients.load(Ordering::Relaxed)
    }

    /// Failed Bitrix24 calls so far.
    pub fn b24_errors(&self) -> u64 {
        self.b24_errors.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition, with `lines` (status name -> count) taken at scrape time.
    pub fn render(&self, lines: &BTreeMap<String, u64>) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, rows: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let line_rows: Vec<(String, String)> =
            ["new", "pairing", "connected", "disconnected", "logged_out"]
                .iter()
                .map(|s| (*s).to_owned())
                .chain(lines.keys().cloned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|s| {
                    let n = lines.get(&s).copied().unwrap_or(0);
                    (format!("{{status=\"{s}\"}}"), n.to_string())
                })
                .collect();
        metric("wab24_lines", "gauge", "WhatsApp lines by status, all tenants.", &line_rows);
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        metric(
            "wab24_messages_total",
            "counter",
            "Messages stored since start, by direction.",
            &[
                ("{direction=\"in\"}".to_owned(), c(&self.messages_in)),
                ("{direction=\"out\"}".to_owned(), c(&self.messages_out)),
            ],
        );
        metric(
            "wab24_sse_clients",
            "gauge",
            "Connected event-stream clients.",
            &[(String::new(), self.sse_clients().to_string())],
        );
        metric(
            "wab24_b24_call_errors_total",
            "counter",
            "Bitrix24 calls that failed.",
            &[(String::new(), c(&self.b24_errors))],
        );
        metric(
            "wab24_connector_calls_total",
            "counter",
            "Open Channels calls taken from the outbox towards Bitrix24, by outcome (done, retried later, failed for good).",
            &[
                ("{outcome=\"done\"}".to_owned(), c(&self.connector_done)),
                ("{outcome=\"retried\"}".to_owned(), c(&self.connector_retried)),
                ("{outcome=\"failed\"}".to_owned(), c(&self.connector_failed)),
            ],
        );
        metric(
            "wab24_http_requests_total",
            "counter",
            "HTTP requests served.",
            &[(String::new(), c(&self.http_requests))],
        );
        metric(
            "wab24_audit_broken_tenants",
            "gauge",
            "Tenants whose audit chain did not verify at its last check (start or on demand).",
            &[(String::new(), self.audit_broken_tenants().to_string())],
        );
        metric(
            "wab24_audit_control_broken",
            "gauge",
            "1 when the registry's audit chain did not verify at its last check.",
            &[(
                String::new(),
                u8::from(self.audit_control_broken.load(Ordering::Relaxed)).to_string(),
            )],
        );
        out
    }
}

/// What came of an outbox call towards Bitrix24.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorOutcome {
    /// Bitrix24 accepted it.
    Done,
    /// It will be tried again (Bitrix24 down, rate limited, tokens being renewed).
    Retried,
    /// Bitrix24 refused it for good.
    Failed,
}

/// Holds one SSE client in the gauge.
#[derive(Debug)]
pub struct SseGuard(std::sync::Arc<Metrics>);

impl Drop for SseGuard {
    fn drop(&mut self) {
        self.0.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn renders_every_series() {
        let m = Arc::new(Metrics::default());
        m.message(Direction::Inbound);
        m.message(Direction::Inbound);
        m.message(Direction::Outbound);
        m.b24_error();
        m.connector_call(ConnectorOutcome::Retried);
        m.connector_call(ConnectorOutcome::Done);
        m.connector_call(ConnectorOutcome::Done);
        let g = m.sse_client();
        m.tenant_audit_chain("a", false);
        m.tenant_audit_chain("b", false);
        m.tenant_audit_chain("a", true);
        m.control_audit_chain(false);
        let lines = BTreeMap::from([("connected".to_owned(), 3), ("new".to_owned(), 1)]);
        let text = m.render(&lines);
        for want in [
            "wab24_lines{status=\"connected\"} 3",
            "wab24_lines{status=\"new\"} 1",
            "wab24_lines{status=\"logged_out\"} 0",
            "wab24_messages_total{direction=\"in\"} 2",
            "wab24_messages_total{direction=\"out\"} 1",
            "wab24_sse_clients 1",
            "wab24_b24_call_errors_total 1",
            "# TYPE wab24_messages_total counter",
            "wab24_audit_broken_tenants 1",
            "wab24_audit_control_broken 1",
            "wab24_connector_calls_total{outcome=\"done\"} 2",
            "wab24_connector_calls_total{outcome=\"retried\"} 1",
            "wab24_connector_calls_total{outcome=\"failed\"} 0",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
        drop(g);
        assert_eq!(m.sse_clients(), 0);
    }
}
