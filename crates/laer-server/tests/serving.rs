//! The serve loop as clients meet it (issue 15, serving): slow or silent clients are cut
//! off at the header, body and idle limits; connections beyond the cap wait; shutdown
//! finishes requests in flight without waiting for idle connections; HTTPS with a
//! certificate replaced while serving; links never built from a forged forwarded host.

use std::net::SocketAddr;
use std::time::Duration;

use laer_core::access::Role;
use laer_server::{Limits, Server, Site, TlsFiles};
use laer_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::web::{Session, client};

/// Generous: every wait below ends far sooner when the server does what it should, and
/// would last forever when it does not.
const PATIENCE: Duration = Duration::from_secs(20);

/// Short limits, so that the tests see them act.
fn short() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..Limits::DEFAULT
    }
}

/// A running server, stopped by sending on `stop`; `ran` ends when it has shut down.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    ran: JoinHandle<std::io::Result<()>>,
}

async fn start(server: Server) -> Running {
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let ran = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        ran,
    }
}

async fn serving(store: &Store, limits: Limits) -> Running {
    start(
        Server::bind("127.0.0.1:0", store.clone())
            .await
            .unwrap()
            .with_limits(limits),
    )
    .await
}

/// Everything the server sends until it closes the connection; `None` if it has not
/// closed it within [`PATIENCE`].
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    match tokio::time::timeout(PATIENCE, stream.read_to_end(&mut got)).await {
        Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
        Err(_) => None,
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let db = laer_store::test_support::sqlite().await;
    let running = serving(&db.store, short()).await;
    let mut slow = connect(running.addr).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        until_closed(&mut slow).await.is_some(),
        "a connection that never finishes its headers is closed"
    );
    let mut silent = connect(running.addr).await;
    assert!(
        until_closed(&mut silent).await.is_some(),
        "a connection that sends nothing is closed"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let db = laer_store::test_support::sqlite().await;
    let running = serving(&db.store, short()).await;
    let mut kept = connect(running.addr).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answered = until_closed(&mut kept).await.expect("closed once idle");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

#[tokio::test]
async fn a_request_body_that_stalls_is_ended() {
    let db = laer_store::test_support::sqlite().await;
    let running = serving(&db.store, short()).await;
    let mut stalled = connect(running.addr).await;
    stalled
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 1000\r\n\r\nemail=a%40b.c&password=",
        )
        .await
        .unwrap();
    let answered = until_closed(&mut stalled)
        .await
        .expect("a stalled body ends the request");
    assert!(answered.starts_with("HTTP/1.1 4"), "a client error: {answered}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let db = laer_store::test_support::sqlite().await;
    let running = serving(
        &db.store,
        Limits {
            max_connections: 1,
            ..Limits::DEFAULT
        },
    )
    .await;
    let first = connect(running.addr).await;
    // Accepted so that it is served before the second arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = connect(running.addr).await;
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), second.read(&mut byte))
            .await
            .is_err(),
        "the second connection is not served while the first holds the only place"
    );
    drop(first);
    let answered = until_closed(&mut second).await.expect("served once the first closed");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_does_not_wait_for_idle_connections() {
    let db = laer_store::test_support::sqlite().await;
    let mut running = serving(
        &db.store,
        Limits {
            shutdown_grace: Duration::from_secs(600),
            ..Limits::DEFAULT
        },
    )
    .await;
    // An idle keep-alive connection, after one answer.
    let mut idle = connect(running.addr).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    // A request in flight: its body half sent.
    let body = "email=a%40b.c&password=x&csrf=forged";
    let mut slow = connect(running.addr).await;
    slow.write_all(
        format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{}",
            body.len(),
            &body[..10]
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    running.stop.take().unwrap().send(()).unwrap();
    assert!(
        until_closed(&mut idle).await.is_some(),
        "the idle connection is closed at once"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(running.addr).await.is_err(),
        "no new connection is taken"
    );
    assert!(!running.ran.is_finished(), "the request in flight holds the shutdown");
    slow.write_all(&body.as_bytes()[10..]).await.unwrap();
    let answered = until_closed(&mut slow).await.expect("answered, then closed");
    assert!(
        answered.starts_with("HTTP/1.1 403"),
        "the request in flight was answered (a forged CSRF token): {answered}"
    );
    tokio::time::timeout(PATIENCE, &mut running.ran)
        .await
        .expect("the server stops once the request in flight is done, not after the grace period")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_closes_what_is_still_open_after_the_grace_period() {
    let db = laer_store::test_support::sqlite().await;
    let mut running = serving(
        &db.store,
        Limits {
            shutdown_grace: Duration::from_millis(200),
            ..Limits::DEFAULT
        },
    )
    .await;
    // One client stuck in its body, one in its headers (the header limit is far off).
    let mut in_body = connect(running.addr).await;
    in_body
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\nemail=",
        )
        .await
        .unwrap();
    let mut in_headers = connect(running.addr).await;
    in_headers
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    running.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(PATIENCE, &mut running.ran)
        .await
        .expect("a stuck client does not hold the shutdown past the grace period")
        .unwrap()
        .unwrap();
    assert!(until_closed(&mut in_body).await.is_some());
    assert!(until_closed(&mut in_headers).await.is_some());
}

/// A certificate authority and leaf certificates for `localhost` it signs.
struct Authority {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Authority {
    fn new() -> Authority {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "laer test CA");
        let issuer = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
        Authority { issuer }
    }

    /// A new certificate for localhost: (certificate PEM, key PEM, certificate DER).
    fn leaf(&self) -> (String, String, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.issuer.pem().as_bytes()).unwrap())
            .tls_info(true)
            .build()
            .unwrap()
    }
}

