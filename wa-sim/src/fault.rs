//! Faults injected through the control API: added latency, dropped stanzas, black-holed
//! connections. Rules are plain data in the simulator's state; connections consult them for every
//! frame, so a rule also applies to connections that log in after it was set. No randomness is
//! involved: a run with the same seed and the same calls sees the same faults.

use std::time::Duration;

use crate::{
    fault_rule::{FaultKind, FaultRule, Latency},
    sim::Sim,
    state::{Command, State, matches},
    target::Target,
};

/// Whether `rule` covers connection `conn`.
fn covers(rule: &FaultRule, state: &State, conn: u64) -> bool {
    state.conns.get(&conn).is_some_and(|entry| matches(entry, &rule.target()))
}

/// What to do with one stanza the simulator is about to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outbound {
    Send(Duration),
    Drop,
}

/// The latency of the most specific latency rule covering connection `conn`.
pub(crate) fn latency(state: &State, conn: u64) -> Latency {
    state
        .faults
        .iter()
        .filter_map(|rule| match rule.kind {
            FaultKind::Latency(latency) if covers(rule, state, conn) => {
                Some((rule.specificity(), latency))
            }
            _ => None,
        })
        .max_by_key(|(specificity, _)| *specificity)
        .map(|(_, latency)| latency)
        .unwrap_or_default()
}

/// Decides the fate of the next stanza sent on `conn` and counts it: dropped by the first drop
/// rule covering the connection (which then has one fewer to drop), else sent after the latency.
pub(crate) fn outbound(state: &mut State, conn: u64) -> Outbound {
    let dropping = state.faults.iter().position(|rule| {
        matches!(rule.kind, FaultKind::Drop { remaining } if remaining > 0)
            && covers(rule, state, conn)
    });
    if let Some(index) = dropping {
        if let FaultKind::Drop { remaining } = &mut state.faults[index].kind {
            *remaining -= 1;
            if *remaining == 0 {
                state.faults.remove(index);
            }
        }
        state.counters.dropped += 1;
        return Outbound::Drop;
    }
    let delay = latency(state, conn).send_ms;
    if delay > 0 {
        state.counters.delayed_out += 1;
    }
    Outbound::Send(Duration::from_millis(delay))
}

/// The delay before a frame received on `conn` is handled (counted when not zero).
pub(crate) fn inbound(state: &mut State, conn: u64) -> Duration {
    let delay = latency(state, conn).receive_ms;
    if delay > 0 {
        state.counters.delayed_in += 1;
    }
    Duration::from_millis(delay)
}

impl Sim {
    /// Adds `latency` to the connections `target` covers, now and later ones, replacing an
    /// earlier latency rule for the same target; a zero latency removes it. Where several rules
    /// cover a connection, the most specific wins (device, then account, then every connection).
    /// Frames keep their order.
    pub fn set_latency(&self, target: &Target, latency: Latency) {
        let mut state = self.state();
        state.faults.retain(|rule| {
            !(matches!(rule.kind, FaultKind::Latency(_)) && rule.target() == *target)
        });
        if latency != Latency::default() {
            state.faults.push(FaultRule {
                phone: target.phone.clone(),
                device: target.device,
                kind: FaultKind::Latency(latency),
            });
        }
    }

    /// Silently drops the next `count` stanzas the simulator sends to the connections `target`
    /// covers (whichever come first). Drop rules apply in the order they were set.
    pub fn drop_stanzas(&self, target: &Target, count: u32) {
        if count == 0 {
            return;
        }
        self.state().faults.push(FaultRule {
            phone: target.phone.clone(),
            device: target.device,
            kind: FaultKind::Drop { remaining: count },
        });
    }

    /// Turns the connections `target` covers into dead sockets: from now on nothing is sent or
    /// answered on them and no close frame is sent, while TCP stays open (what a client's
    /// keepalive must detect). Bytes the client sends are read and discarded; the socket is
    /// released when the client closes it or on [`Sim::close`]. Routed stanzas stay queued for
    /// the device's next login. Returns how many connections.
    pub fn black_hole(&self, target: &Target) -> usize {
        let mut state = self.state();
        let count = state
            .conns
            .values()
            .filter(|c| matches(c, target))
            .filter(|c| c.tx.send(Command::BlackHole).is_ok())
            .count();
        state.counters.black_holed += count as u64;
        count
    }

