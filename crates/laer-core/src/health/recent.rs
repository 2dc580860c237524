//! A user's recent days of use, kept per account so that the users active in a usage
//! window are a count over one row per user rather than a distinct count over every day's
//! rows (issue 20). The store keeps [`RecentDays`] in `account_users`, mirrors
//! [`RecentDays::merge`] in SQL as events arrive, and folds the rows it reads through
//! [`ActiveUsers`]; its tests compare the counts with a count over the raw events.

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
        self.bits & window_mask(self.last_day, after, until)
    }
}

/// The bits a [`RecentDays`] whose last day is `last_day` sets for days in (`after`,
/// `until`], as far as its memory reaches.
pub fn window_mask(last_day: i64, after: i64, until: i64) -> i64 {
    let from = (last_day - until).max(0);
    let to = (last_day - after).min(RECENT_DAYS);
    if from >= to {
        return 0;
    }
    if to - from >= RECENT_DAYS {
        RECENT_MASK
    } else {
        ((1 << (to - from)) - 1) << from
    }
}

/// The users of one account active in two adjacent windows of days, (`start`, `split`]
/// ("before") and (`split`, `end`] ("now"), and their distinct departments: counted user
/// by user from their [`RecentDays`] ([`ActiveUsers::add`]). The store folds each
/// account's `account_users` rows through it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveUsers {
    pub now: ActiveIn,
    pub before: ActiveIn,
    /// Users whose first day is on or before the windows' end.
    pub ever: u32,
    /// The latest day any of the users was active.
    pub last_day: i64,
    /// Whether a user's remembered days could not say whether they were active in a
    /// window (it reaches back past the memory): the count must come from day rows.
    pub unanswered: bool,
}

/// Users active in one window, and the distinct departments they belong to (users with
/// none are not a department).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveIn {
    pub users: u32,
    /// In order, each once; a few per account.
    departments: Vec<String>,
}

impl ActiveIn {
    /// How many distinct departments the active users belong to.
    pub fn departments(&self) -> u32 {
        u32::try_from(self.departments.len()).unwrap_or(u32::MAX)
    }

    /// Counts `users` more of `department`.
    fn add(&mut self, users: u32, department: Option<&str>) {
        if users == 0 {
            return;
        }
        self.users = self.users.saturating_add(users);
        if let Some(department) = department
            && let Err(at) = self.departments.binary_search_by(|d| d.as_str().cmp(department))
        {
            self.departments.insert(at, department.to_string());
        }
    }
}

impl ActiveUsers {
    /// For a database that counts the users itself: for each last day in (`start`,
    /// `end`], the bits of a user's [`RecentDays`] that are days of the windows (`split`,
    /// `end`] ("now") and (`start`, `split`] ("before") — `(last_day, now, before)`. A user
    /// whose bits meet a window's is active in it. The answer is whole when both windows
    /// lie within the memory (`end - start <= RECENT_DAYS`); a user whose last day is past
    /// `end` is not answered by them.
    pub fn masks((start, split, end): (i64, i64, i64)) -> Vec<(i64, i64, i64)> {
        (start + 1..=end)
            .map(|day| (day, window_mask(day, split, end), window_mask(day, start, split)))
            .collect()
    }

    /// Counts `now` and `before` users of `department` active in each window, counted by
    /// the database through [`ActiveUsers::masks`], and `ever` users of theirs whose first
    /// day is on or before the windows' end; `last_day` is the latest day of theirs.
    pub fn add_counted(&mut self, department: Option<&str>, (now, before, ever): (u32, u32, u32), last_day: i64) {
        self.last_day = self.last_day.max(last_day);
        self.ever = self.ever.saturating_add(ever);
        self.now.add(now, department);
        self.before.add(before, department);
    }

    /// Counts one user, active on `days` and first on `first_day`, of `department`, in the
    /// windows (`start`, `split`] and (`split`, `end`], and among the users ever as of `end`.
    pub fn add(
        &mut self,
        (days, first_day): (RecentDays, i64),
        department: Option<&str>,
        (start, split, end): (i64, i64, i64),
    ) {
        self.last_day = self.last_day.max(days.last_day);
        self.ever = self.ever.saturating_add(u32::from(first_day <= end));
        for (window, after, until) in [(&mut self.now, split, end), (&mut self.before, start, split)] {
            match days.active_in(after, until) {
                Some(true) => window.add(1, department),
                Some(false) => {}
                None => self.unanswered = true,
            }
        }
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
    use std::collections::{BTreeMap, BTreeSet};

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
            // The mask a database is given answers as `active_in` does (no for unknown).
            let met = recent.bits & window_mask(recent.last_day, after, until) != 0;
            prop_assert_eq!(met, recent.active_in(after, until) == Some(true));
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

    proptest! {
        /// Users and departments in each window are what a count over the users' days
        /// gives.
        #[test]
        fn active_users_count_as_the_days_would(
            users in proptest::collection::vec(
                (proptest::collection::vec(100_i64..160, 1..12), proptest::option::of(0_u8..4)),
                0..30,
            ),
            split in 140_i64..150,
            width in 1_i64..20,
        ) {
            let (start, end) = (split - width, split + width);
            let mut active = ActiveUsers::default();
            let mut truth: [(u32, BTreeSet<u8>); 2] = Default::default();
            let first = |days: &Vec<i64>| days.iter().copied().min().unwrap();
            for (days, department) in &users {
                let name = department.map(|d| format!("team {d}"));
                active.add((of(days).unwrap(), first(days)), name.as_deref(), (start, split, end));
                for (i, (after, until)) in [(split, end), (start, split)].into_iter().enumerate() {
                    if days.iter().any(|d| *d > after && *d <= until) {
                        truth[i].0 += 1;
                        truth[i].1.extend(*department);
                    }
                }
            }
            prop_assert!(!active.unanswered);
            for (window, (users, departments)) in [&active.now, &active.before].into_iter().zip(&truth) {
                prop_assert_eq!(window.users, *users);
                prop_assert_eq!(window.departments() as usize, departments.len());
            }
            let last = users.iter().flat_map(|(d, _)| d.iter().copied()).max().unwrap_or(0);
            prop_assert_eq!(active.last_day, last);
            let ever = users.iter().filter(|(days, _)| first(days) <= end).count();
            prop_assert_eq!(active.ever as usize, ever);

            // As a database counts them through the masks, grouped by department.
            let masks = ActiveUsers::masks((start, split, end));
            let mut groups: BTreeMap<Option<String>, (u32, u32, u32, i64)> = BTreeMap::new();
            for (days, department) in &users {
                let recent = of(days).unwrap();
                let group = groups.entry(department.map(|d| format!("team {d}"))).or_default();
                if let Some((_, now, before)) = masks.iter().find(|m| m.0 == recent.last_day) {
                    group.0 += u32::from(recent.bits & now != 0);
                    group.1 += u32::from(recent.bits & before != 0);
                }
                group.2 += u32::from(first(days) <= end);
                group.3 = group.3.max(recent.last_day);
            }
            let mut counted = ActiveUsers::default();
            for (department, (now, before, ever, last_day)) in &groups {
                counted.add_counted(department.as_deref(), (*now, *before, *ever), *last_day);
            }
            prop_assert_eq!(counted.ever, active.ever);
            if counted.last_day <= end {
                prop_assert_eq!(&counted.now, &active.now);
                prop_assert_eq!(&counted.before, &active.before);
            }
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
