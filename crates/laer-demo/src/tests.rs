use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use chrono::{NaiveTime, TimeDelta, Timelike};
use proptest::prelude::*;

use super::*;
use laer_core::model::{MeetingStatus, MilestoneSide, SurveyKind};
use laer_core::retention::{MovementKind, RevenueLine, account_movements, is_active, monthly_periods};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

const TODAY: &str = "2025-06-15";

/// The default company, generated once for the tests that look at it.
fn default_company() -> &'static DemoCompany {
    static COMPANY: OnceLock<DemoCompany> = OnceLock::new();
    COMPANY.get_or_init(|| generate(&DemoConfig::new(day(TODAY))))
}

fn small(accounts: usize, months: u32, seed: u64) -> DemoConfig {
    DemoConfig {
        accounts,
        months,
        seed,
        today: day(TODAY),
    }
}

fn revenue_lines(company: &DemoCompany) -> Vec<RevenueLine> {
    let mut lines: Vec<RevenueLine> = company
        .subscriptions
        .iter()
        .map(|s| RevenueLine {
            account_id: s.account_id,
            start_date: s.start_date,
            end_date: s.end_date,
            mrr: s.mrr,
            bill_period_months: s.bill_period_months,
            original: None,
        })
        .collect();
    lines.sort_by_key(|l| l.account_id);
    lines
}

