//! Reading the views: one cooperative, filtered pages of the list, the summary, a history.

use std::sync::atomic::Ordering;

use relance_domain::{timeline, CoopId, CoopState, Filter, HistoryItem, Recorded, Summary};

use crate::history::{self, Histories};
use crate::keys::{
    decode_history_value, decode_view, history_prefix, index_key, index_prefix, view_key,
};
use crate::{poisoned, Projection, ProjectionError, STATE_CACHE_ENTRIES};

/// One page of a list query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<CoopState>,
    /// Cooperative id to pass back to get the next page; `None` on the last page.
    pub next: Option<String>,
    pub total: u64,
}

impl Projection {
    /// One cooperative's view.
    ///
    /// A view read from sled is kept in memory for the next reads (read-through, up to
    /// `STATE_CACHE_ENTRIES`) unless a batch changed the cached views meanwhile: the batch
    /// puts its own views there after writing them, so an older one read before it never
    /// stays.
    pub fn get(&self, id: &str) -> Result<Option<CoopState>, ProjectionError> {
        let cached = self
            .states
            .lock()
            .map_err(|_| poisoned("cached views"))?
            .get(id)
            .cloned();
        if let Some(bytes) = cached {
            return Ok(Some(decode_view(&bytes)?));
        }
        let epoch = self.states_epoch.load(Ordering::SeqCst);
        let Some(bytes) = self.tree.get(view_key(id))? else {
            return Ok(None);
        };
        let view = decode_view(&bytes)?;
        let mut states = self.states.lock().map_err(|_| poisoned("cached views"))?;
        if self.states_epoch.load(Ordering::SeqCst) == epoch
            && states.len() < STATE_CACHE_ENTRIES
            && !states.contains_key(id)
        {
            states.insert(view.id.clone(), bytes);
        }
        Ok(Some(view))
    }

    /// One cooperative's view as stored.
    pub(crate) fn stored(&self, id: &str) -> Result<Option<CoopState>, ProjectionError> {
        match self.tree.get(view_key(id))? {
            Some(v) => Ok(Some(decode_view(&v)?)),
            None => Ok(None),
        }
    }

