//! A relance node serving the gRPC API on a loopback port, and the command and health-check
//! loads driven through it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use relance_log::EventLog;
use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;
use relance_server::{serve, Node};
use tonic::transport::Channel;

use crate::load::{self, Window};

/// A node serving the gRPC API on a loopback port.
pub struct Running {
    url: String,
    pub node: Node,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), relance_server::NodeError>>,
}

impl Running {
    pub async fn start(log: Arc<dyn EventLog>, projection: Option<&Path>) -> Result<Self> {
        let node = Node::start(log, projection, true, None)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, node.services(), async move {
            let _ = rx.await;
        }));
        Ok(Self {
            url,
            node,
            stop,
            server,
        })
    }

    /// The node's gRPC address (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn channel(&self) -> Result<Channel> {
        Ok(Channel::from_shared(self.url.clone())?.connect().await?)
    }

    /// `ReportHeadcount` commands acknowledged per second with `c` tasks (over at most 8
    /// channels), each on its own cooperatives named after `tag`.
    pub async fn command_rate(&self, c: usize, window: Window, tag: &str) -> Result<f64> {
        Ok(self.commands(c, window, tag).await?.rate)
    }

    /// [`command_rate`](Self::command_rate) with the commands' p99 latency.
    pub async fn commands(&self, c: usize, window: Window, tag: &str) -> Result<load::Measured> {
        let channels = self.channels(c.min(8)).await?;
        let tag = tag.to_owned();
        load::measure(c, window, move |task, ctl, barrier| {
            load::relance_worker(
                CooperativeCommandsClient::new(channels[task % channels.len()].clone()),
                tag.clone(),
                task,
                ctl,
                barrier,
            )
        })
        .await
    }

    /// Health checks answered per second with `c` tasks, on the same channel layout.
    pub async fn grpc_floor_rate(&self, c: usize, window: Window) -> Result<f64> {
        let channels = self.channels(c.min(8)).await?;
        load::run(c, window, move |task, ctl, barrier| {
            load::grpc_floor_worker(channels[task % channels.len()].clone(), ctl, barrier)
        })
        .await
    }

    async fn channels(&self, n: usize) -> Result<Vec<Channel>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.channel().await?);
        }
        Ok(out)
    }

    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.server.await??;
        self.node.shutdown().await?;
        Ok(())
    }
}