/// Every invariant that holds for any config.
fn check_invariants(config: &DemoConfig, company: &DemoCompany) {
    let accounts = company.accounts.len();
    assert_eq!(company.profiles.len(), accounts);
    let account_ok = |id: i64| (0..accounts as i64).contains(&id);

    // External ids: unique per kind.
    fn unique<'a>(kind: &str, ids: impl Iterator<Item = &'a str>) {
        let mut seen = BTreeSet::new();
        for id in ids {
            assert!(!id.is_empty(), "{kind}: empty external id");
            assert!(seen.insert(id), "{kind}: duplicate external id {id}");
        }
    }
    unique("accounts", company.accounts.iter().map(|a| a.external_id.as_str()));
    unique("team", company.team.iter().map(|a| a.external_id.as_str()));
    unique("team emails", company.team.iter().filter_map(|a| a.email.as_deref()));
    unique("contacts", company.contacts.iter().map(|a| a.external_id.as_str()));
    unique(
        "product users",
        company.product_users.iter().map(|a| a.external_id.as_str()),
    );
    unique(
        "user emails",
        company.product_users.iter().filter_map(|a| a.email.as_deref()),
    );
    unique(
        "subscriptions",
        company.subscriptions.iter().map(|a| a.external_id.as_str()),
    );
    unique(
        "event types",
        company.event_types.iter().map(|a| a.external_id.as_str()),
    );
    unique("cases", company.support_cases.iter().map(|a| a.external_id.as_str()));
    unique("meetings", company.meetings.iter().map(|a| a.external_id.as_str()));
    unique(
        "surveys",
        company.survey_responses.iter().map(|a| a.external_id.as_str()),
    );
    unique("outcomes", company.outcomes.iter().map(|a| a.external_id.as_str()));
    unique(
        "milestones",
        company.milestones.iter().filter_map(|m| m.external_id.as_deref()),
    );
    for m in &company.milestones {
        assert!(account_ok(m.account_id), "milestone {:?}", m.external_id);
        assert!(m.done_on.is_none_or(|d| d < config.today), "{m:?} done in the future");
    }
    let names: BTreeSet<_> = company.accounts.iter().map(|a| a.name.clone()).collect();
    assert_eq!(names.len(), accounts, "account names are unique");

    // References are valid indices, and refs name records of the same account.
    let users: HashMap<&str, (i64, &NewProductUser)> = company
        .product_users
        .iter()
        .map(|u| (u.external_id.as_str(), (u.account_id, u)))
        .collect();
    let contacts: HashMap<&str, i64> = company
        .contacts
        .iter()
        .map(|c| (c.external_id.as_str(), c.account_id))
        .collect();
    assert!(company.contacts.iter().all(|c| account_ok(c.account_id)));
    assert!(company.product_users.iter().all(|c| account_ok(c.account_id)));
    assert!(company.subscriptions.iter().all(|c| account_ok(c.account_id)));
    assert!(company.support_cases.iter().all(|c| account_ok(c.account_id)));
    assert!(company.meetings.iter().all(|c| account_ok(c.account_id)));
    // Who took part in a touchpoint: contacts of its account, in one of its teams; a
    // held one names someone whenever its account has a contact in its team.
    for m in &company.meetings {
        for &i in &m.contact_ids {
            let c = &company.contacts[i as usize];
            assert_eq!(c.account_id, m.account_id, "{}", m.external_id);
            assert!(
                m.with_team(c.stakeholder_team.as_deref().unwrap_or("")),
                "{}",
                m.external_id
            );
        }
        let someone_there = company
            .contacts
            .iter()
            .any(|c| c.account_id == m.account_id && m.with_team(c.stakeholder_team.as_deref().unwrap_or("")));
        let held = m.status == laer_core::model::MeetingStatus::Held;
        assert_eq!(!m.contact_ids.is_empty(), held && someone_there, "{}", m.external_id);
    }
    assert!(company.outcomes.iter().all(|c| account_ok(c.account_id)));
    assert!(company.drivers.iter().all(|d| d.account < accounts));
    assert!(company.contract_changes.iter().all(|d| d.account < accounts));
    for s in &company.survey_responses {
        assert!(account_ok(s.account_id));
        let contact = s.contact_ref.as_deref().expect("every response names its contact");
        assert_eq!(contacts.get(contact), Some(&s.account_id), "{}", s.external_id);
        assert!(s.survey.score_range().contains(&s.score), "{s:?}");
    }
    for m in &company.outcome_measurements {
        assert!((0..company.outcomes.len() as i64).contains(&m.outcome_id));
    }
    for c in &company.coverage {
        assert!(c.account < accounts && c.member < company.team.len());
        assert!(
            company.team[c.member]
                .roles
                .as_deref()
                .unwrap_or_default()
                .contains(&c.role),
            "{c:?}"
        );
        assert!(c.until.is_none_or(|u| u > c.since), "{c:?}");
    }
    for account in 0..accounts {
        for role in [TeamRole::AccountExecutive, TeamRole::Csm] {
            assert!(company.coverage.iter().any(|c| c.account == account && c.role == role));
        }
    }

    // Subscription lines: exact money, start before end, nothing decided after today.
    for s in &company.subscriptions {
        assert!(s.end_date.is_none_or(|e| e > s.start_date), "{s:?}");
        assert!(
            s.end_date.is_none_or(|e| e <= config.today),
            "a renewal after today is pre-decided: {s:?}"
        );
        assert!(s.start_date <= config.today);
        assert!(s.mrr > Money::ZERO);
        assert!([1, 12].contains(&s.bill_period_months));
        let quantity = s.quantity.expect("quantity") as i64;
        let percent_off = s.discount.map_or(0, |d| (d * 100.0).round() as i64);
        let list_price = s.mrr.ten_thousandths() * 100 / (100 - percent_off) / quantity;
        assert_eq!(list_price % 10_000, 0, "whole list price per unit: {s:?}");
    }
    for (i, p) in company.profiles.iter().enumerate() {
        let active: Vec<_> = company
            .subscriptions
            .iter()
            .filter(|s| s.account_id == i as i64 && s.is_active_on(config.today))
            .collect();
        assert_eq!(p.renewal_date.is_some(), !active.is_empty(), "account {i}");
        assert!(p.renewal_date.is_none_or(|r| r > config.today));
        assert!(active.iter().all(|s| s.end_date.is_none()));
        let plan_seats = active
            .iter()
            .find(|s| ["Starter", "Professional", "Enterprise"].contains(&s.product.as_str()));
        assert_eq!(
            plan_seats.map_or(0, |s| s.quantity.unwrap_or(0.0) as u32),
            p.seats,
            "account {i}"
        );
    }

    // Events: in the window, in working hours, after their user exists, one per instant.
    let from = company.from.map(|f| f.and_time(NaiveTime::MIN).and_utc());
    let until = config.today.and_time(NaiveTime::MIN).and_utc();
    let mut instants = BTreeSet::new();
    for e in &company.events {
        assert!(account_ok(e.account_id));
        assert!((0..company.event_types.len() as i64).contains(&e.event_type_id));
        assert!(
            from.is_some_and(|f| e.occurred_at >= f) && e.occurred_at < until,
            "{e:?}"
        );
        assert!((7..18).contains(&e.occurred_at.hour()), "{e:?}");
        let (account, user) = users[e.user_ref.as_deref().expect("user_ref")];
        assert_eq!(account, e.account_id);
        assert!(
            user.created_at.is_some_and(|c| c <= e.occurred_at),
            "{e:?} before {user:?}"
        );
        assert!(instants.insert((e.account_id, e.occurred_at, e.dedup_key)), "{e:?}");
    }
    assert!(
        company
            .events
            .windows(2)
            .all(|w| (w[0].account_id, w[0].occurred_at) < (w[1].account_id, w[1].occurred_at))
    );

    for c in &company.support_cases {
        assert!((1..=4).contains(&c.severity));
        assert!(c.closed_at.is_none_or(|closed| closed > c.opened_at && closed < until));
        assert_eq!(
            c.closed_at.is_some(),
            matches!(
                c.status,
                laer_core::model::CaseStatus::Closed | laer_core::model::CaseStatus::Resolved
            )
        );
    }
    for m in &company.meetings {
        assert_eq!(m.status == MeetingStatus::Scheduled, m.held_at >= until, "{m:?}");
    }
}

