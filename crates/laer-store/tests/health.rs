//! Health's reads and writes, on both backends: usage counted by the store agrees with
//! the core's reference count over raw events; writes mark accounts for recomputation;
//! health is kept per day; a phase set by hand is audited.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use laer_core::Money;
use laer_core::health::{HealthModel, UsageOn, WindowUse};
use laer_core::lifecycle::Phase;
use laer_core::model::*;
use laer_store::{Accounts, EventLoad, IdLookup, Listed, Store, WriteCount};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// An annual contract line of 900 a month from 2025-01-01, running.
fn annual_line(account_id: i64, external_id: &str) -> NewSubscription {
    NewSubscription {
        external_id: external_id.into(),
        account_id,
        product: "suite".into(),
        start_date: day("2025-01-01"),
        end_date: None,
        mrr: Money::from_units(900).unwrap(),
        quantity: None,
        units: None,
        bill_period_months: 12,
        discount: None,
        original: None,
    }
}

fn noon(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(12, 0, 0).unwrap().and_utc()
}

fn account(external_id: &str) -> NewAccount {
    NewAccount {
        external_id: external_id.into(),
        name: None,
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: BTreeMap::new(),
    }
}

struct Seeded {
    ids: HashMap<String, i64>,
    events: Vec<NewEvent>,
    types: HashMap<i64, String>,
    departments: HashMap<String, String>,
}

/// Two accounts with users in departments and 120 days of varied use up to 2026-06-30.
async fn seed(store: &Store) -> Seeded {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[account("a"), account("b"), account("idle")]).await.unwrap();
    let ids = tx.id_lookup(IdLookup::Accounts).await.unwrap();
    tx.upsert(&[
        NewEventType {
            external_id: "1".into(),
            name: "report".into(),
        },
        NewEventType {
            external_id: "2".into(),
            name: "export".into(),
        },
        NewEventType {
            external_id: "3".into(),
            name: "share".into(),
        },
    ])
    .await
    .unwrap();
    let by_external = tx.id_lookup(IdLookup::EventTypesByExternalId).await.unwrap();
    let types: HashMap<i64, String> = [("1", "report"), ("2", "export"), ("3", "share")]
        .iter()
        .map(|(e, n)| (by_external[*e], n.to_string()))
        .collect();
    let mut departments = HashMap::new();
    let mut users = Vec::new();
    for (account, n) in [("a", 9), ("b", 4)] {
        for u in 0..n {
            let user = format!("{account}-u{u}");
            let department = ["sales", "ops", "finance"][u % 3].to_string();
            if u != 0 {
                departments.insert(user.clone(), department.clone());
            }
            users.push(NewProductUser {
                external_id: user,
                account_id: ids[account],
                email: None,
                name: None,
                department: (u != 0).then_some(department),
                created_at: None,
            });
        }
    }
    tx.upsert(&users).await.unwrap();
    let start = day("2026-03-02");
    let mut events = Vec::new();
    let mut key = 0;
    for offset in 0..120i64 {
        let d = start + TimeDelta::days(offset);
        for (account, n) in [("a", 9i64), ("b", 4)] {
            for u in 0..n {
                // Users come and go: each is active on some days only.
                if (offset * 7 + u * 13) % (u + 3) != 0 {
                    continue;
                }
                key += 1;
                let type_id = by_external[["1", "2", "3"][((offset + u) % 3) as usize]];
                events.push(NewEvent {
                    account_id: ids[account],
                    occurred_at: noon(d) + TimeDelta::minutes(u),
                    event_type_id: type_id,
                    user_ref: Some(format!("{account}-u{u}")),
                    value: None,
                    dedup_key: key,
                });
            }
        }
    }
    // One use right at midnight: it belongs to the day that ends then (the book's rule).
    key += 1;
    events.push(NewEvent {
        account_id: ids["b"],
        occurred_at: day("2026-06-01").and_hms_opt(0, 0, 0).unwrap().and_utc(),
        event_type_id: by_external["3"],
        user_ref: Some("b-u3".into()),
        value: None,
        dedup_key: key,
    });
    tx.add_events(&events).await.unwrap();
    tx.commit().await.unwrap();
    Seeded {
        ids,
        events,
        types,
        departments,
    }
}

/// The calendar day a use counts to: a use at midnight, to the day that ends then.
fn use_day(e: &NewEvent) -> NaiveDate {
    (e.occurred_at - TimeDelta::microseconds(1)).date_naive()
}

/// The reference: usage counted from the raw events by the definitions.
fn reference(seed: &Seeded, account: i64, as_of: NaiveDate, days: i64) -> UsageOn {
    let window = |end: NaiveDate| {
        let inside: Vec<&NewEvent> = seed
            .events
            .iter()
            .filter(|e| {
                let d = use_day(e);
                e.account_id == account && d > end - TimeDelta::days(days) && d <= end
            })
            .collect();
        let mut users: Vec<&str> = inside.iter().filter_map(|e| e.user_ref.as_deref()).collect();
        users.sort_unstable();
        users.dedup();
        let mut departments: Vec<&str> = users
            .iter()
            .filter_map(|u| seed.departments.get(*u).map(String::as_str))
            .collect();
        departments.sort_unstable();
        departments.dedup();
        let mut events = BTreeMap::new();
        for e in &inside {
            *events.entry(seed.types[&e.event_type_id].clone()).or_insert(0) += 1;
        }
        WindowUse {
            active_users: users.len() as u32,
            active_departments: departments.len() as u32,
            events,
        }
    };
    let mine: Vec<&NewEvent> = seed
        .events
        .iter()
        .filter(|e| e.account_id == account && use_day(e) <= as_of)
        .collect();
    let mut ever: Vec<&str> = mine.iter().filter_map(|e| e.user_ref.as_deref()).collect();
    ever.sort_unstable();
    ever.dedup();
    UsageOn {
        now: window(as_of),
        before: window(as_of - TimeDelta::days(days)),
        users_ever: ever.len() as u32,
        last_use_on: mine.iter().map(|e| use_day(e)).max(),
    }
}

async fn usage_agrees_with_the_reference_count(store: &Store) {
    let seed = seed(store).await;
    let last_use = seed.events.iter().map(use_day).max();
    assert_eq!(
        store.last_data_day(day("2026-11-22")).await.unwrap(),
        last_use,
        "the history ends with its last use, not today"
    );
    assert_eq!(
        store.last_data_day(day("2026-05-01")).await.unwrap(),
        Some(day("2026-05-01"))
    );
    assert_eq!(store.first_use_day().await.unwrap(), Some(day("2026-03-02")));
    for as_of in ["2026-04-15", "2026-05-31", "2026-06-01", "2026-06-30", "2026-08-20"] {
        let as_of = day(as_of);
        let (usage, workspace) = store.usage_on(as_of, 30, Accounts::All).await.unwrap();
        assert_eq!(workspace.features, vec!["export", "report", "share"]);
        assert!(workspace.usage_tracked);
        for name in ["a", "b"] {
            let id = seed.ids[name];
            let expected = reference(&seed, id, as_of, 30);
            let got = usage.get(&id).cloned().unwrap_or_default();
            assert_eq!(got, expected, "account {name} as of {as_of}");
        }
        assert!(!usage.contains_key(&seed.ids["idle"]), "no use, no entry");
        let only = [seed.ids["b"]];
        let (just_b, _) = store.usage_on(as_of, 30, Accounts::Only(&only)).await.unwrap();
        assert_eq!(just_b.len(), usage.contains_key(&seed.ids["b"]) as usize);
    }
    // Every day from the use's last month to well past its end: each user's last day and
    // every day of use meet each edge of both windows (a first and a last day of each).
    let mut as_of = day("2026-06-01");
    while as_of <= day("2026-09-05") {
        let (usage, _) = store.usage_on(as_of, 30, Accounts::All).await.unwrap();
        for name in ["a", "b"] {
            let id = seed.ids[name];
            let got = usage.get(&id).cloned().unwrap_or_default();
            assert_eq!(got, reference(&seed, id, as_of, 30), "account {name} as of {as_of}");
        }
        as_of += TimeDelta::days(1);
    }
}

