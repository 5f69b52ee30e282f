//! The distributed form on a real nats-server: command and projection processes on one
//! JetStream stream, concurrent writers on one cooperative, repeated request ids, and faults
//! (a projection killed during catch-up, nats-server killed while commands flow, a command
//! process deciding on a stale cache), plus `relance demo --nats`.
//!
//! Every check on what was written reads the stream itself with plain async-nats and decodes
//! the payloads with the published `.proto` types, not through relance's own reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use futures::StreamExt;
use prost::Message as _;
use relance_proto::v1;
use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;
use relance_proto::v1::cooperative_queries_client::CooperativeQueriesClient;
use relance_proto::v1::envelope::Event;
use relance_tests::nats::current_binary;
use relance_tests::requests::{self, as_org, prefecture, Overrides as _};
use relance_tests::{cli, wait, NatsServer, RelanceProcess};
use tonic::transport::Channel;
use tonic::{Code, Status};

type Commands = CooperativeCommandsClient<Channel>;
type Queries = CooperativeQueriesClient<Channel>;

const STREAM: &str = "RELANCE_EVENTS";
const SUBJECTS: &str = "relance.v1.coop.>";

// ------------------------------------------------------------------------------ processes

async fn command_process(nats: &NatsServer, extra: &[&str]) -> RelanceProcess {
    let url = nats.url();
    let mut args = vec!["--nats", url.as_str(), "--role", "command"];
    args.extend_from_slice(extra);
    RelanceProcess::serve(&args).await
}

/// A nats-server with `sync_interval: always` (the deploy configurations' setting), its
/// configuration written in `dir`: each acknowledgement waits for an fsync, so appends from
/// concurrent clients wait together and group commit forms batches.
async fn synced_nats(dir: &Path) -> NatsServer {
    let config = dir.join("synced.conf");
    std::fs::write(&config, "jetstream { sync_interval: always }\n").expect("write the config");
    NatsServer::start_with_config(current_binary(), &config).await
}

async fn projection_process(nats: &NatsServer, dir: &Path) -> RelanceProcess {
    let url = nats.url();
    let dir = dir.to_str().expect("temporary paths are UTF-8");
    RelanceProcess::serve(&["--nats", &url, "--role", "projection", "--data-dir", dir]).await
}

// ------------------------------------------------------------------------------- commands

/// The commands these tests send; each is valid whenever its rule allows it.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    Register,
    Halt { workers: u32 },
    Resume,
    Headcount { members: u32 },
    Support { centimes: i64 },
}

async fn send(
    client: &mut Commands,
    coop: &str,
    request_id: &str,
    cmd: Cmd,
) -> Result<v1::CommandReply, Status> {
    send_expecting(client, coop, request_id, cmd, None).await
}

async fn send_expecting(
    client: &mut Commands,
    coop: &str,
    request_id: &str,
    cmd: Cmd,
    expected_version: Option<u64>,
) -> Result<v1::CommandReply, Status> {
    let expect = |m: &mut v1::CommandMeta| m.expected_version = expected_version;
    let reply = match cmd {
        Cmd::Register => {
            let register = requests::register(coop, request_id).with_meta(expect);
            client.register(prefecture(register)).await
        }
        Cmd::Halt { workers } => {
            let halt = requests::halt(coop, request_id)
                .with_meta(expect)
                .with(|d| d.workers_affected = workers.into());
            client.halt(prefecture(halt)).await
        }
        Cmd::Resume => {
            let resume = requests::resume(coop, request_id)
                .with_meta(expect)
                .with(|d| d.workers_back = 5);
            client.resume(prefecture(resume)).await
        }
        Cmd::Headcount { members } => {
            let headcount = requests::headcount(coop, request_id)
                .with_meta(expect)
                .with(|d| d.members = members.into());
            client.report_headcount(prefecture(headcount)).await
        }
        Cmd::Support { centimes } => {
            let support = requests::support(coop, request_id, "OCP")
                .with_meta(expect)
                .with(|d| {
                    d.kind = v1::SupportKind::Financial as i32;
                    d.amount_centimes = Some(centimes);
                });
            client.grant_support(as_org(support, "OCP")).await
        }
    };
    reply.map(tonic::Response::into_inner)
}

