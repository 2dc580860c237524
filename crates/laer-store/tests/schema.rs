//! The two schemas cannot drift: a fresh SQLite database and a fresh PostgreSQL database,
//! each migrated, must have the same tables, columns (name, nullability, a coarse type
//! family), primary keys, unique and other indexes (by table, columns, uniqueness and
//! whether they are partial) and foreign keys, but for the differences listed in
//! [`INTENDED`].
//!
//! Runs when `LAER_TEST_POSTGRES_URL` is set, and must run when
//! `LAER_TEST_REQUIRE_POSTGRES=1` (see `laer_store::test_support`).

use std::collections::{BTreeMap, BTreeSet};

use laer_store::test_support::TestDatabase;
use sqlx::{PgPool, SqlitePool};

/// Which side of a difference a fact is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    Sqlite,
    Postgres,
}

/// Differences between the schemas that are meant to be, each with why.
///
/// What the engines store differently by design is not a difference here: SQLite's
/// `WITHOUT ROWID` tables are clustered on their primary key as PostgreSQL's tables are
/// indexed on it (both read as the same primary key); dates and JSON documents are text
/// on SQLite (see [`family`]); PostgreSQL's `events_stage` is a temporary table that
/// exists only inside an import's transaction, never in the migrated schema.
const INTENDED: &[(Only, &str)] = &[
    // None today: the two migrated schemas agree fact for fact. An entry is the side
    // and the fact, e.g. `(Only::Postgres, "index events (event_type_id)")`, with a
    // comment saying why the engines must differ there.
];

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let Some(postgres) = TestDatabase::new(laer_store::Backend::Postgres).await else {
        return;
    };
    let sqlite = TestDatabase::new(laer_store::Backend::Sqlite)
        .await
        .expect("a fresh SQLite database");

    let lite = SqlitePool::connect(&sqlite.url)
        .await
        .expect("open the SQLite database");
    let pg = PgPool::connect(&postgres.url)
        .await
        .expect("open the PostgreSQL database");
    let sqlite_facts = sqlite_schema(&lite).await;
    let postgres_facts = postgres_schema(&pg).await;
    lite.close().await;
    pg.close().await;
    sqlite.store.close().await;
    postgres.store.close().await;

    assert!(
        sqlite_facts.iter().any(|f| f.starts_with("table accounts")),
        "the SQLite schema was read: {sqlite_facts:#?}"
    );
    assert!(
        postgres_facts.iter().any(|f| f.starts_with("table accounts")),
        "the PostgreSQL schema was read: {postgres_facts:#?}"
    );

    let mut unexpected = Vec::new();
    let mut found = BTreeSet::new();
    for (side, facts, other) in [
        (Only::Sqlite, &sqlite_facts, &postgres_facts),
        (Only::Postgres, &postgres_facts, &sqlite_facts),
    ] {
        for fact in facts.difference(other) {
            if INTENDED.contains(&(side, fact.as_str())) {
                found.insert((side as u8, fact.clone()));
            } else {
                unexpected.push(format!("only on {side:?}: {fact}"));
            }
        }
    }
    let stale: Vec<_> = INTENDED
        .iter()
        .filter(|(side, fact)| !found.contains(&(*side as u8, fact.to_string())))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the schemas differ; add a migration on the side that is wrong, or list the difference \
         in INTENDED with why:\n{}",
        unexpected.join("\n")
    );
    assert!(stale.is_empty(), "INTENDED lists differences that are gone: {stale:?}");
}

/// A column's type family: the engines spell types differently, and SQLite keeps some
/// kinds in a more general one.
fn family(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    match t.as_str() {
        "integer" | "bigint" | "int" | "smallint" | "int8" | "int4" | "int2" => "integer",
        "real" | "double precision" | "double" | "float8" | "float4" | "numeric" => "real",
        "text" | "character varying" | "varchar" | "character" => "text",
        // Dates are YYYY-MM-DD text on SQLite, DATE on PostgreSQL.
        "date" => "text",
        // JSON documents are text on SQLite, JSONB on PostgreSQL.
        "jsonb" | "json" => "text",
        "boolean" => "boolean",
        "bytea" | "blob" => "bytes",
        _ => "other",
    }
}

/// The fact one foreign key contributes.
fn foreign_key_fact(table: &str, from: &[String], to_table: &str, to: &[String]) -> String {
    format!(
        "foreign key {table} ({}) references {to_table} ({})",
        from.join(", "),
        to.join(", ")
    )
}

/// The fact one index contributes.
fn index_fact(table: &str, columns: &[String], unique: bool, partial: bool) -> String {
    format!(
        "{}index {table} ({}){}",
        if unique { "unique " } else { "" },
        columns.join(", "),
        if partial { " partial" } else { "" }
    )
}

#[derive(sqlx::FromRow)]
struct SqliteColumn {
    name: String,
    #[sqlx(rename = "type")]
    declared: String,
    notnull: i64,
    pk: i64,
}

