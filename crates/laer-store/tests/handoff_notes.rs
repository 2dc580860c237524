//! Hand-off notes (issue 16), on both backends: written, replaced and removed by the
//! account's people, never over a note written meanwhile, bounded, and audited.

use laer_core::model::NewAccount;
use laer_store::{IdLookup, MAX_HANDOFF_NOTE_CHARS, Store, StoreError};

async fn account(store: &Store) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    tx.upsert(&[NewAccount::named("acme", "Acme")]).await.unwrap();
    let id = tx.id_lookup(IdLookup::Accounts).await.unwrap()["acme"];
    tx.commit().await.unwrap();
    id
}

async fn a_handoff_note_is_written_replaced_and_never_overwritten_unseen(store: &Store) {
    let id = account(store).await;
    assert_eq!(store.handoff_note(id).await.unwrap(), None);
    let first = store
        .write_handoff_note(id, "  Promised a QBR in March.\n", 0, "ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.body, "Promised a QBR in March.");
    assert_eq!(store.handoff_note(id).await.unwrap(), Some(first.clone()));
    // Bo opened the page before Ada wrote: his note does not replace hers unseen.
    let stale = store.write_handoff_note(id, "Mine", 0, "bo@example.com").await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    let second = store
        .write_handoff_note(
            id,
            "Promised a QBR in March; the CFO signs.",
            first.version(),
            "bo@example.com",
        )
        .await
        .unwrap()
        .unwrap();
    assert!(second.version() > first.version());
    assert_eq!(
        store.handoff_note(id).await.unwrap().unwrap().written_by,
        "bo@example.com"
    );
    let again = store
        .write_handoff_note(id, "Late", first.version(), "ada@example.com")
        .await;
    assert!(matches!(again, Err(StoreError::Stale { .. })));
    // Too long is refused naming the field, and the note stays.
    let long = "x".repeat(MAX_HANDOFF_NOTE_CHARS + 1);
    let refused = store
        .write_handoff_note(id, &long, second.version(), "ada@example.com")
        .await;
    assert!(
        matches!(refused, Err(StoreError::Refused { ref field, .. }) if field == "body"),
        "{refused:?}"
    );
    // Empty removes it.
    assert_eq!(
        store
            .write_handoff_note(id, " ", second.version(), "ada@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.handoff_note(id).await.unwrap(), None);
    assert!(matches!(
        store.write_handoff_note(id + 1000, "x", 0, "ada@example.com").await,
        Err(StoreError::NotFound(_))
    ));
    let actions: Vec<String> = store
        .audit_of_account(id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| a.starts_with("handoff_note.")).count(),
        3,
        "{actions:?}"
    );
}

laer_store::backend_tests!(a_handoff_note_is_written_replaced_and_never_overwritten_unseen);