/// Each user's first day per account (what "users ever" counts) follows the events however
/// they arrive: a new user and an earlier use, imported (the rollups rebuilt over a span)
/// and ingested (added to them).
async fn first_days_follow_the_events_as_they_arrive(store: &Store) {
    let mut seeded = seed(store).await;
    let a = seeded.ids["a"];
    // The reference looks up users' departments; only users ever are compared here.
    seeded.departments.insert("a-new".into(), "ops".into());
    let Some(&kind) = seeded.types.keys().min() else {
        panic!("seeded types")
    };
    let event = |user: &str, on: &str, key: i64| NewEvent {
        account_id: a,
        occurred_at: noon(day(on)),
        event_type_id: kind,
        user_ref: Some(user.into()),
        value: None,
        dedup_key: key,
    };
    let imported = vec![
        event("a-new", "2026-05-10", 900_001),
        event("a-u5", "2026-03-01", 900_002),
    ];
    let mut tx = store.begin_write().await.unwrap();
    let mut load = EventLoad::default();
    tx.load_events(&mut load, imported.clone()).await.unwrap();
    tx.finish_event_load(load).await.unwrap();
    tx.commit().await.unwrap();
    seeded.events.extend(imported);
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0, "after an import");
    let ingested = vec![
        event("a-new", "2026-04-01", 900_003),
        event("a-u5", "2026-06-20", 900_004),
    ];
    let mut tx = store.begin_write().await.unwrap();
    tx.add_events(&ingested).await.unwrap();
    tx.commit().await.unwrap();
    seeded.events.extend(ingested);
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0, "after ingest");
    for as_of in ["2026-03-01", "2026-03-31", "2026-04-01", "2026-05-10", "2026-06-30"] {
        let (usage, _) = store.usage_on(day(as_of), 30, Accounts::All).await.unwrap();
        let expected = reference(&seeded, a, day(as_of), 30).users_ever;
        assert_eq!(usage[&a].users_ever, expected, "as of {as_of}");
    }
}

/// Events added in batches (as an import writes them) keep every rollup exact: events
/// already stored and repeats within a batch are kept once and counted once; a user new
/// to a day and feature adds one to its distinct users, a known one nothing. Batches are
/// larger than the rows SQLite writes at a stretch.
async fn added_events_keep_the_rollups_exact(store: &Store) {
    let mut seeded = seed(store).await;
    let (a, b) = (seeded.ids["a"], seeded.ids["b"]);
    let types: Vec<i64> = seeded.types.keys().copied().collect();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let start = day("2026-02-20");
    for round in 0..3 {
        let mut batch: Vec<NewEvent> = Vec::new();
        // Some events stored already, from the seed or an earlier round.
        for _ in 0..2_000 {
            batch.push(seeded.events[next(seeded.events.len() as u64) as usize].clone());
        }
        for i in 0..6_000 {
            let account = if next(3) == 0 { b } else { a };
            let users = if account == a { 12 } else { 5 };
            let prefix = if account == a { "a" } else { "b" };
            let event = NewEvent {
                account_id: account,
                occurred_at: noon(start + TimeDelta::days(next(150) as i64)) + TimeDelta::minutes(next(90) as i64),
                event_type_id: types[next(types.len() as u64) as usize],
                // Known users and new ones; some events have none.
                user_ref: (next(10) != 0).then(|| format!("{prefix}-u{}", next(users))),
                value: (next(4) == 0).then(|| next(1000) as f64 / 8.0),
                dedup_key: 1_000_000 * (round + 1) + i,
            };
            if next(50) == 0 {
                batch.push(event.clone()); // the same event twice in one batch
            }
            batch.push(event);
        }
        let mut keys = std::collections::HashSet::new();
        for e in &seeded.events {
            keys.insert((e.account_id, e.occurred_at, e.dedup_key));
        }
        let new: Vec<NewEvent> = batch
            .iter()
            .filter(|e| keys.insert((e.account_id, e.occurred_at, e.dedup_key)))
            .cloned()
            .collect();
        // The first round as ingest writes, in calls of fewer events than PostgreSQL
        // copies; the others as a load of several batches in one transaction (an
        // import), repeats falling in different batches.
        let mut tx = store.begin_write().await.unwrap();
        let written = if round == 0 {
            let mut written = WriteCount::default();
            for part in batch.chunks(1_500) {
                let count = tx.add_events(part).await.unwrap();
                written.written += count.written;
                written.unchanged += count.unchanged;
            }
            written
        } else {
            let mut load = EventLoad::default();
            let mut written = WriteCount::default();
            for part in batch.chunks(batch.len() / (round as usize + 1) + 1) {
                let count = tx.load_events(&mut load, part.to_vec()).await.unwrap();
                written.written += count.written;
                written.unchanged += count.unchanged;
            }
            tx.finish_event_load(load).await.unwrap();
            written
        };
        tx.commit().await.unwrap();
        assert_eq!(
            written.written,
            new.len() as u64,
            "round {round}: each new event written once"
        );
        assert_eq!(written.unchanged, (batch.len() - new.len()) as u64, "round {round}");
        seeded.events.extend(new);
        assert_eq!(store.rollup_mismatches().await.unwrap(), 0, "round {round}");
    }
    for as_of in ["2026-03-01", "2026-04-15", "2026-06-01", "2026-07-20"] {
        let (usage, _) = store.usage_on(day(as_of), 30, Accounts::All).await.unwrap();
        for account in [a, b] {
            let expected = reference(&seeded, account, day(as_of), 30);
            assert_eq!(
                usage.get(&account).cloned().unwrap_or_default(),
                expected,
                "as of {as_of}"
            );
        }
    }
}

