//! Every account's health records, kept by the health engine between its passes (issue
//! 20), so that a pass over every account (the day turning, or every account marked)
//! reads again only the records that changed.

use chrono::NaiveDate;
use laer_core::health::{AccountRecords, Assessment, HealthModel};

use crate::{Accounts, Listed, Store, StoreError};

/// Every account's health records as the engine keeps them between its passes (issue
/// 20): read in full once, then only those of the accounts whose records changed since,
/// as the writes list them ([`Listed::HealthRecords`], in the database: exact on every
/// node). Whether an expansion specialist covers an account depends on the day, and is
/// read for each pass.
#[derive(Debug, Default)]
pub struct KeptRecords {
    kept: Option<Kept>,
}

#[derive(Debug)]
struct Kept {
    /// The revision the records are of.
    revision: i64,
    /// The first day of cases and survey answers they hold: a later day's health is the
    /// same from them as from those read with its own
    /// ([`laer_core::health::experience_from`]).
    from: NaiveDate,
    /// In id order.
    records: Vec<AccountRecords>,
}

/// How many days the kept records may reach back before the experience window before
/// they are read again in full, so that older cases and answers do not pile up.
const KEPT_RECORDS_DAYS: i64 = 7;

impl KeptRecords {
    /// The health of the chosen accounts as of `day`, computed now: what
    /// [`Store::assess`] gives, with the records kept.
    pub async fn assess(
        &mut self,
        store: &Store,
        model: &HealthModel,
        day: NaiveDate,
        accounts: Accounts<'_>,
    ) -> Result<Vec<Assessment>, StoreError> {
        let from = laer_core::health::experience_from(day, &model.windows);
        let (records, covered, (usage, workspace)) = tokio::try_join!(
            self.refresh(store, from),
            store.expansion_specialists(accounts, day),
            store.usage_on(day, model.windows.usage_days, accounts)
        )?;
        let mut chosen: Vec<&mut AccountRecords> = match accounts {
            Accounts::All => records.iter_mut().collect(),
            Accounts::Only(ids) => {
                let mut ids = ids.to_vec();
                ids.sort_unstable();
                ids.dedup();
                records
                    .iter_mut()
                    .filter(|r| ids.binary_search(&r.account_id).is_ok())
                    .collect()
            }
        };
        crate::health::set_specialists(chosen.iter_mut().map(|r| &mut **r), &covered);
        Ok(laer_core::health::assess_each(
            model,
            chosen.into_iter().map(|r| &*r),
            usage,
            &workspace,
            day,
        ))
    }

    /// Brings the kept records up to date for a day whose experience window starts on
    /// `from`, and gives them.
    async fn refresh(&mut self, store: &Store, from: NaiveDate) -> Result<&mut Vec<AccountRecords>, StoreError> {
        let kept = match self.kept.take() {
            Some(mut kept) if kept.from <= from && (from - kept.from).num_days() <= KEPT_RECORDS_DAYS => {
                // The revision first: whatever commits after it is listed the next time.
                let changes = store.changes(Listed::HealthRecords, kept.revision).await?;
                match changes.accounts {
                    Some(ids) => {
                        if !ids.is_empty() {
                            let fresh = store.kept_health_records(Accounts::Only(&ids), Some(kept.from)).await?;
                            laer_core::portfolio::replace_accounts(&mut kept.records, &ids, fresh, |r| r.account_id);
                        }
                        kept.revision = changes.revision;
                        kept
                    }
                    None => Self::read(store, from).await?,
                }
            }
            _ => Self::read(store, from).await?,
        };
        Ok(&mut self.kept.insert(kept).records)
    }

    async fn read(store: &Store, from: NaiveDate) -> Result<Kept, StoreError> {
        let revision = store.revision(Listed::HealthRecords).await?;
        let records = store.kept_health_records(Accounts::All, Some(from)).await?;
        Ok(Kept {
            revision,
            from,
            records,
        })
    }
}
