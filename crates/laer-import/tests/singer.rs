//! laer as a Singer target, on SQLite and on PostgreSQL: a real tap's output
//! (meltanolabs-tap-postgres reading a warehouse schema, captured in the fixture), and
//! streams written here for what a tap may do wrong.

use std::path::Path;

use laer_import::singer::{LoadedMapping, SingerFailure, SingerOptions, SingerReport, import_singer, load_mapping};
use laer_store::Store;
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/singer")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn warehouse() -> LoadedMapping {
    load_mapping("warehouse.toml", &fixture("warehouse.toml")).unwrap()
}

/// Imports `text`; the states handed on, and the outcome.
async fn import(
    store: &Store,
    mapping: &LoadedMapping,
    text: &str,
) -> (Vec<Value>, Result<SingerReport, SingerFailure>) {
    let mut states = Vec::new();
    let mut keep = |state: &Value| states.push(state.clone());
    let mut options = SingerOptions {
        actor: "test".into(),
        on_state: Some(&mut keep),
        ..Default::default()
    };
    let outcome = import_singer(
        store,
        mapping,
        std::io::Cursor::new(text.as_bytes().to_vec()),
        &mut options,
    )
    .await;
    drop(options);
    (states, outcome)
}

fn lines(messages: &[Value]) -> String {
    messages.iter().map(|m| format!("{m}\n")).collect()
}

async fn a_taps_output_is_mapped_written_and_its_state_handed_on(store: &Store) {
    let mapping = warehouse();
    let output = fixture("tap-postgres-warehouse.jsonl");
    let (states, report) = import(store, &mapping, &output).await;
    let report = report.unwrap();
    let last_state: Value = serde_json::from_str(output.lines().last().unwrap()).unwrap();
    assert_eq!(
        states,
        [last_state["value"].clone()],
        "the last state, once its records are kept"
    );
    assert_eq!(report.state.as_ref(), Some(&last_state["value"]));
    let counts = |stream: &str| {
        let s = &report.streams[stream];
        (s.records, s.written, s.unchanged, s.unmapped)
    };
    assert_eq!(counts("warehouse-accounts"), (2, 2, 0, 0));
    assert_eq!(counts("warehouse-contracts"), (2, 2, 0, 0));
    assert_eq!(counts("warehouse-tickets"), (2, 1, 0, 1));
    let reason = &report.streams["warehouse-tickets"].reasons[0];
    assert_eq!(
        (reason.kind.as_str(), reason.column.as_str(), reason.count, reason.line),
        ("support-cases", "account_id", 1, 11)
    );
    assert_eq!(reason.example, "no account has the external id \"a9\" (account_id)");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    // Field by field, as the warehouse holds them.
    let acme = store.account_by_external_id("a1").await.unwrap().unwrap();
    assert_eq!(acme.fields.name.as_deref(), Some("Acme"));
    assert_eq!(acme.fields.renewal_date, Some("2027-03-01".parse().unwrap()));
    assert_eq!(
        acme.fields.attributes.get("domain").map(String::as_str),
        Some("acme.com")
    );
    let lines = store.subscriptions_of(acme.id).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].fields.mrr.to_string(), "1200.5");
    assert_eq!(
        (lines[0].fields.quantity, lines[0].fields.units.as_deref()),
        (Some(40.0), Some("seats"))
    );
    let cases = store.support_cases_of(acme.id, 10).await.unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].fields.external_id, "wh-1");
    assert_eq!(cases[0].fields.severity, 1, "urgent is mapped to 1");
    assert_eq!(cases[0].fields.opened_at.to_rfc3339(), "2026-11-01T10:00:00+00:00");
    let audit = laer_store::test_support::audited(store, "singer.import").await;
    assert_eq!(audit.len(), 1);

    // The same output again changes nothing, and leaves no trace.
    let (_, again) = import(store, &mapping, &output).await;
    let again = again.unwrap();
    assert_eq!(again.totals(), (0, 5, 1));
    assert_eq!(laer_store::test_support::audited(store, "singer.import").await.len(), 1);
}

fn schema(stream: &str) -> Value {
    json!({"type": "SCHEMA", "stream": stream, "key_properties": ["id"],
           "schema": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": ["string", "null"]},
                      "segment": {"type": ["string", "null"]}, "domain": {"type": ["string", "null"]},
                      "renewal_date": {"type": ["string", "null"], "format": "date"}}}})
}

fn account(id: &str, name: &str) -> Value {
    json!({"type": "RECORD", "stream": "warehouse-accounts", "record": {"id": id, "name": name}})
}

