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
            max_duration_days: 1278,
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
}

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

    /// A deal made at `now_unix` that starts `delay_days` later and then lasts the whole
    /// `duration_days` (upstream shortened the term by the delay, which could fall below the
    /// network's 180-day minimum).
    pub fn term(
        &self,
        genesis_unix: i64,
        now_unix: i64,
        delay_days: u64,
        duration_days: u64,
    ) -> Result<DealTerm, EpochError> {
        self.check_delay(delay_days)?;
        self.check_duration(duration_days)?;
        let start_epoch = epoch_at(genesis_unix, now_unix) + delay_days as i64 * EPOCHS_PER_DAY;
        Ok(DealTerm {
            start_epoch,
            end_epoch: start_epoch + duration_days as i64 * EPOCHS_PER_DAY,
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
    fn a_deal_lasts_its_whole_duration_after_the_delay() {
        // 2026-11-22T00:00:10Z = 1795305610 -> epoch (1795305610 - 1598306400) / 30 = 6566640
        // (remainder 10 s); +3 days = 6566640 + 8640 = 6575280; +540 days = +1555200.
        let term = DealBounds::default()
            .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 540)
            .unwrap();
        assert_eq!(term.start_epoch, 6_575_280);
        assert_eq!(term.end_epoch, 6_575_280 + 1_555_200);
        assert_eq!(term.duration_epochs(), 540 * 2880);
    }

    #[test]
    fn durations_and_delays_outside_the_bounds_are_refused() {
        let bounds = DealBounds::default();
        assert!(matches!(
            bounds.term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 179),
            Err(EpochError::Duration { given: 179, .. })
        ));
        assert!(
            bounds
                .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 1279)
                .is_err()
        );
        assert!(
            bounds
                .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 3, 1278)
                .is_ok()
        );
        assert!(
            bounds
                .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 0, 180)
                .is_err()
        );
        assert!(
            bounds
                .term(MAINNET_GENESIS_UNIX, 1_795_305_610, 15, 180)
                .is_err()
        );
    }
}
