//! What Stripe's invoices and credit notes add to a subscription's MRR (issue 17;
//! docs/metrics.md, "MRR from Stripe"):
//!
//! - **History before laer saw the subscription.** A sync sees a subscription as it is
//!   now; its invoices say what it was before. Each invoice line for a subscription item
//!   bills a price and a quantity for a service period: a regular line for the period it
//!   starts, a proration for the part of a period after a change (positive: what the item
//!   became; negative: what it stopped being). [`states_before`] turns them into the
//!   subscription's states from each change, so that an upgrade made before laer was
//!   connected is dated when it was made rather than when laer first saw it.
//! - **Metered (usage) MRR.** A metered price's amount is known only when its usage is
//!   invoiced. [`metered_segments`] makes each invoiced usage period's amount, net of its
//!   discounts and of the credit notes against that line, a value per month over the
//!   period it served; the latest one holds on while the subscription runs. Only when the
//!   rules count metered prices; such lines are kept apart from the others (their own
//!   item key, [`METERED_PREFIX`]).
//!
//! Invoices that are drafts, voided or uncollectible say nothing of what was bought and
//! are left out; so are void credit notes. A credit note against a licensed line is a
//! one-time credit (a refund or a goodwill gesture), not a change of MRR, as Stripe's
//! Billing analytics and ChartMogul both treat it.
//!
//! Both the shapes of older API versions (`price`/`plan`, `subscription_item`,
//! `proration` on the line, `subscription` on the invoice) and of newer ones (`parent`,
//! `pricing.price_details`) are read; a price named only by its id is looked up among the
//! prices the subscription's states and invoices carry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use super::objects::{Discount, DiscountRef, List, Plan, Price, Ref, Status, Subscription, SubscriptionItem};
use super::rules::{BillingError, ItemMrr, MrrRules, Ratio, Segment, State, ends_at, interval_amount, interval_months};

/// The item key of a metered item's lines: `metered:si_…`, apart from the item's own.
pub const METERED_PREFIX: &str = "metered:";

