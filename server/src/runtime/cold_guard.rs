//! The anti-ban guard for cold outreach: messages to customers who never wrote to the line.
//!
//! WhatsApp bans numbers that message many strangers in a short time (unofficial clients most
//! of all), so a line may send at most [`OutreachLimits::per_hour`] cold messages in any hour
//! and [`OutreachLimits::per_day`] in any 24 hours, and a first message to another number that
//! never wrote waits [`OutreachLimits::min_gap`] after the previous cold message. Replies to
//! customers who wrote are never limited. Asking WhatsApp whether numbers are registered is
//! limited too ([`OutreachLimits::checks_per_hour`]): checking numbers in bulk is the scraping
//! WhatsApp bans for. The README says why the defaults are what they are.

use std::time::Duration;

use tenancy::{ColdOutreach, ConversationId};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How much cold outreach a line may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutreachLimits {
    /// Cold messages per line in any 60 minutes (default 20).
    pub per_hour: u32,
    /// Cold messages per line in any 24 hours (default 60).
    pub per_day: u32,
    /// The least time between a cold message and a first message to another number that never
    /// wrote (default 60 s).
    pub min_gap: Duration,
    /// Numbers a line may ask WhatsApp about (usync contact queries) in any 60 minutes
    /// (default 60).
    pub checks_per_hour: u32,
}

impl Default for OutreachLimits {
    fn default() -> Self {
        OutreachLimits {
            per_hour: 20,
            per_day: 60,
            min_gap: Duration::from_secs(60),
            checks_per_hour: 60,
        }
    }
}

impl OutreachLimits {
    /// How far back the guard must look (the longest window).
    #[must_use]
    pub fn window(&self) -> time::Duration {
        time::Duration::milliseconds(DAY_MS)
    }

    fn gap_ms(&self) -> i64 {
        i64::try_from(self.min_gap.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Which limit a refused send ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColdLimit {
    /// [`OutreachLimits::per_hour`].
    Hour,
    /// [`OutreachLimits::per_day`].
    Day,
    /// [`OutreachLimits::min_gap`].
    Gap,
    /// [`OutreachLimits::checks_per_hour`].
    Checks,
}

/// A cold message the guard refused, and when one may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdRefusal {
    /// The limit reached.
    pub limit: ColdLimit,
    /// The limit's value (messages, or seconds for the gap).
    pub value: u64,
    /// When the next cold message may go (Unix ms).
    pub retry_at: i64,
    /// Seconds from now until then (at least 1).
    pub retry_after_secs: u64,
}

impl std::fmt::Display for ColdRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = time::OffsetDateTime::from_unix_timestamp(self.retry_at.div_euclid(1000))
            .map(|t| {
                format!(
                    "at {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                )
            })
            .unwrap_or_default();
        let wait = match self.retry_after_secs {
            s if s < 120 => format!("{s} seconds"),
            s => format!("{} minutes", s.div_ceil(60)),
        };
        match self.limit {
            ColdLimit::Hour => write!(
                f,
                "this line already sent {} messages to numbers that never wrote to it in the last hour; \
                 to protect the number from a WhatsApp ban the next one can go in {wait} ({when})",
                self.value
            ),
            ColdLimit::Day => write!(
                f,
                "this line already sent {} messages to numbers that never wrote to it in the last 24 hours; \
                 to protect the number from a WhatsApp ban the next one can go in {wait} ({when})",
                self.value
            ),
            ColdLimit::Checks => write!(
                f,
                "this line already asked WhatsApp about {} numbers in the last hour; checking \
                 numbers in bulk gets a number banned, so the next check can go in {wait} ({when})",
                self.value
            ),
            ColdLimit::Gap => write!(
                f,
                "first messages to new numbers are spaced at least {} seconds apart to protect the \
                 number from a WhatsApp ban; this one can go in {wait} ({when})",
                self.value
            ),
        }
    }
}

/// Where a line stands with cold outreach, for the sender to see before a first message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutreachStatus {
    /// The customer never wrote to the line: messages count against the limits.
    pub cold: bool,
    /// Cold messages of the line in the last hour.
    pub sent_last_hour: usize,
    /// Cold messages of the line in the last 24 hours.
    pub sent_last_day: usize,
    /// [`OutreachLimits::per_hour`].
    pub per_hour: u32,
    /// [`OutreachLimits::per_day`].
    pub per_day: u32,
    /// [`OutreachLimits::min_gap`] in seconds.
    pub min_gap_secs: u64,
    /// When a message to this conversation may go, if not now (Unix ms); `None` for now.
    pub next_at: Option<i64>,
}

