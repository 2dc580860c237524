//! Import stories, each run on SQLite and on PostgreSQL.

use std::path::{Path, PathBuf};

use laer_import::{ImportError, Kind, Options, Rejects};
use laer_store::Store;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fightchurn")
}

fn options() -> Options<'static> {
    Options {
        actor: "test".into(),
        ..Options::default()
    }
}

async fn import_text(store: &Store, kind: Kind, text: &str) -> Result<laer_import::ImportReport, ImportError> {
    laer_import::import(store, kind, "test.csv", text.as_bytes(), &mut options()).await
}

async fn import_fixture(store: &Store) -> Result<Vec<laer_import::ImportReport>, ImportError> {
    laer_import::import_fightchurn(store, &fixtures(), |p: &Path| std::fs::File::open(p), &mut options()).await
}

fn rejected(result: Result<laer_import::ImportReport, ImportError>) -> Vec<String> {
    match result {
        Err(ImportError::Rejected { errors, .. }) => errors.iter().map(ToString::to_string).collect(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

async fn fightchurn_counts_match_the_source_and_reimport_changes_nothing(store: &Store) {
    let reports = import_fixture(store).await.unwrap();
    let written: Vec<(String, u64)> = reports.iter().map(|r| (r.kind.clone(), r.written)).collect();
    assert_eq!(
        written,
        [
            ("accounts".into(), 3),
            ("event-types".into(), 3),
            ("subscriptions".into(), 6),
            ("events".into(), 8)
        ]
    );
    let counts = store.counts().await.unwrap();
    // Identical rows in the source are distinct records: the counts equal the files' row counts.
    assert_eq!(
        (counts.accounts, counts.event_types, counts.subscriptions, counts.events),
        (3, 3, 6, 8)
    );
    assert_eq!(counts.audit_entries, 4);

    assert_eq!(
        store.rollup_mismatches().await.unwrap(),
        0,
        "the rollups agree with the events"
    );
    let again = import_fixture(store).await.unwrap();
    assert!(
        again.iter().all(|r| r.written == 0 && r.unchanged == r.rows),
        "{again:?}"
    );
    assert_eq!(store.counts().await.unwrap(), counts);

    let account = store.account_by_external_id("2").await.unwrap().unwrap();
    assert_eq!(account.fields.channel, None);
    assert_eq!(account.fields.country, None);
    let lines = store.subscriptions_of(account.id).await.unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].fields.mrr.to_string(), "9.99");
    assert_eq!(lines[0].fields.end_date, None);
    assert_eq!(lines[0].fields.quantity, None);
}

async fn a_bad_row_rejects_the_whole_file_naming_line_and_column(store: &Store) {
    import_text(store, Kind::Accounts, "id\n0\n1\n").await.unwrap();
    let errors = rejected(
        import_text(
            store,
            Kind::Events,
            "account_id,event_time,event_type,user_id,event_value\n\
             0,2022-01-05 00:01:01,login,1,\n\
             0,2022-13-05 00:01:01,login,1,\n\
             1,2022-01-05 00:01:01,login,1,abc\n\
             9,2022-01-05 00:01:01,login,1,\n\
             1,,login,1,\n\
             1,2022-01-05 00:01:01,login\n",
        )
        .await,
    );
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(
        errors[0].starts_with("line 3, column event_time: expected a timestamp"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("line 4, column event_value: expected a number"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].starts_with("line 5, column account_id: unknown account \"9\""),
        "{}",
        errors[2]
    );
    assert!(
        errors[3].starts_with("line 6, column event_time: is required"),
        "{}",
        errors[3]
    );
    assert!(
        errors[4].starts_with("line 7: has 3 fields, the header has 5"),
        "{}",
        errors[4]
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.events, counts.event_types),
        (0, 0),
        "nothing of a rejected file is written"
    );
}

async fn a_bad_row_in_a_fightchurn_export_writes_nothing_at_all(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["account.csv", "event_type.csv", "subscription.csv"] {
        std::fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }
    let mut events = std::fs::read_to_string(fixtures().join("event.csv")).unwrap();
    events.push_str("0,2022-01-05 00:01:01,77,4,\n");
    std::fs::write(dir.path().join("event.csv"), events).unwrap();
    let result =
        laer_import::import_fightchurn(store, dir.path(), |p: &Path| std::fs::File::open(p), &mut options()).await;
    let Err(ImportError::Rejected { file, errors, count }) = result else {
        panic!("expected rejection: {result:?}")
    };
    assert!(file.ends_with("event.csv"));
    assert_eq!(count, 1);
    assert_eq!(errors[0].line, 10);
    assert_eq!(errors[0].column.as_deref(), Some("event_type_id"));
    assert_eq!(store.counts().await.unwrap(), Default::default());
}

async fn skip_invalid_writes_the_valid_rows_and_reports_the_rest(store: &Store) {
    let mut rejects = Vec::new();
    let mut options = Options {
        skip_invalid: true,
        rejects: Some(Rejects {
            writer: &mut rejects,
            path: "rejects.csv".into(),
        }),
        actor: "test".into(),
        ..Options::default()
    };
    let report = laer_import::import(
        store,
        Kind::Accounts,
        "a.csv",
        "id,date_of_birth\n1,2020-01-01\n2,yesterday\n3,\n3,\n".as_bytes(),
        &mut options,
    )
    .await
    .unwrap();
    drop(options);
    assert_eq!((report.rows, report.written, report.rejected), (4, 2, 2));
    let text = String::from_utf8(rejects).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("3,date_of_birth,\"expected a date"), "{text}");
    assert!(
        lines[1].starts_with("5,external_id,\"\"\"3\"\" appears more than once"),
        "{text}"
    );
    assert_eq!(store.counts().await.unwrap().accounts, 2);
}