async fn a_bad_line_stops_and_keeps_only_whole_batches(store: &Store) {
    let mapping = warehouse();
    let state = |n: i64| json!({"type": "STATE", "value": {"n": n}});
    let mut messages = vec![
        schema("warehouse-accounts"),
        account("a1", "Acme"),
        state(1),
        // A full copy is complete: a batch ends here.
        json!({"type": "ACTIVATE_VERSION", "stream": "warehouse-accounts", "version": 1}),
        account("a2", "Umbra"),
        state(2),
    ];
    let mut text = lines(&messages);
    text.push_str("{\"type\": \"RECORD\", \"stream\": \n");
    let (states, outcome) = import(store, &mapping, &text).await;
    let failure = outcome.unwrap_err();
    assert_eq!(
        failure.error.to_string(),
        "line 7: not a JSON object: EOF while parsing a value at line 1 column 29; nothing of the current batch was written"
    );
    assert_eq!(states, [json!({"n": 1})], "only the state whose records are kept");
    assert_eq!(failure.report.state, Some(json!({"n": 1})));
    assert_eq!((failure.report.batches, failure.report.records), (1, 1));
    assert!(store.account_by_external_id("a1").await.unwrap().is_some());
    assert!(
        store.account_by_external_id("a2").await.unwrap().is_none(),
        "the current batch is not written"
    );

    // A record before its stream's schema.
    messages.truncate(1);
    messages.push(json!({"type": "RECORD", "stream": "warehouse-tickets", "record": {"id": 3}}));
    let (_, outcome) = import(store, &mapping, &lines(&messages)).await;
    assert_eq!(
        outcome.unwrap_err().error.to_string(),
        "line 2: a RECORD of stream \"warehouse-tickets\" before its SCHEMA; nothing of the current batch was written"
    );
    // An unknown message type, a BATCH message.
    for (line, message) in [
        (json!({"type": "HELLO"}), "unknown message type \"HELLO\""),
        (json!({"type": "BATCH", "stream": "x"}), "batch_config"),
    ] {
        let (_, outcome) = import(store, &mapping, &lines(&[line])).await;
        let error = outcome.unwrap_err().error.to_string();
        assert!(error.starts_with("line 1: ") && error.contains(message), "{error}");
    }
}

async fn a_record_repeated_in_a_batch_is_written_once_as_last_sent(store: &Store) {
    let mapping = warehouse();
    let text = lines(&[
        schema("warehouse-accounts"),
        account("a1", "Acme"),
        account("a2", "Umbra"),
        account("a1", "Acme Corp"),
    ]);
    let (_, report) = import(store, &mapping, &text).await;
    let report = report.unwrap();
    assert_eq!(report.streams["warehouse-accounts"].written, 2);
    let acme = store.account_by_external_id("a1").await.unwrap().unwrap();
    assert_eq!(acme.fields.name.as_deref(), Some("Acme Corp"));
}

const CRM: &str = r#"
tap = "a CRM"

[[streams]]
stream = "companies"
kind = "accounts"
account = { path = "domain", by = "domain" }
[streams.fields]
external_id = { path = "id", prefix = "crm-" }
name = "name"
crm_id = "id"

[[streams]]
stream = "people"
kind = "contacts"
account = [
  { path = "company_id", by = "attribute", attribute = "crm_id" },
  { path = "email", by = "email_domain" },
]
[streams.fields]
external_id = { path = "id", prefix = "crm-person-" }
name = { paths = ["first_name", "last_name"] }
email = "email"
stakeholder_team = { path = "department", map = { Finance = "finance", IT = "technical", "_" = "business" } }

[[streams]]
stream = "activities"
kind = "meetings"
when = { path = "type", in = ["meeting"] }
account = { path = "company_id", by = "attribute", attribute = "crm_id" }
[streams.fields]
external_id = { path = "id", prefix = "crm-activity-" }
held_at = { path = "at", as = "datetime" }
contacts = { path = "people", prefix = "crm-person-" }
"#;

