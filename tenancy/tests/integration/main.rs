//! tenancy's integration tests, one binary. The conformance suite runs on SQLite, and with the
//! `pg-tests` feature on PostgreSQL too (each test in fresh, uuid-named schemas).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may fail loudly

mod conformance;
mod crash;
mod isolation;
mod open_channels;
mod operator;
mod outreach;
mod product;
mod signal;
mod support;

/// Expands each named test (an `async fn(Env)`) once per backend.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Env::sqlite().await).await
                }
            )*
        }
        #[cfg(feature = "pg-tests")]
        mod pg {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Env::postgres().await).await
                }
            )*
        }
    };
}
