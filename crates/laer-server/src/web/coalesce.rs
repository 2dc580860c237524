//! Identical reads asked for at once, made once (issue 15: 200 requests at once for a
//! large account's page each read its data for themselves, and waited 10 s at the
//! median). A read is shared only with requests that asked before it *started*, so no
//! answer is older than its request: whoever saved a change and then asks sees it, as
//! without sharing. Requests for one key queue behind the read under way; when it ends,
//! those that asked before it started take its result, and the first of the others
//! starts the next read for the rest. A burst of any size costs at most two reads.
//!
//! Nothing is kept once the last request for a key has its answer, so this is no cache:
//! every node answers from the database as it is, and nodes need not agree on anything.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Mutex;

/// The reads under way, by key.
pub(crate) struct Coalesce<K, V> {
    keys: std::sync::Mutex<HashMap<K, Slot<V>>>,
}

/// One key's turn to read, and the last read made in it.
type Slot<V> = Arc<Mutex<Option<Read<V>>>>;

/// A finished read: when it started, and what it found.
struct Read<V> {
    started: Instant,
    value: Arc<V>,
}

impl<K, V> Default for Coalesce<K, V> {
    fn default() -> Self {
        Coalesce {
            keys: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V> Coalesce<K, V> {
    /// What `load` finds for `key`, read by this request or by one that started after it
    /// asked. A failed read is not shared: the next request waiting reads again.
    pub(crate) async fn get<E, F, Fut>(&self, key: K, load: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let asked = Instant::now();
        let slot = self.keys().entry(key.clone()).or_default().clone();
        let result = {
            let mut last = slot.lock().await;
            match last.as_ref().filter(|read| read.started >= asked) {
                Some(read) => Ok(read.value.clone()),
                None => {
                    let started = Instant::now();
                    match load().await {
                        Ok(value) => {
                            let value = Arc::new(value);
                            *last = Some(Read {
                                started,
                                value: value.clone(),
                            });
                            Ok(value)
                        }
                        Err(e) => Err(e),
                    }
                }
            }
        };
        // The last request for the key forgets it (the map's reference and this one's
        // are all that is left; others take theirs under the same lock).
        let mut keys = self.keys();
        if Arc::strong_count(&slot) == 2 {
            keys.remove(&key);
        }
        result
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<K, Slot<V>>> {
        // Nothing that can panic runs under this lock; were it poisoned, the map is still whole.
        self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys().len()
    }

    /// How many requests for `key` are reading or queued.
    #[cfg(test)]
    fn asking(&self, key: &K) -> usize {
        self.keys().get(key).map_or(0, |slot| Arc::strong_count(slot) - 1)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;

    /// A read that counts itself and returns its number, once `gate` lets it finish.
    async fn read(reads: &AtomicUsize, gate: &Semaphore) -> Result<usize, String> {
        let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
        let _pass = gate.acquire().await.map_err(|e| e.to_string())?;
        Ok(n)
    }

    /// Waits until `n` requests for `key` read or queue.
    async fn until_asking(coalesce: &Coalesce<i64, usize>, key: i64, n: usize) {
        while coalesce.asking(&key) < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    struct Setup {
        coalesce: Arc<Coalesce<i64, usize>>,
        reads: Arc<AtomicUsize>,
        gate: Arc<Semaphore>,
    }

    impl Setup {
        fn new() -> Setup {
            Setup {
                coalesce: Arc::default(),
                reads: Arc::default(),
                gate: Arc::new(Semaphore::new(0)),
            }
        }

        /// A request for `key` whose read fails when `fail`.
        fn ask(&self, key: i64, fail: bool) -> tokio::task::JoinHandle<Result<usize, String>> {
            let (coalesce, reads, gate) = (self.coalesce.clone(), self.reads.clone(), self.gate.clone());
            tokio::spawn(async move {
                let value = coalesce
                    .get(key, || async {
                        let n = read(&reads, &gate).await?;
                        if fail {
                            Err(format!("read {n}: the database went away"))
                        } else {
                            Ok(n)
                        }
                    })
                    .await?;
                Ok(*value)
            })
        }
    }

    #[tokio::test]
    async fn a_burst_costs_at_most_two_reads_and_leaves_nothing_behind() {
        let setup = Setup::new();
        let first = setup.ask(7, false);
        until_asking(&setup.coalesce, 7, 1).await;
        // 199 more while the first read is under way: they share one more read.
        let rest: Vec<_> = (0..199).map(|_| setup.ask(7, false)).collect();
        until_asking(&setup.coalesce, 7, 200).await;
        setup.gate.add_permits(1_000);
        assert_eq!(first.await.unwrap(), Ok(1));
        for request in rest {
            assert_eq!(request.await.unwrap(), Ok(2), "read after they asked, once");
        }
        assert_eq!(setup.reads.load(Ordering::SeqCst), 2);
        assert_eq!(setup.coalesce.len(), 0, "nothing kept once answered");
    }

    #[tokio::test]
    async fn no_answer_is_older_than_its_request() {
        let setup = Setup::new();
        let first = setup.ask(7, false);
        until_asking(&setup.coalesce, 7, 1).await;
        while setup.reads.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Asked while the first read is under way: it must not take that read's result.
        let second = setup.ask(7, false);
        until_asking(&setup.coalesce, 7, 2).await;
        // Other keys never share, nor wait.
        let other = setup.ask(8, false);
        setup.gate.add_permits(3);
        assert_eq!(first.await.unwrap(), Ok(1));
        assert_eq!(second.await.unwrap(), Ok(3), "read again, after it asked");
        assert_eq!(other.await.unwrap(), Ok(2));
        // Asked after all: read again.
        setup.gate.add_permits(1);
        assert_eq!(setup.ask(7, false).await.unwrap(), Ok(4));
    }

    #[tokio::test]
    async fn a_failed_read_is_not_shared() {
        let setup = Setup::new();
        // A read under way; then two requests queue behind it. The first of them reads
        // and fails; the second, which asked before that read started and would have
        // shared its result, reads for itself.
        let under_way = setup.ask(7, false);
        until_asking(&setup.coalesce, 7, 1).await;
        let failing = setup.ask(7, true);
        until_asking(&setup.coalesce, 7, 2).await;
        let waiting = setup.ask(7, false);
        until_asking(&setup.coalesce, 7, 3).await;
        setup.gate.add_permits(3);
        assert_eq!(under_way.await.unwrap(), Ok(1));
        assert!(failing.await.unwrap().is_err());
        assert_eq!(waiting.await.unwrap(), Ok(3), "read again after the failure");
    }
}
