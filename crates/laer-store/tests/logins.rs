//! People, keys and the audit log as an admin manages them, on both backends: one-time
//! password links (used once, even by two at once; not after they expire), deactivation
//! ending sessions at once, the last admin kept, tokens and write keys revoked with
//! every change audited, and the audit log filtered and paged.

use std::collections::BTreeMap;

use chrono::{TimeDelta, Utc};
use laer_core::access::Role;
use laer_core::model::{NewAccount, NewAuditEntry};
use laer_store::{AuditFilter, IdLookup, LinkEmail, LinkKind, NewInvite, NewLink, Store, StoreError, new_link_token};

const ADMIN: &str = "Ada Admin <ada@example.com>";
/// The store keeps whatever hash it is given; these tests need no real one.
const HASH: &str = "$argon2id$v=19$test";

fn link(token: &str, days: i64) -> NewLink<'_> {
    NewLink {
        token,
        expires_at: Utc::now() + TimeDelta::days(days),
        email: None,
    }
}

async fn admin(store: &Store) -> i64 {
    store
        .upsert_user("ada@example.com", "Ada Admin", Role::Admin, HASH, None)
        .await
        .unwrap()
        .id
}

async fn invite(store: &Store, email: &str, role: Role, token: &str) -> i64 {
    let invite = NewInvite {
        email,
        name: "Kim Lee",
        role,
    };
    store.invite_user(&invite, &link(token, 7), ADMIN).await.unwrap().0.id
}

/// The actions of the audit log, oldest first.
async fn actions(store: &Store) -> Vec<String> {
    let mut rows: Vec<String> = store
        .audit_log(&AuditFilter::default(), None, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    rows.reverse();
    rows
}

async fn an_invitation_link_sets_the_password_once(store: &Store) {
    admin(store).await;
    let token = new_link_token().unwrap();
    let kim = invite(store, "kim@example.com", Role::Csm, &token).await;
    assert!(
        store.user_for_login("kim@example.com").await.unwrap().is_none(),
        "no login before the password is set"
    );
    let people = store.people().await.unwrap();
    let listed = people.iter().find(|p| p.user.id == kim).unwrap();
    assert!(!listed.password_set);
    let pending = listed.pending_link.as_ref().expect("the live link is listed");
    assert_eq!((pending.kind, pending.created_by.as_str()), (LinkKind::Invite, ADMIN));

    let holder = store.password_link(&token).await.unwrap().expect("the link works");
    assert_eq!((holder.user.id, holder.kind), (kim, LinkKind::Invite));
    assert!(store.password_link("not-the-token").await.unwrap().is_none());

    let user = store
        .use_password_link(&token, "Kim Lee-Park", HASH)
        .await
        .unwrap()
        .expect("the first use sets the password");
    assert_eq!((user.id, user.name.as_str()), (kim, "Kim Lee-Park"));
    let login = store
        .user_for_login("kim@example.com")
        .await
        .unwrap()
        .expect("a login now");
    assert_eq!(login.password_hash, HASH);
    assert!(
        store.use_password_link(&token, "Eve", HASH).await.unwrap().is_none(),
        "used once"
    );
    assert!(store.password_link(&token).await.unwrap().is_none());
    assert_eq!(store.person(kim).await.unwrap().unwrap().user.name, "Kim Lee-Park");
    assert_eq!(actions(store).await, ["user.invited", "user.password_set"]);
    let set = store.audit_log(&AuditFilter::default(), None, 1).await.unwrap();
    assert_eq!(
        set[0].actor, "Kim Lee-Park <kim@example.com>",
        "the person sets it themselves"
    );

    // An email with a login cannot be invited again; a deactivated one neither.
    let again = NewInvite {
        email: "kim@example.com",
        name: "Kim",
        role: Role::Viewer,
    };
    let refused = store
        .invite_user(&again, &link(&new_link_token().unwrap(), 7), ADMIN)
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Refused { field, .. }) if field == "email"),
        "{refused:?}"
    );
    assert_eq!(store.people().await.unwrap().len(), 2, "nothing written");
}

