//! The province summary: the sum of every cooperative's contribution.
//!
//! A projection keeps it current by subtracting a cooperative's old contribution and adding
//! its new one; entries that fall to zero are removed, so the summary depends only on the
//! set of states, never on the order or batching that produced them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{CoopState, Sector, Status, SupportKind, Totals};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub cooperatives: u64,
    pub members: u64,
    pub employees: u64,
    pub by_sector: BTreeMap<Sector, u64>,
    pub by_status: BTreeMap<Status, u64>,
    pub by_commune: BTreeMap<String, u64>,
    /// Workers idled by open halts.
    pub workers_idled: u64,
    /// Cooperatives whose status is reoriented, and their summed daily capacity.
    pub reoriented: u64,
    pub reoriented_capacity_min_per_day: u64,
    pub reoriented_capacity_max_per_day: u64,
    /// partner → kind → totals.
    pub support: BTreeMap<String, BTreeMap<SupportKind, Totals>>,
    /// `YYYY-MM` of the resumption's effective date → resumptions.
    pub resumptions_by_month: BTreeMap<String, u64>,
}

impl Summary {
    /// Adds one cooperative's contribution.
    pub fn add(&mut self, s: &CoopState) {
        self.change(s, 1);
    }

    /// Removes one cooperative's contribution (as previously added).
    pub fn remove(&mut self, s: &CoopState) {
        self.change(s, -1);
    }

    /// Replaces `old` by `new` (either may be absent).
    pub fn replace(&mut self, old: Option<&CoopState>, new: Option<&CoopState>) {
        if let Some(old) = old {
            self.remove(old);
        }
        if let Some(new) = new {
            self.add(new);
        }
    }

    /// Share of cooperatives in a sector, in percent.
    pub fn sector_share(&self, sector: Sector) -> f64 {
        if self.cooperatives == 0 {
            return 0.0;
        }
        *self.by_sector.get(&sector).unwrap_or(&0) as f64 * 100.0 / self.cooperatives as f64
    }

    fn change(&mut self, s: &CoopState, sign: i64) {
        let step = |v: &mut u64, by: u64| {
            *v = if sign > 0 {
                v.saturating_add(by)
            } else {
                v.saturating_sub(by)
            };
        };
        step(&mut self.cooperatives, 1);
        step(&mut self.members, u64::from(s.members));
        step(&mut self.employees, u64::from(s.employees));
        bump(&mut self.by_sector, s.sector, sign);
        bump(&mut self.by_status, s.status, sign);
        bump(&mut self.by_commune, s.commune.clone(), sign);
        step(&mut self.workers_idled, u64::from(s.workers_idled()));
        if s.status == Status::Reoriented {
            step(&mut self.reoriented, 1);
            let (lo, hi) = s.current_capacity().unwrap_or((0, 0));
            step(&mut self.reoriented_capacity_min_per_day, lo);
            step(&mut self.reoriented_capacity_max_per_day, hi);
        }
        for (partner, kinds) in &s.support_totals {
            let by_kind = self.support.entry(partner.clone()).or_default();
            for (kind, t) in kinds {
                let e = by_kind.entry(*kind).or_default();
                if sign > 0 {
                    e.count = e.count.saturating_add(t.count);
                    e.amount_centimes = e.amount_centimes.saturating_add(t.amount_centimes);
                } else {
                    e.count = e.count.saturating_sub(t.count);
                    e.amount_centimes = e.amount_centimes.saturating_sub(t.amount_centimes);
                }
                if e.count == 0 && e.amount_centimes == 0 {
                    by_kind.remove(kind);
                }
            }
            if by_kind.is_empty() {
                self.support.remove(partner);
            }
        }
        for d in &s.resumptions {
            bump(&mut self.resumptions_by_month, d.month_key(), sign);
        }
    }
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, sign: i64) {
    let v = map.entry(key).or_insert(0);
    *v = if sign > 0 {
        v.saturating_add(1)
    } else {
        v.saturating_sub(1)
    };
    if *v == 0 {
        map.retain(|_, v| *v != 0);
    }
}
