//! The API's one error type: each variant has an HTTP status and a stable code, and is answered
//! as `{"error": {"code": "...", "message": "..."}}`. Internal details are logged, never sent.

use warp::http::StatusCode;

/// Everything an API or Bitrix24 endpoint can answer besides success.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No, expired or invalid credentials (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the role or the proof does not allow it (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The tenant is uninstalled or blocked (403).
    #[error("this portal's installation is {0}")]
    TenantInactive(String),
    /// Absent, or not visible to the caller (the two are not told apart) (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The plan's line quota is reached (409).
    #[error("line quota reached: {current} of {max} lines in use")]
    QuotaExceeded {
        /// Lines in use.
        current: i64,
        /// Lines the plan allows.
        max: i64,
    },
    /// The trial has ended: the API is read-only (402).
    #[error("the trial ended; the app is read-only until a plan is chosen")]
    TrialExpired,
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The Bitrix24 portal could not be reached or refused a call (502).
    #[error("the Bitrix24 portal did not answer as expected")]
    Portal,
    /// The Bitrix24 portal refused a call an administrator asked for, with what it said and
    /// what to do (502).
    #[error("{0}")]
    PortalRefused(String),
    /// The request conflicts with the resource's state (a line that is not running...) (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is well formed but cannot be done as asked (an idempotency key reused with
    /// another body) (422).
    #[error("{0}")]
    Unprocessable(String),
    /// A service the request needs is not available (no line runtime, WhatsApp refused) (503).
    #[error("{0}")]
    Unavailable(String),
    /// What was asked for existed but no longer may be had (an expired media link) (410).
    #[error("{0}")]
    Gone(&'static str),
    /// The route exists, the method does not (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is larger than the route accepts (413).
    #[error("request body too large")]
    TooLarge,
    /// The body's content type is not the one the route reads (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The tenant's media storage is full (413).
    #[error("storage quota reached: {current} of {max} bytes in use")]
    StorageQuota {
        /// Bytes stored (and reserved by uploads under way).
        current: u64,
        /// Bytes the tenant may store.
        max: u64,
    },
    /// The tenant has as many uploads under way as it may (429).
    #[error("{0} uploads are already under way for this portal; try again when one finishes")]
    TooManyUploads(usize),
    /// The number asked for is not registered on WhatsApp (422).
    #[error("this number is not on WhatsApp")]
    NotOnWhatsApp,
    /// A message to a customer who never wrote, or a check of a number with WhatsApp, is over
    /// the line's anti-ban limits (429, with when it frees up).
    #[error("{0}")]
    ColdOutreachLimit(crate::runtime::cold_guard::ColdRefusal),
    /// Something failed on our side (500); the cause is logged.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::TenantInactive(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::QuotaExceeded { .. } => StatusCode::CONFLICT,
            ApiError::TrialExpired => StatusCode::PAYMENT_REQUIRED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Portal | ApiError::PortalRefused(_) => StatusCode::BAD_GATEWAY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::StorageQuota { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyUploads(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotOnWhatsApp => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ColdOutreachLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TenantInactive(_) => "tenant_inactive",
            ApiError::NotFound(_) => "not_found",
            ApiError::QuotaExceeded { .. } => "quota_exceeded",
            ApiError::TrialExpired => "trial_expired",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Portal => "portal_error",
            ApiError::PortalRefused(_) => "portal_refused",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Gone(_) => "gone",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::TooLarge => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::StorageQuota { .. } => "storage_quota_exceeded",
            ApiError::TooManyUploads(_) => "too_many_uploads",
            ApiError::NotOnWhatsApp => "not_on_whatsapp",
            ApiError::ColdOutreachLimit(r)
                if r.limit == crate::runtime::cold_guard::ColdLimit::Checks =>
            {
                "number_checks_limit"
            }
            ApiError::ColdOutreachLimit(_) => "cold_outreach_limit",
            ApiError::Internal => "internal",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        if let ApiError::QuotaExceeded { current, max } = self {
            error["current"] = (*current).into();
            error["max"] = (*max).into();
        }
        if let ApiError::StorageQuota { current, max } = self {
            error["current"] = (*current).into();
            error["max"] = (*max).into();
        }
        if let ApiError::ColdOutreachLimit(refusal) = self {
            error["limit"] = match refusal.limit {
                crate::runtime::cold_guard::ColdLimit::Hour => "per_hour",
                crate::runtime::cold_guard::ColdLimit::Day => "per_day",
                crate::runtime::cold_guard::ColdLimit::Gap => "min_gap",
                crate::runtime::cold_guard::ColdLimit::Checks => "number_checks",
            }
            .into();
            error["retry_at"] = refusal.retry_at.into();
            error["retry_after_secs"] = refusal.retry_after_secs.into();
            error["minutes"] = refusal.retry_after_secs.div_ceil(60).into();
        }
        serde_json::json!({ "error": error })
    }

    /// The whole HTTP response.
    pub fn response(&self) -> warp::reply::Response {
        use warp::Reply;
        let mut response = warp::reply::with_status(warp::reply::json(&self.body()), self.status())
            .into_response();
        if let ApiError::ColdOutreachLimit(refusal) = self {
            response.headers_mut().insert(
                warp::http::header::RETRY_AFTER,
                warp::http::HeaderValue::from(refusal.retry_after_secs),
            );
        }
        response
    }
}

impl From<tenancy::Error> for ApiError {
    fn from(e: tenancy::Error) -> Self {
        use tenancy::Error as E;
        match e {
            E::InvalidMemberId => ApiError::BadRequest("invalid member_id".to_owned()),
            E::InvalidInput(what) => ApiError::BadRequest(what.to_owned()),
            E::QuotaExceeded { current, max } => ApiError::QuotaExceeded { current, max },
            E::NotFound(what) => ApiError::NotFound(what),
            E::Forbidden(what) => ApiError::Forbidden(what),
            E::TenantInactive(status) => ApiError::TenantInactive(status.to_string()),
            E::UnknownTenant => ApiError::Unauthorized("unknown tenant"),
            E::IdempotencyKeyReused => ApiError::Unprocessable(
                "this idempotency key was already used for a different request; \
                 send a new message with a new key"
                    .to_owned(),
            ),
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::Internal
            }
        }
    }
}

