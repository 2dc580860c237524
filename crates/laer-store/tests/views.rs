//! Saved views (issue 16), on both backends: each person's own, replaced by name, bounded,
//! and removed only by their owner.

use laer_core::access::Role;
use laer_store::{MAX_VIEWS, Store, StoreError};

async fn person(store: &Store, email: &str) -> i64 {
    store.upsert_user(email, email, Role::Csm, "x", None).await.unwrap().id
}

async fn views_are_each_persons_own_and_bounded(store: &Store) {
    let ada = person(store, "ada@example.com").await;
    let bo = person(store, "bo@example.com").await;
    let first = store
        .save_view(ada, "portfolio", " At risk ", "?owner=all&sort=need")
        .await
        .unwrap();
    store
        .save_view(ada, "portfolio", "Enterprise", "segment=Enterprise")
        .await
        .unwrap();
    // The same name again replaces the query and keeps the view.
    let again = store
        .save_view(ada, "portfolio", "At risk", "owner=all&renewal=90")
        .await
        .unwrap();
    assert_eq!(again, first);
    let views = store.views_of(ada, "portfolio").await.unwrap();
    assert_eq!(
        views
            .iter()
            .map(|v| (v.name.as_str(), v.query.as_str()))
            .collect::<Vec<_>>(),
        [
            ("At risk", "owner=all&renewal=90"),
            ("Enterprise", "segment=Enterprise")
        ],
        "trimmed, by name, the ? dropped"
    );
    assert!(
        store.views_of(bo, "portfolio").await.unwrap().is_empty(),
        "each person's own"
    );
    assert!(
        store.views_of(ada, "renewals").await.unwrap().is_empty(),
        "each page's own"
    );
    // Refusals name the field and keep nothing.
    for (name, query, field) in [
        ("  ", "a=1", "name"),
        (&*"n".repeat(81), "a=1", "name"),
        ("long", &*"q".repeat(1_001), "query"),
    ] {
        match store.save_view(ada, "portfolio", name, query).await {
            Err(StoreError::Refused { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected a refusal of {field}, got {other:?}"),
        }
    }
    for n in 2..MAX_VIEWS {
        store
            .save_view(ada, "portfolio", &format!("v{n}"), "a=1")
            .await
            .unwrap();
    }
    assert_eq!(store.views_of(ada, "portfolio").await.unwrap().len() as i64, MAX_VIEWS);
    assert!(matches!(
        store.save_view(ada, "portfolio", "one more", "a=1").await,
        Err(StoreError::Refused { .. })
    ));
    store
        .save_view(ada, "portfolio", "At risk", "a=2")
        .await
        .expect("replacing is not one more");
    // Only the owner removes a view.
    assert!(matches!(
        store.delete_view(bo, first).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete_view(ada, first).await.unwrap();
    assert!(matches!(
        store.delete_view(ada, first).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.views_of(ada, "portfolio").await.unwrap().len() as i64,
        MAX_VIEWS - 1
    );
}

laer_store::backend_tests!(views_are_each_persons_own_and_bounded);