#[test]
fn the_default_company_keeps_every_invariant() {
    check_invariants(&DemoConfig::new(day(TODAY)), default_company());
}

#[test]
fn the_default_company_has_realistic_volumes() {
    let c = default_company();
    assert_eq!(c.accounts.len(), 300);
    assert!(
        (500_000..=2_000_000).contains(&c.events.len()),
        "{} events",
        c.events.len()
    );
    let segments: BTreeSet<_> = c.accounts.iter().filter_map(|a| a.segment.as_deref()).collect();
    assert_eq!(segments, BTreeSet::from(["Enterprise", "Mid-Market", "SMB"]));
    let roles = |role| {
        c.team
            .iter()
            .filter(|m| m.roles.as_deref().unwrap_or_default().contains(&role))
            .count()
    };
    assert!(roles(TeamRole::AccountExecutive) >= 2 && roles(TeamRole::Csm) >= 3);
    assert_eq!(
        (
            roles(TeamRole::RenewalSpecialist),
            roles(TeamRole::ExpansionSpecialist),
            roles(TeamRole::CsLeader)
        ),
        (1, 1, 1)
    );
    let departments: BTreeSet<_> = c.product_users.iter().filter_map(|u| u.department.as_deref()).collect();
    assert!(departments.len() >= 8);
    let used_types: BTreeSet<_> = c.events.iter().map(|e| e.event_type_id).collect();
    assert_eq!(used_types.len(), c.event_types.len(), "every feature is used somewhere");
    let case_kinds: std::collections::HashSet<_> = c.support_cases.iter().map(|k| k.kind).collect();
    assert!(
        case_kinds.contains(&laer_core::model::CaseKind::HowTo)
            && case_kinds.contains(&laer_core::model::CaseKind::Defect)
    );
    let statuses: std::collections::HashSet<_> = c.meetings.iter().map(|m| m.status).collect();
    assert_eq!(statuses.len(), 4);
    for kind in [SurveyKind::Nps, SurveyKind::Csat] {
        assert!(
            c.survey_responses.iter().filter(|s| s.survey == kind).count() > 500,
            "{kind}"
        );
    }
    let products: BTreeSet<_> = c.subscriptions.iter().map(|s| s.product.as_str()).collect();
    assert!(products.len() >= 5, "plans and add-ons: {products:?}");
    let monthly = c.subscriptions.iter().filter(|s| s.bill_period_months == 1).count();
    assert!(monthly > 50 && monthly < c.subscriptions.len() - 50);
    assert!(c.outcome_measurements.len() > 5 * c.outcomes.len());
    assert!(c.coverage.len() > 600);
}

#[test]
fn the_same_config_gives_the_same_company() {
    let config = small(25, 8, 7);
    let first = generate(&config);
    assert_eq!(first, generate(&config));
    assert_ne!(
        first,
        generate(&DemoConfig {
            seed: 8,
            ..config.clone()
        })
    );
    // The same events whether generated at once or account by account.
    let (records, usage) = generate_records(&config);
    assert!(records.events.is_empty());
    let by_account: Vec<NewEvent> = (0..usage.accounts()).flat_map(|a| usage.events_of(a)).collect();
    assert_eq!(by_account, first.events);
    assert_eq!(
        DemoCompany {
            events: by_account,
            ..records
        },
        first
    );
}

