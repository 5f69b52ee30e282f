//! Group commit: appends written together as one atomic batch, a refused member answered on
//! its own while the others are stored, and servers or settings without atomic batches.

use relance_log::conformance::request;
use relance_log::{EventLog, LogError};
use relance_log_nats::{setup, JetStreamConfig};

use crate::server::{current_binary, legacy_binary, NatsServer, LEGACY_MISSING};
use crate::{connect, coop, STREAM};

async fn plain(server: &NatsServer) -> async_nats::jetstream::Context {
    let client = async_nats::connect(server.url())
        .await
        .expect("plain connect");
    async_nats::jetstream::new(client)
}

/// The default configuration with group commit `auto`.
fn grouping(server: &NatsServer) -> JetStreamConfig {
    JetStreamConfig {
        group_commit: relance_log_nats::GroupCommit::Auto,
        ..JetStreamConfig::new(server.url())
    }
}

/// The `Nats-Batch-Id` header stored with the message at `position`, if any.
async fn batch_of(js: &async_nats::jetstream::Context, position: u64) -> Option<String> {
    let stream = js.get_stream(STREAM).await.expect("stream");
    let message = stream.direct_get(position).await.expect("direct get");
    message
        .headers
        .get("Nats-Batch-Id")
        .map(|v| v.as_str().to_owned())
}

#[tokio::test]
async fn appends_waiting_together_are_stored_as_one_batch() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(grouping(&server)).await;
    assert!(log.atomic_batch(), "a current server takes atomic batches");
    let group = ["REH-1", "REH-2", "REH-3", "REH-4"]
        .iter()
        .map(|c| request(c, 0, "r1"))
        .collect();
    let results = log.append_together(group).await;
    let appended: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every member is stored"))
        .collect();
    for (i, a) in appended.iter().enumerate() {
        assert_eq!(a.version, 1);
        assert!(!a.duplicate);
        assert_eq!(a.position, appended[0].position + i as u64, "consecutive");
    }
    let js = plain(&server).await;
    let first = batch_of(&js, appended[0].position).await;
    assert!(first.is_some(), "stored by an atomic batch");
    for a in &appended {
        assert_eq!(batch_of(&js, a.position).await, first, "one batch");
    }
    for c in ["REH-1", "REH-2", "REH-3", "REH-4"] {
        let events = log.read_cooperative(&coop(c)).await.expect("read");
        assert_eq!(events.len(), 1, "{c}");
    }
    // The heads the batch left behind are the ones the next appends expect.
    let next = log
        .append_together(vec![request("REH-1", 1, "r2"), request("REH-2", 1, "r2")])
        .await;
    assert_eq!(next[0].as_ref().map(|a| a.version), Ok(2));
    assert_eq!(next[1].as_ref().map(|a| a.version), Ok(2));
}

/// One member of a group expects a version its cooperative has left, another repeats a
/// request id already stored: the server refuses the batch as a whole, and each member is
/// answered with its own outcome; nothing is stored twice.
#[tokio::test]
async fn a_refused_append_inside_a_group_does_not_sink_the_others() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(grouping(&server)).await;
    log.append(request("REH-2", 0, "earlier"))
        .await
        .expect("REH-2 at version 1");
    let first = log
        .append(request("REH-4", 0, "same"))
        .await
        .expect("REH-4 at version 1");

    let results = log
        .append_together(vec![
            request("REH-1", 0, "a"),
            request("REH-2", 0, "stale"),
            request("REH-3", 0, "c"),
            request("REH-4", 0, "same"),
        ])
        .await;
    assert_eq!(results.len(), 4);
    let one = results[0].as_ref().expect("REH-1 acknowledged");
    assert_eq!((one.version, one.duplicate), (1, false));
    assert_eq!(
        results[1],
        Err(LogError::Conflict {
            cooperative_id: coop("REH-2"),
            expected: 0,
            actual: 1
        })
    );
    let three = results[2].as_ref().expect("REH-3 acknowledged");
    assert_eq!((three.version, three.duplicate), (1, false));
    let again = results[3].as_ref().expect("REH-4 answered");
    assert!(again.duplicate, "the repeated request id is a duplicate");
    assert_eq!(again.position, first.position);

    for (c, count) in [("REH-1", 1), ("REH-2", 1), ("REH-3", 1), ("REH-4", 1)] {
        let events = log.read_cooperative(&coop(c)).await.expect("read");
        assert_eq!(events.len(), count, "{c}");
    }
    assert_eq!(log.last_position().await.expect("head"), 4);
}

/// Two appends on one cooperative in one group: the first goes in the batch, the second
/// follows once its predecessor is stored.
#[tokio::test]
async fn a_second_append_on_the_same_cooperative_follows_its_group() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(grouping(&server)).await;
    let results = log
        .append_together(vec![
            request("REH-1", 0, "a"),
            request("REH-2", 0, "b"),
            request("REH-1", 1, "c"),
        ])
        .await;
    let versions: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().map(|a| a.version))
        .collect();
    assert_eq!(versions, vec![Ok(1), Ok(1), Ok(2)]);
    let events = log.read_cooperative(&coop("REH-1")).await.expect("read");
    let ids: Vec<_> = events.iter().map(|e| e.request_id.as_str()).collect();
    assert_eq!(ids, ["a", "c"]);
}

