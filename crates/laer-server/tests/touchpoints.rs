//! Touchpoints over real HTTP, on each backend: a CSM logs one from the account page and
//! sees it on the timeline (escaped, filterable); bad input comes back with the field
//! named and nothing written; only the one who logged it (or an admin) edits or deletes
//! it; a viewer cannot log one; an edit of a changed touchpoint is refused.

use crate::common::web::Session;
use crate::common::{acme, spawn};
use laer_core::access::Role;
use laer_core::model::{NewContact, NewTeamMember, TeamRole};
use laer_store::{IdLookup, Store};

const PASSWORD: &str = "touch password";

/// The seeded account, a contact of its own and one of another account's, and our Kim.
struct Seeded {
    acme: i64,
    dana: i64,
    stranger: i64,
    kim: i64,
}

async fn seed(store: &Store) -> Seeded {
    let mut tx = store.begin_write().await.unwrap();
    let acme = acme(&mut tx, 400, Some(200), 1_000, 20.0).await;
    tx.upsert(&[laer_core::model::NewAccount {
        external_id: "globex".into(),
        name: Some("Globex".into()),
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: Default::default(),
    }])
    .await
    .unwrap();
    let globex = tx.id_lookup(IdLookup::Accounts).await.unwrap()["globex"];
    let contact = |external_id: &str, account_id: i64, team: &str| NewContact {
        external_id: external_id.into(),
        account_id,
        name: Some(format!("{external_id} person")),
        email: None,
        phone: None,
        title: None,
        stakeholder_team: Some(team.into()),
        role: None,
    };
    tx.upsert(&[
        contact("dana", acme, "executive"),
        contact("sam", acme, "security"),
        contact("hank", globex, "executive"),
    ])
    .await
    .unwrap();
    tx.upsert(&[NewTeamMember {
        external_id: "kim".into(),
        name: "Kim Lee".into(),
        email: Some("kim@vendor.example".into()),
        roles: Some(vec![TeamRole::Csm]),
    }])
    .await
    .unwrap();
    let contacts = tx.id_lookup(IdLookup::Contacts).await.unwrap();
    let kim = tx.id_lookup(IdLookup::TeamMembers).await.unwrap()["kim"];
    tx.commit().await.unwrap();
    let hash = laer_app::auth::hash_password(PASSWORD).unwrap();
    for (email, name, role, member) in [
        ("kim@vendor.example", "Kim Lee", Role::Csm, Some(kim)),
        ("lee@vendor.example", "Lee Park", Role::Csm, None),
        ("ada@vendor.example", "Ada Admin", Role::Admin, None),
    ] {
        store.upsert_user(email, name, role, &hash, member).await.unwrap();
    }
    Seeded {
        acme,
        dana: contacts["dana"],
        stranger: contacts["hank"],
        kim,
    }
}

async fn login(base: &str, email: &str) -> Session {
    Session::login(base, email, PASSWORD).await.unwrap()
}

