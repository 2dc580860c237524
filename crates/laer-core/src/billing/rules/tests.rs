//! One test per written rule (docs/metrics.md, "MRR from Stripe"), on objects shaped as
//! Stripe's API returns them.

use serde_json::{Value, json};

use super::*;
use crate::billing::objects::Subscription;

const DAY: i64 = 86_400;
/// 2026-01-01T00:00:00Z.
const JAN1: i64 = 1_767_225_600;

fn price(id: &str, amount: i64, interval: &str, count: u32) -> Value {
    json!({"id": id, "object": "price", "product": "prod_suite", "currency": "usd", "unit_amount": amount,
           "unit_amount_decimal": amount.to_string(), "billing_scheme": "per_unit",
           "recurring": {"interval": interval, "interval_count": count, "usage_type": "licensed"}})
}

fn sub_with(items: Vec<Value>, extra: Value) -> Subscription {
    let mut s = json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
        "start_date": JAN1, "current_period_start": JAN1, "current_period_end": JAN1 + 31 * DAY,
        "cancel_at_period_end": false, "items": {"object": "list", "data": items, "has_more": false},
        "discount": null, "discounts": [], "pause_collection": null, "livemode": false
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    serde_json::from_value(s).unwrap()
}

fn item(id: &str, price: Value, quantity: u64) -> Value {
    json!({"id": id, "object": "subscription_item", "price": price, "quantity": quantity})
}

/// The subscription's MRR at `t` in dollars (two decimals).
fn mrr(sub: &Subscription, t: i64, rules: &MrrRules) -> f64 {
    let total = items_at(sub, t, rules)
        .unwrap()
        .iter()
        .fold(Ratio::ZERO, |acc, i| acc.add(i.monthly));
    total.to_money(2).unwrap().to_f64()
}

fn rules() -> MrrRules {
    MrrRules::default()
}

#[test]
fn every_interval_is_normalised_to_a_month() {
    let at = JAN1 + DAY;
    for (interval, count, amount, monthly) in [
        ("month", 1, 10_000, 100.0),
        ("month", 3, 30_000, 100.0),
        ("year", 1, 120_000, 100.0),
        ("year", 2, 240_000, 100.0),
        ("week", 1, 1_200, 52.0),
        ("week", 2, 2_400, 52.0),
        ("day", 1, 100, 30.4167),
    ] {
        let sub = sub_with(vec![item("si_1", price("p", amount, interval, count), 1)], json!({}));
        assert_eq!(mrr(&sub, at, &rules()), monthly, "{count} {interval} at {amount}");
    }
}

#[test]
fn quantities_packages_and_tiers() {
    let at = JAN1 + DAY;
    let sub = sub_with(vec![item("si_1", price("p", 1_000, "month", 1), 7)], json!({}));
    assert_eq!(mrr(&sub, at, &rules()), 70.0, "seven units");
    let mut package = price("p", 5_000, "month", 1);
    package["transform_quantity"] = json!({"divide_by": 10, "round": "up"});
    let sub = sub_with(vec![item("si_1", package.clone(), 25)], json!({}));
    assert_eq!(
        mrr(&sub, at, &rules()),
        150.0,
        "25 units in packages of 10, rounded up: 3"
    );
    package["transform_quantity"]["round"] = json!("down");
    let sub = sub_with(vec![item("si_1", package, 25)], json!({}));
    assert_eq!(mrr(&sub, at, &rules()), 100.0, "rounded down: 2");
    let tiers = json!([
        {"up_to": 10, "unit_amount": 1_000, "flat_amount": 2_000},
        {"up_to": null, "unit_amount_decimal": "500.5", "flat_amount": null}
    ]);
    let mut tiered = price("t", 0, "month", 1);
    tiered["billing_scheme"] = json!("tiered");
    tiered["unit_amount"] = Value::Null;
    tiered["unit_amount_decimal"] = Value::Null;
    tiered["tiers"] = tiers;
    tiered["tiers_mode"] = json!("graduated");
    let sub = sub_with(vec![item("si_1", tiered.clone(), 14)], json!({}));
    // 10 × 10.00 + 20.00 flat, then 4 × 5.005.
    assert_eq!(mrr(&sub, at, &rules()), 140.02);
    tiered["tiers_mode"] = json!("volume");
    let sub = sub_with(vec![item("si_1", tiered.clone(), 14)], json!({}));
    assert_eq!(mrr(&sub, at, &rules()), 70.07, "every unit at the second tier's price");
    let sub = sub_with(vec![item("si_1", tiered.clone(), 4)], json!({}));
    assert_eq!(mrr(&sub, at, &rules()), 60.0, "4 × 10.00 + 20.00 flat");
    let sub = sub_with(vec![item("si_1", tiered, 0)], json!({}));
    assert_eq!(mrr(&sub, at, &rules()), 0.0, "no units, no MRR");
}