async fn headers_are_checked_before_any_row(store: &Store) {
    let missing = rejected(
        import_text(
            store,
            Kind::Subscriptions,
            "account_id,product,start_date\n1,a,2024-01-01\n",
        )
        .await,
    );
    assert_eq!(missing.len(), 1);
    assert!(
        missing[0].starts_with("line 1: missing required column(s) mrr;"),
        "{}",
        missing[0]
    );
    let unknown = rejected(import_text(store, Kind::EventTypes, "id,name,colour\n1,login,red\n").await);
    assert!(unknown[0].contains("unknown column(s) colour"), "{}", unknown[0]);
    // Accounts keep columns they do not know as attributes.
    import_text(store, Kind::Accounts, "External ID,Name,Plan Tier\nx1,Acme,gold\n")
        .await
        .unwrap();
    let acme = store.account_by_external_id("x1").await.unwrap().unwrap();
    assert_eq!(acme.fields.name.as_deref(), Some("Acme"));
    assert_eq!(
        acme.fields.attributes.get("Plan Tier").map(String::as_str),
        Some("gold")
    );
}

async fn events_by_name_create_their_types(store: &Store) {
    import_text(store, Kind::Accounts, "id\na\n").await.unwrap();
    let text = "account_id,timestamp,event,user_id\n\
                a,2024-05-01T10:00:00Z,report_viewed,u1\n\
                a,2024-05-01T10:00:00+02:00,report_viewed,u1\n\
                a,2024-05-01T10:00:00Z,export,u2\n";
    let report = import_text(store, Kind::Events, text).await.unwrap();
    assert_eq!(report.written, 3);
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.events, counts.event_types), (3, 2));
    assert_eq!(store.rollup_mismatches().await.unwrap(), 0);
    let again = import_text(store, Kind::Events, text).await.unwrap();
    assert_eq!((again.written, again.unchanged), (0, 3));
    assert_eq!(store.counts().await.unwrap().event_types, 2);
}

async fn a_changed_record_is_updated_not_duplicated(store: &Store) {
    import_text(store, Kind::Accounts, "id,segment\na,smb\nb,smb\n")
        .await
        .unwrap();
    let report = import_text(store, Kind::Accounts, "id,segment\na,smb\nb,enterprise\n")
        .await
        .unwrap();
    assert_eq!((report.written, report.unchanged), (1, 1));
    assert_eq!(store.counts().await.unwrap().accounts, 2);
    let b = store.account_by_external_id("b").await.unwrap().unwrap();
    assert_eq!(b.fields.segment.as_deref(), Some("enterprise"));
}

