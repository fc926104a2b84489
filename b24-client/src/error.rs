//! The one error type of this crate and the Bitrix24 error codes.

use std::fmt;

/// A Bitrix24 error code, as found in `{"error": "CODE"}` envelopes of the portal and the OAuth
/// server. Codes are matched case-insensitively (Bitrix24 is inconsistent about case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `expired_token`: the access token expired; refresh once and retry.
    ExpiredToken,
    /// `invalid_token`: the access token is invalid or revoked.
    InvalidToken,
    /// `NO_AUTH_FOUND`: wrong or missing token or webhook code.
    NoAuthFound,
    /// `METHOD_CONFIRM_WAITING`: the method awaits an administrator's confirmation.
    MethodConfirmWaiting,
    /// `METHOD_CONFIRM_DENIED`: an administrator refused the method.
    MethodConfirmDenied,
    /// `PAYMENT_REQUIRED`: the application is not paid for.
    PaymentRequired,
    /// `APPLICATION_NOT_FOUND`: the application is not installed on the portal.
    ApplicationNotFound,
    /// `NOT_INSTALLED`: the application is not (fully) installed.
    NotInstalled,
    /// `AUTHORIZATION_ERROR`.
    AuthorizationError,
    /// `ERROR_OAUTH`.
    ErrorOauth,
    /// `insufficient_scope`: the application lacks the method's scope.
    InsufficientScope,
    /// `ACCESS_DENIED`: method-level denial (REST only on commercial plans, admin-only method...).
    AccessDenied,
    /// `INVALID_CREDENTIALS`: the user lacks permissions.
    InvalidCredentials,
    /// `user_access_error`: the administrator restricted the application to some users.
    UserAccessError,
    /// `WRONG_AUTH_TYPE`: application (OAuth) context required, a webhook was used.
    WrongAuthType,
    /// `ALLOWED_ONLY_INTRANET_USER`.
    AllowedOnlyIntranetUser,
    /// `ERROR_METHOD_NOT_FOUND`: unknown method.
    MethodNotFound,
    /// `INVALID_REQUEST`: e.g. HTTPS required; also an OAuth server error.
    InvalidRequest,
    /// `INVALID_ARG_VALUE`.
    InvalidArgValue,
    /// `ERROR_BATCH_LENGTH_EXCEEDED`: more than 50 commands in one batch.
    BatchLengthExceeded,
    /// `ERROR_BATCH_METHOD_NOT_ALLOWED`: nested batch or file transfer in a batch.
    BatchMethodNotAllowed,
    /// `ERROR_ARGUMENT`: a missing or invalid argument.
    Argument,
    /// `ERROR_CORE`: a generic module error (CRM validation and the like).
    Core,
    /// `NOT_FOUND`: the entity does not exist.
    NotFound,
    /// `OPERATION_TIME_LIMIT`: the method's time budget is spent until `operating_reset_at`.
    OperationTimeLimit,
    /// `QUERY_LIMIT_EXCEEDED`: the portal's leaky bucket overflowed; refused before execution.
    QueryLimitExceeded,
    /// `OVERLOAD_LIMIT`: a manual block by Bitrix24 support; not a rate limit.
    OverloadLimit,
    /// `INTERNAL_SERVER_ERROR`.
    InternalServerError,
    /// `ERROR_UNEXPECTED_ANSWER`.
    UnexpectedAnswer,
    /// `PORTAL_DELETED`: the portal is closed or deleted.
    PortalDeleted,
    /// `invalid_grant` (OAuth): the refresh token expired or was already used.
    InvalidGrant,
    /// `invalid_client` (OAuth): wrong keys or the application is not installed.
    InvalidClient,
    /// `invalid_scope` (OAuth).
    InvalidScope,
    /// `wrong_client` (OAuth).
    WrongClient,
    /// `bad_verification_code` (OAuth): the authorization code is wrong or expired.
    BadVerificationCode,
    /// `NOT_ACTIVE_LINE` (imconnector): the open line is missing or inactive.
    NotActiveLine,
    /// `IMCONNECTOR_NO_CORRECT_PROVIDER`.
    ImconnectorNoCorrectProvider,
    /// `IMCONNECTOR_NOT_SPECIFIED_CORRECT_COMMAND`.
    ImconnectorNotSpecifiedCorrectCommand,
    /// `IMCONNECTOR_NOT_ALL_THE_REQUIRED_DATA`: user id, chat id, or text/files missing.
    ImconnectorNotAllTheRequiredData,
    /// `ERROR_PLACEMENT_MAX_COUNT`.
    PlacementMaxCount,
    /// `ERROR_PLACEMENT_USER_MODE`.
    PlacementUserMode,
    /// `ERROR_PLACEMENT_NOT_FOUND`.
    PlacementNotFound,
    /// `ERROR_EVENT_NOT_FOUND`.
    EventNotFound,
    /// Any other code, kept verbatim.
    Other(String),
}