#[test]
fn empty_configs_give_an_empty_company() {
    for config in [small(0, 24, 1), small(10, 0, 1)] {
        let company = generate(&config);
        assert!(company.accounts.is_empty() && company.events.is_empty() && company.subscriptions.is_empty());
        assert!(!company.team.is_empty() && !company.event_types.is_empty());
    }
    let far = DemoConfig {
        today: NaiveDate::MAX,
        ..small(3, 2, 1)
    };
    assert!(generate(&far).accounts.is_empty());
    let long = generate(&small(2, u32::MAX, 1));
    assert_eq!(long.from, day(TODAY).checked_sub_months(Months::new(MAX_MONTHS)));
}

#[test]
fn a_twenty_year_history_keeps_every_invariant() {
    // Seats compound over many renewals: the records must stay in range.
    let config = small(40, MAX_MONTHS, 3);
    let (company, _) = generate_records(&config);
    check_invariants(&config, &company);
    assert!(company.subscriptions.len() > 200);
}

#[test]
fn revenue_moves_in_every_way() {
    let c = default_company();
    let lines = revenue_lines(c);
    let mut kinds = Vec::new();
    for period in monthly_periods(c.from.unwrap(), day(TODAY)) {
        kinds.extend(
            account_movements(&lines, period, &laer_core::fx::Rates::none())
                .iter()
                .map(|m| m.kind),
        );
    }
    for kind in [
        MovementKind::New,
        MovementKind::Expansion,
        MovementKind::Contraction,
        MovementKind::Churn,
        MovementKind::Reactivation,
    ] {
        assert!(kinds.contains(&kind), "no {kind:?}");
    }
}

#[test]
fn renewed_annual_terms_continue_without_a_gap() {
    let c = default_company();
    let lines = revenue_lines(c);
    let renewals = c
        .subscriptions
        .iter()
        .filter(|s| s.bill_period_months == 12 && s.end_date.is_some());
    let mut continued = 0;
    for line in renewals {
        let end = line.end_date.unwrap();
        let before: Money = lines
            .iter()
            .filter(|l| l.account_id == line.account_id && l.is_active_on(end - TimeDelta::days(1)))
            .map(|l| l.mrr)
            .sum();
        let after: Money = lines
            .iter()
            .filter(|l| l.account_id == line.account_id && l.is_active_on(end))
            .map(|l| l.mrr)
            .sum();
        // Either the account left that day or its MRR carried on (perhaps changed).
        if !after.is_zero() {
            continued += 1;
            assert!(
                c.subscriptions
                    .iter()
                    .any(|s| s.account_id == line.account_id && s.start_date == end)
            );
        }
        assert!(!before.is_zero());
    }
    assert!(continued > 50);
}

#[test]
fn renewals_come_due_in_the_next_30_90_and_180_days() {
    let c = default_company();
    let today = day(TODAY);
    let due_within = |days: i64| {
        c.profiles
            .iter()
            .filter(|p| p.bill_period_months == Some(12))
            .filter_map(|p| p.renewal_date)
            .filter(|r| *r <= today + TimeDelta::days(days))
            .count()
    };
    assert!(due_within(30) >= 1, "{}", due_within(30));
    assert!(due_within(90) > due_within(30));
    assert!(due_within(180) > due_within(90));
    // The account record says the same.
    for (a, p) in c.accounts.iter().zip(&c.profiles) {
        assert_eq!(a.renewal_date, p.renewal_date);
    }
}