async fn meeting_cadences_replace_per_account_and_team(store: &Store) {
    import_text(store, Kind::Accounts, "id\nacme\nglobex\n").await.unwrap();
    assert_eq!("meeting_cadences".parse::<Kind>(), Ok(Kind::MeetingCadences));
    let text = "Account,Team,Every Days\n\
                acme,Executive,90\n\
                acme, network ,30\n\
                globex,Application Owners,30.0\n";
    let report = import_text(store, Kind::MeetingCadences, text).await.unwrap();
    assert_eq!(
        (report.kind.as_str(), report.rows, report.written),
        ("meeting-cadences", 3, 3)
    );
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap().id;
    let globex = store.account_by_external_id("globex").await.unwrap().unwrap().id;
    assert_eq!(
        store
            .meeting_cadences()
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.account_id, c.stakeholder_team, c.every_days))
            .collect::<Vec<_>>(),
        [
            (acme, "executive".to_string(), 90),
            (acme, "network".to_string(), 30),
            (globex, "application_owners".to_string(), 30),
        ],
        "teams are stored as contacts' and meetings' are"
    );

    let again = import_text(store, Kind::MeetingCadences, text).await.unwrap();
    assert_eq!((again.written, again.unchanged), (0, 3));
    let changed = import_text(
        store,
        Kind::MeetingCadences,
        "account_id,stakeholder_team,every_days\nacme,network,45\nacme,executive,90\n",
    )
    .await
    .unwrap();
    assert_eq!((changed.written, changed.unchanged), (1, 1));
    assert_eq!(
        store
            .meeting_cadences_of(acme)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.stakeholder_team, c.every_days))
            .collect::<Vec<_>>(),
        [("executive".to_string(), 90), ("network".to_string(), 45)]
    );
    assert_eq!(store.counts().await.unwrap().meeting_cadences, 3);
}

async fn bad_meeting_cadences_name_line_and_column(store: &Store) {
    import_text(store, Kind::Accounts, "id\nacme\nglobex\n").await.unwrap();
    let errors = rejected(
        import_text(
            store,
            Kind::MeetingCadences,
            "account_id,stakeholder_team,every_days\n\
             acme,executive,90\n\
             nowhere,network,30\n\
             acme,,30\n\
             acme,security,0\n\
             acme,security,367\n\
             acme,security,monthly\n\
             acme,Executive,60\n\
             globex,network,\n\
             globex,network,30\n",
        )
        .await,
    );
    assert_eq!(
        errors,
        [
            "line 3, column account_id: unknown account \"nowhere\"; import the account first",
            "line 4, column stakeholder_team: is required but empty",
            "line 5, column every_days: expected days between meetings, 1 to 366, found 0",
            "line 6, column every_days: expected days between meetings, 1 to 366, found 367",
            "line 7, column every_days: expected a whole number, found \"monthly\"",
            "line 8, column stakeholder_team: account \"acme\" has a cadence for team \"executive\" more than once \
             in this file",
            "line 9, column every_days: is required but empty",
        ]
    );
    assert_eq!(
        store.counts().await.unwrap().meeting_cadences,
        0,
        "nothing of a rejected file is written"
    );

    let missing = rejected(import_text(store, Kind::MeetingCadences, "account_id,team\nacme,network\n").await);
    assert!(
        missing[0].starts_with("line 1: missing required column(s) every_days;"),
        "{}",
        missing[0]
    );
}