async fn a_crm_enriches_accounts_and_finds_them_for_its_people(store: &Store) {
    // An account from billing, with a domain and a segment the CRM does not give.
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[laer_core::model::NewAccount {
        external_id: "acme".into(),
        name: Some("Acme".into()),
        segment: Some("Enterprise".into()),
        channel: None,
        country: None,
        date_of_birth: None,
        renewal_date: None,
        attributes: [("domain".to_string(), "acme.com".to_string())].into(),
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mapping = load_mapping("crm", CRM).unwrap();
    let open = |stream: &str| json!({"type": "SCHEMA", "stream": stream, "key_properties": ["id"], "schema": {"type": "object"}});
    let record = |stream: &str, record: Value| json!({"type": "RECORD", "stream": stream, "record": record});
    // Interleaved as a tap may send them: people and activities before the companies
    // they belong to, all in one batch.
    let text = lines(&[
        open("people"),
        open("activities"),
        open("companies"),
        record(
            "people",
            json!({"id": 1, "company_id": 11, "first_name": "Ann", "last_name": "Lee", "email": "ann@acme.com", "department": "IT"}),
        ),
        record(
            "people",
            json!({"id": 2, "first_name": "Bo", "email": "bo@acme.com", "department": "Sales"}),
        ),
        record("people", json!({"id": 3, "first_name": "Cy", "email": "cy@gmail.com"})),
        record(
            "activities",
            json!({"id": 7, "type": "meeting", "company_id": 11, "at": "2026-11-20T09:00:00-05:00", "people": [1, 2]}),
        ),
        record(
            "activities",
            json!({"id": 8, "type": "email", "company_id": 11, "at": "2026-11-21T09:00:00Z"}),
        ),
        record(
            "companies",
            json!({"id": 11, "name": "ACME Corp", "domain": "https://www.acme.com"}),
        ),
        record("companies", json!({"id": 12, "name": "Nova", "domain": "nova.dev"})),
    ]);
    let (_, report) = import(store, &mapping, &text).await;
    let report = report.unwrap();
    assert_eq!(report.batches, 1);
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    assert_eq!(acme.fields.name.as_deref(), Some("ACME Corp"), "the CRM gives the name");
    assert_eq!(
        acme.fields.segment.as_deref(),
        Some("Enterprise"),
        "and not the segment, which stays"
    );
    assert_eq!(
        acme.fields.attributes.get("domain").map(String::as_str),
        Some("acme.com")
    );
    assert_eq!(acme.fields.attributes.get("crm_id").map(String::as_str), Some("11"));
    assert!(
        store.account_by_external_id("crm-12").await.unwrap().is_some(),
        "a new company is a new account"
    );

    let mut people: Vec<(String, Option<String>, Option<String>)> = store
        .contacts_of(acme.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.fields.external_id, c.fields.name, c.fields.stakeholder_team))
        .collect();
    people.sort();
    assert_eq!(
        people,
        [
            ("crm-person-1".into(), Some("Ann Lee".into()), Some("technical".into())),
            ("crm-person-2".into(), Some("Bo".into()), Some("business".into())),
        ]
    );
    let people = &report.streams["people"];
    assert_eq!((people.written, people.unmapped), (2, 1));
    assert_eq!(people.reasons[0].reason, "no account has that domain");
    let activities = &report.streams["activities"];
    assert_eq!((activities.written, activities.skipped), (1, 1));
    let meetings = store.touchpoints_of(acme.id).await.unwrap();
    assert_eq!(meetings.len(), 1);
    assert_eq!(meetings[0].record.external_id, "crm-activity-7");
    assert_eq!(meetings[0].record.held_at.to_rfc3339(), "2026-11-20T14:00:00+00:00");
    let mut names: Vec<&str> = meetings[0].contacts.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["Ann Lee", "Bo"],
        "its people, written in the same batch before it"
    );
}

async fn a_stream_the_mapping_does_not_name_is_counted(store: &Store) {
    let mapping = warehouse();
    let text = lines(&[
        json!({"type": "SCHEMA", "stream": "audit-log", "schema": {}, "key_properties": []}),
        json!({"type": "RECORD", "stream": "audit-log", "record": {"id": 1}}),
        json!({"type": "RECORD", "stream": "audit-log", "record": {"id": 2}}),
    ]);
    let (_, report) = import(store, &mapping, &text).await;
    let stream = &report.unwrap().streams["audit-log"];
    assert_eq!((stream.records, stream.unmapped), (2, 2));
    assert_eq!(stream.reasons[0].reason, "the mapping has no entry for this stream");
}

const EVENTS: &str = r#"
[[streams]]
stream = "accounts"
kind = "accounts"
fields = { external_id = "id" }

[[streams]]
stream = "events"
kind = "events"
account = { path = "account", by = "external_id" }
[streams.fields]
event_time = "at"
event_type = "name"
user_id = "user"
event_value = "value"
"#;

