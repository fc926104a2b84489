//! Forwarding the line runtime's events to the event bus, started by the composer.

use super::AppState;

/// Starts forwarding the line runtime's events to the state's bus (inside a tokio runtime);
/// `None` when the state has no runtime. Called once by whoever composes the server.
pub fn forward_runtime_events(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let rt = state.runtime()?;
    Some(tokio::spawn(crate::events::forward_line_events(
        rt.subscribe(),
        state.bus().clone(),
        state.metrics().clone(),
    )))
}
