//! The projection: folds the event log into disposable views in sled.
//!
//! One sled tree, `views`, holds (keys are byte strings):
//! - `v` + cooperative id → the cooperative's [`CoopState`] as JSON
//! - `x` + index (`sector`|`status`|`commune`) + `0x00` + value + `0x00` + cooperative id → empty
//! - `h` + cooperative id + `0x00` + version (u64 BE) → position (u64 BE) ‖ stored envelope bytes
//! - `q` + cooperative id → [`Quarantine`] as JSON, when its hash chain broke
//! - `m:checkpoint` → position (u64 BE) of the last applied event
//! - `m:summary` → the province [`Summary`] as JSON
//!
//! Every batch of events is written with one `apply_batch`, checkpoint included, so a crash
//! leaves the views exactly at some checkpoint. Events at or below the checkpoint are skipped,
//! so none is ever applied twice. [`Projection::digest`] hashes the whole tree in key order:
//! deleting the views and replaying gives the same digest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use relance_domain::{
    chain_hash, evolve, fold, CoopId, CoopState, Date, Event, Hash, Recorded, Status, Step, Summary,
};
use relance_log::{EventLog, LogError, StoredEvent};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

const CHECKPOINT_KEY: &[u8] = b"m:checkpoint";
const SUMMARY_KEY: &[u8] = b"m:summary";
/// sled's page cache for the views (its default, 1 GiB, dominated the projection's memory).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Most events applied in one sled batch.
pub const MAX_BATCH: usize = 2048;
/// Most cooperative views kept decoded in memory (a province has a few thousand; the national
/// register 35,000).
const STATE_CACHE_ENTRIES: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("projection storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("event at position {position} cannot be decoded: {detail}")]
    Decode { position: u64, detail: String },
    #[error("stored view cannot be read: {0}")]
    View(#[from] serde_json::Error),
    #[error("event log: {0}")]
    Log(#[from] LogError),
}

/// Filters of a list query; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub sector: Option<relance_domain::Sector>,
    pub status: Option<Status>,
    pub commune: Option<String>,
}

/// One page of a list query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<CoopState>,
    /// Cooperative id to pass back to get the next page; `None` on the last page.
    pub next: Option<String>,
    pub total: u64,
}

/// An event of a cooperative's history, with its retraction if one names it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    pub recorded: Recorded,
    pub retracted_by: Option<Retraction>,
}

/// Why a cooperative's events are no longer applied: the first event that broke its hash chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quarantine {
    pub version: u64,
    pub position: u64,
    pub event_id: String,
    pub reason: String,
}

fn quarantine_key(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(b'q');
    k.extend_from_slice(id.as_bytes());
    k
}

/// Whether `rec` is the next link of the chain whose head is `current`; why not otherwise.
fn chain_break(current: Option<&CoopState>, rec: &Recorded, computed: Hash) -> Option<String> {
    let env = &rec.envelope;
    if computed != env.hash {
        return Some(format!(
            "the event hashes to {computed}, not to its recorded hash {}",
            env.hash
        ));
    }
    let (version, head) = current.map_or((0, Hash::ZERO), |s| (s.version, s.last_hash));
    if env.version != version + 1 || env.prev_hash != head {
        return Some(format!(
            "version {} with prev_hash {} does not follow version {version} (hash {head})",
            env.version, env.prev_hash
        ));
    }
    None
}

/// Who retracted an event, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retraction {
    pub event_id: String,
    pub reason: String,
    pub principal: String,
    pub recorded_at_ms: i64,
}

/// The projection's views, readable from any thread while one task applies events.
pub struct Projection {
    db: sled::Db,
    tree: sled::Tree,
    summary: RwLock<Summary>,
    checkpoint: watch::Sender<u64>,
    /// Held while a batch is applied and while a digest is taken, so a digest is always the
    /// digest of exactly one checkpoint.
    apply_lock: Mutex<()>,
    /// The views last written, so neither a batch nor a `Get` decodes them from sled again
    /// (at most [`STATE_CACHE_ENTRIES`]; emptied when full). Written only after the batch
    /// that stored the same views, under `apply_lock`.
    states: Mutex<HashMap<CoopId, CoopState>>,
    /// Quarantined cooperatives (the `q` keys), read once at open.
    quarantined: Mutex<HashSet<CoopId>>,
}

