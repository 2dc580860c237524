//! Shared by the tests: data in through the import path, as a user's CSV files come.

use laer_import::{Kind, Options};
use laer_store::Store;

/// Imports each (kind, CSV text) in order, as `laer import` would.
pub async fn import_csv(store: &Store, files: Vec<(Kind, String)>) {
    let mut options = Options {
        actor: "test".into(),
        ..Options::default()
    };
    for (kind, text) in files {
        laer_import::import(store, kind, "generated.csv", text.as_bytes(), &mut options)
            .await
            .unwrap();
    }
}
