//! What the audit service reads at one checkpoint: every chain's head, the digest, and the
//! summary as known at a past point.

use relance_projection::{AsOf, ChainHead};

use crate::stream::realistic;
use crate::{expected_states, expected_summary, Views};

#[test]
fn heads_at_the_checkpoint_are_each_cooperatives_last_event() {
    let events = realistic().builder.into_events();
    let views = Views::replayed(&events);
    let heads = views.heads_at_checkpoint().expect("heads");
    let last = events.last().expect("a history").position;
    assert_eq!(heads.position, last);
    let expected: Vec<ChainHead> = expected_states(&events)
        .into_values()
        .map(|s| ChainHead {
            cooperative_id: s.id.to_string(),
            version: s.version,
            last_position: s.last_position,
            hash: s.last_hash,
        })
        .collect();
    assert_eq!(heads.chains, expected);
    assert_eq!(
        heads.chains.iter().map(|h| h.version).sum::<u64>(),
        events.len() as u64,
        "every event is counted in exactly one chain"
    );
}

#[test]
fn digest_at_the_checkpoint_is_the_digest_with_its_checkpoint() {
    let events = realistic().builder.into_events();
    let views = Views::replayed(&events);
    let at = views
        .digest_at_checkpoint()
        .expect("digest at the checkpoint");
    assert_eq!(at.digest, views.digest().expect("digest"));
    assert_eq!(at.position, views.checkpoint());
}

#[test]
fn summary_at_now_is_the_summary_and_before_the_first_event_is_empty() {
    let events = realistic().builder.into_events();
    let views = Views::replayed(&events);
    let now = views.summary_at(&AsOf::default()).expect("summary now");
    assert_eq!(now.summary, expected_summary(&expected_states(&events)));
    assert_eq!(now.position, views.checkpoint());
    let before = AsOf {
        position: Some(0),
        ..AsOf::default()
    };
    let then = views.summary_at(&before).expect("summary before any event");
    assert_eq!(then.summary, relance_domain::Summary::default());
    assert_eq!(then.position, 0);
}