/// The rule a refusal names (metadata `relance-rule`).
fn rule(s: &Status) -> &str {
    s.metadata()
        .get("relance-rule")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

// -------------------------------------------------------------------------------- queries

/// How long a test waits for a projection to reach a position (queries wait 10 s each).
const CATCH_UP_WITHIN: Duration = Duration::from_secs(60);

/// The summary once the projection has applied `position`, retrying the bounded wait.
async fn summary_at(
    q: &mut Queries,
    position: u64,
    projection: &RelanceProcess,
) -> v1::ProvinceSummary {
    let fail = |e: &Status| {
        format!(
            "the projection did not reach position {position}: {e}\nits log:\n{}",
            projection.log_text()
        )
    };
    let caught_up = wait::within(CATCH_UP_WITHIN).try_until(|| {
        let mut q = q.clone();
        async move {
            match q
                .summary(v1::SummaryRequest {
                    min_position: position,
                })
                .await
            {
                Ok(s) => Ok(s.into_inner()),
                Err(e) if e.code() == Code::Unavailable => Err(e),
                Err(e) => panic!("{}", fail(&e)),
            }
        }
    });
    caught_up
        .await
        .unwrap_or_else(|timed_out| panic!("{timed_out}\nits log:\n{}", projection.log_text()))
}

async fn get(q: &mut Queries, coop: &str, position: u64) -> v1::CooperativeView {
    q.get(v1::GetRequest {
        cooperative_id: coop.to_owned(),
        min_position: position,
    })
    .await
    .unwrap_or_else(|e| panic!("Get {coop}: {e}"))
    .into_inner()
}

async fn history(q: &mut Queries, coop: &str, position: u64) -> Vec<v1::HistoryEntry> {
    q.history(v1::HistoryRequest {
        cooperative_id: coop.to_owned(),
        min_position: position,
    })
    .await
    .unwrap_or_else(|e| panic!("History {coop}: {e}"))
    .into_inner()
    .events
}

/// Every cooperative the projection lists, all pages.
async fn list_all(q: &mut Queries, position: u64) -> Vec<v1::CooperativeView> {
    let mut out = Vec::new();
    let mut token = String::new();
    for _ in 0..1000 {
        let page = q
            .list(v1::ListRequest {
                page_size: 500,
                page_token: token.clone(),
                min_position: position,
                ..Default::default()
            })
            .await
            .expect("List")
            .into_inner();
        out.extend(page.cooperatives);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
    panic!("List never ended");
}

// --------------------------------------------------------------------------------- stream

/// One message of the event stream, read with plain async-nats.
#[derive(Debug, Clone)]
struct Stored {
    position: u64,
    subject: String,
    envelope: v1::Envelope,
    /// `Nats-Batch-Id`: stored by an atomic batch (group commit).
    batch: Option<String>,
}

impl Stored {
    fn request_id(&self) -> &str {
        &self.envelope.request_id
    }
}

/// The whole event stream, in order, decoded with the published `.proto` types only.
async fn read_stream(nats_url: &str) -> Vec<Stored> {
    let client = async_nats::connect(nats_url)
        .await
        .expect("connect to nats");
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(STREAM)
        .await
        .expect("the event stream exists");
    let last = stream
        .get_info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let mut out: Vec<Stored> = Vec::new();
    if last == 0 {
        return out;
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: SUBJECTS.into(),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("consume");
    while out.last().is_none_or(|m| m.position < last) {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("the next message within 10 s")
            .expect("the consumer is open")
            .expect("a message");
        let position = message.info().expect("JetStream metadata").stream_sequence;
        let envelope =
            v1::Envelope::decode(&message.payload[..]).expect("a protobuf relance.v1.Envelope");
        let batch = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Batch-Id"))
            .map(|v| v.as_str().to_owned());
        out.push(Stored {
            position,
            subject: message.subject.to_string(),
            envelope,
            batch,
        });
    }
    out
}

/// The stream's events grouped by cooperative, in stream order.
fn by_coop(events: &[Stored]) -> BTreeMap<String, Vec<Stored>> {
    let mut out: BTreeMap<String, Vec<Stored>> = BTreeMap::new();
    for e in events {
        out.entry(e.envelope.cooperative_id.clone())
            .or_default()
            .push(e.clone());
    }
    out
}

/// A cooperative's events hold together: on its subject, versions 1..n with no gap or
/// repeat, each event chained to the one before, no event id or request id twice.
fn assert_consistent(coop: &str, events: &[Stored]) {
    let mut ids = HashSet::new();
    let mut requests = HashSet::new();
    let mut prev_hash = vec![0u8; 32];
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.subject, format!("relance.v1.coop.{coop}"));
        assert_eq!(
            e.envelope.version,
            i as u64 + 1,
            "{coop}: event at position {} has version {}, expected {}",
            e.position,
            e.envelope.version,
            i + 1
        );
        assert_eq!(
            e.envelope.prev_hash, prev_hash,
            "{coop}: version {} is not chained to version {}",
            e.envelope.version, i
        );
        prev_hash.clone_from(&e.envelope.hash);
        assert!(
            ids.insert(e.envelope.event_id.clone()),
            "{coop}: event id {} written twice",
            e.envelope.event_id
        );
        assert!(
            requests.insert(e.request_id().to_owned()),
            "{coop}: request id {} written twice",
            e.request_id()
        );
    }
}

/// `reply` is the event the stream holds for `request_id`, exactly once.
fn assert_reply_in_stream(
    events: &[Stored],
    coop: &str,
    request_id: &str,
    reply: &v1::CommandReply,
) {
    let found: Vec<&Stored> = events
        .iter()
        .filter(|e| e.envelope.cooperative_id == coop && e.request_id() == request_id)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "acknowledged request {request_id} on {coop} is in the stream {} times",
        found.len()
    );
    let e = found[0];
    assert_eq!(
        (e.envelope.event_id.as_str(), e.envelope.version, e.position),
        (reply.event_id.as_str(), reply.version, reply.position),
        "the reply to {request_id} does not name the stored event"
    );
}

