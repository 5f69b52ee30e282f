//! `Subscriptions.Watch` on both backends, as a partner without NATS uses it: the stored events
//! then live ones, filtered; a resume after a disconnect with nothing missed or repeated; a
//! stalled client cut off (with the position to resume from) while another client and the
//! commands go on; a stopping node ending the stream; `relance watch` printing as events come;
//! and a call made from the published .proto alone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use relance_proto::v1;
use relance_proto::v1::subscriptions_client::SubscriptionsClient;
use relance_proto::v1::watch_response::Item;
use relance_tests::nats::current_binary;
use relance_tests::requests::{self, as_org, prefecture};
use relance_tests::{eventually, NatsServer, RelanceProcess};
use tonic::transport::{Channel, Endpoint};
use tonic::Streaming;

/// How long one message may take to arrive before the test fails (a bound, not a pause).
const MESSAGE_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum Backend {
    Embedded,
    JetStream,
}

/// A node on `backend` (and its nats-server, kept alive with it).
struct Setup {
    node: RelanceProcess,
    _nats: Option<NatsServer>,
    _dir: tempfile::TempDir,
}

async fn start(backend: Backend, extra: &[&str]) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path").to_owned();
    let nats = match backend {
        Backend::Embedded => None,
        Backend::JetStream => Some(NatsServer::start(current_binary()).await),
    };
    let url = nats.as_ref().map(NatsServer::url);
    let mut args = vec!["--data-dir", data.as_str()];
    if let Some(url) = &url {
        args.extend(["--nats", url.as_str()]);
    }
    args.extend_from_slice(extra);
    Setup {
        node: RelanceProcess::serve(&args).await,
        _nats: nats,
        _dir: dir,
    }
}

fn watch_request(from: u64) -> v1::WatchRequest {
    v1::WatchRequest {
        from_position: from,
        ..Default::default()
    }
}

async fn open(channel: Channel, r: v1::WatchRequest) -> Streaming<v1::WatchResponse> {
    SubscriptionsClient::new(channel)
        .watch(prefecture(r))
        .await
        .expect("Watch starts")
        .into_inner()
}

/// The next message, which must come.
async fn next(stream: &mut Streaming<v1::WatchResponse>) -> Result<Item, tonic::Status> {
    let message = tokio::time::timeout(MESSAGE_WITHIN, stream.message())
        .await
        .expect("a message in time")?
        .expect("the stream goes on");
    Ok(message.item.expect("an item"))
}

/// Positions of the events received until the caught-up heartbeat, and its position.
async fn until_caught_up(stream: &mut Streaming<v1::WatchResponse>) -> (Vec<u64>, u64) {
    let mut positions = Vec::new();
    loop {
        match next(stream).await.expect("no error before catching up") {
            Item::Event(e) => positions.push(e.position),
            Item::Heartbeat(h) if h.caught_up => return (positions, h.position),
            Item::Heartbeat(_) => {}
        }
    }
}

/// The next event (heartbeats skipped).
async fn next_event(stream: &mut Streaming<v1::WatchResponse>) -> v1::Envelope {
    loop {
        if let Item::Event(e) = next(stream).await.expect("an event, not an error") {
            return e;
        }
    }
}

async fn register(node: &RelanceProcess, coop: &str) -> u64 {
    let mut c = node.commands().await;
    c.register(prefecture(requests::register(coop, &format!("reg-{coop}"))))
        .await
        .expect("registered")
        .into_inner()
        .position
}

fn resume_from(status: &tonic::Status) -> u64 {
    status
        .metadata()
        .get("relance-resume-from")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no relance-resume-from on {status:?}"))
}

