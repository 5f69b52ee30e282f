//! Hardening, from the outside: request ids bound to their caller and content (on both
//! backends, and on JetStream beyond the duplicate window), commands refused on a chain that
//! does not verify, malformed protobuf, the rule named in `relance-rule` by every refusal,
//! counts that do not fit, page tokens never issued, poison messages on the event stream, and
//! health once the projection stops following the log.
//!
//! Every refusal is checked for its code, its `relance-rule` metadata and that nothing was
//! written (the log's head, read with `relance status`'s RPC, did not move).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use prost::Message as _;
use relance_proto::v1;
use relance_proto::v1::node_client::NodeClient;
use relance_server::auth::token_hash;
use relance_tests::raw::RawCodec;
use relance_tests::requests::{self, as_org, prefecture, with_token, Overrides as _};
use relance_tests::{eventually, NatsServer, RelanceProcess};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const WAIT: Duration = Duration::from_secs(30);

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The `relance-rule` metadata of a refusal.
fn rule(s: &Status) -> &str {
    s.metadata()
        .get("relance-rule")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Asserts `result` is a refusal with `code` and the rule `name` in `relance-rule`.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, name: &str) {
    match result {
        Ok(v) => panic!("expected {code:?} {name}, got {v:?}"),
        Err(s) => {
            assert_eq!(s.code(), code, "{s:?}");
            assert_eq!(rule(&s), name, "{s:?}");
        }
    }
}

async fn status(node: &RelanceProcess) -> v1::StatusReply {
    status_with(node, None).await
}

/// `relance status`'s answer, with `token` when authentication is on.
async fn status_with(node: &RelanceProcess, token: Option<&str>) -> v1::StatusReply {
    let request = match token {
        Some(t) => with_token(v1::StatusRequest {}, t),
        None => tonic::Request::new(v1::StatusRequest {}),
    };
    NodeClient::new(node.channel().await)
        .status(request)
        .await
        .expect("status")
        .into_inner()
}

/// The position of the last event in the log.
async fn head(node: &RelanceProcess) -> u64 {
    status(node).await.log_head
}

async fn health(node: &RelanceProcess, service: &str) -> ServingStatus {
    let reply = HealthClient::new(node.channel().await)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health check")
        .into_inner();
    ServingStatus::try_from(reply.status).expect("known serving status")
}

const QUERIES: &str = "relance.v1.CooperativeQueries";

async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

/// The value of a metric line `name value` in a Prometheus exposition.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn jetstream_node(nats: &NatsServer, dir: &Path, extra: &[&str]) -> RelanceProcess {
    let data = dir.join("data");
    let url = nats.url();
    let mut args = vec!["--nats", url.as_str(), "--data-dir", path_str(&data)];
    args.extend_from_slice(extra);
    RelanceProcess::serve(&args).await
}

// ------------------------------------------------------------------ request ids

