//! In a real browser (see `browser.rs` for what it needs): a CSM logs a meeting with the
//! customer's executive team and sees the engagement pillar and "since last week" change
//! on the account page, and the health engine, running beside the server, rescore the
//! account within seconds (`tests/browser/touchpoint.cjs`).

use std::path::Path;
use std::process::Command;

use crate::browser::node_modules;
use crate::common::{acme, spawn};
use laer_core::access::Role;
use laer_core::model::{
    MeetingStatus, NewContact, NewMeetingCadence, NewTeamMember, NewTouchpoint, TeamRole, TouchpointKind,
};
use laer_store::IdLookup;

const EMAIL: &str = "kim@vendor.example";
const PASSWORD: &str = "kim's password";

#[tokio::test]
async fn a_csm_logs_an_executive_meeting_and_sees_engagement_move() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let db = laer_store::test_support::sqlite().await;
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let id = acme(&mut tx, 400, Some(120), 2_000, 25.0).await;
    let contact = |external_id: &str, name: &str, team: &str| NewContact {
        external_id: external_id.into(),
        account_id: id,
        name: Some(name.into()),
        email: None,
        phone: None,
        title: None,
        stakeholder_team: Some(team.into()),
        role: None,
    };
    tx.upsert(&[
        contact("dana", "Dana Exec", "executive"),
        contact("nora", "Nora Net", "network"),
    ])
    .await
    .unwrap();
    tx.upsert(&[
        NewMeetingCadence::new(id, "executive", 90).unwrap(),
        NewMeetingCadence::new(id, "network", 30).unwrap(),
    ])
    .await
    .unwrap();
    // The network team was met last week; the executives not for over a year.
    tx.upsert(&[NewTouchpoint {
        external_id: "cal-1".into(),
        account_id: id,
        held_at: chrono::Utc::now() - chrono::TimeDelta::days(5),
        kind: TouchpointKind::Call,
        purpose: None,
        status: MeetingStatus::Held,
        duration_minutes: Some(30),
        stakeholder_teams: vec!["network".into()],
        contact_ids: vec![],
        team_member_ids: vec![],
        summary: None,
        next_step: None,
    }])
    .await
    .unwrap();
    tx.upsert(&[NewTeamMember {
        external_id: "kim".into(),
        name: "Kim Lee".into(),
        email: Some(EMAIL.into()),
        roles: Some(vec![TeamRole::Csm]),
    }])
    .await
    .unwrap();
    let kim = tx.id_lookup(IdLookup::TeamMembers).await.unwrap()["kim"];
    tx.commit().await.unwrap();
    let hash = laer_app::auth::hash_password(PASSWORD).unwrap();
    store
        .upsert_user(EMAIL, "Kim Lee", Role::Csm, &hash, Some(kim))
        .await
        .unwrap();
    let base = spawn(store).await;
    // The engine scores the account before the browser reads the portfolio.
    for _ in 0..100 {
        let snapshots = store.account_snapshots(chrono::Utc::now().date_naive()).await.unwrap();
        if snapshots.iter().any(|a| a.id == id && a.health_score().is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/touchpoint.cjs");
    let mut command = Command::new("node");
    command
        .arg(script)
        .arg(&base)
        .arg(id.to_string())
        .arg(EMAIL)
        .arg(PASSWORD)
        .env("NODE_PATH", &node_modules);
    let stdout = crate::browser::run_script(command, "touchpoint: all steps passed", "the browser test").await;
    eprintln!("{stdout}");
}
