//! QR ref rotation: the server sends a handful of refs in `pair-device`; the companion shows the
//! first for 60 s and each following one for 20 s (whatsmeow's `qrchan.go`, Baileys' `genPairQR`).
//! When they run out, nobody scanned: the registration is given up.

use std::{collections::VecDeque, time::Duration};

/// How long the first ref is shown.
pub const FIRST_QR_TIMEOUT: Duration = Duration::from_secs(60);
/// How long each following ref is shown.
pub const NEXT_QR_TIMEOUT: Duration = Duration::from_secs(20);

/// The refs of one `pair-device`, handed out in order with how long each is valid.
#[derive(Debug, Clone)]
pub struct QrRotation {
    refs: VecDeque<String>,
    first: Duration,
    next: Duration,
    shown: usize,
}

impl QrRotation {
    /// A rotation over `refs` with the given display times.
    #[must_use]
    pub fn new(refs: Vec<String>, first: Duration, next: Duration) -> Self {
        Self { refs: refs.into(), first, next, shown: 0 }
    }

    /// The next ref to show and for how long, or `None` when all were shown.
    pub fn next_ref(&mut self) -> Option<(String, Duration)> {
        let reference = self.refs.pop_front()?;
        let ttl = if self.shown == 0 { self.first } else { self.next };
        self.shown += 1;
        Some((reference, ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sixty_seconds_then_twenty_each_then_done() {
        let refs: Vec<String> = (1..=6).map(|i| format!("2@ref{i}")).collect();
        let mut rotation = QrRotation::new(refs, FIRST_QR_TIMEOUT, NEXT_QR_TIMEOUT);
        let mut shown = Vec::new();
        while let Some((reference, ttl)) = rotation.next_ref() {
            shown.push((reference, ttl.as_secs()));
        }
        assert_eq!(shown.len(), 6);
        assert_eq!(shown[0], ("2@ref1".to_owned(), 60));
        assert!(shown[1..].iter().all(|(_, s)| *s == 20));
        assert_eq!(shown[5].0, "2@ref6");
        assert_eq!(rotation.next_ref(), None);
        assert_eq!(QrRotation::new(vec![], FIRST_QR_TIMEOUT, NEXT_QR_TIMEOUT).next_ref(), None);
    }
}
