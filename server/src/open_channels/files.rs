//! The links Bitrix24 downloads a customer's files from: signed, expiring URLs served by wab24
//! (`GET /media/signed/{token}`, [`crate::media_link`]), so that the portal fetches them without
//! a session.

use tenancy::MessageId;

use crate::state::AppState;

/// A signed link to `message_id`'s file of tenant `member_id`, valid for the configured time
/// (`media_link_ttl`) from now.
pub fn file_url(state: &AppState, member_id: &str, message_id: MessageId) -> String {
    let settings = state.settings();
    settings.media_links.url(&settings.public_url, member_id, message_id, state.now_unix())
}
