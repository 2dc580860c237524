//! Invoices and credit notes shaped as Stripe's API returns them (older versions: `price`,
//! `subscription_item`, `proration` on the line; newer: `parent`, `pricing`), one test per
//! rule of docs/metrics.md that they feed.

use serde_json::{Value, json};

use super::*;
use crate::billing::rules::segments;

const DAY: i64 = 86_400;
/// 2026-01-01T00:00:00Z.
const JAN1: i64 = 1_767_225_600;
const FEB1: i64 = JAN1 + 31 * DAY;
const MAR1: i64 = FEB1 + 28 * DAY;
const APR1: i64 = MAR1 + 31 * DAY;

fn price(id: &str, amount: i64, usage: &str) -> Value {
    json!({"id": id, "object": "price", "product": "prod_suite", "currency": "usd", "unit_amount": amount,
           "billing_scheme": "per_unit", "recurring": {"interval": "month", "interval_count": 1, "usage_type": usage}})
}

fn subscription(items: Value, extra: Value) -> Subscription {
    let mut s = json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
        "start_date": JAN1, "current_period_start": MAR1, "current_period_end": APR1,
        "cancel_at_period_end": false, "items": {"object": "list", "data": items, "has_more": false},
        "discount": null, "discounts": []
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    serde_json::from_value(s).unwrap()
}

/// A line in the shape of API versions before 2025-03-31: the price object on the line.
fn old_line(
    id: &str,
    item: &str,
    price: Value,
    quantity: u64,
    amount: i64,
    proration: bool,
    period: (i64, i64),
) -> Value {
    json!({"id": id, "object": "line_item", "type": "subscription", "subscription": "sub_1",
           "subscription_item": item, "price": price, "quantity": quantity, "amount": amount,
           "proration": proration, "period": {"start": period.0, "end": period.1}, "discount_amounts": []})
}

/// A line in the shape of newer API versions: the price by id, under `pricing`.
fn new_line(
    id: &str,
    item: &str,
    price: &str,
    quantity: u64,
    amount: i64,
    proration: bool,
    period: (i64, i64),
) -> Value {
    json!({"id": id, "object": "line_item", "amount": amount, "quantity": quantity,
           "period": {"start": period.0, "end": period.1},
           "parent": {"type": "subscription_item_details", "subscription_item_details":
               {"subscription": "sub_1", "subscription_item": item, "proration": proration}},
           "pricing": {"type": "price_details", "price_details": {"price": price, "product": "prod_suite"}}})
}

fn invoice(id: &str, status: &str, created: i64, lines: Vec<Value>) -> Invoice {
    serde_json::from_value(json!({
        "id": id, "object": "invoice", "customer": "cus_1", "subscription": "sub_1", "status": status,
        "currency": "usd", "created": created, "discount": null, "discounts": [],
        "lines": {"object": "list", "data": lines, "has_more": false}
    }))
    .unwrap()
}

/// Each stretch as (from, until, dollars per month), in order.
fn stretches(segments: &[Segment]) -> Vec<(i64, Option<i64>, f64)> {
    let mut out: Vec<(i64, Option<i64>, f64)> = segments
        .iter()
        .map(|s| (s.from, s.until, s.item.monthly.to_money(2).unwrap().to_f64()))
        .collect();
    out.sort_by_key(|s| s.0);
    out
}

/// The subscription's stretches from its invoices and its one state seen at `seen`.
fn history(sub: Subscription, seen: i64, invoices: &[Invoice]) -> Vec<Segment> {
    let first = State {
        from: seen,
        subscription: sub,
    };
    let prices = known_prices(std::slice::from_ref(&first), invoices);
    let mut states = states_before(&first, invoices, &prices);
    states.push(first);
    segments(&states, &MrrRules::default()).unwrap()
}