/// An event decoded and hashed, ready to be applied (see [`Projection::prepare`]).
pub struct Prepared {
    recorded: Recorded,
    /// What the envelope hashes to (compared with its recorded `hash` when applied).
    computed: Hash,
    /// The stored bytes, kept as the history record.
    payload: Vec<u8>,
}

impl Prepared {
    fn new(recorded: Recorded, payload: Vec<u8>) -> Self {
        Self {
            computed: chain_hash(&recorded.envelope),
            recorded,
            payload,
        }
    }
}

/// A batch of events decoded and hashed off the thread that writes the views.
pub struct PreparedBatch(Vec<Prepared>);

impl PreparedBatch {
    /// Events already decoded (an audit export's): hashed, and encoded once for the history
    /// record, without decoding them again.
    pub fn from_recorded(events: Vec<Recorded>) -> Self {
        Self(
            events
                .into_iter()
                .map(|r| {
                    let payload = relance_proto::encode_envelope(&r.envelope);
                    Prepared::new(r, payload)
                })
                .collect(),
        )
    }
}

/// A past point of the history, for time travel: an event counts when it was recorded at or
/// before `recorded_at_ms` (or lies at or below `position`) and, with `business_date`, when
/// the fact's business date is on or before it. Retractions count by their recording alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AsOf {
    pub recorded_at_ms: Option<i64>,
    pub position: Option<u64>,
    pub business_date: Option<Date>,
}

impl AsOf {
    /// Whether the event was part of what was known at this point.
    pub fn includes(&self, rec: &Recorded) -> bool {
        let env = &rec.envelope;
        self.recorded_at_ms.is_none_or(|t| env.recorded_at_ms <= t)
            && self.position.is_none_or(|p| rec.position <= p)
            && match (self.business_date, env.event.business_date()) {
                (Some(b), Some(d)) => d <= b,
                _ => true,
            }
    }

    /// The state folded from the part of `history` known at this point.
    pub fn fold(&self, history: &[Recorded]) -> Option<CoopState> {
        let known: Vec<&Recorded> = history.iter().filter(|r| self.includes(r)).collect();
        fold(known.iter().copied())
    }
}

fn view_key(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(b'v');
    k.extend_from_slice(id.as_bytes());
    k
}

fn index_key(index: &str, value: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + index.len() + value.len() + id.len());
    k.push(b'x');
    k.extend_from_slice(index.as_bytes());
    k.push(0);
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

fn index_prefix(index: &str, value: &str) -> Vec<u8> {
    let mut k = index_key(index, value, "");
    k.shrink_to_fit();
    k
}

fn history_prefix(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + id.len());
    k.push(b'h');
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k
}

fn index_entries(s: &CoopState) -> [Vec<u8>; 3] {
    let id = s.id.as_str();
    [
        index_key("sector", s.sector.as_str(), id),
        index_key("status", s.status.as_str(), id),
        index_key("commune", &s.commune, id),
    ]
}

fn decode_stored(position: u64, payload: &[u8]) -> Result<Recorded, ProjectionError> {
    let envelope =
        relance_proto::decode_envelope(payload).map_err(|e| ProjectionError::Decode {
            position,
            detail: e.to_string(),
        })?;
    Ok(Recorded { position, envelope })
}

fn decode_history_value(v: &[u8]) -> Result<Recorded, ProjectionError> {
    let pos_bytes: [u8; 8] =
        v.get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or(ProjectionError::Decode {
                position: 0,
                detail: "short history record".into(),
            })?;
    let position = u64::from_be_bytes(pos_bytes);
    decode_stored(position, &v[8..])
}