async fn a_csm_logs_a_touchpoint_and_only_they_or_an_admin_change_it(store: &Store) {
    let s = seed(store).await;
    let base = spawn(store).await;
    let kim = login(&base, "kim@vendor.example").await;
    let account = format!("/accounts/{}", s.acme);

    let (status, page) = kim.get(&account).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("href=\"/accounts/{}/touchpoints/new\"", s.acme)),
        "Log a touchpoint"
    );
    let (status, form) = kim.get(&format!("{account}/touchpoints/new")).await;
    assert_eq!(status, 200);
    assert!(
        form.contains("dana person") && form.contains("Kim Lee"),
        "contacts and our side offered"
    );
    assert!(!form.contains("hank person"), "only the account's contacts");

    let csrf = kim.csrf().await;
    let (dana, member) = (s.dana.to_string(), s.kim.to_string());
    let fields = |summary: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("kind", "meeting".to_string()),
            ("held_at", "2026-01-10T09:30".to_string()),
            ("status", "held".to_string()),
            ("stakeholder_teams", "executive".to_string()),
            ("other_teams", "Security".to_string()),
            ("contacts", dana.clone()),
            ("team_members", member.clone()),
            ("summary", summary.to_string()),
            ("next_step", "Send the <b>sizing</b>".to_string()),
            ("version", String::new()),
        ]
    };
    let as_refs = |f: &Vec<(&'static str, String)>| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let post = |path: String, f: Vec<(&'static str, String)>| {
        let kim = &kim;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            kim.post_page(&path, &f).await
        }
    };
    let (status, _) = post(
        format!("{account}/touchpoints"),
        as_refs(&fields("Agreed the <script>rollout</script> plan")),
    )
    .await;
    assert_eq!(status, 303);
    let stored = store.touchpoints_of(s.acme).await.unwrap();
    assert_eq!(stored.len(), 1);
    let t = &stored[0];
    assert_eq!(t.record.stakeholder_teams, ["executive", "security"]);
    assert_eq!(t.record.contact_ids, [s.dana]);
    assert_eq!(t.record.team_member_ids, [s.kim]);
    assert_eq!(t.record.held_at.to_rfc3339(), "2026-01-10T09:30:00+00:00");
    assert!(t.record.external_id.starts_with("web-"));

    let (_, page) = kim.get(&account).await;
    assert!(
        page.contains("Agreed the &lt;script&gt;rollout&lt;/script&gt; plan"),
        "summary escaped"
    );
    assert!(page.contains("Send the &lt;b&gt;sizing&lt;/b&gt;"), "next step escaped");
    assert!(!page.contains("<script>rollout"));
    let edit = format!("/touchpoints/{}/edit", t.id);
    assert!(page.contains(&edit), "the author sees the edit link");
    assert!(
        page.contains("last touchpoint 2026-01-10"),
        "the contact who took part shows when they last did"
    );

    // The timeline filters by kind and team and searches.
    let (_, emails) = kim.get(&format!("{account}?kind=email")).await;
    assert!(!emails.contains("rollout"));
    let (_, exec) = kim.get(&format!("{account}?team=executive&q=ROLLOUT")).await;
    assert!(exec.contains("rollout") && exec.contains("1 of"));
    let (_, network) = kim.get(&format!("{account}?team=network")).await;
    assert!(!network.contains("rollout"));

    // Another CSM sees it but no edit control, and cannot edit or delete it.
    let lee = login(&base, "lee@vendor.example").await;
    let (_, page) = lee.get(&account).await;
    assert!(page.contains("rollout") && !page.contains(&edit));
    assert_eq!(lee.get(&edit).await.0, 403);
    let lee_csrf = lee.csrf().await;
    let update = format!("/touchpoints/{}", t.id);
    let mut f = fields("Lee's version");
    f[0].1 = lee_csrf.clone();
    f.last_mut().unwrap().1 = "1".into();
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(lee.post(&update, &f).await, 403);
    assert_eq!(
        lee.post(&format!("{update}/delete"), &[("csrf", &lee_csrf), ("version", "1")])
            .await,
        403
    );
    assert_eq!(store.touchpoints_of(s.acme).await.unwrap(), stored, "unchanged");

    // The author edits at the version shown; an edit from the old page is refused.
    let (status, form) = kim.get(&edit).await;
    assert_eq!(status, 200);
    assert!(form.contains("name=\"version\" value=\"1\""));
    let mut f = fields("Rollout moved to March");
    f.last_mut().unwrap().1 = "1".into();
    assert_eq!(post(update.clone(), f.clone()).await.0, 303);
    let (status, page) = post(update.clone(), f).await;
    assert_eq!(status, 400);
    assert!(page.contains("changed by someone else"), "stale edit named");
    assert_eq!(store.touchpoint(t.id).await.unwrap().unwrap().version, 2);

    // An admin may change anyone's; the deletion is audited.
    let ada = login(&base, "ada@vendor.example").await;
    let (_, page) = ada.get(&account).await;
    assert!(page.contains(&edit));
    let ada_csrf = ada.csrf().await;
    assert_eq!(
        ada.post(&format!("{update}/delete"), &[("csrf", &ada_csrf), ("version", "2")])
            .await,
        303
    );
    assert!(store.touchpoints_of(s.acme).await.unwrap().is_empty());
    let actions: Vec<String> = store
        .audit_of_account(s.acme)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .filter(|a| a.starts_with("touchpoint."))
        .collect();
    assert_eq!(
        actions,
        ["touchpoint.deleted", "touchpoint.updated", "touchpoint.created"]
    );
}

