//! Touchpoints: logged, edited (version-checked) and deleted in the web app, imported by
//! external id; their teams, contacts and team members in link tables; each change
//! audited and marking the account's health for computing again.

use std::collections::BTreeMap;

use laer_core::access::Role;
use laer_core::model::*;
use laer_store::{IdLookup, Store, StoreError};

async fn account(store: &Store, external_id: &str) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount {
        external_id: external_id.into(),
        name: Some(format!("{external_id} Corp")),
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: BTreeMap::new(),
    }])
    .await
    .unwrap();
    let id = tx.id_lookup(IdLookup::Accounts).await.unwrap()[external_id];
    tx.commit().await.unwrap();
    id
}

/// A contact of the account, in the team; its id.
async fn contact(store: &Store, account_id: i64, external_id: &str, team: &str) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewContact {
        external_id: external_id.into(),
        account_id,
        name: Some(format!("{external_id} name")),
        email: None,
        phone: None,
        title: None,
        stakeholder_team: Some(team.into()),
        role: None,
    }])
    .await
    .unwrap();
    let id = tx.id_lookup(IdLookup::Contacts).await.unwrap()[external_id];
    tx.commit().await.unwrap();
    id
}

async fn member(store: &Store, external_id: &str) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewTeamMember {
        external_id: external_id.into(),
        name: format!("{external_id} of ours"),
        email: Some(format!("{external_id}@vendor.example")),
        roles: Some(vec![TeamRole::Csm]),
    }])
    .await
    .unwrap();
    let id = tx.id_lookup(IdLookup::TeamMembers).await.unwrap()[external_id];
    tx.commit().await.unwrap();
    id
}

fn touchpoint(external_id: &str, account_id: i64) -> NewTouchpoint {
    NewTouchpoint {
        external_id: external_id.into(),
        account_id,
        held_at: "2026-06-01T14:30:00Z".parse().unwrap(),
        kind: TouchpointKind::Meeting,
        purpose: Some("check_in".into()),
        status: MeetingStatus::Held,
        duration_minutes: Some(45),
        stakeholder_teams: vec!["security".into(), "executive".into()],
        contact_ids: vec![],
        team_member_ids: vec![],
        summary: Some("Walked through the <firewall> rollout".into()),
        next_step: Some("Send the sizing sheet".into()),
    }
}

async fn actions(store: &Store, account: i64) -> Vec<String> {
    let mut audit: Vec<String> = store
        .audit_of_account(account)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    audit.reverse();
    audit
}

async fn dirty(store: &Store) -> Vec<i64> {
    laer_store::test_support::claim_marked(store).await
}

async fn logged_edited_and_deleted_with_their_people_each_change_audited(store: &Store) {
    let acme = account(store, "acme").await;
    let dana = contact(store, acme, "dana", "executive").await;
    let sam = contact(store, acme, "sam", "security").await;
    let kim = member(store, "kim").await;
    let user = store
        .upsert_user("kim@vendor.example", "Kim", Role::Csm, "x", Some(kim))
        .await
        .unwrap();
    dirty(store).await;

    let mut t = touchpoint("web-1", acme);
    t.contact_ids = vec![sam, dana, sam];
    t.team_member_ids = vec![kim];
    let id = store
        .create_touchpoint(&t, Some(user.id), "Kim <kim@vendor.example>")
        .await
        .unwrap();
    assert_eq!(dirty(store).await, [acme], "health marked in the same transaction");
    let stored = store.touchpoint(id).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.created_by, Some(user.id));
    assert_eq!(stored.created_by_name.as_deref(), Some("Kim"));
    assert!(stored.updated_at.is_some());
    assert_eq!(
        stored.record.stakeholder_teams,
        ["executive", "security"],
        "each once, sorted"
    );
    let mut contacts = vec![dana, sam];
    contacts.sort();
    assert_eq!(stored.record.contact_ids, contacts, "each once");
    assert_eq!(stored.record.team_member_ids, [kim]);
    assert_eq!(stored.team_members[0].name, "kim of ours");
    assert_eq!(stored.record.summary, t.summary, "text kept as written");
    let last = store.last_touchpoint_by_contact(acme).await.unwrap();
    assert_eq!(last.get(&dana), Some(&t.held_at));
    assert_eq!(last.len(), 2);

    // An edit at the version read: teams and people replaced, the version moves on.
    let mut edit = stored.record.clone();
    edit.kind = TouchpointKind::Call;
    edit.stakeholder_teams = vec!["network".into()];
    edit.contact_ids = vec![dana];
    edit.held_at = "2026-06-02T09:00:00Z".parse().unwrap();
    store.update_touchpoint(id, 1, &edit, "Kim").await.unwrap();
    let after = store.touchpoint(id).await.unwrap().unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(after.record.kind, TouchpointKind::Call);
    assert_eq!(after.record.stakeholder_teams, ["network"]);
    assert_eq!(after.record.contact_ids, [dana]);
    assert_eq!(after.record.external_id, "web-1", "the external id stays");
    assert_eq!(after.created_by, Some(user.id), "who logged it stays");
    assert_eq!(dirty(store).await, [acme]);
    let last = store.last_touchpoint_by_contact(acme).await.unwrap();
    assert_eq!(last.get(&sam), None, "sam no longer took part");
    // The account's last touch: the latest held, none before it was held.
    let touches = store.last_touches(&[acme, acme + 1000], edit.held_at).await.unwrap();
    assert_eq!(touches.get(&acme), Some(&edit.held_at));
    assert_eq!(touches.len(), 1, "only accounts with a touch");
    let before = edit.held_at - chrono::TimeDelta::seconds(1);
    assert_eq!(store.last_touches(&[acme], before).await.unwrap().get(&acme), None);
    assert!(store.last_touches(&[], edit.held_at).await.unwrap().is_empty());

    // A second edit made from the first version is stale: refused, nothing changed.
    let mut late = stored.record.clone();
    late.summary = Some("an older view".into());
    let err = store.update_touchpoint(id, 1, &late, "Lee").await.unwrap_err();
    assert!(matches!(err, StoreError::Stale { .. }), "{err:?}");
    assert_eq!(store.touchpoint(id).await.unwrap().unwrap(), after);
    let err = store.delete_touchpoint(id, 1, "Lee").await.unwrap_err();
    assert!(matches!(err, StoreError::Stale { .. }), "{err:?}");
    assert!(store.touchpoint(id).await.unwrap().is_some());

    store.delete_touchpoint(id, 2, "Kim").await.unwrap();
    assert!(store.touchpoint(id).await.unwrap().is_none());
    assert!(store.touchpoints_of(acme).await.unwrap().is_empty());
    assert!(
        store.last_touchpoint_by_contact(acme).await.unwrap().is_empty(),
        "links gone"
    );
    assert_eq!(dirty(store).await, [acme]);
    assert!(matches!(
        store.delete_touchpoint(id, 2, "Kim").await.unwrap_err(),
        StoreError::NotFound(_)
    ));
    assert_eq!(
        actions(store, acme).await,
        ["touchpoint.created", "touchpoint.updated", "touchpoint.deleted"]
    );
}

