//! Stripe read as a company's billing system is (issue 17): a real stateful fake of
//! Stripe's API (localstripe, from PyPI) filled by Stripe's official Python library with
//! subscriptions of every interval, quantities, a trial, an upgrade, a downgrade,
//! cancellations and one taken back, and one billed in euros; laer's client reads them
//! page by page, and each subscription's MRR now by laer's rules equals the scenario's own
//! computation of the documented rules. Invoices, credit notes and prices localstripe
//! lacks come as events shaped as Stripe sends them.

use std::collections::BTreeMap;

use laer_app::billing::{STALE_AFTER, SyncOutcome, SyncReport, sync_if_due};
use laer_app::stripe::{StripeClient, StripeKey};
use laer_app::test_support::LocalStripe;
use laer_core::billing::connection::{ConnectionSettings, LinkRule, Unmatched};
use laer_core::billing::objects::{Customer, Subscription};
use laer_core::billing::rules::{MrrRules, items_at, total};
use laer_core::money::Money;
use laer_store::test_support::secret_box;
use laer_store::{NewStripeConnection, Store};

/// Runs the scenario against `stripe`; its output.
fn scenario(stripe: &LocalStripe, args: &[&str]) -> serde_json::Value {
    stripe.run(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stripe/scenario.py"), args)
}

/// Connects `stripe` with `settings` (a key localstripe takes).
async fn connect(store: &Store, stripe: &LocalStripe, settings: &ConnectionSettings) {
    let settings = serde_json::to_string(settings).unwrap();
    store
        .connect_stripe(
            &NewStripeConnection {
                api_key: Some("sk_test_laer_reader"),
                webhook_secret: None,
                api_base: &stripe.base,
                settings: &settings,
            },
            &secret_box(),
            "test",
        )
        .await
        .unwrap();
}

/// Runs a whole sync as `owner` at `now`; its report.
async fn sync_at(store: &Store, owner: &str, now: i64) -> SyncReport {
    let clock = move || now;
    match sync_if_due(store, Some(&secret_box()), owner, true, &clock, &mut |_, _| {})
        .await
        .unwrap()
    {
        SyncOutcome::Done(report) => report,
        other => panic!("no sync ran: {other:?}"),
    }
}

/// The MRR of an account's lines on `day`.
async fn mrr_on(store: &Store, account: i64, day: chrono::NaiveDate) -> Money {
    store
        .subscription_lines_of(account)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.line.fields.is_active_on(day))
        .map(|l| l.line.fields.mrr)
        .sum()
}

