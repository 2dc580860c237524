//! MRR from Stripe subscriptions by written rules (issue 17; docs/metrics.md, "MRR from
//! Stripe"): each price normalised to a month, quantities, tiers and packages, discounts,
//! trials, cancellations, delinquency and pauses — the choices where Stripe's Billing
//! analytics, ChartMogul and ProfitWell disagree made in [`MrrRules`], Stripe's by
//! default. Exact: amounts are rationals in the currency's smallest unit until the one
//! rounding to [`Money`] at the end.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};

use super::objects::{CouponDuration, Discount, Interval, Price, Status, Subscription, SubscriptionItem};
use crate::money::Money;

/// The choices where MRR rules differ between analytics products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MrrRules {
    /// A coupon of duration `once` lowers MRR during the billing period it applies to
    /// (Stripe: no; only `forever` coupons lower MRR).
    pub once_discounts: bool,
    /// A coupon of duration `repeating` lowers MRR while it lasts (Stripe: no; ChartMogul:
    /// yes).
    pub repeating_discounts: bool,
    /// A `past_due` subscription keeps its MRR (Stripe: yes) or has none from the start
    /// of the unpaid period.
    pub past_due_counts: bool,
    /// A subscription whose collection is paused (`pause_collection`) keeps its MRR
    /// (Stripe: yes, it is still active) or has none while paused (ProfitWell).
    pub paused_collection_counts: bool,
    /// A cancellation ends MRR at the end of the period paid for (default) or when it
    /// is made.
    pub churn_at_period_end: bool,
    /// Metered (usage) prices count (their amount is known only from invoices; they are
    /// left out of MRR by default, as Stripe does).
    pub metered: bool,
}

impl Default for MrrRules {
    fn default() -> MrrRules {
        MrrRules {
            once_discounts: false,
            repeating_discounts: false,
            past_due_counts: true,
            paused_collection_counts: true,
            churn_at_period_end: true,
            metered: false,
        }
    }
}

/// Why a Stripe object cannot be read as MRR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    #[error("price {price}: {problem}")]
    Price { price: String, problem: String },
    #[error("subscription {subscription}: {problem}")]
    Subscription { subscription: String, problem: String },
}

/// An exact rational, in a currency's smallest unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    num: i128,
    den: i128,
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs().max(1) } else { gcd(b, a % b) }
}

impl Ratio {
    pub const ZERO: Ratio = Ratio { num: 0, den: 1 };

    pub(crate) fn new(num: i128, den: i128) -> Ratio {
        let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
        let g = gcd(num, den);
        Ratio {
            num: num / g,
            den: den / g,
        }
    }

    pub(crate) fn whole(n: i128) -> Ratio {
        Ratio::new(n, 1)
    }

    pub(crate) fn add(self, o: Ratio) -> Ratio {
        Ratio::new(self.num * o.den + o.num * self.den, self.den * o.den)
    }

    pub(crate) fn mul(self, o: Ratio) -> Ratio {
        Ratio::new(self.num * o.num, self.den * o.den)
    }

    pub(crate) fn div(self, o: Ratio) -> Ratio {
        Ratio::new(self.num * o.den, self.den * o.num)
    }

    pub(crate) fn max_zero(self) -> Ratio {
        if self.num < 0 { Ratio::ZERO } else { self }
    }

    pub fn is_zero(self) -> bool {
        self.num == 0
    }

    /// The value when it is a whole number that fits (a billing interval's months).
    pub fn whole_months(self) -> Option<i32> {
        (self.den == 1).then(|| i32::try_from(self.num).ok()).flatten()
    }

    /// A decimal text ("12.5") exactly.
    fn parse(text: &str) -> Option<Ratio> {
        let text = text.trim();
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        if fraction.len() > 18 || !fraction.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let digits = format!("{whole}{fraction}");
        let num: i128 = digits.parse().ok()?;
        Some(Ratio::new(num, 10_i128.pow(fraction.len() as u32)))
    }

    /// A float given with at most six decimals (Stripe's `percent_off`).
    fn of_f64(x: f64) -> Option<Ratio> {
        x.is_finite().then(|| Ratio::new((x * 1e6).round() as i128, 1_000_000))
    }