async fn a_contact_of_another_account_or_an_unknown_member_is_refused(store: &Store) {
    let acme = account(store, "acme").await;
    let globex = account(store, "globex").await;
    let theirs = contact(store, globex, "hank", "executive").await;
    let mut t = touchpoint("web-2", acme);
    t.contact_ids = vec![theirs];
    let err = store.create_touchpoint(&t, None, "Kim").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Refused { field, .. } if field == "contacts"),
        "{err:?}"
    );
    t.contact_ids = vec![];
    t.team_member_ids = vec![4242];
    let err = store.create_touchpoint(&t, None, "Kim").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Refused { field, .. } if field == "team_members"),
        "{err:?}"
    );
    t.team_member_ids = vec![];
    t.summary = Some("x".repeat(100_000));
    let err = store.create_touchpoint(&t, None, "Kim").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Refused { field, .. } if field == "summary"),
        "{err:?}"
    );
    // The import path refuses the same contact, naming the field.
    let mut imported = touchpoint("imp-1", acme);
    imported.contact_ids = vec![theirs];
    let mut tx = store.begin_write().await.unwrap();
    let err = tx.upsert(&[imported]).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Refused { field, .. } if field == "contacts"),
        "{err:?}"
    );
    drop(tx);
    assert!(store.touchpoints_of(acme).await.unwrap().is_empty(), "nothing written");
    assert!(actions(store, acme).await.is_empty());
}

async fn an_import_repeated_changes_nothing_and_a_change_of_people_alone_is_written(store: &Store) {
    let acme = account(store, "acme").await;
    let dana = contact(store, acme, "dana", "executive").await;
    let kim = member(store, "kim").await;
    let mut t = touchpoint("cal-1", acme);
    t.contact_ids = vec![dana];
    let write = |records: Vec<NewTouchpoint>| async move {
        let mut tx = store.begin_write().await.unwrap();
        let count = tx.upsert(&records).await.unwrap();
        tx.commit().await.unwrap();
        count
    };
    assert_eq!(write(vec![t.clone(), touchpoint("cal-2", acme)]).await.written, 2);
    dirty(store).await;
    let again = write(vec![t.clone(), touchpoint("cal-2", acme)]).await;
    assert_eq!((again.written, again.unchanged), (0, 2));
    assert!(dirty(store).await.is_empty(), "nothing changed, nothing to recompute");
    let before = store.touchpoints_of(acme).await.unwrap();
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|t| t.created_by.is_none() && t.version == 1));

    // Only the people change: written, and health marked.
    t.team_member_ids = vec![kim];
    t.stakeholder_teams = vec!["executive".into()];
    let changed = write(vec![t.clone(), touchpoint("cal-2", acme)]).await;
    assert_eq!((changed.written, changed.unchanged), (1, 1));
    assert_eq!(dirty(store).await, [acme]);
    let stored = store.touchpoints_of(acme).await.unwrap();
    let cal1 = stored.iter().find(|s| s.record.external_id == "cal-1").unwrap();
    assert_eq!(cal1.record.stakeholder_teams, ["executive"]);
    assert_eq!(cal1.record.team_member_ids, [kim]);
    assert_eq!(cal1.record.contact_ids, [dana]);
    assert_eq!(store.counts().await.unwrap().meetings, 2);
}

