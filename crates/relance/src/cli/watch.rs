//! `relance watch` and the node's Watch settings.

use clap::Args;

/// `relance watch`: the history as it happens.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// First position to print (resume with the last position printed + 1); default: from
    /// now, only what is recorded after the call.
    #[arg(long, value_name = "POSITION")]
    pub from: Option<u64>,
    /// Only this cooperative (repeat for several).
    #[arg(long = "coop", value_name = "ID")]
    pub cooperatives: Vec<String>,
    /// Only this event type, e.g. ActivityHalted (repeat for several).
    #[arg(long = "type", value_name = "TYPE")]
    pub event_types: Vec<String>,
    /// Only the events that name this partner: its grants and what its principals recorded.
    #[arg(long)]
    pub partner: Option<String>,
    /// Seconds without an event after which the node sends a heartbeat (printed with
    /// `--output json`); 0: the node's default (15).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub heartbeat: u32,
}

/// How a node serves Watch.
#[derive(Debug, Clone, Args)]
pub struct WatchServeArgs {
    /// Items held for one Watch client.
    #[arg(long, env = "RELANCE_WATCH_BUFFER", default_value_t = relance_server::DEFAULT_WATCH_BUFFER)]
    pub watch_buffer: usize,
    /// Seconds a Watch client's buffer may stay full: after that the client is too slow and
    /// its stream ends with the position to resume from.
    #[arg(long, env = "RELANCE_WATCH_STALL", value_name = "SECONDS", default_value_t = relance_server::DEFAULT_WATCH_STALL.as_secs())]
    pub watch_stall: u64,
}
