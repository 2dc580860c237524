//! What an import kind is: [`ImportKind`], the one declaration of a kind's columns and of
//! how a row becomes a core record; [`Batch`], how a batch of those records is written;
//! [`Context`], what rows are resolved against.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use laer_core::dedup::OccurrenceCounter;
use laer_store::{IdLookup, Store, StoreError, Stored, WriteCount, WriteTx};

use crate::RowError;
use crate::columns::{ColumnSpec, Row};

/// A map looked up for every row of a file: foldhash, seeded per process (std's SipHash,
/// in these lookups and the column names', took about 6 % of a crm5 import's CPU).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One kind of record from outside (a CSV file, a JSON object): its columns and how one
/// row becomes the core record the store writes. The record's table and its binding to
/// the columns are the store's side of the same kind ([`laer_store::Stored`]); a new
/// kind is one implementation of each, and one line in [`Kind`](crate::Kind)'s list.
pub trait ImportKind {
    /// The kind's name on the command line and in the docs: the table name with dashes.
    const NAME: &'static str;
    /// The columns a row may have.
    const COLUMNS: &'static [ColumnSpec];
    /// What rows refer to by external id, looked up before the first row.
    const REFERS_TO: &'static [Refers] = &[];
    /// Whether columns no spec knows are kept (accounts keep them as attributes for
    /// segmenting) rather than refused.
    const KEEPS_EXTRA_COLUMNS: bool = false;
    /// How many records are written at a time.
    const BATCH_SIZE: usize = 2_000;

    /// What one row becomes.
    type Record: Batch;

    /// Validates one row and makes its record; `cx` holds the lookups and what earlier
    /// rows of the same file or request were.
    fn parse(row: &Row<'_>, cx: &mut Context) -> Result<Self::Record, RowError>;
}

/// How a batch of one kind's records is written inside an import's transaction. Every
/// record the store declares ([`Stored`]) is written as its table says; a record that
/// needs more before it can be stored (an event whose type is new) says how here.
pub trait Batch: Sized + Send + 'static {
    /// What the writes of one import share (caches, what to bring up to date at the end).
    type State: Default + Send;

    /// Writes one batch.
    fn write(
        tx: &mut WriteTx,
        records: Vec<Self>,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<WriteCount, StoreError>> + Send;

    /// Runs after the last batch; `written` is what all the batches wrote.
    fn finish(
        _tx: &mut WriteTx,
        _state: Self::State,
        _written: WriteCount,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// The laer ids of records just written, in their order (`None` where a record has
    /// none to tell: kinds identified by their content or key alone).
    fn ids(_tx: &mut WriteTx, records: &[Self]) -> impl Future<Output = Result<Vec<Option<i64>>, StoreError>> + Send {
        let none = vec![None; records.len()];
        async move { Ok(none) }
    }

    /// The laer ids of the accounts `records` belong to, each once (for the audit log).
    fn account_ids(_records: &[Self]) -> Vec<i64> {
        Vec::new()
    }
}

impl<R: Stored + Send + 'static> Batch for R {
    type State = ();

    async fn write(tx: &mut WriteTx, records: Vec<Self>, _: &mut ()) -> Result<WriteCount, StoreError> {
        tx.upsert(&records).await
    }

    async fn ids(tx: &mut WriteTx, records: &[Self]) -> Result<Vec<Option<i64>>, StoreError> {
        tx.ids_of(records).await
    }

    fn account_ids(records: &[Self]) -> Vec<i64> {
        laer_store::accounts_of(records)
    }
}

/// Where a [`Context`]'s lookups are read: an import's transaction, or the store itself
/// (a preview, which writes nothing and need not wait for a writer).
pub trait Lookups {
    fn id_lookup(&mut self, lookup: IdLookup) -> impl Future<Output = Result<HashMap<String, i64>, StoreError>>;
}

impl Lookups for WriteTx {
    fn id_lookup(&mut self, lookup: IdLookup) -> impl Future<Output = Result<HashMap<String, i64>, StoreError>> {
        WriteTx::id_lookup(self, lookup)
    }
}

impl Lookups for &Store {
    fn id_lookup(&mut self, lookup: IdLookup) -> impl Future<Output = Result<HashMap<String, i64>, StoreError>> {
        Store::id_lookup(self, lookup)
    }
}

/// Records that rows refer to by their external ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refers {
    Accounts,
    /// Contacts by their external ids.
    Contacts,
    Outcomes,
    TeamMembers,
    /// By external id or by name.
    EventTypes,
}

/// An event type as rows refer to it.
#[derive(Debug, Clone)]
pub(crate) struct EventTypeRef {
    pub external_id: String,
    /// `None` until the type, first seen in this file, is created.
    pub id: Option<i64>,
}

/// What rows are resolved against: laer ids of referenced records, and what earlier rows
/// of the same file (or request) were.
pub struct Context {
    /// Looked up for every row (see [`FastMap`]).
    accounts: FastMap<String, i64>,
    pub(crate) contacts: HashMap<String, i64>,
    pub(crate) outcomes: HashMap<String, i64>,
    pub(crate) team_members: HashMap<String, i64>,
    pub(crate) event_types_by_external_id: FastMap<String, i64>,
    pub(crate) event_types_by_name: HashMap<String, EventTypeRef>,
    /// External ids seen in this file: a repeat is an error, not a silent overwrite.
    seen_external_ids: HashSet<String>,
    pub(crate) occurrences: OccurrenceCounter,
    /// What the rows come in, for messages: "file", "request", "batch".
    pub(crate) within: &'static str,
}

