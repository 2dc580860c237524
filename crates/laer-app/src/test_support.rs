//! Helpers for laer's tests (feature `test-support`): localstripe, a stateful fake of
//! Stripe's API from PyPI, on a free port, with the Python that has it and Stripe's
//! official library (`LAER_TEST_STRIPE_PYTHON`; scripts/test installs both).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// localstripe on a free port, stopped when dropped.
pub struct LocalStripe {
    child: Child,
    /// Its address, `http://127.0.0.1:PORT`.
    pub base: String,
    /// The Python with localstripe and the `stripe` library.
    pub python: String,
}

impl LocalStripe {
    /// Starts it; `None` (the test skips) when no Python is configured, unless
    /// `LAER_TEST_REQUIRE_STRIPE=1`, which makes that a failure.
    pub fn start() -> Option<LocalStripe> {
        let Some(python) = std::env::var("LAER_TEST_STRIPE_PYTHON").ok().filter(|p| !p.is_empty()) else {
            assert!(
                std::env::var("LAER_TEST_REQUIRE_STRIPE").as_deref() != Ok("1"),
                "LAER_TEST_REQUIRE_STRIPE=1 but LAER_TEST_STRIPE_PYTHON is not set"
            );
            eprintln!("skipping: set LAER_TEST_STRIPE_PYTHON to a Python with localstripe and stripe");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&python)
            .args(["-m", "localstripe", "--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start localstripe");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "localstripe did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(LocalStripe {
            child,
            base: format!("http://127.0.0.1:{port}"),
            python,
        })
    }

    /// Runs a Python script with this localstripe's address as its first argument; its
    /// output as JSON.
    pub fn run(&self, script: &str, args: &[&str]) -> serde_json::Value {
        let made = Command::new(&self.python)
            .arg(script)
            .arg(&self.base)
            .args(args)
            .output()
            .expect("run the script");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        serde_json::from_slice(&made.stdout).expect("the script prints JSON")
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
