//! Stripe's API objects as laer reads them (issue 17): the fields the MRR rules use, with
//! Stripe's names and shapes, from the API's JSON as it comes. Fields laer does not use
//! are ignored, so that Stripe adding fields changes nothing; an expandable field may
//! come as an id or as the object. Reference: Stripe's API reference for prices,
//! subscriptions, subscription items, coupons and discounts.

use serde::{Deserialize, Deserializer};

/// An id, whether Stripe sends the id or the expanded object with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref(pub String);

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ref, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Id(String),
            Object { id: String },
        }
        Ok(match Either::deserialize(d)? {
            Either::Id(id) | Either::Object { id } => Ref(id),
        })
    }
}

/// A list object (`{"object": "list", "data": [...], "has_more": ...}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Recurring {
    pub interval: Interval,
    #[serde(default = "one")]
    pub interval_count: u32,
    /// `licensed` (a quantity bought) or `metered` (usage reported).
    #[serde(default)]
    pub usage_type: Option<String>,
}

impl Recurring {
    /// A metered price: usage reported, its amount known only from invoices.
    pub fn is_metered(&self) -> bool {
        self.usage_type.as_deref() == Some("metered")
    }
}

fn one() -> u32 {
    1
}

/// One tier of a tiered price: up to `up_to` units (`None`: every unit beyond).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tier {
    #[serde(default)]
    pub up_to: Option<u64>,
    #[serde(default)]
    pub unit_amount: Option<i64>,
    #[serde(default)]
    pub unit_amount_decimal: Option<String>,
    #[serde(default)]
    pub flat_amount: Option<i64>,
    #[serde(default)]
    pub flat_amount_decimal: Option<String>,
}

/// Units billed in packages: the quantity divided, rounded up or down.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransformQuantity {
    pub divide_by: u64,
    pub round: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Price {
    pub id: String,
    pub product: Ref,
    pub currency: String,
    #[serde(default)]
    pub unit_amount: Option<i64>,
    #[serde(default)]
    pub unit_amount_decimal: Option<String>,
    /// `per_unit` (default) or `tiered`.
    #[serde(default)]
    pub billing_scheme: Option<String>,
    /// `graduated` or `volume`, for a tiered price.
    #[serde(default)]
    pub tiers_mode: Option<String>,
    #[serde(default)]
    pub tiers: Option<Vec<Tier>>,
    /// `None` for a one-time price.
    #[serde(default)]
    pub recurring: Option<Recurring>,
    #[serde(default)]
    pub transform_quantity: Option<TransformQuantity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponDuration {
    Forever,
    Once,
    Repeating,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Coupon {
    pub id: String,
    #[serde(default)]
    pub percent_off: Option<f64>,
    /// Off each invoice, in `currency`'s smallest unit.
    #[serde(default)]
    pub amount_off: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    pub duration: CouponDuration,
    #[serde(default)]
    pub duration_in_months: Option<u32>,
}

/// A coupon applied to a subscription from `start` to `end` (`None`: for ever).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Discount {
    /// `di_...` in newer API versions; older ones have none.
    #[serde(default)]
    pub id: Option<String>,
    pub coupon: Coupon,
    #[serde(default)]
    pub start: Option<i64>,
    #[serde(default)]
    pub end: Option<i64>,
}

/// A discount as a list of discounts holds it: its id, or the expanded object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DiscountRef {
    Object(Discount),
    Id(String),
}

/// A plan: the price object of older API versions, which subscription items still carry
/// beside (or, from some servers, instead of) their price.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Plan {
    pub id: String,
    pub product: Ref,
    pub currency: String,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub amount_decimal: Option<String>,
    pub interval: Interval,
    #[serde(default = "one")]
    pub interval_count: u32,
    #[serde(default)]
    pub usage_type: Option<String>,
    #[serde(default)]
    pub billing_scheme: Option<String>,
    #[serde(default)]
    pub tiers_mode: Option<String>,
    #[serde(default)]
    pub tiers: Option<Vec<Tier>>,
    #[serde(default)]
    pub transform_usage: Option<TransformQuantity>,
}