/// A price as a line names it: the object, or only its id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum PriceRef {
    Object(Box<Price>),
    Id(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServicePeriod {
    pub start: i64,
    pub end: i64,
}

#[derive(Deserialize)]
struct DiscountAmount {
    amount: i64,
}

#[derive(Deserialize, Default)]
struct ItemDetails {
    #[serde(default)]
    subscription: Option<String>,
    #[serde(default)]
    subscription_item: Option<String>,
    #[serde(default)]
    proration: bool,
}

#[derive(Deserialize, Default)]
struct LineParent {
    #[serde(default)]
    subscription_item_details: Option<ItemDetails>,
}

#[derive(Deserialize)]
struct PriceDetails {
    price: PriceRef,
}

#[derive(Deserialize)]
struct Pricing {
    #[serde(default)]
    price_details: Option<PriceDetails>,
}

#[derive(Deserialize)]
struct RawLine {
    id: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    amount: i64,
    period: ServicePeriod,
    #[serde(default)]
    quantity: Option<u64>,
    #[serde(default)]
    proration: Option<bool>,
    #[serde(default)]
    subscription: Option<Ref>,
    #[serde(default)]
    subscription_item: Option<Ref>,
    #[serde(default)]
    price: Option<PriceRef>,
    #[serde(default)]
    plan: Option<Plan>,
    #[serde(default)]
    discount_amounts: Vec<DiscountAmount>,
    #[serde(default)]
    parent: Option<LineParent>,
    #[serde(default)]
    pricing: Option<Pricing>,
}

/// An invoice line, in one shape whatever the API version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawLine")]
pub struct InvoiceLine {
    pub id: String,
    /// The subscription item it bills; `None` for a one-off invoice item.
    pub subscription_item: Option<String>,
    pub subscription: Option<String>,
    price: Option<PriceRef>,
    pub quantity: Option<u64>,
    /// In the invoice currency's smallest unit, before discounts and tax.
    pub amount: i64,
    /// Off `amount` by discounts.
    pub discounted: i64,
    pub proration: bool,
    pub period: ServicePeriod,
}

impl From<RawLine> for InvoiceLine {
    fn from(raw: RawLine) -> InvoiceLine {
        let details = raw.parent.and_then(|p| p.subscription_item_details).unwrap_or_default();
        let item = raw
            .subscription_item
            .map(|r| r.0)
            .or(details.subscription_item)
            .filter(|_| {
                raw.kind
                    .as_deref()
                    .is_none_or(|k| k == "subscription" || k == "invoiceitem")
            });
        let price = raw
            .price
            .or_else(|| raw.plan.map(|p| PriceRef::Object(Box::new(p.into()))))
            .or_else(|| raw.pricing.and_then(|p| p.price_details).map(|d| d.price));
        InvoiceLine {
            id: raw.id,
            subscription_item: item,
            subscription: raw.subscription.map(|r| r.0).or(details.subscription),
            price,
            quantity: raw.quantity,
            amount: raw.amount,
            discounted: raw.discount_amounts.iter().map(|d| d.amount).sum(),
            proration: raw.proration.unwrap_or(details.proration),
            period: raw.period,
        }
    }
}

#[derive(Deserialize, Default)]
struct SubscriptionDetails {
    #[serde(default)]
    subscription: Option<Ref>,
}

#[derive(Deserialize, Default)]
struct InvoiceParent {
    #[serde(default)]
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(Deserialize)]
struct RawInvoice {
    id: String,
    #[serde(default)]
    customer: Option<Ref>,
    #[serde(default)]
    subscription: Option<Ref>,
    #[serde(default)]
    parent: Option<InvoiceParent>,
    #[serde(default)]
    status: Option<String>,
    currency: String,
    #[serde(default)]
    created: Option<i64>,
    /// Older API versions (and localstripe) call `created` so.
    #[serde(default)]
    date: Option<i64>,
    #[serde(default)]
    discount: Option<Discount>,
    #[serde(default)]
    discounts: Vec<DiscountRef>,
    lines: List<InvoiceLine>,
}

/// An invoice: whose, which subscription's, and its lines.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "RawInvoice")]
pub struct Invoice {
    pub id: String,
    pub customer: Option<String>,
    pub subscription: Option<String>,
    pub status: Option<String>,
    pub currency: String,
    pub created: i64,
    pub discount: Option<Discount>,
    pub discounts: Vec<DiscountRef>,
    pub lines: List<InvoiceLine>,
}

impl From<RawInvoice> for Invoice {
    fn from(raw: RawInvoice) -> Invoice {
        Invoice {
            id: raw.id,
            customer: raw.customer.map(|r| r.0),
            subscription: raw
                .subscription
                .or_else(|| {
                    raw.parent
                        .and_then(|p| p.subscription_details)
                        .and_then(|d| d.subscription)
                })
                .map(|r| r.0),
            status: raw.status,
            currency: raw.currency.to_ascii_lowercase(),
            created: raw.created.or(raw.date).unwrap_or(0),
            discount: raw.discount,
            discounts: raw.discounts,
            lines: raw.lines,
        }
    }
}

impl Invoice {
    /// Whether the invoice says what was bought: finalized and not voided or written off
    /// (`open` or `paid`; localstripe and older versions may give no status).
    pub fn counts(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s == "open" || s == "paid")
    }

    /// Its lines for `subscription`'s items.
    fn lines_of<'a>(&'a self, subscription: &'a str) -> impl Iterator<Item = &'a InvoiceLine> + 'a {
        self.lines.data.iter().filter(move |l| {
            l.subscription_item.is_some()
                && l.subscription
                    .as_deref()
                    .or(self.subscription.as_deref())
                    .is_some_and(|s| s == subscription)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreditNoteLine {
    #[serde(default)]
    pub invoice_line_item: Option<String>,
    pub amount: i64,
}

/// A credit note: what it takes off which invoice lines.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CreditNote {
    pub id: String,
    pub invoice: Ref,
    #[serde(default)]
    pub status: Option<String>,
    pub lines: List<CreditNoteLine>,
}

/// Every price the subscription's states and invoices carry as an object, by id: what a
/// line naming a price by its id alone is read with.
pub fn known_prices(states: &[State], invoices: &[Invoice]) -> HashMap<String, Price> {
    let mut prices: HashMap<String, Price> = HashMap::new();
    for state in states {
        for item in &state.subscription.items.data {
            prices
                .entry(item.price.id.clone())
                .or_insert_with(|| item.price.clone());
        }
    }
    for line in invoices.iter().flat_map(|i| &i.lines.data) {
        if let Some(PriceRef::Object(p)) = &line.price {
            prices.entry(p.id.clone()).or_insert_with(|| (**p).clone());
        }
    }
    prices
}

/// The ids of the prices the invoices' lines name by id alone that `known` lacks: those to
/// look up among the prices a sync read.
pub fn unknown_prices(invoices: &[Invoice], known: &HashMap<String, Price>) -> BTreeSet<String> {
    invoices
        .iter()
        .flat_map(|i| &i.lines.data)
        .filter_map(|l| match &l.price {
            Some(PriceRef::Id(id)) if !known.contains_key(id) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

fn price_of(line: &InvoiceLine, prices: &HashMap<String, Price>) -> Option<Price> {
    match line.price.as_ref()? {
        PriceRef::Object(p) => Some((**p).clone()),
        PriceRef::Id(id) => prices.get(id).cloned(),
    }
}

fn is_metered(price: &Price) -> bool {
    price.recurring.as_ref().is_some_and(|r| r.is_metered())
}

/// What one moment's invoice lines do to the items.
enum Change {
    /// A regular invoice: the items are those it bills, and its discounts apply.
    Renewal {
        items: Vec<(String, Price, u64)>,
        discount: Option<Discount>,
        discounts: Vec<DiscountRef>,
    },
    /// A proration: the item becomes this price and quantity.
    Set(String, Price, u64),
    /// A proration crediting unused time: the item stops being billed.
    Remove(String),
}

/// The subscription's states before `first` (the first state laer saw), from its
/// invoices: one at each start of a service period or change an invoice line shows
/// before `first.from`, each the subscription as `first` has it (its start, trial,
/// status, cancellation and billing period, which say when it earns) but with the items
/// (prices, quantities) and discounts billed then. Empty when no invoice bills anything
/// before then. Metered lines are left to [`metered_segments`].
pub fn states_before(first: &State, invoices: &[Invoice], prices: &HashMap<String, Price>) -> Vec<State> {
    let sub = &first.subscription;
    let mut changes: BTreeMap<i64, Vec<Change>> = BTreeMap::new();
    for invoice in invoices.iter().filter(|i| i.counts()) {
        let mut renewal: BTreeMap<i64, Vec<(String, Price, u64)>> = BTreeMap::new();
        let lines: Vec<&InvoiceLine> = invoice
            .lines_of(&sub.id)
            .filter(|l| l.period.start < first.from)
            .collect();
        // A proration pair for one item at one moment: the positive line says what it
        // became; a negative line alone, that it stopped.
        let raised: BTreeSet<(i64, &str)> = lines
            .iter()
            .filter(|l| l.proration && l.amount > 0)
            .filter_map(|l| Some((l.period.start, l.subscription_item.as_deref()?)))
            .collect();
        for line in lines {
            let (Some(item), Some(price)) = (line.subscription_item.clone(), price_of(line, prices)) else {
                continue;
            };
            // Usage is invoiced after its period, apart from what was bought.
            if is_metered(&price) {
                continue;
            }
            let quantity = line.quantity.unwrap_or(1);
            let at = line.period.start;
            match (line.proration, line.amount) {
                (false, _) => renewal.entry(at).or_default().push((item, price, quantity)),
                (true, a) if a > 0 => changes.entry(at).or_default().push(Change::Set(item, price, quantity)),
                (true, a) if a < 0 && !raised.contains(&(at, item.as_str())) => {
                    changes.entry(at).or_default().push(Change::Remove(item))
                }
                _ => {}
            }
        }
        for (at, items) in renewal {
            // Renewals first at their moment: a proration of the same moment follows.
            changes.entry(at).or_default().insert(
                0,
                Change::Renewal {
                    items,
                    discount: invoice.discount.clone(),
                    discounts: invoice.discounts.clone(),
                },
            );
        }
    }
    let mut items: BTreeMap<String, (Price, u64)> = BTreeMap::new();
    let (mut discount, mut discounts) = (None, Vec::new());
    let mut states = Vec::new();
    for (at, moment) in changes {
        for change in moment {
            match change {
                Change::Renewal {
                    items: billed,
                    discount: d,
                    discounts: ds,
                } => {
                    items = billed.into_iter().map(|(i, p, q)| (i, (p, q))).collect();
                    (discount, discounts) = (d, ds);
                }
                Change::Set(item, price, quantity) => {
                    items.insert(item, (price, quantity));
                }
                Change::Remove(item) => {
                    items.remove(&item);
                }
            }
        }
        let mut then = sub.clone();
        then.items.data = items
            .iter()
            .map(|(id, (price, quantity))| SubscriptionItem {
                id: id.clone(),
                price: price.clone(),
                quantity: Some(*quantity),
                current_period_start: None,
                current_period_end: None,
            })
            .collect();
        then.items.has_more = false;
        then.discount = discount.clone();
        then.discounts = discounts.clone();
        states.push(State {
            from: at,
            subscription: then,
        });
    }
    states
}

/// The item keys ([`METERED_PREFIX`] and the item's id) of every metered item the
/// subscription's invoices bill: those whose lines are [`metered_segments`]' to keep
/// (none, when the rules leave metered prices out).
pub fn metered_keys(subscription: &str, invoices: &[Invoice], prices: &HashMap<String, Price>) -> BTreeSet<String> {
    invoices
        .iter()
        .flat_map(|i| i.lines_of(subscription))
        .filter(|l| price_of(l, prices).is_some_and(|p| is_metered(&p)))
        .filter_map(|l| Some(format!("{METERED_PREFIX}{}", l.subscription_item.as_deref()?)))
        .collect()
}

/// The metered items' stretches of value from their invoiced usage, under `rules` (none
/// unless the rules count metered prices). `latest` is the subscription as last seen:
/// the latest usage period's value holds on while it runs and has the item. Each
/// stretch's item key is [`METERED_PREFIX`] and the item's id.
pub fn metered_segments(
    latest: &Subscription,
    invoices: &[Invoice],
    credit_notes: &[CreditNote],
    prices: &HashMap<String, Price>,
    rules: &MrrRules,
) -> Result<Vec<Segment>, BillingError> {
    if !rules.metered {
        return Ok(Vec::new());
    }
    let mut credited: HashMap<&str, i64> = HashMap::new();
    for note in credit_notes.iter().filter(|n| n.status.as_deref() != Some("void")) {
        for line in &note.lines.data {
            if let Some(id) = line.invoice_line_item.as_deref() {
                *credited.entry(id).or_default() += line.amount;
            }
        }
    }
    let mut by_item: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
    for invoice in invoices.iter().filter(|i| i.counts()) {
        for line in invoice.lines_of(&latest.id).filter(|l| !l.proration) {
            let (Some(item), Some(price)) = (line.subscription_item.as_deref(), price_of(line, prices)) else {
                continue;
            };
            if !is_metered(&price) {
                continue;
            }
            let Some(recurring) = price.recurring.as_ref() else {
                continue;
            };
            let months = interval_months(recurring.interval, recurring.interval_count);
            // The amount billed is checked against the price: a price laer cannot read
            // is named, as for licensed items.
            interval_amount(&price, line.quantity.unwrap_or(0))?;
            let net = line.amount - line.discounted - credited.get(line.id.as_str()).copied().unwrap_or(0);
            by_item.entry(item.to_string()).or_default().push(Segment {
                subscription: latest.id.clone(),
                item: ItemMrr {
                    item: format!("{METERED_PREFIX}{item}"),
                    product: price.product.0.clone(),
                    price: price.id.clone(),
                    currency: invoice.currency.clone(),
                    quantity: line.quantity.unwrap_or(0),
                    interval_months: months,
                    metered: true,
                    monthly: Ratio::whole(i128::from(net)).div(months).max_zero(),
                },
                from: line.period.start,
                until: Some(line.period.end),
            });
        }
    }
    let running = ends_at(latest, rules).is_none() && !matches!(latest.status, Status::Canceled);
    let mut out = Vec::new();
    for (item, mut segments) in by_item {
        segments.sort_by_key(|s| (s.from, s.until));
        let has_item = latest.items.data.iter().any(|i| i.id == item);
        if let Some(last) = segments.last_mut()
            && running
            && has_item
        {
            last.until = None;
        }
        let mut joined: Vec<Segment> = Vec::new();
        for s in segments {
            match joined.last_mut() {
                Some(prev) if prev.until == Some(s.from) && prev.item.monthly == s.item.monthly => {
                    prev.until = s.until;
                }
                _ => joined.push(s),
            }
        }
        out.extend(joined.into_iter().filter(|s| !s.item.monthly.is_zero()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