/// A load of events (an import) beside ingest on the same accounts: neither fails and
/// the rollups come out exact. The load's first batch names one account; ingest then
/// adds events of it and twenty more; the load's second batch names all of them. A load
/// holding the first account's lock while taking the others' would meet ingest holding
/// some of those while waiting for the first: a deadlock on PostgreSQL.
async fn a_load_beside_ingest_neither_fails(store: &Store) {
    let seeded = seed(store).await;
    let mut tx = store.begin_write().await.unwrap();
    let names: Vec<String> = (0..20).map(|i| format!("more-{i}")).collect();
    let more: Vec<NewAccount> = names.iter().map(|n| account(n)).collect();
    tx.upsert(&more).await.unwrap();
    let ids = tx.id_lookup(IdLookup::Accounts).await.unwrap();
    tx.commit().await.unwrap();
    let first = seeded.ids["a"];
    let mut accounts: Vec<i64> = names.iter().map(|n| ids[n]).collect();
    accounts.push(first);
    let kind = *seeded.types.keys().min().unwrap();
    let events = |accounts: &[i64], key: i64, user: &str| -> Vec<NewEvent> {
        accounts
            .iter()
            .flat_map(|&account_id| {
                (0..3).map(move |d| NewEvent {
                    account_id,
                    occurred_at: noon(day("2026-07-10") + TimeDelta::days(d)),
                    event_type_id: kind,
                    user_ref: Some(user.to_string()),
                    value: Some(2.5),
                    dedup_key: key,
                })
            })
            .collect()
    };

    let mut load_tx = store.begin_write().await.unwrap();
    let mut load = EventLoad::default();
    load_tx
        .load_events(&mut load, events(&[first], 1, "importer"))
        .await
        .unwrap();
    let ingest = {
        let store = store.clone();
        let batch = events(&accounts, 2, "live");
        tokio::spawn(async move {
            let mut tx = store.begin_write().await?;
            tx.add_events(&batch).await?;
            tx.commit().await
        })
    };
    // Ingest runs to its end meanwhile where it can (PostgreSQL), or waits for the load's
    // transaction (SQLite's one writer).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    load_tx
        .load_events(&mut load, events(&accounts, 3, "importer"))
        .await
        .unwrap();
    load_tx.finish_event_load(load).await.unwrap();
    load_tx.commit().await.expect("the load commits");
    ingest.await.unwrap().expect("ingest commits");
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0);
    let as_of = day("2026-07-20");
    let (usage, _) = store.usage_on(as_of, 30, Accounts::All).await.unwrap();
    for account in &accounts {
        let got = usage.get(account).cloned().unwrap_or_default();
        if *account == first {
            let seeded = reference(&seeded, first, as_of, 30);
            assert_eq!(got.now.total_events(), seeded.now.total_events() + 9);
            assert_eq!(got.now.active_users, seeded.now.active_users + 2);
        } else {
            assert_eq!(got.now.total_events(), 6, "account {account}");
            assert_eq!(got.now.active_users, 2, "account {account}");
        }
    }
}

/// Active users' departments follow product users as they change (a new department, a
/// user moved to another account, a user removed), and windows too long for the days
/// each user's row remembers are counted from the day rows: both agree with the
/// reference, and the rollups with a recount.
async fn departments_and_long_windows_agree_with_the_reference(store: &Store) {
    let mut seeded = seed(store).await;
    let (a, b) = (seeded.ids["a"], seeded.ids["b"]);
    agrees_for_long_windows(store, &seeded, "as seeded").await;
    let user = |external_id: &str, account_id: i64, department: &str| NewProductUser {
        external_id: external_id.into(),
        account_id,
        email: None,
        name: None,
        department: Some(department.into()),
        created_at: None,
    };
    // a-u1 moves to a department of its own; a-u0 gets one; b-u1 moves to account a,
    // where it has no use: its department no longer counts in b.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[
        user("a-u1", a, "legal"),
        user("a-u0", a, "ops"),
        user("b-u1", a, "sales"),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    seeded.departments.insert("a-u1".into(), "legal".into());
    seeded.departments.insert("a-u0".into(), "ops".into());
    seeded.departments.remove("b-u1");
    agrees_for_long_windows(store, &seeded, "departments changed").await;
    // And back: b-u1's department counts in b again.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[user("b-u1", b, "finance")]).await.unwrap();
    tx.commit().await.unwrap();
    seeded.departments.insert("b-u1".into(), "finance".into());
    agrees_for_long_windows(store, &seeded, "moved back").await;
}

async fn agrees_for_long_windows(store: &Store, seeded: &Seeded, what: &str) {
    for as_of in ["2026-05-31", "2026-06-30"] {
        let as_of = day(as_of);
        for days in [30, 40] {
            let (usage, _) = store.usage_on(as_of, days as u32, Accounts::All).await.unwrap();
            for name in ["a", "b"] {
                let id = seeded.ids[name];
                let expected = reference(seeded, id, as_of, days);
                let got = usage.get(&id).cloned().unwrap_or_default();
                assert_eq!(got, expected, "{what}: {name} as of {as_of}, {days} days");
            }
        }
    }
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0, "{what}");
}