async fn bad_input_comes_back_at_its_field_with_nothing_written(store: &Store) {
    let s = seed(store).await;
    let base = spawn(store).await;
    let kim = login(&base, "kim@vendor.example").await;
    let csrf = kim.csrf().await;
    let path = format!("/accounts/{}/touchpoints", s.acme);
    let long = "x".repeat(100_000);
    let stranger = s.stranger.to_string();
    // The fields sent, and two messages the page must show.
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("kind", "lunch"), ("held_at", ""), ("status", "held")],
            "expected one of meeting, call, email, note, business_review",
            "expected a date and time",
        ),
        (
            vec![
                ("kind", "call"),
                ("held_at", "2026-01-10T09:30"),
                ("status", "held"),
                ("summary", &long),
            ],
            "expected at most 10000 characters, found 100000",
            "name=\"summary\"",
        ),
        (
            vec![
                ("kind", "call"),
                ("held_at", "2026-01-10T09:30"),
                ("status", "held"),
                ("contacts", &stranger),
            ],
            "is not a contact of this account",
            "Nothing was saved",
        ),
        (
            vec![
                ("kind", "call"),
                ("held_at", "yesterday-ish"),
                ("status", "gone"),
                ("duration_minutes", "-3"),
            ],
            "expected minutes, 0 or more",
            "expected one of scheduled, held, missed, cancelled",
        ),
    ];
    for (fields, first, second) in cases {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields.iter().copied());
        let (status, page) = kim.post_page(&path, &form).await;
        assert_eq!(status, 400, "{fields:?}");
        assert!(page.contains(first), "{first}: {fields:?}");
        assert!(page.contains(second), "{second}: {fields:?}");
        assert!(page.contains("field-problem"), "the message at its field");
        assert!(page.contains("aria-invalid=\"true\"") || page.contains("invalid"));
    }
    // Nothing was written.
    assert!(store.touchpoints_of(s.acme).await.unwrap().is_empty());
    let audited = store.audit_of_account(s.acme).await.unwrap();
    assert!(
        !audited.iter().any(|a| a.action.starts_with("touchpoint.")),
        "nothing audited"
    );
}

async fn a_viewer_sees_why_they_cannot_log_and_is_refused(store: &Store) {
    let s = seed(store).await;
    let base = spawn(store).await;
    let viewer = Session::viewer(store, &base).await;
    let account = format!("/accounts/{}", s.acme);
    let (status, page) = viewer.get(&account).await;
    assert_eq!(status, 200);
    assert!(!page.contains("/touchpoints/new"));
    assert!(page.contains("cannot log touchpoints: it lacks record_work"));
    assert_eq!(viewer.get(&format!("{account}/touchpoints/new")).await.0, 403);
    let csrf = viewer.csrf().await;
    let status = viewer
        .post(
            &format!("{account}/touchpoints"),
            &[
                ("csrf", &csrf),
                ("kind", "call"),
                ("held_at", "2026-01-10T09:30"),
                ("status", "held"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    // Without the CSRF token: refused before anything is read.
    let kim = login(&base, "kim@vendor.example").await;
    let status = kim
        .post(
            &format!("{account}/touchpoints"),
            &[("kind", "call"), ("held_at", "2026-01-10T09:30"), ("status", "held")],
        )
        .await;
    assert_eq!(status, 403);
    assert!(store.touchpoints_of(s.acme).await.unwrap().is_empty());
}

laer_store::backend_tests!(
    a_csm_logs_a_touchpoint_and_only_they_or_an_admin_change_it,
    bad_input_comes_back_at_its_field_with_nothing_written,
    a_viewer_sees_why_they_cannot_log_and_is_refused,
);
