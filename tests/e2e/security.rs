//! Who may do what, over real processes: the role × RPC matrix, TLS and mutual TLS, hostile
//! input, and the per-principal rate limit.

use std::path::Path;
use std::str::FromStr;

use prost::Message as _;
use relance_proto::v1;
use relance_server::auth::{permission, token_hash, Permission, Role};
use relance_tests::pki::pki;
use relance_tests::raw::RawCodec;
use relance_tests::requests::{self, with_token, Overrides as _};
use relance_tests::{cli, RelanceProcess};
use tonic::{Code, Request};

/// One principal per role, plus their tokens.
struct Principals {
    file: std::path::PathBuf,
    tokens: Vec<(Role, &'static str, String)>,
}

impl Principals {
    /// The token of the principal with `role`.
    fn token(&self, role: Role) -> String {
        self.tokens
            .iter()
            .find(|(r, _, _)| *r == role)
            .map(|(_, _, t)| t.clone())
            .expect("one principal per role")
    }
}

/// A node with authentication on (one principal per role) in `dir`, plus `extra` flags.
async fn authenticated_node(dir: &Path, extra: &[&str]) -> (RelanceProcess, Principals) {
    let p = principals(dir);
    let data = dir.join("data");
    let mut args = vec![
        "--data-dir",
        data.to_str().expect("utf8"),
        "--auth",
        p.file.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    (RelanceProcess::serve(&args).await, p)
}

fn principals(dir: &Path) -> Principals {
    let people: [(Role, &str, &str); 4] = [
        (Role::Prefecture, "m.najah", "prefecture"),
        (Role::Partner, "ocp-act4community", "OCP"),
        (Role::Auditor, "auditor-1", "cour-des-comptes"),
        (Role::Reader, "reader-1", "ODCo"),
    ];
    let mut entries = Vec::new();
    let mut tokens = Vec::new();
    for (role, id, org) in people {
        let token = format!("rlc_test_{id}");
        entries.push(serde_json::json!({
            "id": id,
            "organisation": org,
            "roles": [role.as_str()],
            "token_sha256": hex::encode(token_hash(&token)),
        }));
        tokens.push((role, org, token));
    }
    let file = dir.join("auth.json");
    std::fs::write(
        &file,
        serde_json::json!({ "principals": entries }).to_string(),
    )
    .expect("write auth file");
    Principals { file, tokens }
}

/// Every unary or server-streaming RPC of the published schema and of gRPC health:
/// (path, server streaming).
fn all_rpcs() -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for set in [
        relance_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
    ] {
        let fds = prost_types::FileDescriptorSet::decode(set).expect("descriptor set");
        for file in &fds.file {
            for service in &file.service {
                for method in &service.method {
                    if method.client_streaming() {
                        continue;
                    }
                    out.push((
                        format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                        method.server_streaming(),
                    ));
                }
            }
        }
    }
    out
}

/// Calls `path` with an empty message (valid protobuf for every message type); the status
/// code of the answer (`Ok` when the call went through).
async fn call(
    channel: &tonic::transport::Channel,
    path: &str,
    streaming: bool,
    token: Option<&str>,
) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("channel ready");
    let req = token.map_or_else(|| Request::new(Vec::new()), |t| with_token(Vec::new(), t));
    let path = http::uri::PathAndQuery::from_str(path).expect("path");
    if streaming {
        match grpc.server_streaming(req, path, RawCodec).await {
            Ok(mut stream) => match stream.get_mut().message().await {
                Ok(_) => Code::Ok,
                Err(s) => s.code(),
            },
            Err(s) => s.code(),
        }
    } else {
        match grpc.unary(req, path, RawCodec).await {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_and_every_rpc_get_exactly_what_the_permission_table_declares() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, p) = authenticated_node(dir.path(), &["--rate-limit", "0"]).await;
    let channel = node.channel().await;
    let rpcs = all_rpcs();
    assert!(rpcs.len() >= 14, "only {} RPCs found", rpcs.len());
    let mut checked = 0;
    for (path, streaming) in &rpcs {
        let perm = permission(path).unwrap_or_else(|| panic!("{path} has no declared permission"));
        for token in [None, Some("rlc_not_a_known_token")] {
            let code = call(&channel, path, *streaming, token).await;
            if perm == Permission::Public {
                assert_ne!(code, Code::Unauthenticated, "{path} without a valid token");
            } else {
                assert_eq!(code, Code::Unauthenticated, "{path} with token {token:?}");
            }
            checked += 1;
        }
        for (role, _, token) in &p.tokens {
            let code = call(&channel, path, *streaming, Some(token)).await;
            if role.grants(perm) {
                assert!(
                    code != Code::Unauthenticated && code != Code::PermissionDenied,
                    "{role:?} may call {path} but got {code:?}"
                );
            } else {
                assert_eq!(code, Code::PermissionDenied, "{role:?} calling {path}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, rpcs.len() * 6);
    // The table itself says what docs/design.md says.
    let granted = |role: Role, path: &str| role.grants(permission(path).expect("declared"));
    assert!(granted(
        Role::Prefecture,
        "/relance.v1.CooperativeCommands/Halt"
    ));
    assert!(!granted(
        Role::Prefecture,
        "/relance.v1.CooperativeCommands/GrantSupport"
    ));
    assert!(granted(
        Role::Partner,
        "/relance.v1.CooperativeCommands/GrantSupport"
    ));
    assert!(!granted(
        Role::Partner,
        "/relance.v1.CooperativeCommands/Halt"
    ));
    assert!(!granted(
        Role::Reader,
        "/relance.v1.CooperativeCommands/Register"
    ));
    assert!(granted(Role::Reader, "/relance.v1.CooperativeQueries/Get"));
    assert!(granted(
        Role::Auditor,
        "/relance.v1.CooperativeQueries/History"
    ));
    assert!(!granted(
        Role::Auditor,
        "/relance.v1.CooperativeCommands/Retract"
    ));
}

/// Registers `name` as `id`.
fn registration(id: &str, request_id: &str, name: &str) -> v1::RegisterRequest {
    requests::register(id, request_id).with(|d| name.clone_into(&mut d.name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_comes_from_the_token_and_partners_write_only_in_their_own_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, p) = authenticated_node(dir.path(), &[]).await;
    let token = |r: Role| p.token(r);
    let mut commands = node.commands().await;
    let mut queries = node.queries().await;

    // Anonymous halt: refused, nothing written.
    let halt = requests::halt("REH-0002", "h1");
    let err = commands
        .halt(Request::new(halt.clone()))
        .await
        .expect_err("anonymous");
    assert_eq!(err.code(), Code::Unauthenticated);

    // The prefecture registers; metadata claiming another organisation is ignored.
    let mut reg = with_token(
        registration("REH-0002", "r1", "Annour"),
        &token(Role::Prefecture),
    );
    reg.metadata_mut()
        .insert(relance_server::ORG_HEADER, "OCP".parse().expect("ascii"));
    reg.metadata_mut().insert(
        relance_server::PRINCIPAL_HEADER,
        "someone-else".parse().expect("ascii"),
    );
    let first = commands.register(reg).await.expect("register").into_inner();

    // A partner recording support in another organisation's name: refused.
    let support = |partner: &str, rid: &str| requests::support("REH-0002", rid, partner);
    let err = commands
        .grant_support(with_token(support("INDH", "s1"), &token(Role::Partner)))
        .await
        .expect_err("other org");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("support_not_in_own_name"),
        "{}",
        err.message()
    );
    let ok = commands
        .grant_support(with_token(support("OCP", "s2"), &token(Role::Partner)))
        .await
        .expect("own name")
        .into_inner();

    let history = queries
        .history(with_token(
            v1::HistoryRequest {
                cooperative_id: "REH-0002".into(),
                min_position: ok.position,
            },
            &token(Role::Auditor),
        ))
        .await
        .expect("auditor reads")
        .into_inner();
    let actors: Vec<(String, String)> = history
        .events
        .iter()
        .filter_map(|e| {
            e.envelope
                .as_ref()?
                .actor
                .as_ref()
                .map(|a| (a.principal.clone(), a.organisation.clone()))
        })
        .collect();
    assert_eq!(
        actors,
        vec![
            ("m.najah".to_owned(), "prefecture".to_owned()),
            ("ocp-act4community".to_owned(), "OCP".to_owned())
        ]
    );
    assert_eq!(history.events.len(), 2, "refused commands wrote nothing");
    assert_eq!(ok.position, first.position + 1);

    // An auditor's token exports the history; a reader's does not.
    let (exported, out, err) = cli(
        &[
            "--server",
            &node.url(),
            "--token",
            &token(Role::Auditor),
            "audit",
            "export",
        ],
        &[],
    );
    assert!(exported, "the auditor's export failed: {err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("\"kind\":\"event\""))
            .count(),
        2,
        "{out}"
    );
    let (exported, _, err) = cli(
        &[
            "--server",
            &node.url(),
            "--token",
            &token(Role::Reader),
            "audit",
            "export",
        ],
        &[],
    );
    assert!(
        !exported && err.contains("PermissionDenied"),
        "a reader exported: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_a_client_certificate_of_the_ca_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = principals(dir.path());
    let pki = pki(dir.path());
    let data = dir.path().join("data");
    let s = |p: &Path| p.to_str().expect("utf8").to_owned();
    let node = RelanceProcess::serve(&[
        "--data-dir",
        &s(&data),
        "--auth",
        &s(&p.file),
        "--tls-cert",
        &s(&pki.server_cert),
        "--tls-key",
        &s(&pki.server_key),
        "--tls-client-ca",
        &s(&pki.ca),
    ])
    .await;
    let https = format!("https://{}", node.addr);
    let reader = p.token(Role::Reader);
    let base = [
        "--server",
        https.as_str(),
        "--token",
        reader.as_str(),
        "--ca",
        &s(&pki.ca),
    ];

    let mut ok_args: Vec<&str> = base.to_vec();
    let (cert, key) = (s(&pki.client_cert), s(&pki.client_key));
    ok_args.extend(["--cert", &cert, "--key", &key, "summary"]);
    let (ok, out, err) = cli(&ok_args, &[]);
    assert!(ok, "summary over mutual TLS failed: {out}{err}");
    assert!(out.contains("cooperatives      0"), "{out}");

    let mut no_cert: Vec<&str> = base.to_vec();
    no_cert.push("summary");
    let (ok, _, err) = cli(&no_cert, &[]);
    assert!(!ok, "a client without a certificate was admitted");
    assert!(!err.is_empty());

    let plain = format!("http://{}", node.addr);
    let (ok, _, _) = cli(&["--server", &plain, "--token", &reader, "summary"], &[]);
    assert!(!ok, "plaintext was admitted on a TLS port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_naming_the_field_writes_nothing_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let node = RelanceProcess::serve(&[
        "--data-dir",
        data.to_str().expect("utf8"),
        "--rate-limit",
        "0",
    ])
    .await;
    let mut commands = node.commands().await;
    let mut queries = node.queries().await;
    let before = commands
        .register(registration("REH-0001", "ok-1", "Ibdaat Rehamna"))
        .await
        .expect("a valid registration")
        .into_inner();

    let mut cases: Vec<(&str, v1::RegisterRequest, Code)> = Vec::new();
    for bad_id in ["a.>", "a.b", "*", ">", "a b", "REH\u{0}1", &"x".repeat(65)] {
        cases.push((
            "cooperative_id",
            registration(bad_id, "bad-id", "x"),
            Code::InvalidArgument,
        ));
    }
    let with = |f: &dyn Fn(&mut v1::CooperativeRegistered)| {
        registration("REH-0099", "bad-field", "Coopérative").with(f)
    };
    cases.push((
        "name",
        with(&|r| r.name = "n".repeat(201)),
        Code::InvalidArgument,
    ));
    cases.push((
        "name",
        with(&|r| r.name = "Annour\u{7}".into()),
        Code::InvalidArgument,
    ));
    cases.push((
        "activity",
        with(&|r| r.activity = "line\nbreak".into()),
        Code::InvalidArgument,
    ));
    cases.push((
        "registered_on",
        with(&|r| r.registered_on = "1899-12-31".into()),
        Code::InvalidArgument,
    ));
    cases.push((
        "registered_on",
        with(&|r| r.registered_on = "2020-02-30".into()),
        Code::InvalidArgument,
    ));
    cases.push((
        "registered_on",
        with(&|r| r.registered_on = "2999-01-01".into()),
        Code::FailedPrecondition,
    ));
    cases.push(("sector", with(&|r| r.sector = 99), Code::InvalidArgument));
    cases.push(("sector", with(&|r| r.sector = 0), Code::InvalidArgument));
    cases.push((
        "members",
        with(&|r| r.members = u32::MAX.into()),
        Code::InvalidArgument,
    ));
    for (field, req, code) in cases {
        let err = commands.register(req).await.expect_err(field);
        assert_eq!(err.code(), code, "{field}: {}", err.message());
        assert!(
            err.message().contains(field),
            "{field} not named in {:?}",
            err.message()
        );
    }
    for amount in [-1, i64::MAX, i64::MIN] {
        let mut req = Request::new(
            requests::support("REH-0001", &format!("amount-{amount}"), "OCP").with(|d| {
                d.kind = v1::SupportKind::Financial as i32;
                d.amount_centimes = Some(amount);
            }),
        );
        req.metadata_mut()
            .insert(relance_server::ORG_HEADER, "OCP".parse().expect("ascii"));
        let err = commands.grant_support(req).await.expect_err("bad amount");
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{amount}: {}",
            err.message()
        );
        assert!(
            err.message().contains("amount_centimes"),
            "{}",
            err.message()
        );
    }
    // A message over the size limit.
    let huge = registration("REH-0098", "huge", &"x".repeat(400_000));
    let err = commands.register(huge).await.expect_err("too large");
    assert_eq!(err.code(), Code::ResourceExhausted, "{}", err.message());

    // Nothing was written: the next accepted event comes right after the first one.
    let after = commands
        .register(registration("REH-0003", "ok-2", "Annour"))
        .await
        .expect("the server still serves")
        .into_inner();
    assert_eq!(after.position, before.position + 1);
    let summary = queries
        .summary(v1::SummaryRequest {
            min_position: after.position,
        })
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(summary.cooperatives, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_principal_is_answered_resource_exhausted_and_others_still_get_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, p) = authenticated_node(dir.path(), &["--rate-limit", "5"]).await;
    let token = |r: Role| p.token(r);
    let mut queries = node.queries().await;
    let reader = token(Role::Reader);
    let mut exhausted = 0;
    let mut served = 0;
    for _ in 0..60 {
        match queries
            .summary(with_token(v1::SummaryRequest { min_position: 0 }, &reader))
            .await
        {
            Ok(_) => served += 1,
            Err(s) if s.code() == Code::ResourceExhausted => exhausted += 1,
            Err(s) => panic!("unexpected {s:?}"),
        }
    }
    assert!(served >= 10, "the burst is served ({served})");
    assert!(
        exhausted >= 30,
        "the flood is limited ({exhausted} refused)"
    );
    // Another principal is not affected.
    queries
        .summary(with_token(
            v1::SummaryRequest { min_position: 0 },
            &token(Role::Auditor),
        ))
        .await
        .expect("another principal still gets through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_deploy_nats_permissions_a_partner_reads_but_cannot_publish_delete_or_purge() {
    use relance_tests::nats::{current_binary, NatsServer};
    let dir = tempfile::tempdir().expect("tempdir");
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats/permissions.conf");
    std::fs::copy(&deploy, dir.path().join("permissions.conf")).expect("copy permissions.conf");
    let config = dir.path().join("relance.conf");
    std::fs::write(&config, "include ./permissions.conf\n").expect("write config");
    let nats = NatsServer::start_with_config(current_binary(), &config).await;
    let port = nats.url().rsplit(':').next().expect("port").to_owned();
    let as_user = |user: &str, password: &str| format!("nats://{user}:{password}@127.0.0.1:{port}");

    // The services work under their own users.
    let command = RelanceProcess::serve(&[
        "--nats",
        &as_user("command", "change-me-command"),
        "--role",
        "command",
    ])
    .await;
    let reply = command
        .commands()
        .await
        .register(registration("REH-0001", "r1", "Ibdaat Rehamna"))
        .await
        .expect("the command user writes")
        .into_inner();
    let data = dir.path().join("projection");
    let projection = RelanceProcess::serve(&[
        "--nats",
        &as_user("projection", "change-me-projection"),
        "--role",
        "projection",
        "--data-dir",
        data.to_str().expect("utf8"),
    ])
    .await;
    let view = projection
        .queries()
        .await
        .get(v1::GetRequest {
            cooperative_id: "REH-0001".into(),
            min_position: reply.position,
        })
        .await
        .expect("the projection user reads")
        .into_inner();
    assert_eq!(view.name, "Ibdaat Rehamna");

    // A partner reads the stream…
    let partner = async_nats::ConnectOptions::with_user_and_password(
        "partner-ocp".into(),
        "change-me-ocp".into(),
    )
    .connect(format!("127.0.0.1:{port}"))
    .await
    .expect("partner connects");
    // A denied request gets no answer: it times out, so keep the timeout short.
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(std::time::Duration::from_secs(2))
        .build(partner);
    let stream = js
        .get_stream("RELANCE_EVENTS")
        .await
        .expect("partner sees the stream");
    let first = stream
        .get_raw_message(reply.position)
        .await
        .expect("partner reads an event");
    assert_eq!(first.subject.as_str(), "relance.v1.coop.REH-0001");
    // …but cannot write, delete or purge.
    let publish = async {
        js.publish("relance.v1.coop.REH-0001", "forged".into())
            .await?
            .await
    };
    let published = tokio::time::timeout(std::time::Duration::from_secs(10), publish).await;
    assert!(
        !matches!(published, Ok(Ok(_))),
        "a partner published an event: {published:?}"
    );
    assert!(
        js.delete_stream("RELANCE_EVENTS").await.is_err(),
        "a partner deleted the stream"
    );
    let mut stream = js
        .get_stream("RELANCE_EVENTS")
        .await
        .expect("stream still there");
    assert!(stream.purge().await.is_err(), "a partner purged the stream");
    let info = stream.info().await.expect("info");
    assert_eq!(info.state.messages, 1, "nothing was added or removed");
}
