//! The embedded event log: the [`EventLog`] port's adapter over one sled tree, in the same process.
//!
//! Keys (one tree, so every append is one atomic `apply_batch`):
//! - `e` + position (u64 BE) → record (see [`Record`])
//! - `c` + cooperative id + `0x00` + version (u64 BE) → position (its last key gives the
//!   cooperative's version; logs written by earlier builds also hold `h` head keys, no longer read)
//! - `r` + cooperative id + `0x00` + request id → position
//!
//! Appends are serialised by a mutex, applied in one batch, then flushed; the caller is
//! answered after the flush. Readers only see positions that are flushed (the durable
//! head), so nothing downstream ever gets ahead of what a crash would keep.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use relance_domain::CoopId;
use tokio::sync::{watch, Mutex};

use relance_log::{AppendRequest, Appended, EventLog, EventStream, LogError, StoredEvent};

mod db;
pub use db::{open_db, open_db_with_cache};

const READ_BATCH: usize = 1024;

/// The embedded backend.
#[derive(Clone)]
pub struct SledLog {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    /// Serialises appends; holds the next position to assign.
    writer: Mutex<u64>,
    /// Highest position applied (not necessarily flushed yet).
    applied: std::sync::atomic::AtomicU64,
    /// One flush at a time; a flush covers every append applied before it started.
    flushing: Mutex<()>,
    durable: watch::Sender<u64>,
}

fn storage(e: sled::Error) -> LogError {
    LogError::Storage(e.to_string())
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn read_u64(bytes: &[u8], at: usize) -> Result<u64, LogError> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| LogError::Corrupt("short integer".into()))
}

fn key(tag: u8, coop: &CoopId, tail: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + coop.as_str().len() + tail.len());
    k.push(tag);
    k.extend_from_slice(coop.as_str().as_bytes());
    k.push(0);
    k.extend_from_slice(tail);
    k
}

fn event_key(position: u64) -> [u8; 9] {
    let mut k = [b'e'; 9];
    k[1..].copy_from_slice(&be(position));
    k
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// One event as the embedded log stores it (its position is the key), also the form the
/// offline replay spills an export's events in (`relance-audit`). Layout: coop, event id,
/// event type, request id (each u32 BE length + UTF-8), version (u64 BE), schema version
/// (u32 BE), then the payload to the end; read back with [`decode_record`].
pub struct Record<'a> {
    pub cooperative_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub request_id: &'a str,
    pub version: u64,
    pub schema_version: u32,
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 128);
        put_str(&mut out, self.cooperative_id);
        put_str(&mut out, self.event_id);
        put_str(&mut out, self.event_type);
        put_str(&mut out, self.request_id);
        out.extend_from_slice(&be(self.version));
        out.extend_from_slice(&self.schema_version.to_be_bytes());
        out.extend_from_slice(self.payload);
        out
    }
}

fn encode_record(r: &AppendRequest, version: u64) -> Vec<u8> {
    Record {
        cooperative_id: r.cooperative_id.as_str(),
        event_id: &r.event_id,
        event_type: &r.event_type,
        request_id: &r.request_id,
        version,
        schema_version: r.schema_version,
        payload: &r.payload,
    }
    .encode()
}

/// The stored event at `position` whose [`Record`] is `bytes`.
pub fn decode_record(position: u64, bytes: &[u8]) -> Result<StoredEvent, LogError> {
    let corrupt = |what: &str| LogError::Corrupt(format!("record at position {position}: {what}"));
    let mut at = 0usize;
    let take_str = |at: &mut usize| -> Result<String, LogError> {
        let len = bytes
            .get(*at..*at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| corrupt("short length"))? as usize;
        let s = bytes
            .get(*at + 4..*at + 4 + len)
            .ok_or_else(|| corrupt("short string"))?;
        *at += 4 + len;
        String::from_utf8(s.to_vec()).map_err(|_| corrupt("not UTF-8"))
    };
    let coop = take_str(&mut at)?;
    let event_id = take_str(&mut at)?;
    let event_type = take_str(&mut at)?;
    let request_id = take_str(&mut at)?;
    let version = read_u64(bytes, at)?;
    let schema_version = bytes
        .get(at + 8..at + 12)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| corrupt("short schema version"))?;
    let payload = bytes
        .get(at + 12..)
        .ok_or_else(|| corrupt("no payload"))?
        .to_vec();
    Ok(StoredEvent {
        position,
        cooperative_id: CoopId::parse(&coop).map_err(|e| corrupt(&e.to_string()))?,
        version,
        event_id,
        event_type,
        schema_version,
        request_id,
        payload,
    })
}

