//! A 3-node JetStream cluster (R3 stream) under faults while commands flow: the stream leader
//! killed with SIGKILL and restarted, and a lame-duck restart of the leader. Nothing
//! acknowledged may be lost or written twice; the projection must equal a fresh replay.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use relance_proto::v1;
use relance_tests::nats::{current_binary, NatsCluster};
use relance_tests::requests::{self, Overrides as _};
use relance_tests::{cli, eventually, RelanceProcess};

const WRITERS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Kill,
    LameDuck,
}

/// What one writer saw: acknowledged (request id, event id) and failures with their time.
#[derive(Default)]
struct Seen {
    acked: Vec<(String, String)>,
    failures: Vec<(Instant, tonic::Code, String)>,
    ack_times: Vec<Instant>,
}

async fn writer(url: String, w: usize, stop: Arc<AtomicBool>, acks: Arc<AtomicUsize>) -> Seen {
    let channel = tonic::transport::Channel::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut c = v1::cooperative_commands_client::CooperativeCommandsClient::new(channel);
    let coop = format!("FO-{w}");
    let mut seen = Seen::default();
    let r = c
        .register(requests::register(&coop, "register"))
        .await
        .expect("registration before any fault")
        .into_inner();
    seen.acked.push(("register".into(), r.event_id));
    // Bounded: at most 5,000 commands a writer, and only until told to stop.
    for i in 0..5_000u32 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let request_id = format!("hc-{i}");
        let req =
            requests::headcount(&coop, &request_id).with(|d| d.members = u64::from(10 + i % 7));
        match c.report_headcount(req).await {
            Ok(r) => {
                seen.acked.push((request_id, r.into_inner().event_id));
                seen.ack_times.push(Instant::now());
                acks.fetch_add(1, Ordering::SeqCst);
            }
            Err(s) => seen
                .failures
                .push((Instant::now(), s.code(), s.message().to_owned())),
        }
    }
    seen
}

/// Waits (bounded) until `acks` reaches `target`: commands are flowing.
async fn acks_reach(acks: &AtomicUsize, target: usize) {
    eventually(Duration::from_secs(120), || async {
        let n = acks.load(Ordering::SeqCst);
        if n >= target {
            Ok(())
        } else {
            Err(format!(
                "commands stopped flowing ({n} acknowledged, waiting for {target})"
            ))
        }
    })
    .await;
}

/// The node index of the stream's current leader (bounded wait while there is none).
async fn leader(js: &async_nats::jetstream::Context) -> usize {
    eventually(Duration::from_secs(60), || async {
        let mut stream = js
            .get_stream("RELANCE_EVENTS")
            .await
            .map_err(|e| format!("the stream: {e}"))?;
        let info = stream.info().await.map_err(|e| format!("info: {e}"))?;
        let name = info
            .cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .ok_or("the stream has no leader")?;
        (0..3)
            .find(|i| NatsCluster::name(*i) == name)
            .ok_or(format!("the leader {name} is not a node of the cluster"))
    })
    .await
}

/// One stored event: cooperative, request id, event id, and whether an atomic batch stored
/// it (`Nats-Batch-Id`).
type StoredEvent = (String, String, String, bool);

/// Every stored event, read with plain async-nats. Right after a node rejoins, the R3 stream
/// may answer slowly: the whole read is retried (bounded).
async fn stored(js: &async_nats::jetstream::Context) -> Vec<StoredEvent> {
    eventually(Duration::from_secs(90), || read_all(js)).await
}

async fn read_all(js: &async_nats::jetstream::Context) -> Result<Vec<StoredEvent>, String> {
    let mut stream = js
        .get_stream("RELANCE_EVENTS")
        .await
        .map_err(|e| format!("stream: {e}"))?;
    let last = stream
        .info()
        .await
        .map_err(|e| format!("info: {e}"))?
        .state
        .last_sequence;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: "relance.v1.coop.>".into(),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("consumer: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("messages: {e}"))?;
    let mut out = Vec::new();
    while (out.len() as u64) < last {
        let m = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .map_err(|_| "no message within 30 s".to_owned())?
            .ok_or("the consumer ended")?
            .map_err(|e| format!("message: {e}"))?;
        let h = m.headers.as_ref().ok_or("a message without headers")?;
        let get = |k: &str| h.get(k).map(|v| v.as_str().to_owned()).unwrap_or_default();
        out.push((
            get("Relance-Cooperative-Id"),
            get("Relance-Request-Id"),
            get("Relance-Event-Id"),
            h.get("Nats-Batch-Id").is_some(),
        ));
    }
    Ok(out)
}

async fn digest_at(projection: &RelanceProcess, position: u64) -> String {
    // Each call waits up to 10 s on the node; a cluster that just lost a node may need longer.
    let queries = projection.queries().await;
    eventually(Duration::from_secs(90), || {
        let mut queries = queries.clone();
        async move {
            match queries
                .summary(v1::SummaryRequest {
                    min_position: position,
                })
                .await
            {
                Err(status) if status.code() == tonic::Code::Unavailable => Err(format!(
                    "the projection did not reach {position}: {status:?}"
                )),
                Err(status) => panic!("the projection did not reach {position}: {status:?}"),
                Ok(_) => Ok(()),
            }
        }
    })
    .await;
    let (ok, out, err) = cli(&["--server", &projection.url(), "audit", "digest"], &[]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("position {position}")), "{out}");
    out.split_whitespace().nth(1).expect("digest").to_owned()
}

