//! The JetStream backend against real nats-server processes: the conformance suite on a
//! current server, on Debian's 2.9.10 and with consumer-only reads, plus the backend's own
//! checks (stream setup, headers, failures).

mod checks;
mod group;
mod server;

use relance_domain::CoopId;
use relance_log_nats::{JetStreamConfig, JetStreamLog};

/// The stream relance creates by default.
const STREAM: &str = "RELANCE_EVENTS";

fn coop(id: &str) -> CoopId {
    CoopId::parse(id).expect("valid test id")
}

/// Connects to the log `config` describes (group commit as `config` says).
async fn connect(config: JetStreamConfig) -> JetStreamLog {
    match JetStreamLog::connect(config).await {
        Ok(log) => log,
        Err(e) => panic!("connect: {e}"),
    }
}

/// The conformance suite on the current server (the newest `nats-server` found).
mod current {
    use crate::server::{current_binary, NatsHarness};

    relance_log::conformance_tests!(NatsHarness::new(current_binary(), |_| {}));
}

/// The conformance suite with group commit on: every group of appends sent as one atomic
/// batch.
mod group_commit {
    use crate::server::{current_binary, NatsHarness};

    relance_log::conformance_tests!(NatsHarness::new(current_binary(), |c| c.group_commit =
        relance_log_nats::GroupCommit::Always));
}

/// The conformance suite with reads one direct get at a time (no batch direct gets).
mod single_gets {
    use crate::server::{current_binary, NatsHarness};

    relance_log::conformance_tests!(NatsHarness::new(current_binary(), |c| c.batch_get = false));
}

/// The conformance suite with every read going through an ordered consumer.
mod consumer_reads {
    use crate::server::{current_binary, NatsHarness};

    relance_log::conformance_tests!(NatsHarness::new(current_binary(), |c| {
        c.direct_read_limit = 0;
        c.batch_get = false;
    }));
}

/// The conformance suite on nats-server 2.9.10 (Debian bookworm), one replica. Skipped, with
/// a message, where that binary is not installed.
mod legacy_2_9 {
    use crate::server::{legacy_binary, NatsHarness};

    relance_log::conformance_tests!(match legacy_binary() {
        Some(binary) => NatsHarness::new(binary, |_| {}),
        None => {
            eprintln!("{}", crate::server::LEGACY_MISSING);
            return;
        }
    });
}