impl From<crate::runtime::RuntimeError> for ApiError {
    fn from(e: crate::runtime::RuntimeError) -> Self {
        use crate::runtime::RuntimeError as E;
        match e {
            E::Store(e) => e.into(),
            E::NotRunning(line) => ApiError::Conflict(format!("line {line} is not connected")),
            E::LoggedOut(line) => {
                ApiError::Conflict(format!("line {line} is logged out; connect it to pair again"))
            }
            E::Voice(e) => ApiError::BadRequest(format!("voice note: {e}")),
            E::MediaTooLarge { .. } => ApiError::TooLarge,
            E::Invalid(what) => ApiError::BadRequest(what.to_owned()),
            E::ColdLimit(refusal) => ApiError::ColdOutreachLimit(refusal),
            E::WhatsApp(e) => {
                tracing::warn!(error = %e, "whatsapp call failed");
                ApiError::Unavailable("WhatsApp did not accept the request; try again".to_owned())
            }
            other => {
                tracing::error!(error = %other, "line runtime error");
                ApiError::Internal
            }
        }
    }
}

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_body_names_current_and_maximum() {
        let e = ApiError::from(tenancy::Error::QuotaExceeded { current: 2, max: 2 });
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert_eq!(
            e.body(),
            serde_json::json!({"error": {"code": "quota_exceeded",
                "message": "line quota reached: 2 of 2 lines in use", "current": 2, "max": 2}})
        );
        assert_eq!(ApiError::TrialExpired.status(), StatusCode::PAYMENT_REQUIRED);
        let internal = ApiError::from(tenancy::Error::Corrupt("x"));
        assert_eq!(internal.body()["error"]["message"], "internal error");
    }
}
