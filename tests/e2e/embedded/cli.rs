//! The operator's and the user's side: the CLI walkthrough, `relance demo`, and the standard
//! gRPC health and reflection services.

use std::collections::BTreeSet;

use relance_tests::cli;
use relance_tests::requests::{COMMUNE as BENGUERIR, COURT};
use tonic::Code;

use super::{serve, terminate};

// ------------------------------------------------------------------ 6. the CLI

#[tokio::test]
async fn the_cli_walkthrough_registers_halts_refuses_and_shows_the_same_after_a_restart() {
    const ID: &str = "REH-0042";
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let url = node.url();
    let env = [("RELANCE_SERVER", url.as_str())];
    let run = |args: &[&str]| cli(args, &env);

    let (success, out, err) = run(&[
        "coop",
        "register",
        ID,
        "--name",
        "Annour",
        "--court",
        COURT,
        "--number",
        "102/2011",
        "--sector",
        "commerce_services",
        "--activity",
        "électricité du bâtiment",
        "--commune",
        BENGUERIR,
        "--members",
        "40",
        "--registered-on",
        "2011-03-29",
    ]);
    assert!(success, "register failed:\n{out}\n{err}");
    assert!(out.contains("recorded event"), "{out}");

    let halt = [
        "coop",
        "halt",
        ID,
        "--authority",
        "Autorités publiques (Province de Rehamna)",
        "--decision-ref",
        "Arrêt des chantiers du BTP",
        "--effective-on",
        "2020-03-20",
        "--reason",
        "Arrêt total des activités du BTP",
        "--scope",
        "total",
        "--workers",
        "40",
    ];
    let (success, out, err) = run(&halt);
    assert!(success, "halt failed:\n{out}\n{err}");
    let position: String = out
        .rsplit("position ")
        .next()
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(position, "2", "halt reply: {out}");

    let (success, out, err) = run(&halt);
    assert!(!success, "a second halt must fail:\n{out}");
    assert!(
        err.contains("already_halted"),
        "stderr should name the rule: {err}"
    );

    let show = [
        "coop",
        "show",
        ID,
        "--output",
        "json",
        "--min-position",
        &position,
    ];
    let (success, out, err) = run(&show);
    assert!(success, "show failed:\n{err}");
    let before: serde_json::Value = serde_json::from_str(&out).expect("show --output json is JSON");
    assert_eq!(before["status"], "halted", "{before}");
    assert_eq!(before["open_halt"]["workers_affected"], 40, "{before}");
    assert_eq!(before["open_halt"]["scope"], "total", "{before}");
    assert_eq!(before["version"], 2, "{before}");

    let (success, out, err) = run(&["coop", "list", "--status", "halted"]);
    assert!(success, "list failed:\n{err}");
    assert!(
        out.contains(ID) && out.contains("1 cooperative(s)"),
        "{out}"
    );
    let (success, out, err) = run(&["summary"]);
    assert!(success, "summary failed:\n{err}");
    assert!(out.contains("workers idled by open halts   40"), "{out}");
    let (success, out, err) = run(&["coop", "history", ID]);
    assert!(success, "history failed:\n{err}");
    let events: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(events.len(), 2, "{out}");
    assert!(events[0].contains("registered: Annour"), "{out}");
    assert!(events[1].contains("halted by Autorités publiques"), "{out}");

    terminate(node).await;
    let node = serve(dir.path()).await;
    let url = node.url();
    let (success, out, err) = cli(&show, &[("RELANCE_SERVER", url.as_str())]);
    assert!(success, "show after restart failed:\n{err}");
    let after: serde_json::Value = serde_json::from_str(&out).expect("JSON after restart");
    assert_eq!(after, before);
}

// ------------------------------------------------------------------ 7. the demo

#[tokio::test]
async fn the_demo_replays_the_article_and_prints_the_province_and_ibdaat() {
    let (success, out, err) = tokio::task::spawn_blocking(|| cli(&["demo"], &[]))
        .await
        .unwrap();
    assert!(success, "relance demo failed:\n{out}\n{err}");
    let has_line = |words: &[&str]| {
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == words)
    };
    assert!(out.contains("cooperatives      256"), "{out}");
    assert!(has_line(&["agriculture", "200", "78.1%"]), "{out}");
    assert!(has_line(&["artisanat", "54", "21.1%"]), "{out}");
    let timeline: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("Ibdaat Rehamna (REH-0001)"))
        .collect();
    let has = |needle: &str| timeline.iter().any(|l| l.contains(needle));
    assert!(has("authorised by IMANOR"), "{out}");
    assert!(has("support from OCP"), "{out}");
    assert!(has("in Marrakech (trial)"), "{out}");
    assert!(has("2000–3000 a day"), "{out}");
}

// ------------------------------------------------------------------ 8. health and reflection

#[tokio::test]
async fn standard_health_and_reflection_answer() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let channel = node.channel().await;

    let mut health = HealthClient::new(channel.clone());
    for service in [
        "",
        "relance.v1.CooperativeCommands",
        "relance.v1.CooperativeQueries",
    ] {
        let r = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|s| panic!("health check {service:?}: {s:?}"))
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "relance.v1.Nope".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), Code::NotFound);

    let mut reflection = ServerReflectionClient::new(channel);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter([ask]))
        .await
        .expect("reflection")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("reflection answer")
        .expect("one answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    let names: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "relance.v1.CooperativeCommands",
        "relance.v1.CooperativeQueries",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
}