async fn events_in_many_batches_keep_their_rollups_exact(store: &Store) {
    let mapping = load_mapping("events", EVENTS).unwrap();
    let mut messages = vec![json!({"type": "SCHEMA", "stream": "accounts", "schema": {}, "key_properties": ["id"]})];
    for a in 0..7 {
        messages.push(json!({"type": "RECORD", "stream": "accounts", "record": {"id": format!("a{a}")}}));
    }
    messages.push(json!({"type": "SCHEMA", "stream": "events", "schema": {}, "key_properties": ["id"]}));
    for e in 0..400 {
        messages.push(json!({"type": "RECORD", "stream": "events", "record": {
            "id": e, "account": format!("a{}", e % 7), "at": format!("2026-0{}-{:02}T{:02}:00:00Z", 1 + e % 3, 1 + e % 27, e % 24),
            "name": format!("feature_{}", e % 4), "user": format!("u{}", e % 9), "value": if e % 2 == 0 { json!(1.5) } else { json!(null) }}}));
        // A batch ends every 60 events, each spanning many accounts and days.
        if e % 60 == 59 {
            messages.push(json!({"type": "ACTIVATE_VERSION", "stream": "events", "version": e}));
        }
    }
    let (_, report) = import(store, &mapping, &lines(&messages)).await;
    let report = report.unwrap();
    assert!(report.batches >= 7, "{} batches", report.batches);
    assert_eq!(report.streams["events"].written, 400);
    assert_eq!(store.counts().await.unwrap().events, 400);
    assert_eq!(
        store.rollup_mismatches().await.unwrap(),
        0,
        "the daily rollups agree with the events"
    );
}

async fn long_records_end_their_batch_early(store: &Store) {
    // Records of 300 KiB each (a field the mapping does not read): a batch ends at 64 MiB
    // of text, whatever the tap's states say.
    let mapping = warehouse();
    let blob = "x".repeat(300 << 10);
    let mut messages = vec![schema("warehouse-accounts")];
    for a in 0..250 {
        messages.push(json!({"type": "RECORD", "stream": "warehouse-accounts",
                             "record": {"id": format!("a{a}"), "name": "Acme", "notes": blob}}));
    }
    let (_, report) = import(store, &mapping, &lines(&messages)).await;
    let report = report.unwrap();
    assert_eq!(report.batches, 2, "219 records make 64 MiB");
    assert_eq!(report.streams["warehouse-accounts"].written, 250);
}