async fn two_uses_at_once_one_wins(store: &Store) {
    let token = new_link_token().unwrap();
    invite(store, "kim@example.com", Role::Csm, &token).await;
    let (a, b) = tokio::join!(
        store.use_password_link(&token, "Kim A", HASH),
        store.use_password_link(&token, "Kim B", HASH)
    );
    let won: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(won.len(), 1, "exactly one use sets the password: {won:?}");
    let set = actions(store)
        .await
        .iter()
        .filter(|a| *a == "user.password_set")
        .count();
    assert_eq!(set, 1);
}

async fn links_expire_and_a_new_one_ends_the_old(store: &Store) {
    let old = new_link_token().unwrap();
    let invite_kim = |token: &str, days: i64| {
        let token = token.to_string();
        async move {
            let invite = NewInvite {
                email: "kim@example.com",
                name: "Kim Lee",
                role: Role::Csm,
            };
            store.invite_user(&invite, &link(&token, days), ADMIN).await
        }
    };
    let expired = invite_kim(&old, -1).await.unwrap().0.id;
    assert!(store.password_link(&old).await.unwrap().is_none(), "expired");
    assert!(store.use_password_link(&old, "Kim", HASH).await.unwrap().is_none());
    assert!(store.people().await.unwrap()[0].pending_link.is_none());

    // Invited again, before setting a password: a new link, the same person.
    let first = new_link_token().unwrap();
    assert_eq!(invite_kim(&first, 7).await.unwrap().0.id, expired);
    let second = new_link_token().unwrap();
    invite_kim(&second, 7).await.unwrap();
    assert!(
        store.password_link(&first).await.unwrap().is_none(),
        "the new link ends the old"
    );
    assert!(store.use_password_link(&second, "Kim", HASH).await.unwrap().is_some());
    assert_eq!(store.people().await.unwrap().len(), 1);

    // A password set from the command line ends a pending link too.
    let third = new_link_token().unwrap();
    let bo = NewInvite {
        email: "bo@example.com",
        name: "Bo",
        role: Role::Viewer,
    };
    store.invite_user(&bo, &link(&third, 7), ADMIN).await.unwrap();
    store
        .upsert_user("bo@example.com", "Bo", Role::Viewer, HASH, None)
        .await
        .unwrap();
    assert!(store.password_link(&third).await.unwrap().is_none());
}

async fn deactivating_ends_sessions_at_once(store: &Store) {
    admin(store).await;
    let kim = store
        .upsert_user("kim@example.com", "Kim Lee", Role::Csm, HASH, None)
        .await
        .unwrap()
        .id;
    let session = store.create_session(kim).await.unwrap();
    let live = store.session(&session.secret).await.unwrap().unwrap();
    assert_eq!((live.user.id, live.demo), (kim, false));
    store.mark_demo_workspace().await.unwrap();
    let live = store.session(&session.secret).await.unwrap().unwrap();
    assert!(live.demo, "a session knows the workspace is the demo's");
    let listed = store.person(kim).await.unwrap().unwrap();
    assert!(listed.last_login_at.is_some(), "a session marks the last login");

    // A reset link issued before, and the person deactivated: neither works.
    let token = new_link_token().unwrap();
    store
        .request_password_reset(kim, &link(&token, 1), ADMIN)
        .await
        .unwrap();
    let gone = store.deactivate_user(kim, ADMIN).await.unwrap();
    assert!(gone.user.disabled);
    assert!(
        store.session(&session.secret).await.unwrap().is_none(),
        "the session ended"
    );
    assert!(store.user_for_login("kim@example.com").await.unwrap().is_none());
    assert!(store.use_password_link(&token, "Kim", HASH).await.unwrap().is_none());
    let refused = store
        .request_password_reset(kim, &link(&new_link_token().unwrap(), 1), ADMIN)
        .await;
    assert!(matches!(refused, Err(StoreError::Refused { .. })), "{refused:?}");
    // Again: nothing more happens.
    store.deactivate_user(kim, ADMIN).await.unwrap();

    store.reactivate_user(kim, ADMIN).await.unwrap();
    store.reactivate_user(kim, ADMIN).await.unwrap();
    assert!(store.user_for_login("kim@example.com").await.unwrap().is_some());
    assert!(
        store.session(&session.secret).await.unwrap().is_none(),
        "ended sessions stay ended"
    );
    assert_eq!(
        actions(store).await,
        ["user.password_reset_requested", "user.deactivated", "user.reactivated"]
    );
}

