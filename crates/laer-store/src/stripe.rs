//! Stripe as laer keeps it (issue 17): each state of a subscription from the moment laer
//! saw it (append-only; a state equal to the latest is not kept again), and each customer
//! with the account it is linked to — by the connection's metadata key, or by hand, which
//! later syncs leave alone. The contract lines worked out from the states are ordinary
//! `subscriptions` rows whose external id starts with `stripe:`.

use std::collections::HashMap;

use chrono::Utc;

use crate::exec::{Params, params};
use crate::{Store, StoreError};

/// The prefix of the external ids of contract lines that come from Stripe.
pub const STRIPE_LINE_PREFIX: &str = "stripe:";

/// A subscription's state from `since` (Unix seconds): its JSON as Stripe sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeState {
    pub since: i64,
    pub body: String,
}

/// A Stripe customer and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeCustomerLink {
    pub customer_id: String,
    pub account_id: Option<i64>,
    pub linked_by_hand: bool,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Why no account is linked (JSON, `laer_core::billing::connection::Unmatched`).
    pub unmatched: Option<String>,
}

impl Store {
    /// Keeps the subscription's state seen at `seen_at`, unless it equals the latest kept;
    /// whether it was kept. A state older than the latest kept one (an event delivered
    /// late) is kept at its own time and changes nothing after it.
    pub async fn record_stripe_state(
        &self,
        subscription_id: &str,
        customer_id: &str,
        seen_at: i64,
        body: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.lock([format!("stripe:{subscription_id}").as_str()]).await?;
        let latest: Option<(i64, String)> = tx
            .fetch_optional(
                "SELECT since, body FROM stripe_subscription_states WHERE subscription_id = $1 \
                 AND since <= $2 ORDER BY since DESC LIMIT 1",
                params![subscription_id, seen_at],
            )
            .await?;
        if latest.as_ref().is_some_and(|(_, b)| b == body) {
            return Ok(false);
        }
        let kept = tx
            .execute(
                "INSERT INTO stripe_subscription_states (subscription_id, customer_id, since, body) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (subscription_id, since) DO NOTHING",
                params![subscription_id, customer_id, seen_at, body],
            )
            .await?;
        tx.commit().await?;
        Ok(kept > 0)
    }

    /// Replaces the subscription's state kept at `since` (two events of one second whose
    /// order is unknown: the object as Stripe has it now decides).
    pub async fn replace_stripe_state(&self, subscription_id: &str, since: i64, body: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE stripe_subscription_states SET body = $1 WHERE subscription_id = $2 AND since = $3",
            params![body, subscription_id, since],
        )
        .await?;
        Ok(())
    }

    /// The subscription's states, oldest first.
    pub async fn stripe_states(&self, subscription_id: &str) -> Result<Vec<StripeState>, StoreError> {
        let rows: Vec<(i64, String)> = self
            .fetch_all(
                "SELECT since, body FROM stripe_subscription_states WHERE subscription_id = $1 ORDER BY since",
                params![subscription_id],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(since, body)| StripeState { since, body })
            .collect())
    }

    /// Keeps the customers and their accounts as a sync found them; a link made by hand
    /// keeps its account.
    pub async fn link_stripe_customers(&self, customers: &[StripeCustomerLink]) -> Result<(), StoreError> {
        let now = Utc::now().timestamp();
        for batch in customers.chunks(200) {
            let mut tx = self.begin_write().await?;
            for c in batch {
                tx.execute(
                    "INSERT INTO stripe_customers (customer_id, account_id, linked_by_hand, email, name, synced_at, \
                     unmatched) VALUES ($1, $2, 0, $3, $4, $5, $6) ON CONFLICT (customer_id) DO UPDATE SET \
                     account_id = CASE WHEN stripe_customers.linked_by_hand = 1 THEN stripe_customers.account_id \
                     ELSE excluded.account_id END, unmatched = CASE WHEN stripe_customers.linked_by_hand = 1 \
                     THEN NULL ELSE excluded.unmatched END, email = excluded.email, name = excluded.name, \
                     synced_at = excluded.synced_at",
                    params![&c.customer_id, c.account_id, &c.email, &c.name, now, &c.unmatched],
                )
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Links a Stripe customer to an account by hand (`None`: gives the customer back to
    /// the metadata key); later syncs keep a link made by hand. Audited. Not found when
    /// no sync has seen the customer or the account does not exist.
    pub async fn link_stripe_customer(
        &self,
        customer_id: &str,
        account_id: Option<i64>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(account) = account_id {
            let exists: Option<(i64,)> = tx
                .fetch_optional("SELECT id FROM accounts WHERE id = $1", params![account])
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("account {account}")));
            }
        }
        let changed = tx
            .execute(
                "UPDATE stripe_customers SET account_id = COALESCE($1, account_id), linked_by_hand = $2, \
                 unmatched = CASE WHEN $2 = 1 THEN NULL ELSE unmatched END WHERE customer_id = $3",
                params![account_id, i64::from(account_id.is_some()), customer_id],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("Stripe customer {customer_id}")));
        }
        tx.append_audit(&crate::write::audit(
            actor,
            "stripe.customer_linked",
            serde_json::json!({ "customer_id": customer_id, "account_id": account_id }),
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every Stripe customer laer knows, by id.
    pub async fn stripe_customers(&self) -> Result<HashMap<String, StripeCustomerLink>, StoreError> {
        /// customer_id, account_id, linked_by_hand, email, name, unmatched.
        type Row = (String, Option<i64>, i64, Option<String>, Option<String>, Option<String>);
        let rows: Vec<Row> = self
            .fetch_all(
                "SELECT customer_id, account_id, linked_by_hand, email, name, unmatched FROM stripe_customers",
                params![],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(customer_id, account_id, by_hand, email, name, unmatched)| {
                (
                    customer_id.clone(),
                    StripeCustomerLink {
                        customer_id,
                        account_id,
                        linked_by_hand: by_hand == 1,
                        email,
                        name,
                        unmatched,
                    },
                )
            })
            .collect())
    }
}