fn discount(duration: &str, percent: Option<f64>, amount: Option<i64>, end: Option<i64>) -> Value {
    json!({"object": "discount", "start": JAN1, "end": end,
           "coupon": {"id": "c", "object": "coupon", "percent_off": percent, "amount_off": amount,
                      "currency": amount.map(|_| "usd"), "duration": duration,
                      "duration_in_months": if duration == "repeating" { Some(3) } else { None }}})
}

#[test]
fn a_forever_coupon_lowers_mrr_and_others_do_as_the_rules_say() {
    let at = JAN1 + DAY;
    let p = price("p", 10_000, "month", 1);
    let forever = sub_with(
        vec![item("si_1", p.clone(), 1)],
        json!({"discount": discount("forever", Some(25.0), None, None)}),
    );
    assert_eq!(mrr(&forever, at, &rules()), 75.0);
    let off = sub_with(
        vec![item("si_1", p.clone(), 1)],
        json!({"discount": discount("forever", None, Some(1_500), None)}),
    );
    assert_eq!(mrr(&off, at, &rules()), 85.0, "an amount off each monthly invoice");
    let yearly = sub_with(
        vec![item("si_1", price("y", 120_000, "year", 1), 1)],
        json!({"discount": discount("forever", None, Some(12_000), None)}),
    );
    assert_eq!(
        mrr(&yearly, at, &rules()),
        90.0,
        "an amount off a yearly invoice is a twelfth a month"
    );
    let three_months = JAN1 + 90 * DAY;
    let repeating = sub_with(
        vec![item("si_1", p.clone(), 1)],
        json!({"discount": discount("repeating", Some(50.0), None, Some(three_months))}),
    );
    assert_eq!(
        mrr(&repeating, at, &rules()),
        100.0,
        "Stripe: a repeating coupon leaves MRR alone"
    );
    let chartmogul = MrrRules {
        repeating_discounts: true,
        ..rules()
    };
    assert_eq!(mrr(&repeating, at, &chartmogul), 50.0, "while it lasts");
    assert_eq!(mrr(&repeating, three_months, &chartmogul), 100.0, "and not after");
    let once = sub_with(
        vec![item("si_1", p.clone(), 1)],
        json!({"discount": discount("once", Some(100.0), None, None)}),
    );
    assert_eq!(mrr(&once, at, &rules()), 100.0);
    let with_once = MrrRules {
        once_discounts: true,
        ..rules()
    };
    assert_eq!(mrr(&once, at, &with_once), 0.0, "the first month free");
    assert_eq!(mrr(&once, JAN1 + 32 * DAY, &with_once), 100.0);
    // Two items share a discount in proportion to their value.
    let two = sub_with(
        vec![
            item("si_1", p.clone(), 1),
            item("si_2", price("q", 30_000, "month", 1), 1),
        ],
        json!({"discounts": [discount("forever", None, Some(4_000), None), "di_only_an_id"]}),
    );
    // An API version that fills both fields names one discount twice: it counts once.
    let mut both = discount("forever", Some(10.0), None, None);
    both["id"] = json!("di_1");
    let twice = sub_with(
        vec![item("si_1", p.clone(), 1)],
        json!({"discount": both.clone(), "discounts": [both]}),
    );
    assert_eq!(mrr(&twice, at, &rules()), 90.0);
    let items = items_at(&two, at, &rules()).unwrap();
    assert_eq!(items[0].monthly.to_money(2).unwrap().to_f64(), 90.0);
    assert_eq!(items[1].monthly.to_money(2).unwrap().to_f64(), 270.0);
}