impl Context {
    /// A context that knows no records yet.
    fn empty() -> Context {
        Context {
            accounts: FastMap::default(),
            contacts: HashMap::new(),
            outcomes: HashMap::new(),
            team_members: HashMap::new(),
            event_types_by_external_id: FastMap::default(),
            event_types_by_name: HashMap::new(),
            seen_external_ids: HashSet::new(),
            occurrences: OccurrenceCounter::new(),
            within: "file",
        }
    }

    /// Names what the rows come in ("request", "batch") in messages about repeats.
    pub(crate) fn within(mut self, within: &'static str) -> Context {
        self.within = within;
        self
    }

    /// A context that knows one account (its external id and laer id) and nothing else:
    /// a row entered on that account's form.
    pub fn for_account(external_id: &str, id: i64) -> Context {
        let mut context = Context::empty();
        context.accounts.insert(external_id.to_string(), id);
        context
    }

    /// A context that knows no records: a row that refers to none (an account).
    pub fn none() -> Context {
        Context::empty()
    }

    /// This context, knowing also one record of what `refers` names: its external id
    /// (for event types, also its name) and laer id. For rows checked without a store
    /// ([`crate::check_csv`]).
    pub fn knowing(mut self, refers: Refers, external_id: &str, id: i64) -> Context {
        let external = external_id.to_string();
        match refers {
            Refers::Accounts => drop(self.accounts.insert(external, id)),
            Refers::Contacts => drop(self.contacts.insert(external, id)),
            Refers::Outcomes => drop(self.outcomes.insert(external, id)),
            Refers::TeamMembers => drop(self.team_members.insert(external, id)),
            Refers::EventTypes => {
                self.event_types_by_external_id.insert(external.clone(), id);
                let known = EventTypeRef {
                    external_id: external.clone(),
                    id: Some(id),
                };
                self.event_types_by_name.insert(external, known);
            }
        }
        self
    }

    /// A context that knows these accounts (external id, laer id) and nothing else.
    #[cfg(test)]
    pub(crate) fn with_accounts(accounts: &[(&str, i64)]) -> Context {
        let mut context = Context::empty();
        context.accounts = accounts.iter().map(|(e, id)| (e.to_string(), *id)).collect();
        context
    }

    /// Loads what rows of kind `K` refer to, from an import's transaction or, for a
    /// preview that writes nothing, from the store.
    pub async fn load<K: ImportKind>(tx: &mut impl Lookups) -> Result<Context, StoreError> {
        let mut context = Context::empty();
        for refers in K::REFERS_TO {
            match refers {
                Refers::Accounts => context.accounts = tx.id_lookup(IdLookup::Accounts).await?.into_iter().collect(),
                Refers::Contacts => context.contacts = tx.id_lookup(IdLookup::Contacts).await?,
                Refers::Outcomes => context.outcomes = tx.id_lookup(IdLookup::Outcomes).await?,
                Refers::TeamMembers => context.team_members = tx.id_lookup(IdLookup::TeamMembers).await?,
                Refers::EventTypes => context.load_event_types(tx).await?,
            }
        }
        Ok(context)
    }

    async fn load_event_types(&mut self, tx: &mut impl Lookups) -> Result<(), StoreError> {
        self.event_types_by_external_id = tx
            .id_lookup(IdLookup::EventTypesByExternalId)
            .await?
            .into_iter()
            .collect();
        let by_name = tx.id_lookup(IdLookup::EventTypesByName).await?;
        let external_of: HashMap<i64, &String> =
            self.event_types_by_external_id.iter().map(|(e, id)| (*id, e)).collect();
        self.event_types_by_name = by_name
            .into_iter()
            .filter_map(|(name, id)| {
                let external_id = external_of.get(&id)?.to_string();
                Some((
                    name,
                    EventTypeRef {
                        external_id,
                        id: Some(id),
                    },
                ))
            })
            .collect();
        Ok(())
    }

    /// The laer id of the account `column` names.
    pub(crate) fn account(&self, row: &Row, column: &'static str) -> Result<i64, RowError> {
        let external_id = row.required(column)?;
        self.accounts.get(external_id).copied().ok_or_else(|| {
            row.error(
                column,
                format!("unknown account {external_id:?}; import the account first"),
            )
        })
    }

    /// Refuses an external id seen before in this file.
    pub(crate) fn first_use(&mut self, row: &Row, external_id: &str) -> Result<(), RowError> {
        self.first_use_of(row, "external_id", external_id)
    }

    /// Refuses a row whose key (`what`, named at `column`) an earlier row of the same
    /// file or request had.
    pub(crate) fn first_use_of(&mut self, row: &Row, column: &'static str, what: &str) -> Result<(), RowError> {
        if self.seen_external_ids.insert(what.to_string()) {
            Ok(())
        } else {
            Err(row.error(
                column,
                format!("{what:?} appears more than once in this {}", self.within),
            ))
        }
    }
}

/// Lists the kinds once: `Variant = declaration`. Makes [`Kind`](crate::Kind), the
/// kinds as a value (the command line's choice), and `with_kind!`, which runs code
/// written for any [`ImportKind`] with the declaration a `Kind` stands for.
macro_rules! kinds {
    ($($variant:ident = $declaration:ty),+ $(,)?) => {
        /// What a file holds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            $($variant),+
        }

        impl Kind {
            pub const ALL: [Kind; [$(Kind::$variant),+].len()] = [$(Kind::$variant),+];

            /// The kind's name on the command line and in the docs: the table name with dashes.
            pub fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$declaration as $crate::ImportKind>::NAME),+
                }
            }
        }

        /// Evaluates `$body` with the type `$k` standing for the declaration of `$kind`.
        macro_rules! with_kind {
            ($kind:expr, $k:ident => $body:expr) => {
                match $kind {
                    $(Kind::$variant => {
                        type $k = $declaration;
                        $body
                    })+
                }
            };
        }
    };
}
pub(crate) use kinds;