impl Store {
    /// Makes the contract lines of each Stripe subscription item (external ids
    /// `stripe:ITEM:…`) the ones given: new ones added, changed ones updated, equal ones
    /// left alone, and the item's lines no longer given removed (a stretch a later state
    /// cut short). One transaction per batch of items; the accounts touched — those a
    /// line moves from included — are marked for rescoring.
    pub async fn replace_stripe_lines(
        &self,
        items: &[(String, Vec<laer_core::model::NewSubscription>)],
    ) -> Result<crate::WriteCount, StoreError> {
        let mut count = crate::WriteCount::default();
        for batch in items.chunks(200) {
            let mut tx = self.begin_write().await?;
            let mut touched: Vec<i64> = Vec::new();
            for (item, lines) in batch {
                let prefix = format!("{STRIPE_LINE_PREFIX}{item}:");
                if let Some(l) = lines.iter().find(|l| !l.external_id.starts_with(&prefix)) {
                    return Err(StoreError::Invalid(format!(
                        "line {} is not one of Stripe item {item}'s",
                        l.external_id
                    )));
                }
                let stored: Vec<(i64, String, i64)> = tx
                    .fetch_all(
                        "SELECT id, external_id, account_id FROM subscriptions \
                         WHERE substr(external_id, 1, CAST($1 AS INTEGER)) = $2",
                        params![prefix.chars().count() as i64, &prefix],
                    )
                    .await?;
                for (id, external_id, account_id) in stored {
                    match lines.iter().find(|l| l.external_id == external_id) {
                        None => {
                            tx.execute("DELETE FROM subscriptions WHERE id = $1", params![id])
                                .await?;
                            touched.push(account_id);
                            count.written += 1;
                        }
                        // A line moving to another account (its customer linked anew):
                        // the account it leaves changes too.
                        Some(line) if line.account_id != account_id => touched.push(account_id),
                        Some(_) => {}
                    }
                }
                count += tx.upsert(lines).await?;
            }
            if !touched.is_empty() {
                touched.sort_unstable();
                touched.dedup();
                tx.mark_health_dirty(crate::sql::Feeds::Account, &touched).await?;
                tx.history_changed(&touched).await?;
            }
            tx.commit().await?;
        }
        Ok(count)
    }
}

impl Store {
    /// Each account's domains as its records give them, for linking billing customers by
    /// email domain: its `domain` attribute, and its contacts' email addresses.
    pub async fn account_domains(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let attributes: Vec<(i64, String)> = self
            .fetch_all("SELECT id, CAST(attributes AS TEXT) FROM accounts", params![])
            .await?;
        let mut domains: Vec<(i64, String)> = Vec::new();
        for (id, text) in attributes {
            let map: HashMap<String, serde_json::Value> =
                serde_json::from_str(&text).map_err(|e| StoreError::Unreadable {
                    table: "accounts",
                    column: "attributes",
                    reason: format!("account {id}: {e}"),
                })?;
            if let Some(domain) = map.get("domain").and_then(|d| d.as_str()) {
                domains.push((id, domain.to_string()));
            }
        }
        let emails: Vec<(i64, String)> = self
            .fetch_all(
                "SELECT account_id, email FROM contacts WHERE email IS NOT NULL",
                params![],
            )
            .await?;
        domains.extend(emails);
        Ok(domains)
    }
}

