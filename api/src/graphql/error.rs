//! GraphQL errors: every error carries `extensions.code`; internal failures are logged once
//! here and reach the client only as "internal error".
use async_graphql::{Error, ErrorExtensions};
use wharf_core::ledger::LedgerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BadUserInput,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    /// A storage service wharf forwards to did not answer usefully.
    Unavailable,
    /// A configured limit (open subscriptions) is reached.
    LimitExceeded,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::Unavailable => "SERVICE_UNAVAILABLE",
            Code::LimitExceeded => "LIMIT_EXCEEDED",
            Code::Internal => "INTERNAL",
        }
    }
}

pub fn error(code: Code, message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", code.as_str()))
}

/// Logs the detail and returns an opaque error.
pub fn internal(detail: impl std::fmt::Display) -> Error {
    tracing::error!(error = %detail, "GraphQL resolver failed");
    error(Code::Internal, "internal error")
}

pub fn bad_input(message: impl Into<String>) -> Error {
    error(Code::BadUserInput, message)
}

pub fn ledger_error(e: LedgerError) -> Error {
    let code = match &e {
        LedgerError::UnknownToken | LedgerError::UnknownPromocode => Code::NotFound,
        LedgerError::InvalidAmount | LedgerError::Overflow => Code::BadUserInput,
        LedgerError::InsufficientBalance
        | LedgerError::AlreadyRedeemed
        | LedgerError::PromocodeExhausted
        | LedgerError::PromocodeExists => Code::Conflict,
        LedgerError::TokenOwnedByOther => Code::Forbidden,
        LedgerError::Db(db) => return internal(db),
    };
    error(code, e.to_string())
}
