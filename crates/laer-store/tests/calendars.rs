//! Calendars, on both backends: every field of a calendar checked, its address and
//! password sealed and never in a list or the audit log; one node at a time under a lease,
//! a write refused to a node that lost it; meetings written as touchpoints, and those
//! whose event is gone removed — unless another calendar still has them.

use chrono::{TimeDelta, Utc};
use laer_core::calendar::{CalendarKind, CalendarMeeting, Window};
use laer_core::model::{NewAccount, NewContact, NewTeamMember};
use laer_store::test_support::{audited, secret_box};
use laer_store::{CalendarEnd, IdLookup, NewCalendar, Store, StoreError};

const FEED: &str = "https://calendar.google.com/calendar/ical/kim%40vendor.example/private-5ecret/basic.ics";

fn feed(member: i64) -> NewCalendar<'static> {
    NewCalendar {
        team_member_id: member,
        kind: CalendarKind::Feed,
        url: FEED,
        username: None,
        password: None,
        time_zone: "Europe/Berlin",
        every_minutes: 15,
    }
}

/// Acme with Bob, and Kim on the team: their ids.
async fn seed(store: &Store) -> (i64, i64, i64) {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount::named("acme", "Acme")]).await.unwrap();
    let acme = tx.id_lookup(IdLookup::Accounts).await.unwrap()["acme"];
    tx.upsert(&[NewContact {
        external_id: "bob".into(),
        account_id: acme,
        name: Some("Bob".into()),
        email: Some(" Bob@Acme.example".into()),
        phone: None,
        title: None,
        stakeholder_team: Some("executive".into()),
        role: None,
    }])
    .await
    .unwrap();
    tx.upsert(&[NewTeamMember {
        external_id: "kim".into(),
        name: "Kim".into(),
        email: Some("kim@vendor.example".into()),
        roles: None,
    }])
    .await
    .unwrap();
    let bob = tx.id_lookup(IdLookup::Contacts).await.unwrap()["bob"];
    let kim = tx.id_lookup(IdLookup::TeamMembers).await.unwrap()["kim"];
    tx.commit().await.unwrap();
    (acme, bob, kim)
}

async fn calendars_are_checked_and_their_secrets_sealed(store: &Store) {
    let (_, _, kim) = seed(store).await;
    let secrets = secret_box();
    let refused = |new: NewCalendar<'static>| async move {
        match store.add_calendar(&new, &secret_box(), "admin").await {
            Err(StoreError::Refused { field, message }) => format!("{field}: {message}"),
            other => panic!("{other:?}"),
        }
    };
    assert!(
        refused(NewCalendar {
            password: Some("pw"),
            ..feed(kim)
        })
        .await
        .starts_with("username: a feed's address is its credential")
    );
    let caldav = NewCalendar {
        kind: CalendarKind::Caldav,
        url: "https://caldav.fastmail.com/dav/calendars/user/kim@vendor.example/",
        username: Some("kim@vendor.example"),
        ..feed(kim)
    };
    assert!(refused(caldav).await.starts_with("password: CalDAV needs a password"));
    assert!(
        refused(NewCalendar {
            url: "http://calendar.example/x.ics",
            ..feed(kim)
        })
        .await
        .contains("http only to this machine")
    );
    assert!(
        refused(NewCalendar {
            time_zone: "Berlin",
            ..feed(kim)
        })
        .await
        .starts_with("time_zone: \"Berlin\" is no time zone")
    );
    assert!(matches!(
        store.add_calendar(&feed(kim + 100), &secrets, "admin").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store.calendars(None).await.unwrap().is_empty(),
        "nothing refused is kept"
    );

    let id = store.add_calendar(&feed(kim), &secrets, "admin").await.unwrap();
    let with_password = store
        .add_calendar(
            &NewCalendar {
                password: Some("app-pa55word"),
                ..caldav
            },
            &secrets,
            "admin",
        )
        .await
        .unwrap();
    let listed = store.calendars(Some(kim)).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0].host.as_str(), listed[0].team_member.as_str()),
        ("calendar.google.com", "Kim")
    );
    assert!(listed[0].requested, "a new calendar syncs at once");
    let shown = format!(
        "{}{:?}",
        serde_json::to_string(&listed).unwrap(),
        audited(store, "calendar.added").await
    );
    assert!(!shown.contains("5ecret") && !shown.contains("app-pa55word"), "{shown}");
    assert_eq!(store.secrets_status().await.unwrap().plaintext, 0);

    // The holder opens them.
    let now = Utc::now().timestamp();
    let claim = store
        .claim_calendar("node-a", now, now - 180, Some(with_password))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.url.open(Some(&secrets)).unwrap(), caldav.url);
    assert_eq!(claim.password.unwrap().open(Some(&secrets)).unwrap(), "app-pa55word");
    let claim = store
        .claim_calendar("node-a", now, now - 180, Some(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.url.open(Some(&secrets)).unwrap(), FEED);
    assert!(claim.password.is_none());

    assert!(store.remove_calendar(id, "admin").await.unwrap());
    assert!(!store.remove_calendar(id, "admin").await.unwrap());
    assert_eq!(audited(store, "calendar.removed").await.len(), 1);
}

