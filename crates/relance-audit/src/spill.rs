//! The histories of an export being replayed, kept beside the replay's views: each event's
//! stored form appended to a temporary file as it is read, with where every cooperative's
//! events and every position lie kept in memory (about 20 bytes an event). The replay's views
//! read histories from it as a node's views read them from the log (History, the refold after
//! a retraction, the digest), instead of writing a second copy of every event into sled. A
//! record is the embedded log's ([`Record`]), behind its length.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Mutex;

use relance_domain::{CoopId, Recorded};
use relance_log::{LogError, StoredEvent};
use relance_log_sled::{decode_record, Record};
use relance_projection::HistorySource;

/// Events read, spilled to a file, findable by cooperative and by position.
pub(crate) struct Spill {
    writer: Mutex<BufWriter<File>>,
    reader: Mutex<File>,
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    /// Position of every spilled event, increasing, and where its record starts.
    positions: Vec<u64>,
    offsets: Vec<u64>,
    /// Each cooperative's events, as indexes into `positions`, in version order.
    by_coop: HashMap<CoopId, Vec<u32>>,
    /// Bytes written so far.
    end: u64,
}

fn failed(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(format!("the replay's spilled histories: {e}"))
}

impl Spill {
    /// A spill into `file` (a fresh temporary file, opened for reading and writing).
    pub(crate) fn new(file: File) -> std::io::Result<Self> {
        Ok(Self {
            reader: Mutex::new(file.try_clone()?),
            writer: Mutex::new(BufWriter::with_capacity(1 << 20, file)),
            index: Mutex::new(Index::default()),
        })
    }

    /// Appends one event with its stored bytes (`payload`). Not readable until [`flush`].
    ///
    /// [`flush`]: Self::flush
    pub(crate) fn push(&self, rec: &Recorded, payload: &[u8]) -> Result<(), LogError> {
        let env = &rec.envelope;
        let record = Record {
            cooperative_id: env.cooperative_id.as_str(),
            event_id: &env.event_id,
            event_type: env.event.type_name(),
            request_id: &env.request_id,
            version: env.version,
            schema_version: env.schema_version,
            payload,
        }
        .encode();
        let mut writer = self.writer.lock().map_err(failed)?;
        writer
            .write_all(&(record.len() as u32).to_le_bytes())
            .and_then(|()| writer.write_all(&record))
            .map_err(failed)?;
        let mut index = self.index.lock().map_err(failed)?;
        let at = u32::try_from(index.positions.len())
            .map_err(|_| failed("more than 4,294,967,295 events"))?;
        let offset = index.end;
        index.positions.push(rec.position);
        index.offsets.push(offset);
        index
            .by_coop
            .entry(env.cooperative_id.clone())
            .or_default()
            .push(at);
        index.end += 4 + record.len() as u64;
        Ok(())
    }

    /// Makes every event pushed so far readable.
    pub(crate) fn flush(&self) -> Result<(), LogError> {
        self.writer.lock().map_err(failed)?.flush().map_err(failed)
    }

    /// The events at these indexes (into `positions`), read back.
    fn read(&self, offsets: &[u64], positions: &[u64]) -> Result<Vec<StoredEvent>, LogError> {
        let mut file = self.reader.lock().map_err(failed)?;
        let mut events = Vec::with_capacity(offsets.len());
        for (&offset, &position) in offsets.iter().zip(positions) {
            file.seek(SeekFrom::Start(offset)).map_err(failed)?;
            let mut len = [0u8; 4];
            file.read_exact(&mut len).map_err(failed)?;
            let mut record = vec![0u8; u32::from_le_bytes(len) as usize];
            file.read_exact(&mut record).map_err(failed)?;
            events.push(decode_record(position, &record)?);
        }
        Ok(events)
    }
}

impl HistorySource for Spill {
    fn cooperative(&self, id: &CoopId) -> Result<Vec<StoredEvent>, LogError> {
        let (offsets, positions): (Vec<u64>, Vec<u64>) = {
            let index = self.index.lock().map_err(failed)?;
            index
                .by_coop
                .get(id)
                .into_iter()
                .flatten()
                .map(|&i| (index.offsets[i as usize], index.positions[i as usize]))
                .unzip()
        };
        self.read(&offsets, &positions)
    }

    fn range(&self, from: u64, to: u64) -> Result<Vec<StoredEvent>, LogError> {
        let (offsets, positions) = {
            let index = self.index.lock().map_err(failed)?;
            let start = index.positions.partition_point(|&p| p < from);
            let end = index.positions.partition_point(|&p| p <= to);
            (
                index.offsets[start..end.max(start)].to_vec(),
                index.positions[start..end.max(start)].to_vec(),
            )
        };
        self.read(&offsets, &positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_line, Line};

    const FIXTURE: &str = include_str!("../tests/fixtures/v1-history.jsonl");

    /// What the log would give for `r`: the stored form the projection reads histories in.
    fn stored(r: &Recorded) -> StoredEvent {
        let env = &r.envelope;
        StoredEvent {
            position: r.position,
            cooperative_id: env.cooperative_id.clone(),
            version: env.version,
            event_id: env.event_id.clone(),
            event_type: env.event.type_name().to_owned(),
            schema_version: env.schema_version,
            request_id: env.request_id.clone(),
            payload: relance_proto::encode_envelope(env),
        }
    }

    /// The released history spilled reads back exactly as the log stores it: each
    /// cooperative's events in version order, and any range of positions in position order.
    #[test]
    fn spilled_events_read_back_by_cooperative_and_by_position() {
        let recorded: Vec<Recorded> = FIXTURE
            .lines()
            .enumerate()
            .filter_map(|(i, l)| match parse_line(i + 1, l) {
                Ok(Line::Event { position, envelope }) => Some(Recorded { position, envelope }),
                _ => None,
            })
            .collect();
        assert_eq!(recorded.len(), 15);
        let spill = Spill::new(tempfile::tempfile().expect("a temporary file")).expect("spill");
        for r in &recorded {
            spill
                .push(r, &relance_proto::encode_envelope(&r.envelope))
                .expect("push");
        }
        spill.flush().expect("flush");
        let mut coops: Vec<CoopId> = recorded
            .iter()
            .map(|r| r.envelope.cooperative_id.clone())
            .collect();
        coops.dedup();
        assert!(coops.len() > 1);
        for id in &coops {
            let expected: Vec<StoredEvent> = recorded
                .iter()
                .filter(|r| &r.envelope.cooperative_id == id)
                .map(stored)
                .collect();
            assert_eq!(spill.cooperative(id).expect("read"), expected, "{id}");
        }
        let within = |from: u64, to: u64| -> Vec<StoredEvent> {
            recorded
                .iter()
                .filter(|r| (from..=to).contains(&r.position))
                .map(stored)
                .collect()
        };
        for (from, to) in [(1, 15), (4, 9), (15, 40), (16, 40), (9, 4)] {
            assert_eq!(spill.range(from, to).expect("range"), within(from, to));
        }
        let unknown = CoopId::parse("NONE-1").expect("an id");
        assert!(spill.cooperative(&unknown).expect("read").is_empty());
    }
}
