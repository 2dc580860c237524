//! Where an import's bytes come from: a reader (a file, a request body held in memory),
//! or a file uploaded in the browser and kept in the database in chunks
//! ([`UploadSource`]), which fetches its chunks as the parser reaches them, so that a file
//! of any size takes a few MiB of memory.

use std::future::Future;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use laer_store::{Store, StoreError, UPLOAD_CHUNK_BYTES, Upload};

/// An import's input: bytes to read, and a chance to fetch ahead before each record.
pub trait Source: Read {
    /// Makes the next record readable without waiting: called before each one is read.
    fn fill(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A plain reader as a [`Source`]: it has everything at hand.
pub struct Reader<R>(pub R);

impl<R: Read> Read for Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for Reader<R> {
    // Not `async fn`: its future would hold `&mut self`, and so be `Send` only for a
    // reader that is, which a file with a progress bar is not.
    #[allow(clippy::manual_async_fn)]
    fn fill(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }
}

/// An upload read from the database chunk by chunk. Before each record it holds at least
/// one chunk's worth of bytes ahead (or the rest of the file), so a record up to
/// [`UPLOAD_CHUNK_BYTES`] long is always whole; a longer one is refused.
pub struct UploadSource {
    store: Store,
    upload: i64,
    chunks: i64,
    next_seq: i64,
    buffer: Vec<u8>,
    position: usize,
}

impl UploadSource {
    /// Reads `upload`, which must be complete.
    pub fn new(store: &Store, upload: &Upload) -> UploadSource {
        UploadSource {
            store: store.clone(),
            upload: upload.id,
            chunks: upload.chunks,
            next_seq: 0,
            buffer: Vec::new(),
            position: 0,
        }
    }

    fn ahead(&self) -> usize {
        self.buffer.len() - self.position
    }
}

impl Source for UploadSource {
    async fn fill(&mut self) -> Result<(), StoreError> {
        while self.ahead() < UPLOAD_CHUNK_BYTES && self.next_seq < self.chunks {
            let chunk = self
                .store
                .upload_chunk(self.upload, self.next_seq)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "upload {} lacks its chunk {} of {}",
                        self.upload, self.next_seq, self.chunks
                    ))
                })?;
            self.buffer.drain(..self.position);
            self.position = 0;
            self.buffer.extend_from_slice(&chunk);
            self.next_seq += 1;
        }
        Ok(())
    }
}

impl Read for UploadSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ahead() == 0 {
            if self.next_seq < self.chunks {
                return Err(std::io::Error::other(format!(
                    "a record is longer than {} MiB",
                    UPLOAD_CHUNK_BYTES >> 20
                )));
            }
            return Ok(0);
        }
        let n = buf.len().min(self.ahead());
        buf[..n].copy_from_slice(&self.buffer[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// How far an import has come, for whoever watches it (the run's heartbeat).
#[derive(Debug, Default)]
pub struct Progress {
    rows: AtomicU64,
    bytes: AtomicU64,
}

impl Progress {
    pub(crate) fn set(&self, rows: u64, bytes: u64) {
        self.rows.store(rows, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// Rows read and bytes of the file read up to them.
    pub fn now(&self) -> laer_store::RunProgress {
        laer_store::RunProgress {
            rows: self.rows.load(Ordering::Relaxed).try_into().unwrap_or(i64::MAX),
            bytes: self.bytes.load(Ordering::Relaxed).try_into().unwrap_or(i64::MAX),
        }
    }
}