/// The request id checks on `node`; `window` is JetStream's duplicate window, waited out
/// before the retries so they are judged from the history alone.
async fn request_ids_are_bound_to_caller_and_content(
    node: &RelanceProcess,
    window: Option<Duration>,
) {
    let coop = "REH-0100";
    let mut c = node.commands().await;
    c.register(prefecture(requests::register(coop, "reg-1")))
        .await
        .expect("register");
    let ocp = c
        .grant_support(as_org(requests::support(coop, "sup-1", "OCP"), "OCP"))
        .await
        .expect("OCP support")
        .into_inner();
    let halt = c
        .halt(prefecture(requests::halt(coop, "halt-1")))
        .await
        .expect("halt")
        .into_inner();
    let count = c
        .report_headcount(prefecture(requests::headcount(coop, "hc-1")))
        .await
        .expect("headcount")
        .into_inner();
    assert!(!ocp.duplicate && !halt.duplicate && !count.duplicate);
    if let Some(window) = window {
        tokio::time::sleep(window + Duration::from_millis(1500)).await;
    }
    let before = head(node).await;

    // INDH reusing the request id OCP used on this cooperative.
    refused(
        c.grant_support(as_org(requests::support(coop, "sup-1", "INDH"), "INDH"))
            .await,
        Code::AlreadyExists,
        "request_id_reused",
    );
    // A headcount reusing the halt's request id.
    refused(
        c.report_headcount(prefecture(requests::headcount(coop, "halt-1")))
            .await,
        Code::AlreadyExists,
        "request_id_reused",
    );
    // The same request id with other content.
    refused(
        c.report_headcount(prefecture(
            requests::headcount(coop, "hc-1").with(|d| d.members = 12),
        ))
        .await,
        Code::AlreadyExists,
        "request_id_reused",
    );
    assert_eq!(head(node).await, before, "a refused reuse writes nothing");

    // The same caller repeating the same command gets the first result.
    for (retry, first) in [
        (
            c.report_headcount(prefecture(requests::headcount(coop, "hc-1")))
                .await,
            &count,
        ),
        (
            c.grant_support(as_org(requests::support(coop, "sup-1", "OCP"), "OCP"))
                .await,
            &ocp,
        ),
        (
            c.halt(prefecture(requests::halt(coop, "halt-1"))).await,
            &halt,
        ),
    ] {
        let retry = retry.expect("a repeated command is answered").into_inner();
        assert!(retry.duplicate, "{retry:?}");
        assert_eq!(
            (&retry.event_id, retry.version, retry.position),
            (&first.event_id, first.version, first.position)
        );
    }
    assert_eq!(
        head(node).await,
        before,
        "a repeated command writes nothing"
    );
    let history = node
        .queries()
        .await
        .history(v1::HistoryRequest {
            cooperative_id: coop.into(),
            min_position: before,
        })
        .await
        .expect("history")
        .into_inner();
    assert_eq!(
        history.events.len(),
        4,
        "register, support, halt, headcount"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_bound_to_caller_and_content_on_the_embedded_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = RelanceProcess::serve(&["--data-dir", path_str(dir.path())]).await;
    request_ids_are_bound_to_caller_and_content(&node, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_bound_to_caller_and_content_on_jetstream() {
    let nats = NatsServer::start(relance_tests::nats::current_binary()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = jetstream_node(&nats, dir.path(), &[]).await;
    request_ids_are_bound_to_caller_and_content(&node, None).await;
}

/// Past the duplicate window, JetStream no longer drops a retried publish: the command
/// service's own lookup in the cooperative's history must still tell a retry from a reuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_bound_to_caller_and_content_on_jetstream_beyond_the_duplicate_window() {
    let nats = NatsServer::start(relance_tests::nats::current_binary()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = jetstream_node(&nats, dir.path(), &["--duplicate-window-secs", "1"]).await;
    request_ids_are_bound_to_caller_and_content(&node, Some(Duration::from_secs(1))).await;
}

// ------------------------------------------------------------------ unverifiable chains

/// Publishes `payload` on `subject` of the event stream with `headers`, as anyone with
/// publish rights could; the stream position it got.
async fn publish(
    nats: &NatsServer,
    subject: &str,
    headers: &[(&str, &str)],
    payload: Vec<u8>,
) -> u64 {
    let mut map = async_nats::HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, *v);
    }
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    js.publish_with_headers(subject.to_owned(), map, payload.into())
        .await
        .expect("publish")
        .await
        .expect("acknowledged")
        .sequence
}

/// The headers relance writes, for `coop` at `version`.
fn relance_headers<'a>(
    coop: &'a str,
    version: &'a str,
    event_id: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Relance-Event-Type", "HeadcountReported"),
        ("Relance-Schema-Version", "1"),
        ("Relance-Event-Id", event_id),
        ("Relance-Cooperative-Id", coop),
        ("Relance-Version", version),
        ("Relance-Request-Id", "forged"),
        (
            "Content-Type",
            "application/protobuf; proto=relance.v1.Envelope",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_refuse_to_build_on_a_forged_event() {
    let nats = NatsServer::start(relance_tests::nats::current_binary()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = jetstream_node(&nats, dir.path(), &[]).await;
    let mut c = node.commands().await;
    for coop in ["REH-0200", "REH-0201"] {
        c.register(prefecture(requests::register(coop, "reg-1")))
            .await
            .expect("register");
    }
    let history = node
        .queries()
        .await
        .history(v1::HistoryRequest {
            cooperative_id: "REH-0200".into(),
            min_position: 2,
        })
        .await
        .expect("history")
        .into_inner();
    // The registration turned into a version 2 whose hash is not its content's.
    let mut forged = history.events[0].envelope.clone().expect("envelope");
    forged.prev_hash = forged.hash.clone();
    forged.version = 2;
    forged.event_id = "01700000-0000-7000-8000-00000000f0f0".into();
    forged.request_id = "forged".into();
    forged.event = Some(v1::envelope::Event::HeadcountReported(
        v1::HeadcountReported {
            members: 999,
            employees: 999,
            as_of: "2020-04-01".into(),
        },
    ));
    let event_id = forged.event_id.clone();
    publish(
        &nats,
        "relance.v1.coop.REH-0200",
        &relance_headers("REH-0200", "2", &event_id),
        forged.encode_to_vec(),
    )
    .await;
    let before = head(&node).await;
    refused(
        c.report_headcount(prefecture(requests::headcount("REH-0200", "hc-1")))
            .await,
        Code::FailedPrecondition,
        "cooperative_quarantined",
    );
    assert_eq!(
        head(&node).await,
        before,
        "nothing recorded on a forged chain"
    );
    // The other cooperative still accepts commands.
    let ok = c
        .report_headcount(prefecture(requests::headcount("REH-0201", "hc-1")))
        .await
        .expect("the other cooperative accepts commands")
        .into_inner();
    assert_eq!(ok.position, before + 1);
}

// ------------------------------------------------------------------ malformed bytes

async fn raw_call(channel: &Channel, path: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let mut req = tonic::Request::new(body);
    req.metadata_mut()
        .insert("x-relance-org", "prefecture".parse().expect("ascii"));
    grpc.unary(req, path.parse().expect("path"), RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_protobuf_is_invalid_argument_malformed_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = RelanceProcess::serve(&["--data-dir", path_str(dir.path())]).await;
    let channel = node.channel().await;
    // A valid registration, as bytes: the malformed ones are made from it.
    let valid = requests::register("REH-0300", "reg-1").encode_to_vec();
    // meta { request_id: <0xff 0xfe>, cooperative_id: "REH-0300" }
    let mut bad_utf8_meta = vec![0x0a, 0x02, 0xff, 0xfe, 0x12, 0x08];
    bad_utf8_meta.extend_from_slice(b"REH-0300");
    let mut bad_utf8 = vec![0x0a, u8::try_from(bad_utf8_meta.len()).expect("short")];
    bad_utf8.extend_from_slice(&bad_utf8_meta);
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "/relance.v1.CooperativeQueries/Get",
            "invalid UTF-8 in a string",
            vec![0x0a, 0x02, 0xff, 0xfe],
        ),
        (
            "/relance.v1.CooperativeCommands/Register",
            "invalid UTF-8 in a nested string",
            bad_utf8,
        ),
        (
            "/relance.v1.CooperativeCommands/Register",
            "truncated message",
            valid[..valid.len() - 3].to_vec(),
        ),
        (
            "/relance.v1.CooperativeQueries/Get",
            "truncated varint",
            vec![0x10, 0x80],
        ),
        (
            "/relance.v1.CooperativeQueries/Get",
            "wrong wire type",
            vec![0x08, 0x01],
        ),
        (
            "/relance.v1.CooperativeCommands/Register",
            "wrong wire type",
            vec![0x08, 0x01],
        ),
        (
            "/relance.v1.CooperativeQueries/Get",
            "length past the end",
            vec![0x0a, 0x10, b'R', b'E'],
        ),
        (
            "/relance.v1.CooperativeCommands/Register",
            "length past the end",
            vec![0x0a, 0x7f, 0x0a, 0x01],
        ),
    ];
    let before = head(&node).await;
    for (path, what, body) in cases {
        match raw_call(&channel, path, body).await {
            Ok(reply) => panic!("{path} {what}: answered {reply:?}"),
            Err(s) => {
                assert_eq!(s.code(), Code::InvalidArgument, "{path} {what}: {s:?}");
                assert_eq!(rule(&s), "malformed_request", "{path} {what}: {s:?}");
            }
        }
    }
    assert_eq!(head(&node).await, before, "nothing written");
    // The valid bytes go through, so the refusals were about the bytes.
    raw_call(&channel, "/relance.v1.CooperativeCommands/Register", valid)
        .await
        .expect("the valid registration");
    assert_eq!(head(&node).await, before + 1);
}

// ------------------------------------------------------------------ every refusal names its rule

fn auth_file(dir: &Path) -> std::path::PathBuf {
    let entries: Vec<_> = [
        ("m.najah", "prefecture", "prefecture"),
        ("reader-1", "ODCo", "reader"),
    ]
    .iter()
    .map(|(id, org, role)| {
        serde_json::json!({
            "id": id,
            "organisation": org,
            "roles": [role],
            "token_sha256": hex::encode(token_hash(&format!("rlc_test_{id}"))),
        })
    })
    .collect();
    let file = dir.join("auth.json");
    std::fs::write(
        &file,
        serde_json::json!({ "principals": entries }).to_string(),
    )
    .expect("write auth file");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_layer_and_the_rate_limiter_name_their_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = auth_file(dir.path());
    let data = dir.path().join("data");
    let node = RelanceProcess::serve(&[
        "--data-dir",
        path_str(&data),
        "--auth",
        path_str(&auth),
        "--rate-limit",
        "2",
    ])
    .await;
    let head = || status_with(&node, Some("rlc_test_m.najah"));
    let before = head().await.log_head;
    let mut q = node.queries().await;
    let get = || v1::GetRequest {
        cooperative_id: "REH-0400".into(),
        min_position: 0,
    };
    refused(q.get(get()).await, Code::Unauthenticated, "missing_token");
    let mut basic = tonic::Request::new(get());
    basic
        .metadata_mut()
        .insert("authorization", "Basic bTpu".parse().expect("ascii"));
    refused(q.get(basic).await, Code::Unauthenticated, "malformed_token");
    refused(
        q.get(with_token(get(), "rlc_not_a_known_token")).await,
        Code::Unauthenticated,
        "unknown_token",
    );
    let mut c = node.commands().await;
    refused(
        c.register(with_token(
            requests::register("REH-0400", "reg-1"),
            "rlc_test_reader-1",
        ))
        .await,
        Code::PermissionDenied,
        "role_not_allowed",
    );
    // Past its burst, the reader is slowed down.
    let mut limited = None;
    for _ in 0..20 {
        if let Err(s) = q.get(with_token(get(), "rlc_test_reader-1")).await {
            if s.code() == Code::ResourceExhausted {
                limited = Some(s);
                break;
            }
        }
    }
    let limited = limited.expect("the rate limit answers RESOURCE_EXHAUSTED");
    assert_eq!(rule(&limited), "rate_limited", "{limited:?}");
    assert_eq!(head().await.log_head, before, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_and_audit_name_their_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = RelanceProcess::serve(&["--data-dir", path_str(dir.path())]).await;
    let mut c = node.commands().await;
    let reg = c
        .register(prefecture(requests::register("REH-0500", "reg-1")))
        .await
        .expect("register")
        .into_inner();
    let before = head(&node).await;
    let mut q = node.queries().await;
    let unknown = "REH-0599";
    refused(
        q.get(v1::GetRequest {
            cooperative_id: unknown.into(),
            min_position: reg.position,
        })
        .await,
        Code::NotFound,
        "cooperative_not_registered",
    );
    refused(
        q.history(v1::HistoryRequest {
            cooperative_id: unknown.into(),
            min_position: reg.position,
        })
        .await,
        Code::NotFound,
        "cooperative_not_registered",
    );
    let at = |business_date: &str| v1::AsOf {
        point: Some(v1::as_of::Point::Position(reg.position)),
        business_date: business_date.into(),
    };
    refused(
        q.state_at(v1::StateAtRequest {
            cooperative_id: unknown.into(),
            as_of: Some(at("")),
            min_position: reg.position,
        })
        .await,
        Code::NotFound,
        "cooperative_not_registered",
    );
    for filter in [
        v1::ListRequest {
            sector: "astrologie".into(),
            ..Default::default()
        },
        v1::ListRequest {
            status: "dormant".into(),
            ..Default::default()
        },
    ] {
        refused(q.list(filter).await, Code::InvalidArgument, "invalid_enum");
    }
    for date in ["2020-13-01", "01/04/2020"] {
        refused(
            q.state_at(v1::StateAtRequest {
                cooperative_id: "REH-0500".into(),
                as_of: Some(at(date)),
                min_position: reg.position,
            })
            .await,
            Code::InvalidArgument,
            "invalid_date",
        );
    }
    refused(
        q.list(v1::ListRequest {
            page_token: "REH-0500.000000000000".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "page_token_invalid",
    );
    let mut audit = v1::audit_client::AuditClient::new(node.channel().await);
    let export = audit.export(v1::ExportRequest { from: 5, to: 2 }).await;
    match export {
        Err(s) => {
            assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
            assert_eq!(rule(&s), "range_reversed", "{s:?}");
        }
        Ok(stream) => {
            let s = stream
                .into_inner()
                .message()
                .await
                .expect_err("a reversed range is refused");
            assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
            assert_eq!(rule(&s), "range_reversed", "{s:?}");
        }
    }
    assert_eq!(head(&node).await, before, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_process_asked_for_a_digest_says_not_served_here() {
    let nats = NatsServer::start(relance_tests::nats::current_binary()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = jetstream_node(&nats, dir.path(), &["--role", "command"]).await;
    let mut audit = v1::audit_client::AuditClient::new(node.channel().await);
    refused(
        audit.digest(v1::DigestRequest { min_position: 0 }).await,
        Code::FailedPrecondition,
        "not_served_here",
    );
}

// ------------------------------------------------------------------ counts and page tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_that_do_not_fit_and_page_tokens_never_issued_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = RelanceProcess::serve(&["--data-dir", path_str(dir.path())]).await;
    let mut c = node.commands().await;
    let before = head(&node).await;
    let huge = (1u64 << 32) + 5;
    match c
        .register(prefecture(
            requests::register("REH-0600", "reg-1").with(|d| d.members = huge),
        ))
        .await
    {
        Ok(r) => panic!("{huge} members accepted: {r:?}"),
        Err(s) => {
            assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
            assert_eq!(rule(&s), "number_too_large", "{s:?}");
            let field = s
                .metadata()
                .get("relance-field")
                .and_then(|v| v.to_str().ok());
            assert!(field.is_some_and(|f| f.ends_with("members")), "{s:?}");
        }
    }
    refused(
        c.report_headcount(prefecture(
            requests::headcount("REH-0600", "hc-1").with(|d| d.employees = huge),
        ))
        .await,
        Code::InvalidArgument,
        "number_too_large",
    );
    assert_eq!(head(&node).await, before, "nothing written");
    let reg = c
        .register(prefecture(requests::register("REH-0600", "reg-2")))
        .await
        .expect("a count that fits")
        .into_inner();
    c.register(prefecture(requests::register("REH-0601", "reg-1")))
        .await
        .expect("register");
    let mut q = node.queries().await;
    let first = q
        .list(v1::ListRequest {
            page_size: 1,
            min_position: reg.position + 1,
            ..Default::default()
        })
        .await
        .expect("first page")
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    for token in [
        "REH-0600",
        "REH-0600.ffffffffffff",
        "not a token",
        &format!("{}x", first.next_page_token),
    ] {
        refused(
            q.list(v1::ListRequest {
                page_size: 1,
                page_token: token.to_owned(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "page_token_invalid",
        );
    }
    // The token issued for another filter is not accepted either.
    refused(
        q.list(v1::ListRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            commune: "Benguérir".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "page_token_invalid",
    );
    let second = q
        .list(v1::ListRequest {
            page_size: 1,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect("the issued token")
        .into_inner();
    assert_eq!(second.cooperatives.len(), 1);
}

// ------------------------------------------------------------------ poison messages

/// Records a headcount on `coop` and waits until the projection shows it (by `min_position`).
async fn projected(node: &RelanceProcess, coop: &str, request_id: &str) -> u64 {
    let reply = node
        .commands()
        .await
        .report_headcount(prefecture(requests::headcount(coop, request_id)))
        .await
        .unwrap_or_else(|s| panic!("{coop} accepts commands: {s:?}"))
        .into_inner();
    let view = node
        .queries()
        .await
        .get(v1::GetRequest {
            cooperative_id: coop.into(),
            min_position: reply.position,
        })
        .await
        .unwrap_or_else(|s| {
            panic!(
                "{coop} is projected past position {}: {s:?}",
                reply.position
            )
        })
        .into_inner();
    assert_eq!(view.members, 11);
    reply.position
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_quarantine_their_cooperative_and_the_projection_goes_on() {
    let nats = NatsServer::start(relance_tests::nats::current_binary()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = relance_tests::ports::free_addr();
    let node = jetstream_node(&nats, dir.path(), &["--metrics", &metrics.to_string()]).await;
    let mut c = node.commands().await;
    let (good, other) = ("REH-0700", "REH-0701");
    let (no_headers, garbage, wrong_subject) = ("REH-0710", "REH-0711", "REH-0712");
    for coop in [good, other, no_headers, garbage] {
        c.register(prefecture(requests::register(coop, "reg-1")))
            .await
            .expect("register");
    }
    let genuine = node
        .queries()
        .await
        .history(v1::HistoryRequest {
            cooperative_id: other.into(),
            min_position: 4,
        })
        .await
        .expect("history")
        .into_inner()
        .events[0]
        .envelope
        .clone()
        .expect("envelope");

    // Four kinds of poison, each followed by commands on the others.
    publish(
        &nats,
        &format!("relance.v1.coop.{no_headers}"),
        &[],
        b"hello".to_vec(),
    )
    .await;
    projected(&node, good, "hc-1").await;
    publish(
        &nats,
        &format!("relance.v1.coop.{garbage}"),
        &relance_headers(garbage, "2", "01700000-0000-7000-8000-00000000a001"),
        vec![0xff, 0xff, 0xff, 0x01],
    )
    .await;
    projected(&node, other, "hc-1").await;
    // A genuine envelope of another cooperative, stored under this one's subject.
    publish(
        &nats,
        &format!("relance.v1.coop.{wrong_subject}"),
        &relance_headers(wrong_subject, "1", &genuine.event_id),
        genuine.encode_to_vec(),
    )
    .await;
    projected(&node, good, "hc-2").await;
    // A subject that names no cooperative at all.
    let nameless = publish(
        &nats,
        "relance.v1.coop.not.a.cooperative",
        &[],
        b"{}".to_vec(),
    )
    .await;
    let last = projected(&node, other, "hc-2").await;
    assert!(last > nameless);

    // The poisoned cooperatives are quarantined, for queries and for commands.
    let before = head(&node).await;
    let mut q = node.queries().await;
    for coop in [no_headers, garbage, wrong_subject] {
        refused(
            q.get(v1::GetRequest {
                cooperative_id: coop.into(),
                min_position: last,
            })
            .await,
            Code::FailedPrecondition,
            "cooperative_quarantined",
        );
        refused(
            c.report_headcount(prefecture(requests::headcount(coop, "hc-9")))
                .await,
            Code::FailedPrecondition,
            "cooperative_quarantined",
        );
    }
    assert_eq!(
        head(&node).await,
        before,
        "nothing recorded on a poisoned cooperative"
    );
    // The genuine owner of the misplaced envelope is untouched.
    let view = q
        .get(v1::GetRequest {
            cooperative_id: other.into(),
            min_position: last,
        })
        .await
        .expect("the envelope's own cooperative")
        .into_inner();
    assert_eq!(view.members, 11);

    let st = status(&node).await;
    assert_eq!(st.poison_messages, 4, "{st:?}");
    assert_eq!(st.quarantined_cooperatives, 3, "{st:?}");
    assert!(st.projection_stopped.is_empty(), "{st:?}");
    assert_eq!(st.checkpoint, st.log_head, "{st:?}");
    let text = http_get(metrics, "/metrics").await;
    assert_eq!(
        metric(&text, "relance_poison_messages_total"),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "relance_projection_quarantined_cooperatives"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(health(&node, "").await, ServingStatus::Serving);
    assert_eq!(health(&node, QUERIES).await, ServingStatus::Serving);
    assert!(
        node.log_text().contains("poison message"),
        "{}",
        node.log_text()
    );

    stops_cleanly_on_sigterm(node, "SIGTERM is a clean stop").await;
}

/// SIGTERM stops `node` with a success status (`why`: the case, for the failure message).
async fn stops_cleanly_on_sigterm(mut node: RelanceProcess, why: &str) {
    let exit = tokio::task::spawn_blocking(move || node.terminate())
        .await
        .expect("terminate");
    assert!(exit.is_some_and(|s| s.success()), "{why}: {exit:?}");
}

// ------------------------------------------------------------------ a projection that stops

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_that_stops_following_is_not_serving_and_still_stops_cleanly() {
    let nats = NatsServer::start(relance_tests::nats::current_binary()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = jetstream_node(&nats, dir.path(), &[]).await;
    let reg = node
        .commands()
        .await
        .register(prefecture(requests::register("REH-0800", "reg-1")))
        .await
        .expect("register")
        .into_inner();
    node.queries()
        .await
        .get(v1::GetRequest {
            cooperative_id: "REH-0800".into(),
            min_position: reg.position,
        })
        .await
        .expect("projected");
    assert_eq!(health(&node, "").await, ServingStatus::Serving);
    assert_eq!(health(&node, QUERIES).await, ServingStatus::Serving);

    // The stream goes away under the follower (an operator's `nats stream rm`).
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    js.delete_stream("RELANCE_EVENTS")
        .await
        .expect("delete the stream");

    eventually(WAIT, || async {
        match health(&node, QUERIES).await {
            ServingStatus::NotServing => Ok(()),
            other => Err(other),
        }
    })
    .await;
    assert_eq!(health(&node, "").await, ServingStatus::NotServing);
    assert!(
        node.log_text()
            .contains("the projection stopped applying events"),
        "{}",
        node.log_text()
    );

    stops_cleanly_on_sigterm(
        node,
        "SIGTERM after the projection stopped is still a clean stop",
    )
    .await;
}

// ------------------------------------------------------------------ request ids in headers

/// docs/partners.md: request ids never hold control characters (the domain refuses them, so
/// no header needs `%0A`); `%` and whitespace at either end are percent-encoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_request_ids_are_refused_and_the_rest_is_percent_encoded() {
    let nats = NatsServer::start(relance_tests::nats::current_binary()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = jetstream_node(&nats, dir.path(), &[]).await;
    let mut c = node.commands().await;
    let before = head(&node).await;
    for id in [
        "ocp\n1",
        "ocp\r\nInjected: yes",
        "tab\there",
        "nul\u{0}",
        "del\u{7f}",
    ] {
        refused(
            c.register(prefecture(requests::register("REH-0900", id)))
                .await,
            Code::InvalidArgument,
            "control_character",
        );
    }
    assert_eq!(head(&node).await, before, "nothing written");
    let reply = c
        .register(prefecture(requests::register(
            "REH-0900",
            " ocp 100% masks ",
        )))
        .await
        .expect("a request id with % and edge spaces")
        .into_inner();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    let message = js
        .get_stream("RELANCE_EVENTS")
        .await
        .expect("the stream")
        .get_raw_message(reply.position)
        .await
        .expect("the event");
    let stored = message
        .headers
        .get("Relance-Request-Id")
        .map(|v| v.as_str().to_owned());
    assert_eq!(stored.as_deref(), Some("%20ocp 100%25 masks%20"));
}
