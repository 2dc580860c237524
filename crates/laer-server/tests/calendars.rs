//! Calendars against a real CalDAV server (issue 18, item 4), on each backend: Radicale
//! (PyPI) holds a team member's calendar, filled and edited through the `caldav` library
//! as a calendar app would (tests/calendar/caldav_events.py) — a single meeting, a weekly
//! one with an excluded and a moved occurrence, a cancelled one, a whole-day one, an
//! internal one, one with two customers — and laer syncs it into touchpoints: moved
//! events move their meeting, cancelled and deleted ones go (one edited in laer stays,
//! cancelled), a wrong password fails with the reason and without the secret. The same
//! through an iCalendar feed served over HTTP, and from the web app: a person connects
//! their own calendar and the server's loop syncs it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use laer_app::calendars::sync_calendar;
use laer_core::calendar::CalendarKind;
use laer_core::model::*;
use laer_store::test_support::secret_box;
use laer_store::{IdLookup, NewCalendar, Store, Touchpoint};
use serde_json::{Value, json};

use crate::common::web::Session;

/// A Radicale server on a free port, with one user, alice:secret; stopped when dropped.
struct Radicale {
    child: Child,
    port: u16,
    python: String,
    _dir: tempfile::TempDir,
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python with Radicale, caldav and icalendar; `None` (the test skipped) without it
/// unless `LAER_TEST_REQUIRE_CALDAV=1`.
fn caldav_python() -> Option<String> {
    match std::env::var("LAER_TEST_CALDAV_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ => {
            assert!(
                std::env::var("LAER_TEST_REQUIRE_CALDAV").as_deref() != Ok("1"),
                "LAER_TEST_REQUIRE_CALDAV=1 but LAER_TEST_CALDAV_PYTHON is not set"
            );
            eprintln!("skipping: set LAER_TEST_CALDAV_PYTHON to a Python with radicale, caldav and icalendar");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Radicale {
    fn start(python: &str) -> Radicale {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users");
        std::fs::write(&users, "alice:secret\n").unwrap();
        let port = free_port();
        let child = Command::new(python)
            .args(["-m", "radicale", "--config", ""])
            .arg("--server-hosts")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--auth-type", "htpasswd", "--auth-htpasswd-filename"])
            .arg(&users)
            .args(["--auth-htpasswd-encryption", "plain", "--auth-delay", "0"])
            .arg("--storage-filesystem-folder")
            .arg(dir.path().join("collections"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("radicale starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "Radicale listens within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Radicale {
            child,
            port,
            python: python.to_string(),
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Applies operations through the caldav library, as a calendar app would.
    fn apply(&self, operations: Value) {
        use std::io::Write;
        let mut child = Command::new(&self.python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/calendar/caldav_events.py"))
            .args(["--url", &self.url("/"), "--user", "alice", "--password", "secret"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(operations.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "caldav_events.py: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The people: Acme (Bob, executive; Carol, it; Dave, finance) and Globex (Sue); the
/// team: Kim and Lee at vendor.example.
struct World {
    acme: i64,
    globex: i64,
    kim: i64,
    lee: i64,
    bob: i64,
    carol: i64,
    sue: i64,
}

async fn world(store: &Store) -> World {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount::named("acme", "Acme"), NewAccount::named("globex", "Globex")])
        .await
        .unwrap();
    let accounts = tx.id_lookup(IdLookup::Accounts).await.unwrap();
    let (acme, globex) = (accounts["acme"], accounts["globex"]);
    let contact = |id: &str, account_id: i64, email: &str, team: &str| NewContact {
        external_id: id.into(),
        account_id,
        name: Some(id.to_string()),
        email: Some(email.into()),
        phone: None,
        title: None,
        stakeholder_team: Some(team.into()),
        role: None,
    };
    tx.upsert(&[
        contact("bob", acme, "Bob@Acme.example", "executive"),
        contact("carol", acme, "carol@acme.example", "it"),
        contact("dave", acme, "dave@acme.example", "finance"),
        contact("sue", globex, "sue@globex.example", "executive"),
    ])
    .await
    .unwrap();
    let member = |id: &str, name: &str, email: &str| NewTeamMember {
        external_id: id.into(),
        name: name.into(),
        email: Some(email.into()),
        roles: Some(vec![TeamRole::Csm]),
    };
    tx.upsert(&[
        member("kim", "Kim Csm", "kim@vendor.example"),
        member("lee", "Lee Csm", "lee@vendor.example"),
    ])
    .await
    .unwrap();
    let contacts = tx.id_lookup(IdLookup::Contacts).await.unwrap();
    let team = tx.id_lookup(IdLookup::TeamMembers).await.unwrap();
    tx.commit().await.unwrap();
    World {
        acme,
        globex,
        kim: team["kim"],
        lee: team["lee"],
        bob: contacts["bob"],
        carol: contacts["carol"],
        sue: contacts["sue"],
    }
}

fn day(offset: i64) -> NaiveDate {
    Utc::now().date_naive() + TimeDelta::days(offset)
}

/// A local time `offset` days from today at `hh:mm`, as the script takes it.
fn local(offset: i64, hh: u32, mm: u32) -> String {
    day(offset)
        .and_hms_opt(hh, mm, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn utc(offset: i64, hh: u32) -> String {
    format!("{}Z", local(offset, hh, 0))
}

fn berlin(offset: i64, hh: u32, mm: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Berlin
        .from_local_datetime(&day(offset).and_hms_opt(hh, mm, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn at_utc(offset: i64, hh: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day(offset).and_hms_opt(hh, 0, 0).unwrap())
}

/// An account's touchpoints by when, with what the test checks.
async fn meetings(store: &Store, account: i64) -> Vec<Touchpoint> {
    let mut all = store.touchpoints_of(account).await.unwrap();
    all.sort_by_key(|t| t.record.held_at);
    all
}

fn whens(touchpoints: &[Touchpoint]) -> Vec<(DateTime<Utc>, MeetingStatus)> {
    touchpoints
        .iter()
        .map(|t| (t.record.held_at, t.record.status))
        .collect()
}

async fn sync(store: &Store, id: i64) -> laer_core::calendar::CalendarReport {
    let client = laer_app::calendars::client().unwrap();
    let outcome = sync_calendar(store, Some(&secret_box()), &client, "test-node", Some(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.error, None, "calendar {id}");
    outcome.report.unwrap()
}

async fn a_caldav_calendar_becomes_meetings(store: &Store) {
    let Some(python) = caldav_python() else {
        return;
    };
    let radicale = Radicale::start(&python);
    let w = world(store).await;
    radicale.apply(json!([
        {"op": "make_calendar", "id": "work", "name": "Work"},
        {"op": "add", "calendar": "work", "event": {
            "uid": "single-1", "summary": "Renewal prep", "start": utc(-7, 15), "end": utc(-7, 16),
            "organizer": "kim@vendor.example",
            "attendees": [{"email": "bob@acme.example", "partstat": "ACCEPTED"}, {"email": "stranger@else.example"}]}},
        {"op": "add", "calendar": "work", "event": {
            "uid": "weekly-1", "summary": "Weekly sync", "tz": "Europe/Berlin",
            "start": local(-20, 10, 0), "end": local(-20, 10, 30),
            "rrule": {"freq": "weekly", "count": 6}, "exdates": [local(-13, 10, 0)],
            "organizer": "kim@vendor.example",
            "attendees": [{"email": "carol@acme.example"}, {"email": "dave@acme.example", "partstat": "DECLINED"}],
            "overrides": [{"recurrence_id": local(-6, 10, 0), "start": local(-5, 15, 0), "end": local(-5, 16, 0),
                           "summary": "Weekly sync (moved)"}]}},
        {"op": "add", "calendar": "work", "event": {
            "uid": "cancelled-1", "summary": "Call off", "start": utc(-3, 12), "end": utc(-3, 13),
            "status": "CANCELLED", "organizer": "kim@vendor.example", "attendees": [{"email": "bob@acme.example"}]}},
        {"op": "add", "calendar": "work", "event": {
            "uid": "allday-1", "summary": "Acme onsite", "all_day": true, "start": day(-2).to_string(),
            "end": day(-1).to_string(), "attendees": [{"email": "bob@acme.example"}]}},
        {"op": "add", "calendar": "work", "event": {
            "uid": "internal-1", "summary": "Team stand-up", "start": utc(-1, 9), "end": utc(-1, 10),
            "organizer": "kim@vendor.example", "attendees": [{"email": "lee@vendor.example"}]}},
        {"op": "add", "calendar": "work", "event": {
            "uid": "two-1", "summary": "Partner workshop", "start": utc(3, 14), "end": utc(3, 16),
            "organizer": "kim@vendor.example",
            "attendees": [{"email": "sue@globex.example"}, {"email": "bob@acme.example"}]}}
    ]));
    let calendar = |member: i64, url: String, password: &'static str| async move {
        store
            .add_calendar(
                &NewCalendar {
                    team_member_id: member,
                    kind: CalendarKind::Caldav,
                    url: &url,
                    username: Some("alice"),
                    password: Some(password),
                    time_zone: "Europe/Berlin",
                    every_minutes: 15,
                },
                &secret_box(),
                "admin@example.com",
            )
            .await
            .unwrap()
    };
    let kims = calendar(w.kim, radicale.url("/alice/work/"), "secret").await;

    let report = sync(store, kims).await;
    let acme = meetings(store, w.acme).await;
    assert_eq!(
        whens(&acme),
        [
            (berlin(-20, 10, 0), MeetingStatus::Held),
            (at_utc(-7, 15), MeetingStatus::Held),
            (berlin(-5, 15, 0), MeetingStatus::Held),
            (berlin(1, 10, 0), MeetingStatus::Scheduled),
            (at_utc(3, 14), MeetingStatus::Scheduled),
            (berlin(8, 10, 0), MeetingStatus::Scheduled),
            (berlin(15, 10, 0), MeetingStatus::Scheduled),
        ],
        "the series without its excluded day, its moved occurrence where it moved to; no cancelled, \
         whole-day or internal event"
    );
    let single = &acme[1].record;
    assert_eq!(single.kind, TouchpointKind::Meeting);
    assert_eq!(single.summary.as_deref(), Some("Renewal prep"));
    assert_eq!(single.duration_minutes, Some(60));
    assert_eq!(single.contact_ids, [w.bob], "the stranger is no contact");
    assert_eq!(single.stakeholder_teams, ["executive"]);
    assert_eq!(single.team_member_ids, [w.kim], "the organizer, by address");
    let moved = &acme[2].record;
    assert_eq!(moved.summary.as_deref(), Some("Weekly sync (moved)"));
    assert_eq!(moved.contact_ids, [w.carol], "Dave declined");
    assert_eq!(moved.stakeholder_teams, ["it"]);
    let globex = meetings(store, w.globex).await;
    assert_eq!(whens(&globex), [(at_utc(3, 14), MeetingStatus::Scheduled)]);
    assert_eq!(globex[0].record.contact_ids, [w.sue]);
    assert_ne!(
        globex[0].record.external_id, acme[4].record.external_id,
        "one meeting per account"
    );
    assert_eq!(
        (report.occurrences, report.meetings, report.written),
        (9, 8, 8),
        "{report:?}"
    );
    assert!(report.names_people);
    assert_eq!(report.stranger_examples, ["stranger@else.example"]);

    // Again: nothing changed, nothing written.
    let again = sync(store, kims).await;
    assert_eq!((again.written, again.unchanged, again.removed), (0, 8, 0), "{again:?}");

    // Lee reaches the same calendar from the account's address (discovery through the
    // principal and the calendar home): the same meetings, not new ones.
    let lees = calendar(w.lee, radicale.url("/alice/"), "secret").await;
    let found = sync(store, lees).await;
    assert_eq!((found.meetings, found.written), (8, 0), "{found:?}");

    // A wrong password: the reason, never the secret or the address's path.
    let wrong = calendar(w.lee, radicale.url("/alice/work/"), "not-the-password").await;
    let client = laer_app::calendars::client().unwrap();
    let failed = sync_calendar(store, Some(&secret_box()), &client, "test-node", Some(wrong))
        .await
        .unwrap()
        .unwrap();
    let error = failed.error.unwrap();
    assert!(error.contains("401") && error.contains("app password"), "{error}");
    assert!(
        !error.contains("not-the-password") && !error.contains("/alice"),
        "{error}"
    );
    let stored = store.calendar(wrong).await.unwrap().unwrap();
    assert_eq!(
        (stored.failures, stored.last_error.as_deref()),
        (1, Some(error.as_str()))
    );
    assert!(
        stored.next_sync_at.unwrap() > Utc::now().timestamp(),
        "it waits before trying again"
    );

    // The calendar app moves the single meeting and one occurrence, and cancels the
    // workshop: the meetings follow.
    let single_id = acme[1].id;
    radicale.apply(json!([
        {"op": "move", "calendar": "work", "uid": "single-1", "start": utc(-8, 11), "end": utc(-8, 12)},
        {"op": "move_occurrence", "calendar": "work", "uid": "weekly-1", "recurrence_id": local(8, 10, 0),
         "start": local(9, 11, 0), "end": local(9, 11, 30)},
        {"op": "cancel", "calendar": "work", "uid": "two-1"}
    ]));
    let changed = sync(store, kims).await;
    assert_eq!((changed.written, changed.removed), (2, 0), "{changed:?}");
    // Lee's calendar still listed the workshop: its meetings stay until Lee's sync.
    assert_eq!(
        meetings(store, w.globex).await.len(),
        1,
        "another calendar still has it"
    );
    let lee_sync = sync(store, lees).await;
    assert_eq!((lee_sync.written, lee_sync.removed), (0, 2), "{lee_sync:?}");
    assert!(meetings(store, w.globex).await.is_empty());
    let acme = meetings(store, w.acme).await;
    assert_eq!(
        whens(&acme),
        [
            (berlin(-20, 10, 0), MeetingStatus::Held),
            (at_utc(-8, 11), MeetingStatus::Held),
            (berlin(-5, 15, 0), MeetingStatus::Held),
            (berlin(1, 10, 0), MeetingStatus::Scheduled),
            (berlin(9, 11, 0), MeetingStatus::Scheduled),
            (berlin(15, 10, 0), MeetingStatus::Scheduled),
        ],
        "moved where they moved; the workshop's Acme meeting is gone"
    );
    assert_eq!(acme[1].id, single_id, "a moved event moves its meeting");

    // Kim writes notes on the last weekly meeting in laer; then the series is deleted.
    let last = acme.last().unwrap();
    let mut edited = last.record.clone();
    edited.summary = Some("Agenda: the renewal".into());
    edited.next_step = Some("Send the quote".into());
    store
        .update_touchpoint(last.id, last.version, &edited, "kim@vendor.example")
        .await
        .unwrap();
    radicale.apply(json!([{"op": "delete", "calendar": "work", "uid": "weekly-1"}]));
    let deleted = sync(store, kims).await;
    let after_lee = sync(store, lees).await;
    assert_eq!(
        (
            deleted.removed + after_lee.removed,
            deleted.cancelled + after_lee.cancelled
        ),
        (4, 1),
        "{deleted:?} {after_lee:?}"
    );
    let acme = meetings(store, w.acme).await;
    assert_eq!(
        whens(&acme),
        [
            (at_utc(-8, 11), MeetingStatus::Held),
            (berlin(15, 10, 0), MeetingStatus::Cancelled),
        ],
        "the meeting with notes stays, cancelled"
    );
    assert_eq!(acme[1].record.summary.as_deref(), Some("Agenda: the renewal"));
    assert_eq!(acme[1].record.next_step.as_deref(), Some("Send the quote"));
    let claim = store.claim_health_dirty(1_000, Utc::now()).await.unwrap();
    assert!(
        claim.accounts.contains(&w.acme),
        "the account's engagement is computed again: {claim:?}"
    );
}

/// A feed server: each path answers the document kept for it, else 404.
#[derive(Clone, Default)]
struct Feeds(Arc<Mutex<BTreeMap<String, String>>>);

async fn feed(
    State(feeds): State<Feeds>,
    Path(path): Path<String>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    match feeds.0.lock().unwrap().get(&path) {
        Some(text) => (
            StatusCode::OK,
            [("content-type", "text/calendar; charset=utf-8")],
            text.clone(),
        ),
        None => (
            StatusCode::NOT_FOUND,
            [("content-type", "text/plain")],
            "no such calendar".into(),
        ),
    }
}

async fn serve_feeds() -> (Feeds, String) {
    let feeds = Feeds::default();
    let app = axum::Router::new()
        .route("/feeds/{*path}", axum::routing::get(feed))
        .with_state(feeds.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (feeds, base)
}

fn document(events: &[String]) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n{}END:VCALENDAR\r\n",
        events.concat()
    )
}

fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

fn event(uid: &str, start: DateTime<Utc>, people: &[&str]) -> String {
    let attendees: String = people
        .iter()
        .map(|p| format!("ATTENDEE;CN={p};PARTSTAT=ACCEPTED:mailto:{p}\r\n"))
        .collect();
    format!(
        "BEGIN:VEVENT\r\nDTSTART:{}\r\nDTEND:{}\r\nUID:{uid}\r\nORGANIZER:mailto:kim@vendor.example\r\n\
         {attendees}SUMMARY:Check-in\r\nEND:VEVENT\r\n",
        stamp(start),
        stamp(start + TimeDelta::minutes(45))
    )
}

async fn a_feed_becomes_meetings(store: &Store) {
    let w = world(store).await;
    let (feeds, base) = serve_feeds().await;
    let path = "kim%40vendor.example/private-f00dfeed/basic.ics";
    feeds.0.lock().unwrap().insert(
        "kim%40vendor.example/private-f00dfeed/basic.ics".replace("%40", "@"),
        document(&[
            event(
                "a@google.com",
                at_utc(-2, 9),
                &["kim@vendor.example", "bob@acme.example"],
            ),
            event(
                "b@google.com",
                at_utc(4, 9),
                &["kim@vendor.example", "sue@globex.example"],
            ),
        ]),
    );
    let add = |url: String| async move {
        store
            .add_calendar(
                &NewCalendar {
                    team_member_id: w.kim,
                    kind: CalendarKind::Feed,
                    url: &url,
                    username: None,
                    password: None,
                    time_zone: "UTC",
                    every_minutes: 15,
                },
                &secret_box(),
                "kim@vendor.example",
            )
            .await
            .unwrap()
    };
    let google = add(format!("{base}/feeds/{path}")).await;
    let report = sync(store, google).await;
    assert_eq!((report.meetings, report.written), (2, 2), "{report:?}");
    assert_eq!(
        whens(&meetings(store, w.acme).await),
        [(at_utc(-2, 9), MeetingStatus::Held)]
    );
    assert_eq!(
        whens(&meetings(store, w.globex).await),
        [(at_utc(4, 9), MeetingStatus::Scheduled)]
    );
    let listed = store.calendars(Some(w.kim)).await.unwrap();
    assert_eq!(listed[0].host, "127.0.0.1", "the host is shown, never the address");
    assert!(!serde_json::to_string(&listed).unwrap().contains("f00dfeed"));

    // The event is deleted from the calendar: its meeting goes.
    feeds.0.lock().unwrap().insert(
        "kim@vendor.example/private-f00dfeed/basic.ics".into(),
        document(&[event(
            "a@google.com",
            at_utc(-2, 9),
            &["kim@vendor.example", "bob@acme.example"],
        )]),
    );
    let report = sync(store, google).await;
    assert_eq!((report.removed, report.unchanged), (1, 1), "{report:?}");
    assert!(meetings(store, w.globex).await.is_empty());

    // Outlook's published calendars name nobody: the report says so.
    feeds.0.lock().unwrap().insert(
        "outlook/calendar.ics".into(),
        document(&[event("c@outlook", at_utc(-1, 9), &[]).replace("ORGANIZER:mailto:kim@vendor.example\r\n", "")]),
    );
    let outlook = add(format!("{base}/feeds/outlook/calendar.ics")).await;
    let report = sync(store, outlook).await;
    assert!(!report.names_people && report.meetings == 0, "{report:?}");

    // A reset address: 404, said without the secret part of the address; the meetings
    // stay (nothing is removed on a failed fetch).
    let reset = add(format!("{base}/feeds/kim/private-0ldsecret/basic.ics")).await;
    let client = laer_app::calendars::client().unwrap();
    let failed = sync_calendar(store, Some(&secret_box()), &client, "test-node", Some(reset))
        .await
        .unwrap()
        .unwrap();
    let error = failed.error.unwrap();
    assert!(error.contains("404") && error.contains("127.0.0.1"), "{error}");
    assert!(!error.contains("0ldsecret"), "{error}");
    // A page that is no calendar (a sign-in page) is refused, not read as empty.
    feeds
        .0
        .lock()
        .unwrap()
        .insert("login".into(), "<html>Sign in</html>".into());
    let login = add(format!("{base}/feeds/login")).await;
    let failed = sync_calendar(store, Some(&secret_box()), &client, "test-node", Some(login))
        .await
        .unwrap()
        .unwrap();
    assert!(failed.error.unwrap().contains("not an iCalendar document"));
    assert_eq!(meetings(store, w.acme).await.len(), 1);
}

async fn people_connect_their_calendars_in_the_web_app(store: &Store) {
    let w = world(store).await;
    let (feeds, base_feeds) = serve_feeds().await;
    feeds.0.lock().unwrap().insert(
        "kim.ics".into(),
        document(&[event(
            "web@google.com",
            at_utc(-1, 9),
            &["kim@vendor.example", "bob@acme.example"],
        )]),
    );
    for (email, name, role, member) in [
        ("admin@example.com", "Ada Admin", laer_core::access::Role::Admin, None),
        (
            "kim@vendor.example",
            "Kim Csm",
            laer_core::access::Role::Csm,
            Some(w.kim),
        ),
        ("pat@vendor.example", "Pat Csm", laer_core::access::Role::Csm, None),
    ] {
        let hash = laer_app::auth::hash_password("password 123").unwrap();
        store.upsert_user(email, name, role, &hash, member).await.unwrap();
    }
    let base = crate::common::spawn_with_secrets(store, None).await;
    let kim = Session::login(&base, "kim@vendor.example", "password 123")
        .await
        .unwrap();

    let (status, page) = kim.get("/calendars").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("My calendars") && page.contains("No calendars connected yet"),
        "{page}"
    );
    assert!(!page.contains("Whose calendar"), "a person connects their own");
    let (_, work) = kim.get("/work").await;
    assert!(work.contains("href=\"/calendars\""), "My work links to them");

    // Every problem at its field, nothing saved, no secret sent back.
    let csrf = kim.csrf().await;
    let (status, page) = kim
        .post_page(
            "/calendars",
            &[
                ("csrf", &csrf),
                ("kind", "caldav"),
                ("url", "http://caldav.example/kim/?token=s3cret"),
                ("username", ""),
                ("password", ""),
                ("time_zone", "Mars/Olympus"),
                ("every", "2"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    for expected in ["5 to 1440 minutes", "http only to this machine"] {
        assert!(page.contains(expected), "{expected}: {page}");
    }
    assert!(!page.contains("s3cret"));
    let (status, page) = kim
        .post_page(
            "/calendars",
            &[
                ("csrf", &csrf),
                ("kind", "caldav"),
                ("url", "https://caldav.example/kim/"),
                ("time_zone", "Mars/Olympus"),
                ("every", "15"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("is no time zone"), "{page}");
    assert!(store.calendars(None).await.unwrap().is_empty());

    // A feed, connected; the server's own loop syncs it.
    let status = kim
        .post(
            "/calendars",
            &[
                ("csrf", &csrf),
                ("kind", "feed"),
                ("url", &format!("{base_feeds}/feeds/kim.ics")),
                ("time_zone", "Europe/Berlin"),
                ("every", "15"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let deadline = Instant::now() + Duration::from_secs(90);
    let connection = loop {
        let c = store.calendars(Some(w.kim)).await.unwrap().remove(0);
        if c.last_synced_at.is_some() {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "the server syncs a new calendar within its poll: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(connection.last_error, None);
    assert_eq!(meetings(store, w.acme).await.len(), 1);
    let (_, page) = kim.get("/calendars").await;
    assert!(
        page.contains("1 meeting with customers") && page.contains("127.0.0.1"),
        "{page}"
    );
    assert!(!page.contains("kim.ics"), "the address is never shown");

    // Sync now asks for one; another's calendar is not Kim's to touch.
    assert_eq!(
        kim.post(&format!("/calendars/{}/sync", connection.id), &[("csrf", &csrf)])
            .await,
        303
    );
    let lees = store
        .add_calendar(
            &NewCalendar {
                team_member_id: w.lee,
                kind: CalendarKind::Feed,
                url: &format!("{base_feeds}/feeds/lee.ics"),
                username: None,
                password: None,
                time_zone: "UTC",
                every_minutes: 60,
            },
            &secret_box(),
            "admin@example.com",
        )
        .await
        .unwrap();
    assert_eq!(
        kim.post(&format!("/calendars/{lees}/remove"), &[("csrf", &csrf)]).await,
        404
    );
    let (_, page) = kim.get("/calendars").await;
    assert!(!page.contains("Lee Csm"), "Kim sees her own");

    // An admin sees everyone's and connects for anyone; a login that is no team member
    // is told why; a viewer may not.
    let admin = Session::login(&base, "admin@example.com", "password 123")
        .await
        .unwrap();
    let (_, page) = admin.get("/calendars").await;
    assert!(
        page.contains("Kim Csm") && page.contains("Lee Csm") && page.contains("Whose calendar"),
        "{page}"
    );
    let pat = Session::login(&base, "pat@vendor.example", "password 123")
        .await
        .unwrap();
    let (status, page) = pat.get("/calendars").await;
    assert_eq!(status, 200);
    assert!(page.contains("is no team member"), "{page}");
    let viewer = Session::viewer(store, &base).await;
    assert_eq!(viewer.get("/calendars").await.0, 403);
    let admin_csrf = admin.csrf().await;
    assert_eq!(
        admin
            .post(&format!("/calendars/{lees}/remove"), &[("csrf", &admin_csrf)])
            .await,
        303
    );
    assert_eq!(
        kim.post(&format!("/calendars/{}/remove", connection.id), &[("csrf", &csrf)])
            .await,
        303
    );
    assert!(store.calendars(None).await.unwrap().is_empty());
    assert_eq!(meetings(store, w.acme).await.len(), 1, "the meetings it made stay");
}

laer_store::backend_tests!(
    a_caldav_calendar_becomes_meetings,
    a_feed_becomes_meetings,
    people_connect_their_calendars_in_the_web_app
);