    /// The amount as [`Money`] of a currency whose smallest unit has `exponent` decimals,
    /// rounded half away from zero to a ten-thousandth.
    pub fn to_money(self, exponent: u32) -> Option<Money> {
        let scale = 10_i128.checked_pow(crate::money::MONEY_DECIMALS.checked_sub(exponent)?)?;
        let n = self.num.checked_mul(scale)?;
        let rounded = (2 * n + n.signum() * self.den) / (2 * self.den);
        i64::try_from(rounded).ok().map(Money::from_ten_thousandths)
    }
}

/// How many decimals a currency's smallest unit has (Stripe's list of zero- and
/// three-decimal currencies; two otherwise).
pub fn currency_exponent(currency: &str) -> u32 {
    const ZERO: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    ];
    const THREE: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];
    let c = currency.to_ascii_lowercase();
    if ZERO.contains(&c.as_str()) {
        0
    } else if THREE.contains(&c.as_str()) {
        3
    } else {
        2
    }
}

fn amount(whole: Option<i64>, decimal: Option<&str>) -> Option<Ratio> {
    match decimal {
        Some(d) => Ratio::parse(d),
        None => whole.map(|w| Ratio::whole(i128::from(w))),
    }
}

/// Months in one billing interval: a year is 12, a week 12/52, a day 12/365.
pub fn interval_months(interval: Interval, count: u32) -> Ratio {
    let count = i128::from(count.max(1));
    match interval {
        Interval::Month => Ratio::whole(count),
        Interval::Year => Ratio::whole(12 * count),
        Interval::Week => Ratio::new(12 * count, 52),
        Interval::Day => Ratio::new(12 * count, 365),
    }
}

/// What one billing interval of a licensed price costs for `quantity` (nothing for none),
/// in the currency's smallest unit: per unit (after `transform_quantity`), or by its tiers (graduated: each
/// tier's units at its price; volume: every unit at the price of the tier the quantity
/// falls in; each with the tier's flat amount).
pub fn interval_amount(price: &Price, quantity: u64) -> Result<Ratio, BillingError> {
    let bad = |problem: &str| BillingError::Price {
        price: price.id.clone(),
        problem: problem.to_string(),
    };
    if quantity == 0 {
        return Ok(Ratio::ZERO);
    }
    if price.billing_scheme.as_deref() == Some("tiered") {
        let tiers = price
            .tiers
            .as_deref()
            .ok_or_else(|| bad("a tiered price without its tiers (expand `tiers`)"))?;
        let unit =
            |t: &super::objects::Tier| amount(t.unit_amount, t.unit_amount_decimal.as_deref()).unwrap_or(Ratio::ZERO);
        let flat =
            |t: &super::objects::Tier| amount(t.flat_amount, t.flat_amount_decimal.as_deref()).unwrap_or(Ratio::ZERO);
        let q = i128::from(quantity);
        return match price.tiers_mode.as_deref() {
            Some("volume") => {
                let tier = tiers
                    .iter()
                    .find(|t| t.up_to.is_none_or(|u| quantity <= u))
                    .ok_or_else(|| bad("no tier holds the quantity"))?;
                Ok(unit(tier).mul(Ratio::whole(q)).add(flat(tier)))
            }
            Some("graduated") => {
                let mut total = Ratio::ZERO;
                let mut below = 0_i128;
                for t in tiers {
                    if below >= q {
                        break;
                    }
                    let top = t.up_to.map_or(q, |u| i128::from(u).min(q));
                    let units = (top - below).max(0);
                    if units > 0 {
                        total = total.add(unit(t).mul(Ratio::whole(units))).add(flat(t));
                    }
                    below = top.max(below);
                }
                Ok(total)
            }
            _ => Err(bad("tiers_mode must be graduated or volume")),
        };
    }
    let unit = amount(price.unit_amount, price.unit_amount_decimal.as_deref()).ok_or_else(|| bad("no unit_amount"))?;
    let billed = match &price.transform_quantity {
        Some(t) if t.divide_by > 0 => {
            let (q, d) = (quantity, t.divide_by);
            if t.round == "up" { q.div_ceil(d) } else { q / d }
        }
        _ => quantity,
    };
    Ok(unit.mul(Ratio::whole(i128::from(billed))))
}

/// One subscription item's value per month, before discounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemMrr {
    pub item: String,
    pub product: String,
    pub price: String,
    pub currency: String,
    pub quantity: u64,
    /// Months in the price's billing interval.
    pub interval_months: Ratio,
    /// A metered price: its amount is known only from invoices.
    pub metered: bool,
    /// The item's value per month, in the currency's smallest unit (zero when metered).
    pub monthly: Ratio,
}

