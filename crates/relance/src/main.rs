//! `relance`: serve a node, replay the article as a demo, or talk to a node over gRPC.

use anyhow::Result;
use clap::Parser;

mod admin;
mod audit;
mod cli;
mod client;
mod coop;
mod demo;
mod export;
mod import;
mod log;
mod output;
mod progress;
mod serve;
mod time;
mod tlog;
mod token;
mod watch;
mod web;

/// mimalloc: the projection and the audit spent a third of their time in glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    quiet_on_closed_stdout();
    let cli = cli::Cli::parse();
    init_tracing(&cli);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Printing into a closed pipe (`relance summary | head`) makes `println!` panic; a
/// command-line tool should end quietly instead, as other Unix tools do. (Restoring the default
/// SIGPIPE action would also kill the process when a network peer closes a socket.)
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn init_tracing(cli: &cli::Cli) {
    let default = match cli.command {
        cli::Command::Serve(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RELANCE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        cli::LogFormat::Json => builder.json().init(),
        cli::LogFormat::Text => builder.init(),
    }
}

async fn run(cli: cli::Cli) -> Result<()> {
    match cli.command {
        cli::Command::Serve(args) => serve::run(args).await,
        cli::Command::Demo(args) => demo::run(args).await,
        cli::Command::Coop(cmd) => coop::coop(&cli.client, cmd).await,
        cli::Command::Import(cmd) => import::run(&cli.client, cmd).await,
        cli::Command::Summary(args) => client::summary(&cli.client, &args).await,
        cli::Command::Audit(cmd) => audit::run(&cli.client, cmd).await,
        cli::Command::Token(cmd) => token::run(cmd),
        cli::Command::Status => client::status(&cli.client).await,
        cli::Command::Watch(args) => watch::run(&cli.client, &args).await,
        cli::Command::Projection(cli::ProjectionCommand::Rebuild {
            live: true, detach, ..
        }) => admin::rebuild_live(&cli.client, detach).await,
        cli::Command::Projection(cli::ProjectionCommand::Rebuild { data_dir, nats, .. }) => {
            admin::rebuild(&data_dir, &nats).await
        }
    }
}
