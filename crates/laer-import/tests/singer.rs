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

#[test]
fn every_shipped_mapping_loads_against_the_import_kinds() {
    let names: Vec<&str> = laer_import::singer::SHIPPED_MAPPINGS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "tap-hubspot",
            "tap-salesforce",
            "tap-zendesk",
            "tap-intercom",
            "tap-freshdesk"
        ]
    );
    for (name, text) in laer_import::singer::SHIPPED_MAPPINGS {
        let mapping = load_mapping(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(mapping.mapping.tap.as_deref(), Some(*name));
    }
}

/// What the schema fuzz needs (scripts/test installs it): a Python with
/// hypothesis-jsonschema (`LAER_TEST_TAP_FUZZ_PYTHON`), the taps' source distributions,
/// which hold their schemas (`LAER_TEST_TAP_SDISTS`), and a Python with tap-salesforce,
/// whose schemas its own code builds (`LAER_TEST_TAP_SALESFORCE_PYTHON`). Skipped without
/// them unless `LAER_TEST_REQUIRE_TAP=1`.
struct TapSchemas {
    python: std::path::PathBuf,
    sdists: std::path::PathBuf,
    salesforce_python: std::path::PathBuf,
}

fn tap_schemas() -> Option<TapSchemas> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    };
    match (
        var("LAER_TEST_TAP_FUZZ_PYTHON"),
        var("LAER_TEST_TAP_SDISTS"),
        var("LAER_TEST_TAP_SALESFORCE_PYTHON"),
    ) {
        (Some(python), Some(sdists), Some(salesforce_python)) => Some(TapSchemas {
            python,
            sdists,
            salesforce_python,
        }),
        _ if std::env::var("LAER_TEST_REQUIRE_TAP").is_ok_and(|v| v == "1") => panic!(
            "LAER_TEST_REQUIRE_TAP=1 but LAER_TEST_TAP_FUZZ_PYTHON, LAER_TEST_TAP_SDISTS or \
             LAER_TEST_TAP_SALESFORCE_PYTHON is not set (scripts/test sets them)"
        ),
        _ => {
            eprintln!(
                "skipping: set LAER_TEST_TAP_FUZZ_PYTHON, LAER_TEST_TAP_SDISTS and LAER_TEST_TAP_SALESFORCE_PYTHON"
            );
            None
        }
    }
}

