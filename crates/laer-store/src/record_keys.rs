//! Single records of a [`Stored`] kind, named by their table's key: the laer ids of
//! records just written, and deleting one (the REST API's writes, `laer-server`'s
//! `records_api.rs`).

use chrono::NaiveDate;

use crate::exec::{Params, Value, list, params};
use crate::sql::Feeds;
use crate::tables::Stored;
use crate::{StoreError, WriteTx};

/// One value of a record's key, in the order of its table's key columns: an external
/// id, an account or outcome id, a stakeholder team, a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPart<'a> {
    Text(&'a str),
    Int(i64),
    Date(NaiveDate),
}

impl<'a> From<KeyPart<'a>> for Value<'a> {
    fn from(part: KeyPart<'a>) -> Value<'a> {
        match part {
            KeyPart::Text(t) => Value::from(t),
            KeyPart::Int(i) => Value::from(i),
            KeyPart::Date(d) => Value::from(d),
        }
    }
}

#[derive(sqlx::FromRow)]
struct KeyedId {
    key: String,
    id: i64,
}

impl WriteTx {
    /// The laer ids of `records`, in their order, as stored now: for kinds identified by
    /// an external id; `None` for kinds their key identifies without one (meeting
    /// cadences, outcome measurements) and for records not stored.
    pub async fn ids_of<R: Stored>(&mut self, records: &[R]) -> Result<Vec<Option<i64>>, StoreError> {
        let table = R::TABLE;
        if table.key != ["external_id"] {
            return Ok(vec![None; records.len()]);
        }
        let Some(at) = table.columns.iter().position(|c| *c == "external_id") else {
            return Ok(vec![None; records.len()]);
        };
        let keys: Vec<Option<String>> = records
            .iter()
            .map(|r| match r.row().0.get(at) {
                Some(Value::Text(Some(t))) => Some(t.to_string()),
                _ => None,
            })
            .collect();
        let mut found = std::collections::HashMap::new();
        let wanted: Vec<&str> = keys.iter().flatten().map(String::as_str).collect();
        for chunk in wanted.chunks(1_000) {
            let sql = format!(
                "SELECT external_id AS key, id FROM {} WHERE external_id IN ({})",
                table.name,
                list(1, chunk.len())
            );
            let mut params = Params::with_capacity(chunk.len());
            for key in chunk {
                params.push(*key);
            }
            let rows: Vec<KeyedId> = self.fetch_all(&sql, params).await?;
            found.extend(rows.into_iter().map(|r| (r.key, r.id)));
        }
        Ok(keys
            .iter()
            .map(|k| k.as_ref().and_then(|k| found.get(k).copied()))
            .collect())
    }

    /// Deletes the record of kind `R` whose key (its table's key columns, in order) is
    /// `key`, and marks what it fed as a write does: the account's health, the portfolio
    /// revision. Answers the ids of whose health the record fed (its account, or its
    /// outcome for a measurement); none when no such record is stored.
    pub async fn delete<R: Stored>(&mut self, key: &[KeyPart<'_>]) -> Result<Vec<i64>, StoreError> {
        let table = R::TABLE;
        if key.len() != table.key.len() {
            return Err(StoreError::Invalid(format!(
                "{} are identified by {}",
                table.name,
                table.key.join(", ")
            )));
        }
        let condition: Vec<String> = table
            .key
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} = ${}", i + 1))
            .collect();
        let owner = match table.feeds {
            Feeds::Account => "account_id",
            Feeds::Outcome => "outcome_id",
            Feeds::Nothing => "CAST(0 AS BIGINT)",
        };
        let key_params = || {
            let mut params = Params::with_capacity(key.len());
            for part in key {
                params.push(*part);
            }
            params
        };
        // The rows that belong to the record go with it, first: a touchpoint's teams,
        // contacts and team members.
        for (child, column) in belonging_to(table.name) {
            let sql = format!(
                "DELETE FROM {child} WHERE {column} IN (SELECT id FROM {} WHERE {})",
                table.name,
                condition.join(" AND ")
            );
            self.execute(&sql, key_params()).await?;
        }
        let sql = format!(
            "DELETE FROM {} WHERE {} RETURNING {owner}",
            table.name,
            condition.join(" AND ")
        );
        let deleted: Vec<(i64,)> = self.fetch_all(&sql, key_params()).await?;
        let owners: Vec<i64> = deleted.into_iter().map(|(id,)| id).collect();
        if owners.is_empty() {
            return Ok(owners);
        }
        self.mark_health_dirty(table.feeds, &owners).await?;
        if table.portfolio {
            self.portfolio_rows_changed(table, &owners).await?;
        }
        Ok(owners)
    }

    /// The `version` of the record with this external id in `table` (one of the tables
    /// whose records carry a version), `None` when there is none.
    pub async fn stored_version(&mut self, table: &'static str, external_id: &str) -> Result<Option<i64>, StoreError> {
        let sql = format!("SELECT version FROM {table} WHERE external_id = $1");
        let row: Option<(i64,)> = self.fetch_optional(&sql, params![external_id]).await?;
        Ok(row.map(|(version,)| version))
    }

    /// The laer id of the account with this external id.
    pub async fn account_id(&mut self, external_id: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = self
            .fetch_optional("SELECT id FROM accounts WHERE external_id = $1", params![external_id])
            .await?;
        Ok(row.map(|(id,)| id))
    }

    /// The laer id of the outcome with this external id.
    pub async fn outcome_id(&mut self, external_id: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = self
            .fetch_optional("SELECT id FROM outcomes WHERE external_id = $1", params![external_id])
            .await?;
        Ok(row.map(|(id,)| id))
    }
}

/// The tables whose rows belong to a record of `table` (and the column naming it), which
/// are deleted with it.
fn belonging_to(table: &str) -> &'static [(&'static str, &'static str)] {
    match table {
        "touchpoints" => &[
            ("touchpoint_teams", "touchpoint_id"),
            ("touchpoint_contacts", "touchpoint_id"),
            ("touchpoint_members", "touchpoint_id"),
        ],
        _ => &[],
    }
}

/// The accounts `records` belong to (their `account_id` column), each once, in order of
/// id; none for kinds without the column.
pub fn accounts_of<R: Stored>(records: &[R]) -> Vec<i64> {
    let Some(at) = R::TABLE.columns.iter().position(|c| *c == "account_id") else {
        return Vec::new();
    };
    let mut ids: Vec<i64> = records
        .iter()
        .filter_map(|r| match r.row().0.get(at) {
            Some(Value::Int(Some(id))) => Some(*id),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