impl Projection {
    /// Opens (or creates) the views in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Arc<Self>, ProjectionError> {
        let db = relance_log_sled::open_db_with_cache(dir.as_ref(), CACHE_BYTES)?;
        let tree = db.open_tree("views")?;
        let checkpoint = match tree.get(CHECKPOINT_KEY)? {
            Some(v) => v.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0),
            None => 0,
        };
        let summary = match tree.get(SUMMARY_KEY)? {
            Some(v) => serde_json::from_slice(&v)?,
            None => Summary::default(),
        };
        let (checkpoint, _) = watch::channel(checkpoint);
        let mut quarantined = HashSet::new();
        for kv in tree.scan_prefix([b'q']) {
            let (k, _) = kv?;
            if let Ok(id) = CoopId::parse(&String::from_utf8_lossy(&k[1..])) {
                quarantined.insert(id);
            }
        }
        Ok(Arc::new(Self {
            db,
            tree,
            summary: RwLock::new(summary),
            checkpoint,
            apply_lock: Mutex::new(()),
            states: Mutex::new(HashMap::new()),
            quarantined: Mutex::new(quarantined),
        }))
    }

    /// Position of the last applied event.
    pub fn checkpoint(&self) -> u64 {
        *self.checkpoint.borrow()
    }

    /// Waits until the checkpoint reaches `position`, at most `timeout`. Returns the checkpoint.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, u64> {
        let mut rx = self.checkpoint.subscribe();
        let reached = match tokio::time::timeout(timeout, rx.wait_for(|c| *c >= position)).await {
            Ok(Ok(c)) => Some(*c),
            _ => None,
        };
        reached.ok_or_else(|| self.checkpoint())
    }

    /// Applies stored events in position order; those at or below the checkpoint are skipped.
    pub fn apply(&self, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        self.apply_prepared(Self::prepare(events.to_vec())?)
    }

    /// Decodes and hashes events: the part of applying them that needs no view, so a follower
    /// can do it for the next batch while the previous one is written.
    pub fn prepare(events: Vec<StoredEvent>) -> Result<PreparedBatch, ProjectionError> {
        events
            .into_iter()
            .map(|e| {
                Ok(Prepared::new(
                    decode_stored(e.position, &e.payload)?,
                    e.payload,
                ))
            })
            .collect::<Result<_, _>>()
            .map(PreparedBatch)
    }

    /// The state before a batch, taken out of memory (the batch puts it back), else read from
    /// the stored view.
    fn take_state(&self, id: &CoopId) -> Result<Option<CoopState>, ProjectionError> {
        if let Some(s) = self.states.lock().map_err(|_| poisoned())?.remove(id) {
            return Ok(Some(s));
        }
        self.stored(id.as_str())
    }

    /// Applies prepared events in position order; those at or below the checkpoint are skipped.
    pub fn apply_prepared(&self, batch: PreparedBatch) -> Result<(), ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned())?;
        let start = self.checkpoint();
        let events: Vec<&Prepared> = batch
            .0
            .iter()
            .filter(|p| p.recorded.position > start)
            .collect();
        let Some(last) = events.last() else {
            return Ok(());
        };
        let last_position = last.recorded.position;
        // Each touched cooperative's index keys before the batch, and its state after each
        // event; the summary loses the states before the batch as they are taken.
        let mut old_keys: HashMap<CoopId, [Vec<u8>; 3]> = HashMap::new();
        let mut after: BTreeMap<CoopId, Option<CoopState>> = BTreeMap::new();
        let mut summary = self.summary.read().map_err(|_| poisoned())?.clone();
        // This batch's events of each cooperative, for a refold after a retraction.
        let mut pending: HashMap<CoopId, Vec<&Recorded>> = HashMap::new();
        let mut newly_quarantined: HashSet<CoopId> = HashSet::new();
        let quarantined = self.quarantined.lock().map_err(|_| poisoned())?.clone();
        let mut batch = sled::Batch::default();
        for prepared in events {
            let rec = &prepared.recorded;
            let id = &rec.envelope.cooperative_id;
            if quarantined.contains(id) || newly_quarantined.contains(id) {
                tracing::error!(cooperative = %id, position = rec.position, version = rec.envelope.version,
                    "event of a quarantined cooperative not applied");
                continue;
            }
            if !after.contains_key(id) {
                let current = self.take_state(id)?;
                summary.replace(current.as_ref(), None);
                old_keys.insert(
                    id.clone(),
                    current.as_ref().map(index_entries).unwrap_or_default(),
                );
                after.insert(id.clone(), current);
            }
            if let Some(reason) = chain_break(
                after.get(id).and_then(Option::as_ref),
                rec,
                prepared.computed,
            ) {
                tracing::error!(cooperative = %id, position = rec.position, version = rec.envelope.version,
                    %reason, "broken hash chain: cooperative quarantined, its events are no longer applied");
                let q = Quarantine {
                    version: rec.envelope.version,
                    position: rec.position,
                    event_id: rec.envelope.event_id.clone(),
                    reason,
                };
                batch.insert(quarantine_key(id.as_str()), serde_json::to_vec(&q)?);
                newly_quarantined.insert(id.clone());
                continue;
            }
            let current = after.remove(id).flatten();
            pending.entry(id.clone()).or_default().push(rec);
            let next = match evolve(current, rec) {
                Step::Next(s) => s,
                Step::Refold => {
                    let mut history = self.history_records(id.as_str())?;
                    history.extend(pending.get(id).into_iter().flatten().map(|r| (*r).clone()));
                    fold(&history)
                }
            };
            after.insert(id.clone(), next);
            let mut hkey = history_prefix(id.as_str());
            hkey.extend_from_slice(&rec.envelope.version.to_be_bytes());
            let mut value = Vec::with_capacity(8 + prepared.payload.len());
            value.extend_from_slice(&rec.position.to_be_bytes());
            value.extend_from_slice(&prepared.payload);
            batch.insert(hkey, value);
        }
        for (id, new) in &after {
            summary.replace(None, new.as_ref());
            // Only the index keys that change are written (most events change no indexed field).
            let was = old_keys.remove(id).unwrap_or_default();
            let new_keys = new.as_ref().map(index_entries).unwrap_or_default();
            for k in &was {
                if !k.is_empty() && !new_keys.contains(k) {
                    batch.remove(k.as_slice());
                }
            }
            for k in new_keys {
                if !k.is_empty() && !was.contains(&k) {
                    batch.insert(k, &[][..]);
                }
            }
            if let Some(new) = new {
                batch.insert(view_key(id.as_str()), serde_json::to_vec(new)?);
            }
        }
        batch.insert(SUMMARY_KEY, serde_json::to_vec(&summary)?);
        batch.insert(CHECKPOINT_KEY, &last_position.to_be_bytes()[..]);
        self.tree.apply_batch(batch)?;
        {
            let mut states = self.states.lock().map_err(|_| poisoned())?;
            if states.len() + after.len() > STATE_CACHE_ENTRIES {
                states.clear();
            }
            for (id, new) in after {
                match new {
                    Some(s) => states.insert(id, s),
                    None => states.remove(&id),
                };
            }
        }
        if !newly_quarantined.is_empty() {
            let mut q = self.quarantined.lock().map_err(|_| poisoned())?;
            let mut states = self.states.lock().map_err(|_| poisoned())?;
            for id in newly_quarantined {
                states.remove(&id);
                q.insert(id);
            }
        }
        *self.summary.write().map_err(|_| poisoned())? = summary;
        self.checkpoint.send_replace(last_position);
        Ok(())
    }

    /// Flushes the views to disk (the checkpoint is flushed with them).
    pub async fn flush(&self) -> Result<(), ProjectionError> {
        let tree = self.tree.clone();
        tokio::task::spawn_blocking(move || tree.flush())
            .await
            .map_err(|e| ProjectionError::Decode {
                position: 0,
                detail: format!("flush task: {e}"),
            })??;
        Ok(())
    }

    /// One cooperative's view.
    pub fn get(&self, id: &str) -> Result<Option<CoopState>, ProjectionError> {
        if let Some(s) = self.states.lock().map_err(|_| poisoned())?.get(id) {
            return Ok(Some(s.clone()));
        }
        self.stored(id)
    }

    /// One cooperative's view as stored.
    fn stored(&self, id: &str) -> Result<Option<CoopState>, ProjectionError> {
        match self.tree.get(view_key(id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Why a cooperative is quarantined (its hash chain broke), if it is.
    pub fn quarantine(&self, id: &str) -> Result<Option<Quarantine>, ProjectionError> {
        match self.tree.get(quarantine_key(id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Every quarantined cooperative, in id order.
    pub fn quarantined(&self) -> Result<Vec<(String, Quarantine)>, ProjectionError> {
        self.tree
            .scan_prefix([b'q'])
            .map(|kv| {
                let (k, v) = kv?;
                Ok((
                    String::from_utf8_lossy(&k[1..]).into_owned(),
                    serde_json::from_slice(&v)?,
                ))
            })
            .collect()
    }

    /// The province summary at the checkpoint.
    pub fn summary(&self) -> Summary {
        self.summary.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// A list with at most one filter: the total comes from the summary's counts and only the
    /// page is read from the index, so its cost is the page's, not the matches'.
    fn list_by_one_index(
        &self,
        filter: &Filter,
        page_size: usize,
        after: Option<&str>,
    ) -> Result<Option<Page>, ProjectionError> {
        let summary = self.summary.read().map_err(|_| poisoned())?;
        let (prefix, total) = match (filter.sector, filter.status, &filter.commune) {
            (None, None, None) => (vec![b'v'], summary.cooperatives),
            (Some(s), None, None) => (
                index_prefix("sector", s.as_str()),
                summary.by_sector.get(&s).copied().unwrap_or(0),
            ),
            (None, Some(s), None) => (
                index_prefix("status", s.as_str()),
                summary.by_status.get(&s).copied().unwrap_or(0),
            ),
            (None, None, Some(c)) => (
                index_prefix("commune", c),
                summary.by_commune.get(c).copied().unwrap_or(0),
            ),
            _ => return Ok(None),
        };
        drop(summary);
        let start = match after {
            Some(a) => {
                let mut k = prefix.clone();
                k.extend_from_slice(a.as_bytes());
                std::ops::Bound::Excluded(k)
            }
            None => std::ops::Bound::Included(prefix.clone()),
        };
        let mut items = Vec::new();
        let mut next = None;
        for kv in self.tree.range((start, std::ops::Bound::Unbounded)) {
            let (k, _) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            if items.len() == page_size {
                next = items.last().map(|v: &CoopState| v.id.to_string());
                break;
            }
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some(view) = self.get(&id)? {
                items.push(view);
            }
        }
        Ok(Some(Page { items, next, total }))
    }

    /// Cooperatives matching `filter`, in id order, `page_size` at a time after `after`.
    pub fn list(
        &self,
        filter: &Filter,
        page_size: usize,
        after: Option<&str>,
    ) -> Result<Page, ProjectionError> {
        if let Some(page) = self.list_by_one_index(filter, page_size, after)? {
            return Ok(page);
        }
        let candidates: Box<dyn Iterator<Item = Result<String, ProjectionError>>> = {
            let (prefix, strip) = if let Some(s) = filter.sector {
                let p = index_prefix("sector", s.as_str());
                let n = p.len();
                (p, n)
            } else if let Some(s) = filter.status {
                let p = index_prefix("status", s.as_str());
                let n = p.len();
                (p, n)
            } else if let Some(c) = &filter.commune {
                let p = index_prefix("commune", c);
                let n = p.len();
                (p, n)
            } else {
                (vec![b'v'], 1)
            };
            Box::new(self.tree.scan_prefix(prefix).map(move |kv| {
                let (k, _) = kv?;
                Ok(String::from_utf8_lossy(&k[strip..]).into_owned())
            }))
        };
        // Every filter is answered by its index key, so only the page's views are decoded; the
        // index scanned answers its own filter already.
        let mut checks: Vec<(&str, String)> = Vec::new();
        if let (Some(s), true) = (filter.status, filter.sector.is_some()) {
            checks.push(("status", s.as_str().to_owned()));
        }
        if let (Some(c), true) = (
            &filter.commune,
            filter.sector.is_some() || filter.status.is_some(),
        ) {
            checks.push(("commune", c.clone()));
        }
        let mut items = Vec::new();
        let mut total = 0u64;
        let mut next = None;
        for id in candidates {
            let id = id?;
            let mut matches = true;
            for (index, value) in &checks {
                if !self.tree.contains_key(index_key(index, value, &id))? {
                    matches = false;
                    break;
                }
            }
            if !matches {
                continue;
            }
            total += 1;
            if after.is_some_and(|a| id.as_str() <= a) {
                continue;
            }
            if items.len() < page_size {
                let Some(view) = self.get(&id)? else { continue };
                items.push(view);
            } else if next.is_none() {
                next = items.last().map(|v: &CoopState| v.id.to_string());
            }
        }
        Ok(Page { items, next, total })
    }

    /// A cooperative's stored events in version order.
    pub fn history_records(&self, id: &str) -> Result<Vec<Recorded>, ProjectionError> {
        self.tree
            .scan_prefix(history_prefix(id))
            .map(|kv| decode_history_value(&kv?.1))
            .collect()
    }

    /// A cooperative's events in version order, each with its retraction if any.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryItem>, ProjectionError> {
        let records = self.history_records(id)?;
        let retractions: HashMap<&str, Retraction> = records
            .iter()
            .filter_map(|r| match &r.envelope.event {
                Event::EventRetracted(e) => Some((
                    e.retracted_event_id.as_str(),
                    Retraction {
                        event_id: r.envelope.event_id.clone(),
                        reason: e.reason.clone(),
                        principal: r.envelope.actor.principal.clone(),
                        recorded_at_ms: r.envelope.recorded_at_ms,
                    },
                )),
                _ => None,
            })
            .collect();
        Ok(records
            .iter()
            .map(|r| HistoryItem {
                recorded: r.clone(),
                retracted_by: retractions.get(r.envelope.event_id.as_str()).cloned(),
            })
            .collect())
    }

    /// A cooperative's state as known at `as_of` (`None` when it did not exist then).
    pub fn state_at(&self, id: &str, as_of: &AsOf) -> Result<Option<CoopState>, ProjectionError> {
        Ok(as_of.fold(&self.history_records(id)?))
    }

    /// The province summary as known at `as_of`, and the position of the last event it counts.
    pub fn summary_at(&self, as_of: &AsOf) -> Result<(Summary, u64), ProjectionError> {
        let mut summary = Summary::default();
        let mut position = 0;
        let mut current: Option<CoopId> = None;
        let mut history: Vec<Recorded> = Vec::new();
        let mut flush = |history: &mut Vec<Recorded>, position: &mut u64| {
            let known: Vec<&Recorded> = history.iter().filter(|r| as_of.includes(r)).collect();
            *position = known.iter().map(|r| r.position).fold(*position, u64::max);
            if let Some(s) = fold(known.iter().copied()) {
                summary.add(&s);
            }
            history.clear();
        };
        for kv in self.tree.scan_prefix([b'h']) {
            let rec = decode_history_value(&kv?.1)?;
            if current.as_ref() != Some(&rec.envelope.cooperative_id) {
                flush(&mut history, &mut position);
                current = Some(rec.envelope.cooperative_id.clone());
            }
            history.push(rec);
        }
        flush(&mut history, &mut position);
        Ok((summary, position))
    }

    /// The head of every cooperative chain (id, version, position, hash) at the checkpoint,
    /// with the checkpoint, taken with no batch in between. Quarantined cooperatives are left
    /// out: their views stopped at their last good event.
    #[allow(clippy::type_complexity)]
    pub fn heads_at_checkpoint(
        &self,
    ) -> Result<(u64, Vec<(String, u64, u64, Hash)>), ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned())?;
        let mut heads = Vec::new();
        for kv in self.tree.scan_prefix([b'v']) {
            let (_, v) = kv?;
            let s: CoopState = serde_json::from_slice(&v)?;
            if self.quarantine(s.id.as_str())?.is_none() {
                heads.push((s.id.to_string(), s.version, s.last_position, s.last_hash));
            }
        }
        Ok((self.checkpoint(), heads))
    }

    /// [`digest`](Self::digest) and the checkpoint it was taken at, with no batch in between.
    pub fn digest_at_checkpoint(&self) -> Result<(String, u64), ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned())?;
        Ok((self.digest()?, self.checkpoint()))
    }

    /// SHA-256 over every key and value of the views in key order (lengths prefixed), hex.
    pub fn digest(&self) -> Result<String, ProjectionError> {
        let mut h = Sha256::new();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            h.update((k.len() as u64).to_be_bytes());
            h.update(&k);
            h.update((v.len() as u64).to_be_bytes());
            h.update(&v);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Bytes the projection's sled database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

fn poisoned() -> ProjectionError {
    ProjectionError::Decode {
        position: 0,
        detail: "projection lock poisoned".into(),
    }
}

/// First pause before following the log again after it became unavailable; doubled after
/// each failed attempt, up to [`MAX_REFOLLOW_BACKOFF`].
const REFOLLOW_BACKOFF: Duration = Duration::from_millis(100);
const MAX_REFOLLOW_BACKOFF: Duration = Duration::from_secs(5);
/// How often a follower that delivers nothing is checked against the log's head.
const STALL_CHECK: Duration = Duration::from_secs(3);

/// Follows `log` from the projection's checkpoint and applies events in batches until
/// `shutdown` turns true. When the log becomes unavailable (a NATS restart, a lost
/// connection), follows it again from the checkpoint, with a bounded backoff. Returns the
/// error that stopped it, if any (a corrupt event, a storage failure).
pub async fn run(
    projection: Arc<Projection>,
    log: Arc<dyn EventLog>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
    };
    tokio::pin!(stop);
    let mut backoff = REFOLLOW_BACKOFF;
    // The batch being written while the next one is read and decoded.
    let mut writing: Option<tokio::task::JoinHandle<Result<(), ProjectionError>>> = None;
    'follow: loop {
        let from = projection.checkpoint() + 1;
        tracing::info!(
            from,
            backend = log.backend(),
            "projection following the event log"
        );
        let interruption = match log.follow(from).await {
            Err(e) => e,
            Ok(stream) => {
                let mut stream = stream.ready_chunks(MAX_BATCH);
                // A follower can stall without an error (its server left in lame-duck mode,
                // a consumer lost in a leader change): when nothing arrives for a while but
                // the log has moved past the checkpoint, follow again.
                let mut watchdog = tokio::time::interval(STALL_CHECK);
                watchdog.reset();
                let mut at_last_check = projection.checkpoint();
                loop {
                    tokio::select! {
                        () = &mut stop => break 'follow,
                        _ = watchdog.tick() => {
                            let checkpoint = projection.checkpoint();
                            if checkpoint == at_last_check {
                                if let Ok(head) = log.last_position().await {
                                    if head > checkpoint {
                                        break LogError::Unavailable(format!(
                                            "the follower delivered nothing for {STALL_CHECK:?} while the log is at {head}"
                                        ));
                                    }
                                }
                            }
                            at_last_check = checkpoint;
                        }
                        chunk = stream.next() => {
                            let Some(chunk) = chunk else { break 'follow };
                            let mut events = Vec::with_capacity(chunk.len());
                            let mut failure = None;
                            for item in chunk {
                                match item {
                                    Ok(event) => events.push(event),
                                    Err(e) => {
                                        failure = Some(e);
                                        break;
                                    }
                                }
                            }
                            if !events.is_empty() {
                                // Decoding and hashing this batch overlaps the writing of
                                // the previous one.
                                let prepared = tokio::task::spawn_blocking(move || Projection::prepare(events))
                                    .await
                                    .map_err(join_failure)??;
                                finish_writing(&mut writing).await?;
                                let p = projection.clone();
                                writing = Some(tokio::task::spawn_blocking(move || p.apply_prepared(prepared)));
                                backoff = REFOLLOW_BACKOFF;
                            }
                            if let Some(e) = failure {
                                break e;
                            }
                        }
                    }
                }
            }
        };
        // Following again starts from the checkpoint: the batch in flight lands first.
        finish_writing(&mut writing).await?;
        match interruption {
            LogError::Unavailable(reason) => {
                tracing::warn!(
                    %reason,
                    checkpoint = projection.checkpoint(),
                    retry_in = ?backoff,
                    "the event log is unavailable; following it again from the checkpoint"
                );
                tokio::select! {
                    () = &mut stop => break 'follow,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_REFOLLOW_BACKOFF);
            }
            other => return Err(other.into()),
        }
    }
    finish_writing(&mut writing).await?;
    projection.flush().await?;
    Ok(())
}

fn join_failure(e: tokio::task::JoinError) -> ProjectionError {
    ProjectionError::Decode {
        position: 0,
        detail: format!("projection task: {e}"),
    }
}

/// Waits for the batch being written, if any, and returns its error.
async fn finish_writing(
    writing: &mut Option<tokio::task::JoinHandle<Result<(), ProjectionError>>>,
) -> Result<(), ProjectionError> {
    match writing.take() {
        Some(task) => task.await.map_err(join_failure)?,
        None => Ok(()),
    }
}
