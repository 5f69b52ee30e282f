//! A 3-node nats-server cluster on loopback for the replicated (R3) rows, every node with
//! `sync_interval: always` (the deploy configurations' setting).

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct Cluster {
    children: Vec<Child>,
    /// Every node's client URL, comma-separated.
    pub urls: String,
    _dir: tempfile::TempDir,
}

/// A port free on loopback now (the kernel's choice).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Cluster {
    /// Starts `size` nodes and waits until each is ready and the cluster's JetStream answers.
    pub async fn start(binary: &Path, size: usize) -> Result<Self> {
        let dir = tempfile::tempdir().context("temporary directory for the cluster")?;
        let clients = (0..size).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
        let routes = (0..size).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
        let mut children = Vec::with_capacity(size);
        for node in 0..size {
            let store = dir.path().join(format!("n{}", node + 1));
            let others: Vec<String> = (0..size)
                .filter(|i| *i != node)
                .map(|i| format!("nats-route://127.0.0.1:{}", routes[i]))
                .collect();
            let config = format!(
                "server_name: n{}\nlisten: 127.0.0.1:{}\nmax_payload: 1MB\n\
                 jetstream {{ store_dir: {:?}, sync_interval: always }}\n\
                 cluster {{ name: bench, listen: 127.0.0.1:{}, routes: [{}] }}\n",
                node + 1,
                clients[node],
                store.display().to_string(),
                routes[node],
                others.join(", ")
            );
            let path = dir.path().join(format!("n{}.conf", node + 1));
            std::fs::write(&path, config).context("writing a node's config")?;
            children.push(crate::nats::spawn_ready(binary, &["-c", &path.to_string_lossy()])?.0);
        }
        let urls = clients
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let cluster = Self {
            children,
            urls,
            _dir: dir,
        };
        cluster.wait_for_jetstream().await?;
        Ok(cluster)
    }

    /// Waits (bounded) until the meta leader is elected: `$JS.API.INFO` answers without error.
    async fn wait_for_jetstream(&self) -> Result<()> {
        let urls: Vec<&str> = self.urls.split(',').collect();
        let client = async_nats::connect(urls).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let reply = tokio::time::timeout(
                Duration::from_secs(2),
                client.request("$JS.API.INFO", "".into()),
            )
            .await;
            if let Ok(Ok(m)) = reply {
                if !String::from_utf8_lossy(&m.payload).contains("\"error\"") {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("the cluster's JetStream did not answer within 60 s")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