/// Phases kept for past days (issue 20): kept once per rules and day; marked by writes to
/// an account's history on or before a kept day (events, contracts), not by later ones;
/// a re-assessment clears only the marks it saw; a keeper overtaken by a write marks what
/// it kept.
async fn past_phases_are_kept_once_and_marked_by_history(store: &Store) {
    let seeded = seed(store).await;
    let (a, b, idle) = (seeded.ids["a"], seeded.ids["b"], seeded.ids["idle"]);
    let Some(&kind) = seeded.types.keys().min() else {
        panic!("seeded types")
    };
    let rules = "rules-1";
    let (q2, q3) = (day("2026-04-01"), day("2026-07-01"));
    let number = laer_core::retention::day_number;
    let mut key = 950_000;
    let mut ingest = |account: i64, on: &str| {
        key += 1;
        let events = vec![NewEvent {
            account_id: account,
            occurred_at: noon(day(on)),
            event_type_id: kind,
            user_ref: Some("u-late".into()),
            value: None,
            dedup_key: key,
        }];
        async move {
            let mut tx = store.begin_write().await.unwrap();
            tx.add_events(&events).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    let contract = |account: i64, external_id: &'static str| async move {
        let mut tx = store.begin_write().await.unwrap();
        tx.upsert(&[annual_line(account, external_id)]).await.unwrap();
        tx.commit().await.unwrap();
    };
    let marked = || async {
        store
            .stale_phases(100)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.account_id, m.since_day, m.marks))
            .collect::<Vec<_>>()
    };

    // Nothing kept: history changes mark nothing.
    ingest(a, "2026-03-20").await;
    contract(b, "s-b0").await;
    assert_eq!(marked().await, vec![]);

    let revision = store.past_phases_revision().await.unwrap();
    let token = store.past_phases_token().await.unwrap();
    store
        .keep_phases(rules, q2, &[(a, Phase::Adopt), (b, Phase::Land)], token)
        .await
        .unwrap();
    assert!(store.past_phases_revision().await.unwrap() > revision);
    // What a page keeps, brought up to date below with the accounts each change lists.
    let view_revision = store.past_phases_revision().await.unwrap();
    let mut view = store.kept_phases(rules, &[q2, q3]).await.unwrap().phases;
    // Kept once: a later keeper of the same day changes nothing.
    let token = store.past_phases_token().await.unwrap();
    store.keep_phases(rules, q2, &[(a, Phase::Renew)], token).await.unwrap();
    let kept = store.kept_phases(rules, &[q2, q3]).await.unwrap();
    assert_eq!(kept.phases.len(), 1, "Q3 was never kept");
    assert_eq!(
        (kept.phases[&q2][&a], kept.phases[&q2][&b], kept.stale),
        (Phase::Adopt, Phase::Land, 0)
    );
    assert!(store.kept_phases("other", &[q2]).await.unwrap().phases.is_empty());
    assert_eq!(store.kept_phase_days(rules).await.unwrap(), vec![q2]);

    // Today's events, after every kept day, mark nothing; one on or before it marks its
    // account from its day; an import earlier still moves that day back and counts.
    ingest(a, "2026-06-20").await;
    assert_eq!(marked().await, vec![]);
    ingest(a, "2026-04-01").await;
    assert_eq!(marked().await, vec![(a, number(q2), 1)]);
    let imported = vec![NewEvent {
        account_id: a,
        occurred_at: noon(day("2026-03-10")),
        event_type_id: kind,
        user_ref: Some("u-old".into()),
        value: None,
        dedup_key: 960_000,
    }];
    let mut tx = store.begin_write().await.unwrap();
    let mut load = EventLoad::default();
    tx.load_events(&mut load, imported.clone()).await.unwrap();
    tx.finish_event_load(load).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(marked().await, vec![(a, number(day("2026-03-10")), 2)]);
    // A contract marks its account's whole history.
    contract(b, "s-b1").await;
    assert_eq!(
        marked().await,
        vec![(a, number(day("2026-03-10")), 2), (b, i64::MIN, 1)]
    );
    assert_eq!(store.kept_phases(rules, &[q2]).await.unwrap().stale, 2);

    // Assessed again: the new phase replaces the kept one; the marks seen are cleared,
    // one made meanwhile stays; the accounts' phases under other rules are dropped.
    let token = store.past_phases_token().await.unwrap();
    store
        .keep_phases("old-rules", q2, &[(a, Phase::Land), (b, Phase::Land)], token)
        .await
        .unwrap();
    let seen = store.stale_phases(100).await.unwrap();
    let before = store.past_phases_revision().await.unwrap();
    store
        .refresh_phases(rules, q2, &[(a, Phase::Expand), (b, Phase::Adopt)])
        .await
        .unwrap();
    let mut both = vec![a, b];
    both.sort_unstable();
    assert_eq!(
        store.changes(Listed::PastPhases, before).await.unwrap().accounts,
        Some(both),
        "assessed again: those accounts"
    );
    ingest(a, "2026-03-05").await;
    store.clear_stale_phases(rules, &seen).await.unwrap();
    assert_eq!(marked().await, vec![(a, number(day("2026-03-05")), 3)]);
    let kept = store.kept_phases(rules, &[q2]).await.unwrap();
    assert_eq!(
        (kept.phases[&q2][&a], kept.phases[&q2][&b], kept.stale),
        (Phase::Expand, Phase::Adopt, 1)
    );
    let old = store.kept_phases("old-rules", &[q2]).await.unwrap();
    assert!(old.phases.is_empty(), "dropped: {old:?}");
    let seen = store.stale_phases(100).await.unwrap();
    store.clear_stale_phases(rules, &seen).await.unwrap();
    assert_eq!(marked().await, vec![]);

    // A keeper overtaken by a write (here a contract of another account) marks what it
    // kept from its day, for the engine to assess again.
    let token = store.past_phases_token().await.unwrap();
    contract(idle, "s-idle").await;
    let seen = store.stale_phases(100).await.unwrap();
    store.clear_stale_phases(rules, &seen).await.unwrap();
    store.keep_phases(rules, q3, &[(b, Phase::Adopt)], token).await.unwrap();
    assert_eq!(marked().await, vec![(b, number(q3), 1)]);

    // The phases the page kept, with those of the accounts listed since read again, are
    // the phases read again in full.
    let changed = store
        .changes(Listed::PastPhases, view_revision)
        .await
        .unwrap()
        .accounts
        .expect("every change listed");
    let fresh = store
        .kept_phases_of(rules, &[q2, q3], Accounts::Only(&changed))
        .await
        .unwrap();
    laer_core::bridge::replace_phases(&mut view, &changed, fresh.phases);
    let now = store.kept_phases(rules, &[q2, q3]).await.unwrap();
    assert_eq!((view, fresh.stale), (now.phases, now.stale));
}

/// The account's outcome "o", not measured yet.
fn outcome_of(account_id: i64) -> NewOutcome {
    NewOutcome {
        external_id: "o".into(),
        account_id,
        name: "Offices on local breakout".into(),
        unit: None,
        baseline: 0.0,
        target: 1.0,
        start_date: Some(day("2026-01-01")),
        target_date: Some(day("2026-12-31")),
        direction: Direction::Higher,
    }
}

