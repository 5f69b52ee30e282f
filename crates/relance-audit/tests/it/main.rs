//! relance-audit on hand-built histories: verify's findings (including what only a checkpoint
//! can catch), signatures, partial exports, replay by recorded time, and the projection's
//! quarantine of a cooperative whose chain breaks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod coverage;
mod fixture;
mod tree;

use relance_audit::{
    replay, verify, write_line, CheckpointBuilder, Damage, ExportHeader, Line, Report, SigningKey,
    Until, VerifyOptions, FORMAT,
};
use relance_domain::{
    chain_hash, Actor, CoopId, CooperativeRegistered, Date, Envelope, Event, Hash,
    HeadcountReported, Sector, SCHEMA_VERSION,
};
use relance_log::StoredEvent;
use relance_projection::Projection;

const DAY: i64 = 86_400_000;

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// The next envelope of a chain whose head is `prev` (None for a new cooperative).
fn next(coop: &str, prev: Option<&Envelope>, recorded: &str, members: u32) -> Envelope {
    let version = prev.map_or(1, |p| p.version + 1);
    let event = if version == 1 {
        Event::CooperativeRegistered(CooperativeRegistered {
            name: format!("Coopérative {coop}"),
            registry_court: "TPI Benguérir".into(),
            registry_number: "1/2011".into(),
            sector: Sector::Artisanat,
            activity: "couture et broderie".into(),
            commune: "Benguérir".into(),
            members,
            employees: 0,
            registered_on: date("2011-03-29"),
        })
    } else {
        Event::HeadcountReported(HeadcountReported {
            members,
            employees: 1,
            as_of: date(recorded),
        })
    };
    let mut env = Envelope {
        event_id: format!("{coop}-{version}"),
        cooperative_id: CoopId::parse(coop).unwrap(),
        version,
        recorded_at_ms: date(recorded).start_unix_ms() + DAY / 2,
        occurred_on: event.business_date().unwrap(),
        actor: Actor {
            principal: "m.najah".into(),
            organisation: "prefecture".into(),
        },
        request_id: format!("r-{coop}-{version}"),
        correlation_id: String::new(),
        schema_version: SCHEMA_VERSION,
        prev_hash: prev.map_or(Hash::ZERO, |p| p.hash),
        hash: Hash::ZERO,
        event,
    };
    env.hash = chain_hash(&env);
    env
}

/// Two cooperatives, A with 4 events and B with 2, interleaved; positions 1..=6.
fn history() -> Vec<(u64, Envelope)> {
    let a1 = next("A-1", None, "2020-03-02", 10);
    let b1 = next("B-1", None, "2020-03-02", 20);
    let a2 = next("A-1", Some(&a1), "2020-04-01", 11);
    let a3 = next("A-1", Some(&a2), "2020-05-01", 12);
    let b2 = next("B-1", Some(&b1), "2020-05-02", 21);
    let a4 = next("A-1", Some(&a3), "2020-06-01", 13);
    vec![a1, b1, a2, a3, b2, a4]
        .into_iter()
        .enumerate()
        .map(|(i, e)| (i as u64 + 1, e))
        .collect()
}

fn export(events: &[(u64, Envelope)], from: u64, key: Option<&SigningKey>) -> Vec<u8> {
    let mut out = Vec::new();
    write_line(
        &mut out,
        &Line::Export(ExportHeader {
            format: FORMAT.into(),
            from,
            to: 0,
        }),
    )
    .unwrap();
    let mut cp = CheckpointBuilder::default();
    for (position, envelope) in events {
        cp.add(*position, envelope);
        write_line(
            &mut out,
            &Line::Event {
                position: *position,
                envelope: envelope.clone(),
            },
        )
        .unwrap();
    }
    let mut cp = cp.finish();
    if let Some(key) = key {
        cp.sign(key);
    }
    write_line(&mut out, &Line::Checkpoint(cp)).unwrap();
    out
}

