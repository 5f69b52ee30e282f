//! The pages, and what they share: labels of the domain's values, event descriptions, the
//! blocking read of the views off the async threads.

use relance_domain::{Date, Event, Sector, Status, SupportKind};

use crate::i18n::Lang;
use crate::WebError;

pub mod audit;
pub mod coop;
pub mod coops;
pub mod overview;
pub mod partner;

pub fn sector(l: Lang, s: Sector) -> &'static str {
    l.t(&format!("sector.{}", s.as_str()))
}

pub fn status(l: Lang, s: Status) -> &'static str {
    l.t(&format!("status.{}", s.as_str()))
}

pub fn kind(l: Lang, k: SupportKind) -> &'static str {
    l.t(&format!("kind.{}", k.as_str()))
}

/// Runs a read of the views on the blocking pool (sled reads block).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
}

/// A `YYYY-MM-DD` query value: `None` when empty, an error when not a date.
pub fn date_param(name: &str, raw: &Option<String>) -> Result<Option<Date>, WebError> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => Date::parse(v)
            .map(Some)
            .ok_or_else(|| WebError::BadRequest(format!("{name} must be a date YYYY-MM-DD"))),
    }
}

/// What an event says, in a line.
pub fn describe(l: Lang, e: &Event) -> String {
    let join = |parts: Vec<String>| {
        parts
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" · ")
    };
    match e {
        Event::CooperativeRegistered(r) => join(vec![
            r.name.clone(),
            sector(l, r.sector).to_owned(),
            r.activity.clone(),
            r.commune.clone(),
            format!("{} {}", l.int(r.members.into()), l.t("field.members")),
            format!("{} {}", l.int(r.employees.into()), l.t("field.employees")),
        ]),
        Event::ActivityHalted(h) => join(vec![
            h.authority.clone(),
            h.legal_basis
                .as_ref()
                .map(|b| b.reference.clone())
                .unwrap_or_default(),
            h.reason.clone(),
            l.t(&format!("scope.{}", h.scope.as_str())).to_owned(),
            format!(
                "{} {}",
                l.int(h.workers_affected.into()),
                l.t("field.workers_idled")
            ),
        ]),
        Event::ReorientationDeclared(r) => join(vec![
            format!("{} → {}", r.from_activity, r.to_activity),
            r.product.clone(),
            format!(
                "{}–{} {}",
                l.int(r.capacity_min_per_day),
                l.int(r.capacity_max_per_day),
                l.t("field.per_day")
            ),
            r.notes.clone(),
        ]),
        Event::AuthorizationObtained(a) => join(vec![
            a.issuing_body.clone(),
            a.reference.clone(),
            a.product.clone(),
            a.valid_until
                .map(|d| format!("{} {}", l.t("field.valid_until"), l.date(d)))
                .unwrap_or_default(),
        ]),
        Event::SupportGranted(s) => join(vec![
            s.partner.clone(),
            kind(l, s.kind).to_owned(),
            s.amount_centimes.map(|a| l.mad(a)).unwrap_or_default(),
            s.description.clone(),
        ]),
        Event::SalesChannelOpened(c) => join(vec![
            l.t(&format!("channel.{}", c.channel.as_str())).to_owned(),
            c.city.clone(),
            l.t(&format!("standing.{}", c.standing.as_str())).to_owned(),
        ]),
        Event::ActivityResumed(r) => join(vec![
            r.authority.clone(),
            r.decision_ref.clone(),
            format!(
                "{} {}",
                l.int(r.workers_back.into()),
                l.t("field.workers_back")
            ),
        ]),
        Event::HeadcountReported(h) => join(vec![
            format!("{} {}", l.int(h.members.into()), l.t("field.members")),
            format!("{} {}", l.int(h.employees.into()), l.t("field.employees")),
        ]),
        Event::EventRetracted(r) => join(vec![r.reason.clone()]),
    }
}

/// Folds Latin accents and case, and Arabic diacritics and letter variants, for searching
/// names in either script.
pub fn fold_name(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            'à' | 'â' | 'ä' | 'á' => Some('a'),
            'é' | 'è' | 'ê' | 'ë' => Some('e'),
            'î' | 'ï' | 'í' => Some('i'),
            'ô' | 'ö' | 'ó' => Some('o'),
            'ù' | 'û' | 'ü' | 'ú' => Some('u'),
            'ç' => Some('c'),
            'أ' | 'إ' | 'آ' | 'ٱ' => Some('ا'),
            'ة' => Some('ه'),
            'ى' => Some('ي'),
            // Harakat, tanwin, shadda, sukun, superscript alef; tatweel.
            '\u{064b}'..='\u{0652}' | '\u{0670}' | '\u{0640}' => None,
            c => Some(c),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_in_both_scripts() {
        assert_eq!(fold_name("Ibdaât RÉHAMNA"), "ibdaat rehamna");
        assert_eq!(fold_name("إبداع الرحامنة"), fold_name("ابداع الرحامنه"));
        assert!(fold_name("تَعاوُنِيَّة").contains(&fold_name("تعاونية")));
    }
}