/// `group_commit`: the command process's `--group-commit`. With `always`, twice the writers
/// (the process writes two groups at a time, so the others wait together), and the stream
/// must hold events stored by atomic batches.
async fn run(fault: Fault, group_commit: &str) {
    let writers = if group_commit == "always" {
        2 * WRITERS
    } else {
        WRITERS
    };
    let mut cluster = NatsCluster::start(current_binary(), 3).await;
    let urls = cluster.urls();
    let dir = tempfile::tempdir().expect("tempdir");
    let p1 = dir.path().join("p1");
    let command = RelanceProcess::serve(&[
        "--nats",
        &urls,
        "--role",
        "command",
        "--replicas",
        "3",
        "--group-commit",
        group_commit,
    ])
    .await;
    let projection = RelanceProcess::serve(&[
        "--nats",
        &urls,
        "--role",
        "projection",
        "--data-dir",
        p1.to_str().expect("utf8"),
    ])
    .await;
    let nats = async_nats::connect(urls.split(',').collect::<Vec<_>>())
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(nats);

    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..writers)
        .map(|w| tokio::spawn(writer(command.url(), w, stop.clone(), acks.clone())))
        .collect();
    acks_reach(&acks, 40).await;
    let victim = leader(&js).await;
    let before = acks.load(Ordering::SeqCst);
    let fault_at = Instant::now();
    match fault {
        Fault::Kill => cluster.kill(victim),
        Fault::LameDuck => cluster.lame_duck(victim).await,
    }
    // Commands must flow again without the old leader, then with it back.
    acks_reach(&acks, before + 40).await;
    cluster.launch(victim).await;
    let back = acks.load(Ordering::SeqCst);
    acks_reach(&acks, back + 40).await;
    stop.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    for w in writers {
        seen.push(w.await.expect("writer"));
    }

    let failures: Vec<&(Instant, tonic::Code, String)> =
        seen.iter().flat_map(|s| &s.failures).collect();
    let mut times: Vec<Instant> = seen
        .iter()
        .flat_map(|s| s.ack_times.iter().copied())
        .collect();
    times.sort();
    let longest_gap = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let window = match (
        failures.iter().map(|f| f.0).min(),
        failures.iter().map(|f| f.0).max(),
    ) {
        (Some(a), Some(b)) => b - a,
        _ => Duration::ZERO,
    };
    println!(
        "{fault:?} of the stream leader {}: {} commands acknowledged, {} failed; commands failed during {window:?} \
         (from {:?} after the fault); longest pause between acknowledgements {longest_gap:?}",
        NatsCluster::name(victim),
        seen.iter().map(|s| s.acked.len()).sum::<usize>(),
        failures.len(),
        failures.iter().map(|f| f.0).min().map(|t| t.saturating_duration_since(fault_at)),
    );
    for (_, code, message) in &failures {
        assert!(
            matches!(code, tonic::Code::Unavailable | tonic::Code::Aborted),
            "a command failed with {code:?}: {message}"
        );
    }
    if fault == Fault::LameDuck {
        assert!(
            failures.is_empty(),
            "no command may fail during a lame-duck restart: {failures:?}"
        );
    }

    // Every acknowledged event is in the stream exactly once; nothing is there twice.
    let events = stored(&js).await;
    let mut by_request: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (coop, request, event, _) in &events {
        by_request
            .entry((coop.clone(), request.clone()))
            .or_default()
            .push(event.clone());
    }
    assert!(
        by_request.values().all(|ids| ids.len() == 1),
        "a request was written twice"
    );
    let stored_ids: HashSet<&str> = events.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(stored_ids.len(), events.len(), "an event id appears twice");
    let batched = events.iter().filter(|e| e.3).count();
    println!(
        "{batched} of {} events stored by atomic batches",
        events.len()
    );
    if group_commit == "always" {
        assert!(
            batched > 0,
            "no event was stored by an atomic batch: group commit never formed a batch"
        );
    }
    for (w, s) in seen.iter().enumerate() {
        for (request, event) in &s.acked {
            assert_eq!(
                by_request.get(&(format!("FO-{w}"), request.clone())),
                Some(&vec![event.clone()]),
                "acknowledged {request} of writer {w} is not in the stream exactly once"
            );
        }
    }

    // The projection that lived through the fault equals a fresh replay.
    let head = events.len() as u64;
    let live = digest_at(&projection, head).await;
    let fresh = RelanceProcess::serve(&[
        "--nats",
        &urls,
        "--role",
        "projection",
        "--data-dir",
        dir.path().join("p2").to_str().expect("utf8"),
    ])
    .await;
    assert_eq!(digest_at(&fresh, head).await, live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_leader_killed_and_restarted_loses_no_acknowledged_command() {
    run(Fault::Kill, "auto").await;
}

/// The same with every group of appends sent as one atomic batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_leader_killed_while_batches_flow_loses_no_acknowledged_command() {
    run(Fault::Kill, "always").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lame_duck_restart_of_the_stream_leader_fails_no_command() {
    run(Fault::LameDuck, "auto").await;
}