fn check(bytes: &[u8], options: &VerifyOptions) -> Report {
    verify(bytes, options, &mut ()).unwrap()
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn an_intact_signed_export_verifies_against_its_key() {
    let k = key(7);
    let bytes = export(&history(), 1, Some(&k));
    let report = check(
        &bytes,
        &VerifyOptions {
            trusted_key: Some(k.verifying_key()),
            ..Default::default()
        },
    );
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!(
        (
            report.events,
            report.cooperatives,
            report.signed_checkpoints
        ),
        (6, 2, 1)
    );
}

#[test]
fn an_event_appended_to_a_chain_is_caught_by_the_checkpoint_only() {
    let mut h = history();
    let cp_source = export(&h, 1, Some(&key(1)));
    let cp_line = String::from_utf8(cp_source)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    // A well-hashed, well-linked fifth event for A at position 7, after the signed checkpoint
    // (position 6) that the auditor kept; the export's own checkpoint line is dropped.
    let a4 = h[5].1.clone();
    let forged = next("A-1", Some(&a4), "2020-06-02", 99);
    h.push((7, forged));
    let text = String::from_utf8(export(&h, 1, None)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    let bytes = (lines.join("\n") + "\n").into_bytes();
    // Chains alone: intact.
    assert!(check(&bytes, &VerifyOptions::default()).intact());
    // Against the earlier checkpoint (position 6) A ended at version 4, and an event after
    // position 6 may be new: still intact.
    let Line::Checkpoint(cp) = relance_audit::parse_line(1, &cp_line).unwrap() else {
        panic!()
    };
    let mut options = VerifyOptions {
        checkpoints: vec![cp.clone()],
        trusted_key: Some(key(1).verifying_key()),
        allow_unsigned_tail: true,
        ..Default::default()
    };
    assert!(check(&bytes, &options).intact());
    // …but only when the auditor accepts an unsigned tail: position 7 is signed by nobody.
    options.allow_unsigned_tail = false;
    let report = check(&bytes, &options);
    assert_eq!(
        (report.findings[0].kind, report.findings[0].position),
        (Damage::UnsignedTail, 7),
        "{:?}",
        report.findings
    );
    options.allow_unsigned_tail = true;
    // The same forged event given position 6 (inside the checkpoint) is an insertion.
    let mut h2 = history();
    h2[5].0 = 5;
    h2[4].0 = 4;
    let a4 = h2[5].1.clone();
    h2.push((6, next("A-1", Some(&a4), "2020-06-02", 99)));
    let bytes = export(&h2, 1, None);
    let text = String::from_utf8(bytes).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    let report = check((lines.join("\n") + "\n").as_bytes(), &options);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == Damage::InsertedEvent && f.cooperative == "A-1" && f.version == 5),
        "{:?}",
        report.findings
    );
}

#[test]
fn an_edited_checkpoint_does_not_match_its_root() {
    let bytes = export(&history(), 1, None);
    let text = String::from_utf8(bytes).unwrap();
    let edited = text.replace("\"count\":6", "\"count\":5");
    let report = check(edited.as_bytes(), &VerifyOptions::default());
    assert_eq!(report.findings[0].kind, Damage::CheckpointMismatch);
    // Unsigned checkpoints fail when a trusted key is required.
    let report = check(
        text.as_bytes(),
        &VerifyOptions {
            trusted_key: Some(key(3).verifying_key()),
            ..Default::default()
        },
    );
    assert_eq!(report.findings[0].kind, Damage::BadCheckpointSignature);
}

#[test]
fn a_partial_export_verifies_from_where_it_starts() {
    let h = history();
    let tail: Vec<_> = h.iter().filter(|(p, _)| *p >= 3).cloned().collect();
    let report = check(&export(&tail, 3, None), &VerifyOptions::default());
    assert!(report.intact(), "{:?}", report.findings);
    // Without the header saying so, the chains do not start at version 1.
    let text = String::from_utf8(export(&tail, 3, None)).unwrap();
    let without_header: Vec<&str> = text.lines().skip(1).collect();
    let report = check(
        (without_header.join("\n") + "\n").as_bytes(),
        &VerifyOptions::default(),
    );
    assert_eq!(report.findings[0].kind, Damage::RemovedEvent);
}

#[test]
fn a_malformed_line_and_an_out_of_order_line_are_named() {
    let h = history();
    let mut text = String::from_utf8(export(&h, 1, None)).unwrap();
    text.insert_str(0, "{not json}\n");
    let report = check(text.as_bytes(), &VerifyOptions::default());
    assert_eq!(report.findings[0].kind, Damage::Malformed);
    assert_eq!(report.findings[0].line, 1);
    // B's registration (position 2) moved after A's second event (position 3): each chain is
    // intact, the stream order is not.
    let mut reordered = h.clone();
    reordered.swap(1, 2);
    let report = check(&export(&reordered, 1, None), &VerifyOptions::default());
    assert_eq!(
        report.findings[0].kind,
        Damage::OutOfOrder,
        "{:?}",
        report.findings
    );
}

#[test]
fn replay_by_recorded_time_keeps_what_was_recorded_by_then() {
    let bytes = export(&history(), 1, None);
    let all = replay(&bytes[..], Until::All, &mut ()).unwrap();
    assert_eq!(
        (all.events, all.position, all.summary.members),
        (6, 6, 13 + 21)
    );
    let april = replay(
        &bytes[..],
        Until::RecordedAt(date("2020-04-30").start_unix_ms()),
        &mut (),
    )
    .unwrap();
    assert_eq!(
        (april.events, april.position, april.summary.members),
        (3, 3, 11 + 20)
    );
    let by_position = replay(&bytes[..], Until::Position(3), &mut ()).unwrap();
    assert_eq!(by_position.digest, april.digest);
    assert_ne!(all.digest, april.digest);
}