/// Measures outcome "o" on 2026-06-01.
async fn measure_outcome(store: &Store) {
    let mut tx = store.begin_write().await.unwrap();
    let outcome = tx.id_lookup(IdLookup::Outcomes).await.unwrap()["o"];
    tx.upsert(&[NewOutcomeMeasurement {
        outcome_id: outcome,
        measured_on: day("2026-06-01"),
        value: 0.4,
        source: None,
        note: None,
        recorded_by: None,
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn writes_mark_accounts_for_recomputation(store: &Store) {
    let seed = seed(store).await;
    let mut marked = laer_store::test_support::claim_marked(store).await;
    marked.sort_unstable();
    let mut expected = vec![seed.ids["a"], seed.ids["b"]];
    expected.sort_unstable();
    assert_eq!(marked, expected, "events and product users mark their accounts");
    assert!(
        laer_store::test_support::claim_marked(store).await.is_empty(),
        "taken once"
    );

    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[outcome_of(seed.ids["idle"])]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        laer_store::test_support::claim_marked(store).await,
        vec![seed.ids["idle"]]
    );
    measure_outcome(store).await;
    assert_eq!(
        laer_store::test_support::claim_marked(store).await,
        vec![seed.ids["idle"]],
        "a measurement marks its outcome's account"
    );
}

async fn health_is_kept_per_day_and_phases_set_by_hand_are_audited(store: &Store) {
    let seed = seed(store).await;
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewSubscription {
        quantity: Some(12.0),
        units: Some("seats".into()),
        ..annual_line(seed.ids["a"], "s-a")
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let model = HealthModel::default();
    let as_of = day("2026-06-30");
    let assessed = store.assess(&model, as_of, Accounts::All).await.unwrap();
    assert_eq!(assessed.len(), 3);
    let a = assessed.iter().find(|x| x.account_id == seed.ids["a"]).unwrap();
    assert!(a.health.score.is_some());
    assert!(a.signals.contains_key("utilisation"), "12 seats");
    let read_at = noon(day("2026-07-01"));
    store.save_health(&assessed, read_at).await.unwrap();
    store.save_health(&assessed, read_at).await.unwrap(); // the same day again replaces it
    let latest = store.latest_health(day("2026-07-04")).await.unwrap();
    assert_eq!(latest.len(), 3);
    let kept = &latest[&seed.ids["a"]];
    assert_eq!(kept.day, as_of);
    assert_eq!(kept.score, a.health.score);
    assert!(a.next_renewal().is_some(), "an annual line renews");
    assert_eq!(kept.next_renewal, a.next_renewal(), "the forecast reads it back");

    // Two nodes rescoring at once: the health read from older data, saved last, does not
    // replace the newer; newer data does.
    let mut other = vec![a.clone()];
    other[0].health.score = Some(1.0);
    let score_of_a = |latest: &HashMap<i64, laer_store::HealthRow>| latest[&seed.ids["a"]].score;
    store
        .save_health(&other, read_at - TimeDelta::seconds(1))
        .await
        .unwrap();
    let latest = store.latest_health(day("2026-07-04")).await.unwrap();
    assert_eq!(score_of_a(&latest), a.health.score, "an older reading is not kept");
    store
        .save_health(&other, read_at + TimeDelta::seconds(1))
        .await
        .unwrap();
    let latest = store.latest_health(day("2026-07-04")).await.unwrap();
    assert_eq!(score_of_a(&latest), Some(1.0), "a newer reading replaces it");
    store
        .save_health(&assessed, read_at + TimeDelta::seconds(2))
        .await
        .unwrap();
    assert_eq!(kept.drivers, a.health.drivers);
    assert_eq!(kept.phase, a.phase.phase);
    assert!(store.latest_health(day("2026-06-29")).await.unwrap().is_empty());
    let history = store
        .health_history(seed.ids["a"], day("2026-01-01"), day("2026-12-31"))
        .await
        .unwrap();
    assert_eq!(history.len(), 1);

    laer_store::test_support::claim_marked(store).await;
    store
        .set_phase(
            seed.ids["a"],
            Some(Phase::Expand),
            "Signed an expansion LOI",
            "lead@example.com",
        )
        .await
        .unwrap();
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![seed.ids["a"]]);
    let set = store.phase_override(seed.ids["a"]).await.unwrap().unwrap();
    assert_eq!((set.phase, set.set_by.as_str()), (Phase::Expand, "lead@example.com"));
    let only = [seed.ids["a"]];
    let again = store.assess(&model, as_of, Accounts::Only(&only)).await.unwrap();
    assert_eq!(again[0].phase.phase, Phase::Expand);
    assert_eq!(again[0].phase.reason, "set by hand");
    store
        .set_phase(seed.ids["a"], None, "LOI withdrawn", "lead@example.com")
        .await
        .unwrap();
    assert_eq!(store.phase_override(seed.ids["a"]).await.unwrap(), None);
    let audit = store.audit_of_account(seed.ids["a"]).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].action, "phase.cleared");
    assert_eq!(audit[0].details["before"], "expand");
    assert_eq!(audit[1].action, "phase.set");
    assert_eq!(audit[1].details["reason"], "Signed an expansion LOI");
}

/// The health engine keeps every account's records between its passes
/// (laer_store::KeptRecords) and reads again only the accounts that the writes since
/// listed: after each way of changing what health is computed from, the health made from
/// the kept records is the health made from records read again, and the write listed
/// exactly its account (an account written lists none: every account is read again;
/// tracked events and coverage list none either, since both are read for each pass).
async fn kept_health_records_follow_each_write(store: &Store) {
    let seed = seed(store).await;
    let (a, b, idle) = (seed.ids["a"], seed.ids["b"], seed.ids["idle"]);
    let model = HealthModel::default();
    let as_of = day("2026-06-30");
    let mut kept = laer_store::KeptRecords::default();
    let mut at = store.revision(Listed::HealthRecords).await.unwrap();
    // Checks the kept health against health read again, of every account and of one.
    let check_on = async |kept: &mut laer_store::KeptRecords, as_of: NaiveDate, what: &str| {
        let fresh = store.assess(&model, as_of, Accounts::All).await.unwrap();
        let from_kept = kept.assess(store, &model, as_of, Accounts::All).await.unwrap();
        assert_eq!(from_kept, fresh, "every account, after {what}");
        let only = [b];
        assert_eq!(
            kept.assess(store, &model, as_of, Accounts::Only(&only)).await.unwrap(),
            store.assess(&model, as_of, Accounts::Only(&only)).await.unwrap(),
            "one account, after {what}"
        );
    };
    // The same, and gives the accounts listed since the last check.
    let mut check = async |kept: &mut laer_store::KeptRecords, what: &str| {
        check_on(kept, as_of, what).await;
        let changes = store.changes(Listed::HealthRecords, at).await.unwrap();
        at = changes.revision;
        changes.accounts
    };
    assert_eq!(check(&mut kept, "the first read").await, Some(vec![]));

    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewSubscription {
        quantity: Some(12.0),
        units: Some("seats".into()),
        ..annual_line(a, "s-a")
    }])
    .await
    .unwrap();
    tx.upsert(&[annual_line(b, "s-b")]).await.unwrap();
    tx.commit().await.unwrap();
    let mut both = vec![a, b];
    both.sort_unstable();
    assert_eq!(check(&mut kept, "contract lines").await, Some(both));

    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewSupportCase {
        external_id: "case-1".into(),
        account_id: b,
        opened_at: noon(day("2026-06-20")),
        closed_at: None,
        severity: 1,
        kind: CaseKind::Defect,
        status: CaseStatus::Open,
        subject: None,
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(check(&mut kept, "a support case").await, Some(vec![b]));

    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewSurveyResponse {
        external_id: "nps-1".into(),
        account_id: a,
        contact_ref: None,
        survey: SurveyKind::Nps,
        score: 3,
        responded_at: noon(day("2026-06-25")),
        comment: None,
    }])
    .await
    .unwrap();
    tx.upsert(&[NewContact {
        external_id: "ceo".into(),
        account_id: a,
        name: None,
        email: None,
        phone: None,
        title: None,
        stakeholder_team: Some("executive".into()),
        role: None,
    }])
    .await
    .unwrap();
    tx.upsert(&[NewMeetingCadence {
        account_id: a,
        stakeholder_team: "executive".into(),
        every_days: 30,
    }])
    .await
    .unwrap();
    tx.upsert(&[NewTouchpoint {
        external_id: "qbr".into(),
        account_id: a,
        held_at: noon(day("2026-06-10")),
        kind: TouchpointKind::Meeting,
        purpose: None,
        status: MeetingStatus::Held,
        duration_minutes: None,
        stakeholder_teams: vec!["executive".into()],
        contact_ids: Vec::new(),
        team_member_ids: Vec::new(),
        summary: None,
        next_step: None,
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        check(&mut kept, "an answer, a contact, a cadence and a meeting").await,
        Some(vec![a])
    );

    // A measurement names its outcome, not the account.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[outcome_of(idle)]).await.unwrap();
    tx.upsert(&[annual_line(idle, "s-idle")]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(check(&mut kept, "an outcome").await, Some(vec![idle]));
    measure_outcome(store).await;
    assert_eq!(check(&mut kept, "a measurement").await, Some(vec![idle]));

    // A product user in a new department; a phase set by hand; a case deleted.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewProductUser {
        external_id: "b-new".into(),
        account_id: b,
        email: None,
        name: None,
        department: Some("legal".into()),
        created_at: None,
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(check(&mut kept, "a product user").await, Some(vec![b]));
    store
        .set_phase(a, Some(Phase::Expand), "Signed an expansion LOI", "lead@example.com")
        .await
        .unwrap();
    assert_eq!(check(&mut kept, "a phase set by hand").await, Some(vec![a]));
    let mut tx = store.begin_write().await.unwrap();
    tx.delete::<NewSupportCase>(&[laer_store::KeyPart::Text("case-1")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(check(&mut kept, "a case deleted").await, Some(vec![b]));

    // Tracked events and coverage are read for each pass: they list nothing.
    let mut tx = store.begin_write().await.unwrap();
    let report = *seed.types.iter().find(|(_, n)| *n == "report").unwrap().0;
    tx.add_events(&[NewEvent {
        account_id: idle,
        occurred_at: noon(day("2026-06-29")),
        event_type_id: report,
        user_ref: Some("idle-u1".into()),
        value: None,
        dedup_key: 1_000_000,
    }])
    .await
    .unwrap();
    tx.upsert(&[NewTeamMember {
        external_id: "kim".into(),
        name: "Kim".into(),
        email: None,
        roles: Some(vec![TeamRole::ExpansionSpecialist]),
    }])
    .await
    .unwrap();
    let kim = tx.id_lookup(IdLookup::TeamMembers).await.unwrap()["kim"];
    tx.commit().await.unwrap();
    // A team member written lists none, as an account does.
    assert_eq!(check(&mut kept, "a team member").await, None);
    let mut tx = store.begin_write().await.unwrap();
    tx.add_events(&[NewEvent {
        account_id: idle,
        occurred_at: noon(day("2026-06-30")),
        event_type_id: report,
        user_ref: Some("idle-u2".into()),
        value: None,
        dedup_key: 1_000_001,
    }])
    .await
    .unwrap();
    let specialist = NewCoverageAssignment {
        account_id: b,
        team_member_id: kim,
        role: TeamRole::ExpansionSpecialist,
        since: day("2026-06-01"),
        until: None,
        reason: "expansion".into(),
    };
    tx.upsert(std::slice::from_ref(&specialist)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        check(&mut kept, "events and coverage").await,
        Some(vec![b]),
        "coverage lists its account, events none"
    );
    // Coverage that ends on a day: read for each day, as the day turns.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewCoverageAssignment {
        until: Some(as_of),
        ..specialist
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let eve = as_of - TimeDelta::days(1);
    check_on(&mut kept, eve, "coverage, the day before it ends").await;
    let phase_of_b = |assessed: Vec<laer_core::health::Assessment>| assessed[0].phase.phase;
    let only = [b];
    assert_eq!(
        phase_of_b(kept.assess(store, &model, eve, Accounts::Only(&only)).await.unwrap()),
        Phase::Expand,
        "an expansion specialist covers it"
    );
    assert_eq!(check(&mut kept, "coverage ended").await, Some(vec![b]));
    assert_eq!(
        phase_of_b(kept.assess(store, &model, as_of, Accounts::Only(&only)).await.unwrap()),
        Phase::Adopt,
        "no longer"
    );

    // An account's renewal date: an account written lists none.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount {
        renewal_date: Some(day("2026-08-01")),
        ..account("b")
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(check(&mut kept, "a renewal date").await, None);
}

/// A pass claims marked accounts rather than taking them: a node that dies before saving
/// their health leaves them to another once the lease lapses; a change during the pass
/// keeps its account marked; claims never overlap.
async fn claimed_marks_survive_a_pass_that_dies(store: &Store) {
    let seed = seed(store).await;
    let (a, b) = (seed.ids["a"], seed.ids["b"]);
    let t0 = noon(day("2026-07-01"));
    let first = store.claim_health_dirty(1, t0).await.unwrap();
    assert_eq!(first.accounts, vec![a.min(b)], "the limit holds");
    let t1 = t0 + TimeDelta::seconds(10);
    let second = store.claim_health_dirty(100, t1).await.unwrap();
    assert_eq!(
        second.accounts,
        vec![a.max(b)],
        "a claimed account goes to one claim only"
    );
    assert!(store.claim_health_dirty(100, t1).await.unwrap().accounts.is_empty());

    // The first pass's node dies. Before the lease lapses nobody takes its accounts; after,
    // another pass does.
    let lapse = laer_store::HEALTH_CLAIM_LEASE;
    let early = t0 + lapse - TimeDelta::seconds(1);
    assert!(store.claim_health_dirty(100, early).await.unwrap().accounts.is_empty());
    let retaken = store.claim_health_dirty(100, t0 + lapse).await.unwrap();
    assert_eq!(
        retaken.accounts, first.accounts,
        "a dead pass's accounts are claimed again"
    );
    // The dead pass's release, were it to come late, no longer removes the marks.
    store.release_health_claim(&first).await.unwrap();
    assert!(
        store
            .claim_health_dirty(100, t0 + lapse)
            .await
            .unwrap()
            .accounts
            .is_empty()
    );

    // Marked again during the second pass: its release leaves the account marked.
    store.mark_health_dirty(&second.accounts).await.unwrap();
    store.release_health_claim(&second).await.unwrap();
    let after = store.claim_health_dirty(100, t0).await.unwrap();
    assert_eq!(after.accounts, second.accounts, "a change during a pass is scored next");
    store.release_health_claim(&after).await.unwrap();
    store.release_health_claim(&retaken).await.unwrap();
    let far = t0 + lapse * 10;
    assert!(
        store.claim_health_dirty(100, far).await.unwrap().accounts.is_empty(),
        "released claims unmark their accounts"
    );

    // Passes on several nodes at once share out the marks without overlap.
    let marked: Vec<i64> = (10_000..10_400).collect();
    store.mark_health_dirty(&marked).await.unwrap();
    let passes: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_health_dirty(60, far).await.unwrap().accounts })
        })
        .collect();
    let mut claimed = Vec::new();
    for pass in passes {
        claimed.extend(pass.await.unwrap());
    }
    claimed.extend(store.claim_health_dirty(1_000, far).await.unwrap().accounts);
    claimed.sort_unstable();
    assert_eq!(claimed, marked, "every mark claimed exactly once");
}