#[test]
fn an_upgrade_before_laer_saw_the_subscription_is_dated_by_its_proration() {
    let seats = price("price_seat", 10_000, "licensed");
    // Three seats from January; six from 15 February, prorated on March's invoice.
    let feb15 = FEB1 + 14 * DAY;
    let invoices = [
        invoice(
            "in_1",
            "paid",
            JAN1,
            vec![old_line("il_1", "si_1", seats.clone(), 3, 30_000, false, (JAN1, FEB1))],
        ),
        invoice(
            "in_2",
            "paid",
            FEB1,
            vec![new_line("il_2", "si_1", "price_seat", 3, 30_000, false, (FEB1, MAR1))],
        ),
        invoice(
            "in_3",
            "paid",
            MAR1,
            vec![
                new_line("il_3", "si_1", "price_seat", 3, -15_000, true, (feb15, MAR1)),
                new_line("il_4", "si_1", "price_seat", 6, 30_000, true, (feb15, MAR1)),
                new_line("il_5", "si_1", "price_seat", 6, 60_000, false, (MAR1, APR1)),
            ],
        ),
    ];
    let now = subscription(json!([{"id": "si_1", "price": seats, "quantity": 6}]), json!({}));
    let seen = MAR1 + 9 * DAY;
    assert_eq!(
        stretches(&history(now.clone(), seen, &invoices)),
        vec![(JAN1, Some(feb15), 300.0), (feb15, None, 600.0)]
    );
    // Lines naming their price by id alone: known from the state or another invoice's
    // line, else to be looked up.
    let later = &invoices[1..];
    assert!(unknown_prices(later, &known_prices(&[], later)).contains("price_seat"));
    assert!(unknown_prices(&invoices, &known_prices(&[], &invoices)).is_empty());
    let seen_state = State {
        from: seen,
        subscription: now.clone(),
    };
    assert!(unknown_prices(&invoices, &known_prices(&[seen_state], &invoices)).is_empty());
    // Without the invoices, the state laer saw holds from the start.
    assert_eq!(stretches(&history(now, seen, &[])), vec![(JAN1, None, 600.0)]);
}

#[test]
fn an_item_added_mid_period_and_one_dropped_at_renewal() {
    let seats = price("price_seat", 10_000, "licensed");
    let support = price("price_support", 5_000, "licensed");
    let jan20 = JAN1 + 19 * DAY;
    let invoices = [
        invoice(
            "in_1",
            "paid",
            JAN1,
            vec![old_line("il_1", "si_1", seats.clone(), 1, 10_000, false, (JAN1, FEB1))],
        ),
        // Support added on 20 January: a positive proration alone.
        invoice(
            "in_2",
            "paid",
            FEB1,
            vec![
                old_line("il_2", "si_2", support.clone(), 1, 2_000, true, (jan20, FEB1)),
                old_line("il_3", "si_1", seats.clone(), 1, 10_000, false, (FEB1, MAR1)),
                old_line("il_4", "si_2", support.clone(), 1, 5_000, false, (FEB1, MAR1)),
            ],
        ),
        // Support not renewed in March.
        invoice(
            "in_3",
            "paid",
            MAR1,
            vec![old_line("il_5", "si_1", seats.clone(), 1, 10_000, false, (MAR1, APR1))],
        ),
    ];
    let now = subscription(json!([{"id": "si_1", "price": seats, "quantity": 1}]), json!({}));
    let segments = history(now, MAR1 + DAY, &invoices);
    let seat: Vec<_> = segments.iter().filter(|s| s.item.item == "si_1").cloned().collect();
    let extra: Vec<_> = segments.iter().filter(|s| s.item.item == "si_2").cloned().collect();
    assert_eq!(stretches(&seat), vec![(JAN1, None, 100.0)]);
    assert_eq!(stretches(&extra), vec![(jan20, Some(MAR1), 50.0)]);
}

#[test]
fn drafts_voided_and_uncollectible_invoices_say_nothing() {
    let seats = price("price_seat", 10_000, "licensed");
    let now = subscription(
        json!([{"id": "si_1", "price": seats.clone(), "quantity": 2}]),
        json!({}),
    );
    for status in ["draft", "void", "uncollectible"] {
        let invoices = [invoice(
            "in_1",
            status,
            JAN1,
            vec![old_line("il_1", "si_1", seats.clone(), 9, 90_000, false, (JAN1, FEB1))],
        )];
        assert_eq!(
            stretches(&history(now.clone(), FEB1, &invoices)),
            vec![(JAN1, None, 200.0)],
            "{status}"
        );
    }
}

#[test]
fn history_keeps_the_invoices_discounts_and_the_subscriptions_end() {
    let seats = price("price_seat", 10_000, "licensed");
    let mut first = invoice(
        "in_1",
        "paid",
        JAN1,
        vec![old_line("il_1", "si_1", seats.clone(), 1, 10_000, false, (JAN1, FEB1))],
    );
    first.discount = serde_json::from_value(
        json!({"coupon": {"id": "half", "percent_off": 50.0, "duration": "forever"}, "start": JAN1}),
    )
    .ok();
    let second = invoice(
        "in_2",
        "paid",
        FEB1,
        vec![old_line("il_2", "si_1", seats.clone(), 1, 10_000, false, (FEB1, MAR1))],
    );
    // Canceled on 10 February, at once: laer first saw it canceled, in April.
    let feb10 = FEB1 + 9 * DAY;
    let now = subscription(
        json!([{"id": "si_1", "price": seats, "quantity": 1}]),
        json!({"status": "canceled", "canceled_at": feb10, "ended_at": feb10, "current_period_start": FEB1, "current_period_end": MAR1}),
    );
    assert_eq!(
        stretches(&history(now, APR1, &[first, second])),
        vec![(JAN1, Some(FEB1), 50.0), (FEB1, Some(feb10), 100.0)]
    );
}

