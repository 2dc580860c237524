//! PostgreSQL: for several laer nodes sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgArguments, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::StoreError;
use crate::sql::Value;

pub(crate) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await?)
}

pub(crate) fn bind<'q>(
    query: sqlx::query::Query<'q, Postgres, PgArguments>,
    value: Value,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    match value {
        Value::Int(v) => query.bind(v),
        Value::Float(v) => query.bind(v),
        Value::Text(v) => query.bind(v),
        Value::Date(v) => query.bind(v),
        Value::Json(v) => query.bind(v),
    }
}