const CODES: &[(&str, ErrorCode)] = &[
    ("expired_token", ErrorCode::ExpiredToken),
    ("invalid_token", ErrorCode::InvalidToken),
    ("NO_AUTH_FOUND", ErrorCode::NoAuthFound),
    ("METHOD_CONFIRM_WAITING", ErrorCode::MethodConfirmWaiting),
    ("METHOD_CONFIRM_DENIED", ErrorCode::MethodConfirmDenied),
    ("PAYMENT_REQUIRED", ErrorCode::PaymentRequired),
    ("APPLICATION_NOT_FOUND", ErrorCode::ApplicationNotFound),
    ("NOT_INSTALLED", ErrorCode::NotInstalled),
    ("AUTHORIZATION_ERROR", ErrorCode::AuthorizationError),
    ("ERROR_OAUTH", ErrorCode::ErrorOauth),
    ("insufficient_scope", ErrorCode::InsufficientScope),
    ("ACCESS_DENIED", ErrorCode::AccessDenied),
    ("INVALID_CREDENTIALS", ErrorCode::InvalidCredentials),
    ("user_access_error", ErrorCode::UserAccessError),
    ("WRONG_AUTH_TYPE", ErrorCode::WrongAuthType),
    ("ALLOWED_ONLY_INTRANET_USER", ErrorCode::AllowedOnlyIntranetUser),
    ("ERROR_METHOD_NOT_FOUND", ErrorCode::MethodNotFound),
    ("INVALID_REQUEST", ErrorCode::InvalidRequest),
    ("INVALID_ARG_VALUE", ErrorCode::InvalidArgValue),
    ("ERROR_BATCH_LENGTH_EXCEEDED", ErrorCode::BatchLengthExceeded),
    ("ERROR_BATCH_METHOD_NOT_ALLOWED", ErrorCode::BatchMethodNotAllowed),
    ("ERROR_ARGUMENT", ErrorCode::Argument),
    ("ERROR_CORE", ErrorCode::Core),
    ("NOT_FOUND", ErrorCode::NotFound),
    ("OPERATION_TIME_LIMIT", ErrorCode::OperationTimeLimit),
    ("QUERY_LIMIT_EXCEEDED", ErrorCode::QueryLimitExceeded),
    ("OVERLOAD_LIMIT", ErrorCode::OverloadLimit),
    ("INTERNAL_SERVER_ERROR", ErrorCode::InternalServerError),
    ("ERROR_UNEXPECTED_ANSWER", ErrorCode::UnexpectedAnswer),
    ("PORTAL_DELETED", ErrorCode::PortalDeleted),
    ("invalid_grant", ErrorCode::InvalidGrant),
    ("invalid_client", ErrorCode::InvalidClient),
    ("invalid_scope", ErrorCode::InvalidScope),
    ("wrong_client", ErrorCode::WrongClient),
    ("bad_verification_code", ErrorCode::BadVerificationCode),
    ("NOT_ACTIVE_LINE", ErrorCode::NotActiveLine),
    ("IMCONNECTOR_NO_CORRECT_PROVIDER", ErrorCode::ImconnectorNoCorrectProvider),
    ("IMCONNECTOR_NOT_SPECIFIED_CORRECT_COMMAND", ErrorCode::ImconnectorNotSpecifiedCorrectCommand),
    ("IMCONNECTOR_NOT_ALL_THE_REQUIRED_DATA", ErrorCode::ImconnectorNotAllTheRequiredData),
    ("ERROR_PLACEMENT_MAX_COUNT", ErrorCode::PlacementMaxCount),
    ("ERROR_PLACEMENT_USER_MODE", ErrorCode::PlacementUserMode),
    ("ERROR_PLACEMENT_NOT_FOUND", ErrorCode::PlacementNotFound),
    ("ERROR_EVENT_NOT_FOUND", ErrorCode::EventNotFound),
];