#[test]
fn meetings_follow_the_agreed_cadence() {
    let c = default_company();
    let mut checked = 0;
    for (account, profile) in c.profiles.iter().enumerate() {
        // One customer episode: the cadence runs unbroken.
        let episodes = c
            .contract_changes
            .iter()
            .filter(|ch| ch.account == account && matches!(ch.kind, ChangeKind::Churn | ChangeKind::Reactivation))
            .count();
        if episodes > 0 {
            continue;
        }
        for (team, days) in &profile.meeting_cadence_days {
            let dates: Vec<NaiveDate> = c
                .meetings
                .iter()
                .filter(|m| m.account_id == account as i64 && m.with_team(team))
                .filter(|m| matches!(m.purpose.as_deref(), Some("ebr" | "check_in")))
                .map(|m| m.held_at.date_naive())
                .collect();
            for pair in dates.windows(2) {
                let gap = (pair[1] - pair[0]).num_days();
                assert!(
                    (gap - i64::from(*days)).abs() <= 8,
                    "account {account} {team}: {gap} days, cadence {days}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked}");
    // And every account with a cadence has its next meeting scheduled.
    for (account, profile) in c.profiles.iter().enumerate().filter(|(_, p)| p.seats > 0) {
        for team in profile.meeting_cadence_days.keys() {
            assert!(
                c.meetings.iter().any(|m| m.account_id == account as i64
                    && m.with_team(team)
                    && m.status == MeetingStatus::Scheduled)
            );
        }
    }
}

#[test]
fn customers_have_milestones_reached_as_their_people_take_to_the_product() {
    let c = default_company();
    let today = day(TODAY);
    let customers: Vec<usize> = (0..c.accounts.len()).filter(|a| c.profiles[*a].seats > 0).collect();
    for (account, profile) in c.profiles.iter().enumerate() {
        let mine: Vec<&NewMilestone> = c.milestones.iter().filter(|m| m.account_id == account as i64).collect();
        assert_eq!(
            !mine.is_empty(),
            profile.seats > 0,
            "account {account}: milestones while a customer"
        );
        for m in &mine {
            assert!(
                laer_core::success_plan::internal_words(&m.title).is_empty(),
                "{} is in the customer's words",
                m.title
            );
            assert!((m.due_on - today).num_days().abs() <= 400, "{m:?}");
        }
    }
    let past: Vec<&NewMilestone> = c.milestones.iter().filter(|m| m.due_on < today).collect();
    let late = past.iter().filter(|m| m.done_on.is_none()).count();
    let open = c.milestones.iter().filter(|m| m.due_on >= today).count();
    assert!(customers.len() > 100, "{}", customers.len());
    assert!(
        late > 0 && late * 4 < past.len(),
        "some past milestones are late: {late} of {}",
        past.len()
    );
    assert!(open > 0, "some milestones are still ahead");
    assert!(c.milestones.iter().any(|m| m.side == MilestoneSide::Customer));
    assert!(c.milestones.iter().any(|m| m.side == MilestoneSide::Vendor));
}

/// What an observer sees of an account before a renewal decision on `day`, from the
/// records alone: average active users over seats in three 30-day windows ending
/// `lead` windows before `day`, and the mean NPS of the half year before.
struct Before {
    adoption: f64,
    nps: Option<f64>,
}

fn observe(c: &DemoCompany, events: &[&NewEvent], account: i64, day: NaiveDate, lead: i64) -> Option<Before> {
    let mut ratios = Vec::new();
    for k in lead..lead + 3 {
        let end = day - TimeDelta::days(30 * k);
        let start = end - TimeDelta::days(30);
        if start < c.from? {
            return None;
        }
        let seats: f64 = c
            .subscriptions
            .iter()
            .filter(|s| {
                s.account_id == account
                    && s.units.as_deref() == Some("seats")
                    && is_active(s.start_date, s.end_date, end - TimeDelta::days(1))
            })
            .filter(|s| ["Starter", "Professional", "Enterprise"].contains(&s.product.as_str()))
            .filter_map(|s| s.quantity)
            .sum();
        let users: BTreeSet<&str> = events
            .iter()
            .filter(|e| e.occurred_at.date_naive() >= start && e.occurred_at.date_naive() < end)
            .filter_map(|e| e.user_ref.as_deref())
            .collect();
        if seats > 0.0 {
            ratios.push(users.len() as f64 / seats);
        }
    }
    let scores: Vec<f64> = c
        .survey_responses
        .iter()
        .filter(|s| s.account_id == account && s.survey == SurveyKind::Nps)
        .filter(|s| s.responded_at.date_naive() < day && s.responded_at.date_naive() >= day - TimeDelta::days(180))
        .map(|s| f64::from(s.score))
        .collect();
    (ratios.len() == 3).then(|| Before {
        adoption: ratios.iter().sum::<f64>() / 3.0,
        nps: (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64),
    })
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let all: Vec<f64> = values.collect();
    all.iter().sum::<f64>() / all.len().max(1) as f64
}

#[test]
fn churn_follows_low_adoption_and_low_nps() {
    let c = default_company();
    let lines = revenue_lines(c);
    let mut events_by_account: BTreeMap<i64, Vec<&NewEvent>> = BTreeMap::new();
    for e in &c.events {
        events_by_account.entry(e.account_id).or_default().push(e);
    }
    // Decision days, found from the subscription lines only: a churn is a day when every
    // line of an active account ends; a renewal, an annual line ending with a successor.
    let mut churned = Vec::new();
    let mut renewed = Vec::new();
    for line in c.subscriptions.iter().filter(|s| s.end_date.is_some()) {
        let end = line.end_date.unwrap();
        let active_after = lines
            .iter()
            .any(|l| l.account_id == line.account_id && l.is_active_on(end));
        if !active_after {
            churned.push((line.account_id, end));
        } else if line.bill_period_months == 12
            && c.subscriptions
                .iter()
                .any(|s| s.account_id == line.account_id && s.start_date == end && s.bill_period_months == 12)
        {
            renewed.push((line.account_id, end));
        }
    }
    churned.dedup();
    renewed.dedup();
    let none = Vec::new();
    let seen = |decisions: &[(i64, NaiveDate)], lead| -> Vec<Before> {
        decisions
            .iter()
            .filter_map(|(a, d)| observe(c, events_by_account.get(a).unwrap_or(&none), *a, *d, lead))
            .collect()
    };
    let (churned_now, renewed_now) = (seen(&churned, 0), seen(&renewed, 0));
    assert!(
        churned_now.len() >= 20 && renewed_now.len() >= 40,
        "{} churned, {} renewed",
        churned_now.len(),
        renewed_now.len()
    );
    let adoption = |b: &[Before]| mean(b.iter().map(|b| b.adoption));
    let nps = |b: &[Before]| mean(b.iter().filter_map(|b| b.nps));
    eprintln!(
        "adoption before churn {:.2}, before renewal {:.2}; NPS {:.1} vs {:.1}",
        adoption(&churned_now),
        adoption(&renewed_now),
        nps(&churned_now),
        nps(&renewed_now)
    );
    assert!(adoption(&churned_now) < adoption(&renewed_now) - 0.1);
    assert!(nps(&churned_now) < nps(&renewed_now) - 1.0);
    // The decline shows months ahead: three to six months before the decision too.
    let (churned_early, renewed_early) = (seen(&churned, 3), seen(&renewed, 3));
    eprintln!(
        "3-6 months before: {:.2} vs {:.2}",
        adoption(&churned_early),
        adoption(&renewed_early)
    );
    assert!(adoption(&churned_early) < adoption(&renewed_early) - 0.05);
    // Not trivially separable: some churned accounts used the product more than some
    // renewed ones.
    let best_churned = churned_now.iter().map(|b| b.adoption).fold(0.0, f64::max);
    let worst_renewed = renewed_now.iter().map(|b| b.adoption).fold(1.0, f64::min);
    assert!(best_churned > worst_renewed);
}

/// The driver snapshot of `account` in force on `day`.
fn driver_on<'a>(
    by_account: &'a [Vec<&'a DriverSnapshot>],
    account: i64,
    day: NaiveDate,
) -> Option<&'a DriverSnapshot> {
    let snapshots = by_account.get(usize::try_from(account).ok()?)?;
    let at = snapshots.partition_point(|d| d.to <= day);
    snapshots.get(at).copied().filter(|d| d.from <= day)
}

