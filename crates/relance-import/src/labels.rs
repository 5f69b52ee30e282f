//! The words registers use for the domain's enums and for the kinds of fact, matched
//! leniently (case, accents, punctuation), French and English.

use relance_domain::{ChannelKind, HaltScope, Sector, Standing, SupportKind};
use serde::Serialize;

use crate::normalize::key;

/// What one row of a file records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    Registration,
    Halt,
    Resume,
    Reorientation,
    Authorisation,
    Support,
    SalesChannel,
    Headcount,
}

impl FactKind {
    /// The token used in request ids and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::Registration => "coop",
            FactKind::Halt => "halt",
            FactKind::Resume => "resume",
            FactKind::Reorientation => "reorientation",
            FactKind::Authorisation => "authorisation",
            FactKind::Support => "support",
            FactKind::SalesChannel => "sales_channel",
            FactKind::Headcount => "headcount",
        }
    }
}

/// Words for the kinds a facts file may hold (the `Type` column).
const KINDS: &[(FactKind, &[&str])] = &[
    (
        FactKind::Halt,
        &[
            "halt",
            "arrêt",
            "arrêt d'activité",
            "arrêt de l'activité",
            "suspension",
            "fermeture",
        ],
    ),
    (
        FactKind::Resume,
        &[
            "resume",
            "reprise",
            "reprise d'activité",
            "reprise de l'activité",
            "réouverture",
        ],
    ),
    (
        FactKind::Reorientation,
        &["reorientation", "réorientation", "reconversion", "reorient"],
    ),
    (
        FactKind::Authorisation,
        &[
            "authorisation",
            "autorisation",
            "authorization",
            "agrément",
            "certification",
        ],
    ),
    (
        FactKind::Support,
        &["support", "appui", "soutien", "aide", "accompagnement"],
    ),
    (
        FactKind::SalesChannel,
        &[
            "sales channel",
            "canal de vente",
            "canal",
            "channel",
            "débouché",
            "point de vente",
        ],
    ),
    (
        FactKind::Headcount,
        &["headcount", "effectif", "effectifs", "recensement"],
    ),
];

fn find<T: Copy>(table: &[(T, &[&str])], raw: &str) -> Option<T> {
    let k = key(raw);
    table
        .iter()
        .find(|(_, words)| words.iter().any(|w| key(w) == k))
        .map(|(v, _)| *v)
}