/// Whether a message to `conversation` may be sent now (`now` in Unix ms), given what the
/// database says about the line's cold outreach.
///
/// # Errors
///
/// [`ColdRefusal`] when the message is cold and over a limit.
pub fn check(
    limits: &OutreachLimits,
    now: i64,
    conversation: ConversationId,
    outreach: &ColdOutreach,
) -> Result<(), ColdRefusal> {
    if !outreach.cold || outreach.already_queued {
        return Ok(());
    }
    let refuse = |limit: ColdLimit, value: u64, retry_at: i64| {
        let retry_at = retry_at.max(now + 1);
        let secs = u64::try_from((retry_at - now + 999) / 1000).unwrap_or(1).max(1);
        Err(ColdRefusal { limit, value, retry_at, retry_after_secs: secs })
    };
    let day: Vec<_> = outreach.sent.iter().filter(|s| s.at > now - DAY_MS).collect();
    let hour: Vec<_> = day.iter().filter(|s| s.at > now - HOUR_MS).collect();
    for (sent, limit, kind, span) in [
        (hour.iter().map(|s| s.at).collect::<Vec<_>>(), limits.per_hour, ColdLimit::Hour, HOUR_MS),
        (day.iter().map(|s| s.at).collect(), limits.per_day, ColdLimit::Day, DAY_MS),
    ] {
        let limit_n = usize::try_from(limit).unwrap_or(usize::MAX);
        if sent.len() >= limit_n {
            // Frees up when enough of the oldest leave the window.
            let freeing = sent.get(sent.len() - limit_n).copied().unwrap_or(now);
            return refuse(kind, u64::from(limit), freeing + span);
        }
    }
    let first = !day.iter().any(|s| s.conversation_id == conversation);
    if first
        && let Some(last) = day.iter().map(|s| s.at).max()
        && now - last < limits.gap_ms()
    {
        return refuse(ColdLimit::Gap, limits.min_gap.as_secs(), last + limits.gap_ms());
    }
    Ok(())
}

/// Whether a line that asked WhatsApp about numbers at `recent` (Unix ms, any order) may ask
/// about one more now.
///
/// # Errors
///
/// [`ColdRefusal`] with [`ColdLimit::Checks`] when [`OutreachLimits::checks_per_hour`] are used.
pub fn check_lookup(limits: &OutreachLimits, now: i64, recent: &[i64]) -> Result<(), ColdRefusal> {
    let mut hour: Vec<i64> = recent.iter().copied().filter(|&at| at > now - HOUR_MS).collect();
    hour.sort_unstable();
    let limit = usize::try_from(limits.checks_per_hour).unwrap_or(usize::MAX);
    if hour.len() < limit {
        return Ok(());
    }
    let freeing = hour.get(hour.len() - limit).copied().unwrap_or(now);
    let retry_at = (freeing + HOUR_MS).max(now + 1);
    let secs = u64::try_from((retry_at - now + 999) / 1000).unwrap_or(1).max(1);
    Err(ColdRefusal {
        limit: ColdLimit::Checks,
        value: u64::from(limits.checks_per_hour),
        retry_at,
        retry_after_secs: secs,
    })
}

/// Where the line stands for a message to `conversation` now.
#[must_use]
pub fn status(
    limits: &OutreachLimits,
    now: i64,
    conversation: ConversationId,
    outreach: &ColdOutreach,
) -> OutreachStatus {
    let day = outreach.sent.iter().filter(|s| s.at > now - DAY_MS).count();
    let hour = outreach.sent.iter().filter(|s| s.at > now - HOUR_MS).count();
    let fresh = ColdOutreach { already_queued: false, ..outreach.clone() };
    OutreachStatus {
        cold: outreach.cold,
        sent_last_hour: hour,
        sent_last_day: day,
        per_hour: limits.per_hour,
        per_day: limits.per_day,
        min_gap_secs: limits.min_gap.as_secs(),
        next_at: check(limits, now, conversation, &fresh).err().map(|r| r.retry_at),
    }
}