/// Files longer than one batch: written batches are rolled back when a late row fails.
async fn a_late_bad_row_undoes_the_batches_before_it(store: &Store) {
    let mut text = "id,date_of_birth\n".to_string();
    for i in 0..5_000 {
        text.push_str(&format!("acc-{i},2020-01-01\n"));
    }
    let good = text.clone();
    text.push_str("late,2020-01-32\n");
    let errors = rejected(import_text(store, Kind::Accounts, &text).await);
    assert_eq!(
        errors,
        ["line 5002, column date_of_birth: expected a date as YYYY-MM-DD, found \"2020-01-32\""]
    );
    assert_eq!(store.counts().await.unwrap().accounts, 0);
    let report = import_text(store, Kind::Accounts, &good).await.unwrap();
    assert_eq!((report.rows, report.written), (5_000, 5_000));
    assert_eq!(store.counts().await.unwrap().accounts, 5_000);
}

/// Every example in docs/import.md imports cleanly, in the order the doc gives.
async fn the_documented_examples_import(store: &Store) {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/import.md")).unwrap();
    let examples = documented_examples(&doc);
    let kinds: Vec<Kind> = examples.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds.len(),
        Kind::ALL.len(),
        "docs/import.md has an example for every kind: {kinds:?}"
    );
    for (kind, csv) in &examples {
        let report = import_text(store, *kind, csv)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(report.rows > 0 && report.written == report.rows, "{kind}: {report:?}");
    }
    let counts = serde_json::to_value(store.counts().await.unwrap()).unwrap();
    for kind in Kind::ALL {
        let key = kind.name().replace('-', "_");
        assert!(
            counts[&key].as_i64().unwrap() > 0,
            "{key} is empty after the examples: {counts}"
        );
    }
}

/// `## kind` headings, each followed by a ```csv block.
fn documented_examples(doc: &str) -> Vec<(Kind, String)> {
    let mut examples = Vec::new();
    let mut kind = None;
    let mut block: Option<String> = None;
    for line in doc.lines() {
        if let Some(text) = block.as_mut() {
            if line.starts_with("```") {
                if let Some(k) = kind.take() {
                    examples.push((k, std::mem::take(text)));
                }
                block = None;
            } else {
                text.push_str(line);
                text.push('\n');
            }
        } else if let Some(heading) = line.strip_prefix("## ") {
            kind = heading.trim().trim_matches('`').parse::<Kind>().ok();
        } else if line.starts_with("```csv") {
            block = Some(String::new());
        }
    }
    examples
}

/// Touchpoints by CSV: teams, contacts and team members listed in one cell, a former
/// free-text kind kept as the purpose; the kind also answers to `touchpoints`; a contact
/// that does not exist is named by line and column; repeating the file changes nothing.
async fn touchpoints_import_with_their_teams_and_people(store: &Store) {
    assert_eq!("touchpoints".parse::<Kind>(), Ok(Kind::Meetings));
    import_text(store, Kind::Accounts, "external_id,name\nacme,Acme\nglobex,Globex\n")
        .await
        .unwrap();
    import_text(
        store,
        Kind::Contacts,
        "external_id,account_id,name,stakeholder_team\nc-1,acme,Dana,executive\nc-2,acme,Sam,security\nc-9,globex,Hank,executive\n",
    )
    .await
    .unwrap();
    import_text(
        store,
        Kind::TeamMembers,
        "external_id,name,email,roles\nkim,Kim Lee,kim@vendor.example,csm\n",
    )
    .await
    .unwrap();
    let text = "external_id,account_id,held_at,teams,kind,summary,contacts,team_members\n\
                m-1,acme,2024-04-15T14:00:00Z,Executive; security,qbr,Agreed the target,c-1;c-2,kim\n\
                m-2,acme,2024-05-15 14:00:00,network,call,,,\n";
    let report = import_text(store, Kind::Meetings, text).await.unwrap();
    assert_eq!(report.written, 2);
    let acme = store
        .account_names()
        .await
        .unwrap()
        .into_iter()
        .find(|(_, n)| n.external_id == "acme")
        .unwrap()
        .0;
    let stored = store.touchpoints_of(acme).await.unwrap();
    let m1 = stored.iter().find(|t| t.record.external_id == "m-1").unwrap();
    assert_eq!(m1.record.kind, laer_core::model::TouchpointKind::BusinessReview);
    assert_eq!(m1.record.purpose.as_deref(), Some("qbr"));
    assert_eq!(m1.record.stakeholder_teams, ["executive", "security"]);
    assert_eq!(
        m1.contacts.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Dana", "Sam"]
    );
    assert_eq!(m1.team_members[0].name, "Kim Lee");
    assert_eq!(m1.record.summary.as_deref(), Some("Agreed the target"));
    let again = import_text(store, Kind::Meetings, text).await.unwrap();
    assert_eq!((again.written, again.unchanged), (0, 2));

    let bad = "external_id,account_id,held_at,contacts\nm-3,acme,2024-06-01,c-404\n";
    assert_eq!(
        rejected(import_text(store, Kind::Meetings, bad).await),
        ["line 2, column contacts: unknown contact \"c-404\"; import the contact first"]
    );
    let theirs = "external_id,account_id,held_at,contacts\nm-4,acme,2024-06-01,c-9\n";
    let err = import_text(store, Kind::Meetings, theirs).await.unwrap_err();
    assert!(err.to_string().contains("contacts"), "{err}");
    assert_eq!(
        store.touchpoints_of(acme).await.unwrap().len(),
        2,
        "nothing more written"
    );
}