laer_store::backend_tests!(
    logged_edited_and_deleted_with_their_people_each_change_audited,
    a_contact_of_another_account_or_an_unknown_member_is_refused,
    an_import_repeated_changes_nothing_and_a_change_of_people_alone_is_written,
);

/// Migration 0014 on meetings stored before it: the free-text kind becomes the purpose
/// (qbr and ebr business reviews, a kind's own name that kind), the team a link, the notes
/// the summary, ids kept, and new touchpoints numbered after them. Run by putting the
/// meetings table back as migration 0001 made it and applying 0014's script again.
async fn stored_meetings_become_touchpoints(store: &Store, url: &str, backend: laer_store::Backend) {
    let acme = account(store, "acme").await;
    let (id_type, script) = match backend {
        laer_store::Backend::Sqlite => (
            "INTEGER PRIMARY KEY",
            include_str!("../migrations/sqlite/0014_touchpoints.sql"),
        ),
        laer_store::Backend::Postgres => (
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            include_str!("../migrations/postgres/0014_touchpoints.sql"),
        ),
    };
    let before = format!(
        "DROP TABLE touchpoint_members; DROP TABLE touchpoint_contacts; DROP TABLE touchpoint_teams; \
         DROP TABLE touchpoints; \
         CREATE TABLE meetings (id {id_type}, external_id TEXT NOT NULL UNIQUE, \
         account_id BIGINT NOT NULL REFERENCES accounts(id), held_at BIGINT NOT NULL, stakeholder_team TEXT, \
         kind TEXT, status TEXT NOT NULL, duration_minutes INTEGER, notes TEXT); \
         INSERT INTO meetings (id, external_id, account_id, held_at, stakeholder_team, kind, status, duration_minutes, notes) VALUES \
         (7, 'm-1', {acme}, 1700000000000000, 'executive', 'qbr', 'held', 60, 'Agreed the target'), \
         (8, 'm-2', {acme}, 1700000100000000, NULL, 'check_in', 'missed', NULL, NULL), \
         (9, 'm-3', {acme}, 1700000200000000, 'network', 'call', 'held', 30, NULL), \
         (10, 'm-4', {acme}, 1700000300000000, '', NULL, 'held', NULL, NULL)"
    );
    let run = |sql: String| async move {
        match backend {
            laer_store::Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await.unwrap();
                pool.close().await;
            }
            laer_store::Backend::Postgres => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    };
    run(before).await;
    run(script.to_string()).await;
    let mut stored = store.touchpoints_of(acme).await.unwrap();
    stored.sort_by_key(|t| t.id);
    let seen: Vec<_> = stored
        .iter()
        .map(|t| {
            (
                t.id,
                t.record.kind,
                t.record.purpose.as_deref(),
                t.record.stakeholder_teams.clone(),
                t.record.summary.as_deref(),
                t.version,
                t.created_by,
            )
        })
        .collect();
    use TouchpointKind::*;
    assert_eq!(
        seen,
        [
            (
                7,
                BusinessReview,
                Some("qbr"),
                vec!["executive".to_string()],
                Some("Agreed the target"),
                1,
                None
            ),
            (8, Meeting, Some("check_in"), vec![], None, 1, None),
            (9, Call, None, vec!["network".to_string()], None, 1, None),
            (10, Meeting, None, vec![], None, 1, None),
        ]
    );
    let (kind, purpose) = TouchpointKind::of_legacy("qbr");
    assert_eq!(
        (kind, purpose.as_deref()),
        (BusinessReview, Some("qbr")),
        "the core's rule agrees"
    );
    let new = store
        .create_touchpoint(&touchpoint("web-9", acme), None, "Kim")
        .await
        .unwrap();
    assert!(new > 10, "numbered after the migrated ones: {new}");
}

#[tokio::test]
async fn stored_meetings_become_touchpoints_on_sqlite() {
    let db = laer_store::test_support::TestDatabase::new(laer_store::Backend::Sqlite)
        .await
        .unwrap();
    stored_meetings_become_touchpoints(&db.store, &db.url, laer_store::Backend::Sqlite).await;
    db.store.close().await;
}

#[tokio::test]
async fn stored_meetings_become_touchpoints_on_postgres() {
    if let Some(db) = laer_store::test_support::TestDatabase::new(laer_store::Backend::Postgres).await {
        stored_meetings_become_touchpoints(&db.store, &db.url, laer_store::Backend::Postgres).await;
        db.store.close().await;
    }
}