// ---------------------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_and_projection_processes_serve_writes_and_reads_of_one_stream() {
    let nats = NatsServer::start(current_binary()).await;
    let command = command_process(&nats, &[]).await;
    let views = tempfile::tempdir().unwrap();
    let projection = projection_process(&nats, views.path()).await;
    let coop = "REH-0002";

    let mut c = command.commands().await;
    let registered = send(&mut c, coop, "annour-register", Cmd::Register)
        .await
        .expect("register");
    assert_eq!((registered.version, registered.duplicate), (1, false));
    let halted = send(&mut c, coop, "annour-halt", Cmd::Halt { workers: 40 })
        .await
        .expect("halt");
    assert_eq!(halted.version, 2);
    assert!(halted.position > registered.position);

    // The projection reads its own writes: min_position = the halt's position.
    let mut q = projection.queries().await;
    let view = get(&mut q, coop, halted.position).await;
    assert_eq!(view.status, "halted");
    let open = view.open_halt.as_ref().expect("an open halt");
    assert_eq!(open.workers_affected, 40);
    assert_eq!(open.event_id, halted.event_id);
    assert_eq!((view.version, view.last_position), (2, halted.position));

    let halted_list = q
        .list(v1::ListRequest {
            status: "halted".into(),
            min_position: halted.position,
            ..Default::default()
        })
        .await
        .expect("List")
        .into_inner();
    assert_eq!(halted_list.total, 1);
    assert_eq!(halted_list.cooperatives[0].cooperative_id, coop);

    let summary = summary_at(&mut q, halted.position, &projection).await;
    assert_eq!(summary.cooperatives, 1);
    assert_eq!(summary.workers_idled, 40);
    assert!(summary.position >= halted.position);
    assert!(summary
        .by_status
        .iter()
        .any(|c| c.key == "halted" && c.count == 1));

    let events = history(&mut q, coop, halted.position).await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e.envelope.as_ref().unwrap().event_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [registered.event_id.as_str(), halted.event_id.as_str()]
    );

    // Each process serves its own side only.
    let err = command
        .queries()
        .await
        .summary(v1::SummaryRequest::default())
        .await
        .expect_err("a command process has no views");
    assert_eq!(err.code(), Code::Unimplemented);
    let err = send(&mut projection.commands().await, coop, "x", Cmd::Resume)
        .await
        .expect_err("a projection process takes no commands");
    assert_eq!(err.code(), Code::Unimplemented);

    // The CLI addresses both: writes to RELANCE_SERVER, reads from RELANCE_QUERY_SERVER.
    let (command_url, projection_url) = (command.url(), projection.url());
    let env = [
        ("RELANCE_SERVER", command_url.as_str()),
        ("RELANCE_QUERY_SERVER", projection_url.as_str()),
    ];
    let (ok, out, err) = cli(
        &[
            "coop",
            "resume",
            coop,
            "--effective-on",
            "2020-06-15",
            "--workers-back",
            "40",
            "--output",
            "json",
        ],
        &env,
    );
    assert!(ok, "relance coop resume failed: {err}");
    let reply: serde_json::Value = serde_json::from_str(&out).expect("a JSON reply");
    let position = reply["position"].as_u64().expect("the reply's position");
    assert!(position > halted.position);
    let min = position.to_string();
    let (ok, out, err) = cli(&["coop", "show", coop, "--min-position", &min], &env);
    assert!(ok, "relance coop show failed: {err}");
    assert!(out.contains("resumed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_command_processes_never_lose_an_update() {
    let nats = NatsServer::start(current_binary()).await;
    let a = command_process(&nats, &[]).await;
    let b = command_process(&nats, &[]).await;
    let clients = [a.commands().await, b.commands().await];
    let coop = "REH-0100";
    let registered = send(&mut clients[0].clone(), coop, "reg-100", Cmd::Register)
        .await
        .expect("register");

    const TASKS: usize = 8;
    const PER_TASK: usize = 10;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for n in 0..PER_TASK {
                let mut client = clients[(t + n) % 2].clone();
                let request_id = format!("hc-{t}-{n}");
                let cmd = Cmd::Headcount {
                    members: (t * 100 + n) as u32,
                };
                let result = send(&mut client, coop, &request_id, cmd).await;
                out.push((request_id, result));
            }
            out
        }));
    }
    let mut acked: Vec<(String, v1::CommandReply)> = Vec::new();
    let mut contended = Vec::new();
    for task in tasks {
        for (request_id, result) in task.await.expect("writer task") {
            match result {
                Ok(reply) => {
                    assert!(!reply.duplicate, "{request_id} was sent once");
                    acked.push((request_id, reply));
                }
                // Gave up after the bounded retries: allowed, and then nothing is written.
                Err(e) if e.code() == Code::Aborted => contended.push(request_id),
                Err(e) => panic!("{request_id}: {e}"),
            }
        }
    }
    assert!(
        acked.len() >= TASKS * PER_TASK / 2,
        "only {} of {} commands were accepted",
        acked.len(),
        TASKS * PER_TASK
    );

    let stream = read_stream(&nats.url()).await;
    let coops = by_coop(&stream);
    let events = &coops[coop];
    assert_consistent(coop, events);
    assert_eq!(
        events.len(),
        1 + acked.len(),
        "every accepted command is exactly one event ({} contended)",
        contended.len()
    );
    assert_eq!(events[0].request_id(), "reg-100");
    assert_eq!(events[0].envelope.event_id, registered.event_id);
    for (request_id, reply) in &acked {
        assert_reply_in_stream(&stream, coop, request_id, reply);
    }
    for request_id in &contended {
        assert!(
            !events.iter().any(|e| e.request_id() == request_id),
            "{request_id} was answered ABORTED but written"
        );
    }
    let mut versions: Vec<u64> = acked.iter().map(|(_, r)| r.version).collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..=1 + acked.len() as u64).collect::<Vec<_>>());

    // A rule-sensitive race: both processes hold the cooperative as active, both try to halt
    // it; the loser re-decides on the new state and gets the rule's refusal.
    let mut winners = HashMap::new();
    for i in 0..5 {
        let coop = format!("REH-02{i:02}");
        let reg = format!("race-reg-{i}");
        send(&mut clients[0].clone(), &coop, &reg, Cmd::Register)
            .await
            .expect("register");
        // The same registration through B: a duplicate, and B now caches the active state.
        let warm = send(&mut clients[1].clone(), &coop, &reg, Cmd::Register)
            .await
            .expect("repeat the registration");
        assert!(warm.duplicate);
        let (mut ca, mut cb) = (clients[0].clone(), clients[1].clone());
        let (halt_a, halt_b) = (format!("halt-a-{i}"), format!("halt-b-{i}"));
        let (ra, rb) = tokio::join!(
            send(&mut ca, &coop, &halt_a, Cmd::Halt { workers: 10 }),
            send(&mut cb, &coop, &halt_b, Cmd::Halt { workers: 20 }),
        );
        let (winner, reply, loser) = match (ra, rb) {
            (Ok(w), Err(l)) => ("a", w, l),
            (Err(l), Ok(w)) => ("b", w, l),
            other => panic!("{coop}: exactly one halt must succeed, got {other:?}"),
        };
        assert_eq!((reply.version, reply.duplicate), (2, false));
        assert_eq!(loser.code(), Code::FailedPrecondition, "{loser}");
        assert_eq!(rule(&loser), "already_halted", "{loser}");
        winners.insert(coop, (format!("halt-{winner}-{i}"), reply));
    }
    let stream = read_stream(&nats.url()).await;
    let coops = by_coop(&stream);
    for (coop, (request_id, reply)) in &winners {
        let events = &coops[coop];
        assert_consistent(coop, events);
        assert_eq!(events.len(), 2, "{coop}: one registration and one halt");
        assert!(matches!(
            events[1].envelope.event,
            Some(Event::ActivityHaltedV2(_))
        ));
        assert_reply_in_stream(&stream, coop, request_id, reply);
    }
}