#[test]
fn trials_metered_prices_and_unpaid_starts_earn_nothing() {
    let trial_end = JAN1 + 14 * DAY;
    let trial = sub_with(
        vec![item("si_1", price("p", 10_000, "month", 1), 1)],
        json!({"status": "active", "trial_start": JAN1, "trial_end": trial_end}),
    );
    assert_eq!(mrr(&trial, JAN1 + DAY, &rules()), 0.0);
    assert_eq!(mrr(&trial, trial_end, &rules()), 100.0);
    let segs = segments(
        &[State {
            from: JAN1,
            subscription: trial,
        }],
        &rules(),
    )
    .unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].from, trial_end, "MRR starts when the trial ends");
    let mut metered = price("m", 5, "month", 1);
    metered["recurring"]["usage_type"] = json!("metered");
    let sub = sub_with(
        vec![
            item("si_1", price("p", 10_000, "month", 1), 1),
            item("si_2", metered, 1),
        ],
        json!({}),
    );
    let items = items_at(&sub, JAN1 + DAY, &rules()).unwrap();
    assert!(items[1].metered && items[1].monthly.is_zero());
    assert_eq!(mrr(&sub, JAN1 + DAY, &rules()), 100.0, "metered prices are left out");
    let incomplete = sub_with(
        vec![item("si_1", price("p", 10_000, "month", 1), 1)],
        json!({"status": "incomplete"}),
    );
    assert_eq!(mrr(&incomplete, JAN1 + DAY, &rules()), 0.0, "never paid");
}

#[test]
fn a_cancellation_churns_at_the_end_of_the_paid_period_or_when_made() {
    let canceled_at = JAN1 + 10 * DAY;
    let period_end = JAN1 + 31 * DAY;
    let sub = sub_with(
        vec![item("si_1", price("p", 10_000, "month", 1), 1)],
        json!({"cancel_at_period_end": true, "canceled_at": canceled_at}),
    );
    assert_eq!(ends_at(&sub, &rules()), Some(period_end));
    assert_eq!(mrr(&sub, period_end - 1, &rules()), 100.0);
    assert_eq!(mrr(&sub, period_end, &rules()), 0.0);
    let at_once = MrrRules {
        churn_at_period_end: false,
        ..rules()
    };
    assert_eq!(ends_at(&sub, &at_once), Some(canceled_at));
    let segs = segments(
        &[State {
            from: JAN1,
            subscription: sub,
        }],
        &rules(),
    )
    .unwrap();
    assert_eq!((segs[0].from, segs[0].until), (JAN1, Some(period_end)));
    let ended = sub_with(
        vec![item("si_1", price("p", 10_000, "month", 1), 1)],
        json!({"status": "canceled", "canceled_at": canceled_at, "ended_at": canceled_at}),
    );
    assert_eq!(
        ends_at(&ended, &rules()),
        Some(canceled_at),
        "canceled at once: ended then"
    );
}

#[test]
fn delinquency_and_pauses_follow_the_rules() {
    let p = price("p", 10_000, "month", 1);
    let at = JAN1 + DAY;
    let past_due = sub_with(vec![item("si_1", p.clone(), 1)], json!({"status": "past_due"}));
    assert_eq!(
        mrr(&past_due, at, &rules()),
        100.0,
        "Stripe counts a past-due subscription"
    );
    let strict = MrrRules {
        past_due_counts: false,
        ..rules()
    };
    assert_eq!(mrr(&past_due, at, &strict), 0.0);
    let unpaid = sub_with(
        vec![item("si_1", p.clone(), 1)],
        json!({"status": "unpaid", "current_period_start": JAN1 + 40 * DAY, "current_period_end": JAN1 + 71 * DAY}),
    );
    assert_eq!(mrr(&unpaid, JAN1 + 39 * DAY, &rules()), 100.0);
    assert_eq!(
        mrr(&unpaid, JAN1 + 40 * DAY, &rules()),
        0.0,
        "unpaid is churn from the unpaid period"
    );
    let paused = sub_with(
        vec![item("si_1", p, 1)],
        json!({"pause_collection": {"behavior": "void", "resumes_at": null}}),
    );
    assert_eq!(mrr(&paused, at, &rules()), 100.0);
    let profitwell = MrrRules {
        paused_collection_counts: false,
        ..rules()
    };
    assert_eq!(mrr(&paused, at, &profitwell), 0.0);
}

