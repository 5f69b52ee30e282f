//! `relance watch`: events printed as they are recorded (a table, or JSON lines with
//! `--output json`), after those stored from `--from`; the end of the stream says where to
//! resume.

use std::io::IsTerminal as _;

use anyhow::{bail, Result};
use futures::StreamExt as _;
use relance_proto::v1;
use relance_proto::v1::subscriptions_client::SubscriptionsClient;
use relance_proto::v1::watch_response::Item;

use crate::cli::{ClientArgs, Output, WatchArgs};
use crate::client::{status_error, Client};
use crate::output::{day_time_of, describe};

/// Follows the node's log until the stream ends or the process is stopped.
pub async fn run(args: &ClientArgs, watch: &WatchArgs) -> Result<()> {
    let c = Client::open(args).await?;
    let mut client = SubscriptionsClient::new(c.channel.clone());
    let request = v1::WatchRequest {
        from_position: watch.from.unwrap_or(0),
        cooperative_ids: watch.cooperatives.clone(),
        event_types: watch.event_types.clone(),
        partner: watch.partner.clone().unwrap_or_default(),
        heartbeat_seconds: watch.heartbeat,
    };
    let mut stream = client
        .watch(c.request(request)?)
        .await
        .map_err(status_error)?
        .into_inner();
    let terminal = std::io::stderr().is_terminal();
    if args.output == Output::Table {
        println!(
            "{:>8}  {:<12}  {:>3}  {:<23}  {:<21}  WHAT",
            "POSITION", "COOPERATIVE", "V", "TYPE", "RECORDED"
        );
    }
    let mut last = watch.from.map_or(0, |f| f.saturating_sub(1));
    while let Some(item) = stream.next().await {
        let message = match item {
            Ok(message) => message,
            Err(status) => return Err(ended(&status, last)),
        };
        match message.item {
            Some(Item::Event(e)) => {
                last = e.position;
                print_event(args.output, &e)?;
            }
            Some(Item::Heartbeat(h)) => {
                let caught_up_now = h.caught_up && h.position >= last && terminal;
                last = last.max(h.position);
                if args.output == Output::Json {
                    println!(
                        "{}",
                        serde_json::json!({"kind": "heartbeat", "position": h.position, "caught_up": h.caught_up})
                    );
                } else if caught_up_now {
                    eprintln!("(position {}: following live)", h.position);
                }
            }
            None => {}
        }
    }
    bail!(
        "the node closed the stream; resume with --from {}",
        last + 1
    )
}

fn print_event(out: Output, e: &v1::Envelope) -> Result<()> {
    if out == Output::Json {
        println!(
            "{}",
            serde_json::to_string(&serde_json::json!({"kind": "event", "envelope": e}))?
        );
        return Ok(());
    }
    let kind = e
        .event
        .as_ref()
        .map_or("?", |ev| relance_proto::event_type_name(ev));
    println!(
        "{:>8}  {:<12}  {:>3}  {:<23}  {:<21}  {}",
        e.position,
        e.cooperative_id,
        e.version,
        kind,
        day_time_of(e.recorded_at_unix_ms),
        describe(e)
    );
    Ok(())
}

/// The error for a stream that ended with `status`: the node's reason and where to resume.
fn ended(status: &tonic::Status, last: u64) -> anyhow::Error {
    let resume = status
        .metadata()
        .get(relance_server::RESUME_FROM)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(last + 1);
    anyhow::anyhow!(
        "{}\n  to resume: relance watch --from {resume}",
        status_error(status.clone())
    )
}
