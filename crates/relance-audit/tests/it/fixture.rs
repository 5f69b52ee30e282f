//! A history written by a released relance, kept forever: `tests/fixtures/v1-history.jsonl` was
//! exported (`relance audit export`) from a node of this release after recording every event
//! type on three cooperatives (halts with and without a decision reference, a retraction).
//! Every later release must still read it: the chains verify over the stored form, each event
//! survives the trip through the bytes the log stores, and the offline replay gives the digest
//! the live node printed (`relance audit digest`) when it was written.
//!
//! Never edit the fixture. When an event type gets a new schema version, this history is the
//! proof that events written before it still replay to the same state.

use relance_audit::{parse_line, replay, verify, Line, Until, VerifyOptions};
use relance_domain::{chain_hash, Event};

const FIXTURE: &[u8] = include_bytes!("../fixtures/v1-history.jsonl");

/// What the live node answered to `relance audit digest` at position 15, when the fixture was
/// written.
const LIVE_DIGEST: &str = "bdb50f97bbcf1ad4b23cff5490be0cd197503253a37b158e605eca602f01ba43";

fn events() -> Vec<(u64, relance_domain::Envelope)> {
    std::str::from_utf8(FIXTURE)
        .expect("UTF-8")
        .lines()
        .enumerate()
        .filter_map(
            |(i, l)| match parse_line(i + 1, l).expect("a line of the format") {
                Line::Event { position, envelope } => Some((position, envelope)),
                _ => None,
            },
        )
        .collect()
}

#[test]
fn the_released_history_still_verifies() {
    let report = verify(FIXTURE, &VerifyOptions::default(), &mut ()).expect("readable");
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!(
        (report.events, report.cooperatives, report.last_position),
        (15, 3, 15)
    );
}

#[test]
fn the_released_history_replays_to_the_digest_the_live_node_gave() {
    let replayed = replay(FIXTURE, Until::All, &mut ()).expect("replays");
    assert_eq!((replayed.events, replayed.position), (15, 15));
    assert_eq!(replayed.digest, LIVE_DIGEST);
}

#[test]
fn every_released_event_survives_the_bytes_the_log_stores_with_its_hash() {
    let events = events();
    let mut types: Vec<&str> = events.iter().map(|(_, e)| e.event.type_name()).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(
        types.len(),
        Event::TYPE_NAMES.len(),
        "every type: {types:?}"
    );
    for (position, envelope) in events {
        assert_eq!(envelope.schema_version, 1, "written by the v1 release");
        let stored = relance_proto::encode_envelope(&envelope);
        let back = relance_proto::decode_envelope(&stored).expect("decodes");
        assert_eq!(back, envelope, "position {position}");
        assert_eq!(chain_hash(&back), envelope.hash, "position {position}");
    }
}