/// Writers marking accounts (each batch in its own order) and passes claiming and
/// releasing them, side by side on several connections, never deadlock or fail.
/// 12 of the accounts 0 to 29, in an order of writer `w`'s and `round`'s own.
fn some_accounts(w: u64, round: u64) -> Vec<i64> {
    let mut ids: Vec<i64> = (0..30).collect();
    ids.sort_by_key(|id| (*id as u64 + 1).wrapping_mul(2_654_435_761 ^ (w * 97 + round)) % 1_009);
    ids.truncate(12);
    ids
}

async fn marking_and_claiming_at_once_never_deadlock(store: &Store) {
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..60u64 {
                    store.mark_health_dirty(&some_accounts(w, round)).await?;
                }
                Ok::<_, laer_store::StoreError>(())
            })
        })
        .collect();
    let passes: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..60 {
                    let claim = store.claim_health_dirty(10, Utc::now()).await?;
                    store.release_health_claim(&claim).await?;
                }
                Ok::<_, laer_store::StoreError>(())
            })
        })
        .collect();
    for task in writers.into_iter().chain(passes) {
        task.await.unwrap().expect("no deadlock, no failure");
    }
}

/// Writers marking kept phases and passes assessing them again, at once, never deadlock:
/// each marks in account order, and on PostgreSQL a clear skips a mark being made again.
async fn marking_and_clearing_past_phases_at_once_never_deadlock(store: &Store) {
    let on = day("2026-04-01");
    let every: Vec<(i64, Phase)> = (0..30).map(|id| (id, Phase::Adopt)).collect();
    let token = store.past_phases_token().await.unwrap();
    store.keep_phases("r", on, &every, token).await.unwrap();
    // A token read before a write to the portfolio: keeping with it marks what it keeps.
    let outdated = store.past_phases_token().await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[account("later")]).await.unwrap();
    tx.commit().await.unwrap();
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..40u64 {
                    let rows: Vec<(i64, Phase)> =
                        some_accounts(w, round).iter().map(|id| (*id, Phase::Renew)).collect();
                    store.keep_phases("r", on, &rows, outdated).await?;
                }
                Ok::<_, laer_store::StoreError>(())
            })
        })
        .collect();
    let passes: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..40 {
                    let seen = store.stale_phases(10).await?;
                    let rows: Vec<(i64, Phase)> = seen.iter().map(|m| (m.account_id, Phase::Expand)).collect();
                    store.refresh_phases("r", on, &rows).await?;
                    store.clear_stale_phases("r", &seen).await?;
                }
                Ok::<_, laer_store::StoreError>(())
            })
        })
        .collect();
    for task in writers.into_iter().chain(passes) {
        task.await.unwrap().expect("no deadlock, no failure");
    }
}

