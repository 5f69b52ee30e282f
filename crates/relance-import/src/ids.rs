//! Deterministic ids: a cooperative's id from its register entry, and each row's request id
//! from the row's identity (never its whole content), so a re-import resends the same ids.

use relance_domain::{limits, MAX_COOP_ID_LEN};
use sha2::{Digest, Sha256};

use crate::normalize::key;
use crate::FactKind;

/// Lower-case slug: letters and digits kept (Latin accents folded, other scripts as they
/// are), every other run of characters one `-`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in s.chars() {
        let k = key(&c.to_string());
        if k.is_empty() {
            dash = !out.is_empty();
        } else {
            if dash {
                out.push('-');
                dash = false;
            }
            out.push_str(&k);
        }
    }
    out
}

fn hex(bytes: &[u8], n: usize) -> String {
    bytes
        .iter()
        .take(n.div_ceil(2))
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .chars()
        .take(n)
        .collect()
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().into()
}

/// The id of a cooperative given by its court and its number in that court's register.
///
/// `COURT-NUMBER` in upper-case ASCII, each part slugged (accents folded, every run of other
/// characters one `-`): `Benguérir`, `12/2015` → `BENGUERIR-12-2015`. When that is not
/// possible — a part written in another script (Arabic), a part with no letter or digit, or
/// more than 64 characters — the id is `RC-` and the first 20 hex digits of the SHA-256 of
/// the two slugs. Either way the same entry always gives the same id, and the id is
/// token-safe (ASCII letters, digits and `-`).
pub fn derived_coop_id(court: &str, number: &str) -> String {
    let (c, n) = (slug(court), slug(number));
    let plain = format!("{c}-{n}").to_ascii_uppercase();
    let ascii = plain
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !c.is_empty() && !n.is_empty() && ascii && plain.len() <= MAX_COOP_ID_LEN {
        plain
    } else {
        format!("RC-{}", hex(&digest(&[&c, &n]), 20))
    }
}

/// A free-text part of an identity (partner, city, reference): its slug, or when longer
/// than 24 characters its first 15 and a hash of the whole.
fn text_part(s: &str) -> String {
    let sl = slug(s);
    if sl.chars().count() <= 24 {
        sl
    } else {
        let head: String = sl.chars().take(15).collect();
        format!("{head}~{}", hex(&digest(&[&sl]), 8))
    }
}

/// The identity of one row, from which its request id is made.
pub(crate) enum Identity<'a> {
    Cooperative,
    Fact {
        date: &'a str,
    },
    Support {
        date: &'a str,
        partner: &'a str,
        kind: &'a str,
    },
    Channel {
        date: &'a str,
        channel: &'a str,
        city: &'a str,
    },
    Authorisation {
        date: &'a str,
        reference: &'a str,
    },
}

/// `import:coop:ID`, `import:KIND:ID:DATE`, and for support `…:partner:kind`, for a sales
/// channel `…:channel:city`, for an authorisation `…:reference`. Ids longer than the
/// domain's bound (128) become `import:KIND:` and a hash.
pub(crate) fn request_id(kind: FactKind, coop: &str, who: Identity<'_>) -> String {
    let k = kind.as_str();
    let id = match who {
        Identity::Cooperative => format!("import:{k}:{coop}"),
        Identity::Fact { date } => format!("import:{k}:{coop}:{date}"),
        Identity::Support {
            date,
            partner,
            kind,
        } => {
            format!("import:{k}:{coop}:{date}:{}:{kind}", text_part(partner))
        }
        Identity::Channel {
            date,
            channel,
            city,
        } => {
            format!("import:{k}:{coop}:{date}:{channel}:{}", text_part(city))
        }
        Identity::Authorisation { date, reference } => {
            format!("import:{k}:{coop}:{date}:{}", text_part(reference))
        }
    };
    if id.chars().count() <= limits::REQUEST_ID {
        id
    } else {
        format!("import:{k}:{}", hex(&digest(&[&id]), 40))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relance_domain::CoopId;

    #[test]
    fn derived_ids_are_token_safe_and_stable() {
        assert_eq!(derived_coop_id("Benguérir", "12/2015"), "BENGUERIR-12-2015");
        assert_eq!(
            derived_coop_id(" benguerir ", "12 / 2015"),
            "BENGUERIR-12-2015"
        );
        let arabic = derived_coop_id("ابن جرير", "12");
        assert!(arabic.starts_with("RC-"), "{arabic}");
        assert_eq!(arabic, derived_coop_id("ابن جرير", "12"));
        assert_ne!(arabic, derived_coop_id("ابن جرير", "13"));
        let long = derived_coop_id(&"x".repeat(80), "1");
        for id in [arabic, long] {
            CoopId::parse(&id).expect("token-safe");
        }
    }

    #[test]
    fn request_ids_stay_within_the_domain_bound() {
        let coop = "X".repeat(64);
        let id = request_id(
            FactKind::SalesChannel,
            &coop,
            Identity::Channel {
                date: "2020-05-01",
                channel: "parapharmacies",
                city: &"Marrakech ".repeat(30),
            },
        );
        assert!(id.len() <= 128, "{id}");
        assert!(id.starts_with("import:sales_channel:"));
        let id = request_id(
            FactKind::Support,
            "REH-1",
            Identity::Support {
                date: "2020-04-10",
                partner: "OCP",
                kind: "commercialisation",
            },
        );
        assert_eq!(id, "import:support:REH-1:2020-04-10:ocp:commercialisation");
    }
}
