//! The queue of password checks (issue 15). Each check costs tens of MiB and
//! milliseconds of argon2, so only a few run at once in a process; the others wait
//! their turn — first come, first served — for up to [`QUEUE_WAIT`], and only then are
//! told to come back (503). One client address (an IPv6 client: its /64, as throttling
//! counts it) holds at most [`PER_ADDRESS`] places in the queue at a time, so that a
//! flood from one address cannot make everyone else wait. This is about this process's own CPU and memory, so it is counted here;
//! the throttling that must hold across nodes is in the database (`laer_app::logins`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Password checks running at once, in this process.
static CHECKS: Semaphore = Semaphore::const_new(4);
/// How long a login waits for its turn before it is answered 503.
pub(crate) const QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Places in the queue (waiting or checking) one address may hold: enough for an office
/// behind one address logging in at nine o'clock, too few for one client to fill it.
pub(crate) const PER_ADDRESS: usize = 8;

/// Places held per address.
static HELD: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// Why a login could not have its password checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// The address already has its share of the queue.
    Address,
    /// No turn came within [`QUEUE_WAIT`].
    Queue,
}

/// A turn to check a password: the permit and the address's place, both given back
/// when dropped.
pub(crate) struct Turn {
    _permit: SemaphorePermit<'static>,
    _place: Place,
}

struct Place(Option<String>);

impl Drop for Place {
    fn drop(&mut self) {
        let Some(key) = self.0.take() else { return };
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = held.as_mut()
            && let Some(n) = map.get_mut(&key)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

fn take_place(address: Option<IpAddr>) -> Result<Place, Busy> {
    if address.is_none() {
        return Ok(Place(None));
    }
    let key = laer_app::logins::address_key(address);
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    let n = held.get_or_insert_with(HashMap::new).entry(key.clone()).or_insert(0);
    if *n >= PER_ADDRESS {
        return Err(Busy::Address);
    }
    *n += 1;
    Ok(Place(Some(key)))
}

/// Waits for a turn to check a password for a login from `address`.
pub(crate) async fn turn(address: Option<IpAddr>) -> Result<Turn, Busy> {
    let place = take_place(address)?;
    match tokio::time::timeout(QUEUE_WAIT, CHECKS.acquire()).await {
        Ok(Ok(permit)) => Ok(Turn {
            _permit: permit,
            _place: place,
        }),
        // The semaphore is never closed; a timeout is the one way here.
        _ => Err(Busy::Queue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_holds_only_its_share_of_the_queue() {
        let ip: IpAddr = "192.0.2.77".parse().unwrap();
        // Places are taken before the turn comes: hold them directly, as waiting logins do.
        let held: Vec<Place> = (0..PER_ADDRESS).map(|_| take_place(Some(ip)).unwrap()).collect();
        assert_eq!(turn(Some(ip)).await.err(), Some(Busy::Address));
        let other: IpAddr = "192.0.2.78".parse().unwrap();
        drop(turn(Some(other)).await.unwrap());
        drop(held);
        drop(turn(Some(ip)).await.unwrap());
        assert!(HELD.lock().unwrap().as_ref().unwrap().get("192.0.2.77").is_none());
        // An IPv6 client's whole /64 shares one share.
        let first: IpAddr = "2001:db8:7:7::1".parse().unwrap();
        let held: Vec<Place> = (0..PER_ADDRESS).map(|_| take_place(Some(first)).unwrap()).collect();
        let neighbour: IpAddr = "2001:db8:7:7:ffff::2".parse().unwrap();
        assert_eq!(turn(Some(neighbour)).await.err(), Some(Busy::Address));
        drop(held);
    }
}
