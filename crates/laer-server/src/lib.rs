//! laer's HTTP server: health check and the REST API (the web UI joins here).

mod api;
mod edge;
mod error;
mod extract;
mod forecast_api;
mod ingest;
mod openapi;
mod records_api;
// Issue 15, bounded work: reports answered period by period, stopped when the client goes.
mod report_stream;
mod serve;
mod site;
// Issue 17, Stripe's events, live.
mod stripe_webhook;
mod tls;
mod web;
mod work_api;

use std::net::SocketAddr;

use axum::Router;
use laer_store::Store;
use tokio::net::TcpListener;

pub use edge::DEFAULT_REQUEST_TIMEOUT;
pub use error::ApiError;
pub use serve::{Limits, shutdown_signal};
pub use site::{Site, SiteError};
pub use tls::{TlsError, TlsFiles};
pub use web::sso::{CALLBACK_PATH as SSO_CALLBACK_PATH, SsoConfig, SsoConfigError};

/// Shared by every request handler. Holds no state of its own beyond the store and
/// views it checks against the store's revision on every use, so any number of nodes can
/// serve the same database.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Views derived from the store, reused while the store's revision says they are
    /// current (`web::cache`).
    pub(crate) cache: std::sync::Arc<web::PageCache>,
    /// The health model every score is computed with.
    pub health_model: std::sync::Arc<laer_core::health::HealthModel>,
    /// Whether emails go out (an SMTP server is configured): password links are then
    /// emailed as well as shown.
    pub(crate) emails: bool,
    /// Where laer is reached and which proxies are believed (`site.rs`).
    pub(crate) site: std::sync::Arc<Site>,
    /// Single sign-on, when configured (`web/sso.rs`).
    pub(crate) sso: Option<std::sync::Arc<web::sso::Sso>>,
    /// The server keys that open stored secrets (the Stripe connection's key and
    /// webhook secret), when the server has them.
    pub(crate) secrets: Option<laer_store::SecretBox>,
}

/// The whole HTTP application, scoring health with the default model.
pub fn router(store: Store) -> Router {
    router_with(store, Default::default())
}

/// The whole HTTP application, scoring health with `health_model`, with the default
/// request time limit.
pub fn router_with(store: Store, health_model: std::sync::Arc<laer_core::health::HealthModel>) -> Router {
    app(
        store,
        health_model,
        DEFAULT_REQUEST_TIMEOUT,
        false,
        Default::default(),
        None,
        None,
    )
}

/// The routes of the REST API, the tracking API and the web app, inside the edge's
/// layers (`edge.rs`: request ids, tracing, security headers, time limit, panics).
fn app(
    store: Store,
    health_model: std::sync::Arc<laer_core::health::HealthModel>,
    timeout: std::time::Duration,
    emails: bool,
    site: std::sync::Arc<Site>,
    sso: Option<std::sync::Arc<web::sso::Sso>>,
    secrets: Option<laer_store::SecretBox>,
) -> Router {
    let state = AppState {
        store,
        cache: Default::default(),
        health_model,
        emails,
        site: site.clone(),
        sso,
        secrets,
    };
    let routes = api::routes()
        .merge(ingest::routes())
        .merge(stripe_webhook::routes())
        .merge(web::routes())
        .fallback(api::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(site, site::cookie_rule));
    edge::layers(routes, timeout)
}

/// The REST API's OpenAPI 3.1 document as JSON, as `/api/v1/openapi.json` serves it.
pub fn openapi_json() -> String {
    openapi::document().to_json().unwrap_or_default()
}

/// A bound, not yet running server: bind first to learn the port (port 0 picks a free one).
pub struct Server {
    listener: TcpListener,
    store: Store,
    health_model: std::sync::Arc<laer_core::health::HealthModel>,
    delivery: laer_app::delivery::DeliveryConfig,
    request_timeout: std::time::Duration,
    site: std::sync::Arc<Site>,
    sso: Option<std::sync::Arc<web::sso::Sso>>,
    limits: Limits,
    tls: Option<tls::Tls>,
    taps: Option<laer_app::singer_sync::Taps>,
}

impl Server {
    /// Binds with the default health model.
    pub async fn bind(addr: &str, store: Store) -> std::io::Result<Server> {
        Server::bind_with(addr, store, Default::default()).await
    }

    pub async fn bind_with(
        addr: &str,
        store: Store,
        health_model: std::sync::Arc<laer_core::health::HealthModel>,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        // Computed now, so that the first login with an unknown email costs what others do.
        let _ = tokio::task::spawn_blocking(laer_app::auth::decoy_hash).await;
        Ok(Server {
            listener,
            store,
            health_model,
            delivery: Default::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            site: Default::default(),
            sso: None,
            limits: Limits::DEFAULT,
            tls: None,
            taps: None,
        })
    }