/// A Stripe invoice as kept: its JSON with every line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeInvoiceRow {
    pub invoice_id: String,
    pub subscription_id: Option<String>,
    pub customer_id: Option<String>,
    pub created: i64,
    pub body: String,
}

impl Store {
    /// Keeps invoices as read (a later read replaces an earlier: an invoice is paid,
    /// voided or credited after it is made). One transaction per batch.
    pub async fn upsert_stripe_invoices(&self, invoices: &[StripeInvoiceRow]) -> Result<(), StoreError> {
        self.execute_each(
            "INSERT INTO stripe_invoices (invoice_id, subscription_id, customer_id, created, body) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (invoice_id) DO UPDATE SET \
             subscription_id = excluded.subscription_id, customer_id = excluded.customer_id, \
             created = excluded.created, body = excluded.body WHERE stripe_invoices.body <> excluded.body",
            invoices,
            |i| params![&i.invoice_id, &i.subscription_id, &i.customer_id, i.created, &i.body],
        )
        .await
    }

    /// Keeps credit notes as read: (credit note id, invoice id, JSON).
    pub async fn upsert_stripe_credit_notes(&self, notes: &[(String, String, String)]) -> Result<(), StoreError> {
        self.execute_each(
            "INSERT INTO stripe_credit_notes (credit_note_id, invoice_id, body) VALUES ($1, $2, $3) \
             ON CONFLICT (credit_note_id) DO UPDATE SET invoice_id = excluded.invoice_id, body = excluded.body",
            notes,
            |(id, invoice, body)| params![id, invoice, body],
        )
        .await
    }

    /// Runs `sql` once for each of `rows` with the parameters `params` gives it, in one
    /// write transaction per batch of 200 rows (what a sync page writes).
    pub(crate) async fn execute_each<'r, T>(
        &self,
        sql: &str,
        rows: &'r [T],
        params: impl Fn(&'r T) -> Params<'r>,
    ) -> Result<(), StoreError> {
        for batch in rows.chunks(200) {
            let mut tx = self.begin_write().await?;
            for row in batch {
                tx.execute(sql, params(row)).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// A subscription's invoices (JSON), oldest first, and the credit notes (JSON) of
    /// those invoices.
    pub async fn stripe_billing_of(&self, subscription_id: &str) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let invoices: Vec<(String,)> = self
            .fetch_all(
                "SELECT body FROM stripe_invoices WHERE subscription_id = $1 ORDER BY created, invoice_id",
                params![subscription_id],
            )
            .await?;
        let notes: Vec<(String,)> = self
            .fetch_all(
                "SELECT n.body FROM stripe_credit_notes n JOIN stripe_invoices i ON i.invoice_id = n.invoice_id \
                 WHERE i.subscription_id = $1 ORDER BY n.credit_note_id",
                params![subscription_id],
            )
            .await?;
        Ok((
            invoices.into_iter().map(|(b,)| b).collect(),
            notes.into_iter().map(|(b,)| b).collect(),
        ))
    }

    /// The subscription an invoice laer keeps is for, if any.
    pub async fn stripe_invoice_subscription(&self, invoice_id: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = self
            .fetch_optional(
                "SELECT subscription_id FROM stripe_invoices WHERE invoice_id = $1",
                params![invoice_id],
            )
            .await?;
        Ok(row.and_then(|(s,)| s))
    }
}

impl Store {
    /// Keeps prices as read: (price id, JSON).
    pub async fn upsert_stripe_prices(&self, prices: &[(String, String)]) -> Result<(), StoreError> {
        self.execute_each(
            "INSERT INTO stripe_prices (price_id, body) VALUES ($1, $2) ON CONFLICT (price_id) \
             DO UPDATE SET body = excluded.body WHERE stripe_prices.body <> excluded.body",
            prices,
            |(id, body)| params![id, body],
        )
        .await
    }

    /// The prices (JSON) of these ids that laer keeps.
    pub async fn stripe_prices_by_id(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut bodies = Vec::new();
        for id in ids {
            let row: Option<(String,)> = self
                .fetch_optional("SELECT body FROM stripe_prices WHERE price_id = $1", params![id])
                .await?;
            bodies.extend(row.map(|(b,)| b));
        }
        Ok(bodies)
    }
}
