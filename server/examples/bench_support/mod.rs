//! What the server benchmarks share: arguments, percentiles, and pairing every line through the
//! simulated phones.
#![allow(dead_code)] // each benchmark uses its own part

use std::time::{Duration, Instant};

use tenancy::LineId;
use wab24::{
    events::ServerEvent,
    runtime::{LineState, Runtime},
};

/// The `n`th command-line argument, or `default` when absent or unreadable.
pub(crate) fn arg<T: std::str::FromStr>(n: usize, default: T) -> T {
    std::env::args().nth(n).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `p` quantile (0..=1) of sorted, non-empty values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Connects every line and has its business phone (`phone(i)` for the `i`th line) scan its QR
/// code; returns when all are connected and prints how long that took under `label`.
pub(crate) async fn pair_lines(
    runtime: &Runtime,
    wa: &wa_sim::Sim,
    member: &str,
    line_ids: &[LineId],
    phone: impl Fn(usize) -> String,
    label: &str,
) {
    let started = Instant::now();
    let mut events = runtime.subscribe();
    for id in line_ids {
        runtime.connect(member, *id).await.unwrap();
    }
    let mut connected = 0;
    while connected < line_ids.len() {
        let e = tokio::time::timeout(Duration::from_secs(60), events.recv())
            .await
            .expect("pairing stalled")
            .unwrap();
        match &*e {
            ServerEvent::LineStatus { line_id, state: LineState::Qr { code, .. }, .. } => {
                let i = line_ids.iter().position(|l| l == line_id).unwrap();
                wa.scan(code, &phone(i)).await.unwrap();
            }
            ServerEvent::LineStatus { state: LineState::Connected, .. } => connected += 1,
            _ => {}
        }
    }
    eprintln!(
        "{label}: {} lines paired in {:.1} s",
        line_ids.len(),
        started.elapsed().as_secs_f64()
    );
}
