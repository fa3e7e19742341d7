//! Scalars for the values GraphQL's 32-bit `Int` cannot carry.
//!
//! Byte counts, balances, epochs and millisecond timestamps pass 2^31 − 1, and graphql-js
//! (and every client built on it) rejects an `Int` that large. These scalars travel as JSON
//! numbers, exact in JavaScript up to 2^53 − 1 (9 PB, or the year 287396), and accept a
//! decimal string as input too, for clients that keep 64-bit values as strings.
//!
//! Each scalar also says which values are valid, so that a wrong variable is refused when the
//! request is validated, before any field of a mutation runs (not when its field is reached).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use super::error::{Code, error};

/// A whole number read from a JSON number or a decimal string.
fn whole<T: async_graphql::InputType>(value: &Value) -> Result<i64, InputValueError<T>> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| InputValueError::custom("expected a whole number")),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| InputValueError::custom("expected a whole number in decimal")),
        _ => Err(InputValueError::expected_type(value.clone())),
    }
}

/// A signed 64-bit whole number: bytes, balances, row ids, epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Long(pub i64);

/// A signed 64-bit whole number (bytes, balances, ids, epochs) that may exceed 2^31 − 1. Sent
/// as a JSON number, exact up to 2^53 − 1; input also accepts a decimal string.
#[Scalar(name = "Long")]
impl ScalarType for Long {
    fn parse(value: Value) -> InputValueResult<Self> {
        whole(&value).map(Long)
    }

    fn is_valid(value: &Value) -> bool {
        whole::<Self>(value).is_ok()
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

impl From<i64> for Long {
    fn from(v: i64) -> Self {
        Long(v)
    }
}

impl From<u64> for Long {
    fn from(v: u64) -> Self {
        Long(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl Long {
    /// The value as a count that cannot be negative; `argument` names it in the error.
    pub fn non_negative(self, argument: &str) -> async_graphql::Result<u64> {
        u64::try_from(self.0).map_err(|_| {
            error(
                Code::BadUserInput,
                format!("{argument} must not be negative"),
            )
        })
    }
}

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp(pub i64);

/// A point in time as milliseconds since the Unix epoch (UTC), for example 1796147821401. Sent
/// as a JSON number (`new Date(value)` in JavaScript); input also accepts a decimal string.
#[Scalar(name = "Timestamp")]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        whole(&value).map(Timestamp)
    }

    fn is_valid(value: &Value) -> bool {
        whole::<Self>(value).is_ok()
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

impl From<i64> for Timestamp {
    fn from(v: i64) -> Self {
        Timestamp(v)
    }
}

/// An EVM chain id (EIP-155).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ChainId(pub u64);

/// An EVM chain id (EIP-155), for example 1 or 137; the same type wherever the schema names a
/// chain. Sent as a JSON number; input also accepts a decimal string.
#[Scalar(name = "ChainId")]
impl ScalarType for ChainId {
    fn parse(value: Value) -> InputValueResult<Self> {
        let id = whole(&value)?;
        u64::try_from(id)
            .map(ChainId)
            .map_err(|_| InputValueError::custom("a chain id is not negative"))
    }

    fn is_valid(value: &Value) -> bool {
        whole::<Self>(value).is_ok_and(|id| id >= 0)
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

impl From<u64> for ChainId {
    fn from(v: u64) -> Self {
        ChainId(v)
    }
}
