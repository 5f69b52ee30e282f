//! What the stream must look like, and which servers may hold it.
//!
//! The stream is the only source of truth, so it must be immutable: file storage, limits
//! retention with no limits, no deletes, no purges, no roll-ups. An existing stream that
//! allows any of these is refused with the command that fixes it. The only edit relance makes
//! to an existing stream is turning on `allow_atomic` (atomic batches, for group commit) on a
//! server that has it: it lets nothing be removed or rewritten.

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};

use crate::{ConnectError, JetStreamConfig};

/// A nats-server version as reported in the server's INFO (`2.10.22`, `2.11.0-RC.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// False for a pre-release (`-RC.1`, `-beta`), which sorts before the release.
    pub release: bool,
}

impl ServerVersion {
    /// The first version relance accepts for replicated (R > 1) streams: before 2.9.21 two
    /// concurrent publishes with the same expected subject sequence could both be accepted on
    /// a clustered stream (nats-server#4320), and before 2.11 a retried message id is checked
    /// after the expected sequence.
    pub const REPLICATED_MINIMUM: ServerVersion = ServerVersion {
        major: 2,
        minor: 11,
        patch: 0,
        release: true,
    };

    /// The first version with atomic batch publishing (stream `allow_atomic`, ADR-50), which
    /// group commit uses.
    pub const ATOMIC_BATCH_MINIMUM: ServerVersion = ServerVersion {
        major: 2,
        minor: 12,
        patch: 0,
        release: true,
    };

