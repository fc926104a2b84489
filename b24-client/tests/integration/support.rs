use std::{net::SocketAddr, sync::Arc, time::Duration};

use b24_client::{Client, Jitter, MemoryTokenStore, Portal, RateLimit, RetryPolicy};
use b24_sim::{PortalSpec, Sim, SimConfig};

pub(crate) const MEMBER: &str = "member-alpha";
pub(crate) const DOMAIN: &str = "alpha.test";

pub(crate) struct Env {
    pub(crate) sim: Sim,
    pub(crate) client: Client,
    pub(crate) store: Arc<MemoryTokenStore>,
}

pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(20),
        factor: 1.5,
        max_delay: Duration::from_millis(500),
        jitter: Jitter::none(),
    }
}

pub(crate) async fn env_with(spec: impl FnOnce(&mut PortalSpec), rate: RateLimit) -> Env {
    let sim = Sim::new(SimConfig::default());
    let mut s = PortalSpec::new(MEMBER, DOMAIN);
    spec(&mut s);
    sim.add_portal(s);
    sim.start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let store = Arc::new(MemoryTokenStore::new());
    let client = Client::builder(sim.app())
        .rate_limit(rate)
        .retry(fast_retry())
        .request_timeout(Duration::from_secs(5))
        .token_store(store.clone())
        .build()
        .unwrap();
    Env { sim, client, store }
}

pub(crate) async fn env() -> Env {
    let fast = RateLimit { burst: 1000, per_second: 1000.0 };
    env_with(|s| s.rate_limit = fast, fast).await
}

impl Env {
    pub(crate) fn portal(&self) -> Portal {
        self.client.portal(self.sim.issue_tokens(MEMBER, 1).unwrap())
    }
}