/// The demo's oracle: replaced whole, read back per account by day; a chance that is no
/// probability is refused and nothing is written.
async fn the_demo_oracle_is_kept_per_account(store: &Store) {
    let seed = seed(store).await;
    let (a, b) = (seed.ids["a"], seed.ids["b"]);
    assert!(store.demo_oracle().await.unwrap().is_empty());
    store
        .save_demo_oracle(&[
            (a, day("2026-03-01"), 0.25),
            (b, day("2026-01-01"), 0.5),
            (a, day("2025-03-01"), 0.1),
        ])
        .await
        .unwrap();
    let oracle = store.demo_oracle().await.unwrap();
    assert_eq!(oracle[&a], vec![(day("2025-03-01"), 0.1), (day("2026-03-01"), 0.25)]);
    assert_eq!(oracle[&b], vec![(day("2026-01-01"), 0.5)]);
    let refused = store.save_demo_oracle(&[(a, day("2026-04-01"), 1.5)]).await;
    assert!(
        matches!(refused, Err(laer_store::StoreError::Refused { .. })),
        "{refused:?}"
    );
    assert_eq!(store.demo_oracle().await.unwrap().len(), 2, "untouched");
    store.save_demo_oracle(&[(b, day("2026-02-01"), 0.0)]).await.unwrap();
    let oracle = store.demo_oracle().await.unwrap();
    assert_eq!(oracle.len(), 1, "replaced whole");
}

/// Issue 19, item 3: an owner's call on a renewal needs a reason and an amount of 0 or
/// more, is replaced when made again, and is audited; a quarter's forecast is kept once,
/// whichever node keeps it first.
async fn renewal_calls_are_audited_and_forecasts_kept_once(store: &Store) {
    use laer_core::forecast::renewal::{Category, Snapshot, quarter};
    let seed = seed(store).await;
    let a = seed.ids["a"];
    let on = day("2027-01-15");
    let units = |u: i64| Money::from_units(u).unwrap();
    let refused = |r: Result<(), laer_store::StoreError>, field: &str| match r {
        Err(laer_store::StoreError::Refused { field: f, .. }) => assert_eq!(f, field),
        other => panic!("{other:?}"),
    };
    refused(
        store
            .set_renewal_call(a, on, Category::Commit, units(100), "  ", "ann")
            .await,
        "reason",
    );
    refused(
        store
            .set_renewal_call(a, on, Category::Commit, units(-1), "why", "ann")
            .await,
        "amount",
    );
    assert!(matches!(
        store
            .set_renewal_call(999_999, on, Category::Commit, units(1), "why", "ann")
            .await,
        Err(laer_store::StoreError::NotFound(_))
    ));
    assert!(
        store.renewal_calls().await.unwrap().is_empty(),
        "nothing refused is kept"
    );
    store
        .set_renewal_call(a, on, Category::AtRisk, units(9_000), "budget cut", "ann")
        .await
        .unwrap();
    store
        .set_renewal_call(a, on, Category::Probable, units(11_000), "sponsor back", "bob")
        .await
        .unwrap();
    let calls = store.renewal_calls().await.unwrap();
    let (kept_on, call) = &calls[&a];
    assert_eq!(*kept_on, on);
    assert_eq!(
        (call.category, call.amount, call.reason.as_str(), call.set_by.as_str()),
        (Category::Probable, units(11_000), "sponsor back", "bob")
    );
    let audited: Vec<_> = store
        .audit_of_account(a)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "renewal_call.set")
        .collect();
    assert_eq!(audited.len(), 2);
    assert_eq!(audited[0].details["reason"], "sponsor back");

    let q = laer_core::bridge::Quarter::parse("2027-Q1").unwrap();
    let snapshot = Snapshot {
        quarter: q.to_string(),
        taken_on: day("2027-01-01"),
        rows: vec![],
        forecast: quarter(q, &[], &Default::default()),
    };
    assert!(store.keep_renewal_forecast(&snapshot).await.unwrap());
    let later = Snapshot {
        taken_on: day("2027-01-02"),
        ..snapshot.clone()
    };
    assert!(!store.keep_renewal_forecast(&later).await.unwrap(), "one per quarter");
    assert_eq!(store.renewal_forecasts().await.unwrap(), vec![snapshot]);
}