    /// Parses `2.10.22`, `v2.10.22` or `2.11.0-RC.1`; `None` when it is not such a version.
    pub fn parse(raw: &str) -> Option<ServerVersion> {
        let raw = raw.trim();
        let raw = raw.strip_prefix('v').unwrap_or(raw);
        let (core, pre) = match raw.split_once(['-', '+']) {
            Some((core, rest)) => (
                core,
                raw.as_bytes().get(core.len()) == Some(&b'-') && !rest.is_empty(),
            ),
            None => (raw, false),
        };
        let mut parts = core.split('.');
        let mut next = || parts.next().and_then(|p| p.parse::<u64>().ok());
        let (major, minor, patch) = (next()?, next()?, next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(ServerVersion {
            major,
            minor,
            patch,
            release: !pre,
        })
    }

    /// Whether this server answers batch direct gets (nats-server 2.11+, ADR-31).
    pub fn supports_batch_get(self) -> bool {
        self >= Self::REPLICATED_MINIMUM
    }

    /// Whether this server takes atomic batches.
    pub fn supports_atomic_batch(self) -> bool {
        self >= Self::ATOMIC_BATCH_MINIMUM
    }

    /// Whether a stream with `replicas` replicas is safe on this server.
    pub fn supports_replicas(self, replicas: usize) -> bool {
        replicas <= 1 || self >= Self::REPLICATED_MINIMUM
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.release {
            f.write_str("-pre")?;
        }
        Ok(())
    }
}

/// Refuses `replicas` > 1 unless the server reports a version ≥ 2.11.0.
pub fn check_server_version(reported: &str, replicas: usize) -> Result<(), ConnectError> {
    if replicas <= 1 {
        return Ok(());
    }
    match ServerVersion::parse(reported) {
        Some(v) if v.supports_replicas(replicas) => Ok(()),
        _ => Err(ConnectError::ServerTooOld {
            version: reported.to_owned(),
            replicas,
            minimum: ServerVersion::REPLICATED_MINIMUM.to_string(),
        }),
    }
}

/// The subject filter of the stream: `<prefix>.>`.
pub fn wildcard(prefix: &str) -> String {
    format!("{prefix}.>")
}

/// The configuration relance creates its stream with.
pub fn stream_config(c: &JetStreamConfig) -> Config {
    Config {
        name: c.stream.clone(),
        description: Some("relance events: one subject per cooperative, immutable".to_owned()),
        subjects: vec![wildcard(&c.subject_prefix)],
        storage: StorageType::File,
        retention: RetentionPolicy::Limits,
        discard: DiscardPolicy::New,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        max_age: Duration::ZERO,
        max_consumers: -1,
        num_replicas: c.replicas,
        duplicate_window: c.duplicate_window,
        deny_delete: true,
        deny_purge: true,
        allow_rollup: false,
        // Lets third parties read single messages from any replica.
        allow_direct: true,
        ..Default::default()
    }
}

/// Checks that an existing stream is immutable and holds exactly relance's subjects.
pub fn check_existing(existing: &Config, c: &JetStreamConfig) -> Result<(), ConnectError> {
    let name = &existing.name;
    let refuse = |setting: &str, problem: String, fix: String| {
        Err(ConnectError::UnsafeStream {
            stream: name.clone(),
            setting: setting.to_owned(),
            problem,
            fix,
        })
    };
    let wanted = wildcard(&c.subject_prefix);
    if existing.subjects != [wanted.clone()] {
        return refuse(
            "subjects",
            format!(
                "it holds subjects {:?}, relance needs exactly [{wanted:?}]",
                existing.subjects
            ),
            format!("nats stream edit {name} --subjects '{wanted}'"),
        );
    }
    if existing.allow_rollup {
        return refuse(
            "allow_rollup_hdrs",
            "roll-ups are allowed, so one publish with a Nats-Rollup header could erase a cooperative's history".into(),
            format!("nats stream edit {name} --no-allow-rollup"),
        );
    }
    if !existing.deny_delete {
        return refuse(
            "deny_delete",
            "message deletes are allowed, so an event could be removed from the history".into(),
            format!("nats stream edit {name} --deny-delete"),
        );
    }
    if !existing.deny_purge {
        return refuse(
            "deny_purge",
            "purges are allowed, so a cooperative's history could be erased".into(),
            format!("nats stream edit {name} --deny-purge"),
        );
    }
    if existing.storage != StorageType::File {
        return refuse(
            "storage",
            "memory storage loses every event when the server stops".into(),
            format!("the storage type cannot be edited: recreate {name} with file storage (copy it with a sourcing stream first)"),
        );
    }
    if existing.retention != RetentionPolicy::Limits {
        return refuse(
            "retention",
            format!(
                "retention {:?} removes events once consumed",
                existing.retention
            ),
            format!("recreate {name} with limits retention (copy it with a sourcing stream first)"),
        );
    }
    let limits = [
        ("max_msgs", existing.max_messages > 0, "--max-msgs=-1"),
        ("max_bytes", existing.max_bytes > 0, "--max-bytes=-1"),
        (
            "max_msgs_per_subject",
            existing.max_messages_per_subject > 0,
            "--max-msgs-per-subject=-1",
        ),
        ("max_age", !existing.max_age.is_zero(), "--max-age=0"),
    ];
    for (setting, limited, flag) in limits {
        if limited {
            return refuse(
                setting,
                "a limit would drop old events once it is reached".into(),
                format!("nats stream edit {name} {flag}"),
            );
        }
    }
    if existing.sealed {
        return refuse(
            "sealed",
            "the stream is sealed and accepts no new events".into(),
            format!("use another stream name than {name}"),
        );
    }
    if existing.no_ack {
        return refuse(
            "no_ack",
            "publishes are not acknowledged, so an append could never be confirmed".into(),
            format!("nats stream edit {name} --ack"),
        );
    }
    if existing.mirror.is_some() {
        return refuse(
            "mirror",
            "a mirror accepts no direct publishes".into(),
            format!("point relance at the origin stream, not at {name}"),
        );
    }
    if existing.duplicate_window != c.duplicate_window {
        tracing::warn!(
            stream = %name,
            existing = ?existing.duplicate_window,
            configured = ?c.duplicate_window,
            "the stream's duplicate window differs from the configured one; keeping the stream's"
        );
    }
    if existing.num_replicas != c.replicas {
        tracing::warn!(
            stream = %name,
            existing = existing.num_replicas,
            configured = c.replicas,
            "the stream's replica count differs from the configured one; keeping the stream's"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(raw: &str) -> ServerVersion {
        ServerVersion::parse(raw).expect("parses")
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            v("2.9.10"),
            ServerVersion {
                major: 2,
                minor: 9,
                patch: 10,
                release: true
            }
        );
        assert_eq!(
            v("v2.15.1"),
            ServerVersion {
                major: 2,
                minor: 15,
                patch: 1,
                release: true
            }
        );
        assert_eq!(
            v("2.11.0-RC.1"),
            ServerVersion {
                major: 2,
                minor: 11,
                patch: 0,
                release: false
            }
        );
        assert!(v("2.10.3+build5").release);
        for bad in [
            "",
            "2",
            "2.10",
            "2.10.x",
            "two.ten.one",
            "2.10.1.4",
            "-2.10.1",
        ] {
            assert_eq!(ServerVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn atomic_batches_need_2_12() {
        for old in ["2.9.10", "2.11.9", "2.12.0-RC.1"] {
            assert!(!v(old).supports_atomic_batch(), "{old}");
        }
        for new in ["2.12.0", "2.14.3", "2.15.1", "3.0.0"] {
            assert!(v(new).supports_atomic_batch(), "{new}");
        }
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(v("2.9.10") < v("2.9.21"));
        assert!(v("2.9.21") < v("2.10.0"));
        assert!(v("2.10.29") < v("2.11.0"));
        assert!(v("2.11.0-RC.1") < v("2.11.0"));
        assert!(v("2.11.0") < v("2.11.1-beta"));
    }

    #[test]
    fn replicated_streams_need_2_11() {
        for old in ["2.9.10", "2.9.21", "2.10.29", "2.11.0-RC.3"] {
            assert!(v(old).supports_replicas(1), "{old} R1");
            assert!(!v(old).supports_replicas(3), "{old} R3");
            let err = check_server_version(old, 3).expect_err("refused");
            let text = err.to_string();
            assert!(
                text.contains(old) && text.contains("2.11.0") && text.contains("4320"),
                "{text}"
            );
        }
        for new in ["2.11.0", "2.11.9", "2.12.1", "2.15.1", "3.0.0"] {
            assert!(v(new).supports_replicas(3), "{new}");
            check_server_version(new, 3).expect("accepted");
        }
        check_server_version("2.9.10", 1).expect("R1 works on 2.9.10");
        check_server_version("not a version", 1).expect("R1 needs no version");
        check_server_version("not a version", 3).expect_err("unknown version, R3");
    }

    #[test]
    fn created_stream_is_immutable() {
        let c = JetStreamConfig::new("nats://127.0.0.1:4222");
        let s = stream_config(&c);
        assert_eq!(s.name, "RELANCE_EVENTS");
        assert_eq!(s.subjects, vec!["relance.v1.coop.>".to_owned()]);
        assert!(s.deny_delete && s.deny_purge && !s.allow_rollup);
        assert_eq!(s.duplicate_window, Duration::from_secs(600));
        check_existing(&s, &c).expect("our own config passes");
    }
}