/// The certificate the server presented on the connection of `response`.
async fn presented(client: &reqwest::Client, url: &str) -> Vec<u8> {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the connection is TLS")
        .to_vec()
}

#[tokio::test]
async fn https_with_a_certificate_replaced_while_serving() {
    let db = laer_store::test_support::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let authority = Authority::new();
    let (cert, key, first) = authority.leaf();
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let files = TlsFiles {
        check_every: Duration::from_millis(50),
        ..TlsFiles::new(&cert_path, &key_path)
    };
    let server = Server::bind("127.0.0.1:0", db.store.clone())
        .await
        .unwrap()
        .with_tls(files)
        .unwrap();
    assert!(server.serves_tls());
    let running = start(server).await;
    let url = format!("https://localhost:{}/healthz", running.addr.port());

    let old = authority.client();
    assert_eq!(presented(&old, &url).await, first);
    assert!(
        reqwest::get(format!("http://127.0.0.1:{}/healthz", running.addr.port()))
            .await
            .is_err(),
        "no plain http on the TLS port"
    );

    // A new pair: new connections get it, the open one goes on with its own.
    let (cert, key, second) = authority.leaf();
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while presented(&authority.client(), &url).await != second {
        assert!(tokio::time::Instant::now() < deadline, "the new certificate is served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        presented(&old, &url).await,
        first,
        "the connection opened before keeps working with its certificate"
    );

    // A broken pair (a key that does not match) is refused; the last good one stays.
    let (_, stray_key, _) = authority.leaf();
    std::fs::write(&key_path, &stray_key).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(presented(&authority.client(), &url).await, second);
    std::fs::write(&cert_path, "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(presented(&authority.client(), &url).await, second);

    // At start, a pair that cannot be used stops the server with the reason.
    let refused = Server::bind("127.0.0.1:0", db.store.clone())
        .await
        .unwrap()
        .with_tls(TlsFiles::new(&cert_path, &key_path));
    let reason = refused.err().expect("refused").to_string();
    assert!(reason.contains("cert.pem"), "{reason}");
}

#[tokio::test]
async fn the_login_page_says_why_plain_http_cannot_log_in() {
    let db = laer_store::test_support::sqlite().await;
    let running = serving(&db.store, Limits::DEFAULT).await;
    let login = format!("http://{}/login", running.addr);
    let page = |host: &'static str| {
        let login = login.clone();
        async move {
            client()
                .get(&login)
                .header("host", host)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let remote = page("cs.example.com:8080").await;
    assert!(
        remote.contains("Logging in needs https") && remote.contains("cs.example.com:8080"),
        "{remote}"
    );
    assert!(remote.contains("--tls-cert") && remote.contains("--public-url"));
    for local in ["localhost:8080", "127.0.0.1:8080"] {
        assert!(!page(local).await.contains("Logging in needs https"), "{local}");
    }
}

#[tokio::test]
async fn cookies_are_secure_except_on_plain_http_within_this_machine() {
    let db = laer_store::test_support::sqlite().await;
    let running = serving(&db.store, Limits::DEFAULT).await;
    let login = format!("http://{}/login", running.addr);
    let cookie_at = |host: &'static str| {
        let login = login.clone();
        async move {
            let response = client().get(&login).header("host", host).send().await.unwrap();
            let cookie = response.headers().get(reqwest::header::SET_COOKIE).expect("a cookie");
            cookie.to_str().unwrap().to_string()
        }
    };
    let remote = cookie_at("cs.example.com").await;
    assert!(remote.contains("; Secure"), "{remote}");
    for local in ["localhost:8080", "127.0.0.1:8080"] {
        let cookie = cookie_at(local).await;
        assert!(
            !cookie.contains("Secure") && cookie.contains("HttpOnly"),
            "{local}: {cookie}"
        );
    }
}

/// The share link's address, as the page that created it shows it.
fn share_url(page: &str) -> String {
    let at = page.find("id=\"share-url\"").expect("the share link is shown");
    let value = &page[at..];
    let value = &value[value.find("value=\"").unwrap() + 7..];
    value[..value.find('"').unwrap()].to_string()
}

/// Creates a share link through `base`, sending `forged` headers as a client could.
async fn share_link_through(base: &str, account: i64, forged: &[(&str, &str)]) -> String {
    let admin = Session::login(base, "ada@example.com", "ada password").await.unwrap();
    let csrf = admin.csrf().await;
    let mut request = client()
        .post(format!("{base}/accounts/{account}/plan/links"))
        .header(reqwest::header::COOKIE, &admin.cookie)
        .form(&[("csrf", csrf.as_str())]);
    for (name, value) in forged {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    share_url(&response.text().await.unwrap())
}

async fn share_links_come_from_the_public_url_never_a_forged_host(store: &Store) {
    let hash = laer_app::auth::hash_password("ada password").unwrap();
    store
        .upsert_user("ada@example.com", "Ada Admin", Role::Admin, &hash, None)
        .await
        .unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let account = crate::common::acme(&mut tx, 100, None, 1_000, 10.0).await;
    tx.commit().await.unwrap();
    let forged = [("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "https")];
    let with_site = |site: Site| async move {
        let server = Server::bind("127.0.0.1:0", store.clone())
            .await
            .unwrap()
            .with_site(site);
        let running = start(server).await;
        (format!("http://{}", running.addr), running)
    };

    // From a peer that is no trusted proxy, the forwarded host is ignored.
    let (base, _running) = with_site(Site::new(None, &["10.0.0.0/8".into()]).unwrap()).await;
    let url = share_link_through(&base, account, &forged).await;
    assert!(url.starts_with(&format!("{base}/plan/sp_")), "{url}");
    assert!(!url.contains("evil.example"), "{url}");

    // A trusted proxy's forwarded host is believed (so the first check means something).
    let (base, _running) = with_site(Site::new(None, &["127.0.0.1".into()]).unwrap()).await;
    let url = share_link_through(&base, account, &forged).await;
    assert!(url.starts_with("https://evil.example/plan/sp_"), "{url}");

    // With a public URL, it is the only source, whatever any proxy says.
    let site = Site::new(Some("https://cs.example.com/laer"), &["127.0.0.1".into()]).unwrap();
    let (base, _running) = with_site(site).await;
    let url = share_link_through(&base, account, &forged).await;
    assert!(url.starts_with("https://cs.example.com/laer/plan/sp_"), "{url}");
}

laer_store::backend_tests!(share_links_come_from_the_public_url_never_a_forged_host);
