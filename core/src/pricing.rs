//! Prices of storage in token units, in integer arithmetic only.
//!
//! A price is "whole tokens per GiB per 30 days" as a decimal string; a quote costs
//! `ceil(price × 10^decimals × bytes × seconds / (GiB × 30 days))` of the token's smallest unit.
use alloy_primitives::U256;

pub const GIB: u64 = 1 << 30;
pub const MONTH_SECS: u64 = 30 * 24 * 3600;
const MAX_INT_DIGITS: usize = 30;
const MAX_FRACTION_DIGITS: usize = 18;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("price {0:?} is not a non-negative decimal number")]
    BadPrice(String),
    #[error("the amount does not fit in 256 bits")]
    Overflow,
}

/// An exact non-negative decimal: `numerator / 10^scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    numerator: U256,
    scale: u32,
}

impl Decimal {
    pub fn parse(text: &str) -> Result<Self, PricingError> {
        let bad = || PricingError::BadPrice(text.to_string());
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if int.is_empty()
            || int.len() > MAX_INT_DIGITS
            || frac.len() > MAX_FRACTION_DIGITS
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (text.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let digits = format!("{int}{frac}");
        let numerator = U256::from_str_radix(&digits, 10).map_err(|_| bad())?;
        Ok(Self {
            numerator,
            scale: frac.len() as u32,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.numerator.is_zero()
    }
}

/// What `bytes` stored for `duration_secs` cost at `price_per_gib_month`, in the smallest unit
/// of a token with `decimals` decimals, rounded up.
pub fn amount(
    price_per_gib_month: &Decimal,
    decimals: u8,
    bytes: u64,
    duration_secs: u64,
) -> Result<U256, PricingError> {
    let ten = U256::from(10u8);
    let numerator = price_per_gib_month
        .numerator
        .checked_mul(
            ten.checked_pow(U256::from(decimals))
                .ok_or(PricingError::Overflow)?,
        )
        .and_then(|v| v.checked_mul(U256::from(bytes)))
        .and_then(|v| v.checked_mul(U256::from(duration_secs)))
        .ok_or(PricingError::Overflow)?;
    let denominator = ten
        .checked_pow(U256::from(price_per_gib_month.scale))
        .and_then(|v| v.checked_mul(U256::from(GIB)))
        .and_then(|v| v.checked_mul(U256::from(MONTH_SECS)))
        .ok_or(PricingError::Overflow)?;
    let (quotient, remainder) = numerator.div_rem(denominator);
    Ok(if remainder.is_zero() {
        quotient
    } else {
        quotient + U256::from(1u8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn one_gib_for_a_month_costs_the_price() {
        assert_eq!(
            amount(&d("0.5"), 18, GIB, MONTH_SECS).unwrap(),
            U256::from(500_000_000_000_000_000u64)
        );
        assert_eq!(
            amount(&d("2"), 6, GIB, MONTH_SECS).unwrap(),
            U256::from(2_000_000u64)
        );
    }

    #[test]
    fn amounts_scale_and_round_up() {
        // Half a GiB for two months at 1 token (6 decimals): exactly 1 token.
        assert_eq!(
            amount(&d("1"), 6, GIB / 2, 2 * MONTH_SECS).unwrap(),
            U256::from(1_000_000u64)
        );
        // One byte for one second is a tiny fraction of a unit: rounds up to 1.
        assert_eq!(amount(&d("1"), 6, 1, 1).unwrap(), U256::from(1u8));
        assert_eq!(amount(&d("0"), 18, GIB, MONTH_SECS).unwrap(), U256::ZERO);
        assert_eq!(amount(&d("1"), 18, 0, MONTH_SECS).unwrap(), U256::ZERO);
    }

    #[test]
    fn big_inputs_do_not_overflow_silently() {
        let huge = amount(&d(&"9".repeat(30)), 36, u64::MAX, u64::MAX);
        assert_eq!(huge, Err(PricingError::Overflow));
        // The largest realistic quote still fits.
        assert!(amount(&d("1000000"), 18, 1 << 46, 10_000_000_000).is_ok());
    }

    #[test]
    fn prices_must_be_plain_decimals() {
        for bad in [
            "",
            "-1",
            "1e3",
            "0x10",
            "1.",
            ".5",
            "1.2.3",
            "abc",
            " 1",
            &"1".repeat(31),
        ] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            d("001.50"),
            Decimal {
                numerator: U256::from(150u16),
                scale: 2
            }
        );
    }
}
