//! Shared by the integration tests: a real server on a free port, a logged-in browser
//! over HTTP (`web`), the text a reader sees of a page (`text`).

pub mod text;
pub mod web;

use laer_server::Server;
use laer_store::Store;

/// Starts a server on 127.0.0.1 with a free port and returns its base URL.
pub async fn spawn(store: &Store) -> String {
    let server = Server::bind("127.0.0.1:0", store.clone()).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending()));
    format!("http://{addr}")
}