async fn the_last_admin_is_kept(store: &Store) {
    let ada = admin(store).await;
    let refused = store.set_user_role(ada, Role::Csm, None, ADMIN).await;
    assert!(
        matches!(&refused, Err(StoreError::Refused { field, message }) if field == "role" && message.contains("last active admin")),
        "{refused:?}"
    );
    assert!(matches!(
        store.deactivate_user(ada, ADMIN).await,
        Err(StoreError::Refused { .. })
    ));
    // An admin invited who has not set a password cannot log in: not an admin to keep.
    invite(store, "bo@example.com", Role::Admin, &new_link_token().unwrap()).await;
    assert!(matches!(
        store.deactivate_user(ada, ADMIN).await,
        Err(StoreError::Refused { .. })
    ));
    let bo = store
        .upsert_user("bo@example.com", "Bo Boss", Role::Admin, HASH, None)
        .await
        .unwrap()
        .id;
    let version = store.person(ada).await.unwrap().unwrap().version;
    let changed = store
        .set_user_role(ada, Role::Leader, Some(version), ADMIN)
        .await
        .unwrap();
    assert_eq!(changed.user.role, Role::Leader);
    assert_eq!(changed.version, version + 1);
    // The same role again changes nothing; an edit of an older version is refused.
    store
        .set_user_role(ada, Role::Leader, Some(version + 1), ADMIN)
        .await
        .unwrap();
    let stale = store.set_user_role(ada, Role::Viewer, Some(version), ADMIN).await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    // Now Bo is the last admin.
    assert!(matches!(
        store.set_user_role(bo, Role::Viewer, None, ADMIN).await,
        Err(StoreError::Refused { .. })
    ));
    let changes: Vec<_> = laer_store::test_support::audited(store, "user.role_changed").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].details["from"], "admin");
    assert_eq!(changes[0].details["to"], "leader");
}

async fn two_admins_demoting_each_other_leave_one(store: &Store) {
    let ada = admin(store).await;
    let bo = store
        .upsert_user("bo@example.com", "Bo Boss", Role::Admin, HASH, None)
        .await
        .unwrap()
        .id;
    let (a, b) = tokio::join!(
        store.set_user_role(ada, Role::Csm, None, ADMIN),
        store.deactivate_user(bo, ADMIN)
    );
    assert!(a.is_ok() != b.is_ok(), "one change is refused: {a:?} {b:?}");
    let admins = store
        .people()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.user.role == Role::Admin && !p.user.disabled)
        .count();
    assert_eq!(admins, 1);
}

async fn invitation_emails_go_to_the_outbox(store: &Store) {
    let token = new_link_token().unwrap();
    let body = format!("Choose your password: https://laer.example.com/password/{token}");
    let invite = NewInvite {
        email: "kim@example.com",
        name: "Kim Lee",
        role: Role::Csm,
    };
    let with_email = NewLink {
        email: Some(LinkEmail {
            subject: "You are invited to laer",
            body: &body,
        }),
        ..link(&token, 7)
    };
    store.invite_user(&invite, &with_email, ADMIN).await.unwrap();
    let queued = store.deliveries(None, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].recipient.as_deref(), Some("kim@example.com"));
    assert_eq!(
        (queued[0].channel.as_str(), queued[0].event.as_str()),
        ("email", "user.invited")
    );
    assert_eq!(queued[0].account_id, None);
}

