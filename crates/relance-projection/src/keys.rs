//! The sled key layout of the views, and the encoding of their history records.
//!
//! One sled tree, `views`, holds (keys are byte strings):
//! - `v` + cooperative id → the cooperative's [`CoopState`], encoded with postcard (compact,
//!   fields in order; the digest hashes it as JSON, see `digest`)
//! - `x` + index (`sector`|`status`|`commune`) + `0x00` + value + `0x00` + cooperative id → empty
//! - `h` + cooperative id + `0x00` + version (u64 BE) → position (u64 BE) ‖ stored envelope bytes,
//!   only in views that keep histories themselves (`Projection::open`); a node's views read
//!   them from the log instead and are marked `m:layout` = `history-in-log` (`history` module)
//! - `q` + cooperative id → [`Quarantine`](crate::Quarantine) as JSON, when its hash chain broke
//!   or a message under its subject was not a relance event
//! - `p` + position (u64 BE) → [`Poison`](crate::Poison) as JSON: a message that is not a
//!   relance event
//! - `d` + business day (days since 1970-01-01 as i32, sign bit flipped, BE) → six i64 BE:
//!   the day's counters (`series`)
//! - `T` + tile level (u8) + tile index (u64 BE) → up to 16 hashes of the Merkle tree (`merkle`)
//! - `m:tree` → the Merkle tree's compact state (size and peaks)
//! - `m:checkpoint` → position (u64 BE) of the last applied event
//! - `m:summary` → the province [`Summary`](relance_domain::Summary) as JSON
//! - `s` + position (u64 BE) → a summary snapshot's mark, postcard: the last event it counts,
//!   the latest recording time of those, the earliest of those since the previous snapshot
//! - `S` + position (u64 BE) → the province summary at that position, postcard
//! - `m:snapshots` → the running totals since the last snapshot, postcard (`s`, `S` and
//!   `m:snapshots` only in views over the log, and not in the digest: `snapshot` module)

use relance_domain::{CoopState, Date, Recorded};

use crate::ProjectionError;

/// The position of the last applied event.
pub(crate) const CHECKPOINT_KEY: &[u8] = b"m:checkpoint";
/// The province summary.
pub(crate) const SUMMARY_KEY: &[u8] = b"m:summary";

/// The first byte of the day counters' keys.
const SERIES_PREFIX: u8 = b'd';

/// The counters of one business day; keys sort by day.
pub(crate) fn series_key(day: Date) -> Vec<u8> {
    let n = (day.days() as u32) ^ 0x8000_0000;
    let mut k = vec![SERIES_PREFIX];
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// Where the day counters start.
pub(crate) fn series_prefix() -> Vec<u8> {
    vec![SERIES_PREFIX]
}

/// The day of a counters key.
pub(crate) fn series_day(k: &[u8]) -> Option<Date> {
    let b: [u8; 4] = k.get(1..5)?.try_into().ok()?;
    (k.len() == 5 && k[0] == SERIES_PREFIX)
        .then(|| Date::from_unix_ms(0).add_days((u32::from_be_bytes(b) ^ 0x8000_0000) as i32))
}

/// Why a cooperative is quarantined.
pub(crate) fn quarantine_key(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(b'q');
    k.extend_from_slice(id.as_bytes());
    k
}

/// A message at `position` that is not a relance event.
pub(crate) fn poison_key(position: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(b'p');
    k.extend_from_slice(&position.to_be_bytes());
    k
}

/// A cooperative's view.
pub(crate) fn view_key(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(b'v');
    k.extend_from_slice(id.as_bytes());
    k
}

/// A view as stored: postcard (a third of JSON's bytes, and cheaper to write).
pub(crate) fn encode_view(state: &CoopState) -> Result<Vec<u8>, ProjectionError> {
    postcard::to_allocvec(state).map_err(ProjectionError::ViewBytes)
}

/// A stored view, decoded.
pub(crate) fn decode_view(bytes: &[u8]) -> Result<CoopState, ProjectionError> {
    postcard::from_bytes(bytes).map_err(ProjectionError::ViewBytes)
}

/// One index entry: the cooperative `id` has `value` in `index`.
pub(crate) fn index_key(index: &str, value: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + index.len() + value.len() + id.len());
    k.push(b'x');
    k.extend_from_slice(index.as_bytes());
    k.push(0);
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Every entry of `index` with `value`.
pub(crate) fn index_prefix(index: &str, value: &str) -> Vec<u8> {
    let mut k = index_key(index, value, "");
    k.shrink_to_fit();
    k
}

/// Every history record of a cooperative, in version order.
pub(crate) fn history_prefix(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + id.len());
    k.push(b'h');
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k
}

/// The index entries of a view.
pub(crate) fn index_entries(s: &CoopState) -> [Vec<u8>; 3] {
    let id = s.id.as_str();
    [
        index_key("sector", s.sector.as_str(), id),
        index_key("status", s.status.as_str(), id),
        index_key("commune", &s.commune, id),
    ]
}

/// The history record of a cooperative's event `version`.
pub(crate) fn history_key(id: &str, version: u64) -> Vec<u8> {
    let mut k = history_prefix(id);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// A history record: the event's position, then its stored envelope bytes.
pub(crate) fn history_value(position: u64, payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + payload.len());
    value.extend_from_slice(&position.to_be_bytes());
    value.extend_from_slice(payload);
    value
}

/// An event as stored in the log (or in a history record): its envelope, decoded.
pub(crate) fn decode_stored(position: u64, payload: &[u8]) -> Result<Recorded, ProjectionError> {
    let envelope =
        relance_proto::decode_envelope(payload).map_err(|e| ProjectionError::Decode {
            position,
            detail: e.to_string(),
        })?;
    Ok(Recorded { position, envelope })
}

/// A history record, decoded (see [`history_value`]).
pub(crate) fn decode_history_value(v: &[u8]) -> Result<Recorded, ProjectionError> {
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