    /// The province summary at the checkpoint.
    pub fn summary(&self) -> Summary {
        self.summary.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// A list with at most one filter: the total comes from the summary's counts and only the
    /// page is read from the index, so its cost is the page's, not the matches'.
    fn list_by_one_index(
        &self,
        filter: &Filter,
        page_size: usize,
        after: Option<&str>,
    ) -> Result<Option<Page>, ProjectionError> {
        let summary = self.summary.read().map_err(|_| poisoned("summary"))?;
        let (prefix, total) = match (filter.sector, filter.status, &filter.commune) {
            (None, None, None) => (vec![b'v'], summary.cooperatives),
            (Some(s), None, None) => (
                index_prefix("sector", s.as_str()),
                summary.by_sector.get(&s).copied().unwrap_or(0),
            ),
            (None, Some(s), None) => (
                index_prefix("status", s.as_str()),
                summary.by_status.get(&s).copied().unwrap_or(0),
            ),
            (None, None, Some(c)) => (
                index_prefix("commune", c),
                summary.by_commune.get(c).copied().unwrap_or(0),
            ),
            _ => return Ok(None),
        };
        drop(summary);
        let start = match after {
            Some(a) => {
                let mut k = prefix.clone();
                k.extend_from_slice(a.as_bytes());
                std::ops::Bound::Excluded(k)
            }
            None => std::ops::Bound::Included(prefix.clone()),
        };
        let mut items = Vec::new();
        let mut next = None;
        for kv in self.tree.range((start, std::ops::Bound::Unbounded)) {
            let (k, _) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            if items.len() == page_size {
                next = items.last().map(|v: &CoopState| v.id.to_string());
                break;
            }
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some(view) = self.get(&id)? {
                items.push(view);
            }
        }
        Ok(Some(Page { items, next, total }))
    }

    /// Cooperatives matching `filter`, in id order, `page_size` at a time after `after`.
    pub fn list(
        &self,
        filter: &Filter,
        page_size: usize,
        after: Option<&str>,
    ) -> Result<Page, ProjectionError> {
        if let Some(page) = self.list_by_one_index(filter, page_size, after)? {
            return Ok(page);
        }
        let candidates: Box<dyn Iterator<Item = Result<String, ProjectionError>>> = {
            let (prefix, strip) = if let Some(s) = filter.sector {
                let p = index_prefix("sector", s.as_str());
                let n = p.len();
                (p, n)
            } else if let Some(s) = filter.status {
                let p = index_prefix("status", s.as_str());
                let n = p.len();
                (p, n)
            } else if let Some(c) = &filter.commune {
                let p = index_prefix("commune", c);
                let n = p.len();
                (p, n)
            } else {
                (vec![b'v'], 1)
            };
            Box::new(self.tree.scan_prefix(prefix).map(move |kv| {
                let (k, _) = kv?;
                Ok(String::from_utf8_lossy(&k[strip..]).into_owned())
            }))
        };
        // Every filter is answered by its index key, so only the page's views are decoded; the
        // index scanned answers its own filter already.
        let mut checks: Vec<(&str, String)> = Vec::new();
        if let (Some(s), true) = (filter.status, filter.sector.is_some()) {
            checks.push(("status", s.as_str().to_owned()));
        }
        if let (Some(c), true) = (
            &filter.commune,
            filter.sector.is_some() || filter.status.is_some(),
        ) {
            checks.push(("commune", c.clone()));
        }
        let mut items = Vec::new();
        let mut total = 0u64;
        let mut next = None;
        for id in candidates {
            let id = id?;
            let mut matches = true;
            for (index, value) in &checks {
                if !self.tree.contains_key(index_key(index, value, &id))? {
                    matches = false;
                    break;
                }
            }
            if !matches {
                continue;
            }
            total += 1;
            if after.is_some_and(|a| id.as_str() <= a) {
                continue;
            }
            if items.len() < page_size {
                let Some(view) = self.get(&id)? else { continue };
                items.push(view);
            } else if next.is_none() {
                next = items.last().map(|v: &CoopState| v.id.to_string());
            }
        }
        Ok(Page { items, next, total })
    }

    /// A cooperative's stored events in version order: those its view was folded from (up to
    /// the checkpoint; for a quarantined cooperative, up to its last good event).
    pub fn history_records(&self, id: &str) -> Result<Vec<Recorded>, ProjectionError> {
        match &self.histories {
            Histories::InViews => self.history_in_views(id),
            Histories::InLog(source) => {
                let checkpoint = self.checkpoint();
                let Ok(coop) = CoopId::parse(id) else {
                    return Ok(Vec::new());
                };
                let Some(view) = self.get(id)? else {
                    return Ok(Vec::new());
                };
                history::decoded(history::from_log(
                    source.as_ref(),
                    &coop,
                    checkpoint,
                    view.version,
                )?)
            }
        }
    }

    /// The history records the views keep (none when histories live in the log).
    fn history_in_views(&self, id: &str) -> Result<Vec<Recorded>, ProjectionError> {
        self.tree
            .scan_prefix(history_prefix(id))
            .map(|kv| decode_history_value(&kv?.1))
            .collect()
    }

    /// A cooperative's events at or below `position`, while a batch is applied (under the apply
    /// lock, `position` being the checkpoint before the batch).
    pub(crate) fn history_to(
        &self,
        id: &CoopId,
        position: u64,
    ) -> Result<Vec<Recorded>, ProjectionError> {
        match &self.histories {
            Histories::InViews => self.history_in_views(id.as_str()),
            Histories::InLog(source) => {
                history::decoded(history::from_log(source.as_ref(), id, position, u64::MAX)?)
            }
        }
    }

    /// A cooperative's events in version order, each with its retraction if any.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryItem>, ProjectionError> {
        Ok(timeline(&self.history_records(id)?))
    }
}