/// An import given its history row (as `laer import` and the browser's give it) records
/// its outcome there: done in its own transaction, or failed with the rows that failed it.
async fn a_recorded_import_records_its_outcome_in_the_history(store: &Store) {
    use laer_core::import_runs::RunStatus;
    let start = |file: &'static str| laer_store::NewImportRun {
        kind: "accounts",
        file_name: file,
        actor: "cli:kim",
        source: "cli",
        upload_id: None,
        bytes_total: Some(40),
    };
    let good = store.start_import_run(&start("good.csv")).await.unwrap();
    let mut recorded = Options {
        run: Some(good),
        ..options()
    };
    let text = "id,name\nA1,Acme\nA2,Bolt\n";
    laer_import::import(store, Kind::Accounts, "good.csv", text.as_bytes(), &mut recorded)
        .await
        .unwrap();
    let run = store.import_run(good).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Done);
    assert_eq!((run.rows, run.written, run.unchanged), (2, 2, 0));

    let bad = store.start_import_run(&start("bad.csv")).await.unwrap();
    let mut recorded = Options {
        run: Some(bad),
        ..options()
    };
    let text = "id,date_of_birth\nA3,2020-01-01\nA4,yesterday\n";
    let result = laer_import::import(store, Kind::Accounts, "bad.csv", text.as_bytes(), &mut recorded).await;
    assert!(matches!(result, Err(ImportError::Rejected { count: 1, .. })));
    let run = store.import_run(bad).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some("1 invalid row(s)"));
    assert_eq!(run.error_count, 1);
    let errors: Vec<laer_import::RowError> = serde_json::from_value(run.row_errors).unwrap();
    assert_eq!(
        (errors[0].line, errors[0].column.as_deref()),
        (3, Some("date_of_birth"))
    );
    assert_eq!(store.counts().await.unwrap().accounts, 2, "nothing of the bad file");
}

/// A team-members file without a roles column (a CRM's owners) keeps the stored roles;
/// an empty roles cell clears them.
async fn team_members_without_roles_keep_theirs(store: &Store) {
    let roles = |members: Vec<laer_core::automation::Member>| -> Vec<(String, Vec<String>)> {
        members
            .into_iter()
            .map(|m| (m.external_id, m.roles.iter().map(ToString::to_string).collect()))
            .collect()
    };
    import_text(
        store,
        Kind::TeamMembers,
        "external_id,name,roles\ntm-1,Grace,csm;renewal_specialist\ntm-2,Alan,account_executive\n",
    )
    .await
    .unwrap();
    let report = import_text(
        store,
        Kind::TeamMembers,
        "external_id,name,email\ntm-1,Grace H,grace@vendor.example\ntm-3,Ada,\n",
    )
    .await
    .unwrap();
    assert_eq!(report.written, 2);
    assert_eq!(
        roles(store.team_members().await.unwrap()),
        [
            (
                "tm-1".to_string(),
                vec!["csm".to_string(), "renewal_specialist".to_string()]
            ),
            ("tm-2".to_string(), vec!["account_executive".to_string()]),
            ("tm-3".to_string(), vec![]),
        ]
    );
    import_text(store, Kind::TeamMembers, "external_id,name,roles\ntm-1,Grace H,\n")
        .await
        .unwrap();
    assert_eq!(roles(store.team_members().await.unwrap())[0].1, Vec::<String>::new());
}

