-- What the owner of an account wants the next owner to know (issue 16): one note per
-- account, written on the account page, shown with the note drafted from the records.
CREATE TABLE handoff_notes (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
    body       TEXT NOT NULL,
    written_by TEXT NOT NULL,
    written_at BIGINT NOT NULL
);