    /// Removes every latency and drop rule; returns how many. Black-holed connections stay dead.
    pub fn clear_faults(&self) -> usize {
        let mut state = self.state();
        let count = state.faults.len();
        state.faults.clear();
        count
    }

    /// The fault rules in force, in the order they were set.
    #[must_use]
    pub fn faults(&self) -> Vec<FaultRule> {
        self.state().faults.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::SimConfig,
        state::{ConnEntry, Role},
    };

    fn sim_with_conns() -> (Sim, [tokio::sync::mpsc::UnboundedReceiver<Command>; 3]) {
        let sim = Sim::new(SimConfig { seed: Some(1), ..SimConfig::default() });
        let mut receivers = Vec::new();
        {
            let mut state = sim.state();
            let roles = [
                Role::Handshaking,
                Role::LoggedIn { phone: "15550001111".to_owned(), device: 1 },
                Role::LoggedIn { phone: "15550001111".to_owned(), device: 2 },
            ];
            for (id, role) in (1..).zip(roles) {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                state.conns.insert(id, ConnEntry { tx, role });
                receivers.push(rx);
            }
        }
        let receivers: [_; 3] = receivers.try_into().unwrap();
        (sim, receivers)
    }

    fn account(device: Option<u16>) -> Target {
        Target { phone: Some("15550001111".to_owned()), device }
    }

    #[test]
    fn the_most_specific_latency_wins_and_zero_removes() {
        let (sim, _rx) = sim_with_conns();
        sim.set_latency(&Target::default(), Latency { send_ms: 5, receive_ms: 0 });
        sim.set_latency(&account(None), Latency { send_ms: 50, receive_ms: 7 });
        sim.set_latency(&account(Some(2)), Latency { send_ms: 500, receive_ms: 0 });
        let mut state = sim.state();
        assert_eq!(outbound(&mut state, 1), Outbound::Send(Duration::from_millis(5)));
        assert_eq!(outbound(&mut state, 2), Outbound::Send(Duration::from_millis(50)));
        assert_eq!(outbound(&mut state, 3), Outbound::Send(Duration::from_millis(500)));
        assert_eq!(inbound(&mut state, 2), Duration::from_millis(7));
        assert_eq!(inbound(&mut state, 3), Duration::ZERO);
        assert_eq!((state.counters.delayed_out, state.counters.delayed_in), (3, 1));
        drop(state);
        sim.set_latency(&account(Some(2)), Latency::default());
        assert_eq!(sim.faults().len(), 2);
        assert_eq!(outbound(&mut sim.state(), 3), Outbound::Send(Duration::from_millis(50)));
        assert_eq!(sim.clear_faults(), 2);
        assert_eq!(outbound(&mut sim.state(), 3), Outbound::Send(Duration::ZERO));
    }

    #[test]
    fn drops_count_down_per_scope_then_end() {
        let (sim, _rx) = sim_with_conns();
        sim.drop_stanzas(&account(Some(1)), 2);
        let mut state = sim.state();
        // Connection 3 (device 2) and 1 (unpaired) are not covered; 2 (device 1) is.
        assert_eq!(outbound(&mut state, 3), Outbound::Send(Duration::ZERO));
        assert_eq!(outbound(&mut state, 1), Outbound::Send(Duration::ZERO));
        assert_eq!(outbound(&mut state, 2), Outbound::Drop);
        assert_eq!(state.faults.len(), 1);
        assert_eq!(outbound(&mut state, 2), Outbound::Drop);
        assert!(state.faults.is_empty());
        assert_eq!(outbound(&mut state, 2), Outbound::Send(Duration::ZERO));
        assert_eq!(state.counters.dropped, 2);
    }

    #[test]
    fn black_hole_reaches_only_the_target() {
        let (sim, mut rx) = sim_with_conns();
        assert_eq!(sim.black_hole(&account(Some(2))), 1);
        assert!(matches!(rx[2].try_recv(), Ok(Command::BlackHole)));
        assert!(rx[0].try_recv().is_err() && rx[1].try_recv().is_err());
        assert_eq!(sim.black_hole(&Target::default()), 3);
        assert_eq!(sim.counters().black_holed, 4);
    }
}
