//! Batch direct get (nats-server 2.11+, ADR-31): the messages of one subject from a sequence on,
//! many in one request (`{"seq", "next_by_subj", "batch"}` to `$JS.API.DIRECT.GET.<stream>`),
//! answered as one message each and a closing `204 EOB` status. A cooperative's history is read
//! in one round trip instead of one direct get per event, which is what lets History, StateAt
//! and the digest read histories from the log rather than from a copy in the views.

use std::time::Duration;

use futures::StreamExt;
use relance_log::{LogError, StoredEvent};

use crate::{headers, Inner};

/// Most messages asked for in one request.
const BATCH: usize = 1024;
/// How long the replies of one request may take to arrive, all together.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

impl Inner {
    /// Up to `max` events on `filter` with positions in `start..=bound`, a batch direct get at a
    /// time; `None` when the stream does not answer direct gets (nobody listens on its direct
    /// get subject: a stream without `allow_direct`), which is then remembered.
    pub(crate) async fn scan_by_batch_get(
        &self,
        filter: &str,
        start: u64,
        bound: u64,
        max: usize,
    ) -> Result<Option<Vec<StoredEvent>>, LogError> {
        let mut out = Vec::new();
        let mut cursor = start;
        while out.len() < max && cursor <= bound {
            let want = (max - out.len()).min(BATCH);
            let Some(got) = self
                .batch_get(filter, cursor, bound, want, &mut out)
                .await?
            else {
                self.no_batch_get
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(stream = %self.config.stream,
                    "the stream does not answer direct gets: histories are read one message at a time");
                return Ok(None);
            };
            match out.last() {
                Some(last) if got == want => cursor = last.position + 1,
                _ => break,
            }
        }
        Ok(Some(out))
    }

    /// One request: up to `want` events on `filter` from `start`, those at or below `bound`
    /// appended to `out`; returns how many messages the server sent (`None`: no responders).
    async fn batch_get(
        &self,
        filter: &str,
        start: u64,
        bound: u64,
        want: usize,
        out: &mut Vec<StoredEvent>,
    ) -> Result<Option<usize>, LogError> {
        let what = || format!("reading {filter} from position {start}");
        let client = self.js.client();
        let inbox = client.new_inbox();
        let mut replies = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| LogError::Unavailable(format!("{}: {e}", what())))?;
        let body = serde_json::json!({ "seq": start, "next_by_subj": filter, "batch": want });
        client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{}", self.config.stream),
                inbox,
                body.to_string().into(),
            )
            .await
            .map_err(|e| LogError::Unavailable(format!("{}: {e}", what())))?;
        let mut sent = 0;
        let mut responders = true;
        let read = async {
            while let Some(m) = replies.next().await {
                match m.status.map(|s| s.as_u16()) {
                    None => {
                        sent += 1;
                        let headers = m.headers.as_ref();
                        let position = header_u64(headers, "Nats-Sequence").ok_or_else(|| {
                            LogError::Unavailable(format!(
                                "{}: a reply without its sequence",
                                what()
                            ))
                        })?;
                        let subject = headers
                            .and_then(|h| h.get("Nats-Subject"))
                            .map(|v| v.as_str().to_owned())
                            .unwrap_or_default();
                        if position <= bound {
                            out.push(headers::stored_event(
                                &self.config.subject_prefix,
                                &subject,
                                position,
                                headers,
                                &m.payload,
                            )?);
                        }
                    }
                    // The end of the batch (204 EOB), or nothing at all from `start` (404).
                    Some(204) | Some(404) => return Ok(()),
                    Some(503) => {
                        responders = false;
                        return Ok(());
                    }
                    Some(code) => {
                        return Err(LogError::Unavailable(format!(
                            "{}: the server answered {code} {}",
                            what(),
                            m.description.unwrap_or_default()
                        )))
                    }
                }
            }
            Err(LogError::Unavailable(format!(
                "{}: the replies stopped",
                what()
            )))
        };
        tokio::time::timeout(REPLY_TIMEOUT, read)
            .await
            .map_err(|_| LogError::Unavailable(format!("{}: no end of batch in time", what())))??;
        Ok(responders.then_some(sent))
    }
}

/// A numeric header of a direct get's reply.
fn header_u64(headers: Option<&async_nats::HeaderMap>, name: &str) -> Option<u64> {
    headers?.get(name)?.as_str().parse().ok()
}
