//! Real envelopes (hash-chained per cooperative, encoded with `relance_proto::encode_envelope`)
//! and the headers relance's JetStream log writes with them.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context as _, Result};
use bytes::Bytes;
use relance_domain::{
    chain_hash, Actor, CoopId, CooperativeRegistered, Date, Envelope, Event, Hash,
    HeadcountReported, Sector, SCHEMA_VERSION,
};
use relance_log::AppendRequest;
use relance_log_nats::headers;

/// Stream and subjects of the catch-up rows (apart from relance's own `RELANCE_EVENTS`).
pub const CATCHUP_STREAM: &str = "BENCH_CATCHUP";
pub const CATCHUP_PREFIX: &str = "bench.catchup.coop";

const COMMUNES: &[&str] = &[
    "Benguérir",
    "Sidi Bou Othmane",
    "Skhour Rhamna",
    "Ras Ain Rhamna",
    "Jaafra",
    "Bouchane",
    "Labrikiyne",
    "Nzalat Laadam",
];

fn date(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).expect("a literal date")
}

pub fn coop_id(i: u64) -> String {
    format!("C{i:06}")
}

fn event_id(n: u64) -> String {
    let secs = 1_590_000_000 + n / 1000;
    let nanos = ((n % 1000) * 1_000_000) as u32;
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos)).to_string()
}

/// When the first generated event was recorded (Unix ms); event `n` is recorded `n` ms later.
pub const RECORDED_FROM_MS: i64 = 1_590_000_000_000;

/// Event number `n` of a cooperative at `version` (1 = its registration) after `prev`.
pub fn envelope(coop: &CoopId, index: u64, version: u64, prev: Hash, n: u64) -> Envelope {
    let registered_on = date(2010, 1, 1).add_days((index % 3000) as i32);
    let (event, occurred_on) = if version == 1 {
        let sector = Sector::ALL[(index as usize) % Sector::ALL.len()];
        (
            Event::CooperativeRegistered(CooperativeRegistered {
                name: format!("Coopérative {index}"),
                registry_court: "TPI Benguérir".into(),
                registry_number: format!("{index}/2010"),
                sector,
                activity: "élevage ovin".into(),
                commune: COMMUNES[(index as usize) % COMMUNES.len()].into(),
                members: 10 + (index % 40) as u32,
                employees: (index % 12) as u32,
                registered_on,
            }),
            registered_on,
        )
    } else {
        let as_of = date(2018, 1, 1).add_days((version % 1500) as i32);
        (
            Event::HeadcountReported(HeadcountReported {
                members: 10 + (version % 40) as u32,
                employees: (version % 12) as u32,
                as_of,
            }),
            as_of,
        )
    };
    let mut e = Envelope {
        event_id: event_id(n),
        cooperative_id: coop.clone(),
        version,
        recorded_at_ms: RECORDED_FROM_MS + n as i64,
        occurred_on,
        actor: Actor {
            principal: "bench".into(),
            organisation: "prefecture".into(),
        },
        request_id: format!("gen-{n}"),
        correlation_id: "bench".into(),
        schema_version: SCHEMA_VERSION,
        prev_hash: prev,
        hash: Hash::ZERO,
        event,
    };
    e.hash = chain_hash(&e);
    e
}

/// What relance's log would be asked to append for `e`.
pub fn append_request(e: &Envelope, payload: Vec<u8>) -> AppendRequest {
    AppendRequest {
        cooperative_id: e.cooperative_id.clone(),
        expected_version: e.version - 1,
        request_id: e.request_id.clone(),
        event_id: e.event_id.clone(),
        event_type: e.event.type_name().to_owned(),
        schema_version: e.schema_version,
        payload,
    }
}

/// A HeadcountReported envelope as the baselines' payload: the same size as relance's.
pub struct Sample {
    pub payload: Vec<u8>,
    pub headers: async_nats::HeaderMap,
}

impl Sample {
    pub fn new(coop: &str) -> Self {
        let id = CoopId::parse(coop).expect("bench cooperative ids are valid");
        let e = envelope(&id, 1, 2, Hash([7; 32]), 1);
        let payload = relance_proto::encode_envelope(&e);
        let headers = headers::event_headers(&append_request(&e, payload.clone()), e.version)
            .expect("bench headers are valid");
        Self { payload, headers }
    }
}

