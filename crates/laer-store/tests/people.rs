//! Stakeholders and outcomes recorded by hand, on both backends: contacts added, edited
//! and deactivated (an email used at the account refused, a stale edit refused, a repeat
//! harmless), cadences set and removed, outcomes defined and edited, measurements recorded
//! (one per day, the second replacing the first), and the customer's measurements through
//! a share link — only where the plan allows, limited in rate. Every change is audited and
//! marks the account's health.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeDelta};
use laer_core::entries::{ContactInput, MeasurementInput, OutcomeInput};
use laer_core::model::*;
use laer_store::{CustomerWrite, IdLookup, RateLimit, Store, StoreError, Written};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

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

fn contact(account: i64, external_id: &str, name: &str, email: &str) -> NewContact {
    ContactInput {
        name,
        email,
        phone: "+1 555 0100",
        title: "CIO",
        stakeholder_team: "Executive",
        role: "executive sponsor",
    }
    .check(account, external_id)
    .unwrap()
}

async fn contacts_are_added_edited_and_deactivated(store: &Store) {
    let acme = account(store, "acme").await;
    let other = account(store, "other").await;
    laer_store::test_support::claim_marked(store).await;

    let ada = contact(acme, "c-ada", "Ada Obi", "ada@acme.example");
    let (added, written) = store.add_contact(&ada, "kim").await.unwrap();
    assert_eq!(written, Written::Created);
    assert_eq!((added.version, added.active()), (1, true));
    assert_eq!(added.fields.phone.as_deref(), Some("+1 555 0100"));
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);

    // The same contact again: nothing changes, nothing is audited.
    let (again, written) = store.add_contact(&ada, "kim").await.unwrap();
    assert_eq!((again.id, written), (added.id, Written::Unchanged));
    // Its external id with other values is refused.
    let clash = NewContact {
        name: Some("Someone else".into()),
        ..ada.clone()
    };
    assert!(matches!(
        store.add_contact(&clash, "kim").await,
        Err(StoreError::Refused { field, .. }) if field == "external_id"
    ));

    // An email another contact of the account has, whatever its case: refused, naming
    // the field; at another account it is fine.
    let dup = contact(acme, "c-dup", "Ada Again", "ADA@Acme.Example");
    match store.add_contact(&dup, "kim").await {
        Err(StoreError::Refused { field, message }) => {
            assert_eq!(field, "email");
            assert!(message.contains("Ada Obi"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let elsewhere = contact(other, "c-other", "Ada Obi", "ada@acme.example");
    store.add_contact(&elsewhere, "kim").await.unwrap();
    let bob = contact(acme, "c-bob", "Bob Lee", "bob@acme.example");
    let (bob, _) = store.add_contact(&bob, "kim").await.unwrap();

    // An edit at the version opened changes the contact and bumps its version.
    let edited = NewContact {
        title: Some("CTO".into()),
        email: Some("ada.obi@acme.example".into()),
        ..ada.clone()
    };
    let (after, written) = store.edit_contact(added.id, 1, &edited, "kim").await.unwrap();
    assert_eq!((written, after.version), (Written::Changed, 2));
    assert_eq!(after.fields.title.as_deref(), Some("CTO"));
    // The same edit sent again (a form posted twice): unchanged, not stale.
    let (_, written) = store.edit_contact(added.id, 1, &edited, "kim").await.unwrap();
    assert_eq!(written, Written::Unchanged);
    // A different edit made on the version before: refused as stale, nothing written.
    let stale = NewContact {
        title: Some("CFO".into()),
        ..edited.clone()
    };
    assert!(matches!(
        store.edit_contact(added.id, 1, &stale, "lee").await,
        Err(StoreError::Stale { .. })
    ));
    assert_eq!(
        store.contact(added.id).await.unwrap().unwrap().fields.title.as_deref(),
        Some("CTO")
    );
    // Taking another contact's email in an edit is refused too.
    let taken = NewContact {
        email: Some("Bob@acme.example".into()),
        ..edited.clone()
    };
    assert!(matches!(
        store.edit_contact(added.id, 2, &taken, "kim").await,
        Err(StoreError::Refused { field, .. }) if field == "email"
    ));
    // An import of the contact counts as a change: the version moves on.
    let mut tx = store.begin_write().await.unwrap();
    let imported = NewContact {
        phone: Some("+1 555 0199".into()),
        ..edited.clone()
    };
    tx.upsert(&[imported]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.contact(added.id).await.unwrap().unwrap().version, 3);

    // Deactivated: listed last, inactive; no longer counted for health; again harmless.
    laer_store::test_support::claim_marked(store).await;
    let (gone, written) = store.set_contact_active(added.id, 3, false, "kim").await.unwrap();
    assert_eq!((written, gone.active(), gone.version), (Written::Changed, false, 4));
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);
    let (_, written) = store.set_contact_active(added.id, 3, false, "kim").await.unwrap();
    assert_eq!(written, Written::Unchanged);
    assert!(matches!(
        store.set_contact_active(bob.id, 7, false, "kim").await,
        Err(StoreError::Stale { .. })
    ));
    // The header's search: active contacts by name, email or title, wildcards literal.
    let found = |text: &'static str| async move {
        store
            .search_contacts(text, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.fields.external_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(found("BOB").await, ["c-bob"]);
    assert_eq!(
        found("acme.example").await,
        ["c-other", "c-bob"],
        "by name; the deactivated Ada is left out"
    );
    assert_eq!(found("%").await, Vec::<String>::new(), "% is a literal");
    assert_eq!(
        store.search_contacts("a", 1).await.unwrap().len(),
        1,
        "at most the limit"
    );
    let listed = store.contacts_of(acme).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|c| (c.fields.external_id.as_str(), c.active()))
            .collect::<Vec<_>>(),
        [("c-bob", true), ("c-ada", false)]
    );
    let records = store
        .health_records(laer_store::Accounts::Only(&[acme]), day("2026-06-30"), None)
        .await
        .unwrap();
    assert_eq!(records[0].relationship.contact_teams.len(), 1, "only Bob counts");
    // An inactive contact's address is still taken: reactivate them instead.
    let back = contact(acme, "c-back", "Ada Back", "ada.obi@acme.example");
    match store.add_contact(&back, "kim").await {
        Err(StoreError::Refused { message, .. }) => assert!(message.contains("reactivate"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let (back, _) = store.set_contact_active(added.id, 4, true, "kim").await.unwrap();
    assert!(back.active());

    assert_eq!(
        actions(store, acme).await,
        [
            "contact.added",
            "contact.added",
            "contact.edited",
            "contact.deactivated",
            "contact.reactivated"
        ]
    );
}

async fn cadences_are_set_changed_and_removed(store: &Store) {
    let acme = account(store, "acme").await;
    laer_store::test_support::claim_marked(store).await;
    let cadence = NewMeetingCadence::new(acme, "Network", 30).unwrap();
    assert_eq!(
        store.set_meeting_cadence(&cadence, "kim").await.unwrap(),
        Written::Created
    );
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);
    assert_eq!(
        store.set_meeting_cadence(&cadence, "kim").await.unwrap(),
        Written::Unchanged
    );
    let monthly = NewMeetingCadence::new(acme, "network", 14).unwrap();
    assert_eq!(
        store.set_meeting_cadence(&monthly, "kim").await.unwrap(),
        Written::Changed
    );
    assert_eq!(store.meeting_cadences_of(acme).await.unwrap(), vec![monthly]);
    assert_eq!(
        store.remove_meeting_cadence(acme, "network", "kim").await.unwrap(),
        Written::Changed
    );
    assert_eq!(
        store.remove_meeting_cadence(acme, "network", "kim").await.unwrap(),
        Written::Unchanged
    );
    assert!(store.meeting_cadences_of(acme).await.unwrap().is_empty());
    assert!(matches!(
        store
            .set_meeting_cadence(&NewMeetingCadence::new(acme + 99, "network", 30).unwrap(), "kim")
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        actions(store, acme).await,
        ["cadence.set", "cadence.set", "cadence.removed"]
    );
}

fn outcome_input<'a>(direction: &'a str, target: &'a str) -> OutcomeInput<'a> {
    OutcomeInput {
        name: "Days to open a branch",
        unit: "days",
        baseline: "30",
        target,
        start_date: "2026-01-01",
        target_date: "2026-12-31",
        direction,
    }
}

async fn outcomes_are_defined_edited_and_measured(store: &Store) {
    let acme = account(store, "acme").await;
    let today = day("2026-06-30");
    let o = outcome_input("", "5").check(acme, "o-branch").unwrap();
    let (outcome, written) = store.define_outcome(&o, "kim").await.unwrap();
    assert_eq!(
        (written, outcome.fields.direction, outcome.version),
        (Written::Created, Direction::Lower, 1)
    );
    assert_eq!(store.define_outcome(&o, "kim").await.unwrap().1, Written::Unchanged);

    let edited = outcome_input("lower", "3").check(acme, "o-branch").unwrap();
    let (after, written) = store.edit_outcome(outcome.id, 1, &edited, "kim").await.unwrap();
    assert_eq!(
        (written, after.version, after.fields.target),
        (Written::Changed, 2, 3.0)
    );
    assert_eq!(
        store.edit_outcome(outcome.id, 1, &edited, "kim").await.unwrap().1,
        Written::Unchanged
    );
    let stale = outcome_input("lower", "4").check(acme, "o-branch").unwrap();
    assert!(matches!(
        store.edit_outcome(outcome.id, 1, &stale, "lee").await,
        Err(StoreError::Stale { .. })
    ));

    laer_store::test_support::claim_marked(store).await;
    let measure = |value: &str, source: &str| {
        MeasurementInput {
            measured_on: "2026-06-01",
            value,
            source,
            note: "",
        }
        .check(outcome.id, "kim (kim@vendor.example)", today)
        .unwrap()
    };
    assert_eq!(
        store.record_measurement(&measure("20", "report"), "kim").await.unwrap(),
        Written::Created
    );
    assert_eq!(laer_store::test_support::claim_marked(store).await, vec![acme]);
    assert_eq!(
        store.record_measurement(&measure("20", "report"), "kim").await.unwrap(),
        Written::Unchanged
    );
    // A second measurement of the same day replaces the first.
    assert_eq!(
        store
            .record_measurement(&measure("16.5", "inventory"), "kim")
            .await
            .unwrap(),
        Written::Changed
    );
    let stored = store.measurements_of(acme).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].fields.value, 16.5);
    assert_eq!(stored[0].fields.source.as_deref(), Some("inventory"));
    assert_eq!(
        stored[0].fields.recorded_by.as_deref(),
        Some("kim (kim@vendor.example)")
    );
    assert!(stored[0].recorded_at.is_some());

    // The plan reads the direction: from 30 towards 3 days, 16.5 is half the way.
    let plan = store.plan_records(acme, today).await.unwrap().unwrap();
    assert_eq!(plan.outcomes[0].direction, Direction::Lower);
    let t = laer_core::signals::transformation(&plan.outcomes, &plan.measurements, today);
    assert_eq!(t.outcomes[0].progress, Some(0.5));
    assert_eq!(
        actions(store, acme).await,
        [
            "outcome.defined",
            "outcome.edited",
            "measurement.recorded",
            "measurement.recorded"
        ]
    );
    let audit = store.audit_of_account(acme).await.unwrap();
    assert_eq!(
        audit[0].details["before"],
        serde_json::json!(20.0),
        "the value replaced"
    );
}

async fn the_customer_records_measurements_only_where_allowed_and_not_too_often(store: &Store) {
    let acme = account(store, "acme").await;
    let other = account(store, "other").await;
    let today = chrono::Utc::now().date_naive();
    let (outcome, _) = store
        .define_outcome(&outcome_input("", "5").check(acme, "o-1").unwrap(), "kim")
        .await
        .unwrap();
    let (foreign, _) = store
        .define_outcome(&outcome_input("", "5").check(other, "o-2").unwrap(), "kim")
        .await
        .unwrap();
    let link = store.create_share_link(acme, "kim").await.unwrap();
    let shared = store.shared_plan(&link.secret).await.unwrap().unwrap();
    assert_eq!(
        (shared.account_id, shared.customer_measurements),
        (acme, false),
        "off by default"
    );
    let on = |outcome_id: i64, days_ago: i64| {
        let measured_on = (today - TimeDelta::days(days_ago)).to_string();
        MeasurementInput {
            measured_on: &measured_on,
            value: "12",
            source: "",
            note: "From our dashboard",
        }
        .check(outcome_id, "ignored", today)
        .unwrap()
    };
    let limit = RateLimit {
        writes: 3,
        window: TimeDelta::hours(1),
    };
    assert_eq!(
        store
            .record_customer_measurement(&shared, &on(outcome.id, 0), limit)
            .await
            .unwrap(),
        CustomerWrite::NotAllowed
    );
    assert!(store.measurements_of(acme).await.unwrap().is_empty(), "nothing written");

    assert_eq!(
        store.set_customer_measurements(acme, true, "kim").await.unwrap(),
        Written::Changed
    );
    assert_eq!(
        store.set_customer_measurements(acme, true, "kim").await.unwrap(),
        Written::Unchanged
    );
    let shared = store.shared_plan(&link.secret).await.unwrap().unwrap();
    assert!(shared.customer_measurements);
    assert_eq!(
        store
            .record_customer_measurement(&shared, &on(foreign.id, 0), limit)
            .await
            .unwrap(),
        CustomerWrite::UnknownOutcome,
        "only the plan's outcomes"
    );
    assert_eq!(
        store
            .record_customer_measurement(&shared, &on(outcome.id, 0), limit)
            .await
            .unwrap(),
        CustomerWrite::Recorded(Written::Created)
    );
    // A repeat changes nothing but counts against the limit.
    assert_eq!(
        store
            .record_customer_measurement(&shared, &on(outcome.id, 0), limit)
            .await
            .unwrap(),
        CustomerWrite::Recorded(Written::Unchanged)
    );
    assert_eq!(
        store
            .record_customer_measurement(&shared, &on(outcome.id, 1), limit)
            .await
            .unwrap(),
        CustomerWrite::Recorded(Written::Created)
    );
    match store
        .record_customer_measurement(&shared, &on(outcome.id, 2), limit)
        .await
        .unwrap()
    {
        CustomerWrite::TooMany { retry_after } => assert!(retry_after > chrono::Utc::now()),
        other => panic!("expected the limit, got {other:?}"),
    }
    let stored = store.measurements_of(acme).await.unwrap();
    assert_eq!(stored.len(), 2);
    let who = format!("customer via link {}…", link.record.prefix);
    assert!(
        stored
            .iter()
            .all(|m| m.fields.recorded_by.as_deref() == Some(who.as_str()))
    );
    let audit = store.audit_of_account(acme).await.unwrap();
    assert_eq!(audit[0].actor, who);
    assert_eq!(audit[0].action, "measurement.recorded");

    // Switched off (or revoked) a moment before: refused inside the transaction.
    store.set_customer_measurements(acme, false, "kim").await.unwrap();
    assert_eq!(
        store
            .record_customer_measurement(&shared, &on(outcome.id, 3), RateLimit::CUSTOMER)
            .await
            .unwrap(),
        CustomerWrite::NotAllowed
    );
    store.set_customer_measurements(acme, true, "kim").await.unwrap();
    store.revoke_share_link(link.record.id, "kim").await.unwrap();
    assert_eq!(
        store
            .record_customer_measurement(&shared, &on(outcome.id, 3), RateLimit::CUSTOMER)
            .await
            .unwrap(),
        CustomerWrite::NotAllowed
    );
    assert_eq!(store.shared_plan(&link.secret).await.unwrap(), None);
    // Clearing the objective keeps the switch.
    store.set_plan_objective(acme, "", "kim").await.unwrap();
    assert!(store.customer_measurements(acme).await.unwrap());
}

laer_store::backend_tests!(
    contacts_are_added_edited_and_deactivated,
    cadences_are_set_changed_and_removed,
    outcomes_are_defined_edited_and_measured,
    the_customer_records_measurements_only_where_allowed_and_not_too_often,
);
