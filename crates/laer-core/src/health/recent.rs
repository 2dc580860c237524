//! A user's recent days of use, kept per account so that the users active in a usage
//! window are a count over one row per user rather than a distinct count over every day's
//! rows (issue 20). The store keeps [`RecentDays`] in `account_users` and mirrors
//! [`RecentDays::merge`] and [`RecentDays::active_in`] in SQL; its tests compare both
//! with a count over the raw events.

use serde::Serialize;

/// How many days a [`RecentDays`] remembers: its last day and the 62 before it (the bits
/// of a non-negative 64-bit integer, the same on SQLite and PostgreSQL).
pub const RECENT_DAYS: i64 = 63;

/// Every bit a [`RecentDays`] may set.
pub const RECENT_MASK: i64 = i64::MAX;

/// The days a user used the product, as far as the last [`RECENT_DAYS`] of them reach:
/// bit `i` of `bits` is set when the user was active on day `last_day - i`. Days are
/// the store's activity day numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecentDays {
    pub last_day: i64,
    pub bits: i64,
}

impl RecentDays {
    /// One day of use.
    pub fn on(day: i64) -> RecentDays {
        RecentDays { last_day: day, bits: 1 }
    }

    /// The days of both, as far as the later last day's memory reaches.
    pub fn merge(self, other: RecentDays) -> RecentDays {
        let (later, earlier) = if self.last_day >= other.last_day {
            (self, other)
        } else {
            (other, self)
        };
        RecentDays {
            last_day: later.last_day,
            bits: later.bits | shifted(earlier.bits, later.last_day - earlier.last_day),
        }
    }

    /// Whether the user was active on a day after `after` up to and including `until`;
    /// `None` when that reaches back past the days remembered (the store then counts
    /// from its day rows).
    pub fn active_in(&self, after: i64, until: i64) -> Option<bool> {
        if self.last_day <= after || until <= after {
            return Some(false);
        }
        if self.window_bits(after, until) != 0 {
            Some(true)
        } else if self.last_day - (after + 1) >= RECENT_DAYS {
            // The window begins before the remembered days: no set bit cannot say no.
            None
        } else {
            Some(false)
        }
    }

    /// The bits of the days in (`after`, `until`] that are remembered.
    fn window_bits(&self, after: i64, until: i64) -> i64 {
        let from = (self.last_day - until).max(0);
        let to = (self.last_day - after).min(RECENT_DAYS);
        if from >= to {
            return 0;
        }
        let mask = if to - from >= RECENT_DAYS {
            RECENT_MASK
        } else {
            (1 << (to - from)) - 1
        };
        (self.bits >> from) & mask
    }
}

/// `bits` moved `by` days into the past (bits past the memory dropped).
fn shifted(bits: i64, by: i64) -> i64 {
    if by >= RECENT_DAYS {
        0
    } else {
        (bits << by) & RECENT_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn of(days: &[i64]) -> Option<RecentDays> {
        days.iter().map(|&d| RecentDays::on(d)).reduce(RecentDays::merge)
    }

    proptest! {
        /// Merging is order-free, and a window is answered exactly as a set of the days
        /// would, or not at all when it reaches past the memory.
        #[test]
        fn recent_days_answer_as_the_days_would(
            days in proptest::collection::vec(0_i64..200, 1..40),
            after in -5_i64..205,
            width in 0_i64..80,
        ) {
            let recent = of(&days).unwrap();
            let mut reversed = days.clone();
            reversed.reverse();
            prop_assert_eq!(of(&reversed).unwrap(), recent);
            let set: BTreeSet<i64> = days.iter().copied().collect();
            prop_assert_eq!(recent.last_day, *set.iter().next_back().unwrap());
            let until = after + width;
            let truth = until > after && set.range(after + 1..=until).next().is_some();
            match recent.active_in(after, until) {
                Some(answer) => prop_assert_eq!(answer, truth),
                None => prop_assert!(after + 1 < recent.last_day - (RECENT_DAYS - 1)),
            }
            // Within the memory, always an answer.
            if after + 1 >= recent.last_day - (RECENT_DAYS - 1) {
                prop_assert!(recent.active_in(after, until).is_some());
            }
            prop_assert!(recent.bits >= 0);
        }
    }

    #[test]
    fn a_day_past_the_memory_is_forgotten() {
        let recent = of(&[10, 10 + RECENT_DAYS]).unwrap();
        assert_eq!(recent.bits, 1);
        let kept = of(&[10, 9 + RECENT_DAYS]).unwrap();
        assert_eq!(kept.bits, 1 | (1 << (RECENT_DAYS - 1)));
        assert_eq!(kept.active_in(9, 10), Some(true));
    }
}