#[test]
fn metered_usage_counts_from_its_invoices_only_when_the_rules_say() {
    let usage = price("price_calls", 1, "metered");
    let now = subscription(json!([{"id": "si_9", "price": usage.clone()}]), json!({}));
    // Usage is invoiced after its period: January's 5,000 calls on 1 February, February's
    // 8,000 on 1 March, 1,000 of which were credited back.
    let invoices = [
        invoice(
            "in_1",
            "paid",
            FEB1,
            vec![old_line(
                "il_1",
                "si_9",
                usage.clone(),
                5_000,
                5_000,
                false,
                (JAN1, FEB1),
            )],
        ),
        invoice(
            "in_2",
            "paid",
            MAR1,
            vec![new_line(
                "il_2",
                "si_9",
                "price_calls",
                8_000,
                8_000,
                false,
                (FEB1, MAR1),
            )],
        ),
    ];
    let notes: Vec<CreditNote> = vec![
        serde_json::from_value(
            json!({"id": "cn_1", "object": "credit_note", "invoice": "in_2", "status": "issued",
            "lines": {"object": "list", "data": [{"invoice_line_item": "il_2", "amount": 1_000}], "has_more": false}}),
        )
        .unwrap(),
        serde_json::from_value(
            json!({"id": "cn_2", "object": "credit_note", "invoice": "in_2", "status": "void",
            "lines": {"object": "list", "data": [{"invoice_line_item": "il_2", "amount": 7_000}], "has_more": false}}),
        )
        .unwrap(),
    ];
    let state = State {
        from: MAR1,
        subscription: now.clone(),
    };
    let prices = known_prices(std::slice::from_ref(&state), &invoices);
    let off = MrrRules::default();
    assert!(
        metered_segments(&now, &invoices, &notes, &prices, &off)
            .unwrap()
            .is_empty()
    );
    let on = MrrRules { metered: true, ..off };
    let metered = metered_segments(&now, &invoices, &notes, &prices, &on).unwrap();
    assert!(metered.iter().all(|s| s.item.item == "metered:si_9" && s.item.metered));
    // The latest period's value holds on while the subscription runs.
    assert_eq!(stretches(&metered), vec![(JAN1, Some(FEB1), 50.0), (FEB1, None, 70.0)]);
    // Ended, it stops with the last period invoiced.
    let ended = subscription(
        json!([{"id": "si_9", "price": usage}]),
        json!({"status": "canceled", "canceled_at": MAR1, "ended_at": MAR1}),
    );
    let metered = metered_segments(&ended, &invoices, &notes, &prices, &on).unwrap();
    assert_eq!(
        stretches(&metered),
        vec![(JAN1, Some(FEB1), 50.0), (FEB1, Some(MAR1), 70.0)]
    );
    // Metered items earn nothing in the licensed stretches, invoices or not; and a usage
    // invoice does not stand for what was bought then.
    assert!(history(now, MAR1 + DAY, &invoices).is_empty());
    let seats = price("price_seat", 10_000, "licensed");
    let both = subscription(
        json!([{"id": "si_1", "price": seats.clone(), "quantity": 1}, {"id": "si_9", "price": usage}]),
        json!({}),
    );
    let mut with_seats = invoices.to_vec();
    with_seats.insert(
        0,
        invoice(
            "in_0",
            "paid",
            JAN1,
            vec![old_line("il_0", "si_1", seats, 1, 10_000, false, (JAN1, FEB1))],
        ),
    );
    assert_eq!(
        stretches(&history(both, MAR1 + DAY, &with_seats)),
        vec![(JAN1, None, 100.0)]
    );
}

#[test]
fn an_invoice_in_either_shape_names_its_subscription_and_time() {
    let older: Invoice = serde_json::from_value(json!({"id": "in_1", "customer": "cus_1", "subscription": "sub_1",
        "currency": "EUR", "date": JAN1, "lines": {"data": []}}))
    .unwrap();
    assert_eq!(
        (older.subscription.as_deref(), older.created, older.currency.as_str()),
        (Some("sub_1"), JAN1, "eur")
    );
    assert!(older.counts(), "localstripe gives no status");
    let newer: Invoice =
        serde_json::from_value(json!({"id": "in_2", "customer": {"id": "cus_1", "object": "customer"},
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}},
        "status": "paid", "currency": "usd", "created": FEB1, "lines": {"data": [], "has_more": false}}))
        .unwrap();
    assert_eq!(
        (newer.subscription.as_deref(), newer.customer.as_deref()),
        (Some("sub_1"), Some("cus_1"))
    );
}