/// The catch-up stream's `events` envelopes over `coops` cooperatives, in order: round-robin
/// over the cooperatives, each chained to its cooperative's previous one.
pub fn catchup_envelopes(events: u64, coops: u64) -> impl Iterator<Item = Envelope> {
    let ids: Vec<CoopId> = (0..coops)
        .map(|i| CoopId::parse(&coop_id(i)).expect("valid id"))
        .collect();
    let mut last: Vec<(u64, Hash)> = vec![(0, Hash::ZERO); coops as usize];
    (0..events).map(move |n| {
        let c = (n % coops) as usize;
        let (v, prev) = last[c];
        let e = envelope(&ids[c], c as u64, v + 1, prev, n);
        last[c] = (v + 1, e.hash);
        e
    })
}

/// Appends the catch-up stream's `events` envelopes over `coops` cooperatives (the same ones
/// [`fill_stream`] publishes) to `log`, in batches, with progress.
pub async fn fill_log(log: &dyn relance_log::EventLog, events: u64, coops: u64) -> Result<()> {
    let mut envelopes = catchup_envelopes(events, coops);
    // Round-robin over the cooperatives: no two appends of one cooperative in a batch.
    let per_batch = coops.clamp(1, 1_000) as usize;
    let started = Instant::now();
    let mut reported = Instant::now();
    let mut n = 0;
    while n < events {
        let batch: Vec<AppendRequest> = envelopes
            .by_ref()
            .take(per_batch)
            .map(|e| {
                let payload = relance_proto::encode_envelope(&e);
                append_request(&e, payload)
            })
            .collect();
        n += batch.len() as u64;
        for r in log.append_batch(batch).await {
            r.map_err(|e| anyhow!("filling the embedded log: {e}"))?;
        }
        if reported.elapsed().as_secs() >= 3 {
            reported = Instant::now();
            eprintln!(
                "  filling the embedded log: {n}/{events} ({:.0}/s)",
                n as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Writes `events` events over `coops` cooperatives into the catch-up stream (relance's
/// headers and message ids, published raw with up to 1,024 acknowledgements in flight), and
/// the same events as an audit export at `export` when given. Returns the payload bytes.
pub async fn fill_stream(url: &str, events: u64, coops: u64, export: Option<&Path>) -> Result<u64> {
    // Creates the stream exactly as relance would (immutable, duplicate window).
    let mut config = relance_log_nats::JetStreamConfig::new(url);
    config.stream = CATCHUP_STREAM.into();
    config.subject_prefix = CATCHUP_PREFIX.into();
    relance_log_nats::JetStreamLog::connect(config)
        .await
        .map_err(|e| anyhow!("creating the catch-up stream: {e}"))?;
    let client = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(client);
    let mut out = match export {
        Some(p) => {
            let mut w = std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(p).context("creating the export")?,
            );
            relance_audit::write_line(
                &mut w,
                &relance_audit::Line::Export(relance_audit::ExportHeader {
                    format: relance_audit::FORMAT.into(),
                    from: 1,
                    to: 0,
                }),
            )?;
            Some(w)
        }
        None => None,
    };
    let mut inflight = VecDeque::with_capacity(1024);
    let mut bytes = 0u64;
    let started = Instant::now();
    let mut reported = Instant::now();
    for (n, e) in catchup_envelopes(events, coops).enumerate() {
        let n = n as u64;
        let payload = relance_proto::encode_envelope(&e);
        bytes += payload.len() as u64;
        let r = append_request(&e, Vec::new());
        let message = async_nats::jetstream::message::PublishMessage::build()
            .headers(headers::event_headers(&r, e.version).map_err(|e| anyhow!("{e}"))?)
            .message_id(headers::message_id(&e.cooperative_id, &e.request_id))
            .payload(Bytes::from(payload));
        let subject = format!("{CATCHUP_PREFIX}.{}", e.cooperative_id.as_str());
        if inflight.len() >= 1024 {
            let ack: async_nats::jetstream::context::PublishAckFuture =
                inflight.pop_front().expect("non-empty");
            ack.await.context("acknowledgement while filling")?;
        }
        inflight.push_back(js.send_publish(subject, message).await?);
        if let Some(w) = out.as_mut() {
            relance_audit::write_line(
                w,
                &relance_audit::Line::Event {
                    position: n + 1,
                    envelope: e,
                },
            )?;
        }
        if reported.elapsed().as_secs() >= 3 {
            reported = Instant::now();
            eprintln!(
                "  filling the catch-up stream: {n}/{events} ({:.0}/s)",
                n as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    while let Some(ack) = inflight.pop_front() {
        ack.await.context("acknowledgement while filling")?;
    }
    if let Some(mut w) = out {
        w.flush()?;
    }
    Ok(bytes)
}
