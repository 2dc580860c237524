//! Keeping logins safe, on both backends (issue 15): failed logins counted in the
//! database — one count per key, every node adding its own — starting over after a quiet
//! window, pruned when old, and audited in the same transaction; sessions ended at once;
//! the demo workspace flag.

use chrono::{SubsecRound, TimeDelta, Utc};
use laer_core::access::Role;
use laer_core::model::NewAuditEntry;
use laer_core::throttle::{Count, LONGEST_WINDOW};
use laer_store::{Store, ThrottleKey};

fn key(scope: &'static str, subject: &str) -> ThrottleKey {
    ThrottleKey {
        scope,
        subject: subject.to_string(),
    }
}

async fn failures_are_counted_per_key_and_start_over(store: &Store) {
    let pair = key("login_pair", "kim@example.com\n203.0.113.9");
    let address = key("login_address", "203.0.113.9");
    let other = key("login_pair", "kim@example.com\n198.51.100.1");
    let window = TimeDelta::hours(1);
    let t = Utc::now().trunc_subsecs(0) - TimeDelta::minutes(70);
    for n in 1..=3 {
        let counts = store
            .count_throttled(
                &[pair.clone(), address.clone()],
                window,
                t + TimeDelta::seconds(n),
                None,
            )
            .await
            .unwrap();
        assert_eq!(counts.iter().map(|c| c.events).collect::<Vec<_>>(), [n, n]);
    }
    let seen = store
        .throttle_counts(&[pair.clone(), address.clone(), other.clone()])
        .await
        .unwrap();
    assert_eq!(
        seen,
        [
            Some(Count {
                events: 3,
                last_at: t + TimeDelta::seconds(3)
            }),
            Some(Count {
                events: 3,
                last_at: t + TimeDelta::seconds(3)
            }),
            None
        ]
    );
    // After a quiet window the count starts over, and what is that old is pruned.
    let later = t + TimeDelta::seconds(3) + window + TimeDelta::seconds(1);
    let counts = store
        .count_throttled(std::slice::from_ref(&pair), window, later, None)
        .await
        .unwrap();
    assert_eq!(counts[0].events, 1);
    assert_eq!(
        store.throttle_counts(std::slice::from_ref(&address)).await.unwrap(),
        [None]
    );
    // A success clears the pair, not the address.
    store
        .count_throttled(&[pair.clone(), address.clone()], window, Utc::now(), None)
        .await
        .unwrap();
    store.clear_throttled(std::slice::from_ref(&pair)).await.unwrap();
    let seen = store.throttle_counts(&[pair, address]).await.unwrap();
    assert_eq!(seen[0], None);
    assert_eq!(seen[1].map(|c| c.events), Some(1));
}

async fn counts_from_many_at_once_all_count(store: &Store) {
    let pair = key("login_pair", "kim@example.com\n203.0.113.9");
    let now = Utc::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let pair = pair.clone();
            tokio::spawn(async move {
                store
                    .count_throttled(&[pair], TimeDelta::hours(1), now, None)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let seen = store.throttle_counts(&[pair]).await.unwrap();
    assert_eq!(seen[0].map(|c| c.events), Some(8));
}

async fn old_counts_are_pruned_and_failures_audited(store: &Store) {
    let old = key("login_address", "192.0.2.1");
    let ancient = Utc::now() - LONGEST_WINDOW - TimeDelta::minutes(5);
    store
        .count_throttled(std::slice::from_ref(&old), TimeDelta::hours(1), ancient, None)
        .await
        .unwrap();
    let entry = NewAuditEntry {
        at: Utc::now(),
        actor: "login from 203.0.113.9".into(),
        action: "user.login_failed".into(),
        details: serde_json::json!({"email": "kim@example.com", "address": "203.0.113.9"}),
    };
    store
        .count_throttled(
            &[key("login_address", "203.0.113.9")],
            TimeDelta::hours(1),
            Utc::now(),
            Some(&entry),
        )
        .await
        .unwrap();
    assert_eq!(store.throttle_counts(&[old]).await.unwrap(), [None], "pruned");
    let log = laer_store::test_support::audited(store, "user.login_failed").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].actor, "login from 203.0.113.9");
}

async fn sessions_end_at_once_and_the_demo_flag_holds(store: &Store) {
    let kim = store
        .upsert_user("kim@example.com", "Kim Lee", Role::Csm, "$argon2id$v=19$test", None)
        .await
        .unwrap();
    let a = store.create_session(kim.id).await.unwrap();
    let b = store.create_session(kim.id).await.unwrap();
    assert_eq!(store.user_id_by_email(" KIM@example.com").await.unwrap(), Some(kim.id));
    assert_eq!(store.user_id_by_email("nobody@example.com").await.unwrap(), None);
    assert_eq!(store.end_sessions_of(kim.id, "cli:root").await.unwrap(), Some(2));
    assert!(store.session(&a.secret).await.unwrap().is_none());
    assert!(store.session(&b.secret).await.unwrap().is_none());
    assert_eq!(store.end_sessions_of(9_999, "cli:root").await.unwrap(), None);
    let log = laer_store::test_support::audited(store, "user.sessions_ended").await;
    assert_eq!(log.len(), 1);

    assert!(!store.is_demo_workspace().await.unwrap());
    store.mark_demo_workspace().await.unwrap();
    store.mark_demo_workspace().await.unwrap();
    assert!(store.is_demo_workspace().await.unwrap());
}

laer_store::backend_tests!(
    failures_are_counted_per_key_and_start_over,
    counts_from_many_at_once_all_count,
    old_counts_are_pruned_and_failures_audited,
    sessions_end_at_once_and_the_demo_flag_holds,
);
