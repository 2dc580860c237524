//! `laer serve` as a service manager and an operator meet it (issue 15, serving): SIGTERM
//! and Ctrl-C finish the requests in flight without waiting for idle connections, a second
//! Ctrl-C stops at once, and plain http on a public address is named at start-up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use laer_store::Backend;
use laer_store::test_support::TestDatabase;

/// Generous: every wait below ends far sooner when laer does what it should.
const PATIENCE: Duration = Duration::from_secs(30);

fn database() -> (tokio::runtime::Runtime, TestDatabase) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDatabase::new(Backend::Sqlite)).unwrap();
    (runtime, db)
}

/// Starts `laer serve` with `args`; returns it and the address it printed.
fn serve(db: &TestDatabase, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_laer"))
        .args(["--db", &db.url, "serve"])
        .args(args)
        .env_remove("LAER_DATABASE_URL")
        .env("LAER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("0.0.0.0", "127.0.0.1");
    (child, addr)
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The exit status, or `None` if laer is still running after [`PATIENCE`].
fn exited(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

/// What laer printed on stderr, up to the line that contains `until`.
fn stderr_until(child: &mut Child, until: &str) -> String {
    let mut stderr = BufReader::new(child.stderr.as_mut().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 || line.contains(until) {
            seen.push_str(&line);
            return seen;
        }
        seen.push_str(&line);
    }
}

fn everything(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_does_not_wait_for_idle_connections() {
    let (_runtime, db) = database();
    let (mut child, addr) = serve(&db, &["--listen", "127.0.0.1:0", "--shutdown-grace", "600"]);
    // An idle keep-alive connection, after one answer.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    // A request in flight: half its body sent.
    let body = "email=a%40b.c&password=x&csrf=forged";
    let mut slow = TcpStream::connect(&addr).unwrap();
    write!(
        slow,
        "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    signal(&child, "TERM");
    stderr_until(&mut child, "Shutting down");
    assert!(
        child.try_wait().unwrap().is_none(),
        "laer waits for the request in flight"
    );
    slow.write_all(&body.as_bytes()[10..]).unwrap();
    let answered = everything(&mut slow);
    assert!(answered.starts_with("HTTP/1.1 403"), "answered: {answered}");
    let status = exited(&mut child).expect("laer stops once the request in flight is done");
    assert!(status.success(), "{status}");
    let rest = everything(&mut idle);
    assert!(
        rest.ends_with(r#""status":"ok"}"#),
        "the idle connection got nothing more and was closed: {rest}"
    );
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    let (_runtime, db) = database();
    let (mut child, addr) = serve(&db, &["--listen", "127.0.0.1:0", "--shutdown-grace", "600"]);
    let mut stuck = TcpStream::connect(&addr).unwrap();
    stuck
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\nemail=",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "INT");
    let said = stderr_until(&mut child, "Shutting down");
    assert!(said.contains("Ctrl-C again"), "{said}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "the first waits for the request");
    signal(&child, "INT");
    let status = exited(&mut child).expect("the second Ctrl-C stops laer at once");
    assert_eq!(status.code(), Some(130), "{status}");
}

#[test]
fn plain_http_on_a_public_address_is_named_at_start_up() {
    let (_runtime, db) = database();
    let (mut child, _) = serve(&db, &["--listen", "0.0.0.0:0"]);
    signal(&child, "TERM");
    let said = stderr_until(&mut child, "Shutting down");
    assert!(exited(&mut child).is_some_and(|s| s.success()));
    assert!(said.contains("serves plain http"), "{said}");
    for fix in ["--tls-cert", "--public-url", "--trusted-proxy", "docs/operations.md"] {
        assert!(said.contains(fix), "{fix}: {said}");
    }

    let (mut child, _) = serve(&db, &["--listen", "127.0.0.1:0"]);
    signal(&child, "TERM");
    let said = stderr_until(&mut child, "Shutting down");
    assert!(exited(&mut child).is_some());
    assert!(!said.contains("plain http"), "quiet on loopback: {said}");
}