async fn tokens_and_write_keys_are_revoked_and_audited(store: &Store) {
    let key = store.create_write_key_as("website", ADMIN).await.unwrap();
    assert_eq!(store.authenticate(&key.secret).await.unwrap(), Some(key.record.id));
    assert!(store.revoke_write_key_as(key.record.id, ADMIN).await.unwrap());
    assert_eq!(store.authenticate(&key.secret).await.unwrap(), None, "revoked");
    assert!(
        store.revoke_write_key_as(key.record.id, ADMIN).await.unwrap(),
        "again: still there"
    );
    assert!(!store.revoke_write_key_as(9_999, ADMIN).await.unwrap(), "no such key");
    assert!(store.write_keys().await.unwrap()[0].revoked_at.is_some());

    let token = store.create_api_token_as("crm", Role::Viewer, ADMIN).await.unwrap();
    assert_eq!(
        store
            .authenticate_api_token(&token.secret)
            .await
            .unwrap()
            .map(|t| t.role),
        Some(Role::Viewer)
    );
    assert!(store.revoke_api_token_as(token.record.id, ADMIN).await.unwrap());
    assert!(store.revoke_api_token_as(token.record.id, ADMIN).await.unwrap());
    assert_eq!(store.authenticate_api_token(&token.secret).await.unwrap(), None);
    assert!(!store.revoke_api_token(9_999).await.unwrap());
    // Unaudited for setting up; audited once per change for people.
    store.create_write_key("setup").await.unwrap();
    assert_eq!(
        actions(store).await,
        [
            "write_key.created",
            "write_key.revoked",
            "token.created",
            "token.revoked"
        ]
    );
    let log = store.audit_log(&AuditFilter::default(), None, 10).await.unwrap();
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains(&key.secret) && !text.contains(&token.secret),
        "no secret in the log"
    );
}

async fn the_audit_log_filters_and_pages(store: &Store) {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount {
        external_id: "acme".into(),
        name: Some("Acme".into()),
        segment: None,
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: BTreeMap::new(),
    }])
    .await
    .unwrap();
    let acme = tx.id_lookup(IdLookup::Accounts).await.unwrap()["acme"];
    let t0 = Utc::now() - TimeDelta::days(1);
    for i in 0..25_i64 {
        let (actor, action) = match i % 3 {
            0 => ("Kim Lee <kim@example.com>", "task.done"),
            1 => ("Bo_Boss <bo@example.com>", "task.commented"),
            _ => ("cli:root", "phase.set"),
        };
        tx.append_audit(&NewAuditEntry {
            // Two entries share each instant, so that the page's cursor needs the id too.
            at: t0 + TimeDelta::seconds(i / 2),
            actor: actor.into(),
            action: action.into(),
            details: if i % 2 == 0 {
                serde_json::json!({"account_id": acme, "n": i})
            } else {
                serde_json::json!({"n": i})
            },
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let log = |filter: AuditFilter| async move {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = store.audit_log(&filter, after, 4).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.cursor());
            all.extend(page.into_iter().map(|r| r.details["n"].as_i64().unwrap()));
        }
        all
    };
    let all = log(AuditFilter::default()).await;
    assert_eq!(all, (0..25).rev().collect::<Vec<_>>(), "newest first, every entry once");
    let of_acme = log(AuditFilter {
        account_id: Some(acme),
        ..Default::default()
    })
    .await;
    assert_eq!(of_acme, (0..25).rev().filter(|i| i % 2 == 0).collect::<Vec<_>>());
    let first = store.audit_log(&AuditFilter::default(), None, 1).await.unwrap();
    assert_eq!(first[0].account_name.as_deref(), Some("Acme"));
    for family in ["task", "task.", "TASK."] {
        let tasks = log(AuditFilter {
            action: Some(family.into()),
            ..Default::default()
        })
        .await;
        let expected: Vec<i64> = (0..25).rev().filter(|i| i % 3 != 2).collect();
        assert_eq!(tasks, expected, "{family}");
    }
    let done = log(AuditFilter {
        action: Some("task.done".into()),
        actor: Some("KIM@".into()),
        account_id: Some(acme),
    })
    .await;
    assert_eq!(done, (0..25).rev().filter(|i| i % 6 == 0).collect::<Vec<_>>());
    // Wildcards in the text are taken as they are.
    let underscore = log(AuditFilter {
        actor: Some("_".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(underscore, (0..25).rev().filter(|i| i % 3 == 1).collect::<Vec<_>>());
    assert!(
        log(AuditFilter {
            actor: Some("%".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
}

laer_store::backend_tests!(
    an_invitation_link_sets_the_password_once,
    two_uses_at_once_one_wins,
    links_expire_and_a_new_one_ends_the_old,
    deactivating_ends_sessions_at_once,
    the_last_admin_is_kept,
    two_admins_demoting_each_other_leave_one,
    invitation_emails_go_to_the_outbox,
    tokens_and_write_keys_are_revoked_and_audited,
    the_audit_log_filters_and_pages,
);