/// Sends `request_id` to A (which writes it), then to B, whose cache holds the cooperative
/// from before the write, and to C, which has never seen it: one event, the first result.
async fn assert_request_id_written_once(
    nats: &NatsServer,
    a: &RelanceProcess,
    b: &RelanceProcess,
    c: &RelanceProcess,
    coop: &str,
    wait_before_repeat: Option<Duration>,
) {
    let (mut a, mut b, mut c) = (a.commands().await, b.commands().await, c.commands().await);
    send(&mut a, coop, &format!("{coop}-reg"), Cmd::Register)
        .await
        .expect("register");
    let warm = send(&mut b, coop, &format!("{coop}-reg"), Cmd::Register)
        .await
        .expect("repeat the registration through B");
    assert!(warm.duplicate);

    let request_id = format!("{coop}-headcount");
    let first = send(&mut a, coop, &request_id, Cmd::Headcount { members: 20 })
        .await
        .expect("the first send");
    assert_eq!((first.version, first.duplicate), (2, false));
    if let Some(wait) = wait_before_repeat {
        // Past the stream's duplicate window: only the cooperative's history can tell.
        tokio::time::sleep(wait).await;
    }
    for (who, client) in [("B", &mut b), ("A", &mut a), ("C", &mut c)] {
        let again = send(client, coop, &request_id, Cmd::Headcount { members: 20 })
            .await
            .unwrap_or_else(|e| panic!("the repeat through {who}: {e}"));
        assert!(again.duplicate, "the repeat through {who} is a duplicate");
        assert_eq!(
            (again.event_id.as_str(), again.version, again.position),
            (first.event_id.as_str(), first.version, first.position),
            "the repeat through {who} returns the first result"
        );
    }
    // Another payload under the same request id is not a retry: refused, and it writes nothing
    // (within the duplicate window or beyond it, on any command process).
    let other = send(&mut b, coop, &request_id, Cmd::Headcount { members: 99 })
        .await
        .expect_err("the same request id with another payload");
    assert_eq!(other.code(), tonic::Code::AlreadyExists, "{other:?}");
    assert_eq!(
        other
            .metadata()
            .get("relance-rule")
            .and_then(|v| v.to_str().ok()),
        Some("request_id_reused")
    );

    let stream = read_stream(&nats.url()).await;
    let events = &by_coop(&stream)[coop];
    assert_consistent(coop, events);
    assert_eq!(
        events.len(),
        2,
        "{coop}: the registration and one headcount"
    );
    assert_reply_in_stream(&stream, coop, &request_id, &first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_repeated_on_another_command_process_writes_one_event() {
    let nats = NatsServer::start(current_binary()).await;
    let a = command_process(&nats, &[]).await;
    let b = command_process(&nats, &[]).await;
    let c = command_process(&nats, &[]).await;
    assert_request_id_written_once(&nats, &a, &b, &c, "REH-0300", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_repeated_after_the_duplicate_window_writes_one_event() {
    let nats = NatsServer::start(current_binary()).await;
    let window = ["--duplicate-window-secs", "1"];
    // The first process creates the stream with a one-second duplicate window.
    let a = command_process(&nats, &window).await;
    let b = command_process(&nats, &window).await;
    let c = command_process(&nats, &window).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let config = js
        .get_stream(STREAM)
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    assert_eq!(config.duplicate_window, Duration::from_secs(1));
    assert_request_id_written_once(
        &nats,
        &a,
        &b,
        &c,
        "REH-0301",
        Some(config.duplicate_window * 3),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_killed_during_catch_up_resumes_to_the_same_views_as_a_fresh_replay() {
    let nats = NatsServer::start(current_binary()).await;
    let command = command_process(&nats, &[]).await;
    let client = command.commands().await;

    // 40 cooperatives × 50 events, written concurrently across cooperatives.
    const COOPS: usize = 40;
    const PER_COOP: usize = 50;
    let coops: Vec<String> = (0..COOPS).map(|i| format!("REH-1{i:03}")).collect();
    let mut writers = Vec::new();
    for coop in coops.clone() {
        let mut client = client.clone();
        writers.push(tokio::spawn(async move {
            let mut head = 0;
            let mut total = 0i64;
            for n in 0..PER_COOP {
                let request_id = format!("{coop}-{n}");
                let cmd = if n == 0 {
                    Cmd::Register
                } else {
                    Cmd::Support {
                        centimes: 100 * n as i64,
                    }
                };
                let reply = send(&mut client, &coop, &request_id, cmd)
                    .await
                    .unwrap_or_else(|e| panic!("{request_id}: {e}"));
                head = head.max(reply.position);
                if let Cmd::Support { centimes } = cmd {
                    total += centimes;
                }
            }
            (head, total)
        }));
    }
    let mut head = 0;
    let mut total_per_coop = 0;
    for w in writers {
        let (h, total) = w.await.expect("writer");
        head = head.max(h);
        total_per_coop = total;
    }
    assert_eq!(head, (COOPS * PER_COOP) as u64);

    // Start a projection and kill it (SIGKILL) while it is between the start and the head.
    let views = tempfile::tempdir().unwrap();
    let mut projection = projection_process(&nats, views.path()).await;
    let q = projection.queries().await;
    // Checked back to back: the kill must come before the projection reaches the head.
    let killed_at = wait::within(CATCH_UP_WITHIN)
        .max_pause(Duration::ZERO)
        .until(|| async {
            let at = q
                .clone()
                .summary(v1::SummaryRequest::default())
                .await
                .expect("Summary")
                .into_inner()
                .position;
            (at > 0).then_some(at)
        })
        .await;
    projection.kill();
    eprintln!("projection killed at position {killed_at} of {head}");
    assert!(
        killed_at < head,
        "the projection had already caught up ({killed_at} of {head}) before it could be killed"
    );

    // Restarted on the same directory, it catches up.
    let restarted = projection_process(&nats, views.path()).await;
    let mut q = restarted.queries().await;
    let resumed = summary_at(&mut q, head, &restarted).await;
    assert_eq!(resumed.position, head);

    // A fresh projection replays everything from the stream.
    let fresh_views = tempfile::tempdir().unwrap();
    let fresh = projection_process(&nats, fresh_views.path()).await;
    let mut fq = fresh.queries().await;
    let replayed = summary_at(&mut fq, head, &fresh).await;
    assert_eq!(resumed, replayed, "the summaries differ");
    assert_eq!(resumed.cooperatives, COOPS as u64);
    let ocp: Vec<&v1::SupportTotal> = resumed
        .support
        .iter()
        .filter(|s| s.partner == "OCP")
        .collect();
    assert_eq!(ocp.len(), 1);
    assert_eq!(
        ocp[0].count,
        (COOPS * (PER_COOP - 1)) as u64,
        "support applied once each"
    );
    assert_eq!(ocp[0].amount_centimes, COOPS as i64 * total_per_coop);

    assert_eq!(list_all(&mut q, head).await, list_all(&mut fq, head).await);
    for coop in coops.iter().step_by(7) {
        let view = get(&mut q, coop, head).await;
        assert_eq!(view, get(&mut fq, coop, head).await, "{coop}: views differ");
        assert_eq!(view.version, PER_COOP as u64);
        assert_eq!(view.support.len(), PER_COOP - 1, "{coop}: support lines");
        let events = history(&mut q, coop, head).await;
        assert_eq!(
            events,
            history(&mut fq, coop, head).await,
            "{coop}: histories differ"
        );
        let ids: HashSet<&str> = events
            .iter()
            .map(|e| e.envelope.as_ref().unwrap().event_id.as_str())
            .collect();
        assert_eq!(ids.len(), events.len(), "{coop}: an event applied twice");
        let versions: Vec<u64> = events
            .iter()
            .map(|e| e.envelope.as_ref().unwrap().version)
            .collect();
        assert_eq!(versions, (1..=PER_COOP as u64).collect::<Vec<_>>());
    }
}

/// What a client task saw for one command.
#[derive(Debug)]
struct Sent {
    coop: String,
    request_id: String,
    cmd: Cmd,
    started: Instant,
    answered: Instant,
    result: Result<v1::CommandReply, (Code, String)>,
}

impl Sent {
    /// Command `n` of client task `t` on `coop` (a headcount, then a support grant, in turn)
    /// with request id `{prefix}-{t}-{n}`, timed; no answer within 60 s fails the test.
    async fn send(client: &mut Commands, coop: String, prefix: &str, t: usize, n: usize) -> Sent {
        let request_id = format!("{prefix}-{t}-{n}");
        let cmd = if n.is_multiple_of(2) {
            Cmd::Headcount { members: n as u32 }
        } else {
            Cmd::Support {
                centimes: (t * 10_000 + n) as i64,
            }
        };
        let started = Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(60),
            send(client, &coop, &request_id, cmd),
        )
        .await
        .unwrap_or_else(|_| panic!("{request_id}: no answer within 60 s"))
        .map_err(|e| (e.code(), e.message().to_owned()));
        Sent {
            coop,
            request_id,
            cmd,
            started,
            answered: Instant::now(),
            result,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_killed_and_restarted_while_commands_flow_loses_and_duplicates_nothing() {
    nats_server_killed_while_commands_flow(&[], 6, 6, false).await;
}

/// The same, with every group of appends sent as one atomic batch (group commit), on a server
/// with `sync_interval: always` and enough clients (eight on each command process, which
/// writes two groups at a time) that appends wait together, over 32 cooperatives (with 6,
/// two groups in flight nearly always hold the same cooperative, the later one's batch is
/// refused and its members go one by one): the stream must hold events stored by atomic
/// batches, so the path under test is the batched one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_killed_while_batches_flow_loses_and_duplicates_nothing() {
    let stream =
        nats_server_killed_while_commands_flow(&["--group-commit", "always"], 16, 32, true).await;
    let batched = stream.iter().filter(|e| e.batch.is_some()).count();
    eprintln!(
        "{batched} of {} events stored by atomic batches",
        stream.len()
    );
    assert!(
        batched > 0,
        "no event of {} was stored by an atomic batch: group commit never formed a batch",
        stream.len()
    );
}

/// Returns the stream as it ends.
/// `writers` clients over `coops` cooperatives (an even count: each cooperative is written
/// through one command process); `synced`: nats-server with `sync_interval: always`.
async fn nats_server_killed_while_commands_flow(
    extra: &[&str],
    writers: usize,
    coops: usize,
    synced: bool,
) -> Vec<Stored> {
    let conf = tempfile::tempdir().unwrap();
    let mut nats = if synced {
        synced_nats(conf.path()).await
    } else {
        NatsServer::start(current_binary()).await
    };
    let a = command_process(&nats, extra).await;
    let b = command_process(&nats, extra).await;
    let views = tempfile::tempdir().unwrap();
    let projection = projection_process(&nats, views.path()).await;
    let clients = [a.commands().await, b.commands().await];

    let coop_count = coops;
    /// Bounds each task; the test stops them long before.
    const MAX_PER_TASK: usize = 2000;
    /// Commands acknowledged before the kill, and after the restart, before stopping.
    const ACKED_BEFORE: usize = 30;
    const ACKED_AFTER: usize = 30;
    let coops: Vec<String> = (0..coop_count).map(|i| format!("REH-2{i:03}")).collect();
    for coop in &coops {
        send(
            &mut clients[0].clone(),
            coop,
            &format!("{coop}-reg"),
            Cmd::Register,
        )
        .await
        .expect("register");
    }

    // (acknowledged, answered with an error) so far.
    let (counts_tx, counts_rx) = tokio::sync::watch::channel((0usize, 0usize));
    let counts_tx = Arc::new(counts_tx);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for t in 0..writers {
        let clients = clients.clone();
        let coops = coops.clone();
        let counts_tx = counts_tx.clone();
        let stop_rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for n in 0..MAX_PER_TASK {
                if *stop_rx.borrow() {
                    break;
                }
                let coop = coops[(t + n) % coop_count].clone();
                let mut client = clients[(t + n) % 2].clone();
                let one = Sent::send(&mut client, coop, "flow", t, n).await;
                counts_tx.send_modify(|(acked, errors)| match one.result {
                    Ok(_) => *acked += 1,
                    Err(_) => *errors += 1,
                });
                sent.push(one);
            }
            sent
        }));
    }

    let wait_acked = |n: usize| {
        let mut rx = counts_rx.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(90), rx.wait_for(|c| c.0 >= n))
                .await
                .unwrap_or_else(|_| panic!("fewer than {n} commands acknowledged within 90 s"))
                .expect("writers alive");
        }
    };
    wait_acked(ACKED_BEFORE).await;
    let killed = Instant::now();
    nats.kill();
    // Keep the server down until a client has been told about it (or at most 20 s: the
    // command processes may also ride the outage out on their retries).
    let errors_at_kill = counts_rx.borrow().1;
    let mut rx = counts_rx.clone();
    let felt = tokio::time::timeout(
        Duration::from_secs(20),
        rx.wait_for(|c| c.1 > errors_at_kill),
    )
    .await
    .is_ok();
    nats.restart().await;
    let back = Instant::now();
    let acked_at_restart = counts_rx.borrow().0;
    wait_acked(acked_at_restart + ACKED_AFTER).await;
    stop_tx.send(true).unwrap();
    let mut sent: Vec<Sent> = Vec::new();
    for task in tasks {
        sent.extend(task.await.expect("client task"));
    }

    let spanning = sent
        .iter()
        .filter(|s| s.started < killed && s.answered > killed)
        .count();
    assert!(
        spanning > 0,
        "no command was in flight when nats-server was killed"
    );
    let errors: Vec<&Sent> = sent.iter().filter(|s| s.result.is_err()).collect();
    for s in &errors {
        let (code, message) = s.result.as_ref().unwrap_err();
        assert!(
            matches!(code, Code::Unavailable | Code::Aborted),
            "{}: answered {code:?} {message}",
            s.request_id
        );
    }
    eprintln!(
        "{} commands: {} acknowledged, {} answered with an error, {} in flight at the kill; nats back after {:?} (an error seen while down: {felt})",
        sent.len(),
        sent.len() - errors.len(),
        errors.len(),
        spanning,
        back - killed
    );

    // Every acknowledged command is in the stream exactly once, with the reply's ids.
    let stream = read_stream(&nats.url()).await;
    let check = |stream: &[Stored]| {
        for (coop, events) in by_coop(stream) {
            assert_consistent(&coop, &events);
        }
        let mut seen = HashSet::new();
        for e in stream {
            assert!(
                seen.insert((e.envelope.cooperative_id.clone(), e.request_id().to_owned())),
                "request {} on {} written twice",
                e.request_id(),
                e.envelope.cooperative_id
            );
        }
    };
    check(&stream);
    for s in &sent {
        if let Ok(reply) = &s.result {
            assert!(!reply.duplicate, "{} was sent once", s.request_id);
            assert_reply_in_stream(&stream, &s.coop, &s.request_id, reply);
        }
    }

    // A command answered with an error is retried with the same request id: it is written
    // once, and recognised when the first attempt was in fact stored.
    let mut retried = Vec::new();
    let mut stored_unacknowledged = 0;
    for (i, s) in errors.iter().enumerate() {
        let stored_before = stream
            .iter()
            .find(|e| e.envelope.cooperative_id == s.coop && e.request_id() == s.request_id);
        let mut client = clients[i % 2].clone();
        let reply = send(&mut client, &s.coop, &s.request_id, s.cmd)
            .await
            .unwrap_or_else(|e| panic!("retrying {}: {e}", s.request_id));
        match stored_before {
            Some(first) => {
                stored_unacknowledged += 1;
                assert!(reply.duplicate, "{} was already stored", s.request_id);
                assert_eq!(reply.event_id, first.envelope.event_id);
            }
            None => assert!(!reply.duplicate, "{} was not stored before", s.request_id),
        }
        retried.push((s.coop.clone(), s.request_id.clone(), reply));
    }
    eprintln!(
        "{stored_unacknowledged} of the {} commands answered with an error had been stored",
        errors.len()
    );
    let stream = read_stream(&nats.url()).await;
    check(&stream);
    for (coop, request_id, reply) in &retried {
        assert_reply_in_stream(&stream, coop, request_id, reply);
    }
    // Nothing in the stream that no one was told about.
    let answered: HashSet<(&str, &str)> = sent
        .iter()
        .map(|s| (s.coop.as_str(), s.request_id.as_str()))
        .collect();
    for e in &stream {
        if e.request_id().ends_with("-reg") {
            continue;
        }
        assert!(
            answered.contains(&(e.envelope.cooperative_id.as_str(), e.request_id())),
            "{} in the stream was never sent",
            e.request_id()
        );
    }
    assert_eq!(stream.len(), coop_count + sent.len());

    // The projection followed the stream across the restart.
    let head = stream.last().unwrap().position;
    let mut q = projection.queries().await;
    let summary = summary_at(&mut q, head, &projection).await;
    assert_eq!(summary.position, head);
    let coops_in_stream = by_coop(&stream);
    for coop in &coops {
        let events = history(&mut q, coop, head).await;
        let ids: Vec<&str> = events
            .iter()
            .map(|e| e.envelope.as_ref().unwrap().event_id.as_str())
            .collect();
        let expected: Vec<&str> = coops_in_stream[coop]
            .iter()
            .map(|e| e.envelope.event_id.as_str())
            .collect();
        assert_eq!(
            ids, expected,
            "{coop}: the projection's history is not the stream's"
        );
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_process_with_a_stale_cache_decides_on_the_current_state() {
    let nats = NatsServer::start(current_binary()).await;
    let a = command_process(&nats, &[]).await;
    let b = command_process(&nats, &[]).await;
    let (mut a, mut b) = (a.commands().await, b.commands().await);

    // A caches the cooperative halted; B resumes it; A is asked to resume it again.
    let coop = "REH-0400";
    send(&mut a, coop, "r-reg", Cmd::Register)
        .await
        .expect("register");
    send(&mut a, coop, "r-halt", Cmd::Halt { workers: 12 })
        .await
        .expect("halt through A");
    let resumed = send(&mut b, coop, "r-resume-b", Cmd::Resume)
        .await
        .expect("resume through B");
    assert_eq!(resumed.version, 3);
    let err = send(&mut a, coop, "r-resume-a", Cmd::Resume)
        .await
        .expect_err("A must see that the cooperative is no longer halted");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    assert_eq!(rule(&err), "not_halted", "{err}");
    let stream = read_stream(&nats.url()).await;
    let events = &by_coop(&stream)[coop];
    assert_consistent(coop, events);
    let resumes = events
        .iter()
        .filter(|e| matches!(e.envelope.event, Some(Event::ActivityResumed(_))))
        .count();
    assert_eq!((events.len(), resumes), (3, 1));

    // The reverse: A caches it halted, B resumes it, A is asked to halt it again — allowed
    // on the current state, whatever A's cache says.
    let coop = "REH-0401";
    send(&mut a, coop, "h-reg", Cmd::Register)
        .await
        .expect("register");
    send(&mut a, coop, "h-halt-1", Cmd::Halt { workers: 12 })
        .await
        .expect("halt through A");
    send(&mut b, coop, "h-resume", Cmd::Resume)
        .await
        .expect("resume through B");
    let again = send(&mut a, coop, "h-halt-2", Cmd::Halt { workers: 8 })
        .await
        .unwrap_or_else(|e| panic!("A refused a halt on the resumed cooperative: {e}"));
    assert_eq!((again.version, again.duplicate), (4, false));

    // And an expected version the caller read elsewhere is checked against the log, not
    // against A's cache.
    let coop = "REH-0402";
    send(&mut a, coop, "v-reg", Cmd::Register)
        .await
        .expect("register");
    let through_b = send(&mut b, coop, "v-hc-b", Cmd::Headcount { members: 30 })
        .await
        .expect("headcount through B");
    assert_eq!(through_b.version, 2);
    let through_a = send_expecting(
        &mut a,
        coop,
        "v-hc-a",
        Cmd::Headcount { members: 31 },
        Some(through_b.version),
    )
    .await
    .unwrap_or_else(|e| panic!("A refused expected_version 2 on a cooperative at version 2: {e}"));
    assert_eq!(through_a.version, 3);
    // A stale expected version is still refused.
    let err = send_expecting(
        &mut b,
        coop,
        "v-hc-stale",
        Cmd::Headcount { members: 1 },
        Some(2),
    )
    .await
    .expect_err("expected_version 2 on version 3");
    assert_eq!(rule(&err), "expected_version_mismatch", "{err}");

    let stream = read_stream(&nats.url()).await;
    for (coop, events) in by_coop(&stream) {
        assert_consistent(&coop, &events);
    }
    assert_reply_in_stream(&stream, "REH-0401", "h-halt-2", &again);
    assert_reply_in_stream(&stream, "REH-0402", "v-hc-a", &through_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_on_jetstream_and_prints_the_province() {
    let nats = NatsServer::start(current_binary()).await;
    let url = nats.url();
    let (ok, out, err) = tokio::task::spawn_blocking(move || cli(&["demo", "--nats", &url], &[]))
        .await
        .unwrap();
    assert!(ok, "relance demo --nats failed:\n{err}");
    assert!(err.contains("jetstream"), "the demo names its log:\n{err}");
    let cooperatives = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("cooperatives"))
        .unwrap_or_else(|| panic!("no cooperative count in:\n{out}"));
    assert_eq!(cooperatives.split_whitespace().next(), Some("256"), "{out}");
    assert!(out.contains("Ibdaat Rehamna"), "{out}");
    // The demo keeps to its own stream.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    assert!(js.get_stream("RELANCE_DEMO").await.is_ok());
}

/// A command process with group commit (`--group-commit always`, nats-server with
/// `sync_interval: always`) is killed with SIGKILL while sixteen clients' commands are being
/// grouped into atomic batches, then started again. Every
/// command acknowledged before the kill is in the stream exactly once, with the reply's ids;
/// every command the kill left unanswered, sent again with its request id to the new process,
/// is written once (recognised as a duplicate when the dead process had stored it); each
/// cooperative's versions stay contiguous and chained, and the stream holds nothing no one
/// sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_process_killed_while_batches_flow_loses_and_duplicates_nothing() {
    const COOPS: usize = 8;
    const TASKS: usize = 16;
    const MAX_PER_TASK: usize = 2000;
    const ACKED_BEFORE: usize = 150;
    let conf = tempfile::tempdir().unwrap();
    let nats = synced_nats(conf.path()).await;
    let grouped = ["--group-commit", "always"];
    let mut first = command_process(&nats, &grouped).await;
    let client = first.commands().await;
    let coops: Vec<String> = (0..COOPS).map(|i| format!("KCP-{i:03}")).collect();
    for coop in &coops {
        send(
            &mut client.clone(),
            coop,
            &format!("{coop}-reg"),
            Cmd::Register,
        )
        .await
        .expect("register");
    }
    let (acked_tx, acked_rx) = tokio::sync::watch::channel(0usize);
    let acked_tx = Arc::new(acked_tx);
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (mut client, coops, acked_tx) = (client.clone(), coops.clone(), acked_tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            // Until the process dies under the task (its first error), bounded.
            for n in 0..MAX_PER_TASK {
                let coop = coops[(t + n) % COOPS].clone();
                let one = Sent::send(&mut client, coop, "kill", t, n).await;
                let failed = one.result.is_err();
                if !failed {
                    acked_tx.send_modify(|n| *n += 1);
                }
                sent.push(one);
                if failed {
                    break;
                }
            }
            sent
        }));
    }
    let mut rx = acked_rx.clone();
    tokio::time::timeout(Duration::from_secs(90), rx.wait_for(|n| *n >= ACKED_BEFORE))
        .await
        .unwrap_or_else(|_| panic!("fewer than {ACKED_BEFORE} commands acknowledged within 90 s"))
        .expect("writers alive");
    let killed = Instant::now();
    first.kill();
    let mut sent: Vec<Sent> = Vec::new();
    // What the dead process had sent before dying reaches the server's store first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for task in tasks {
        sent.extend(task.await.expect("client task"));
    }
    let in_flight = sent
        .iter()
        .filter(|s| s.started < killed && s.result.is_err())
        .count();
    assert!(
        in_flight > 0,
        "no command was in flight when the process was killed"
    );
    let before_restart = read_stream(&nats.url()).await;
    let batched = before_restart.iter().filter(|e| e.batch.is_some()).count();
    assert!(
        batched > 0,
        "no event was stored by an atomic batch before the kill: the grouped path was not exercised"
    );

    let second = command_process(&nats, &grouped).await;
    let mut client = second.commands().await;
    let mut retried = Vec::new();
    let mut stored_unanswered = 0;
    for s in sent.iter().filter(|s| s.result.is_err()) {
        let stored_before = before_restart
            .iter()
            .find(|e| e.envelope.cooperative_id == s.coop && e.request_id() == s.request_id);
        let reply = send(&mut client, &s.coop, &s.request_id, s.cmd)
            .await
            .unwrap_or_else(|e| panic!("retrying {} on the new process: {e}", s.request_id));
        match stored_before {
            Some(first) => {
                stored_unanswered += 1;
                assert!(
                    reply.duplicate,
                    "{} was stored before the kill",
                    s.request_id
                );
                assert_eq!(reply.event_id, first.envelope.event_id);
            }
            None => assert!(!reply.duplicate, "{} was not stored before", s.request_id),
        }
        retried.push((s.coop.clone(), s.request_id.clone(), reply));
    }
    eprintln!(
        "{} commands, {} acknowledged before the kill, {in_flight} cut off by it ({stored_unanswered} of them stored); {batched} of {} events stored by atomic batches",
        sent.len(),
        sent.len() - in_flight,
        before_restart.len()
    );

    let stream = read_stream(&nats.url()).await;
    for (coop, events) in by_coop(&stream) {
        assert_consistent(&coop, &events);
    }
    for s in &sent {
        if let Ok(reply) = &s.result {
            assert!(!reply.duplicate, "{} was sent once", s.request_id);
            assert_reply_in_stream(&stream, &s.coop, &s.request_id, reply);
        }
    }
    for (coop, request_id, reply) in &retried {
        assert_reply_in_stream(&stream, coop, request_id, reply);
    }
    let answered: HashSet<(&str, &str)> = sent
        .iter()
        .map(|s| (s.coop.as_str(), s.request_id.as_str()))
        .collect();
    for e in &stream {
        assert!(
            e.request_id().ends_with("-reg")
                || answered.contains(&(e.envelope.cooperative_id.as_str(), e.request_id())),
            "{} in the stream was never sent",
            e.request_id()
        );
    }
    assert_eq!(
        stream.len(),
        COOPS + sent.len(),
        "one event per command, no more"
    );
}