/// What a batch has staged so far: its sled batch, the versions it gives cooperatives and
/// the request ids it writes.
#[derive(Default)]
struct Staged {
    batch: sled::Batch,
    /// Whether anything was staged.
    writes: bool,
    versions: std::collections::HashMap<CoopId, u64>,
    requests: std::collections::HashMap<Vec<u8>, Appended>,
}

impl SledLog {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LogError> {
        let db = open_db(dir.as_ref()).map_err(storage)?;
        Self::with_db(db)
    }

    /// Uses the tree `events` of an already open sled database.
    pub fn with_db(db: sled::Db) -> Result<Self, LogError> {
        let tree = db.open_tree("events").map_err(storage)?;
        let last = match tree.scan_prefix([b'e']).next_back() {
            Some(kv) => read_u64(&kv.map_err(storage)?.0, 1)?,
            None => 0,
        };
        let (durable, _) = watch::channel(last);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                tree,
                writer: Mutex::new(last + 1),
                applied: std::sync::atomic::AtomicU64::new(last),
                flushing: Mutex::new(()),
                durable,
            }),
        })
    }

    /// The sled database (to share it with a projection in the same process).
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    /// The cooperative's last version (0 before its first event): the last key of its
    /// version index.
    fn last_version(&self, coop: &CoopId) -> Result<u64, LogError> {
        let prefix = key(b'c', coop, &[]);
        match self.inner.tree.scan_prefix(&prefix).next_back() {
            Some(kv) => {
                let (k, _) = kv.map_err(storage)?;
                read_u64(&k, prefix.len())
            }
            None => Ok(0),
        }
    }

    fn get_event(&self, position: u64) -> Result<StoredEvent, LogError> {
        let bytes = self
            .inner
            .tree
            .get(event_key(position))
            .map_err(storage)?
            .ok_or_else(|| {
                LogError::Corrupt(format!("position {position} is indexed but missing"))
            })?;
        decode_record(position, &bytes)
    }

    /// Makes everything up to `position` durable. Group commit: appends waiting while a flush
    /// runs are usually covered by it, or share the next one.
    async fn flush_through(&self, position: u64) -> Result<(), LogError> {
        if self.durable() >= position {
            return Ok(());
        }
        let _one_at_a_time = self.inner.flushing.lock().await;
        if self.durable() >= position {
            return Ok(());
        }
        let position = self
            .inner
            .applied
            .load(std::sync::atomic::Ordering::SeqCst)
            .max(position);
        // sled 0.34's flush_async can stall under concurrent callers: flush on the blocking pool.
        let tree = self.inner.tree.clone();
        tokio::task::spawn_blocking(move || tree.flush())
            .await
            .map_err(|e| LogError::Storage(format!("flush task: {e}")))?
            .map_err(storage)?;
        self.inner.durable.send_if_modified(|d| {
            if position > *d {
                *d = position;
                true
            } else {
                false
            }
        });
        Ok(())
    }

    /// Checks one request against the log and what the batch staged before it, and stages
    /// its writes at `*position` (then advanced).
    fn stage(
        &self,
        r: &AppendRequest,
        position: &mut u64,
        staged: &mut Staged,
    ) -> Result<Appended, LogError> {
        let req_key = key(b'r', &r.cooperative_id, r.request_id.as_bytes());
        if let Some(first) = staged.requests.get(&req_key) {
            return Ok(Appended {
                duplicate: true,
                ..*first
            });
        }
        if let Some(pos) = self.inner.tree.get(&req_key).map_err(storage)? {
            let position = read_u64(&pos, 0)?;
            let first = self.get_event(position)?;
            return Ok(Appended {
                position,
                version: first.version,
                duplicate: true,
            });
        }
        let version = match staged.versions.get(&r.cooperative_id) {
            Some(v) => *v,
            None => self.last_version(&r.cooperative_id)?,
        };
        if version != r.expected_version {
            return Err(LogError::Conflict {
                cooperative_id: r.cooperative_id.clone(),
                expected: r.expected_version,
                actual: version,
            });
        }
        let at = *position;
        let version = version + 1;
        staged
            .batch
            .insert(&event_key(at)[..], encode_record(r, version));
        staged
            .batch
            .insert(key(b'c', &r.cooperative_id, &be(version)), &be(at)[..]);
        staged.batch.insert(req_key.clone(), &be(at)[..]);
        staged.writes = true;
        staged.versions.insert(r.cooperative_id.clone(), version);
        let appended = Appended {
            position: at,
            version,
            duplicate: false,
        };
        staged.requests.insert(req_key, appended);
        *position += 1;
        Ok(appended)
    }

    fn durable(&self) -> u64 {
        *self.inner.durable.borrow()
    }
}

