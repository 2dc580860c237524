-- A person's saved views of a list page (issue 16): a name and the page's query string,
-- e.g. the portfolio filtered to enterprise accounts renewing within 90 days.
CREATE TABLE saved_views (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    page       TEXT NOT NULL,
    name       TEXT NOT NULL,
    query      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, page, name)
);
