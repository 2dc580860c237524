//! Censoring (issue 19, item 1), on both backends: an export shaped like the book's
//! simulated ones — monthly contracts renewed month by month, a few accounts leaving,
//! and events that run two months past the last contract start. Before, the data was
//! taken to end at its last use: the months after the last contract start were judged,
//! the renewals they would have held were missing, and nearly every account looked
//! churned on the last replayed days. Now the data ends at the last contract start, no
//! day is judged without its whole horizon, and a day with such a rate would be flagged.

use chrono::{Days, Months, NaiveDate};
use laer_core::health::HealthModel;
use laer_import::Kind;
use laer_store::Store;

const ACCOUNTS: u64 = 60;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Monthly lines from 2024-01-01; account `a` leaves after month `12 + a % 40` when `a`
/// is a multiple of 4 (about 2 % a month), the others renew through the last start,
/// 2025-12-01. Events every other day for each account while it is a customer, through
/// 2026-01-31 for those that stay.
fn export() -> (String, String, String) {
    let first = day("2024-01-01");
    let last_start = day("2025-12-01");
    let last_event = day("2026-01-31");
    let mut accounts = String::from("id,channel\n");
    let mut subscriptions = String::from("account_id,product,start_date,end_date,mrr,bill_period_months\n");
    let mut events = String::from("account_id,event_time,event_type,user_id\n");
    for a in 0..ACCOUNTS {
        accounts.push_str(&format!("{a},web\n"));
        let leaves_after = (a % 4 == 0).then_some(12 + (a % 40) as u32);
        let mut month = 0;
        let mut end = first;
        loop {
            let start = first + Months::new(month);
            if start > last_start || leaves_after.is_some_and(|m| month >= m) {
                break;
            }
            end = start + Months::new(1);
            subscriptions.push_str(&format!("{a},plan,{start},{end},{},1\n", 100 + a));
            month += 1;
        }
        let until = if end > last_start { last_event } else { end };
        let mut d = first;
        while d < until {
            events.push_str(&format!("{a},{d} 10:00:00,use,u{}\n", a % 3));
            d = d + Days::new(2);
        }
    }
    (accounts, subscriptions, events)
}

async fn load_export(store: &Store) {
    let (accounts, subscriptions, events) = export();
    crate::common::import_csv(
        store,
        vec![
            (Kind::Accounts, accounts),
            (Kind::Subscriptions, subscriptions),
            (Kind::Events, events),
        ],
    )
    .await;
}

async fn an_export_is_judged_only_where_its_horizon_is_known(store: &Store) {
    load_export(store).await;
    let today = day("2026-12-01");
    assert_eq!(
        store.last_data_day(today).await.unwrap(),
        Some(day("2025-12-01")),
        "the events run on, but the contracts end the known data"
    );
    let model = HealthModel::default();
    let horizon = 90;
    let days = laer_app::health::replay_days(store, &model, today, horizon)
        .await
        .unwrap();
    assert!(!days.is_empty());
    assert!(
        days.iter().all(|d| *d + Days::new(horizon as u64) <= day("2025-12-01")),
        "every replayed day's horizon is known: {days:?}"
    );
    let report = laer_app::health::validation(store, &model, &days, today, horizon)
        .await
        .unwrap();
    for d in &report.days {
        let rate = d.churned as f64 / d.accounts as f64;
        assert!(
            rate < 0.3,
            "{} judged {:.0} % churned: {report:#?}",
            d.as_of,
            rate * 100.0
        );
        assert!(!d.suspect, "{d:?}");
    }
    // Replayed as the old rule did, to the last use, the last days are what the flag is
    // for: most accounts "churn" there, and the report says the day is suspect.
    let late = [day("2025-12-31"), day("2026-01-31")];
    let all: Vec<NaiveDate> = days.iter().copied().chain(late).collect();
    let stale = laer_app::health::validation(store, &model, &all, today, horizon)
        .await
        .unwrap();
    let last = stale.days.last().unwrap();
    assert!(
        last.churned * 10 >= last.accounts * 8,
        "past the last contract start every account looks churned: {last:?}"
    );
    assert!(last.suspect, "and the day is flagged: {:#?}", stale.days);
}

/// The same export as retention curves: one cohort (all started 2024-01-01), whose
/// Kaplan–Meier curve is the share still there month by month, and its sBG projection.
async fn the_exports_cohort_has_its_curve_and_projection(store: &Store) {
    load_export(store).await;
    let model = HealthModel::default();
    let report = laer_app::reports::survival(
        store,
        &model.name,
        laer_core::survival::CurveBy::Cohort,
        36,
        day("2026-12-01"),
    )
    .await
    .unwrap();
    assert_eq!(report.health_hazards, None, "no validation yet");
    assert!(report.health_hazards_note.is_some());
    assert_eq!(report.known_until, day("2025-12-01"));
    assert_eq!(report.curves.len(), 1);
    let c = &report.curves[0];
    assert_eq!((c.group.as_str(), c.accounts), ("2024-Q1", ACCOUNTS as usize));
    // Account a (a multiple of 4) leaves after month 12 + a % 40, before the data ends.
    let leave: Vec<u32> = (0..ACCOUNTS)
        .filter(|a| a % 4 == 0)
        .map(|a| 12 + (a % 40) as u32)
        .filter(|m| *m < 23)
        .collect();
    assert_eq!(c.ended, leave.len());
    for p in &c.points {
        // Gone by the month read (months of 365.25 / 12 days from the start).
        let read_at = f64::from(p.month) * laer_core::survival::DAYS_PER_MONTH;
        let gone = leave
            .iter()
            .filter(|m| ((day("2024-01-01") + Months::new(**m)) - day("2024-01-01")).num_days() as f64 <= read_at)
            .count();
        let expected = 1.0 - gone as f64 / ACCOUNTS as f64;
        assert!((p.survival - expected).abs() < 1e-9, "{p:?}, expected {expected}");
        assert!(p.lower <= p.survival && p.survival <= p.upper);
    }
    // One plan, no segment: the Cox model has starting MRR alone.
    let hazards = report.hazards.as_ref().expect("accounts ended, and their MRR varies");
    assert_eq!(hazards.ratios.len(), 1, "{hazards:?}");
    assert_eq!(hazards.ratios[0].covariate, "starting MRR, per doubling");
    let projection = c.projection.as_ref().expect("60 accounts, 7 observed quarters, 8 lost");
    assert_eq!(projection.observed_periods, 7);
    assert!(projection.survival[11] < c.points.last().unwrap().survival);
}

laer_store::backend_tests!(
    an_export_is_judged_only_where_its_horizon_is_known,
    the_exports_cohort_has_its_curve_and_projection
);