fn accepted<T>(table: &[(T, &[&str])]) -> String {
    table
        .iter()
        .map(|(_, words)| {
            words
                .iter()
                .take(2)
                .copied()
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a kind of fact.
pub(crate) fn fact_kind(raw: &str) -> Option<FactKind> {
    find(KINDS, raw)
}

/// The kinds, for error messages.
pub(crate) fn fact_kinds_accepted() -> String {
    accepted(KINDS)
}

const SECTORS: &[(Sector, &[&str])] = &[
    (Sector::Agriculture, &["agriculture", "agricole", "farming"]),
    (
        Sector::Artisanat,
        &[
            "artisanat",
            "artisanal",
            "crafts",
            "handicrafts",
            "handicraft",
        ],
    ),
    (Sector::Habitat, &["habitat", "housing", "logement"]),
    (
        Sector::DenreesAlimentaires,
        &[
            "denrées alimentaires",
            "denrees_alimentaires",
            "agroalimentaire",
            "alimentation",
            "food",
            "foodstuffs",
        ],
    ),
    (
        Sector::Argane,
        &["argane", "argan", "huile d'argan", "huile d'argane"],
    ),
    (
        Sector::Peche,
        &["pêche", "peche", "pêche artisanale", "fishing", "fisheries"],
    ),
    (
        Sector::Alphabetisation,
        &["alphabétisation", "alphabetisation", "literacy"],
    ),
    (
        Sector::PlantesMedicinales,
        &[
            "plantes médicinales et aromatiques",
            "plantes_medicinales",
            "plantes médicinales",
            "plantes aromatiques et médicinales",
            "PAM",
            "medicinal plants",
            "medicinal and aromatic plants",
        ],
    ),
    (
        Sector::Foret,
        &["forêt", "foret", "forestier", "forestry", "forest"],
    ),
    (Sector::Transport, &["transport", "transports"]),
    (Sector::Tourisme, &["tourisme", "tourism"]),
    (
        Sector::ConseilGestion,
        &[
            "conseil et gestion",
            "conseil_gestion",
            "conseil",
            "gestion",
            "consulting",
            "consulting and management",
        ],
    ),
    (
        Sector::Carrieres,
        &[
            "exploitation des carrières",
            "carrieres",
            "carrières",
            "quarries",
            "quarrying",
        ],
    ),
    (
        Sector::CommerceServices,
        &[
            "commerce et services",
            "commerce_services",
            "commerce",
            "services",
            "trade",
            "trade and services",
        ],
    ),
];

/// Parses a sector: the domain's names and labels, and the usual French and English words.
pub(crate) fn sector(raw: &str) -> Option<Sector> {
    find(SECTORS, raw).or_else(|| {
        Sector::ALL
            .iter()
            .copied()
            .find(|s| key(s.as_str()) == key(raw) || key(s.label()) == key(raw))
    })
}

/// The sectors' labels, for error messages.
pub(crate) fn sectors_accepted() -> String {
    Sector::ALL
        .iter()
        .map(|s| s.label())
        .collect::<Vec<_>>()
        .join(", ")
}

const SCOPES: &[(HaltScope, &[&str])] = &[
    (
        HaltScope::Total,
        &["total", "totale", "complet", "complète", "full"],
    ),
    (HaltScope::Partial, &["partial", "partiel", "partielle"]),
];

const SUPPORT_KINDS: &[(SupportKind, &[&str])] = &[
    (
        SupportKind::Financial,
        &[
            "financial",
            "financier",
            "financière",
            "subvention",
            "prêt",
            "grant",
            "loan",
            "tranche",
        ],
    ),
    (
        SupportKind::Commercialisation,
        &[
            "commercialisation",
            "commercial",
            "commercialization",
            "marketing",
        ],
    ),
    (
        SupportKind::Technical,
        &[
            "technical",
            "technique",
            "certification",
            "assistance technique",
        ],
    ),
    (
        SupportKind::Training,
        &["training", "formation", "coaching", "encadrement"],
    ),
    (
        SupportKind::Equipment,
        &["equipment", "équipement", "matériel"],
    ),
    (
        SupportKind::InKind,
        &["in_kind", "en nature", "in kind", "don", "don en nature"],
    ),
];

const CHANNELS: &[(ChannelKind, &[&str])] = &[
    (
        ChannelKind::Groceries,
        &["groceries", "épiceries", "épicerie", "grocery"],
    ),
    (
        ChannelKind::Pharmacies,
        &["pharmacies", "pharmacie", "pharmacy"],
    ),
    (
        ChannelKind::Parapharmacies,
        &["parapharmacies", "parapharmacie", "parapharmacy"],
    ),
    (
        ChannelKind::Ecommerce,
        &[
            "ecommerce",
            "e-commerce",
            "en ligne",
            "vente en ligne",
            "online",
            "internet",
        ],
    ),
    (
        ChannelKind::Wholesale,
        &[
            "wholesale",
            "gros",
            "vente en gros",
            "grossiste",
            "grossistes",
            "bulk",
        ],
    ),
    (
        ChannelKind::Market,
        &[
            "market",
            "souk",
            "souks",
            "marché",
            "marchés",
            "souk et marchés",
            "markets",
        ],
    ),
    (
        ChannelKind::Shop,
        &["shop", "boutique", "magasin", "own shop", "propre boutique"],
    ),
    (ChannelKind::Other, &["other", "autre", "autres"]),
];

const STANDINGS: &[(Standing, &[&str])] = &[
    (
        Standing::Established,
        &[
            "established",
            "établi",
            "établie",
            "régulier",
            "permanent",
            "confirmé",
        ],
    ),
    (
        Standing::Trial,
        &["trial", "essai", "à l'essai", "test", "tentative", "pilote"],
    ),
];

/// An enum column: how to parse it and what to say when nothing matches.
pub(crate) struct EnumColumn<T: 'static> {
    table: &'static [(T, &'static [&'static str])],
}

impl<T: Copy> EnumColumn<T> {
    pub(crate) fn parse(&self, raw: &str) -> Option<T> {
        find(self.table, raw)
    }
    pub(crate) fn accepted(&self) -> String {
        accepted(self.table)
    }
}

pub(crate) const SCOPE: EnumColumn<HaltScope> = EnumColumn { table: SCOPES };
pub(crate) const SUPPORT_KIND: EnumColumn<SupportKind> = EnumColumn {
    table: SUPPORT_KINDS,
};
pub(crate) const CHANNEL: EnumColumn<ChannelKind> = EnumColumn { table: CHANNELS };
pub(crate) const STANDING: EnumColumn<Standing> = EnumColumn { table: STANDINGS };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sectors_match_french_english_and_the_domain_names() {
        assert_eq!(sector("ARGANE"), Some(Sector::Argane));
        assert_eq!(sector("Pêche"), Some(Sector::Peche));
        assert_eq!(sector("peche"), Some(Sector::Peche));
        assert_eq!(sector("Fishing"), Some(Sector::Peche));
        assert_eq!(
            sector("Plantes médicinales et aromatiques"),
            Some(Sector::PlantesMedicinales)
        );
        assert_eq!(
            sector("denrees_alimentaires"),
            Some(Sector::DenreesAlimentaires)
        );
        assert_eq!(sector("Astronautique"), None);
        assert!(sectors_accepted().contains("pêche"));
    }

    #[test]
    fn kinds_and_enums_match_leniently() {
        assert_eq!(fact_kind("Arrêt"), Some(FactKind::Halt));
        assert_eq!(fact_kind("REPRISE"), Some(FactKind::Resume));
        assert_eq!(fact_kind("Canal de vente"), Some(FactKind::SalesChannel));
        assert_eq!(fact_kind("sales_channel"), Some(FactKind::SalesChannel));
        assert_eq!(fact_kind("Soutien"), Some(FactKind::Support));
        assert_eq!(SCOPE.parse("Partielle"), Some(HaltScope::Partial));
        assert_eq!(CHANNEL.parse("E-Commerce"), Some(ChannelKind::Ecommerce));
        assert_eq!(STANDING.parse("à l'essai"), Some(Standing::Trial));
        assert_eq!(SUPPORT_KIND.parse("Formation"), Some(SupportKind::Training));
    }
}