fn rule(status: &tonic::Status) -> &str {
    status
        .metadata()
        .get("relance-rule")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

// ------------------------------------------------------------------ catch-up, then live

async fn catch_up_then_live_with_filters(backend: Backend) {
    let mut s = start(backend, &[]).await;
    let node = &s.node;
    for coop in ["WAT-A", "WAT-B", "WAT-C"] {
        register(node, coop).await;
    }
    let mut all = open(node.channel().await, watch_request(1)).await;
    let (stored, at) = until_caught_up(&mut all).await;
    assert_eq!(
        (stored, at),
        (vec![1, 2, 3], 3),
        "{backend:?}: the stored events, then caught up"
    );

    let mut now = open(node.channel().await, watch_request(0)).await;
    assert_eq!(
        until_caught_up(&mut now).await,
        (vec![], 3),
        "from now: nothing stored"
    );
    let mut halts_of_a = open(
        node.channel().await,
        v1::WatchRequest {
            from_position: 1,
            cooperative_ids: vec!["WAT-A".into()],
            event_types: vec!["ActivityHalted".into()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(until_caught_up(&mut halts_of_a).await, (vec![], 3));
    let mut ocp = open(
        node.channel().await,
        v1::WatchRequest {
            partner: "OCP".into(),
            ..Default::default()
        },
    )
    .await;
    until_caught_up(&mut ocp).await;

    // Live: a registration, a halt of B then of A, support from OCP.
    let mut c = node.commands().await;
    register(node, "WAT-D").await;
    c.halt(prefecture(requests::halt("WAT-B", "halt-b")))
        .await
        .expect("halted");
    c.halt(prefecture(requests::halt("WAT-A", "halt-a")))
        .await
        .expect("halted");
    c.grant_support(as_org(requests::support("WAT-C", "sup-c", "OCP"), "OCP"))
        .await
        .expect("granted");
    for (position, coop) in [(4, "WAT-D"), (5, "WAT-B"), (6, "WAT-A"), (7, "WAT-C")] {
        for stream in [&mut all, &mut now] {
            let e = next_event(stream).await;
            assert_eq!((e.position, e.cooperative_id.as_str()), (position, coop));
        }
    }
    let e = next_event(&mut halts_of_a).await;
    assert_eq!((e.position, e.cooperative_id.as_str()), (6, "WAT-A"));
    assert!(matches!(
        e.event,
        Some(v1::envelope::Event::ActivityHaltedV2(_))
    ));
    let e = next_event(&mut ocp).await;
    assert_eq!(e.position, 7);
    assert!(
        !e.hash.is_empty() && e.version == 2,
        "the envelope as stored: {e:?}"
    );

    // A bad filter is refused naming the field and the rule.
    let refused = SubscriptionsClient::new(node.channel().await)
        .watch(prefecture(v1::WatchRequest {
            event_types: vec!["CooperativeDissolved".into()],
            ..Default::default()
        }))
        .await
        .expect_err("an unknown event type is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(rule(&refused), "invalid_enum");

    // A stopping node ends the stream, saying where to resume.
    s.node.terminate();
    let status = next(&mut all).await.expect_err("the stream ends");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(rule(&status), "node_stopping");
    assert_eq!(resume_from(&status), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sends_the_stored_events_then_live_ones_filtered_embedded() {
    catch_up_then_live_with_filters(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sends_the_stored_events_then_live_ones_filtered_jetstream() {
    catch_up_then_live_with_filters(Backend::JetStream).await;
}

// ------------------------------------------------------------------ resume, heartbeats

async fn resume_after_a_disconnect(backend: Backend) {
    let s = start(backend, &[]).await;
    let node = &s.node;
    for i in 0..5 {
        register(node, &format!("RES-{i}")).await;
    }
    let mut seen = Vec::new();
    {
        let mut first = open(node.channel().await, watch_request(1)).await;
        for _ in 0..3 {
            seen.push(next_event(&mut first).await.position);
        }
        // Dropped here: the client disconnects mid-history.
    }
    for i in 5..9 {
        register(node, &format!("RES-{i}")).await;
    }
    let from = seen.last().expect("three events") + 1;
    let mut again = open(
        node.channel().await,
        v1::WatchRequest {
            from_position: from,
            heartbeat_seconds: 1,
            ..Default::default()
        },
    )
    .await;
    let (rest, at) = until_caught_up(&mut again).await;
    seen.extend(rest);
    assert_eq!(
        seen,
        (1..=9).collect::<Vec<_>>(),
        "{backend:?}: nothing missed or repeated"
    );
    // Idle: heartbeats say how far the stream has looked.
    match next(&mut again).await.expect("a heartbeat") {
        Item::Heartbeat(h) => assert_eq!((h.position, h.caught_up), (at, true)),
        Item::Event(e) => panic!("no event was recorded, got {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_a_disconnect_with_nothing_missed_or_repeated_embedded() {
    resume_after_a_disconnect(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_a_disconnect_with_nothing_missed_or_repeated_jetstream() {
    resume_after_a_disconnect(Backend::JetStream).await;
}

// ------------------------------------------------------------------ a stalled client

async fn metric(addr: std::net::SocketAddr, name: &str) -> Option<f64> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn stalled_client_is_cut_off(backend: Backend) {
    let metrics = relance_tests::ports::free_addr();
    let metrics_arg = metrics.to_string();
    let s = start(
        backend,
        &[
            "--watch-buffer",
            "8",
            "--watch-stall",
            "2",
            "--metrics",
            &metrics_arg,
        ],
    )
    .await;
    let node = &s.node;
    let head = register(node, "SLOW-1").await;
    // The stalled client: a connection with the smallest HTTP/2 windows, read once, then left.
    let small = Endpoint::from_shared(node.url())
        .expect("url")
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .expect("connect");
    let mut stalled = open(small, watch_request(0)).await;
    assert_eq!(until_caught_up(&mut stalled).await, (vec![], head));
    let mut reader = open(node.channel().await, watch_request(0)).await;
    until_caught_up(&mut reader).await;

    // Far more than the stalled client's window and buffer hold: every command succeeds.
    let mut c = node.commands().await;
    let long = "Act4Community : achat de masques, formation et accompagnement. ".repeat(30);
    let mut last = head;
    for i in 0..400 {
        let mut r = requests::support("SLOW-1", &format!("sup-{i}"), "OCP");
        if let Some(d) = r.data.as_mut() {
            d.description.clone_from(&long);
        }
        last = c
            .grant_support(as_org(r, "OCP"))
            .await
            .expect("commands go on while a client stalls")
            .into_inner()
            .position;
    }
    let cut = eventually(Duration::from_secs(30), || async {
        metric(metrics, "relance_watch_cut_off_total")
            .await
            .filter(|n| *n >= 1.0)
    })
    .await;
    assert_eq!(cut, 1.0, "only the stalled client is cut off");
    // The other client got everything, in order.
    for position in head + 1..=last {
        assert_eq!(next_event(&mut reader).await.position, position);
    }

    // The stalled client reads what was held for it, then the end and where to resume.
    let mut got = Vec::new();
    let status = loop {
        match next(&mut stalled).await {
            Ok(Item::Event(e)) => got.push(e.position),
            Ok(Item::Heartbeat(_)) => {}
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(rule(&status), "watch_client_too_slow");
    let resume = resume_from(&status);
    assert_eq!(
        got,
        (head + 1..resume).collect::<Vec<_>>(),
        "{backend:?}: all before the cut"
    );
    assert!(resume <= last, "cut off before the end: {resume} of {last}");
    let mut again = open(node.channel().await, watch_request(resume)).await;
    let (rest, at) = until_caught_up(&mut again).await;
    assert_eq!((rest, at), ((resume..=last).collect::<Vec<_>>(), last));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_watch_client_is_cut_off_while_others_go_on_embedded() {
    stalled_client_is_cut_off(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_watch_client_is_cut_off_while_others_go_on_jetstream() {
    stalled_client_is_cut_off(Backend::JetStream).await;
}

// ------------------------------------------------------------------ the CLI

/// Lines of a running `relance watch`, as they come.
struct Lines {
    child: std::process::Child,
    rx: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Lines {
    fn spawn(server: &str, args: &[&str]) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(relance_tests::relance_bin())
            .args(["watch", "--server", server])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("relance watch starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, rx }
    }

    async fn next(&mut self) -> String {
        tokio::time::timeout(MESSAGE_WITHIN, self.rx.recv())
            .await
            .expect("a line in time")
            .expect("relance watch goes on")
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn cli_prints_events_as_they_come(backend: Backend) {
    let s = start(backend, &[]).await;
    let node = &s.node;
    register(node, "CLI-1").await;
    let url = node.url();
    let mut json = Lines::spawn(&url, &["--from", "1", "--output", "json"]);
    let mut table = Lines::spawn(&url, &["--coop", "CLI-2"]);
    let line: serde_json::Value = serde_json::from_str(&json.next().await).expect("JSON");
    assert_eq!(line["kind"], "event");
    assert_eq!(line["envelope"]["cooperative_id"], "CLI-1");
    assert_eq!(line["envelope"]["position"], 1);
    let line: serde_json::Value = serde_json::from_str(&json.next().await).expect("JSON");
    assert_eq!(
        (line["kind"].as_str(), line["caught_up"].as_bool()),
        (Some("heartbeat"), Some(true))
    );
    assert!(table.next().await.starts_with("POSITION"));
    // The header is printed once the node accepted the call: from now on, CLI-2 is live.
    register(node, "CLI-2").await;
    let line: serde_json::Value = serde_json::from_str(&json.next().await).expect("JSON");
    assert_eq!(line["envelope"]["cooperative_id"], "CLI-2");
    assert_eq!(line["envelope"]["position"], 2);
    let row = table.next().await;
    assert!(
        row.contains("CLI-2")
            && row.contains("CooperativeRegistered")
            && row.trim_start().starts_with('2'),
        "{backend:?}: {row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relance_watch_prints_events_as_they_come_embedded() {
    cli_prints_events_as_they_come(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relance_watch_prints_events_as_they_come_jetstream() {
    cli_prints_events_as_they_come(Backend::JetStream).await;
}

// ------------------------------------------------------------------ from the .proto alone

/// A partner's own client: `watch.proto` compiled at run time, raw bytes on the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_watches_with_nothing_but_the_published_proto() {
    let s = start(Backend::Embedded, &[]).await;
    register(&s.node, "PROTO-1").await;
    let proto = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let files =
        protox::compile(["relance/v1/watch.proto"], [&proto]).expect("watch.proto compiles");
    let pool = DescriptorPool::from_file_descriptor_set(files).expect("descriptors");
    let service = pool
        .get_service_by_name("relance.v1.Subscriptions")
        .expect("the Subscriptions service is published");
    let method = service
        .methods()
        .find(|m| m.name() == "Watch")
        .expect("Watch");
    assert!(method.is_server_streaming());
    let mut request = DynamicMessage::new(method.input());
    request.set_field_by_name("from_position", Value::U64(1));
    let bytes = prost::Message::encode_to_vec(&request);

    let mut grpc = tonic::client::Grpc::new(s.node.channel().await);
    grpc.ready().await.expect("ready");
    let path = format!("/{}/{}", service.full_name(), method.name());
    let mut stream = grpc
        .server_streaming(
            prefecture(bytes),
            path.parse().expect("path"),
            relance_tests::raw::RawCodec,
        )
        .await
        .expect("Watch answers")
        .into_inner();
    let mut seen = BTreeMap::new();
    while seen.len() < 2 {
        let raw = tokio::time::timeout(MESSAGE_WITHIN, stream.next())
            .await
            .expect("in time")
            .expect("a message")
            .expect("not an error");
        let message = DynamicMessage::decode(method.output(), raw.as_slice()).expect("decodes");
        for (field, value) in message.fields() {
            seen.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }
    assert!(seen["event"].contains("PROTO-1"), "{seen:?}");
    assert!(seen["heartbeat"].contains("caught_up"), "{seen:?}");
}
