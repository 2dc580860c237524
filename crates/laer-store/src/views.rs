//! A person's saved views of a list page (issue 16): named query strings, each person's
//! own. Saving a name again replaces its query; a person keeps at most [`MAX_VIEWS`] per
//! page.

use chrono::Utc;
use serde::Serialize;

use crate::exec::params;
use crate::{Store, StoreError};

/// Views one person may keep per page.
pub const MAX_VIEWS: i64 = 30;
/// The longest name and query string kept.
pub const MAX_VIEW_NAME_CHARS: usize = 80;
pub const MAX_VIEW_QUERY_CHARS: usize = 1_000;

/// A saved view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    /// The page's query string, without the `?`.
    pub query: String,
}

impl Store {
    /// The person's saved views of `page`, by name.
    pub async fn views_of(&self, user_id: i64, page: &str) -> Result<Vec<SavedView>, StoreError> {
        self.fetch_all(
            "SELECT id, name, query FROM saved_views WHERE user_id = $1 AND page = $2 ORDER BY name, id",
            params![user_id, page],
        )
        .await
    }

    /// Saves `query` as the person's view `name` of `page` (replacing a view of that name).
    /// Refused, naming the field, when the name is empty or either is too long, or when
    /// the person already keeps [`MAX_VIEWS`] others.
    pub async fn save_view(&self, user_id: i64, page: &str, name: &str, query: &str) -> Result<i64, StoreError> {
        let name = name.trim();
        let query = query.trim().trim_start_matches('?');
        let refuse = |field: &str, message: String| StoreError::Refused {
            field: field.to_string(),
            message,
        };
        if name.is_empty() {
            return Err(refuse("name", "Name the view.".into()));
        }
        if name.chars().count() > MAX_VIEW_NAME_CHARS {
            return Err(refuse(
                "name",
                format!("A view's name has at most {MAX_VIEW_NAME_CHARS} characters."),
            ));
        }
        if query.chars().count() > MAX_VIEW_QUERY_CHARS {
            return Err(refuse(
                "query",
                format!("A view's filters are at most {MAX_VIEW_QUERY_CHARS} characters."),
            ));
        }
        let mut tx = self.begin_write().await?;
        tx.lock([format!("views:{user_id}").as_str()]).await?;
        let (others,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM saved_views WHERE user_id = $1 AND page = $2 AND name <> $3",
                params![user_id, page, name],
            )
            .await?;
        if others >= MAX_VIEWS {
            return Err(refuse(
                "name",
                format!("You keep {MAX_VIEWS} views of this page already; remove one first."),
            ));
        }
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO saved_views (user_id, page, name, query, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (user_id, page, name) DO UPDATE SET query = excluded.query RETURNING id",
                params![user_id, page, name, query, Utc::now().timestamp_micros()],
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes the person's view `id`; another person's, or one already gone, is not found.
    pub async fn delete_view(&self, user_id: i64, id: i64) -> Result<(), StoreError> {
        let deleted = self
            .execute(
                "DELETE FROM saved_views WHERE id = $1 AND user_id = $2",
                params![id, user_id],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("saved view {id}")));
        }
        Ok(())
    }
}