/// A sync links customers to accounts by metadata, writes each subscription's lines with
/// the documented MRR, writes nothing the second time, and follows a change in Stripe:
/// the old stretch ends, the new one starts.
async fn a_sync_writes_stripe_lines_and_follows_changes(store: &Store) {
    let Some(stripe) = LocalStripe::start() else {
        return;
    };
    let expected = scenario(&stripe, &["0"]);
    // Every customer of the scenario has an account but elm.
    let names: Vec<String> = expected["by_name"].as_object().unwrap().keys().cloned().collect();
    let accounts: Vec<laer_core::model::NewAccount> = names
        .iter()
        .filter(|n| *n != "elm")
        .map(|n| laer_core::model::NewAccount::named(n, n))
        .collect();
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&accounts).await.unwrap();
    tx.commit().await.unwrap();
    let ids: BTreeMap<String, i64> = store
        .account_names()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, n)| (n.external_id, id))
        .collect();

    connect(store, &stripe, &ConnectionSettings::default()).await;
    let now = chrono::Utc::now();
    let report = sync_at(store, "test", now.timestamp()).await;
    assert_eq!((report.customers, report.linked, report.unmatched), (10, 9, 1));
    assert_eq!(report.changed, 10, "every subscription is new");
    assert_eq!(report.products, 2);
    // localstripe invoices each subscription as it is made, and lists no prices (its plans
    // stand for them) and no credit notes.
    assert_eq!((report.invoices, report.credit_notes), (10, 0));
    assert_eq!(report.unlisted, ["prices", "credit_notes"]);
    let elm = store
        .stripe_customers()
        .await
        .unwrap()
        .into_values()
        .find(|c| c.account_id.is_none())
        .unwrap();
    assert_eq!(elm.email.as_deref(), Some("billing@elm.example"));
    let why: Unmatched = serde_json::from_str(elm.unmatched.as_deref().unwrap()).unwrap();
    assert_eq!(
        why,
        Unmatched::UnknownAccount {
            key: "laer_account".into(),
            value: "elm".into()
        }
    );
    let today = now.date_naive();
    for (name, sub) in expected["by_name"].as_object().unwrap() {
        let Some(account) = ids.get(name) else { continue };
        let want: Money = expected["subscriptions"][sub.as_str().unwrap()]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(mrr_on(store, *account, today).await, want, "{name}");
    }
    // Nothing changed in Stripe: nothing written.
    let again = sync_at(store, "test", now.timestamp() + 60).await;
    assert_eq!((again.changed, again.lines_written), (0, 0), "{again:?}");

    // Acme goes from 3 seats to 6 tomorrow (as laer sees it): the 3-seat line ends, a
    // 6-seat line starts.
    let acme_sub = expected["by_name"]["acme"].as_str().unwrap();
    scenario(&stripe, &["quantity", acme_sub, "6"]);
    let tomorrow = now + chrono::Duration::days(1);
    let changed = sync_at(store, "test", tomorrow.timestamp()).await;
    assert_eq!(changed.changed, 1);
    let acme = ids["acme"];
    assert_eq!(mrr_on(store, acme, today).await, "300".parse().unwrap());
    assert_eq!(mrr_on(store, acme, tomorrow.date_naive()).await, "600".parse().unwrap());
    let lines = store.subscription_lines_of(acme).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.line.fields.external_id.starts_with("stripe:")));
    assert!(
        lines.iter().all(|l| l.line.fields.product == "Suite"),
        "the product's name"
    );

    // Ivy's cancellation at period end ends its line; taken back (a reactivation in
    // Stripe's words), the line runs on.
    let ivy = ids["ivy"];
    let ivy_sub = expected["by_name"]["ivy"].as_str().unwrap();
    let ends = |lines: Vec<laer_store::VersionedLine>| lines.iter().map(|l| l.line.fields.end_date).collect::<Vec<_>>();
    assert!(
        ends(store.subscription_lines_of(ivy).await.unwrap())
            .iter()
            .all(Option::is_some)
    );
    scenario(&stripe, &["uncancel", ivy_sub]);
    sync_at(store, "test", tomorrow.timestamp() + 30).await;
    assert!(
        ends(store.subscription_lines_of(ivy).await.unwrap())
            .iter()
            .any(Option::is_none),
        "ivy's line runs on"
    );

    // Elm's company has an account with its domain: the email-domain rule links it.
    let mut elm_co = laer_core::model::NewAccount::named("elm-company", "Elm Company");
    elm_co
        .attributes
        .insert("domain".into(), "https://www.elm.example".into());
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[elm_co]).await.unwrap();
    tx.commit().await.unwrap();
    let by_domain = ConnectionSettings {
        link_rule: LinkRule::EmailDomain,
        ..ConnectionSettings::default()
    };
    connect(store, &stripe, &by_domain).await;
    let linked = sync_at(store, "test", tomorrow.timestamp() + 60).await;
    assert_eq!((linked.linked, linked.unmatched), (10, 0), "{linked:?}");
    let elm_id = store.account_by_external_id("elm-company").await.unwrap().unwrap().id;
    let elm_sub = expected["by_name"]["elm"].as_str().unwrap();
    let want: Money = expected["subscriptions"][elm_sub].as_str().unwrap().parse().unwrap();
    assert_eq!(mrr_on(store, elm_id, tomorrow.date_naive()).await, want);

    // Linked by hand to acme's account: its lines move at once, and both accounts are
    // marked for rescoring.
    laer_store::test_support::claim_marked(store).await;
    let elm_customer = elm.customer_id.clone();
    let moved = laer_app::billing::link_by_hand(store, &elm_customer, Some(acme), "test")
        .await
        .unwrap();
    assert!(moved.lines_written > 0, "{moved:?}");
    assert!(mrr_on(store, elm_id, tomorrow.date_naive()).await.is_zero());
    let marked = laer_store::test_support::claim_marked(store).await;
    assert!(marked.contains(&elm_id) && marked.contains(&acme), "{marked:?}");
}