/// Mean of `signal` over the items whose driver is in the lowest and in the highest third.
fn low_and_high<T>(items: &[T], driver: impl Fn(&T) -> f64, signal: impl Fn(&T) -> f64) -> (f64, f64) {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by(|a, b| driver(a).total_cmp(&driver(b)));
    let third = sorted.len() / 3;
    assert!(third > 20, "too few items: {}", sorted.len());
    let low = mean(sorted[..third].iter().map(|t| signal(t)));
    let high = mean(sorted[sorted.len() - third..].iter().map(|t| signal(t)));
    (low, high)
}

#[test]
fn signals_follow_their_drivers() {
    let c = default_company();
    let mut by_account: Vec<Vec<&DriverSnapshot>> = vec![Vec::new(); c.accounts.len()];
    for d in &c.drivers {
        by_account[d.account].push(d);
    }
    // Account months: active users, seats, features used, departments, how-to and defect cases.
    #[derive(Default)]
    struct Month {
        users: BTreeSet<usize>,
        features: BTreeSet<i64>,
        how_to: u32,
        defects: u32,
    }
    let user_index: HashMap<&str, usize> = c
        .product_users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.external_id.as_str(), i))
        .collect();
    let mut months: BTreeMap<(usize, NaiveDate), Month> = BTreeMap::new();
    for e in &c.events {
        let Some(d) = driver_on(&by_account, e.account_id, e.occurred_at.date_naive()) else {
            continue;
        };
        let month = months.entry((d.account, d.from)).or_default();
        month.users.insert(user_index[e.user_ref.as_deref().unwrap()]);
        month.features.insert(e.event_type_id);
    }
    for case in &c.support_cases {
        let Some(d) = driver_on(&by_account, case.account_id, case.opened_at.date_naive()) else {
            continue;
        };
        let month = months.entry((d.account, d.from)).or_default();
        match case.kind {
            laer_core::model::CaseKind::HowTo => month.how_to += 1,
            laer_core::model::CaseKind::Defect => month.defects += 1,
            _ => {}
        }
    }
    let seats_on = |account: usize, day: NaiveDate| -> f64 {
        c.subscriptions
            .iter()
            .filter(|s| s.account_id == account as i64 && s.is_active_on(day))
            .filter(|s| ["Starter", "Professional", "Enterprise"].contains(&s.product.as_str()))
            .filter_map(|s| s.quantity)
            .sum()
    };
    // Whole months only: the window's edges are partial.
    let full: Vec<(&DriverSnapshot, &Month, f64)> = c
        .drivers
        .iter()
        .filter(|d| (d.to - d.from).num_days() >= 28)
        .filter_map(|d| Some((d, months.get(&(d.account, d.from))?, seats_on(d.account, d.from))))
        .filter(|(_, m, seats)| *seats > 0.0 && !m.users.is_empty())
        .collect();
    let departments = |m: &Month| {
        m.users
            .iter()
            .filter_map(|u| c.product_users[*u].department.as_deref())
            .collect::<BTreeSet<_>>()
            .len() as f64
    };
    let checks: [(&str, (f64, f64), bool); 5] = [
        (
            "utilisation by adoption",
            low_and_high(&full, |x| x.0.adoption, |x| x.1.users.len() as f64 / x.2),
            true,
        ),
        (
            "features used by adoption",
            low_and_high(&full, |x| x.0.adoption, |x| x.1.features.len() as f64),
            true,
        ),
        (
            "departments by adoption",
            low_and_high(&full, |x| x.0.adoption, |x| departments(x.1)),
            true,
        ),
        (
            "how-to cases per active user by adoption",
            low_and_high(
                &full,
                |x| x.0.adoption,
                |x| f64::from(x.1.how_to) / x.1.users.len() as f64,
            ),
            false,
        ),
        (
            "defects per active user by experience",
            low_and_high(
                &full,
                |x| x.0.experience,
                |x| f64::from(x.1.defects) / x.1.users.len() as f64,
            ),
            false,
        ),
    ];
    for (name, (low, high), rises) in checks {
        eprintln!("{name}: {low:.3} -> {high:.3}");
        assert!(
            if rises { high > low * 1.15 } else { low > high * 1.15 },
            "{name}: {low} vs {high}"
        );
    }
    // Experience: faster fixes and better CSAT.
    let cases: Vec<(f64, f64)> = c
        .support_cases
        .iter()
        .filter(|k| k.kind == laer_core::model::CaseKind::Defect)
        .filter_map(|k| {
            let d = driver_on(&by_account, k.account_id, k.opened_at.date_naive())?;
            Some((d.experience, (k.closed_at? - k.opened_at).num_minutes() as f64 / 60.0))
        })
        .collect();
    let (slow, fast) = low_and_high(&cases, |x| x.0, |x| x.1);
    assert!(slow > fast * 1.2, "hours to resolve: {slow} vs {fast}");
    let csat: Vec<(f64, f64)> = c
        .survey_responses
        .iter()
        .filter(|s| s.survey == SurveyKind::Csat)
        .filter_map(|s| {
            Some((
                driver_on(&by_account, s.account_id, s.responded_at.date_naive())?.experience,
                f64::from(s.score),
            ))
        })
        .collect();
    let (unhappy, happy) = low_and_high(&csat, |x| x.0, |x| x.1);
    assert!(happy > unhappy + 0.5, "CSAT: {unhappy} vs {happy}");
    // Engagement: meetings held.
    let meetings: Vec<(f64, f64)> = c
        .meetings
        .iter()
        .filter(|m| m.status != MeetingStatus::Scheduled && matches!(m.purpose.as_deref(), Some("ebr" | "check_in")))
        .filter_map(|m| {
            let d = driver_on(&by_account, m.account_id, m.held_at.date_naive())?;
            Some((d.engagement, f64::from(u8::from(m.status == MeetingStatus::Held))))
        })
        .collect();
    let (kept_low, kept_high) = low_and_high(&meetings, |x| x.0, |x| x.1);
    assert!(kept_high > kept_low + 0.15, "meetings held: {kept_low} vs {kept_high}");
    // Transformation: outcomes move towards target, or stall. Progress per month measured.
    let mut progress: Vec<(f64, f64)> = Vec::new();
    for (i, outcome) in c.outcomes.iter().enumerate() {
        let values: Vec<&NewOutcomeMeasurement> = c
            .outcome_measurements
            .iter()
            .filter(|m| m.outcome_id == i as i64)
            .collect();
        let (Some(first), Some(last)) = (values.first(), values.last()) else {
            continue;
        };
        let months = values.len() as f64 - 1.0;
        let pace: Vec<f64> = values
            .iter()
            .filter_map(|m| driver_on(&by_account, outcome.account_id, m.measured_on).map(|d| d.transformation))
            .collect();
        if months >= 4.0 && !pace.is_empty() {
            let share = (last.value - first.value) / (outcome.target - outcome.baseline);
            progress.push((mean(pace.into_iter()), share / months));
        }
    }
    let (stalled, moving) = low_and_high(&progress, |x| x.0, |x| x.1);
    assert!(
        moving > stalled * 1.5,
        "outcome progress per month: {stalled} vs {moving}"
    );
}

