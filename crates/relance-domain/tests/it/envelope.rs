//! Envelopes: one per command, carrying the context, versioned and hash-chained.

use relance_domain::{
    canonical_bytes, chain_hash, decide, ActivityHalted, Command, Envelope, Hash, SCHEMA_VERSION,
};
use sha2::{Digest, Sha256};

use crate::*;

/// A cooperative with one event of every kind.
fn full_history() -> Scenario {
    given([
        registration().into_command(),
        halt().into_command(),
        reorientation().into_command(),
        authorization().into_command(),
        support().into_command(),
        channel().into_command(),
        resume().into_command(),
        headcount().into_command(),
        retraction("evt-6").into_command(),
        ActivityHalted {
            effective_on: date("2020-05-28"),
            ..halt()
        }
        .into_command(),
    ])
}

#[test]
fn each_command_yields_one_envelope_of_its_event_type() {
    let cases: Vec<(Scenario, Command)> = vec![
        (unregistered(), registration().into_command()),
        (registered(), halt().into_command()),
        (registered(), reorientation().into_command()),
        (registered(), authorization().into_command()),
        (registered(), support().into_command()),
        (registered(), channel().into_command()),
        (registered().and(halt()), resume().into_command()),
        (registered(), headcount().into_command()),
        (registered().and(halt()), retraction("evt-2").into_command()),
    ];
    let mut seen = Vec::new();
    for (scenario, cmd) in cases {
        let envelope = scenario.when(cmd.clone()).then_event(event_of(&cmd));
        assert_eq!(envelope.event.type_name(), cmd.event_type());
        assert_eq!(envelope.version, scenario.aggregate().version() + 1);
        seen.push(envelope.event.type_name());
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 9, "every event type once: {seen:?}");
}

#[test]
fn envelope_carries_the_context() {
    let scenario = registered();
    let outcome = scenario.when_by(support(), "OCP");
    let ctx = outcome.ctx.clone();
    let envelope = outcome.then_accepted();
    assert_eq!(envelope.event_id, "evt-2");
    assert_eq!(envelope.cooperative_id, coop_id(COOP));
    assert_eq!(envelope.request_id, ctx.request_id);
    assert_eq!(envelope.correlation_id, ctx.correlation_id);
    assert_eq!(envelope.recorded_at_ms, ctx.recorded_at_ms);
    assert_eq!(envelope.actor, actor("OCP"));
    assert_eq!(envelope.schema_version, SCHEMA_VERSION);
    assert_eq!(envelope.occurred_on, support().granted_on);
}

#[test]
fn occurred_on_is_the_business_date_and_today_for_a_retraction() {
    let scenario = registered().and(halt());
    assert_eq!(
        scenario.aggregate().history()[1].envelope.occurred_on,
        halt().effective_on
    );
    assert_eq!(
        scenario.aggregate().history()[0].envelope.occurred_on,
        date("2019-11-04")
    );
    let midnight = date("2020-06-03").start_unix_ms();
    let envelope = scenario
        .when_with(retraction("evt-2"), |ctx| ctx.recorded_at_ms = midnight + 5)
        .then_accepted();
    assert_eq!(envelope.occurred_on, date("2020-06-03"));
}

#[test]
fn versions_increase_by_one_and_hashes_chain() {
    let scenario = full_history();
    let history = scenario.aggregate().history();
    assert_eq!(history.len(), 10);
    assert_eq!(history[0].envelope.prev_hash, Hash::ZERO);
    let mut previous = Hash::ZERO;
    for (i, rec) in history.iter().enumerate() {
        let n = u64::try_from(i).expect("small") + 1;
        let env = &rec.envelope;
        assert_eq!(env.version, n);
        assert_eq!(rec.position, n);
        assert_eq!(env.event_id, format!("evt-{n}"));
        assert_eq!(env.prev_hash, previous, "event {n}");
        assert_eq!(env.hash, chain_hash(env), "event {n}");
        assert_ne!(env.hash, Hash::ZERO);
        previous = env.hash;
    }
    let state = scenario.state();
    assert_eq!(state.version, 10);
    assert_eq!(state.last_position, 10);
    assert_eq!(state.last_hash, previous);
    assert_eq!(scenario.aggregate().last_hash(), previous);
    assert_eq!(state.last_changed_ms, history[9].envelope.recorded_at_ms);
}

