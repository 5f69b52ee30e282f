//! `Serving`: a wait for a position is answered by the views served, never by views switched
//! away from while it waited (their follower may still move them on until they are retired).

use std::time::Duration;

use relance_projection::Serving;

use crate::stream::realistic;
use crate::Views;

/// A wait that began on views A, switched to views B meanwhile: A reaching the position does
/// not end it; B reaching it does, and B is what it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_is_answered_by_the_views_served_not_by_views_switched_away_from() {
    let events = realistic().builder.into_events();
    let (old, new) = (Views::empty(), Views::empty());
    old.apply(&events[..1]).expect("apply");
    new.apply(&events[..1]).expect("apply");
    let serving = Serving::new(old.projection.clone());
    let waiting = {
        let serving = serving.clone();
        tokio::spawn(async move { serving.reach(2, Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    serving.replace(new.projection.clone());
    old.apply(&events[..2]).expect("the old views move on");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !waiting.is_finished(),
        "the views switched away from reached position 2, the views served did not"
    );
    new.apply(&events[..2]).expect("the served views move on");
    let answered = waiting.await.expect("join").expect("reached");
    assert!(std::sync::Arc::ptr_eq(&answered, &new.projection));
    assert_eq!(
        serving.wait_for(2, Duration::from_secs(1)).await,
        Ok(2),
        "the served views hold position 2"
    );
    assert_eq!(
        serving.reach(3, Duration::from_millis(300)).await.err(),
        Some(2),
        "a position not reached in time says where the views are"
    );
}
