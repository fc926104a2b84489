//! What the media host holds: the auth tokens it issued and the blobs uploaded, in memory.

use std::collections::HashMap;

use hyper::body::Bytes;

/// The most `media_conn` auth tokens remembered; the oldest is forgotten first.
const MAX_AUTHS: usize = 256;

/// The media host's state: issued auth tokens and stored blobs.
#[derive(Default)]
pub(crate) struct MediaState {
    /// `host:port` once the host listens; `media_conn` advertises it.
    pub(crate) host: Option<String>,
    /// Auth tokens issued in `media_conn` answers, oldest first.
    pub(crate) auths: Vec<String>,
    /// Stored blobs by direct path (without the query).
    pub(crate) blobs: HashMap<String, Bytes>,
    /// Bytes stored.
    pub(crate) total: usize,
    /// The most bytes stored at once.
    pub(crate) limit: usize,
    /// Blobs accepted and served, for the counters.
    pub(crate) uploads: u64,
    /// Blobs served.
    pub(crate) downloads: u64,
}

impl MediaState {
    /// Remembers an auth token issued in a `media_conn` answer.
    pub(crate) fn issue(&mut self, auth: String) {
        if self.auths.len() >= MAX_AUTHS {
            self.auths.remove(0);
        }
        self.auths.push(auth);
    }
}