impl From<Plan> for Price {
    fn from(p: Plan) -> Price {
        Price {
            id: p.id,
            product: p.product,
            currency: p.currency,
            unit_amount: p.amount,
            unit_amount_decimal: p.amount_decimal,
            billing_scheme: p.billing_scheme,
            tiers_mode: p.tiers_mode,
            tiers: p.tiers,
            recurring: Some(Recurring {
                interval: p.interval,
                interval_count: p.interval_count,
                usage_type: p.usage_type,
            }),
            transform_quantity: p.transform_usage,
        }
    }
}

/// A subscription item: its price (from its `plan` when it has no `price`), quantity and,
/// in newer API versions, billing period.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawItem")]
pub struct SubscriptionItem {
    pub id: String,
    pub price: Price,
    pub quantity: Option<u64>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
}

#[derive(Deserialize)]
struct RawItem {
    id: String,
    #[serde(default)]
    price: Option<Price>,
    #[serde(default)]
    plan: Option<Plan>,
    #[serde(default)]
    quantity: Option<u64>,
    #[serde(default)]
    current_period_start: Option<i64>,
    #[serde(default)]
    current_period_end: Option<i64>,
}

impl TryFrom<RawItem> for SubscriptionItem {
    type Error = String;
    fn try_from(raw: RawItem) -> Result<SubscriptionItem, String> {
        let price = match (raw.price, raw.plan) {
            (Some(price), _) => price,
            (None, Some(plan)) => plan.into(),
            (None, None) => return Err(format!("subscription item {} has neither a price nor a plan", raw.id)),
        };
        Ok(SubscriptionItem {
            id: raw.id,
            price,
            quantity: raw.quantity,
            current_period_start: raw.current_period_start,
            current_period_end: raw.current_period_end,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
    Paused,
}

/// Collection paused: invoices are drafted, voided or marked uncollectible until
/// `resumes_at`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PauseCollection {
    pub behavior: String,
    #[serde(default)]
    pub resumes_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer: Ref,
    pub status: Status,
    pub items: List<SubscriptionItem>,
    /// When the subscription started (it may be backdated before `created`).
    pub start_date: i64,
    #[serde(default)]
    pub trial_start: Option<i64>,
    #[serde(default)]
    pub trial_end: Option<i64>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub cancel_at: Option<i64>,
    #[serde(default)]
    pub canceled_at: Option<i64>,
    #[serde(default)]
    pub ended_at: Option<i64>,
    /// Older API versions keep the billing period on the subscription.
    #[serde(default)]
    pub current_period_start: Option<i64>,
    #[serde(default)]
    pub current_period_end: Option<i64>,
    /// The one discount of older API versions.
    #[serde(default)]
    pub discount: Option<Discount>,
    /// The discounts of newer API versions (ids unless expanded).
    #[serde(default)]
    pub discounts: Vec<DiscountRef>,
    #[serde(default)]
    pub pause_collection: Option<PauseCollection>,
}

impl Subscription {
    /// The end of the period invoiced now: the subscription's, else its items' latest.
    pub fn current_period_end(&self) -> Option<i64> {
        self.current_period_end
            .or_else(|| self.items.data.iter().filter_map(|i| i.current_period_end).max())
    }

    /// The start of the period invoiced now.
    pub fn current_period_start(&self) -> Option<i64> {
        self.current_period_start
            .or_else(|| self.items.data.iter().filter_map(|i| i.current_period_start).min())
    }

    /// The discounts that are known as objects (an id alone says nothing of its coupon),
    /// each once: an API version that fills both `discount` and `discounts` names the
    /// same discount in each.
    pub fn known_discounts(&self) -> Vec<&Discount> {
        let mut known: Vec<&Discount> = Vec::new();
        let listed = self.discounts.iter().filter_map(|d| match d {
            DiscountRef::Object(d) => Some(d),
            DiscountRef::Id(_) => None,
        });
        for d in self.discount.iter().chain(listed) {
            let same = |k: &&Discount| match (&k.id, &d.id) {
                (Some(a), Some(b)) => a == b,
                _ => k == &d,
            };
            if !known.iter().any(same) {
                known.push(d);
            }
        }
        known
    }
}

/// A customer: who pays, and what laer may match them to an account by.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
    /// A deleted customer, as lists and events may still show it.
    #[serde(default)]
    pub deleted: bool,
}
