//! What a Singer import reads besides its records: every account as its transaction sees
//! it, each account's domains and each contact's account, so that a mapping finds a record's account and a
//! stream of accounts changes only the fields its mapping gives.

use laer_core::model::Account;

use crate::exec::params;
use crate::{StoreError, WriteTx};

impl WriteTx {
    /// Every account (as this transaction sees it), and with `domains` each account's
    /// domains as its records give them: its `domain` attribute and its contacts' emails.
    pub async fn account_keys(&mut self, domains: bool) -> Result<(Vec<Account>, Vec<(i64, String)>), StoreError> {
        let accounts = self.all_accounts().await?;
        let mut found = Vec::new();
        if domains {
            found.extend(
                accounts
                    .iter()
                    .filter_map(|a| Some((a.id, a.fields.attributes.get("domain")?.clone()))),
            );
            let emails: Vec<(i64, String)> = self
                .fetch_all(
                    "SELECT account_id, email FROM contacts WHERE email IS NOT NULL",
                    params![],
                )
                .await?;
            found.extend(emails);
        }
        Ok((accounts, found))
    }

    /// Each contact's external id with its account's laer id, as this transaction sees
    /// them (a helpdesk's record names its requester, a contact).
    pub async fn contact_accounts(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        self.fetch_all("SELECT external_id, account_id FROM contacts", params![])
            .await
    }
}