fn stored(position: u64, envelope: &Envelope) -> StoredEvent {
    StoredEvent {
        position,
        cooperative_id: envelope.cooperative_id.clone(),
        version: envelope.version,
        event_id: envelope.event_id.clone(),
        event_type: envelope.event.type_name().into(),
        schema_version: envelope.schema_version,
        request_id: envelope.request_id.clone(),
        payload: relance_proto::encode_envelope(envelope),
    }
}

#[test]
fn the_projection_quarantines_a_cooperative_whose_chain_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let projection = Projection::open(dir.path()).unwrap();
    let mut h = history();
    // A's version 3 (position 4) was altered after hashing.
    if let Event::HeadcountReported(e) = &mut h[3].1.event {
        e.members = 500;
    }
    let events: Vec<StoredEvent> = h.iter().map(|(p, e)| stored(*p, e)).collect();
    // In two batches, with a restart between them: the break is found in the first, A's later
    // event comes in the second, after the quarantine was read back from disk.
    projection.apply(&events[..5]).unwrap();
    drop(projection);
    let projection = Projection::open(dir.path()).unwrap();
    projection.apply(&events[5..]).unwrap();
    let q = projection
        .quarantine("A-1")
        .unwrap()
        .expect("A is quarantined");
    assert_eq!((q.version, q.position), (3, 4));
    assert!(q.reason.contains("hashes to"), "{}", q.reason);
    // A stays at its last good event; B is unaffected; the checkpoint moved on.
    assert_eq!(projection.get("A-1").unwrap().unwrap().version, 2);
    assert_eq!(projection.get("B-1").unwrap().unwrap().version, 2);
    assert!(projection.quarantine("B-1").unwrap().is_none());
    assert_eq!(projection.checkpoint(), 6);
    assert_eq!(projection.quarantined().unwrap().len(), 1);
    // The Merkle tree is over the log: the altered event is a leaf like the others, so a proof
    // of what the log holds at position 4 can still be given.
    let leaves: Vec<[u8; 32]> = h
        .iter()
        .map(|(_, e)| relance_tlog::leaf_hash(&e.hash.0))
        .collect();
    let head = projection.tree_head().unwrap();
    assert_eq!(
        (head.size, head.root),
        (6, relance_tlog::root_from_leaf_hashes(&leaves))
    );
    assert_eq!(
        projection.inclusion_proof(4, 0).unwrap().leaf_hash,
        leaves[3]
    );

    // A version gap (an event missing from the log) quarantines too.
    let dir = tempfile::tempdir().unwrap();
    let projection = Projection::open(dir.path()).unwrap();
    let h = history();
    let gap: Vec<StoredEvent> = h
        .iter()
        .filter(|(p, _)| *p != 3)
        .map(|(p, e)| stored(*p, e))
        .collect();
    projection.apply(&gap).unwrap();
    let q = projection
        .quarantine("A-1")
        .unwrap()
        .expect("A is quarantined");
    assert_eq!((q.version, q.position), (3, 4));
    assert!(
        q.reason.contains("does not follow version 1"),
        "{}",
        q.reason
    );
}

/// An export longer than one parsing chunk (lines are parsed in chunks, split across threads):
/// findings still name the right lines, a malformed line among them included.
#[test]
fn findings_name_their_lines_in_an_export_parsed_in_parallel_chunks() {
    let mut events = Vec::new();
    let mut heads: Vec<Option<Envelope>> = vec![None; 50];
    for i in 0..20_000u64 {
        let k = (i % 50) as usize;
        let e = next(&format!("C-{k}"), heads[k].as_ref(), "2020-05-01", i as u32);
        heads[k] = Some(e.clone());
        events.push((i + 1, e));
    }
    // Position 12,345 is changed after hashing (line 12,346: the header is line 1).
    if let Event::HeadcountReported(h) = &mut events[12_344].1.event {
        h.members += 1;
    }
    let bytes = export(&events, 1, None);
    let mut text = String::from_utf8(bytes).unwrap();
    // Line 17,001 (position 17,000) becomes garbage.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[17_000] = "{not json".into();
    text = lines.join("\n");
    let report = check(text.as_bytes(), &VerifyOptions::default());
    assert_eq!(report.lines, 20_002);
    let found: Vec<(Damage, usize)> = report.findings.iter().map(|f| (f.kind, f.line)).collect();
    assert_eq!(found[0], (Damage::ChangedField, 12_346), "{found:?}");
    assert!(found.contains(&(Damage::Malformed, 17_001)), "{found:?}");
    let changed = &report.findings[0];
    assert_eq!(
        (changed.position, changed.cooperative.as_str()),
        (12_345, "C-44")
    );
}
