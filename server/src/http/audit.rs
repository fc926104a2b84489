//! The tenant's audit log for administrators: a page, an NDJSON export, and verifying the
//! keyed chain.

use warp::reply::Response;

use super::{
    models::{AuditPageOut, AuditQuery},
    shared::{json, page_size},
};
use crate::{
    error::{ApiError, ApiResult},
    state::{AppState, Session},
};

fn audit_query(q: &AuditQuery, default_limit: u32) -> ApiResult<tenancy::audit::Query> {
    let time = |ms: Option<i64>, what: &str| -> ApiResult<Option<time::OffsetDateTime>> {
        ms.map(|ms| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .map_err(|_| ApiError::BadRequest(format!("{what} is out of range")))
        })
        .transpose()
    };
    let kind = match &q.kind {
        None => None,
        Some(k) => Some(
            k.parse::<tenancy::audit::Kind>()
                .map_err(|_| ApiError::BadRequest(format!("unknown audit kind {k:?}")))?,
        ),
    };
    Ok(tenancy::audit::Query {
        since: time(q.since, "since")?,
        until: time(q.until, "until")?,
        kind,
        subject: q.subject.clone(),
        actor: q.actor.clone(),
        after_seq: q.after,
        limit: page_size(q.limit, default_limit, tenancy::audit::MAX_PAGE)?,
    })
}

/// `GET /api/audit` (administrators): one page, filtered.
pub async fn page(_state: AppState, s: Session, q: AuditQuery) -> ApiResult<Response> {
    let found = s.tenant.audit_query(s.caller(), &audit_query(&q, 100)?).await?;
    Ok(json(&AuditPageOut {
        records: found.records.into_iter().map(Into::into).collect(),
        next: found.next,
    }))
}

/// `GET /api/audit/export` (administrators): every matching record as NDJSON.
pub async fn export(_state: AppState, s: Session, q: AuditQuery) -> ApiResult<Response> {
    let mut out = Vec::new();
    let query = audit_query(&q, tenancy::audit::MAX_PAGE)?;
    let n = s.tenant.audit_export(s.caller(), &query, &mut out).await?;
    tracing::info!(member_id = %s.claims.mid, records = n, "audit exported");
    let mut r = Response::new(out.into());
    r.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/x-ndjson"),
    );
    r.headers_mut().insert(
        warp::http::header::CONTENT_DISPOSITION,
        warp::http::HeaderValue::from_static("attachment; filename=\"audit.ndjson\""),
    );
    Ok(r)
}

/// `GET /api/audit/verify` (administrators): verifies the tenant's audit chain now; a broken
/// chain is a 200 answer with `ok: false` and the first broken record, and counts in `/metrics`.
pub async fn verify(state: AppState, s: Session) -> ApiResult<Response> {
    let out = crate::audit_check::outcome(s.tenant.verify_audit(s.caller()).await)?;
    state.metrics().tenant_audit_chain(&s.claims.mid, out.ok);
    if !out.ok {
        tracing::error!(member_id = %s.claims.mid, broken = ?out.broken, "audit chain BROKEN");
    }
    Ok(json(&out))
}