/// The item's value per month: its interval amount divided by the interval's months.
pub fn item_mrr(item: &SubscriptionItem) -> Result<ItemMrr, BillingError> {
    let price = &item.price;
    let recurring = price.recurring.as_ref().ok_or_else(|| BillingError::Price {
        price: price.id.clone(),
        problem: "a one-time price on a subscription".into(),
    })?;
    let metered = recurring.is_metered();
    let quantity = item.quantity.unwrap_or(1);
    let months = interval_months(recurring.interval, recurring.interval_count);
    let monthly = if metered {
        Ratio::ZERO
    } else {
        interval_amount(price, quantity)?.div(months)
    };
    Ok(ItemMrr {
        item: item.id.clone(),
        product: price.product.0.clone(),
        price: price.id.clone(),
        currency: price.currency.to_ascii_lowercase(),
        quantity,
        interval_months: months,
        metered,
        monthly,
    })
}

/// The items' value per month together.
pub fn total(items: &[ItemMrr]) -> Ratio {
    items.iter().fold(Ratio::ZERO, |acc, i| acc.add(i.monthly))
}

/// Whether `discount` lowers MRR at `t` under `rules`: a `forever` coupon always; `once`
/// and `repeating` only where the rules say so, and while they apply (a `once` coupon for
/// the billing interval after it starts).
fn discount_applies(discount: &Discount, t: i64, interval_seconds: i64, rules: &MrrRules) -> bool {
    let started = discount.start.is_none_or(|s| s <= t);
    match discount.coupon.duration {
        CouponDuration::Forever => started && discount.end.is_none_or(|e| t < e),
        CouponDuration::Repeating => rules.repeating_discounts && started && discount.end.is_none_or(|e| t < e),
        CouponDuration::Once => {
            let end = discount
                .end
                .or_else(|| discount.start.map(|s| s.saturating_add(interval_seconds)));
            rules.once_discounts && started && end.is_none_or(|e| t < e)
        }
    }
}

/// Seconds in a billing interval, for how long a `once` coupon applies.
fn interval_seconds(months: Ratio) -> i64 {
    // An average month: 365.25 / 12 days.
    let seconds = months.mul(Ratio::new(3_155_760_000, 1200));
    i64::try_from(seconds.num / seconds.den.max(1)).unwrap_or(i64::MAX)
}

/// The items' values per month at `t` under `rules`, discounts shared among the items in
/// proportion to their value; zero when the subscription has no MRR then (not started,
/// in trial, ended, unpaid, past due or paused where the rules say so).
pub fn items_at(sub: &Subscription, t: i64, rules: &MrrRules) -> Result<Vec<ItemMrr>, BillingError> {
    let mut items: Vec<ItemMrr> = sub.items.data.iter().map(item_mrr).collect::<Result<_, _>>()?;
    let counts = items.iter().filter(|i| rules.metered || !i.metered).count();
    let zero = |items: &mut Vec<ItemMrr>| items.iter_mut().for_each(|i| i.monthly = Ratio::ZERO);
    if counts == 0 || !earning(sub, t, rules) {
        zero(&mut items);
        return Ok(items);
    }
    let total = items.iter().fold(Ratio::ZERO, |acc, i| acc.add(i.monthly));
    let interval = items
        .iter()
        .find(|i| !i.metered)
        .map_or(Ratio::whole(1), |i| i.interval_months);
    let mut after = total;
    for d in sub.known_discounts() {
        if !discount_applies(d, t, interval_seconds(interval), rules) {
            continue;
        }
        if let Some(p) = d.coupon.percent_off.and_then(Ratio::of_f64) {
            after = after.mul(Ratio::whole(1).add(p.mul(Ratio::new(-1, 100)))).max_zero();
        }
        if let Some(off) = d.coupon.amount_off {
            let same = d
                .coupon
                .currency
                .as_deref()
                .is_none_or(|c| items.first().is_none_or(|i| i.currency.eq_ignore_ascii_case(c)));
            if same {
                after = after.add(Ratio::whole(-i128::from(off)).div(interval)).max_zero();
            }
        }
    }
    if !total.is_zero() && after != total {
        let share = after.div(total);
        for i in &mut items {
            i.monthly = i.monthly.mul(share);
        }
    }
    Ok(items)
}