fn meeting(account_id: i64, contact: i64, kim: i64, key: &str, days: i64) -> CalendarMeeting {
    CalendarMeeting {
        external_id: format!("cal-{key}"),
        account_id,
        held_at: Utc::now() + TimeDelta::days(days),
        duration_minutes: Some(30),
        title: Some(format!("Meeting {key}")),
        contact_ids: vec![contact],
        stakeholder_teams: vec!["executive".into()],
        team_member_ids: vec![kim],
        scheduled: days > 0,
    }
}

async fn one_node_syncs_a_calendar_and_gone_events_go(store: &Store) {
    let (acme, bob, kim) = seed(store).await;
    let secrets = secret_box();
    let a = store.add_calendar(&feed(kim), &secrets, "admin").await.unwrap();
    let b = store.add_calendar(&feed(kim), &secrets, "admin").await.unwrap();
    let now = Utc::now().timestamp();
    let window = Window::around(Utc::now());

    // Due at once: one node takes it, the other finds nothing of it.
    let claim = store
        .claim_calendar("node-a", now, now - 180, Some(a))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .claim_calendar("node-b", now, now - 180, Some(a))
            .await
            .unwrap()
            .is_none()
    );
    let people = store.calendar_people().await.unwrap();
    assert_eq!(people.own_domains, ["vendor.example"]);
    assert_eq!(
        people.contacts["bob@acme.example"][0].contact_id, bob,
        "addresses read trimmed, lower-case"
    );
    assert_eq!(people.team["kim@vendor.example"], kim);

    let both = [meeting(acme, bob, kim, "x", -3), meeting(acme, bob, kim, "y", 2)];
    let refused = store
        .write_calendar_meetings(a, "node-b", &window, &both)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("another node took this calendar over"),
        "{refused}"
    );
    let written = store
        .write_calendar_meetings(a, "node-a", &window, &both)
        .await
        .unwrap();
    assert_eq!((written.written, written.removed), (2, 0));
    let again = store
        .write_calendar_meetings(a, "node-a", &window, &both)
        .await
        .unwrap();
    assert_eq!((again.written, again.unchanged), (0, 2), "idempotent");
    let stored = store.touchpoints_of(acme).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|t| t.record.team_member_ids == [kim] && t.record.contact_ids == [bob])
    );

    // Calendar b has y too; a loses both: x goes, y stays while b has it.
    let claim_b = store
        .claim_calendar("node-b", now, now - 180, Some(b))
        .await
        .unwrap()
        .unwrap();
    store
        .write_calendar_meetings(b, "node-b", &window, &both[1..])
        .await
        .unwrap();
    let gone = store.write_calendar_meetings(a, "node-a", &window, &[]).await.unwrap();
    assert_eq!(gone.removed, 1);
    let left: Vec<String> = store
        .touchpoints_of(acme)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.record.external_id)
        .collect();
    assert_eq!(left, ["cal-y"]);
    let gone = store.write_calendar_meetings(b, "node-b", &window, &[]).await.unwrap();
    assert_eq!(gone.removed, 1);
    assert!(store.touchpoints_of(acme).await.unwrap().is_empty());

    // A meeting from before the window stays when the calendar no longer lists it.
    let old = [meeting(acme, bob, kim, "old", -400)];
    let wide = Window {
        from: Utc::now() - TimeDelta::days(500),
        to: window.to,
    };
    store.write_calendar_meetings(b, "node-b", &wide, &old).await.unwrap();
    let kept = store.write_calendar_meetings(b, "node-b", &window, &[]).await.unwrap();
    assert_eq!(kept.removed, 0);
    assert_eq!(store.touchpoints_of(acme).await.unwrap().len(), 1);

    // The end: the lease let go, the report kept, the next time set; a failure counts.
    store
        .finish_calendar(
            a,
            "node-a",
            &CalendarEnd {
                now,
                error: None,
                report: Some("{\"meetings\": 2}"),
                next_sync_at: now + 900,
            },
        )
        .await
        .unwrap();
    let done = store.calendar(a).await.unwrap().unwrap();
    assert_eq!(
        (done.owner, done.last_synced_at, done.next_sync_at),
        (None, Some(now), Some(now + 900))
    );
    assert!(
        store
            .claim_calendar("node-b", now + 60, now - 120, None)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    store
        .finish_calendar(
            b,
            "node-b",
            &CalendarEnd {
                now,
                error: Some("caldav.example answered 401"),
                report: None,
                next_sync_at: now + 60,
            },
        )
        .await
        .unwrap();
    let failed = store.calendar(b).await.unwrap().unwrap();
    assert_eq!(
        (failed.failures, failed.last_error.as_deref()),
        (1, Some("caldav.example answered 401"))
    );
    drop((claim, claim_b));

    // A holder whose heartbeat went stale is taken over.
    let taken = store
        .claim_calendar("node-a", now + 60, now - 180, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.connection.id, b);
    assert!(store.calendar_heartbeat(b, "node-a", now + 70).await.unwrap());
    assert!(
        store
            .claim_calendar("node-b", now + 80, now + 60, Some(b))
            .await
            .unwrap()
            .is_none()
    );
    let took_over = store
        .claim_calendar("node-b", now + 400, now + 200, Some(b))
        .await
        .unwrap();
    assert!(took_over.is_some(), "stale: taken over");
    assert!(
        !store.calendar_heartbeat(b, "node-a", now + 401).await.unwrap(),
        "node-a lost it"
    );
}

laer_store::backend_tests!(
    calendars_are_checked_and_their_secrets_sealed,
    one_node_syncs_a_calendar_and_gone_events_go,
);
