//! Our own store failing under the worker: how such an error counts for an outbox item.

use b24_client::Error as B24Error;

/// Reading our own store failed: retried when the store was away; what is gone (a deleted line
/// or message) will not come back, so that item is given up.
pub(crate) fn storage(e: tenancy::Error) -> B24Error {
    match e {
        tenancy::Error::NotFound(what) => {
            B24Error::Decode { what: "outbox item", message: format!("{what} no longer exists") }
        }
        e => B24Error::Transport { method: "tenancy".to_owned(), message: e.to_string() },
    }
}