#[test]
fn the_next_envelope_links_to_the_last_one() {
    let scenario = full_history();
    let envelope = scenario.when(channel()).then_accepted();
    assert_eq!(envelope.version, 11);
    assert_eq!(envelope.prev_hash, scenario.aggregate().last_hash());
    assert_eq!(envelope.hash, chain_hash(&envelope));
}

#[test]
fn the_hash_is_sha256_of_prev_hash_and_canonical_bytes() {
    let scenario = full_history();
    for rec in scenario.aggregate().history() {
        let env = &rec.envelope;
        let mut h = Sha256::new();
        h.update(env.prev_hash.0);
        h.update(canonical_bytes(env));
        assert_eq!(Hash(h.finalize().into()), env.hash);
        let json: serde_json::Value =
            serde_json::from_slice(&canonical_bytes(env)).expect("canonical bytes are JSON");
        assert!(json.get("hash").is_none());
        assert_eq!(json["prev_hash"], env.prev_hash.to_hex());
        assert_eq!(json["event"]["type"], env.event.type_name());
    }
}

#[test]
fn the_hash_covers_every_field() {
    let env = full_history().aggregate().history()[1].envelope.clone();
    type Tamper = fn(&mut Envelope);
    let tampered: Vec<(&str, Tamper)> = vec![
        ("event_id", |e| e.event_id.push('x')),
        ("cooperative_id", |e| e.cooperative_id = coop_id("REH-0002")),
        ("version", |e| e.version += 1),
        ("recorded_at_ms", |e| e.recorded_at_ms += 1),
        ("occurred_on", |e| e.occurred_on = e.occurred_on.add_days(1)),
        ("actor", |e| e.actor.organisation.push('x')),
        ("request_id", |e| e.request_id.push('x')),
        ("correlation_id", |e| e.correlation_id.push('x')),
        ("schema_version", |e| e.schema_version += 1),
        ("prev_hash", |e| e.prev_hash = Hash([1; 32])),
        ("event", |e| {
            if let Event::ActivityHalted(h) = &mut e.event {
                h.workers_affected += 1;
            }
        }),
    ];
    for (field, tamper) in tampered {
        let mut changed = env.clone();
        tamper(&mut changed);
        assert_ne!(changed, env, "{field} was not changed");
        assert_ne!(
            chain_hash(&changed),
            env.hash,
            "{field} is not covered by the hash"
        );
    }
    let mut rehashed = env.clone();
    rehashed.hash = Hash([9; 32]);
    assert_eq!(
        chain_hash(&rehashed),
        env.hash,
        "the hash field itself is left out"
    );
}

#[test]
fn decide_is_deterministic() {
    let scenario = full_history();
    let cmd = channel().into_command();
    let ctx = scenario.context_for(&cmd);
    let first = decide(scenario.aggregate(), cmd.clone(), &ctx).expect("accepted");
    let second = decide(scenario.aggregate(), cmd, &ctx).expect("accepted");
    assert_eq!(first, second);
}

#[test]
fn envelopes_round_trip_through_json() {
    for rec in full_history().aggregate().history() {
        let json = serde_json::to_string(rec).expect("serialise");
        let back: Recorded = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(&back, rec);
        assert_eq!(chain_hash(&back.envelope), rec.envelope.hash);
    }
}

#[test]
fn an_earlier_request_is_found_by_its_id() {
    let scenario = full_history();
    let found = scenario
        .aggregate()
        .find_request("req-3")
        .expect("recorded");
    assert_eq!(found.envelope.event_id, "evt-3");
    assert_eq!(
        found.envelope.event,
        Event::ReorientationDeclared(reorientation())
    );
    assert!(scenario.aggregate().find_request("req-11").is_none());
}