/// What `health_records` reads back is what was written, each kind of record, including
/// values a lossy read would change (a float's last digit, an empty list, a missing value),
/// and leaves out cases and answers from before the experience window.
async fn records_are_read_back_as_written(store: &Store) {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[account("a"), account("quiet")]).await.unwrap();
    let ids = tx.id_lookup(IdLookup::Accounts).await.unwrap();
    let a = ids["a"];
    let third = 1.0_f64 / 3.0;
    let lines = [
        NewSubscription {
            quantity: Some(third),
            units: Some("seats".into()),
            ..annual_line(a, "l-2")
        },
        NewSubscription {
            start_date: day("2024-07-01"),
            end_date: Some(day("2024-12-31")),
            bill_period_months: 1,
            ..annual_line(a, "l-1")
        },
    ];
    tx.upsert(&lines).await.unwrap();
    let at = |s: &str| -> DateTime<Utc> { s.parse().unwrap() };
    let case = |id: &str, opened: &str, closed: Option<&str>| NewSupportCase {
        external_id: id.into(),
        account_id: a,
        opened_at: at(opened),
        closed_at: closed.map(at),
        severity: 2,
        kind: CaseKind::Defect,
        status: if closed.is_some() {
            CaseStatus::Closed
        } else {
            CaseStatus::Open
        },
        subject: Some("not read by health".into()),
    };
    tx.upsert(&[
        case("c-old", "2026-01-02T10:00:00Z", Some("2026-01-05T10:00:00Z")),
        case("c-long", "2026-01-10T10:00:00Z", Some("2026-06-20T10:00:00Z")),
        case("c-new", "2026-06-25T09:30:00.000001Z", None),
    ])
    .await
    .unwrap();
    let touchpoint = |id: &str, held: &str, teams: &[&str]| NewTouchpoint {
        external_id: id.into(),
        account_id: a,
        held_at: at(held),
        kind: TouchpointKind::Meeting,
        purpose: None,
        status: MeetingStatus::Held,
        duration_minutes: None,
        stakeholder_teams: teams.iter().map(|t| (*t).to_string()).collect(),
        contact_ids: Vec::new(),
        team_member_ids: Vec::new(),
        summary: None,
        next_step: None,
    };
    tx.upsert(&[
        touchpoint("t-2", "2026-06-10T15:00:00Z", &[]),
        touchpoint("t-1", "2026-03-10T15:00:00Z", &["security", "executive"]),
    ])
    .await
    .unwrap();
    let answer = |id: &str, on: &str, contact: Option<&str>| NewSurveyResponse {
        external_id: id.into(),
        account_id: a,
        contact_ref: contact.map(Into::into),
        survey: SurveyKind::Nps,
        score: 9,
        responded_at: at(on),
        comment: Some("not read by health".into()),
    };
    tx.upsert(&[
        answer("s-old", "2025-12-01T08:00:00Z", Some("ada")),
        answer("s-new", "2026-06-01T08:00:00Z", None),
    ])
    .await
    .unwrap();
    let contact = |id: &str, team: Option<&str>| NewContact {
        external_id: id.into(),
        account_id: a,
        name: None,
        email: None,
        phone: None,
        title: None,
        stakeholder_team: team.map(Into::into),
        role: None,
    };
    tx.upsert(&[contact("p-1", Some("security")), contact("p-2", None)])
        .await
        .unwrap();
    tx.upsert(&[NewMeetingCadence::new(a, "security", 30).unwrap()])
        .await
        .unwrap();
    let outcome = |id: &str, baseline: f64| NewOutcome {
        external_id: id.into(),
        account_id: a,
        name: format!("outcome {id}"),
        unit: None,
        baseline,
        target: 1e300,
        start_date: Some(day("2026-01-01")),
        target_date: None,
        direction: laer_core::model::Direction::Lower,
    };
    let outcomes = [outcome("o-1", 0.1 + 0.2), outcome("o-2", 123_456_789.123_456_78)];
    tx.upsert(&outcomes).await.unwrap();
    let o1 = tx.id_lookup(IdLookup::Outcomes).await.unwrap()["o-1"];
    let measured = [(day("2026-05-01"), third), (day("2026-02-01"), 5e-324)];
    let measurements: Vec<NewOutcomeMeasurement> = measured
        .iter()
        .map(|&(measured_on, value)| NewOutcomeMeasurement {
            outcome_id: o1,
            measured_on,
            value,
            source: None,
            note: None,
            recorded_by: None,
        })
        .collect();
    tx.upsert(&measurements).await.unwrap();
    tx.commit().await.unwrap();

    let today = day("2026-06-30");
    let read = store
        .health_records(Accounts::All, today, Some(day("2026-02-01")))
        .await
        .unwrap();
    let as_read = |t: &NewTouchpoint, teams: &[&str]| NewTouchpoint {
        stakeholder_teams: teams.iter().map(|t| (*t).to_string()).collect(),
        ..t.clone()
    };
    let case_read = |id: &str| {
        let c = [
            case("c-long", "2026-01-10T10:00:00Z", Some("2026-06-20T10:00:00Z")),
            case("c-new", "2026-06-25T09:30:00.000001Z", None),
        ]
        .into_iter()
        .find(|c| c.external_id == id)
        .unwrap();
        NewSupportCase { subject: None, ..c }
    };
    let line = |l: &NewSubscription| laer_core::health::Line {
        product: l.product.clone(),
        start_date: l.start_date,
        end_date: l.end_date,
        mrr: l.mrr,
        quantity: l.quantity,
        units: l.units.clone(),
        bill_period_months: l.bill_period_months,
    };
    let expected = laer_core::health::AccountRecords {
        account_id: a,
        lines: vec![line(&lines[1]), line(&lines[0])],
        relationship: laer_core::health::Relationship {
            cases: vec![case_read("c-long"), case_read("c-new")],
            surveys: vec![NewSurveyResponse {
                comment: None,
                ..answer("s-new", "2026-06-01T08:00:00Z", None)
            }],
            touchpoints: vec![
                as_read(
                    &touchpoint("t-1", "2026-03-10T15:00:00Z", &[]),
                    &["executive", "security"],
                ),
                touchpoint("t-2", "2026-06-10T15:00:00Z", &[]),
            ],
            contact_teams: vec![Some("security".into()), None],
            cadences: [("security".to_string(), 30)].into(),
            outcomes: outcomes.to_vec(),
            measurements: vec![vec![measured[1], measured[0]], Vec::new()],
        },
        ..Default::default()
    };
    assert_eq!(read.len(), 2, "every account, in id order");
    assert_eq!(read[0], expected);
    assert_eq!(
        read[1],
        laer_core::health::AccountRecords {
            account_id: ids["quiet"],
            ..Default::default()
        }
    );
}

/// The pages keep every account's health and read again only what each save changed:
/// each save lists its accounts under the revision it made; a reader too far behind, or
/// after a save of too many, is told to read everything again.
async fn each_save_of_health_lists_the_accounts_it_changed(store: &Store) {
    let seed = seed(store).await;
    let (a, b) = (seed.ids["a"], seed.ids["b"]);
    let model = HealthModel::default();
    let as_of = day("2026-06-30");
    let assessed = store.assess(&model, as_of, Accounts::All).await.unwrap();
    let of = |ids: &[i64]| -> Vec<laer_core::health::Assessment> {
        assessed
            .iter()
            .filter(|x| ids.contains(&x.account_id))
            .cloned()
            .collect()
    };
    let start = store.health_revision().await.unwrap();
    let changes = |since| async move { store.changes(Listed::Health, since).await.unwrap() };
    assert_eq!(changes(start).await.accounts, Some(vec![]), "nothing saved since");

    store.save_health(&of(&[b, a]), noon(as_of)).await.unwrap();
    store.save_health(&of(&[b]), noon(as_of)).await.unwrap();
    let mut both = vec![a, b];
    both.sort_unstable();
    let now = changes(start).await;
    assert_eq!((now.revision, now.accounts), (start + 2, Some(both.clone())));
    assert_eq!(changes(start + 1).await.accounts, Some(vec![b]));
    assert_eq!(changes(start + 2).await.accounts, Some(vec![]));
    let briefs = store
        .health_briefs_of(day("2026-07-04"), Accounts::Only(&[b]))
        .await
        .unwrap();
    assert_eq!(
        briefs.keys().copied().collect::<Vec<_>>(),
        [b],
        "only the account asked for"
    );
    assert_eq!(briefs[&b], store.health_briefs(day("2026-07-04")).await.unwrap()[&b]);
    assert_eq!(changes(start + 3).await.accounts, None, "a revision not made yet");

    // A save of more accounts than are listed: every account is read again.
    let many: Vec<laer_core::health::Assessment> = (0..=laer_store::CHANGES_LISTED as i64)
        .map(|i| laer_core::health::Assessment {
            account_id: 1_000_000 + i,
            ..assessed[0].clone()
        })
        .collect();
    store.save_health(&many, noon(as_of)).await.unwrap();
    assert_eq!(changes(start + 2).await.accounts, None);
    assert_eq!(changes(start + 3).await.accounts, Some(vec![]));

    // Only the latest saves are kept.
    for _ in 0..laer_store::CHANGES_KEPT {
        store.save_health(&of(&[a]), noon(as_of)).await.unwrap();
    }
    let last = start + 3 + laer_store::CHANGES_KEPT;
    assert_eq!(changes(last - laer_store::CHANGES_KEPT).await.accounts, Some(vec![a]));
    assert_eq!(
        changes(last - laer_store::CHANGES_KEPT - 1).await.accounts,
        None,
        "forgotten"
    );
}

laer_store::backend_tests!(
    each_save_of_health_lists_the_accounts_it_changed,
    records_are_read_back_as_written,
    renewal_calls_are_audited_and_forecasts_kept_once,
    usage_agrees_with_the_reference_count,
    first_days_follow_the_events_as_they_arrive,
    added_events_keep_the_rollups_exact,
    a_load_beside_ingest_neither_fails,
    departments_and_long_windows_agree_with_the_reference,
    past_phases_are_kept_once_and_marked_by_history,
    marking_and_claiming_at_once_never_deadlock,
    marking_and_clearing_past_phases_at_once_never_deadlock,
    writes_mark_accounts_for_recomputation,
    kept_health_records_follow_each_write,
    claimed_marks_survive_a_pass_that_dies,
    health_is_kept_per_day_and_phases_set_by_hand_are_audited,
    the_demo_oracle_is_kept_per_account,
);
