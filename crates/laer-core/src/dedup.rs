//! Stable identities for records whose source gives them no id (usage events, the
//! subscription lines of a billing export), so that importing the same data twice
//! changes nothing.
//!
//! A record's identity is its content plus its *occurrence*: the number of identical
//! records before it in the same run of rows (one account, and for events one
//! instant). Two identical event rows in a run are two events; the same file imported
//! again yields the same identities. Sources sorted by account and time, as every
//! export laer knows is, are counted exactly; identical rows scattered far apart in
//! an unsorted file are taken to be the same record.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64;

/// Bytes a record's fields usually take; longer ones move to the heap.
const INLINE_BYTES: usize = 96;

/// Hashes record fields into a stable 64-bit value (XXH3, fixed across versions).
///
/// The fields are gathered and hashed in one go: XXH3 of the whole gives what its
/// streaming form gives for the same bytes, without that form's 600 bytes of state to
/// set up for each record (a tenth of an import's parsing, with two hashes an event).
pub struct ContentHasher {
    inline: [u8; INLINE_BYTES],
    len: usize,
    /// All the bytes, once they outgrow `inline`.
    heap: Vec<u8>,
}

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher {
            inline: [0; INLINE_BYTES],
            len: 0,
            heap: Vec::new(),
        }
    }
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    fn update(&mut self, bytes: &[u8]) {
        if self.heap.is_empty() {
            if let Some(room) = self.inline.get_mut(self.len..self.len + bytes.len()) {
                room.copy_from_slice(bytes);
                self.len += bytes.len();
                return;
            }
            self.heap.extend_from_slice(&self.inline[..self.len]);
        }
        self.heap.extend_from_slice(bytes);
    }

    pub fn text(mut self, value: Option<&str>) -> Self {
        match value {
            // Length-prefixed so that field boundaries cannot shift.
            Some(s) => {
                self.update(&[1]);
                self.update(&(s.len() as u64).to_le_bytes());
                self.update(s.as_bytes());
            }
            None => self.update(&[0]),
        }
        self
    }

    pub fn int(mut self, value: Option<i64>) -> Self {
        match value {
            Some(i) => {
                self.update(&[1]);
                self.update(&i.to_le_bytes());
            }
            None => self.update(&[0]),
        }
        self
    }

    /// Floats hash by value: `1` and `1.0` are the same; `-0.0` equals `0.0`.
    pub fn float(self, value: Option<f64>) -> Self {
        let normalized = value.map(|x| if x == 0.0 { 0.0_f64 } else { x });
        self.int(normalized.map(|x| x.to_bits() as i64))
    }

    pub fn finish(self) -> u64 {
        if self.heap.is_empty() {
            xxh3_64(&self.inline[..self.len])
        } else {
            xxh3_64(&self.heap)
        }
    }
}

/// Counts identical records within a run of rows that share a group (account, instant).
#[derive(Debug, Default)]
pub struct OccurrenceCounter {
    group: Option<(i64, i64)>,
    /// By content hash, with foldhash (seeded per process): std's SipHash, here and in
    /// an import's other per-row lookups, took about 6 % of a crm5 import's CPU.
    seen: HashMap<u64, u32, foldhash::fast::RandomState>,
}

impl OccurrenceCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The occurrence number of a record with this content hash in this group:
    /// 0 for the first, 1 for an identical second, and so on.
    pub fn next(&mut self, group: (i64, i64), content: u64) -> u32 {
        if self.group != Some(group) {
            self.group = Some(group);
            self.seen.clear();
        }
        let count = self.seen.entry(content).or_insert(0);
        let occurrence = *count;
        *count += 1;
        occurrence
    }
}

/// The content hash of an event, for [`OccurrenceCounter::next`]. The event type is
/// named by its external id, so that keys do not depend on laer's internal ids.
pub fn event_content(event_type: &str, user_ref: Option<&str>, value: Option<f64>) -> u64 {
    ContentHasher::new()
        .text(Some(event_type))
        .text(user_ref)
        .float(value)
        .finish()
}

/// The identity of a usage event among the events of its account at its instant.
pub fn event_key(content: u64, occurrence: u32) -> i64 {
    ContentHasher::new()
        .int(Some(content as i64))
        .int(Some(i64::from(occurrence)))
        .finish() as i64
}

/// An external id for a keyless row: `row-` and 16 hex digits of its content and occurrence.
pub fn row_external_id(content: u64, occurrence: u32) -> String {
    let key = ContentHasher::new()
        .int(Some(content as i64))
        .int(Some(i64::from(occurrence)))
        .finish();
    format!("row-{key:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED_EVENT_KEY: i64 = 7835066246457282142;
    const PINNED_ROW_ID: &str = "row-576ce0150d2888e6";

    #[test]
    fn identical_events_in_a_run_get_distinct_keys() {
        let mut counter = OccurrenceCounter::new();
        let content = event_content("3", Some("u1"), Some(1.0));
        let first = counter.next((1, 100), content);
        let second = counter.next((1, 100), content);
        assert_eq!((first, second), (0, 1));
        assert_ne!(event_key(content, first), event_key(content, second));
    }

    #[test]
    fn a_new_group_restarts_the_count() {
        let mut counter = OccurrenceCounter::new();
        let content = event_content("3", None, None);
        assert_eq!(counter.next((1, 100), content), 0);
        assert_eq!(counter.next((1, 101), content), 0);
        assert_eq!(counter.next((2, 101), content), 0);
    }

    #[test]
    fn keys_are_stable_and_sensitive_to_every_field() {
        let key = |t, u, v, n| event_key(event_content(t, u, v), n);
        let base = key("3", Some("u1"), Some(1.0), 0);
        assert_eq!(base, key("3", Some("u1"), Some("1.0".parse().unwrap()), 0));
        for other in [
            key("4", Some("u1"), Some(1.0), 0),
            key("3", Some("u2"), Some(1.0), 0),
            key("3", None, Some(1.0), 0),
            key("3", Some("u1"), None, 0),
            key("3", Some("u1"), Some(2.0), 0),
            key("3", Some("u1"), Some(1.0), 1),
        ] {
            assert_ne!(base, other);
        }
        // Pinned values: a change of the hash would make every earlier import look new.
        assert_eq!(base, PINNED_EVENT_KEY);
        assert_eq!(row_external_id(0, 0), PINNED_ROW_ID);
    }

    #[test]
    fn a_hash_is_xxh3_of_the_fields_bytes_however_long() {
        for len in [0, 10, 80, 87, 88, 95, 96, 97, 300, 5_000] {
            let text = "x".repeat(len);
            let mut streamed = xxhash_rust::xxh3::Xxh3::new();
            streamed.update(&[1]);
            streamed.update(&(len as u64).to_le_bytes());
            streamed.update(text.as_bytes());
            streamed.update(&[1]);
            streamed.update(&7_i64.to_le_bytes());
            let hashed = ContentHasher::new().text(Some(&text)).int(Some(7)).finish();
            assert_eq!(hashed, streamed.digest(), "a text of {len} bytes");
        }
    }

    #[test]
    fn text_boundaries_cannot_shift() {
        let a = ContentHasher::new().text(Some("ab")).text(Some("c")).finish();
        let b = ContentHasher::new().text(Some("a")).text(Some("bc")).finish();
        assert_ne!(a, b);
    }
}
