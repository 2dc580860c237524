//! Single sign-on's records, on both backends: a sign-in under way is taken once, on any
//! node, and not after it expires; two sign-ins of a new identity at once make one
//! person; a role claim replaces a role, audited; an admin who signs in this way is an
//! admin who can log in.

use chrono::{TimeDelta, Utc};
use laer_core::access::Role;
use laer_core::sso::SignInRefusal;
use laer_store::{AuditFilter, SsoIdentity, SsoLogin, Store, StoreError};

fn login(nonce: &str) -> SsoLogin {
    SsoLogin {
        nonce: nonce.into(),
        pkce_verifier: format!("verifier of {nonce}"),
        next: "/work".into(),
    }
}

fn identity<'a>(subject: &'a str, email: Option<&'a str>, role: Option<Role>) -> SsoIdentity<'a> {
    SsoIdentity {
        issuer: "https://idp.example",
        subject,
        verified_email: email,
        name: Some("Kim Lee"),
        claimed_role: role,
    }
}

async fn a_sign_in_under_way_is_taken_once_and_expires(store: &Store) {
    let soon = Utc::now() + TimeDelta::minutes(10);
    store.begin_sso_login("state-a", &login("a"), soon).await.unwrap();
    store.begin_sso_login("state-b", &login("b"), soon).await.unwrap();
    assert_eq!(store.take_sso_login("state-c").await.unwrap(), None, "an unknown state");
    assert_eq!(store.take_sso_login("state-a").await.unwrap(), Some(login("a")));
    assert_eq!(store.take_sso_login("state-a").await.unwrap(), None, "used once");

    // Two nodes taking the same sign-in at once: one gets it.
    let (first, second) = tokio::join!(store.take_sso_login("state-b"), store.take_sso_login("state-b"));
    let taken = [first.unwrap(), second.unwrap()];
    assert_eq!(taken.iter().filter(|t| t.is_some()).count(), 1, "{taken:?}");

    // One past its time is not taken, and is gone once another sign-in begins.
    let past = Utc::now() - TimeDelta::seconds(1);
    store.begin_sso_login("state-old", &login("old"), past).await.unwrap();
    assert_eq!(store.take_sso_login("state-old").await.unwrap(), None, "expired");
    store
        .begin_sso_login("state-stale", &login("stale"), past)
        .await
        .unwrap();
    store.begin_sso_login("state-new", &login("new"), soon).await.unwrap();
    assert_eq!(store.take_sso_login("state-stale").await.unwrap(), None);
    assert_eq!(store.take_sso_login("state-new").await.unwrap(), Some(login("new")));
}

async fn two_first_sign_ins_at_once_make_one_person(store: &Store) {
    let kim = identity("kim", Some("kim@example.com"), Some(Role::Csm));
    let (first, second) = tokio::join!(store.sso_sign_in(&kim), store.sso_sign_in(&kim));
    let (first, second) = (first.unwrap().unwrap(), second.unwrap().unwrap());
    assert_eq!(first.id, second.id);
    let people = store.users().await.unwrap();
    assert_eq!(people.len(), 1, "{people:?}");
    assert_eq!(
        (people[0].email.as_str(), people[0].role),
        ("kim@example.com", Role::Csm)
    );

    // The claim changes: the role follows, audited; no claim leaves it.
    let promoted = store
        .sso_sign_in(&identity("kim", Some("kim@example.com"), Some(Role::Leader)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(promoted.role, Role::Leader);
    let kept = store.sso_sign_in(&identity("kim", None, None)).await.unwrap().unwrap();
    assert_eq!((kept.id, kept.role), (first.id, Role::Leader));
    let changes = store
        .audit_log(&AuditFilter::default(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.action == "user.role_changed")
        .count();
    assert_eq!(changes, 1);

    // Another subject with no verified email and no claim: refused, nothing made.
    let stranger = store.sso_sign_in(&identity("eve", None, None)).await.unwrap();
    assert_eq!(stranger.unwrap_err(), SignInRefusal::UnverifiedEmail);
    assert_eq!(store.users().await.unwrap().len(), 1);
}

/// An admin who signs in with single sign-on has no password, yet can log in: listed
/// as such, and kept as the last active admin.
async fn an_admin_by_single_sign_on_is_kept_as_the_last_admin(store: &Store) {
    let ada = identity("ada", Some("ada@example.com"), Some(Role::Admin));
    let ada = store.sso_sign_in(&ada).await.unwrap().unwrap();
    let listed = store.people().await.unwrap();
    assert!(listed[0].single_sign_on && !listed[0].password_set && listed[0].can_log_in());
    let refused = store.deactivate_user(ada.id, "cli:root").await.unwrap_err();
    assert!(matches!(refused, StoreError::Refused { .. }), "{refused:?}");
    assert!(!store.people().await.unwrap()[0].user.disabled);
}

laer_store::backend_tests!(
    a_sign_in_under_way_is_taken_once_and_expires,
    two_first_sign_ins_at_once_make_one_person,
    an_admin_by_single_sign_on_is_kept_as_the_last_admin,
);
