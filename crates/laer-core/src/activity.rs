//! Distinct active users over windows of activity days, counted from each day's users.
//!
//! The account page's year of 30-day windows and the success plan's windows around each
//! intervention count an account's distinct users per window. The store hands over each
//! activity day's users once (one row per day, the users packed), and the windows are
//! counted here: a distinct count per window in SQL sorted every user-day of the span,
//! about three times the read itself for an account with thousands of users (issue 20).

use std::collections::HashSet;

/// The users active on one activity day of an account (a user may appear more than
/// once: the rollup has a row per feature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayUsers {
    pub day: i64,
    pub users: Vec<String>,
}

/// A span of activity days: those after `after`, up to and including `through`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySpan {
    pub after: i64,
    pub through: i64,
}

impl DaySpan {
    pub fn holds(self, day: i64) -> bool {
        day > self.after && day <= self.through
    }
}

/// How many distinct users were active in each window, in the windows' order. Days
/// outside every window are ignored.
pub fn distinct_users(days: &[DayUsers], windows: &[DaySpan]) -> Vec<u32> {
    let mut seen: Vec<HashSet<&str>> = vec![HashSet::new(); windows.len()];
    for d in days {
        for (window, users) in windows.iter().zip(seen.iter_mut()) {
            if window.holds(d.day) {
                users.extend(d.users.iter().map(String::as_str));
            }
        }
    }
    seen.iter()
        .map(|s| u32::try_from(s.len()).unwrap_or(u32::MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(day: i64, users: &[&str]) -> DayUsers {
        DayUsers {
            day,
            users: users.iter().map(|u| (*u).to_string()).collect(),
        }
    }

    #[test]
    fn each_user_counts_once_per_window_that_holds_their_days() {
        let days = [
            day(10, &["a", "b", "a"]),
            day(11, &["b", "c"]),
            day(20, &["a"]),
            day(31, &["d"]),
        ];
        let windows = [
            DaySpan { after: 10, through: 20 },
            DaySpan { after: 0, through: 10 },
            DaySpan { after: 0, through: 40 },
            DaySpan { after: 40, through: 70 },
        ];
        // (10, 20]: b and c on 11, a on 20; (0, 10]: a and b; everything: a to d; none.
        assert_eq!(distinct_users(&days, &windows), [3, 2, 4, 0]);
    }

    proptest! {
        /// Against a count of (window, user) pairs: the same users in any order and split
        /// over days in any way give the same counts.
        #[test]
        fn counts_equal_the_distinct_pairs(
            rows in proptest::collection::vec((0_i64..60, 0_u8..20), 0..300),
            bounds in proptest::collection::vec((0_i64..60, 0_i64..40), 1..6),
        ) {
            let windows: Vec<DaySpan> =
                bounds.iter().map(|&(after, len)| DaySpan { after, through: after + len }).collect();
            let mut by_day: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
            for &(d, u) in &rows {
                by_day.entry(d).or_default().push(format!("user {u}"));
            }
            let days: Vec<DayUsers> = by_day.into_iter().rev().map(|(day, users)| DayUsers { day, users }).collect();
            let expected: Vec<u32> = windows
                .iter()
                .map(|w| {
                    let pairs: HashSet<u8> = rows.iter().filter(|(d, _)| w.holds(*d)).map(|(_, u)| *u).collect();
                    u32::try_from(pairs.len()).unwrap()
                })
                .collect();
            prop_assert_eq!(distinct_users(&days, &windows), expected);
        }
    }
}
