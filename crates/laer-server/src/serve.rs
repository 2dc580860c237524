//! The serve loop: accepts TCP connections (up to a cap), speaks HTTP/1.1 on each — over
//! TLS when laer serves HTTPS itself (`tls.rs`) — with time limits on every stage a
//! client controls, and stops gracefully.
//!
//! - **Headers:** a connection must send a whole request head within the header timeout,
//!   counted from when it opened or from its previous answer; so an idle keep-alive
//!   connection is closed after the same time. A TLS handshake gets the same time.
//! - **Bodies:** a request body that sends nothing for the body timeout is ended (the
//!   handler sees an error reading it, the client gets a 400 and the connection closes).
//!   An upload for import (`POST /import`) is exempt: it watches its own stalls
//!   (`web/imports.rs`).
//! - **Connections:** at most `max_connections` at once. Beyond the cap, laer stops
//!   accepting: new connections wait in the operating system's listen backlog (1,024) until
//!   one closes, and past the backlog the kernel refuses them.
//! - **Shutdown:** when the shutdown future completes, laer stops accepting, closes idle
//!   keep-alive connections at once, lets requests in flight finish (their connections
//!   close after the answer), and after the grace period closes whatever is still open.
//!
//! The whole request is bounded by the request timeout besides (`edge.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower_http::timeout::TimeoutBody;

use crate::tls::Tls;

/// The limits of the serve loop; see the module's documentation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a connection may take to send a request head (also how long an idle
    /// keep-alive connection stays open, and how long a TLS handshake may take).
    pub header_timeout: Duration,
    /// How long a request body may send nothing before it is ended.
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long requests in flight may take to finish once shutdown begins.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// 30 s for headers and idle connections, 30 s of silence in a body, 1,024
    /// connections, 30 s to finish at shutdown.
    pub const DEFAULT: Limits = Limits {
        header_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
        max_connections: 1024,
        shutdown_grace: Duration::from_secs(30),
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then shuts down as the module
/// says.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a moment rather than spin, and go on.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(stream, peer, app, limits, stopping).await,
                Some(tls) => {
                    let handshake = tokio::time::timeout(limits.header_timeout, tls.acceptor().accept(stream));
                    let stream = tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        },
                        () = stopped(&mut stopping) => return,
                    };
                    connection(stream, peer, app, limits, stopping).await
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let open = connections.len();
    let finished = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    match finished {
        Ok(()) => tracing::info!(connections = open, "every connection finished"),
        Err(_) => {
            tracing::warn!(
                still_open = connections.len(),
                grace_seconds = limits.shutdown_grace.as_secs_f64(),
                "the shutdown grace period is over: closing the connections still open"
            );
            connections.shutdown().await;
        }
    }
}

/// Serves one connection until the client closes it, a limit ends it, or shutdown
/// (after its request in flight, if any).
async fn connection<I>(io: I, peer: SocketAddr, app: Router, limits: Limits, mut stopping: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        let body = if streams_upload(&parts.method, parts.uri.path()) {
            Body::new(body)
        } else {
            Body::new(TimeoutBody::new(limits.body_timeout, body))
        };
        tower::ServiceExt::oneshot(app.clone(), Request::from_parts(parts, body))
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let served = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(served);
    let ended = tokio::select! {
        ended = served.as_mut() => ended,
        () = stopped(&mut stopping) => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

/// Completes when shutdown begins.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Whether the request uploads a file for import, which handles its own stalls (the
/// same rule as the request time limit's in `edge.rs`).
fn streams_upload(method: &Method, path: &str) -> bool {
    method == Method::POST && path == "/import"
}

/// Completes when the process is asked to stop: Ctrl-C (SIGINT) or SIGTERM, as service
/// managers and container runtimes send. A second one afterwards ends the process at
/// once, without waiting for the requests in flight.
///
/// The signals are caught from the call on (within a Tokio runtime), so call it before
/// telling anyone the server is up: a SIGTERM right after start-up then stops it
/// gracefully too, rather than killing it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let mut signals = StopSignals::new();
    async move {
        signals.next().await;
        tracing::info!("shutting down: finishing the requests in flight (Ctrl-C again to stop at once)");
        eprintln!("Shutting down: finishing the requests in flight. Press Ctrl-C again to stop at once.");
        tokio::spawn(async move {
            signals.next().await;
            eprintln!("Stopped at once: requests in flight were dropped.");
            std::process::exit(130);
        });
    }
}

/// SIGINT and SIGTERM, received from when this is made.
#[cfg(unix)]
struct StopSignals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl StopSignals {
    fn new() -> StopSignals {
        use tokio::signal::unix::{SignalKind, signal};
        // A handler that cannot be installed leaves the other one to stop the server.
        StopSignals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    async fn next(&mut self) {
        async fn one(signal: Option<&mut tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = one(self.interrupt.as_mut()) => {}
            () = one(self.terminate.as_mut()) => {}
        }
    }
}

/// Ctrl-C, where there are no Unix signals.
#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn new() -> StopSignals {
        StopSignals
    }

    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
