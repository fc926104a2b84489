//! audit's integration tests, one binary. Every test runs on SQLite; with the `pg-tests` feature
//! the same tests also run on PostgreSQL, each in a fresh schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may fail loudly

mod keyed;
mod log;
mod support;

/// Expands each named test (an `async fn(Db)`) once per backend.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Db::sqlite().await).await
                }
            )*
        }
        #[cfg(feature = "pg-tests")]
        mod pg {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Db::postgres().await).await
                }
            )*
        }
    };
}
