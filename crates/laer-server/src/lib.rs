//! laer's HTTP server: health check and the REST API (the web UI joins here).

mod api;
pub mod auth;
pub mod chart;
pub mod demo;
mod error;
mod ingest;
pub mod reports;
mod web;

use std::net::SocketAddr;

use axum::Router;
use laer_store::Store;
use tokio::net::TcpListener;

pub use error::ApiError;

/// Shared by every request handler. Holds no state of its own beyond the store and
/// views it checks against the store's revision on every use, so any number of nodes can
/// serve the same database.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Views derived from the store, reused while the store's revision says they are
    /// current (`web::cache`).
    pub(crate) cache: std::sync::Arc<web::PageCache>,
}

/// The whole HTTP application.
pub fn router(store: Store) -> Router {
    let state = AppState {
        store,
        cache: Default::default(),
    };
    api::routes(state.clone())
        .merge(ingest::routes())
        .merge(web::routes())
        .with_state(state)
}

/// A bound, not yet running server: bind first to learn the port (port 0 picks a free one).
pub struct Server {
    listener: TcpListener,
    app: Router,
}

impl Server {
    pub async fn bind(addr: &str, store: Store) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        // Computed now, so that the first login with an unknown email costs what others do.
        let _ = tokio::task::spawn_blocking(auth::decoy_hash).await;
        Ok(Server {
            listener,
            app: router(store),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