/// A stream created before group commit (no `allow_atomic`) gets it turned on, and nothing
/// else about it changes.
#[tokio::test]
async fn an_existing_stream_gets_atomic_batches_turned_on() {
    let server = NatsServer::start(current_binary()).await;
    let js = plain(&server).await;
    let config = grouping(&server);
    js.create_stream(setup::stream_config(&config))
        .await
        .expect("an older relance's stream");
    let log = connect(config).await;
    assert!(log.atomic_batch());
    let mut stream = js.get_stream(STREAM).await.expect("stream");
    let now = stream.info().await.expect("info").config.clone();
    assert!(now.allow_atomic_publish);
    assert!(now.deny_delete && now.deny_purge && !now.allow_rollup);
}

#[tokio::test]
async fn group_commit_can_be_turned_off() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig {
        group_commit: relance_log_nats::GroupCommit::Off,
        ..JetStreamConfig::new(server.url())
    })
    .await;
    assert!(!log.atomic_batch());
    assert!(log.atomic_batch_supported(), "the server still has them");
    let results = log
        .append_together(vec![request("REH-1", 0, "a"), request("REH-2", 0, "b")])
        .await;
    let a = results[0].as_ref().expect("stored");
    assert_eq!(batch_of(&plain(&server).await, a.position).await, None);
}

/// nats-server 2.9.10 has no atomic batches: appends go one by one, as before.
#[tokio::test]
async fn an_older_server_appends_one_by_one() {
    let Some(binary) = legacy_binary() else {
        eprintln!("{LEGACY_MISSING}");
        return;
    };
    let server = NatsServer::start(binary).await;
    let log = connect(grouping(&server)).await;
    assert!(!log.atomic_batch() && !log.atomic_batch_supported());
    let results = log
        .append_together(vec![
            request("REH-1", 0, "a"),
            request("REH-2", 0, "b"),
            request("REH-1", 0, "late"),
        ])
        .await;
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(results[2], Err(LogError::Conflict { .. })));
    let all = log.read_from(1, 10).await.expect("read");
    assert_eq!(all.len(), 2);
    assert_eq!(batch_of(&plain(&server).await, 1).await, None);
}

/// A `Batch` call larger than the server's limit on one atomic batch (1,000 messages): its
/// appends leave in batches of at most 1,000, in which one stale member makes the server
/// refuse its whole batch; that batch's members are then answered one by one, so the stale one
/// is a conflict and its 999 neighbours are stored, the other batch is committed as is, and a
/// second append on a cooperative of the call follows it.
#[tokio::test]
async fn a_large_batch_call_leaves_in_batches_of_the_server_limit_and_one_refusal_sinks_nothing() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig {
        group_commit: relance_log_nats::GroupCommit::Always,
        ..JetStreamConfig::new(server.url())
    })
    .await;
    log.append(request("REH-STALE", 0, "earlier"))
        .await
        .expect("REH-STALE at version 1");
    let mut requests: Vec<_> = (0..1_200)
        .map(|i| request(&format!("BIG-{i}"), 0, "r1"))
        .collect();
    requests.insert(500, request("REH-STALE", 0, "stale"));
    requests.push(request("BIG-0", 1, "r2"));
    let results = log.append_batch(requests).await;

    assert_eq!(results.len(), 1_202, "one answer per request");
    assert_eq!(
        results[500],
        Err(LogError::Conflict {
            cooperative_id: coop("REH-STALE"),
            expected: 0,
            actual: 1
        })
    );
    for (i, r) in results.iter().enumerate().filter(|(i, _)| *i != 500) {
        let a = r.as_ref().unwrap_or_else(|e| panic!("entry {i}: {e}"));
        assert!(!a.duplicate, "entry {i}");
        assert_eq!(a.version, if i == 1_201 { 2 } else { 1 }, "entry {i}");
    }
    let stats = log.group_stats();
    assert_eq!(
        (stats.refused_batches, stats.batches, stats.batched_appends),
        (1, 1, 201),
        "the first 1,000 refused as a whole, the last 201 one batch: {stats:?}"
    );
    let js = plain(&server).await;
    let last_batch = results[1_200].as_ref().expect("stored").position;
    let id = batch_of(&js, last_batch).await;
    assert!(id.is_some(), "the second batch was committed as a batch");
    assert_eq!(
        batch_of(&js, results[1].as_ref().expect("stored").position).await,
        None
    );
    assert_eq!(log.last_position().await.expect("head"), 1 + 1_201);
    let big0 = log.read_cooperative(&coop("BIG-0")).await.expect("read");
    let ids: Vec<_> = big0.iter().map(|e| e.request_id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2"]);

    // Exactly the limit: one batch of 1,000.
    let full: Vec<_> = (0..1_000)
        .map(|i| request(&format!("FULL-{i}"), 0, "r1"))
        .collect();
    let results = log.append_batch(full).await;
    assert!(results.iter().all(Result::is_ok), "all 1,000 stored");
    let stats = log.group_stats();
    assert_eq!(
        (stats.batches, stats.batched_appends),
        (2, 1_201),
        "{stats:?}"
    );
}