/// A sync that stops (its node dies mid-way) is taken over once its heartbeat is stale,
/// and resumes after the last page it recorded; the link rule "make an account" gives
/// every customer an account.
async fn a_stopped_sync_resumes_where_it_stopped(store: &Store) {
    let Some(stripe) = LocalStripe::start() else {
        return;
    };
    // 115 customers and subscriptions: two pages of each.
    let expected = scenario(&stripe, &["105"]);
    let settings = ConnectionSettings {
        link_rule: LinkRule::CreateAccount,
        ..ConnectionSettings::default()
    };
    connect(store, &stripe, &settings).await;
    let now = chrono::Utc::now().timestamp();
    // The first node stops after the first page of subscriptions.
    let stopping = {
        let store = store.clone();
        tokio::spawn(async move {
            let clock = move || now;
            let mut heard = |stage: &str, report: &SyncReport| {
                assert!(
                    !(stage == "subscriptions" && report.subscriptions == 100),
                    "the node stops here"
                );
            };
            sync_if_due(&store, Some(&secret_box()), "node-a", true, &clock, &mut heard).await
        })
    };
    assert!(stopping.await.is_err(), "the first node stopped");
    let stopped = store.stripe_connection().await.unwrap().unwrap().sync;
    assert_eq!(stopped.owner.as_deref(), Some("node-a"));
    assert_eq!(stopped.stage.as_deref(), Some("subscriptions"));
    assert!(stopped.cursor.is_some());

    // While its heartbeat is fresh, nobody else takes it.
    let clock = move || now + 10;
    let held = sync_if_due(store, Some(&secret_box()), "node-b", false, &clock, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(held, SyncOutcome::Running("node-a".into()));
    // Once stale, another node resumes: one more page of subscriptions, nothing before.
    let later = now + STALE_AFTER + 1;
    let clock = move || later;
    let mut pages: Vec<String> = Vec::new();
    let outcome = sync_if_due(store, Some(&secret_box()), "node-b", false, &clock, &mut |stage, _| {
        pages.push(stage.to_string())
    })
    .await
    .unwrap();
    let SyncOutcome::Done(report) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(pages, ["subscriptions"], "only the page not read yet");
    assert!(report.resumed);
    assert_eq!(
        (
            report.customers,
            report.accounts_created,
            report.subscriptions,
            report.unmatched
        ),
        (115, 115, 115, 0),
        "{report:?}"
    );
    let done = store.stripe_connection().await.unwrap().unwrap().sync;
    assert_eq!((done.owner, done.stage, done.error), (None, None, None));
    // Every subscription's MRR on the account made for its customer.
    let customers = store.stripe_customers().await.unwrap();
    let client = StripeClient::new(&stripe.base, StripeKey::new("sk_test_laer_reader").unwrap());
    let subs: Vec<Subscription> = client.all("/v1/subscriptions", &[], |_| {}).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    for sub in subs.iter().take(20) {
        let account = customers[&sub.customer.0].account_id.unwrap();
        let want: Money = expected["subscriptions"][&sub.id].as_str().unwrap().parse().unwrap();
        assert_eq!(mrr_on(store, account, today).await, want, "{}", sub.id);
    }
}

/// Invoices from before laer saw a subscription date its history: an invoice event with
/// a proration (3 seats to 6, two days after the start) splits the account's MRR there,
/// and a metered line, counted when the rules say so, is a line of its own; a credit
/// note against it lowers it; the same event again changes nothing.
async fn invoices_date_history_and_meter_usage(store: &Store) {
    let Some(stripe) = LocalStripe::start() else {
        return;
    };
    let expected = scenario(&stripe, &["0"]);
    let acme_sub = expected["by_name"]["acme"].as_str().unwrap().to_string();
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[laer_core::model::NewAccount::named("acme", "Acme")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let acme = store.account_by_external_id("acme").await.unwrap().unwrap().id;
    let counted = ConnectionSettings {
        rules: MrrRules {
            metered: true,
            ..MrrRules::default()
        },
        ..ConnectionSettings::default()
    };
    connect(store, &stripe, &counted).await;
    // laer first sees the subscription ten days after it started.
    let day = 86_400;
    let client = StripeClient::new(&stripe.base, StripeKey::new("sk_test_laer_reader").unwrap());
    let start: Subscription = client.get(&format!("/v1/subscriptions/{acme_sub}"), &[]).await.unwrap();
    sync_at(store, "test", start.start_date + 10 * day).await;
    let item = &start.items.data[0];
    let on = |days: i64| laer_core::billing::rules::day_of(start.start_date + days * day).unwrap();
    assert_eq!(mrr_on(store, acme, on(1)).await, "300".parse().unwrap());

    let plan = serde_json::json!({"id": item.price.id, "object": "plan", "product": item.price.product.0,
        "currency": "usd", "amount": 10_000, "interval": "month", "interval_count": 1, "usage_type": "licensed"});
    let metered = serde_json::json!({"id": "price_calls", "object": "price", "product": item.price.product.0,
        "currency": "usd", "unit_amount": 1, "recurring": {"interval": "month", "interval_count": 1, "usage_type": "metered"}});
    // A plan on the line, as older API versions (and localstripe) give it; a price, as
    // newer ones do.
    let line = |id: &str,
                item: &str,
                price: serde_json::Value,
                quantity: u64,
                amount: i64,
                proration: bool,
                from: i64,
                to: i64| {
        let key = if price["object"] == "plan" { "plan" } else { "price" };
        serde_json::json!({"id": id, "object": "line_item", "type": "subscription", "subscription": acme_sub,
            "subscription_item": item, key: price, "quantity": quantity, "amount": amount, "proration": proration,
            "period": {"start": start.start_date + from * day, "end": start.start_date + to * day}})
    };
    let invoice = serde_json::json!({"id": "in_history", "object": "invoice", "customer": start.customer.0,
    "subscription": acme_sub, "status": "paid", "currency": "usd", "created": start.start_date + 2 * day,
    "lines": {"object": "list", "has_more": false, "data": [
        line("il_down", &item.id, plan.clone(), 3, -28_000, true, 2, 30),
        line("il_up", &item.id, plan, 6, 56_000, true, 2, 30),
        // Newer API versions name the price by its id alone: laer finds it among the
        // prices it read.
        serde_json::json!({"id": "il_calls", "object": "line_item", "amount": 4_200, "quantity": 4_200,
            "period": {"start": start.start_date, "end": start.start_date + 2 * day},
            "parent": {"type": "subscription_item_details", "subscription_item_details":
                {"subscription": acme_sub, "subscription_item": "si_calls", "proration": false}},
            "pricing": {"type": "price_details", "price_details": {"price": "price_calls"}}}),
    ]}});
    let event = |id: &str, kind: &str, object: serde_json::Value| laer_app::billing::Event {
        id: id.into(),
        kind: kind.into(),
        created: start.start_date + 2 * day,
        data: laer_app::billing::EventData { object },
    };
    let connection = store.stripe_connection().await.unwrap().unwrap();
    let connected = laer_app::billing::Connected::open(&connection, Some(&secret_box())).unwrap();
    let paid = event("evt_paid", "invoice.paid", invoice);
    let now = start.start_date + 11 * day;
    let priced = event("evt_price", "price.created", metered);
    assert_eq!(
        laer_app::billing::apply_event(store, &connected, &priced, now)
            .await
            .unwrap(),
        laer_app::billing::EventOutcome::Applied
    );
    let outcome = laer_app::billing::apply_event(store, &connected, &paid, now)
        .await
        .unwrap();
    assert_eq!(outcome, laer_app::billing::EventOutcome::Applied);
    assert_eq!(
        mrr_on(store, acme, on(1)).await,
        "342".parse().unwrap(),
        "300 and 42 of calls"
    );
    assert_eq!(
        mrr_on(store, acme, on(3)).await,
        "600".parse().unwrap(),
        "six seats from the proration"
    );
    let lines = store.subscription_lines_of(acme).await.unwrap();
    assert!(
        lines.iter().any(|l| l.line.fields.product == "Suite (metered)"),
        "{lines:?}"
    );
    let before = lines.len();
    assert_eq!(
        laer_app::billing::apply_event(store, &connected, &paid, now)
            .await
            .unwrap(),
        laer_app::billing::EventOutcome::Duplicate
    );
    // A credit note of 12 against the calls.
    let note = serde_json::json!({"id": "cn_1", "object": "credit_note", "invoice": "in_history", "status": "issued",
        "lines": {"object": "list", "has_more": false, "data": [{"invoice_line_item": "il_calls", "amount": 1_200}]}});
    let credited = event("evt_credit", "credit_note.created", note);
    assert_eq!(
        laer_app::billing::apply_event(store, &connected, &credited, now)
            .await
            .unwrap(),
        laer_app::billing::EventOutcome::Applied
    );
    assert_eq!(mrr_on(store, acme, on(1)).await, "330".parse().unwrap());
    assert_eq!(store.subscription_lines_of(acme).await.unwrap().len(), before);
    // Metered prices left out again (the default): the next sync removes the usage line,
    // and keeps the history.
    connect(store, &stripe, &ConnectionSettings::default()).await;
    sync_at(store, "test", start.start_date + 12 * day).await;
    assert_eq!(mrr_on(store, acme, on(1)).await, "300".parse().unwrap());
    assert_eq!(mrr_on(store, acme, on(3)).await, "600".parse().unwrap());
    let lines = store.subscription_lines_of(acme).await.unwrap();
    assert!(lines.iter().all(|l| l.line.fields.product == "Suite"), "{lines:?}");
}

/// Imports exchange rates as an admin would (a CSV through the import kind).
async fn import_rates(store: &Store, csv: &str) {
    let mut options = laer_import::Options {
        actor: "test".into(),
        ..laer_import::Options::default()
    };
    laer_import::import(
        store,
        laer_import::Kind::ExchangeRates,
        "rates.csv",
        csv.as_bytes(),
        &mut options,
    )
    .await
    .unwrap();
}

/// A subscription billed in euros: left out (and counted) until a rate is given, then a
/// line kept in euros at the latest rate; the MRR movements over a rate change show the
/// change as exchange rates, not expansion, and NRR stays 100%; a new rate converts the
/// line again at once.
async fn a_subscription_in_euros_is_converted_at_the_rates_given(store: &Store) {
    let Some(stripe) = LocalStripe::start() else {
        return;
    };
    scenario(&stripe, &["euro", "berlin", "10000"]);
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[laer_core::model::NewAccount::named("berlin", "Berlin GmbH")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let berlin = store.account_by_external_id("berlin").await.unwrap().unwrap().id;
    connect(store, &stripe, &ConnectionSettings::default()).await;
    let now = chrono::Utc::now();
    let today = now.date_naive();
    let no_rate = sync_at(store, "test", now.timestamp()).await;
    assert_eq!(no_rate.other_currency, 1, "{no_rate:?}");
    assert!(store.subscription_lines_of(berlin).await.unwrap().is_empty());

    // 1.1 from long ago, 1.2 in ten days.
    let later = today + chrono::Days::new(10);
    import_rates(
        store,
        &format!("currency,date,rate\nEUR,2020-01-01,1.1\neur,{later},1.2\n"),
    )
    .await;
    assert!(
        store.stripe_connection().await.unwrap().unwrap().sync.requested,
        "a rate asks for a sync"
    );
    let synced = sync_at(store, "test", now.timestamp() + 60).await;
    assert_eq!(synced.other_currency, 0, "{synced:?}");
    let lines = store.subscription_lines_of(berlin).await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0].line.fields;
    assert_eq!(line.mrr, "110".parse().unwrap());
    let original = line.original.unwrap();
    assert_eq!(
        (original.currency.to_string(), original.mrr),
        ("EUR".into(), "100".parse().unwrap())
    );

    let request = laer_core::reports::ReportRequest::parse(
        &(today + chrono::Days::new(1)).to_string(),
        &(today + chrono::Days::new(20)).to_string(),
        None,
        None,
    )
    .unwrap();
    let report = laer_app::reports::mrr(store, &request, None, false).await.unwrap();
    let m = &report.periods[0].summary;
    assert_eq!(
        (
            m.movements.start,
            m.movements.expansion,
            m.movements.exchange_rates,
            m.movements.end
        ),
        (
            "110".parse().unwrap(),
            Money::ZERO,
            "10".parse().unwrap(),
            "120".parse().unwrap()
        )
    );
    assert_eq!(m.net_revenue_retention, Some(1.0));

    // A rate from yesterday: the line is worth 130 now.
    import_rates(
        store,
        &format!("currency,date,rate\nEUR,{},1.3\n", today - chrono::Days::new(1)),
    )
    .await;
    let line = &store.subscription_lines_of(berlin).await.unwrap()[0].line.fields;
    assert_eq!(line.mrr, "130".parse().unwrap());
}

laer_store::backend_tests!(
    a_subscription_in_euros_is_converted_at_the_rates_given,
    a_sync_writes_stripe_lines_and_follows_changes,
    a_stopped_sync_resumes_where_it_stopped,
    invoices_date_history_and_meter_usage
);

#[tokio::test]
async fn subscriptions_read_from_stripe_have_the_documented_mrr() {
    let Some(stripe) = LocalStripe::start() else {
        return;
    };
    // 10 named customers and 105 more: more than one page of 100.
    let expected = scenario(&stripe, &["105"]);
    let expected_mrr: BTreeMap<String, Money> = expected["subscriptions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, mrr)| (id.clone(), mrr.as_str().unwrap().parse().unwrap()))
        .collect();

    // localstripe takes secret keys only: a restricted one gets the 401 a revoked key gets.
    let refused = StripeClient::new(&stripe.base, StripeKey::new("rk_test_laer_refused").unwrap());
    let err = refused.all::<Customer>("/v1/customers", &[], |_| {}).await.unwrap_err();
    assert!(matches!(err, laer_app::stripe::StripeError::Unauthorized), "{err:?}");
    assert!(!err.to_string().contains("rk_test"), "the key is never in a message");
    let client = StripeClient::new(&stripe.base, StripeKey::new("sk_test_laer_reader").unwrap());
    let mut pages = 0;
    let subscriptions: Vec<Subscription> = client
        .all("/v1/subscriptions", &[("status", "all")], |_| pages += 1)
        .await
        .unwrap();
    assert_eq!(pages, 2, "115 subscriptions in pages of 100");
    assert_eq!(subscriptions.len(), expected_mrr.len());
    let now = chrono::Utc::now().timestamp();
    let rules = MrrRules::default();
    let mut earning = 0;
    for s in &subscriptions {
        let mrr = total(&items_at(s, now, &rules).unwrap()).to_money(2).unwrap();
        assert_eq!(mrr, expected_mrr[&s.id], "{} ({:?})", s.id, s.status);
        earning += usize::from(!mrr.is_zero());
    }
    assert_eq!(
        earning,
        subscriptions.len() - 2,
        "the trial and the canceled one earn nothing"
    );
    let customers: Vec<Customer> = client.all("/v1/customers", &[], |_| {}).await.unwrap();
    assert_eq!(customers.len() as u64, expected["customers"].as_u64().unwrap());
    assert!(customers.iter().all(|c| c.metadata.contains_key("laer_account")));
}

/// A Stripe server that answers every list but one with an empty page, and that one with
/// Stripe's 403 for a restricted key without the permission (as its API reference shows
/// it): connecting is refused naming the list, and the message carries no key.
#[tokio::test]
async fn a_key_without_read_access_is_refused_naming_the_list() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = vec![0u8; 8192];
            let n = socket.read(&mut request).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&request[..n]).to_string();
            let (status, body) = if head.starts_with("GET /v1/invoices") {
                (
                    "403 Forbidden",
                    r#"{"error":{"message":"The provided key 'rk_test_****oops' does not have the required permissions for this endpoint on account 'acct_1'. Having the 'rak_invoice_read' permission would allow this request to continue.","type":"invalid_request_error"}}"#,
                )
            } else {
                ("200 OK", r#"{"object":"list","data":[],"has_more":false}"#)
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    let key = "rk_test_51_restricted_reader_key_oops";
    let client = StripeClient::new(&base, StripeKey::new(key).unwrap());
    let refused = laer_app::billing::check_access(&client).await.unwrap_err();
    assert!(
        matches!(&refused, laer_app::stripe::StripeError::Forbidden { what } if what == "invoices"),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(message.contains("read access to invoices"), "{message}");
    assert!(!message.contains(key), "{message}");
}
