//! Reports answered period by period (issue 15, bounded work): the periods are computed
//! one at a time on a blocking thread and each is sent as soon as it is done, so that the
//! server holds one period's answer at a time rather than the whole report, and the
//! computation stops when the client goes away. The response body owns a guard that
//! raises a cancellation flag when it is dropped (the client disconnected, or the
//! connection was ended); the computation checks the flag around every period.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use laer_core::retention::Period;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How many computed periods may wait for the client before the computation waits too.
const AHEAD: usize = 2;

/// A flag the computation reads: raised when the answer's reader is gone.
#[derive(Clone, Default)]
pub(crate) struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Whether the reader is gone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// A guard that raises the flag when dropped.
    fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// Raises its [`Cancel`] flag when dropped: held by the response body.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.0.store(true, Ordering::Release);
    }
}

/// How a streamed computation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Every period was computed and sent.
    Finished { periods: usize },
    /// The reader went away after `computed` periods had been computed.
    Cancelled { computed: usize },
}

/// A JSON answer made of `head`, the items computed by `compute` for each of `periods`
/// (separated by commas), and `tail`; with the handle of the computation, which ends as
/// soon as the answer's body is dropped.
pub(crate) fn json_periods<T, F>(
    head: String,
    tail: &'static str,
    periods: Vec<Period>,
    compute: F,
) -> (Response, JoinHandle<Ended>)
where
    T: Serialize,
    F: Fn(Period) -> T + Send + 'static,
{
    let cancel = Cancel::default();
    let guard = cancel.on_drop();
    let (sender, mut receiver) = mpsc::channel::<Bytes>(AHEAD);
    let work = tokio::task::spawn_blocking(move || {
        let send = |bytes: Vec<u8>| sender.blocking_send(Bytes::from(bytes)).is_ok();
        if !send(head.into_bytes()) {
            return Ended::Cancelled { computed: 0 };
        }
        for (i, &period) in periods.iter().enumerate() {
            if cancel.is_cancelled() {
                return Ended::Cancelled { computed: i };
            }
            let item = compute(period);
            if cancel.is_cancelled() {
                return Ended::Cancelled { computed: i + 1 };
            }
            let mut bytes = if i == 0 { Vec::new() } else { b",".to_vec() };
            if let Err(e) = serde_json::to_writer(&mut bytes, &item) {
                // The report's types always serialize; an answer cut short says so in the log.
                tracing::error!(error = %e, "a report's period did not serialize");
                return Ended::Cancelled { computed: i + 1 };
            }
            if !send(bytes) {
                return Ended::Cancelled { computed: i + 1 };
            }
        }
        if !send(tail.as_bytes().to_vec()) {
            return Ended::Cancelled {
                computed: periods.len(),
            };
        }
        Ended::Finished { periods: periods.len() }
    });
    let chunks = futures_util::stream::poll_fn(move |cx| {
        // The guard lives as long as the body: dropping the body cancels the work.
        let _held = &guard;
        receiver.poll_recv(cx).map(|chunk| chunk.map(Ok::<_, Infallible>))
    });
    let response = ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(chunks)).into_response();
    (response, work)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::atomic::AtomicUsize;

    fn periods(n: usize) -> Vec<Period> {
        let first: chrono::NaiveDate = "2000-01-01".parse().unwrap();
        let last = first + chrono::Months::new(n as u32 - 1);
        laer_core::retention::monthly_periods(first, last)
    }

    #[tokio::test]
    async fn periods_are_answered_as_one_json_document() {
        let (response, work) = json_periods("{\"periods\":[".into(), "]}", periods(3), |p| p.from);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"periods": ["2000-01-01", "2000-02-01", "2000-03-01"]})
        );
        assert_eq!(work.await.unwrap(), Ended::Finished { periods: 3 });
    }

    /// A report whose reader is gone stops: the flag the body's guard raises is
    /// observed by the blocking computation, which computes no further period.
    #[tokio::test]
    async fn the_computation_stops_when_the_answer_is_dropped() {
        let computed = Arc::new(AtomicUsize::new(0));
        // The second period's computation says it started, then waits until the test
        // has dropped the body.
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let started_tx = std::sync::Mutex::new(Some(started_tx));
        let (dropped_tx, dropped_rx) = std::sync::mpsc::channel::<()>();
        let dropped_rx = std::sync::Mutex::new(dropped_rx);
        let counter = computed.clone();
        let (response, work) = json_periods("[".into(), "]", periods(240), move |p| {
            if counter.fetch_add(1, Ordering::SeqCst) == 1 {
                if let Some(started) = started_tx.lock().unwrap().take() {
                    let _ = started.send(());
                }
                let _ = dropped_rx.lock().unwrap().recv();
            }
            p.from
        });
        let mut body = response.into_body().into_data_stream();
        assert_eq!(body.next().await.unwrap().unwrap(), "[");
        assert_eq!(body.next().await.unwrap().unwrap(), "\"2000-01-01\"");
        started_rx.await.unwrap();
        drop(body);
        dropped_tx.send(()).unwrap();
        assert_eq!(work.await.unwrap(), Ended::Cancelled { computed: 2 });
        assert_eq!(computed.load(Ordering::SeqCst), 2, "no period after the reader left");
    }
}
