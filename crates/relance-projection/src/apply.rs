//! Applying events: decoding and hashing them off the writing thread, then writing each batch
//! of views, indexes, summary, history, summary snapshot and checkpoint in one sled batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;

use relance_domain::{chain_hash, evolve, fold, CoopId, CoopState, Hash, Recorded, Step, Summary};
use relance_log::StoredEvent;

use crate::keys::{
    decode_stored, decode_view, encode_view, index_entries, poison_key, quarantine_key, view_key,
    CHECKPOINT_KEY, SUMMARY_KEY,
};
use crate::quarantine::{chain_break, Poison, Quarantine};
use crate::series::SeriesDelta;
use crate::snapshot::Applied;
use crate::{poisoned, Projection, ProjectionError, STATE_CACHE_ENTRIES};

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

/// One position of a batch: an event ready to be applied, or a message that is not one.
// Nearly every item is an event: boxing it would cost an allocation per event on the
// projection's hot path to save space on the rare poison item.
#[allow(clippy::large_enum_variant)]
enum Item {
    Event(Prepared),
    Poison(Poison),
}

impl Item {
    fn position(&self) -> u64 {
        match self {
            Item::Event(p) => p.recorded.position,
            Item::Poison(p) => p.position,
        }
    }
}

/// A batch of events decoded and hashed off the thread that writes the views.
#[derive(Default)]
pub struct PreparedBatch(Vec<Item>);

impl PreparedBatch {
    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The batch's events with their stored bytes, in position order (poison left out).
    pub fn events(&self) -> impl Iterator<Item = (&Recorded, &[u8])> {
        self.0.iter().filter_map(|i| match i {
            Item::Event(p) => Some((&p.recorded, p.payload.as_slice())),
            Item::Poison(_) => None,
        })
    }

    /// Appends `later`, whose events all follow this batch's.
    pub fn append(&mut self, later: PreparedBatch) {
        self.0.extend(later.0);
    }

    /// Events already decoded (an audit export's): hashed, and encoded once for the history
    /// record, without decoding them again.
    pub fn from_recorded(events: Vec<Recorded>) -> Self {
        Self(
            events
                .into_iter()
                .map(|r| {
                    let payload = relance_proto::encode_envelope(&r.envelope);
                    Item::Event(Prepared::new(r, payload))
                })
                .collect(),
        )
    }
}

impl Projection {
    /// Applies stored events in position order; those at or below the checkpoint are skipped.
    pub fn apply(&self, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        self.apply_prepared(Self::prepare(events.to_vec())?)
    }

    /// Decodes and hashes events: the part of applying them that needs no view, so a follower
    /// can do it for the next batch while the previous one is written. An event that is not a
    /// relance envelope, or whose envelope disagrees with where the log stored it, becomes
    /// poison: it is recorded and its cooperative quarantined when applied.
    pub fn prepare(events: Vec<StoredEvent>) -> Result<PreparedBatch, ProjectionError> {
        Ok(Self::prepare_followed(events.into_iter().map(Ok).collect()))
    }

    /// Like [`prepare`](Self::prepare), for what a follower delivered: events, and messages
    /// the log itself could not read as events.
    pub fn prepare_followed(items: Vec<Result<StoredEvent, Poison>>) -> PreparedBatch {
        PreparedBatch(
            items
                .into_iter()
                .map(|item| match item.and_then(prepare_one) {
                    Ok(p) => Item::Event(p),
                    Err(poison) => Item::Poison(poison),
                })
                .collect(),
        )
    }

    /// The state before a batch, taken out of memory (the batch puts it back), else read from
    /// the stored view.
    fn take_state(&self, id: &CoopId) -> Result<Option<CoopState>, ProjectionError> {
        let cached = self
            .states
            .lock()
            .map_err(|_| poisoned("cached views"))?
            .remove(id);
        match cached {
            Some(bytes) => Ok(Some(decode_view(&bytes)?)),
            None => self.stored(id.as_str()),
        }
    }

