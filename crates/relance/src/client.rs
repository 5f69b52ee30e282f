//! The CLI as a gRPC client: builds requests, calls the node, prints the answer.

use anyhow::{anyhow, bail, Context as _, Result};
use relance_proto::v1;
use relance_proto::v1::audit_client::AuditClient;
use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;
use relance_proto::v1::cooperative_queries_client::CooperativeQueriesClient;
use relance_proto::v1::envelope::Event;
use tonic::transport::Channel;

use crate::cli::{ClientArgs, SummaryArgs};
use crate::output;

/// A connected client with the caller's identity attached to every call.
pub struct Client {
    /// The channel to --server (for services without a field here).
    pub channel: Channel,
    pub commands: CooperativeCommandsClient<Channel>,
    pub queries: CooperativeQueriesClient<Channel>,
    /// The audit service, on the query node.
    pub audit: AuditClient<Channel>,
    principal: String,
    org: String,
    /// `Bearer <token>` for servers started with --auth.
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl Client {
    /// Connects as `args` say: servers, identity, token, TLS.
    pub async fn open(args: &ClientArgs) -> Result<Self> {
        let (server, query_server) = connect_args(args);
        let tls = if args.ca.is_some() || args.cert.is_some() {
            let read = |p: &std::path::Path| {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let mut tls = tonic::transport::ClientTlsConfig::new();
            if let Some(ca) = &args.ca {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
            }
            if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
                tls = tls.identity(tonic::transport::Identity::from_pem(
                    read(cert)?,
                    read(key)?,
                ));
            }
            Some(tls)
        } else {
            None
        };
        let mut client =
            Self::connect_with(&server, &query_server, &args.principal, &args.org, tls)?;
        if let Some(token) = &args.token {
            client.authorization = Some(
                format!("Bearer {}", token.trim())
                    .parse()
                    .map_err(|_| anyhow!("--token must be printable ASCII"))?,
            );
        }
        Ok(client)
    }

    fn connect_with(
        server: &str,
        query_server: &str,
        principal: &str,
        org: &str,
        tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> Result<Self> {
        let channel = |url: &str| -> Result<Channel> {
            let mut endpoint = Channel::from_shared(url.to_owned())
                .with_context(|| format!("{url:?} is not a valid server URL"))?
                .connect_timeout(std::time::Duration::from_secs(5));
            if let Some(tls) = &tls {
                endpoint = endpoint
                    .tls_config(tls.clone())
                    .context("TLS configuration")?;
            }
            Ok(endpoint.connect_lazy())
        };
        let command_channel = channel(server)?;
        Ok(Self {
            channel: command_channel.clone(),
            commands: CooperativeCommandsClient::new(command_channel),
            queries: CooperativeQueriesClient::new(channel(query_server)?),
            audit: AuditClient::new(channel(query_server)?),
            principal: principal.to_owned(),
            org: org.to_owned(),
            authorization: None,
        })
    }

    /// Connects lazily to the command node `server` and the query node `query_server`.
    pub async fn connect(
        server: &str,
        query_server: &str,
        principal: &str,
        org: &str,
    ) -> Result<Self> {
        Self::connect_with(server, query_server, principal, org, None)
    }

    /// Wraps a message with an identity (the demo acts for several organisations) and, when
    /// given, the bearer token.
    pub fn request_as<T>(&self, msg: T, principal: &str, org: &str) -> Result<tonic::Request<T>> {
        // gRPC metadata carries ASCII; the server would ignore anything else.
        if !principal.is_ascii() || !org.is_ascii() {
            bail!("principal {principal:?} (--as) and organisation {org:?} (--org) must be ASCII");
        }
        let mut r = tonic::Request::new(msg);
        let md = r.metadata_mut();
        md.insert(
            relance_server::PRINCIPAL_HEADER,
            principal
                .parse()
                .map_err(|_| anyhow!("principal {principal:?} (--as) must be printable ASCII"))?,
        );
        md.insert(
            relance_server::ORG_HEADER,
            org.parse()
                .map_err(|_| anyhow!("organisation {org:?} (--org) must be printable ASCII"))?,
        );
        if let Some(auth) = &self.authorization {
            md.insert("authorization", auth.clone());
        }
        Ok(r)
    }

    /// Wraps a message with the caller's identity.
    pub fn request<T>(&self, msg: T) -> Result<tonic::Request<T>> {
        self.request_as(msg, &self.principal, &self.org)
    }

    /// Records one fact: `event`'s data goes to the command RPC that records it, on behalf of
    /// `principal` of `org` (when the server runs without authentication).
    pub async fn record_as(
        &self,
        meta: v1::CommandMeta,
        event: Event,
        principal: &str,
        org: &str,
    ) -> Result<v1::CommandReply> {
        let mut c = self.commands.clone();
        let meta = Some(meta);
        macro_rules! call {
            ($rpc:ident, $request:ident, $data:expr $(, $field:ident: $value:expr)*) => {
                c.$rpc(self.request_as(
                    v1::$request {
                        meta,
                        data: Some($data),
                        $($field: $value,)*
                    },
                    principal,
                    org,
                )?)
                .await
            };
        }
        let reply = match event {
            Event::CooperativeRegistered(d) => call!(register, RegisterRequest, d),
            Event::ActivityHalted(d) => call!(halt, HaltRequest, d, legal_basis: None),
            // The structured legal basis goes beside the halt's data.
            Event::ActivityHaltedV2(d) => call!(
                halt,
                HaltRequest,
                v1::ActivityHalted {
                    authority: d.authority,
                    decision_ref: String::new(),
                    effective_on: d.effective_on,
                    reason: d.reason,
                    scope: d.scope,
                    workers_affected: d.workers_affected,
                },
                legal_basis: d.legal_basis
            ),
            Event::ReorientationDeclared(d) => call!(reorient, ReorientRequest, d),
            Event::AuthorizationObtained(d) => call!(authorize, AuthorizeRequest, d),
            Event::SupportGranted(d) => call!(grant_support, GrantSupportRequest, d),
            Event::SalesChannelOpened(d) => call!(open_sales_channel, OpenSalesChannelRequest, d),
            Event::ActivityResumed(d) => call!(resume, ResumeRequest, d),
            Event::HeadcountReported(d) => call!(report_headcount, ReportHeadcountRequest, d),
            Event::EventRetracted(d) => call!(retract, RetractRequest, d),
        };
        reply.map(tonic::Response::into_inner).map_err(status_error)
    }
}

/// Turns a gRPC error into a message that names the code and the server's reason.
pub fn status_error(s: tonic::Status) -> anyhow::Error {
    anyhow!("{:?}: {}", s.code(), s.message())
}

fn connect_args(args: &ClientArgs) -> (String, String) {
    (
        args.server.clone(),
        args.query_server
            .clone()
            .unwrap_or_else(|| args.server.clone()),
    )
}

/// A node's latest rebuild of its views, in one line.
fn rebuild_line(r: &v1::RebuildStatus) -> String {
    match r.state.as_str() {
        "running" => format!(
            "running: position {} / {}, {:.0} events/s, {}:{:02} left ({})",
            r.position,
            r.target,
            r.events_per_second,
            r.seconds_left / 60,
            r.seconds_left % 60,
            r.directory
        ),
        "switched" => format!(
            "switched at position {} on {} ({})",
            r.position,
            crate::output::day_time_of(r.finished_at_unix_ms),
            r.directory
        ),
        other => format!("{other}: {}", r.error),
    }
}

/// `relance summary`
pub async fn summary(args: &ClientArgs, summary: &SummaryArgs) -> Result<()> {
    let at = &summary.at;
    let mut c = Client::open(args).await?;
    if let Some(bucket) = summary.series {
        let r = c
            .queries
            .series(c.request(v1::SeriesRequest {
                from: summary.from.clone().unwrap_or_default(),
                to: summary.to.clone().unwrap_or_default(),
                bucket: format!("{bucket:?}").to_lowercase(),
                min_position: 0,
            })?)
            .await
            .map_err(status_error)?
            .into_inner();
        return output::series(args.output, &r);
    }
    if let Some(as_of) = crate::time::as_of(at)? {
        let s = c
            .queries
            .summary_at(c.request(v1::SummaryAtRequest {
                as_of: Some(as_of),
                min_position: 0,
            })?)
            .await
            .map_err(status_error)?
            .into_inner();
        return output::summary(args.output, &s);
    }
    let s = c
        .queries
        .summary(c.request(v1::SummaryRequest { min_position: 0 })?)
        .await
        .map_err(status_error)?
        .into_inner();
    output::summary(args.output, &s)
}

/// `relance status`: health and position of the node at --server (and of --query-server when
/// it is another process).
pub async fn status(args: &ClientArgs) -> Result<()> {
    let (server, query_server) = connect_args(args);
    let mut urls = vec![server.clone()];
    if query_server != server {
        urls.push(query_server);
    }
    let mut out = Vec::new();
    for url in urls {
        let mut one = args.clone();
        one.server = url.clone();
        one.query_server = Some(url.clone());
        let c = Client::open(&one).await?;
        let channel = c.channel.clone();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let serving = match health
            .check(c.request(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })?)
            .await
        {
            Ok(r) => format!("{:?}", r.into_inner().status()),
            Err(s) => format!("unreachable ({:?}: {})", s.code(), s.message()),
        };
        let mut node = v1::node_client::NodeClient::new(channel);
        let st = node
            .status(c.request(v1::StatusRequest {})?)
            .await
            .map_err(status_error)?
            .into_inner();
        let role = match (st.commands, st.queries) {
            (true, true) => "all",
            (true, false) => "command",
            (false, true) => "projection",
            (false, false) => "none",
        };
        out.push(serde_json::json!({
            "server": url,
            "health": serving,
            "role": role,
            "backend": st.backend,
            "version": st.version,
            "log_head": st.log_head,
            "checkpoint": st.checkpoint,
            "lag_events": st.lag_events,
            "started_at": crate::output::day_time_of(st.started_at_unix_ms),
            "insecure_transport": st.insecure_transport,
            "poison_messages": st.poison_messages,
            "quarantined_cooperatives": st.quarantined_cooperatives,
            "projection_stopped": st.projection_stopped,
            "atomic_batch": st.atomic_batch,
            "rebuild": st.rebuild.as_ref().map_or_else(String::new, rebuild_line),
        }));
    }
    match args.output {
        crate::cli::Output::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        crate::cli::Output::Table | crate::cli::Output::Csv => {
            for n in &out {
                println!("{}", n["server"].as_str().unwrap_or(""));
                for key in [
                    "health",
                    "role",
                    "backend",
                    "version",
                    "log_head",
                    "checkpoint",
                    "lag_events",
                    "started_at",
                    "insecure_transport",
                    "poison_messages",
                    "quarantined_cooperatives",
                    "projection_stopped",
                    "atomic_batch",
                    "rebuild",
                ] {
                    let v = &n[key];
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    println!("  {key:<24} {text}");
                }
            }
        }
    }
    Ok(())
}