#[test]
fn expansion_follows_adoption_and_transformation() {
    let c = default_company();
    let drivers_before = |account: usize, on: NaiveDate| {
        let recent: Vec<&DriverSnapshot> = c
            .drivers
            .iter()
            .filter(|d| d.account == account && d.to <= on && d.to > on - TimeDelta::days(92))
            .collect();
        (!recent.is_empty()).then(|| {
            let n = recent.len() as f64;
            (
                recent.iter().map(|d| d.adoption).sum::<f64>() / n,
                recent.iter().map(|d| d.transformation).sum::<f64>() / n,
            )
        })
    };
    let of_kind = |kind| -> Vec<(f64, f64)> {
        c.contract_changes
            .iter()
            .filter(|ch| ch.kind == kind)
            .filter_map(|ch| drivers_before(ch.account, ch.on))
            .collect()
    };
    let (expanded, churned) = (of_kind(ChangeKind::Expansion), of_kind(ChangeKind::Churn));
    let adoption = |v: &[(f64, f64)]| mean(v.iter().map(|x| x.0));
    let transformation = |v: &[(f64, f64)]| mean(v.iter().map(|x| x.1));
    assert!(adoption(&expanded) > adoption(&churned) + 0.15);
    assert!(transformation(&expanded) > transformation(&churned) + 0.1);
}

#[test]
fn ownership_follows_the_coverage_model() {
    let c = default_company();
    for account in 0..c.accounts.len() {
        let executive = c
            .owner(account, TeamRole::AccountExecutive)
            .expect("an account executive");
        assert!(
            c.team[executive]
                .roles
                .as_deref()
                .unwrap_or_default()
                .contains(&TeamRole::AccountExecutive)
        );
        if c.profiles[account].seats > 0 {
            assert!(c.owner(account, TeamRole::Csm).is_some(), "account {account} has a CSM");
        }
    }
    let joined = |role| c.coverage.iter().filter(|a| a.role == role).count();
    assert!(joined(TeamRole::RenewalSpecialist) > 5);
    assert!(joined(TeamRole::ExpansionSpecialist) > 5);
    assert!(c.coverage.iter().all(|a| !a.reason.is_empty()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_small_company_keeps_every_invariant(accounts in 0usize..20, months in 1u32..6, seed in any::<u64>(), days in 0i64..4000) {
        let config = DemoConfig { accounts, months, seed, today: day("2015-01-01") + TimeDelta::days(days) };
        let company = generate(&config);
        prop_assert_eq!(company.accounts.len(), accounts);
        check_invariants(&config, &company);
    }
}
