//! What a live subscription (the `Watch` RPC) wants to see: [`EventFilter`], checked once when
//! the subscription starts and then asked of every event.

use std::collections::BTreeSet;

use crate::decide::check_text;
use crate::limits::SHORT_TEXT;
use crate::{CoopId, Envelope, Event, Rejection, Rule};

/// Most cooperatives one subscription may name.
pub const MAX_WATCHED_COOPERATIVES: usize = 1000;

/// Which events a subscription wants; an empty set (or no partner) means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub cooperatives: BTreeSet<CoopId>,
    /// Names from [`Event::TYPE_NAMES`].
    pub types: BTreeSet<&'static str>,
    /// The events that name this partner: support it granted, and every event recorded by a
    /// principal of that organisation.
    pub partner: Option<String>,
}

impl EventFilter {
    /// The filter asked for, each part checked: cooperative ids well formed, event types among
    /// [`Event::TYPE_NAMES`], the partner a short text without control characters.
    pub fn parse(
        cooperative_ids: &[String],
        event_types: &[String],
        partner: &str,
    ) -> Result<Self, Rejection> {
        if cooperative_ids.len() > MAX_WATCHED_COOPERATIVES {
            return Err(Rejection::invalid(
                "cooperative_ids",
                Rule::NumberTooLarge,
                format!(
                    "names {} cooperatives, at most {MAX_WATCHED_COOPERATIVES}",
                    cooperative_ids.len()
                ),
            ));
        }
        let cooperatives = cooperative_ids
            .iter()
            .map(|raw| {
                CoopId::parse(raw).map_err(|e| {
                    Rejection::invalid("cooperative_ids", Rule::CooperativeIdFormat, e.to_string())
                })
            })
            .collect::<Result<_, _>>()?;
        let types = event_types
            .iter()
            .map(|raw| {
                Event::TYPE_NAMES
                    .iter()
                    .copied()
                    .find(|name| name == raw)
                    .ok_or_else(|| {
                        Rejection::invalid(
                            "event_types",
                            Rule::InvalidEnum,
                            format!(
                                "{raw:?} is not an event type (one of {})",
                                Event::TYPE_NAMES.join(", ")
                            ),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        check_text("partner", partner, SHORT_TEXT, false)?;
        Ok(Self {
            cooperatives,
            types,
            partner: (!partner.is_empty()).then(|| partner.to_owned()),
        })
    }

    /// True when every event passes (nothing to decode to decide).
    pub fn is_everything(&self) -> bool {
        self.cooperatives.is_empty() && self.types.is_empty() && self.partner.is_none()
    }

    /// Whether `env` passes every part of the filter.
    pub fn matches(&self, env: &Envelope) -> bool {
        let coop = self.cooperatives.is_empty() || self.cooperatives.contains(&env.cooperative_id);
        let kind = self.types.is_empty() || self.types.contains(env.event.type_name());
        let partner = self.partner.as_deref().is_none_or(|p| {
            env.actor.organisation == p
                || matches!(&env.event, Event::SupportGranted(s) if s.partner == p)
        });
        coop && kind && partner
    }
}
