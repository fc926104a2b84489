//! Fault injection: per portal, per method, on the Nth call or every call, a number of times.

use std::time::Duration;

use b24_client::ErrorCode;
use serde::Deserialize;

/// What a fault does to a matching call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultAction {
    /// Answer with this error code (and its documented HTTP status) without running the method.
    Error {
        /// The code, as Bitrix24 spells it.
        code: String,
    },
    /// `OPERATION_TIME_LIMIT` (429) with `operating_reset_at` this many seconds ahead.
    OperationTimeLimit {
        /// Seconds until the budget resets.
        reset_in: i64,
    },
    /// Wait before handling the call.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Run the method (the write commits), then hold the answer this long: a client timeout
    /// after commit.
    TimeoutAfterCommit {
        /// Milliseconds.
        ms: u64,
    },
    /// An HTML page with this status (a proxy's 502/504).
    Html {
        /// HTTP status.
        status: u16,
    },
    /// The real answer cut in half.
    Truncated,
    /// A 200 whose body is not JSON.
    NotJson,
}

impl FaultAction {
    /// An error fault.
    pub fn error(code: ErrorCode) -> Self {
        FaultAction::Error { code: code.as_str().to_owned() }
    }

    pub(crate) fn latency(&self) -> Option<Duration> {
        match self {
            FaultAction::Latency { ms } => Some(Duration::from_millis(*ms)),
            _ => None,
        }
    }
}

/// A fault rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Fault {
    /// Only this portal (any when `None`).
    #[serde(default)]
    pub member_id: Option<String>,
    /// Only this method, case-insensitive (any when `None`).
    #[serde(default)]
    pub method: Option<String>,
    /// Only from the Nth matching call on (1-based; the first when `None`).
    #[serde(default)]
    pub nth: Option<u64>,
    /// Fire this many times, then retire (forever when `None`).
    #[serde(default)]
    pub times: Option<u64>,
    /// What to do.
    pub action: FaultAction,
    #[serde(skip)]
    pub(crate) seen: u64,
    #[serde(skip)]
    pub(crate) fired: u64,
}

impl Fault {
    /// A fault on every call of `method` (any portal).
    pub fn on(method: &str, action: FaultAction) -> Self {
        Fault {
            member_id: None,
            method: Some(method.to_owned()),
            nth: None,
            times: None,
            action,
            seen: 0,
            fired: 0,
        }
    }

    /// A fault on every call.
    pub fn always(action: FaultAction) -> Self {
        Fault { member_id: None, method: None, nth: None, times: None, action, seen: 0, fired: 0 }
    }

    /// Restricts to one portal.
    pub fn portal(mut self, member_id: &str) -> Self {
        self.member_id = Some(member_id.to_owned());
        self
    }

    /// Starts at the Nth matching call.
    pub fn nth(mut self, n: u64) -> Self {
        self.nth = Some(n);
        self
    }

    /// Fires at most `n` times.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Counts a call and says whether the fault fires on it.
    pub(crate) fn check(&mut self, member_id: &str, method: &str) -> bool {
        if self.member_id.as_deref().is_some_and(|m| m != member_id) {
            return false;
        }
        if self.method.as_deref().is_some_and(|m| !m.eq_ignore_ascii_case(method)) {
            return false;
        }
        self.seen += 1;
        if self.seen < self.nth.unwrap_or(1) || self.times.is_some_and(|t| self.fired >= t) {
            return false;
        }
        self.fired += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_and_times() {
        let mut f = Fault::on("crm.item.add", FaultAction::Truncated).nth(2).times(1);
        assert!(!f.check("m", "crm.item.add"));
        assert!(!f.check("m", "user.current"));
        assert!(f.check("m", "CRM.ITEM.ADD"));
        assert!(!f.check("m", "crm.item.add"));
        let f: Fault = serde_json::from_str(
            r#"{"method":"x","action":{"kind":"error","code":"QUERY_LIMIT_EXCEEDED"}}"#,
        )
        .unwrap();
        assert_eq!(f.action, FaultAction::error(ErrorCode::QueryLimitExceeded));
    }
}