/// Records generated by tests/taps/records.py from the schemas `tap` ships.
fn generated(env: &TapSchemas, tap: &str, sdist: &str, count: usize) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let taps = dir.join("tests/taps");
    let run = |command: &mut std::process::Command| {
        let out = command.output().unwrap_or_else(|e| panic!("{tap}: {e}"));
        assert!(out.status.success(), "{tap}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let mut generate = std::process::Command::new(&env.python);
    generate
        .arg(taps.join("records.py"))
        .arg("--mapping")
        .arg(dir.join(format!("mappings/{tap}.toml")))
        .arg("--links")
        .arg(taps.join("links.json"))
        .arg("--count")
        .arg(count.to_string());
    // Hypothesis keeps a folder where it runs: a temporary one, not the checkout.
    let scratch = tempfile::tempdir().unwrap();
    generate.current_dir(scratch.path());
    let schemas = tempfile::NamedTempFile::new().unwrap();
    if tap == "tap-salesforce" {
        let text = run(std::process::Command::new(&env.salesforce_python)
            .arg(taps.join("salesforce_schemas.py"))
            .arg(taps.join("salesforce_describe.json")));
        std::fs::write(schemas.path(), text).unwrap();
        generate.arg("--schemas").arg(schemas.path());
    } else {
        generate.arg("--sdist").arg(env.sdists.join(sdist));
    }
    run(&mut generate)
}

/// Every shipped mapping takes records that hypothesis-jsonschema generates from the
/// schemas its tap ships (half of them pointed at the stored account, contacts and team
/// members): each is written or counted as unmapped with its reason, the import never
/// fails, every path the mapping reads is in the tap's schema, and every stream has
/// records that reach the store.
async fn shipped_mappings_take_records_generated_from_their_taps_schemas(store: &Store) {
    let Some(env) = tap_schemas() else { return };
    let links: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/taps/links.json")).unwrap(),
    )
    .unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let account = &links["account"];
    let mut attributes: std::collections::BTreeMap<String, String> = account["attributes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    attributes.insert("domain".into(), account["domain"].as_str().unwrap().into());
    let external_id = account["external_id"].as_str().unwrap();
    tx.upsert(&[laer_core::model::NewAccount {
        attributes,
        ..laer_core::model::NewAccount::named(external_id, "Acme")
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let acme = store.account_by_external_id(external_id).await.unwrap().unwrap().id;
    let mut tx = store.begin_write().await.unwrap();
    let contacts: Vec<laer_core::model::NewContact> = links["contacts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(prefix, id)| laer_core::model::NewContact {
            external_id: format!("{prefix}{}", id.as_str().unwrap()),
            account_id: acme,
            name: Some("Ann".into()),
            email: Some(links["email"].as_str().unwrap().to_string()),
            phone: None,
            title: None,
            stakeholder_team: Some("executive".into()),
            role: None,
        })
        .collect();
    tx.upsert(&contacts).await.unwrap();
    let members: Vec<laer_core::model::NewTeamMember> = links["members"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(prefix, id)| laer_core::model::NewTeamMember {
            external_id: format!("{prefix}{}", id.as_str().unwrap()),
            name: "Kim".into(),
            email: None,
            roles: Some(vec![laer_core::model::TeamRole::AccountExecutive]),
        })
        .collect();
    tx.upsert(&members).await.unwrap();
    tx.commit().await.unwrap();

    const COUNT: u64 = 80;
    for (tap, sdist) in [
        ("tap-hubspot", "tap_hubspot-4.5.0.tar.gz"),
        ("tap-salesforce", ""),
        ("tap-zendesk", "tap_zendesk-2.8.2.tar.gz"),
        ("tap-intercom", "tap_intercom-2.2.5.tar.gz"),
        ("tap-freshdesk", "tap_freshdesk-1.0.1.tar.gz"),
    ] {
        let text = generated(&env, tap, sdist, COUNT as usize);
        let mapping = load_mapping(tap, laer_import::singer::shipped_mapping(tap).unwrap()).unwrap();
        let (_, report) = import(store, &mapping, &text).await;
        let report = report.unwrap_or_else(|e| panic!("{tap}: the import failed: {e}"));
        assert!(report.warnings.is_empty(), "{tap}: {:?}", report.warnings);
        let streams: std::collections::BTreeSet<&str> =
            mapping.mapping.streams.iter().map(|s| s.stream.as_str()).collect();
        assert_eq!(
            report
                .streams
                .keys()
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>(),
            streams,
            "{tap}"
        );
        for (name, stream) in &report.streams {
            eprintln!(
                "{tap} {name}: {} records, {} rows written, {} skipped, {} unmapped ({} reasons)",
                stream.records,
                stream.written,
                stream.skipped,
                stream.unmapped,
                stream.reasons.len()
            );
            // Records sent again under the same key are written once, as last sent.
            assert!(
                stream.records > COUNT / 4 && stream.records <= COUNT,
                "{tap} {name}: {stream:?}"
            );
            // Each entry of the stream maps, skips or leaves out each record once.
            let entries = mapping.mapping.for_stream(name).count() as u64;
            assert!(
                stream.unmapped + stream.skipped <= stream.records * entries,
                "{tap} {name}: {stream:?}"
            );
            let reasons: u64 = stream.reasons.iter().map(|r| r.count).sum();
            assert_eq!(
                reasons, stream.unmapped,
                "{tap} {name}: every unmapped record has its reason"
            );
            assert!(
                stream
                    .reasons
                    .iter()
                    .all(|r| !r.reason.is_empty() && !r.example.is_empty() && r.line > 0),
                "{tap} {name}: {:?}",
                stream.reasons
            );
            assert!(
                stream.written + stream.unchanged > 0,
                "{tap} {name}: no record reached the store: {stream:?}"
            );
        }
    }
}

/// Runs `streams` (each a stream's records) through the shipped mapping `tap`, after
/// storing the account "acme" with the domain acme.com.
async fn through_shipped(store: &Store, tap: &str, streams: &[(&str, Vec<Value>)]) -> SingerReport {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[laer_core::model::NewAccount {
        attributes: [("domain".to_string(), "acme.com".to_string())].into(),
        ..laer_core::model::NewAccount::named("acme", "acme")
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mapping = load_mapping(tap, laer_import::singer::shipped_mapping(tap).unwrap()).unwrap();
    let mut messages = Vec::new();
    for (stream, records) in streams {
        messages.push(json!({"type": "SCHEMA", "stream": stream, "key_properties": [], "schema": {"type": "object"}}));
        messages.extend(
            records
                .iter()
                .map(|r| json!({"type": "RECORD", "stream": stream, "record": r})),
        );
    }
    let (_, report) = import(store, &mapping, &lines(&messages)).await;
    report.unwrap()
}

fn counts(report: &SingerReport, stream: &str) -> (u64, u64, u64, u64) {
    let s = &report.streams[stream];
    (s.records, s.written, s.skipped, s.unmapped)
}

async fn stored(store: &Store, external_id: &str) -> laer_core::model::Account {
    store
        .account_by_external_id(external_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no account {external_id}"))
}

fn attribute<'a>(account: &'a laer_core::model::Account, name: &str) -> Option<&'a str> {
    account.fields.attributes.get(name).map(String::as_str)
}

/// The account's current owners: (role, member).
async fn owners(store: &Store, account_id: i64) -> Vec<(String, String)> {
    store
        .coverage_of_account(account_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.until.is_none())
        .map(|c| (c.role.to_string(), c.member))
        .collect()
}

/// HubSpot's records as tap-hubspot 4.5.0 writes them: v1 companies and deals with each
/// property as {value, timestamp, source}, v3 contacts with bare properties, owners,
/// engagements.
async fn the_shipped_hubspot_mapping_reads_hubspot_field_by_field(store: &Store) {
    let p = |value: Value| json!({"value": value, "timestamp": 1700000000000i64, "source": "CRM_UI"});
    let report = through_shipped(
        store,
        "tap-hubspot",
        &[
            (
                "owners",
                vec![json!({"id": "101", "email": "kim@vendor.example", "firstName": "Kim", "lastName": "Lee", "archived": false})],
            ),
            (
                "companies",
                vec![
                    json!({"companyId": 11, "portalId": 62515, "isDeleted": false, "properties": {
                        "name": p(json!("Acme Corp")), "domain": p(json!("acme.com")), "country": p(json!("Germany")),
                        "industry": p(json!("COMPUTER_SOFTWARE")), "hubspot_owner_id": p(json!("101"))}}),
                    json!({"companyId": 12, "portalId": 62515, "properties": {"name": p(json!("Nova")), "domain": p(json!("www.nova.dev"))}}),
                ],
            ),
            (
                "contacts",
                vec![
                    json!({"id": "501", "properties": {"email": "ann@acme.com", "firstname": "Ann", "lastname": "Lee",
                        "jobtitle": "CIO", "phone": "+49 30 1234567", "associatedcompanyid": "11", "hs_buying_role": "EXECUTIVE_SPONSOR"}}),
                    json!({"id": "502", "properties": {"email": "bo@nova.dev", "firstname": "Bo", "associatedcompanyid": null}}),
                ],
            ),
            (
                "deals",
                vec![
                    json!({"dealId": 9001, "properties": {"dealtype": p(json!("existingbusiness")), "hs_is_closed": p(json!(false)),
                        "closedate": p(json!("2027-03-31T00:00:00.000000Z")), "amount": p(json!("48000"))},
                        "associations": {"associatedCompanyIds": [11]}}),
                    json!({"dealId": 9002, "properties": {"dealtype": p(json!("newbusiness")), "hs_is_closed": p(json!(false))},
                        "associations": {"associatedCompanyIds": [12]}}),
                ],
            ),
            (
                "engagements",
                vec![
                    json!({"engagement_id": 7001, "engagement": {"id": 7001, "type": "MEETING", "timestamp": "2026-11-02T10:00:00.000000Z", "ownerId": 101},
                        "associations": {"companyIds": [11], "contactIds": [501]}, "metadata": {"title": "QBR", "body": "Agreed the targets"}}),
                    json!({"engagement_id": 7002, "engagement": {"id": 7002, "type": "CALL", "timestamp": "2026-11-09T15:00:00Z", "ownerId": null},
                        "associations": {"companyIds": [11], "contactIds": []}, "metadata": {"durationMilliseconds": 1800000, "status": "COMPLETED"}}),
                    json!({"engagement_id": 7003, "engagement": {"id": 7003, "type": "EMAIL", "timestamp": "2026-11-10T09:00:00Z"},
                        "associations": {"companyIds": [11]}}),
                ],
            ),
        ],
    )
    .await;
    assert_eq!(counts(&report, "owners"), (1, 1, 0, 0));
    assert_eq!(
        counts(&report, "companies"),
        (2, 3, 1, 0),
        "two accounts and one owner; Nova has none"
    );
    assert_eq!(counts(&report, "contacts"), (2, 2, 0, 0));
    assert_eq!(
        counts(&report, "deals"),
        (2, 1, 1, 0),
        "the new-business deal is skipped"
    );
    assert_eq!(counts(&report, "engagements"), (3, 2, 1, 0), "the email is skipped");

    let acme = stored(store, "acme").await;
    assert_eq!(acme.fields.name.as_deref(), Some("Acme Corp"));
    assert_eq!(acme.fields.country.as_deref(), Some("Germany"));
    assert_eq!(attribute(&acme, "hubspot_company_id"), Some("11"));
    assert_eq!(attribute(&acme, "industry"), Some("COMPUTER_SOFTWARE"));
    assert_eq!(attribute(&acme, "hubspot_renewal_deal_id"), Some("9001"));
    assert_eq!(
        acme.fields.renewal_date.map(|d| d.to_string()).as_deref(),
        Some("2027-03-31")
    );
    assert_eq!(
        owners(store, acme.id).await,
        [("account_executive".to_string(), "Kim Lee".to_string())]
    );
    let nova = stored(store, "hubspot-12").await;
    assert_eq!(
        (nova.fields.name.as_deref(), attribute(&nova, "domain")),
        (Some("Nova"), Some("nova.dev"))
    );
    assert!(owners(store, nova.id).await.is_empty());

    let ann = &store.contacts_of(acme.id).await.unwrap()[0].fields;
    assert_eq!(
        (
            ann.external_id.as_str(),
            ann.name.as_deref(),
            ann.title.as_deref(),
            ann.role.as_deref()
        ),
        (
            "hubspot-contact-501",
            Some("Ann Lee"),
            Some("CIO"),
            Some("executive_sponsor")
        )
    );
    assert_eq!(ann.phone.as_deref(), Some("+49 30 1234567"));
    let bo = &store.contacts_of(nova.id).await.unwrap()[0].fields;
    assert_eq!(
        (bo.external_id.as_str(), bo.name.as_deref()),
        ("hubspot-contact-502", Some("Bo"))
    );

    let mut touchpoints = store.touchpoints_of(acme.id).await.unwrap();
    touchpoints.sort_by_key(|t| t.record.held_at);
    let qbr = &touchpoints[0];
    assert_eq!(qbr.record.external_id, "hubspot-engagement-7001");
    assert_eq!(qbr.record.kind, laer_core::model::TouchpointKind::Meeting);
    assert_eq!(qbr.record.held_at.to_rfc3339(), "2026-11-02T10:00:00+00:00");
    assert_eq!(
        (qbr.record.purpose.as_deref(), qbr.record.summary.as_deref()),
        (Some("qbr"), Some("Agreed the targets"))
    );
    assert_eq!(
        qbr.contacts.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Ann Lee"]
    );
    assert_eq!(
        qbr.team_members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["Kim Lee"]
    );
    let call = &touchpoints[1].record;
    assert_eq!(
        (call.kind, call.duration_minutes),
        (laer_core::model::TouchpointKind::Call, Some(30))
    );
}

/// Salesforce's records as tap-salesforce 2.8.1 writes them: each object's fields by
/// their API names, deleted records among them.
async fn the_shipped_salesforce_mapping_reads_salesforce_field_by_field(store: &Store) {
    let report = through_shipped(
        store,
        "tap-salesforce",
        &[
            (
                "User",
                vec![
                    json!({"Id": "0055g00000KimAAA", "Name": "Kim Lee", "Email": "kim@vendor.example", "IsActive": true, "UserType": "Standard"}),
                    json!({"Id": "0055g00000PrtAAA", "Name": "Portal User", "UserType": "PowerCustomerSuccess"}),
                ],
            ),
            (
                "Account",
                vec![
                    json!({"Id": "0015g00000AcmeAAA", "IsDeleted": false, "Name": "Acme Corporation", "Website": "http://www.acme.com",
                        "BillingCountry": "Germany", "Industry": "Technology", "OwnerId": "0055g00000KimAAA",
                        "BillingAddress": {"city": "Berlin", "country": "Germany"}}),
                    json!({"Id": "0015g00000GoneAAA", "IsDeleted": true, "Name": "Gone Ltd", "OwnerId": "0055g00000KimAAA"}),
                ],
            ),
            (
                "Contact",
                vec![json!({"Id": "0035g00000AnnAAA", "IsDeleted": false, "AccountId": "0015g00000AcmeAAA", "FirstName": "Ann",
                    "LastName": "Lee", "Email": "ann@acme.com", "Phone": "(415) 555-1212", "Title": "CIO"})],
            ),
            (
                "Opportunity",
                vec![
                    json!({"Id": "0065g00000RenAAA", "IsDeleted": false, "AccountId": "0015g00000AcmeAAA", "Type": "Renewal",
                        "IsClosed": false, "CloseDate": "2027-06-30T00:00:00.000000Z", "Amount": 52000.0}),
                    json!({"Id": "0065g00000OldAAA", "IsDeleted": false, "AccountId": "0015g00000AcmeAAA", "Type": "Renewal",
                        "IsClosed": true, "CloseDate": "2026-06-30T00:00:00.000000Z"}),
                ],
            ),
            (
                "Case",
                vec![
                    json!({"Id": "5005g00000C1AAA", "IsDeleted": false, "AccountId": "0015g00000AcmeAAA", "ContactId": "0035g00000AnnAAA",
                        "CreatedDate": "2026-10-01T08:00:00.000000Z", "ClosedDate": "2026-10-02T09:30:00.000000Z",
                        "Priority": "High", "Type": "Problem", "Status": "Closed", "Subject": "Sync fails"}),
                    json!({"Id": "5005g00000C2AAA", "IsDeleted": false, "AccountId": null, "ContactId": "0035g00000AnnAAA",
                        "CreatedDate": "2026-10-05T08:00:00Z", "ClosedDate": null, "Priority": "Low", "Type": null, "Subject": "How to export?"}),
                ],
            ),
            (
                "Event",
                vec![
                    json!({"Id": "00U5g00000E1AAA", "IsDeleted": false, "IsChild": false, "AccountId": "0015g00000AcmeAAA",
                        "OwnerId": "0055g00000KimAAA", "Subject": "Onboarding", "StartDateTime": "2026-11-03T14:00:00.000000Z",
                        "DurationInMinutes": 45, "Description": "Kick-off"}),
                    json!({"Id": "00U5g00000E2AAA", "IsDeleted": false, "IsChild": true, "AccountId": "0015g00000AcmeAAA",
                        "StartDateTime": "2026-11-03T14:00:00.000000Z"}),
                ],
            ),
            (
                "Task",
                vec![
                    json!({"Id": "00T5g00000T1AAA", "IsDeleted": false, "AccountId": "0015g00000AcmeAAA", "OwnerId": "0055g00000KimAAA",
                        "TaskSubtype": "Call", "Subject": "Check-in", "CreatedDate": "2026-11-05T16:00:00.000000Z", "CallDurationInSeconds": 600}),
                    json!({"Id": "00T5g00000T2AAA", "IsDeleted": false, "AccountId": "0015g00000AcmeAAA", "TaskSubtype": "Task",
                        "CreatedDate": "2026-11-06T16:00:00Z"}),
                ],
            ),
        ],
    )
    .await;
    assert_eq!(counts(&report, "User"), (2, 1, 1, 0), "the portal user is skipped");
    assert_eq!(
        counts(&report, "Account"),
        (2, 2, 2, 0),
        "the deleted account is skipped by both entries"
    );
    assert_eq!(counts(&report, "Contact"), (1, 1, 0, 0));
    assert_eq!(
        counts(&report, "Opportunity"),
        (2, 1, 1, 0),
        "the closed renewal is skipped"
    );
    assert_eq!(counts(&report, "Case"), (2, 2, 0, 0));
    assert_eq!(counts(&report, "Event"), (2, 1, 1, 0), "the invitee's copy is skipped");
    assert_eq!(counts(&report, "Task"), (2, 1, 1, 0));
    assert!(
        store
            .account_by_external_id("salesforce-0015g00000GoneAAA")
            .await
            .unwrap()
            .is_none()
    );

    let acme = stored(store, "acme").await;
    assert_eq!(acme.fields.name.as_deref(), Some("Acme Corporation"));
    assert_eq!(attribute(&acme, "salesforce_account_id"), Some("0015g00000AcmeAAA"));
    assert_eq!(
        (attribute(&acme, "domain"), acme.fields.country.as_deref()),
        (Some("acme.com"), Some("Germany"))
    );
    assert_eq!(
        acme.fields.renewal_date.map(|d| d.to_string()).as_deref(),
        Some("2027-06-30")
    );
    assert_eq!(
        owners(store, acme.id).await,
        [("account_executive".to_string(), "Kim Lee".to_string())]
    );
    let ann = &store.contacts_of(acme.id).await.unwrap()[0].fields;
    assert_eq!(
        (ann.external_id.as_str(), ann.name.as_deref(), ann.phone.as_deref()),
        (
            "salesforce-contact-0035g00000AnnAAA",
            Some("Ann Lee"),
            Some("(415) 555-1212")
        )
    );
    let mut cases = store.support_cases_of(acme.id, 10).await.unwrap();
    cases.sort_by_key(|c| c.fields.opened_at);
    let (closed, open) = (&cases[0].fields, &cases[1].fields);
    assert_eq!(
        (closed.severity, closed.kind, closed.status),
        (
            2,
            laer_core::model::CaseKind::Defect,
            laer_core::model::CaseStatus::Closed
        )
    );
    assert_eq!(
        closed.closed_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-10-02T09:30:00+00:00")
    );
    assert_eq!(
        (open.external_id.as_str(), open.severity, open.kind, open.status),
        (
            "salesforce-case-5005g00000C2AAA",
            4,
            laer_core::model::CaseKind::Other,
            laer_core::model::CaseStatus::Open
        ),
        "found through its contact"
    );
    let mut touchpoints = store.touchpoints_of(acme.id).await.unwrap();
    touchpoints.sort_by_key(|t| t.record.held_at);
    let meeting = &touchpoints[0];
    assert_eq!(
        (
            meeting.record.kind,
            meeting.record.duration_minutes,
            meeting.record.purpose.as_deref()
        ),
        (laer_core::model::TouchpointKind::Meeting, Some(45), Some("onboarding"))
    );
    assert_eq!(
        meeting.team_members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["Kim Lee"]
    );
    let call = &touchpoints[1].record;
    assert_eq!(
        (call.kind, call.duration_minutes),
        (laer_core::model::TouchpointKind::Call, Some(10))
    );
}

/// Intercom's records as tap-intercom 2.2.5 writes them.
async fn the_shipped_intercom_mapping_reads_intercom_field_by_field(store: &Store) {
    let report = through_shipped(
        store,
        "tap-intercom",
        &[
            (
                "companies",
                vec![
                    json!({"type": "company", "id": "5f1acme", "company_id": "acme", "name": "Acme Corp", "website": "https://acme.com",
                        "industry": "Software", "plan": {"id": "1", "name": "Pro"}, "user_count": 12}),
                    json!({"type": "company", "id": "5f1nova", "company_id": "nova", "name": "Nova", "website": null}),
                    json!({"type": "company", "id": "5f1anon", "company_id": null, "name": "Nameless", "website": null}),
                ],
            ),
            (
                "contacts",
                vec![
                    json!({"type": "contact", "id": "5f1ann", "role": "user", "email": "ann@acme.com", "name": "Ann Lee",
                        "phone": "+1 415 555 1212", "companies": [{"id": "5f1acme", "type": "company"}]}),
                    json!({"type": "contact", "id": "5f1lead", "role": "lead", "email": "someone@gmail.com"}),
                ],
            ),
            (
                "conversations",
                vec![
                    json!({"type": "conversation", "id": "9001", "created_at": "2026-10-01T08:00:00Z", "state": "closed", "priority": "priority",
                        "title": "Export broken", "contacts": [{"id": "5f1ann", "type": "contact"}],
                        "statistics": {"last_close_at": "2026-10-01T12:00:00Z"},
                        "conversation_rating": {"rating": 4, "remark": "Quick help", "created_at": "2026-10-01T13:00:00Z",
                            "contact": {"id": "5f1ann", "type": "contact"}}}),
                    json!({"type": "conversation", "id": "9002", "created_at": "2026-10-03T08:00:00Z", "state": "snoozed",
                        "priority": "not_priority", "title": null, "source": {"subject": "Billing"}, "contacts": [{"id": "5f1ann"}],
                        "conversation_rating": null}),
                ],
            ),
        ],
    )
    .await;
    assert_eq!(
        counts(&report, "companies"),
        (3, 2, 0, 1),
        "the company without an id is unmapped"
    );
    assert_eq!(counts(&report, "contacts"), (2, 1, 1, 0), "the lead is skipped");
    assert_eq!(counts(&report, "conversations"), (2, 3, 1, 0), "two cases, one rating");
    let acme = stored(store, "acme").await;
    assert_eq!(
        (
            attribute(&acme, "intercom_company_id"),
            attribute(&acme, "intercom_plan")
        ),
        (Some("5f1acme"), Some("Pro"))
    );
    assert_eq!(stored(store, "nova").await.fields.name.as_deref(), Some("Nova"));
    let mut cases = store.support_cases_of(acme.id, 10).await.unwrap();
    cases.sort_by_key(|c| c.fields.opened_at);
    let (closed, snoozed) = (&cases[0].fields, &cases[1].fields);
    assert_eq!(
        (
            closed.external_id.as_str(),
            closed.severity,
            closed.status,
            closed.subject.as_deref()
        ),
        (
            "intercom-conversation-9001",
            2,
            laer_core::model::CaseStatus::Closed,
            Some("Export broken")
        )
    );
    assert_eq!(
        (snoozed.severity, snoozed.status, snoozed.subject.as_deref()),
        (3, laer_core::model::CaseStatus::Pending, Some("Billing"))
    );
    let view = store
        .account_view(acme.id, chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        view.surveys
            .iter()
            .map(|s| (s.survey.as_str(), s.score, s.comment.as_deref()))
            .collect::<Vec<_>>(),
        [("csat", 4, Some("Quick help"))]
    );
}

/// Freshdesk's records as tap-freshdesk 1.0.1 writes them.
async fn the_shipped_freshdesk_mapping_reads_freshdesk_field_by_field(store: &Store) {
    let report = through_shipped(
        store,
        "tap-freshdesk",
        &[
            (
                "companies",
                vec![
                    json!({"id": 8, "name": "Acme", "domains": ["acme.com"], "created_at": "2026-01-01T00:00:00Z"}),
                    json!({"id": 9, "name": "Unknown Co", "domains": ["unknown.example"]}),
                ],
            ),
            (
                "contacts",
                vec![json!({"id": 43, "name": "Ann Lee", "email": "ann@acme.com", "company_id": 8, "job_title": "CIO", "phone": "+1 415 555 1212"})],
            ),
            (
                "tickets",
                vec![
                    json!({"id": 1, "company_id": 8, "requester_id": 43, "created_at": "2026-10-01T08:00:00Z", "priority": 4, "status": 5,
                        "type": "Incident", "subject": "Outage", "stats": {"resolved_at": "2026-10-01T10:00:00Z", "closed_at": "2026-10-02T10:00:00Z"}}),
                    json!({"id": 2, "company_id": null, "requester_id": 43, "created_at": "2026-10-03T08:00:00Z", "priority": 1, "status": 7,
                        "type": null, "subject": "Question"}),
                ],
            ),
            (
                "satisfaction_ratings",
                vec![
                    json!({"id": 300, "user_id": 43, "ticket_id": 1, "created_at": "2026-10-02T11:00:00Z", "feedback": "Fixed fast",
                        "ratings": [{"question": "default_question", "value": 103}]}),
                    json!({"id": 301, "user_id": 43, "ticket_id": 2, "created_at": "2026-10-04T11:00:00Z",
                        "ratings": [{"question": "default_question", "value": -101}]}),
                ],
            ),
        ],
    )
    .await;
    assert_eq!(
        counts(&report, "companies"),
        (2, 1, 0, 1),
        "laer makes no account of a company it does not know"
    );
    assert_eq!(
        report.streams["companies"].reasons[0].example,
        "no account has freshdesk_company_id = \"9\" (id); no account has the domain unknown.example"
    );
    assert_eq!(counts(&report, "contacts"), (1, 1, 0, 0));
    assert_eq!(counts(&report, "tickets"), (2, 2, 0, 0));
    assert_eq!(counts(&report, "satisfaction_ratings"), (2, 2, 0, 0));
    let acme = stored(store, "acme").await;
    assert_eq!(attribute(&acme, "freshdesk_company_id"), Some("8"));
    assert_eq!(
        acme.fields.name.as_deref(),
        Some("acme"),
        "the company's name is not the account's"
    );
    let mut cases = store.support_cases_of(acme.id, 10).await.unwrap();
    cases.sort_by_key(|c| c.fields.opened_at);
    let (outage, question) = (&cases[0].fields, &cases[1].fields);
    assert_eq!(
        (outage.severity, outage.kind, outage.status),
        (
            1,
            laer_core::model::CaseKind::Defect,
            laer_core::model::CaseStatus::Closed
        )
    );
    assert_eq!(
        outage.closed_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-10-01T10:00:00+00:00")
    );
    assert_eq!(
        (question.external_id.as_str(), question.severity, question.status),
        ("freshdesk-ticket-2", 4, laer_core::model::CaseStatus::Pending),
        "found by its requester; a custom status is pending"
    );
    let view = store
        .account_view(acme.id, chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut scores: Vec<i64> = view.surveys.iter().map(|s| s.score).collect();
    scores.sort();
    assert_eq!(scores, [2, 5]);
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
    the_shipped_hubspot_mapping_reads_hubspot_field_by_field,
    the_shipped_salesforce_mapping_reads_salesforce_field_by_field,
    the_shipped_intercom_mapping_reads_intercom_field_by_field,
    the_shipped_freshdesk_mapping_reads_freshdesk_field_by_field,
    shipped_mappings_take_records_generated_from_their_taps_schemas,
    the_shipped_zendesk_mapping_reads_zendesk_field_by_field,
    long_records_end_their_batch_early,
    events_in_many_batches_keep_their_rollups_exact,
    a_taps_output_is_mapped_written_and_its_state_handed_on,
    a_bad_line_stops_and_keeps_only_whole_batches,
    a_record_repeated_in_a_batch_is_written_once_as_last_sent,
    a_crm_enriches_accounts_and_finds_them_for_its_people,
    a_stream_the_mapping_does_not_name_is_counted,
);