#[cfg(test)]
mod tests {
    use tenancy::ColdSend;

    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn outreach(cold: bool, sent: &[(i64, i64)]) -> ColdOutreach {
        ColdOutreach {
            line_id: 1,
            cold,
            already_queued: false,
            sent: sent.iter().map(|&(at, c)| ColdSend { at, conversation_id: c }).collect(),
        }
    }

    fn limits() -> OutreachLimits {
        OutreachLimits {
            per_hour: 2,
            per_day: 3,
            min_gap: Duration::from_secs(60),
            checks_per_hour: 2,
        }
    }

    #[test]
    fn number_checks_are_limited_per_hour() {
        assert_eq!(check_lookup(&limits(), NOW, &[NOW - 2 * HOUR_MS, NOW - 1000]), Ok(()));
        let refusal = check_lookup(&limits(), NOW, &[NOW - 1000, NOW - 20 * 60_000]).unwrap_err();
        assert_eq!((refusal.limit, refusal.retry_at), (ColdLimit::Checks, NOW + 40 * 60_000));
        assert!(refusal.to_string().contains("2 numbers"), "{refusal}");
    }

    #[test]
    fn replies_to_customers_who_wrote_are_never_limited() {
        let full = [(NOW - 1000, 1), (NOW - 900, 2), (NOW - 800, 3)];
        assert_eq!(check(&limits(), NOW, 9, &outreach(false, &full)), Ok(()));
    }

    #[test]
    fn the_hourly_limit_frees_up_when_the_oldest_leaves_the_hour() {
        let sent = [(NOW - 30 * 60_000, 1), (NOW - 10 * 60_000, 1)];
        let refusal = check(&limits(), NOW, 1, &outreach(true, &sent)).unwrap_err();
        assert_eq!(refusal.limit, ColdLimit::Hour);
        assert_eq!(refusal.retry_at, NOW + 30 * 60_000);
        assert_eq!(refusal.retry_after_secs, 30 * 60);
        assert!(refusal.to_string().contains("in 30 minutes"), "{refusal}");
        // An hour and a bit later the first no longer counts.
        assert_eq!(check(&limits(), NOW + 31 * 60_000, 1, &outreach(true, &sent)), Ok(()));
    }

    #[test]
    fn the_daily_limit_counts_24_hours() {
        let sent = [(NOW - 20 * HOUR_MS, 1), (NOW - 5 * HOUR_MS, 1), (NOW - 2 * HOUR_MS, 1)];
        let refusal = check(&limits(), NOW, 1, &outreach(true, &sent)).unwrap_err();
        assert_eq!(refusal.limit, ColdLimit::Day);
        assert_eq!(refusal.retry_at, NOW + 4 * HOUR_MS);
    }

    #[test]
    fn first_messages_to_new_numbers_are_spaced() {
        let sent = [(NOW - 20_000, 1)];
        // Another message to the same number: not a first message.
        assert_eq!(check(&limits(), NOW, 1, &outreach(true, &sent)), Ok(()));
        let refusal = check(&limits(), NOW, 2, &outreach(true, &sent)).unwrap_err();
        assert_eq!((refusal.limit, refusal.retry_at), (ColdLimit::Gap, NOW + 40_000));
        assert_eq!(refusal.retry_after_secs, 40);
        assert_eq!(check(&limits(), NOW + 40_000, 2, &outreach(true, &sent)), Ok(()));
    }

    #[test]
    fn a_retried_request_passes_and_status_says_when() {
        let sent = [(NOW - 1000, 1), (NOW - 500, 2)];
        let mut retried = outreach(true, &sent);
        retried.already_queued = true;
        assert_eq!(check(&limits(), NOW, 2, &retried), Ok(()));
        let s = status(&limits(), NOW, 3, &retried);
        assert_eq!((s.sent_last_hour, s.sent_last_day), (2, 2));
        assert_eq!(s.next_at, Some(NOW - 1000 + HOUR_MS));
        assert_eq!(status(&limits(), NOW, 3, &outreach(true, &[])).next_at, None);
    }
}
