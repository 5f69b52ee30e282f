//! gRPC server reflection, as a generic client (grpcurl, Postman) sees it: both protocol
//! versions (`grpc.reflection.v1` and the older `v1alpha`, all older grpcurl speaks) list
//! exactly the services the process serves — a command process does not advertise queries it
//! would answer UNIMPLEMENTED, a projection process does not advertise commands.

use std::collections::BTreeSet;

use relance_tests::nats::{current_binary, NatsServer};
use relance_tests::RelanceProcess;
use tonic::transport::Channel;
use tonic_reflection::pb::{v1, v1alpha};

/// The services listed by reflection `v1` and by `v1alpha` on `channel`.
async fn listed(channel: Channel) -> (BTreeSet<String>, BTreeSet<String>) {
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let reply = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection v1 answers")
        .into_inner()
        .message()
        .await
        .expect("a v1 reply")
        .expect("one message");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("v1: not a service list: {reply:?}");
    };
    let v1_names = list.service.into_iter().map(|s| s.name).collect();

    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let reply = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection v1alpha answers")
        .into_inner()
        .message()
        .await
        .expect("a v1alpha reply")
        .expect("one message");
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("v1alpha: not a service list: {reply:?}");
    };
    let v1alpha_names = list.service.into_iter().map(|s| s.name).collect();
    (v1_names, v1alpha_names)
}

fn names(extra: &[&str]) -> BTreeSet<String> {
    [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "relance.v1.Node",
        "relance.v1.Audit",
        // Watch is served by every role: each has the log.
        "relance.v1.Subscriptions",
    ]
    .iter()
    .chain(extra)
    .map(|s| (*s).to_owned())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_and_v1alpha_list_exactly_the_services_of_each_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = RelanceProcess::serve(&[
        "--data-dir",
        dir.path().join("embedded").to_str().expect("utf8"),
    ])
    .await;
    let all = names(&[
        "relance.v1.CooperativeCommands",
        "relance.v1.CooperativeQueries",
    ]);
    assert_eq!(listed(embedded.channel().await).await, (all.clone(), all));

    let nats = NatsServer::start(current_binary()).await;
    let command = RelanceProcess::serve(&["--nats", &nats.url(), "--role", "command"]).await;
    let commands = names(&["relance.v1.CooperativeCommands"]);
    assert_eq!(
        listed(command.channel().await).await,
        (commands.clone(), commands)
    );

    let projection = RelanceProcess::serve(&[
        "--nats",
        &nats.url(),
        "--role",
        "projection",
        "--data-dir",
        dir.path().join("projection").to_str().expect("utf8"),
    ])
    .await;
    let queries = names(&["relance.v1.CooperativeQueries"]);
    assert_eq!(
        listed(projection.channel().await).await,
        (queries.clone(), queries)
    );
}
