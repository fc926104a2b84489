//! The clock the server and its Bitrix24 client share.

use std::sync::Arc;

use b24_client::Clock;

/// A clock shared between the server and its Bitrix24 client.
#[derive(Clone)]
pub struct SharedClock(pub Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now_unix(&self) -> i64 {
        self.0.now_unix()
    }
}