    /// Ends requests that take longer than `limit` (503; default
    /// [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn with_request_timeout(mut self, limit: std::time::Duration) -> Server {
        self.request_timeout = limit;
        self
    }

    /// Sends emails and webhooks as `config` says (by default: webhooks only).
    pub fn with_delivery(mut self, config: laer_app::delivery::DeliveryConfig) -> Server {
        self.delivery = config;
        self
    }

    /// Links start with `site`'s public URL, and its proxies' forwarded headers are
    /// believed (by default: links from the request's `Host`, no proxy trusted).
    pub fn with_site(mut self, site: Site) -> Server {
        self.site = std::sync::Arc::new(site);
        self
    }

    /// Signs people in with an OpenID provider as `config` says (issue 15, `web/sso.rs`);
    /// after [`Server::with_site`], whose public URL the redirect URI starts with.
    pub fn with_sso(mut self, config: SsoConfig) -> Result<Server, SsoConfigError> {
        self.sso = Some(std::sync::Arc::new(web::sso::Sso::new(config, &self.site)?));
        Ok(self)
    }

    /// The redirect URI to register at the OpenID provider, with single sign-on.
    pub fn sso_redirect_uri(&self) -> Option<&str> {
        self.sso.as_deref().map(web::sso::Sso::redirect_uri)
    }

    /// Serves connections within `limits` (`serve.rs`; by default [`Limits::DEFAULT`]).
    pub fn with_limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// Serves HTTPS with the certificate and key in `files`, reloaded when they change
    /// (`tls.rs`); an error when they cannot be used.
    pub fn with_tls(mut self, files: TlsFiles) -> Result<Server, TlsError> {
        self.tls = Some(tls::Tls::new(files)?);
        Ok(self)
    }

    /// Runs the syncs (Singer taps) that are due, with the tap programs in `taps`
    /// (`laer_app::singer_sync::run_syncs`); by default this server runs none.
    pub fn with_taps(mut self, taps: laer_app::singer_sync::Taps) -> Server {
        self.taps = Some(taps);
        self
    }

    /// Whether the server speaks HTTPS itself.
    pub fn serves_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes (e.g. [`shutdown_signal`]), then stops taking
    /// connections, closes idle ones and lets the requests in flight finish within the
    /// grace period (`serve.rs`): a tracked event that was acknowledged has been
    /// committed. Health is kept current meanwhile (`laer_app::health::run_engine`), the
    /// outbox sent (`laer_app::delivery::run_deliveries`), a connected Stripe synced
    /// (`laer_app::billing::run_syncs`), and with [`Server::with_taps`] the syncs that are
    /// due run (`laer_app::singer_sync::run_syncs`); they stop after the last request (what they were
    /// doing is redone by the next start: marks, deliveries and a sync's progress stay in
    /// the database until done).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let emails = self.delivery.smtp_url.is_some();
        let mut site = (*self.site).clone();
        site.serves_tls = self.tls.is_some();
        let app = app(
            self.store.clone(),
            self.health_model.clone(),
            self.request_timeout,
            emails,
            std::sync::Arc::new(site),
            self.sso.clone(),
            self.delivery.secrets.clone(),
        );
        let syncs = tokio::spawn(laer_app::billing::run_syncs(
            self.store.clone(),
            self.delivery.secrets.clone(),
        ));
        let taps = self.taps.clone().map(|taps| {
            tokio::spawn(laer_app::singer_sync::run_syncs(
                self.store.clone(),
                self.delivery.secrets.clone(),
                taps,
            ))
        });
        let calendars = tokio::spawn(laer_app::calendars::run_calendars(
            self.store.clone(),
            self.delivery.secrets.clone(),
        ));
        let mut delivery = self.delivery;
        if delivery.public_url.is_none() {
            delivery.public_url = self.site.public_url().map(|url| url.to_string());
        }
        let outbox = tokio::spawn(laer_app::delivery::run_deliveries(self.store.clone(), delivery));
        let digests = tokio::spawn(laer_app::digest::run_digests(
            self.store.clone(),
            laer_app::digest::DIGEST_TICK,
        ));
        let engine = tokio::spawn(laer_app::health::run_engine(self.store, self.health_model, web::today));
        let reloads = self.tls.clone().map(|tls| tokio::spawn(tls.watch()));
        serve::serve(self.listener, app, self.limits, self.tls, shutdown).await;
        engine.abort();
        outbox.abort();
        digests.abort();
        calendars.abort();
        syncs.abort();
        if let Some(taps) = taps {
            taps.abort();
        }
        if let Some(reloads) = reloads {
            reloads.abort();
        }
        Ok(())
    }
}
