//! Waiting for a condition that another task makes true (a message reaching a simulated
//! phone, a call reaching a simulated portal), with a deadline so that a program run by
//! `scripts/test` fails instead of hanging.

use std::time::Duration;

use anyhow::bail;

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(20);

/// Calls `check` until it returns `Some`, for at most `within`.
///
/// # Errors
///
/// When `within` passes first; the message names `what` was awaited.
pub async fn eventually<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = check() {
            return Ok(found);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{what} did not happen within {within:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}