#[test]
fn states_in_time_make_segments_of_constant_value() {
    let upgrade = JAN1 + 45 * DAY;
    let cancel = JAN1 + 120 * DAY;
    let before = sub_with(vec![item("si_1", price("p", 10_000, "month", 1), 2)], json!({}));
    let after = sub_with(
        vec![item("si_1", price("p", 10_000, "month", 1), 5)],
        json!({"cancel_at_period_end": true, "canceled_at": JAN1 + 100 * DAY, "current_period_start": JAN1 + 90 * DAY, "current_period_end": cancel}),
    );
    let states = [
        State {
            from: JAN1,
            subscription: before.clone(),
        },
        State {
            from: JAN1 + 20 * DAY,
            subscription: before,
        },
        State {
            from: upgrade,
            subscription: after,
        },
    ];
    let segs = segments(&states, &rules()).unwrap();
    let seen: Vec<(i64, Option<i64>, f64)> = segs
        .iter()
        .map(|s| (s.from, s.until, s.item.monthly.to_money(2).unwrap().to_f64()))
        .collect();
    assert_eq!(
        seen,
        vec![(JAN1, Some(upgrade), 200.0), (upgrade, Some(cancel), 500.0)],
        "the same value joins across states; an upgrade starts a new stretch; the cancellation ends it"
    );
}

#[test]
fn money_is_rounded_once_in_the_currencys_unit() {
    assert_eq!(currency_exponent("JPY"), 0);
    assert_eq!(currency_exponent("kwd"), 3);
    assert_eq!(currency_exponent("eur"), 2);
    assert_eq!(
        Ratio::new(10_000, 3).to_money(2),
        Some(Money::from_ten_thousandths(333_333))
    );
    assert_eq!(Ratio::new(-1, 3).to_money(2), Some(Money::from_ten_thousandths(-33)));
    assert_eq!(
        Ratio::whole(1_200).to_money(0),
        Some(Money::from_ten_thousandths(12_000_000)),
        "¥1,200"
    );
    assert_eq!(Ratio::parse("12.345"), Some(Ratio::new(12_345, 1_000)));
    assert_eq!(Ratio::parse("1.2.3"), None);
}

#[test]
fn a_price_laer_cannot_read_is_named() {
    let mut odd = price("price_odd", 0, "month", 1);
    odd["billing_scheme"] = json!("tiered");
    let sub = sub_with(vec![item("si_1", odd, 1)], json!({}));
    let err = items_at(&sub, JAN1, &rules()).unwrap_err();
    assert!(err.to_string().contains("price_odd"), "{err}");
    let mut one_time = price("price_once", 100, "month", 1);
    one_time["recurring"] = Value::Null;
    let sub = sub_with(vec![item("si_1", one_time, 1)], json!({}));
    assert!(
        items_at(&sub, JAN1, &rules())
            .unwrap_err()
            .to_string()
            .contains("one-time")
    );
}

/// As localstripe (and older API versions) return it: an item with a plan and no price.
#[test]
fn an_item_with_a_plan_reads_as_its_price() {
    let plan = json!({"id": "suite-yearly", "object": "plan", "active": true, "amount": 12000,
        "billing_scheme": "per_unit", "currency": "usd", "interval": "year", "interval_count": 1,
        "product": "prod_KAs7zMVk7t2eTa", "tiers": null, "tiers_mode": null, "usage_type": "licensed"});
    let sub = sub_with(
        vec![json!({"id": "si_9A8o", "object": "subscription_item", "plan": plan, "quantity": 3, "tax_rates": []})],
        json!({}),
    );
    assert_eq!(
        mrr(&sub, JAN1 + DAY, &rules()),
        30.0,
        "3 × 120.00 a year is 30.00 a month"
    );
    assert_eq!(sub.items.data[0].price.product.0, "prod_KAs7zMVk7t2eTa");
    let neither: Result<Subscription, _> = serde_json::from_value(json!({
        "id": "sub_x", "customer": "cus_1", "status": "active", "start_date": JAN1,
        "items": {"data": [{"id": "si_x", "quantity": 1}]}}));
    assert!(neither.unwrap_err().to_string().contains("neither a price nor a plan"));
}
