//! Login throttling: how long a client must wait after failed logins, and how many
//! password reset requests are answered with an email (docs/access.md, "Throttling").
//!
//! Failures are counted under three keys: the *pair* (one email from one client
//! address), the *account* (one email from anywhere) and the *address* (any email from
//! one address). A pair gets a few free failures, then an exponentially growing wait; an
//! address, which may be an office behind one NAT, gets more before its own wait starts.
//! The account's count stops guessing from many addresses at once, but a wait on an
//! email from everywhere also keeps its owner out (OWASP, Authentication Cheat Sheet,
//! "Account lockout"): it starts only after many failures — more than one address can
//! make in an hour under its own waits — and stays short. A count starts over once its
//! last event is older than the window, and a successful login clears its pair (not the
//! account's or the address's count, so that a login of the attacker's own cannot wipe
//! them). Unknown emails are counted the same way, so the answer reveals nothing.

use chrono::{DateTime, TimeDelta, Utc};

/// A growing wait after repeated failures under one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures allowed before any wait.
    pub free: i64,
    /// A count starts over once its last failure is this old.
    pub window: TimeDelta,
    /// The longest wait.
    pub cap: TimeDelta,
}

/// One email from one address: after 5 failures, 2 s, then 4 s, 8 s, … up to 15 minutes.
pub const PAIR: Backoff = Backoff {
    free: 5,
    window: TimeDelta::hours(1),
    cap: TimeDelta::minutes(15),
};

/// Any email from one address: the same growth after 20 failures, so that a person who
/// mistypes is not slowed by colleagues behind the same address.
pub const ADDRESS: Backoff = Backoff {
    free: 20,
    window: TimeDelta::hours(1),
    cap: TimeDelta::minutes(15),
};

/// One email from anywhere: the same growth after 30 failures, at most a minute — about
/// sixty guesses an hour however many addresses guess, while its owner, when someone
/// else's guessing slows them, waits a minute at most.
pub const ACCOUNT: Backoff = Backoff {
    free: 30,
    window: TimeDelta::hours(1),
    cap: TimeDelta::minutes(1),
};

/// The oldest a count of any scope can matter: rows older than this are pruned.
pub const LONGEST_WINDOW: TimeDelta = TimeDelta::hours(1);

/// Failures (or requests) counted under one key, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub events: i64,
    pub last_at: DateTime<Utc>,
}

impl Backoff {
    /// The wait after the `failures`-th failure: none up to [`Backoff::free`], then
    /// 2^(failures − free + 1) seconds, at most [`Backoff::cap`].
    pub fn delay(&self, failures: i64) -> TimeDelta {
        if failures < self.free {
            return TimeDelta::zero();
        }
        let exponent = (failures - self.free + 1).clamp(0, 30) as u32;
        TimeDelta::seconds(1_i64 << exponent).min(self.cap)
    }

    /// How long the next attempt must wait at `now`, if at all.
    pub fn wait(&self, count: &Count, now: DateTime<Utc>) -> Option<TimeDelta> {
        if now - count.last_at > self.window {
            return None;
        }
        let until = count.last_at + self.delay(count.events);
        (until > now).then(|| until - now)
    }
}

/// How many password reset emails are sent in a window, per email and per address;
/// requests beyond are answered alike but send nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimit {
    pub max: i64,
    pub window: TimeDelta,
}

/// Reset emails to one address: 3 an hour.
pub const RESET_EMAIL: RequestLimit = RequestLimit {
    max: 3,
    window: TimeDelta::hours(1),
};

/// Single sign-ons started from one client address: 100 in 10 minutes. Each keeps a
/// sign-in under way in the store until it ends or expires, so the count bounds what a
/// client can make laer keep (an office behind one address stays far below it).
pub const SSO_ADDRESS: RequestLimit = RequestLimit {
    max: 100,
    window: TimeDelta::minutes(10),
};

/// Reset requests from one client address: 10 an hour.
pub const RESET_ADDRESS: RequestLimit = RequestLimit {
    max: 10,
    window: TimeDelta::hours(1),
};

impl RequestLimit {
    /// Whether the request that made `count` (itself counted) is within the limit.
    pub fn allows(&self, count: &Count) -> bool {
        count.events <= self.max
    }
}

/// A wait as people read it: "45 seconds", "1 minute", "4 minutes" (rounded up).
pub fn wait_words(wait: TimeDelta) -> String {
    let seconds = wait.num_seconds() + i64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    if seconds < 60 {
        return format!("{seconds} second{}", if seconds == 1 { "" } else { "s" });
    }
    let minutes = (seconds + 59) / 60;
    format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_after_the_free_failures_up_to_the_cap() {
        let delays: Vec<i64> = (0..=16).map(|n| PAIR.delay(n).num_seconds()).collect();
        assert_eq!(
            delays,
            [0, 0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
        );
        assert_eq!(PAIR.delay(i64::MAX), TimeDelta::minutes(15));
        assert_eq!(ADDRESS.delay(19), TimeDelta::zero());
        assert_eq!(ADDRESS.delay(20), TimeDelta::seconds(2));
        let account: Vec<i64> = (29..=36).map(|n| ACCOUNT.delay(n).num_seconds()).collect();
        assert_eq!(account, [0, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn a_wait_counts_from_the_last_failure_and_a_quiet_window_forgets() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").unwrap().to_utc();
        let count = Count { events: 7, last_at: t };
        assert_eq!(PAIR.wait(&count, t), Some(TimeDelta::seconds(8)));
        assert_eq!(
            PAIR.wait(&count, t + TimeDelta::seconds(5)),
            Some(TimeDelta::seconds(3))
        );
        assert_eq!(PAIR.wait(&count, t + TimeDelta::seconds(8)), None);
        let capped = Count { events: 30, last_at: t };
        assert_eq!(
            PAIR.wait(&capped, t + TimeDelta::minutes(11)),
            Some(TimeDelta::minutes(4))
        );
        assert_eq!(PAIR.wait(&capped, t + TimeDelta::minutes(61)), None);
        assert_eq!(PAIR.wait(&Count { events: 4, last_at: t }, t), None);
    }

    #[test]
    fn reset_requests_beyond_the_limit_send_nothing() {
        let t = Utc::now();
        assert!(RESET_EMAIL.allows(&Count { events: 3, last_at: t }));
        assert!(!RESET_EMAIL.allows(&Count { events: 4, last_at: t }));
    }

    #[test]
    fn waits_read_as_words() {
        assert_eq!(wait_words(TimeDelta::milliseconds(300)), "1 second");
        assert_eq!(wait_words(TimeDelta::seconds(45)), "45 seconds");
        assert_eq!(wait_words(TimeDelta::seconds(60)), "1 minute");
        assert_eq!(wait_words(TimeDelta::seconds(181)), "4 minutes");
        assert_eq!(wait_words(TimeDelta::minutes(15)), "15 minutes");
    }
}
