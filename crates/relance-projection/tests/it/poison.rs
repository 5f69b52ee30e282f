//! Poison: stored messages that are not relance events are recorded at their position,
//! quarantine the cooperative they were stored under, and every other cooperative goes on
//! being projected.

use relance_domain::CoopId;
use relance_log::StoredEvent;

use crate::stream::realistic;
use crate::{expected_states, expected_summary, open, reopen};

/// `like`, at `position` under cooperative `coop`, with `payload`.
fn stored_under(position: u64, coop: &str, like: &StoredEvent, payload: Vec<u8>) -> StoredEvent {
    StoredEvent {
        position,
        cooperative_id: CoopId::parse(coop).expect("valid id"),
        payload,
        ..like.clone()
    }
}

#[test]
fn poison_is_recorded_its_cooperative_quarantined_and_the_others_projected() {
    let events = realistic().builder.into_events();
    let half = events.len() / 2;
    // The genuine events, with bytes that are no envelope at half + 1 and, at the end, the
    // first event's envelope stored under another cooperative.
    let mut genuine = Vec::new();
    let mut log = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if i == half {
            log.push(stored_under(
                half as u64 + 1,
                "ZZZ-9",
                e,
                vec![0xff, 0xff, 0x01],
            ));
        }
        let shifted = StoredEvent {
            position: e.position + u64::from(i >= half),
            ..e.clone()
        };
        genuine.push(shifted.clone());
        log.push(shifted);
    }
    let end = events.len() as u64 + 2;
    log.push(stored_under(
        end,
        "ZZZ-8",
        &events[0],
        events[0].payload.clone(),
    ));

    let dir = tempfile::tempdir().expect("temporary directory");
    let projection = open(dir.path());
    for batch in log.chunks(5) {
        projection
            .apply(batch)
            .expect("poison does not stop the projection");
    }
    assert_eq!(projection.checkpoint(), end, "past the last poison");
    for id in ["ZZZ-9", "ZZZ-8"] {
        let q = projection
            .quarantine(id)
            .expect("read")
            .unwrap_or_else(|| panic!("{id} is quarantined"));
        assert!(q.describe().contains("is not a relance event"), "{q:?}");
        assert!(projection.get(id).expect("read").is_none());
    }
    let poison = projection.poison().expect("read");
    assert_eq!(
        poison.iter().map(|p| p.position).collect::<Vec<_>>(),
        [half as u64 + 1, end]
    );
    assert_eq!(poison[1].cooperative_id.as_deref(), Some("ZZZ-8"));
    assert!(
        poison[1].reason.contains("the envelope is for cooperative"),
        "{poison:?}"
    );
    drop(projection);

    let projection = reopen(dir.path());
    assert_eq!(projection.poison_count(), 2);
    assert_eq!(projection.quarantined().expect("read").len(), 2);
    assert_eq!(projection.checkpoint(), end);
    // Every genuine cooperative's view, and the summary, as if the poison were not there.
    let states = expected_states(&genuine);
    assert!(states.len() > 2);
    for (id, state) in &states {
        assert_eq!(
            projection.get(id).expect("read").as_ref(),
            Some(state),
            "{id}"
        );
    }
    assert_eq!(projection.summary(), expected_summary(&states));
}
