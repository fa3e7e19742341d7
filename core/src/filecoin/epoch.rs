//! Filecoin chain time: 30-second epochs counted from the network's genesis, and the start and
//! end epochs of a deal.
pub const EPOCH_SECS: i64 = 30;
pub const EPOCHS_PER_DAY: i64 = 2880;
/// Mainnet genesis, 2020-08-24T22:00:00Z.
pub const MAINNET_GENESIS_UNIX: i64 = 1_598_306_400;

/// The epoch in progress at a Unix time (seconds).
pub fn epoch_at(genesis_unix: i64, unix_secs: i64) -> i64 {
    (unix_secs - genesis_unix).div_euclid(EPOCH_SECS)
}

/// The Unix time (seconds) an epoch starts.
pub fn unix_of(genesis_unix: i64, epoch: i64) -> i64 {
    genesis_unix + epoch * EPOCH_SECS
}

/// Bounds a deal's term must keep, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealBounds {
    pub min_duration_days: u64,
    pub max_duration_days: u64,
    pub min_delay_days: u64,
    pub max_delay_days: u64,
}

impl Default for DealBounds {
    fn default() -> Self {
        Self {
            min_duration_days: 180,
            max_duration_days: 540,
            min_delay_days: 1,
            max_delay_days: 14,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpochError {
    #[error("deal duration must be between {min} and {max} days, not {given}")]
    Duration { min: u64, max: u64, given: u64 },
    #[error("start delay must be between {min} and {max} days, not {given}")]
    Delay { min: u64, max: u64, given: u64 },
    #[error(
        "end_epoch_advance of {advance} days leaves a {left}-day deal, shorter than the {min}-day minimum"
    )]
    TooShort { advance: u64, left: u64, min: u64 },
}

/// The longest `duration_in_days` the Delta deal engine accepts (its `ValidateMeta`); Delta
/// counts the start delay in it (end = start + duration_in_days − start_epoch_in_days).
pub const ENGINE_MAX_DAYS: u64 = 540;

/// Start and end epoch of a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealTerm {
    pub start_epoch: i64,
    pub end_epoch: i64,
}

impl DealTerm {
    pub fn duration_epochs(&self) -> i64 {
        self.end_epoch - self.start_epoch
    }
}

impl DealBounds {
    pub fn check_duration(&self, days: u64) -> Result<(), EpochError> {
        if days < self.min_duration_days || days > self.max_duration_days {
            return Err(EpochError::Duration {
                min: self.min_duration_days,
                max: self.max_duration_days,
                given: days,
            });
        }
        Ok(())
    }

    pub fn check_delay(&self, days: u64) -> Result<(), EpochError> {
        if days < self.min_delay_days || days > self.max_delay_days {
            return Err(EpochError::Delay {
                min: self.min_delay_days,
                max: self.max_delay_days,
                given: days,
            });
        }
        Ok(())
    }

    /// A deal made at `now_unix` that starts `delay_days` later and lasts the dataset's
    /// `duration_days` less what the provider asked to end early (`advance_days`), as long as
    /// the deal engine allows: Delta takes at most 540 days counting the delay, so a 540-day
    /// dataset with a 3-day delay gets 537 days. Upstream always shortened the term by the
    /// delay, which could fall below the network's 180-day minimum; here only the engine's cap
    /// does, and a term below the minimum is refused.
    pub fn term(
        &self,
        genesis_unix: i64,
        now_unix: i64,
        delay_days: u64,
        duration_days: u64,
        advance_days: u64,
    ) -> Result<DealTerm, EpochError> {
        self.check_delay(delay_days)?;
        self.check_duration(duration_days)?;
        let days = duration_days
            .saturating_sub(advance_days)
            .min(ENGINE_MAX_DAYS.saturating_sub(delay_days));
        if days < self.min_duration_days {
            return Err(EpochError::TooShort {
                advance: advance_days,
                left: days,
                min: self.min_duration_days,
            });
        }
        let start_epoch = epoch_at(genesis_unix, now_unix) + delay_days as i64 * EPOCHS_PER_DAY;
        Ok(DealTerm {
            start_epoch,
            end_epoch: start_epoch + days as i64 * EPOCHS_PER_DAY,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_count_thirty_seconds_from_genesis() {
        assert_eq!(epoch_at(MAINNET_GENESIS_UNIX, MAINNET_GENESIS_UNIX), 0);
        assert_eq!(epoch_at(MAINNET_GENESIS_UNIX, MAINNET_GENESIS_UNIX + 29), 0);
        assert_eq!(epoch_at(MAINNET_GENESIS_UNIX, MAINNET_GENESIS_UNIX + 30), 1);
        // 2023-06-01T00:00:00Z = 1685577600: (1685577600 - 1598306400) / 30 = 2909040.
        assert_eq!(epoch_at(MAINNET_GENESIS_UNIX, 1_685_577_600), 2_909_040);
        assert_eq!(unix_of(MAINNET_GENESIS_UNIX, 2_909_040), 1_685_577_600);
        // Before genesis rounds down, not towards zero.
        assert_eq!(epoch_at(MAINNET_GENESIS_UNIX, MAINNET_GENESIS_UNIX - 1), -1);
    }

    #[test]
    fn a_deal_lasts_its_whole_duration_after_the_delay_within_the_engine_cap() {
        // 2026-11-22T00:00:10Z = 1795305610 -> epoch (1795305610 - 1598306400) / 30 = 6566640
        // (remainder 10 s); +3 days = 6566640 + 8640 = 6575280.
        let bounds = DealBounds::default();
        let term = bounds
            .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 365, 0)
            .unwrap();
        assert_eq!(term.start_epoch, 6_575_280);
        assert_eq!(term.duration_epochs(), 365 * 2880, "the whole 365 days");
        // 540 days and a 3-day delay: Delta takes 540 days counting the delay, so 537.
        let term = bounds
            .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 540, 0)
            .unwrap();
        assert_eq!(term.end_epoch, 6_575_280 + 537 * 2880);
        // Ending 10 days early.
        let term = bounds
            .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 365, 10)
            .unwrap();
        assert_eq!(term.duration_epochs(), 355 * 2880);
        // Below the network minimum is refused, not sent.
        assert!(matches!(
            bounds.term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 185, 10),
            Err(EpochError::TooShort { left: 175, .. })
        ));
    }

    #[test]
    fn durations_and_delays_outside_the_bounds_are_refused() {
        let bounds = DealBounds::default();
        assert!(matches!(
            bounds.term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 179, 0),
            Err(EpochError::Duration { given: 179, .. })
        ));
        assert!(
            bounds
                .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 541, 0)
                .is_err()
        );
        assert!(
            bounds
                .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 540, 0)
                .is_ok()
        );
        assert!(
            bounds
                .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 0, 180, 0)
                .is_err()
        );
        assert!(
            bounds
                .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 15, 180, 0)
                .is_err()
        );
    }
}