#[derive(sqlx::FromRow)]
struct SqliteForeignKey {
    id: i64,
    table: String,
    from: String,
    to: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SqliteIndex {
    name: String,
    unique: i64,
    origin: String,
    partial: i64,
}

async fn sqlite_schema(pool: &SqlitePool) -> BTreeSet<String> {
    let mut facts = BTreeSet::new();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .expect("SQLite tables");
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut foreign: Vec<(String, Vec<SqliteForeignKey>)> = Vec::new();
    for (table,) in tables {
        facts.insert(format!("table {table}"));
        let columns: Vec<SqliteColumn> =
            sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid")
                .bind(&table)
                .fetch_all(pool)
                .await
                .expect("SQLite columns");
        let mut key: Vec<(i64, String)> = Vec::new();
        for c in &columns {
            // A primary key column is never null: SQLite's rowid tables would let a
            // non-integer key be NULL, but laer never writes one, and PostgreSQL refuses.
            let nullable = c.notnull == 0 && c.pk == 0;
            facts.insert(format!(
                "column {table}.{} {}{}",
                c.name,
                family(&c.declared),
                if nullable { "" } else { " not null" }
            ));
            if c.pk > 0 {
                key.push((c.pk, c.name.clone()));
            }
        }
        key.sort();
        let key: Vec<String> = key.into_iter().map(|(_, name)| name).collect();
        if !key.is_empty() {
            facts.insert(format!("primary key {table} ({})", key.join(", ")));
        }
        keys.insert(table.clone(), key);
        let references: Vec<SqliteForeignKey> =
            sqlx::query_as("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list($1) ORDER BY id, seq")
                .bind(&table)
                .fetch_all(pool)
                .await
                .expect("SQLite foreign keys");
        foreign.push((table.clone(), references));
        let indexes: Vec<SqliteIndex> =
            sqlx::query_as("SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)")
                .bind(&table)
                .fetch_all(pool)
                .await
                .expect("SQLite indexes");
        for index in indexes {
            // The primary key's own index is the primary key above.
            if index.origin == "pk" {
                continue;
            }
            let columns: Vec<(Option<String>,)> =
                sqlx::query_as("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&index.name)
                    .fetch_all(pool)
                    .await
                    .expect("SQLite index columns");
            let columns: Vec<String> = columns
                .into_iter()
                .map(|(c,)| c.unwrap_or_else(|| "<expression>".into()))
                .collect();
            facts.insert(index_fact(&table, &columns, index.unique == 1, index.partial == 1));
        }
    }
    // A reference without columns names the other table's primary key.
    for (table, references) in foreign {
        let mut by_id: BTreeMap<i64, Vec<SqliteForeignKey>> = BTreeMap::new();
        for r in references {
            by_id.entry(r.id).or_default().push(r);
        }
        for parts in by_id.into_values() {
            let Some(to_table) = parts.first().map(|p| p.table.clone()) else {
                continue;
            };
            let from: Vec<String> = parts.iter().map(|p| p.from.clone()).collect();
            let to: Vec<String> = match parts.iter().map(|p| p.to.clone()).collect::<Option<Vec<_>>>() {
                Some(to) => to,
                None => keys.get(&to_table).cloned().unwrap_or_default(),
            };
            facts.insert(foreign_key_fact(&table, &from, &to_table, &to));
        }
    }
    facts
}

#[derive(sqlx::FromRow)]
struct PgColumn {
    table_name: String,
    column_name: String,
    is_nullable: String,
    data_type: String,
}

#[derive(sqlx::FromRow)]
struct PgForeignKey {
    table_name: String,
    columns: Vec<String>,
    to_table: String,
    to_columns: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct PgIndex {
    table_name: String,
    is_unique: bool,
    is_primary: bool,
    is_partial: bool,
    columns: Vec<String>,
}

async fn postgres_schema(pool: &PgPool) -> BTreeSet<String> {
    let mut facts = BTreeSet::new();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations' ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL tables");
    let tables: BTreeSet<String> = tables.into_iter().map(|(t,)| t).collect();
    for table in &tables {
        facts.insert(format!("table {table}"));
    }
    let columns: Vec<PgColumn> = sqlx::query_as(
        "SELECT table_name::TEXT AS table_name, column_name::TEXT AS column_name, \
         is_nullable::TEXT AS is_nullable, data_type::TEXT AS data_type \
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL columns");
    for c in columns.iter().filter(|c| tables.contains(&c.table_name)) {
        facts.insert(format!(
            "column {}.{} {}{}",
            c.table_name,
            c.column_name,
            family(&c.data_type),
            if c.is_nullable == "YES" { "" } else { " not null" }
        ));
    }
    let indexes: Vec<PgIndex> = sqlx::query_as(
        "SELECT t.relname::TEXT AS table_name, i.indisunique AS is_unique, i.indisprimary AS is_primary, \
         i.indpred IS NOT NULL AS is_partial, \
         ARRAY(SELECT COALESCE(a.attname::TEXT, '<expression>') \
               FROM unnest(i.indkey::SMALLINT[]) WITH ORDINALITY AS k(attnum, ord) \
               LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
               WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) AS columns \
         FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public'",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL indexes");
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for index in indexes.into_iter().filter(|i| tables.contains(&i.table_name)) {
        if index.is_primary {
            keys.insert(index.table_name, index.columns);
        } else {
            facts.insert(index_fact(
                &index.table_name,
                &index.columns,
                index.is_unique,
                index.is_partial,
            ));
        }
    }
    for (table, key) in keys {
        facts.insert(format!("primary key {table} ({})", key.join(", ")));
    }
    let references: Vec<PgForeignKey> = sqlx::query_as(
        "SELECT t.relname::TEXT AS table_name, r.relname::TEXT AS to_table, \
         ARRAY(SELECT a.attname::TEXT FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) \
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns, \
         ARRAY(SELECT a.attname::TEXT FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord) \
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS to_columns \
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace WHERE c.contype = 'f' AND n.nspname = 'public'",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL foreign keys");
    for r in references.iter().filter(|r| tables.contains(&r.table_name)) {
        facts.insert(foreign_key_fact(&r.table_name, &r.columns, &r.to_table, &r.to_columns));
    }
    facts
}