/// When the subscription stops earning under `rules`, as far as this state of it says.
pub fn ends_at(sub: &Subscription, rules: &MrrRules) -> Option<i64> {
    let period_end = sub.current_period_end();
    let cancellation = |paid_to: Option<i64>| {
        if rules.churn_at_period_end {
            paid_to.or(sub.canceled_at)
        } else {
            sub.canceled_at.or(paid_to)
        }
    };
    match sub.status {
        Status::Canceled => cancellation(sub.ended_at.or(period_end)),
        Status::Unpaid => sub.current_period_start(),
        Status::PastDue if !rules.past_due_counts => sub.current_period_start(),
        Status::Paused => sub.trial_end.or(sub.current_period_start()),
        _ if sub.cancel_at_period_end || sub.cancel_at.is_some() => cancellation(sub.cancel_at.or(period_end)),
        _ => None,
    }
}

/// Whether the subscription earns at `t` under `rules`.
fn earning(sub: &Subscription, t: i64, rules: &MrrRules) -> bool {
    let paid_ever = !matches!(sub.status, Status::Incomplete | Status::IncompleteExpired);
    let in_trial = sub
        .trial_end
        .is_some_and(|end| sub.trial_start.unwrap_or(sub.start_date) <= t && t < end);
    let paused = sub.pause_collection.is_some() && !rules.paused_collection_counts;
    paid_ever && t >= sub.start_date && !in_trial && !paused && ends_at(sub, rules).is_none_or(|end| t < end)
}

/// A stretch of time over which one item's value per month is constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub subscription: String,
    pub item: ItemMrr,
    pub from: i64,
    /// `None`: still earning.
    pub until: Option<i64>,
}

/// A subscription as it was from `from` on (a sync or an event saw it so), until the next
/// state known.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub from: i64,
    pub subscription: Subscription,
}

/// Every stretch of constant value per month of each item, from a subscription's states
/// in time order (the first applies from the subscription's start): each state's moments
/// of change (start, trial end, discount ends, the end) cut it, equal neighbours join,
/// and stretches without value are left out.
pub fn segments(states: &[State], rules: &MrrRules) -> Result<Vec<Segment>, BillingError> {
    let mut out: Vec<Segment> = Vec::new();
    for (k, state) in states.iter().enumerate() {
        let sub = &state.subscription;
        let from = if k == 0 {
            sub.start_date.min(state.from)
        } else {
            state.from
        };
        let to = states.get(k + 1).map(|next| next.from);
        let mut cuts: BTreeSet<i64> = BTreeSet::from([from]);
        let mut cut = |t: Option<i64>| {
            if let Some(t) = t.filter(|t| *t > from && to.is_none_or(|to| *t < to)) {
                cuts.insert(t);
            }
        };
        cut(Some(sub.start_date));
        cut(sub.trial_start);
        cut(sub.trial_end);
        cut(ends_at(sub, rules));
        for d in sub.known_discounts() {
            cut(d.start);
            cut(d.end);
            if d.coupon.duration == CouponDuration::Once && d.end.is_none() {
                let months = sub
                    .items
                    .data
                    .iter()
                    .filter_map(|i| i.price.recurring.as_ref())
                    .map(|r| interval_months(r.interval, r.count()))
                    .next()
                    .unwrap_or(Ratio::whole(1));
                cut(d.start.map(|s| s.saturating_add(interval_seconds(months))));
            }
        }
        let cuts: Vec<i64> = cuts.into_iter().collect();
        for (n, at) in cuts.iter().enumerate() {
            let until = cuts.get(n + 1).copied().or(to);
            for item in items_at(sub, *at, rules)? {
                let open = out
                    .iter_mut()
                    .rev()
                    .find(|s| s.item.item == item.item && s.until == Some(*at));
                match open {
                    Some(s) if s.item == item => s.until = until,
                    _ => out.push(Segment {
                        subscription: sub.id.clone(),
                        item,
                        from: *at,
                        until,
                    }),
                }
            }
        }
    }
    out.retain(|s| !s.item.monthly.is_zero() && s.until.is_none_or(|u| u > s.from));
    Ok(out)
}

impl super::objects::Recurring {
    fn count(&self) -> u32 {
        self.interval_count
    }
}

/// The day (UTC) of a Stripe timestamp.
pub fn day_of(t: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp(t, 0).map(|d| d.date_naive())
}

#[cfg(test)]
mod tests;