impl ErrorCode {
    /// Every documented code (all variants but [`ErrorCode::Other`]).
    pub fn all() -> impl Iterator<Item = ErrorCode> {
        CODES.iter().map(|(_, c)| c.clone())
    }

    /// Parses a code case-insensitively; unknown codes become [`ErrorCode::Other`].
    pub fn parse(code: &str) -> Self {
        CODES
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(code))
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| ErrorCode::Other(code.to_owned()))
    }

    /// The code as Bitrix24 spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(s) => s,
            known => CODES.iter().find(|(_, c)| c == known).map(|(s, _)| *s).unwrap_or(""),
        }
    }

    /// The HTTP status Bitrix24 answers this code with (RD `error-codes.md`; 200 for codes
    /// that come inside a successful envelope or that the docs do not place).
    pub fn http_status(&self) -> u16 {
        use ErrorCode::*;
        match self {
            ExpiredToken | InvalidToken | NoAuthFound | MethodConfirmWaiting | PaymentRequired
            | ApplicationNotFound | NotInstalled | AuthorizationError | ErrorOauth
            | InvalidGrant | InvalidClient | WrongClient => 401,
            InsufficientScope
            | AccessDenied
            | InvalidCredentials
            | UserAccessError
            | WrongAuthType
            | AllowedOnlyIntranetUser
            | MethodConfirmDenied => 403,
            MethodNotFound => 404,
            // A missing record or entity type: 400 on every page that lists it (RD
            // `crm/universal/crm-item-get.md`, `crm/universal/crm-item-update.md`, ...).
            NotFound
            | InvalidRequest
            | InvalidArgValue
            | BatchLengthExceeded
            | Argument
            | Core
            | NotActiveLine
            | ImconnectorNoCorrectProvider
            | ImconnectorNotSpecifiedCorrectCommand
            | ImconnectorNotAllTheRequiredData
            | PlacementMaxCount
            | PlacementUserMode
            | PlacementNotFound
            | EventNotFound
            | InvalidScope
            | BadVerificationCode => 400,
            BatchMethodNotAllowed => 405,
            OperationTimeLimit => 429,
            QueryLimitExceeded | OverloadLimit => 503,
            InternalServerError | UnexpectedAnswer | PortalDeleted => 500,
            Other(_) => 400,
        }
    }

    /// True when Bitrix24 refuses the request before running the method, so that sending it
    /// again can never execute it twice.
    pub fn refused_before_execution(&self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            ExpiredToken
                | InvalidToken
                | NoAuthFound
                | QueryLimitExceeded
                | OperationTimeLimit
                | InsufficientScope
                | WrongAuthType
                | MethodNotFound
                | PaymentRequired
                | MethodConfirmWaiting
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was wrong with a response body that is not a Bitrix24 envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyKind {
    /// An HTML page (a proxy's 502/504, a login page...).
    Html,
    /// Not JSON, or JSON cut short.
    NotJson,
    /// JSON without `result` or `error`.
    NoEnvelope,
}

/// Everything that can go wrong talking to Bitrix24 or reading what it sends.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The portal answered with an error envelope.
    #[error("Bitrix24 error {code} (HTTP {status}): {description}")]
    Api {
        /// The error code.
        code: ErrorCode,
        /// `error_description`, as sent.
        description: String,
        /// The HTTP status.
        status: u16,
    },
    /// The OAuth server refused a token request.
    #[error("OAuth error {code}: {description}")]
    OAuth {
        /// The error code.
        code: ErrorCode,
        /// `error_description`, as sent.
        description: String,
    },
    /// The refresh token is dead (`invalid_grant`, or the portal refuses every token): the
    /// portal must reinstall the application (or an administrator must open it again).
    #[error("portal {member_id} must reinstall the application ({reason})")]
    ReinstallRequired {
        /// The portal.
        member_id: String,
        /// The code that proved it.
        reason: ErrorCode,
    },
    /// The application was uninstalled from this portal; no call is sent any more.
    #[error("the application is uninstalled from portal {member_id}")]
    Uninstalled {
        /// The portal.
        member_id: String,
    },
    /// No answer in time. `may_have_committed` is true when the request was a write that the
    /// portal may have executed; such a request is never retried.
    #[error("{method}: no answer in time (may have committed: {may_have_committed})")]
    Timeout {
        /// The REST method.
        method: String,
        /// Whether the method may have run.
        may_have_committed: bool,
    },
    /// The connection failed.
    #[error("{method}: transport error: {message}")]
    Transport {
        /// The REST method.
        method: String,
        /// What the HTTP stack said (never contains the request body).
        message: String,
    },
    /// The body is not a Bitrix24 envelope.
    #[error("unexpected body ({kind:?}, HTTP {status}, {len} bytes)")]
    UnexpectedBody {
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        kind: BodyKind,
        /// The body length.
        len: usize,
    },
    /// A redirect without a usable `Location`, or too many redirects.
    #[error("bad redirect: {0}")]
    Redirect(String),
    /// A value did not have the expected shape.
    #[error("cannot read {what}: {message}")]
    Decode {
        /// What was being read.
        what: &'static str,
        /// Why it failed.
        message: String,
    },
    /// An inbound request (frame, install callback, event) lacks a required field.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// An inbound request has a field that cannot be read.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A form body is malformed or exceeds the parser's limits.
    #[error("malformed form body: {0}")]
    Form(String),
    /// An event's or frame's `application_token` does not match the stored one.
    #[error("application token mismatch")]
    TokenMismatch,
    /// The portal does not confirm the frame's user.
    #[error("frame not confirmed by the portal: {0}")]
    FrameNotConfirmed(String),
    /// The token store failed to persist rotated tokens.
    #[error("token store: {0}")]
    TokenStore(String),
    /// Bad configuration (e.g. an unparsable endpoint URL).
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The Bitrix24 error code, when the error came from an envelope.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api { code, .. } | Error::OAuth { code, .. } => Some(code),
            Error::ReinstallRequired { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_case_insensitively() {
        for code in ErrorCode::all() {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
            assert_eq!(ErrorCode::parse(&code.as_str().to_ascii_lowercase()), code);
            assert_eq!(ErrorCode::parse(&code.as_str().to_ascii_uppercase()), code);
        }
        assert_eq!(ErrorCode::parse("SOMETHING_NEW"), ErrorCode::Other("SOMETHING_NEW".into()));
        assert_eq!(ErrorCode::parse("SOMETHING_NEW").as_str(), "SOMETHING_NEW");
    }

    #[test]
    fn statuses_follow_the_docs() {
        assert_eq!(ErrorCode::ExpiredToken.http_status(), 401);
        assert_eq!(ErrorCode::QueryLimitExceeded.http_status(), 503);
        assert_eq!(ErrorCode::OperationTimeLimit.http_status(), 429);
        assert_eq!(ErrorCode::WrongAuthType.http_status(), 403);
        assert_eq!(ErrorCode::BatchMethodNotAllowed.http_status(), 405);
        // RD crm/universal/crm-item-get.md: a missing item is 400 NOT_FOUND, while an unknown
        // method stays 404.
        assert_eq!(ErrorCode::NotFound.http_status(), 400);
        assert_eq!(ErrorCode::MethodNotFound.http_status(), 404);
        assert!(!ErrorCode::OverloadLimit.refused_before_execution());
        assert!(ErrorCode::QueryLimitExceeded.refused_before_execution());
    }
}