/// Zendesk's records as the tap writes them (shapes from tap-zendesk 2.8.2's schemas and
/// Zendesk's API examples), through the shipped mapping.
async fn the_shipped_zendesk_mapping_reads_zendesk_field_by_field(store: &Store) {
    let mut tx = store.begin_write().await.unwrap();
    let account = |id: &str, domain: Option<&str>| laer_core::model::NewAccount {
        attributes: domain
            .map(|d| ("domain".to_string(), d.to_string()))
            .into_iter()
            .collect(),
        ..laer_core::model::NewAccount::named(id, id)
    };
    tx.upsert(&[account("acme", Some("acme.com")), account("globex", None)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let text = laer_import::singer::shipped_mapping("tap-zendesk").unwrap();
    let mapping = load_mapping("tap-zendesk", text).unwrap();
    let open = |stream: &str| json!({"type": "SCHEMA", "stream": stream, "key_properties": ["id"], "schema": {"type": "object"}});
    let record = |stream: &str, record: Value| json!({"type": "RECORD", "stream": stream, "record": record});
    let text = lines(&[
        open("organizations"),
        record(
            "organizations",
            json!({"id": 361, "name": "Acme Inc", "domain_names": ["acme.com"], "external_id": null,
                                       "created_at": "2009-07-20T22:55:29Z", "tags": ["enterprise"]}),
        ),
        record(
            "organizations",
            json!({"id": 362, "name": "Globex", "domain_names": [], "external_id": "globex"}),
        ),
        record(
            "organizations",
            json!({"id": 363, "name": "Initech", "domain_names": ["initech.com"], "external_id": null}),
        ),
        open("users"),
        record(
            "users",
            json!({"id": 35436, "name": "Johnny Agent", "role": "agent", "email": "johnny@example.org"}),
        ),
        record(
            "users",
            json!({"id": 9873843, "name": "Ann Lee", "role": "end-user", "email": "ann@acme.com",
                               "organization_id": 361, "phone": "+15551234567", "active": true}),
        ),
        record(
            "users",
            json!({"id": 9873844, "name": "Bo Diaz", "role": "end-user", "email": "bo@acme.com", "organization_id": null}),
        ),
        open("tickets"),
        record(
            "tickets",
            json!({"id": 35436, "organization_id": 361, "requester_id": 9873843, "created_at": "2009-07-20T22:55:29Z",
                                 "priority": "high", "type": "incident", "status": "open", "subject": "Help, my printer is on fire!",
                                 "via": {"channel": "web"}}),
        ),
        record(
            "tickets",
            json!({"id": 35437, "organization_id": 362, "created_at": "2009-07-21T10:00:00+02:00",
                                 "priority": null, "type": null, "status": "solved", "subject": "Invoice question"}),
        ),
        open("satisfaction_ratings"),
        record(
            "satisfaction_ratings",
            json!({"id": 35121, "requester_id": 9873843, "ticket_id": 35436, "score": "good",
                                              "updated_at": "2011-07-20T22:55:29Z", "comment": "Awesome support!"}),
        ),
        record(
            "satisfaction_ratings",
            json!({"id": 35122, "requester_id": 9873843, "score": "offered", "updated_at": "2011-07-21T00:00:00Z"}),
        ),
        record(
            "satisfaction_ratings",
            json!({"id": 35123, "requester_id": 1, "score": "bad", "updated_at": "2011-07-22T00:00:00Z"}),
        ),
    ]);
    let (_, report) = import(store, &mapping, &text).await;
    let report = report.unwrap();
    let counts = |stream: &str| {
        let s = &report.streams[stream];
        (s.records, s.written, s.skipped, s.unmapped)
    };
    assert_eq!(counts("organizations"), (3, 2, 0, 1));
    assert_eq!(
        report.streams["organizations"].reasons[0].example,
        "the record has no external_id; no account has the domain initech.com"
    );
    assert_eq!(counts("users"), (3, 2, 1, 0), "the agent is skipped");
    assert_eq!(counts("tickets"), (2, 2, 0, 0));
    assert_eq!(counts("satisfaction_ratings"), (3, 1, 1, 1));

    let acme = store.account_by_external_id("acme").await.unwrap().unwrap();
    assert_eq!(
        acme.fields
            .attributes
            .get("zendesk_organization_id")
            .map(String::as_str),
        Some("361")
    );
    assert_eq!(
        acme.fields.attributes.get("domain").map(String::as_str),
        Some("acme.com"),
        "kept"
    );
    assert_eq!(
        acme.fields.name.as_deref(),
        Some("acme"),
        "the organization's name is not the account's"
    );
    let mut people: Vec<(String, Option<String>, Option<String>)> = store
        .contacts_of(acme.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.fields.external_id, c.fields.email, c.fields.phone))
        .collect();
    people.sort();
    assert_eq!(
        people,
        [
            (
                "zendesk-user-9873843".into(),
                Some("ann@acme.com".into()),
                Some("+15551234567".into())
            ),
            ("zendesk-user-9873844".into(), Some("bo@acme.com".into()), None),
        ]
    );
    let cases = store.support_cases_of(acme.id, 10).await.unwrap();
    assert_eq!(cases.len(), 1);
    let case = &cases[0].fields;
    assert_eq!((case.external_id.as_str(), case.severity), ("zendesk-ticket-35436", 2));
    assert_eq!(
        (case.kind, case.status),
        (laer_core::model::CaseKind::Defect, laer_core::model::CaseStatus::Open)
    );
    assert_eq!(case.opened_at.to_rfc3339(), "2009-07-20T22:55:29+00:00");
    assert_eq!(case.subject.as_deref(), Some("Help, my printer is on fire!"));
    let globex = store.account_by_external_id("globex").await.unwrap().unwrap();
    let solved = &store.support_cases_of(globex.id, 10).await.unwrap()[0].fields;
    assert_eq!(
        (solved.severity, solved.status),
        (3, laer_core::model::CaseStatus::Resolved)
    );
    assert_eq!(solved.opened_at.to_rfc3339(), "2009-07-21T08:00:00+00:00");
    assert_eq!(store.counts().await.unwrap().survey_responses, 1);
    let rating = &report.streams["satisfaction_ratings"].reasons[0];
    assert_eq!(
        rating.example,
        "no contact has the external id \"zendesk-user-1\" (requester_id)"
    );
}

laer_store::backend_tests!(
    the_shipped_zendesk_mapping_reads_zendesk_field_by_field,
    long_records_end_their_batch_early,
    events_in_many_batches_keep_their_rollups_exact,
    a_taps_output_is_mapped_written_and_its_state_handed_on,
    a_bad_line_stops_and_keeps_only_whole_batches,
    a_record_repeated_in_a_batch_is_written_once_as_last_sent,
    a_crm_enriches_accounts_and_finds_them_for_its_people,
    a_stream_the_mapping_does_not_name_is_counted,
);
