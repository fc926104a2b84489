//! The audit chains' integrity: sealed and verified at start (`wab24 serve`), verified on demand
//! (`wab24 audit verify`, `GET /api/audit/verify`), broken chains counted in `/metrics`.

use serde::Serialize;
use tenancy::{Store, audit};

use crate::metrics::Metrics;

/// What a verification found, as `GET /api/audit/verify` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyOut {
    /// Whether the whole chain verifies under the deployment's key.
    pub ok: bool,
    /// Records that verified (all of them when `ok`, those before the first broken one if not).
    pub records_checked: i64,
    /// The first record that does not verify.
    pub broken: Option<BrokenRecord>,
}

/// The first record of a chain that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenRecord {
    /// Its sequence number.
    pub seq: i64,
    /// Why, as a code: `missing`, `content_changed`, `broken_link`, `unkeyed`, `head_mismatch`.
    pub reason: &'static str,
    /// Why, in words.
    pub message: String,
}

fn reason_code(r: audit::TamperReason) -> &'static str {
    match r {
        audit::TamperReason::Missing => "missing",
        audit::TamperReason::ContentChanged => "content_changed",
        audit::TamperReason::BrokenLink => "broken_link",
        audit::TamperReason::Unkeyed => "unkeyed",
        audit::TamperReason::HeadMismatch => "head_mismatch",
        _ => "other",
    }
}

/// Turns a verification result into its report: a broken chain is an answer, not an error; any
/// other failure (the database) stays an error.
pub fn outcome(r: tenancy::Result<audit::Head>) -> tenancy::Result<VerifyOut> {
    match r {
        Ok(head) => Ok(VerifyOut { ok: true, records_checked: head.seq, broken: None }),
        Err(tenancy::Error::Audit(audit::Error::Tampered { seq, reason })) => Ok(VerifyOut {
            ok: false,
            records_checked: (seq - 1).max(0),
            broken: Some(BrokenRecord {
                seq,
                reason: reason_code(reason),
                message: reason.to_string(),
            }),
        }),
        Err(e) => Err(e),
    }
}

/// One log's verification: `log` is `control` (the registry) or a tenant's member_id.
#[derive(Debug)]
pub struct ChainReport {
    /// Which log.
    pub log: String,
    /// What verifying it found.
    pub result: tenancy::Result<VerifyOut>,
}

impl ChainReport {
    /// Whether the log is known to be intact.
    pub fn ok(&self) -> bool {
        matches!(&self.result, Ok(v) if v.ok)
    }
}

/// Verifies the control log and every active tenant's log, or only `member_id`'s.
pub async fn verify_all(
    store: &Store,
    member_id: Option<&str>,
) -> tenancy::Result<Vec<ChainReport>> {
    let mut out = Vec::new();
    let members = match member_id {
        Some(m) => vec![m.to_owned()],
        None => {
            out.push(ChainReport {
                log: "control".to_owned(),
                result: outcome(store.verify_audit().await),
            });
            store.active_tenants().await?
        }
    };
    for m in members {
        let result = outcome(store.verify_tenant_audit(&m).await);
        out.push(ChainReport { log: m, result });
    }
    Ok(out)
}

/// Records a report in the metrics (a chain that could not be read counts as broken).
pub fn record(metrics: &Metrics, report: &ChainReport) {
    if report.log == "control" {
        metrics.control_audit_chain(report.ok());
    } else {
        metrics.tenant_audit_chain(&report.log, report.ok());
    }
}

/// `wab24 serve` at start: seals the logs written before chains were keyed (once), then verifies
/// every chain, logs each result and records it in the metrics.
pub async fn at_start(store: &Store, metrics: &Metrics, now: time::OffsetDateTime) {
    match store.seal_legacy_audit(now).await {
        Ok(sealed) => {
            for log in sealed {
                tracing::warn!(log = ?log, "audit log written before chains were keyed: sealed");
            }
        }
        Err(e) => tracing::error!(error = %e, "sealing the audit logs failed"),
    }
    let reports = match verify_all(store, None).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "verifying the audit logs failed");
            return;
        }
    };
    for r in &reports {
        record(metrics, r);
        match &r.result {
            Ok(v) if v.ok => {
                tracing::info!(log = %r.log, records = v.records_checked, "audit chain verified");
            }
            Ok(v) => tracing::error!(log = %r.log, broken = ?v.broken, "audit chain BROKEN"),
            Err(e) => {
                tracing::error!(log = %r.log, error = %e, "audit chain could not be verified")
            }
        }
    }
}
