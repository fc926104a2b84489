//! The links Bitrix24 downloads a customer's files from: signed, expiring URLs served by wab24
//! (`http::media_links`), so that the portal fetches them without a session.

use tenancy::MessageId;

use crate::state::AppState;

/// A signed link to `message_id`'s file of tenant `member_id`, valid for the configured time.
pub fn file_url(state: &AppState, member_id: &str, message_id: MessageId) -> Option<String> {
    let _ = (state, member_id, message_id);
    None
}