/// A CRM's account owners: the member takes the role as by hand, with a hand-off task;
/// the same owner again changes nothing; a new owner ends the old one's assignment; bad
/// rows name their line and column.
async fn owners_take_their_roles_as_the_crm_says(store: &Store) {
    import_text(store, Kind::Accounts, "external_id,name\nacme,Acme\nglobex,Globex\n")
        .await
        .unwrap();
    import_text(
        store,
        Kind::TeamMembers,
        "external_id,name,roles\ntm-1,Grace,csm\ntm-2,Alan,csm\n",
    )
    .await
    .unwrap();
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap().id;
    let current = |rows: Vec<laer_store::CoverageRow>| -> Vec<(String, String, bool)> {
        rows.into_iter()
            .filter(|r| r.until.is_none())
            .map(|r| (r.role.to_string(), r.member, r.by_hand))
            .collect()
    };
    let report = import_text(store, Kind::Owners, "account_id,owner,role\nacme,tm-1,csm\n")
        .await
        .unwrap();
    assert_eq!((report.written, report.unchanged), (1, 0));
    assert_eq!(
        current(store.coverage_of_account(acme).await.unwrap()),
        [("csm".to_string(), "Grace".to_string(), true)]
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.owners, counts.tasks),
        (1, 1),
        "an owner and their hand-off task"
    );

    let again = import_text(store, Kind::Owners, "account_id,owner,role\nacme,tm-1,csm\n")
        .await
        .unwrap();
    assert_eq!((again.written, again.unchanged), (0, 1));
    assert_eq!(store.counts().await.unwrap().tasks, 1, "no second hand-off");

    let moved = import_text(store, Kind::Owners, "account_id,owner,role\nacme,tm-2,csm\n")
        .await
        .unwrap();
    assert_eq!(moved.written, 1);
    let rows = store.coverage_of_account(acme).await.unwrap();
    assert_eq!(current(rows.clone()), [("csm".to_string(), "Alan".to_string(), true)]);
    assert!(
        rows.iter().any(|r| r.member == "Grace" && r.until.is_some()),
        "Grace's assignment ended: {rows:?}"
    );
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.owners, counts.tasks), (1, 2));

    let errors = rejected(
        import_text(
            store,
            Kind::Owners,
            "account_id,owner,role\nacme,tm-9,csm\nacme,tm-1,wizard\nglobex,tm-1,csm\nglobex,tm-2,csm\n",
        )
        .await,
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].contains("line 2") && errors[0].contains("team_member_id"),
        "{errors:?}"
    );
    assert!(errors[1].contains("line 3") && errors[1].contains("role"), "{errors:?}");
    assert!(
        errors[2].contains("line 5") && errors[2].contains("more than once"),
        "{errors:?}"
    );
    assert_eq!(store.counts().await.unwrap().owners, 1, "nothing of the bad file");
}

laer_store::backend_tests!(
    team_members_without_roles_keep_theirs,
    owners_take_their_roles_as_the_crm_says,
    touchpoints_import_with_their_teams_and_people,
    a_recorded_import_records_its_outcome_in_the_history,
    fightchurn_counts_match_the_source_and_reimport_changes_nothing,
    a_bad_row_rejects_the_whole_file_naming_line_and_column,
    a_bad_row_in_a_fightchurn_export_writes_nothing_at_all,
    skip_invalid_writes_the_valid_rows_and_reports_the_rest,
    headers_are_checked_before_any_row,
    events_by_name_create_their_types,
    a_changed_record_is_updated_not_duplicated,
    meeting_cadences_replace_per_account_and_team,
    bad_meeting_cadences_name_line_and_column,
    a_late_bad_row_undoes_the_batches_before_it,
    the_documented_examples_import,
);