    /// Applies prepared events in position order; those at or below the checkpoint are skipped.
    pub fn apply_prepared(&self, batch: PreparedBatch) -> Result<(), ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned("apply"))?;
        let start = self.checkpoint();
        let items: Vec<&Item> = batch.0.iter().filter(|i| i.position() > start).collect();
        let Some(last) = items.last() else {
            return Ok(());
        };
        let last_position = last.position();
        let leaves = tree_leaves(&items);
        // Each touched cooperative's index keys before the batch, and its state after each
        // event; the summary loses the states before the batch as they are taken.
        let mut old_keys: HashMap<CoopId, [Vec<u8>; 3]> = HashMap::new();
        let mut after: BTreeMap<CoopId, Option<CoopState>> = BTreeMap::new();
        let mut summary = self
            .summary
            .read()
            .map_err(|_| poisoned("summary"))?
            .clone();
        // This batch's events of each cooperative, for a refold after a retraction.
        let mut pending: HashMap<CoopId, Vec<&Recorded>> = HashMap::new();
        let mut newly_quarantined: HashSet<CoopId> = HashSet::new();
        let quarantined = self
            .quarantined
            .lock()
            .map_err(|_| poisoned("quarantined set"))?
            .clone();
        let mut series = SeriesDelta::default();
        let mut batch = sled::Batch::default();
        let mut poison = 0;
        let mut applied = Applied::default();
        for item in items {
            let prepared = match item {
                Item::Event(prepared) => prepared,
                Item::Poison(p) => {
                    let known =
                        |id: &CoopId| quarantined.contains(id) || newly_quarantined.contains(id);
                    if let Some(id) = record_poison(&mut batch, p, known)? {
                        newly_quarantined.insert(id);
                    }
                    poison += 1;
                    continue;
                }
            };
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
                if let Some(c) = &current {
                    series.change(c, -1);
                }
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
                    let mut history = self.history_to(id, start)?;
                    history.extend(pending.get(id).into_iter().flatten().map(|r| (*r).clone()));
                    fold(&history)
                }
            };
            after.insert(id.clone(), next);
            self.histories.record(&mut batch, rec, &prepared.payload);
            applied.saw(rec);
        }
        let written = write_views(&mut batch, &after, &mut old_keys, &mut summary)?;
        for s in after.values().flatten() {
            series.change(s, 1);
        }
        series.write(&self.tree, &mut batch)?;
        batch.insert(SUMMARY_KEY, serde_json::to_vec(&summary)?);
        let lost = pending.keys().any(|id| matches!(after.get(id), Some(None)));
        let tracking = self.track(&mut batch, &applied, lost, last_position, &summary)?;
        let mut merkle = self
            .merkle
            .lock()
            .map_err(|_| poisoned("Merkle tree"))?
            .clone();
        crate::merkle::extend(&mut merkle, &leaves, &self.tree, &mut batch)?;
        batch.insert(CHECKPOINT_KEY, &last_position.to_be_bytes()[..]);
        self.tree.apply_batch(batch)?;
        self.keep_tracking(tracking)?;
        *self.merkle.lock().map_err(|_| poisoned("Merkle tree"))? = merkle;
        self.remember(written, newly_quarantined)?;
        self.poison_count
            .fetch_add(poison, std::sync::atomic::Ordering::Relaxed);
        *self.summary.write().map_err(|_| poisoned("summary"))? = summary;
        self.checkpoint.send_replace(last_position);
        Ok(())
    }

    /// Keeps the views just written in memory, as written, and forgets those of newly
    /// quarantined cooperatives (their views stopped at their last good event).
    fn remember(
        &self,
        written: Vec<(CoopId, Option<sled::IVec>)>,
        newly_quarantined: HashSet<CoopId>,
    ) -> Result<(), ProjectionError> {
        {
            let mut states = self.states.lock().map_err(|_| poisoned("cached views"))?;
            if states.len() + written.len() > STATE_CACHE_ENTRIES {
                states.clear();
            }
            for (id, new) in written {
                match new {
                    Some(s) => states.insert(id, s),
                    None => states.remove(&id),
                };
            }
            self.states_epoch.fetch_add(1, Ordering::SeqCst);
        }
        if !newly_quarantined.is_empty() {
            let mut q = self
                .quarantined
                .lock()
                .map_err(|_| poisoned("quarantined set"))?;
            let mut states = self.states.lock().map_err(|_| poisoned("cached views"))?;
            for id in newly_quarantined {
                states.remove(&id);
                q.insert(id);
            }
            self.states_epoch.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Decodes and hashes one stored event; poison when it is not a relance envelope or when the
/// envelope disagrees with where and how the log stored it.
fn prepare_one(e: StoredEvent) -> Result<Prepared, Poison> {
    let poison = |reason: String| Poison {
        position: e.position,
        cooperative_id: Some(e.cooperative_id.as_str().to_owned()),
        reason,
    };
    let recorded = decode_stored(e.position, &e.payload)
        .map_err(|err| poison(format!("not a relance envelope: {err}")))?;
    let env = &recorded.envelope;
    let mismatch = if env.cooperative_id != e.cooperative_id {
        Some(format!(
            "the envelope is for cooperative {}",
            env.cooperative_id
        ))
    } else if env.version != e.version {
        Some(format!(
            "the envelope carries version {}, the log {}",
            env.version, e.version
        ))
    } else if env.event_id != e.event_id {
        Some(format!(
            "the envelope carries event {}, the log {}",
            env.event_id, e.event_id
        ))
    } else {
        None
    };
    match mismatch {
        Some(m) => Err(poison(format!(
            "stored under cooperative {}, but {m}",
            e.cooperative_id
        ))),
        None => Ok(Prepared::new(recorded, e.payload)),
    }
}

/// Writes the record of a poison message into `batch`, and the quarantine of its cooperative
/// when it names one that `already` does not hold; returns the newly quarantined cooperative.
fn record_poison(
    batch: &mut sled::Batch,
    p: &Poison,
    already: impl Fn(&CoopId) -> bool,
) -> Result<Option<CoopId>, ProjectionError> {
    tracing::error!(position = p.position, cooperative = ?p.cooperative_id, reason = %p.reason,
        "poison message: not a relance event; recorded and skipped, its cooperative quarantined");
    batch.insert(poison_key(p.position), serde_json::to_vec(p)?);
    let Some(id) = p
        .cooperative_id
        .as_deref()
        .and_then(|c| CoopId::parse(c).ok())
    else {
        return Ok(None);
    };
    if already(&id) {
        return Ok(None);
    }
    let q = Quarantine {
        version: 0,
        position: p.position,
        event_id: String::new(),
        reason: p.reason.clone(),
    };
    batch.insert(quarantine_key(id.as_str()), serde_json::to_vec(&q)?);
    Ok(Some(id))
}

/// Writes into `batch` the views in `after`, with only the index keys that changed from
/// `old_keys`, and adds their contributions to `summary`.
fn write_views(
    batch: &mut sled::Batch,
    after: &BTreeMap<CoopId, Option<CoopState>>,
    old_keys: &mut HashMap<CoopId, [Vec<u8>; 3]>,
    summary: &mut Summary,
) -> Result<Vec<(CoopId, Option<sled::IVec>)>, ProjectionError> {
    let mut written = Vec::with_capacity(after.len());
    for (id, new) in after {
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
        let bytes = match new {
            Some(new) => {
                let bytes = sled::IVec::from(encode_view(new)?);
                batch.insert(view_key(id.as_str()), bytes.clone());
                Some(bytes)
            }
            None => None,
        };
        written.push((id.clone(), bytes));
    }
    Ok(written)
}

/// Every position is a leaf of the Merkle tree: an event's hash, or the zero hash for a message
/// that is not a relance event (docs/audit.md).
fn tree_leaves(items: &[&Item]) -> Vec<(u64, Hash)> {
    items
        .iter()
        .map(|i| match i {
            Item::Event(p) => (p.recorded.position, p.recorded.envelope.hash),
            Item::Poison(p) => (p.position, Hash::ZERO),
        })
        .collect()
}