#[async_trait]
impl EventLog for SledLog {
    async fn append(&self, r: AppendRequest) -> Result<Appended, LogError> {
        self.append_batch(vec![r])
            .await
            .pop()
            .unwrap_or_else(|| Err(LogError::Storage("an append gave no result".into())))
    }

    /// The whole batch under the writer lock, applied as one sled batch, then one flush.
    async fn append_batch(&self, requests: Vec<AppendRequest>) -> Vec<Result<Appended, LogError>> {
        let mut results = Vec::with_capacity(requests.len());
        let mut highest = 0;
        {
            let mut next = self.inner.writer.lock().await;
            let mut staged = Staged::default();
            let mut position = *next;
            for r in &requests {
                let result = self.stage(r, &mut position, &mut staged);
                if let Ok(a) = &result {
                    highest = highest.max(a.position);
                }
                results.push(result);
            }
            if staged.writes {
                if let Err(e) = self.inner.tree.apply_batch(staged.batch).map_err(storage) {
                    // Nothing of the batch was written: every entry staged in it failed.
                    return results
                        .into_iter()
                        .map(|r| match r {
                            Ok(a) if a.position >= *next => Err(e.clone()),
                            other => other,
                        })
                        .collect();
                }
                *next = position;
                self.inner
                    .applied
                    .store(position - 1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        // Acknowledge only once durable (a duplicate may still be in flight from a crash-free
        // concurrent append: the flush covers it too).
        if highest > 0 {
            if let Err(e) = self.flush_through(highest).await {
                return results.into_iter().map(|r| r.and(Err(e.clone()))).collect();
            }
        }
        results
    }

    async fn read_cooperative(&self, id: &CoopId) -> Result<Vec<StoredEvent>, LogError> {
        let durable = self.durable();
        let mut out = Vec::new();
        for kv in self.inner.tree.scan_prefix(key(b'c', id, &[])) {
            let (_, pos) = kv.map_err(storage)?;
            let position = read_u64(&pos, 0)?;
            if position > durable {
                break;
            }
            out.push(self.get_event(position)?);
        }
        Ok(out)
    }

    async fn read_from(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, LogError> {
        let durable = self.durable();
        let from = from.max(1);
        if from > durable || max == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(max.min(READ_BATCH));
        for kv in self
            .inner
            .tree
            .range(event_key(from)..=event_key(durable))
            .take(max)
        {
            let (k, v) = kv.map_err(storage)?;
            out.push(decode_record(read_u64(&k, 1)?, &v)?);
        }
        Ok(out)
    }

    async fn last_position(&self) -> Result<u64, LogError> {
        Ok(self.durable())
    }

    async fn follow(&self, from: u64) -> Result<EventStream, LogError> {
        let log = self.clone();
        let rx = self.inner.durable.subscribe();
        let state = (log, rx, from.max(1), Vec::<StoredEvent>::new().into_iter());
        let stream =
            futures::stream::unfold(state, |(log, mut rx, mut next, mut buf)| async move {
                loop {
                    if let Some(ev) = buf.next() {
                        return Some((Ok(ev), (log, rx, next, buf)));
                    }
                    match log.read_from(next, READ_BATCH).await {
                        Err(e) => return Some((Err(e), (log, rx, next, buf))),
                        Ok(batch) if !batch.is_empty() => {
                            next = batch.last().map_or(next, |e| e.position + 1);
                            buf = batch.into_iter();
                        }
                        Ok(_) => {
                            // Caught up: wait for the durable head to move past `next - 1`.
                            if rx.wait_for(|d| *d >= next).await.is_err() {
                                return None;
                            }
                        }
                    }
                }
            });
        Ok(stream.boxed())
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }
}
