//! Lenient matching keys: lower case, Latin accents folded, punctuation and spaces dropped.
//! Used for headers and labels only — stored values are never normalised.

/// `"N° d'immatriculation"` → `"ndimmatriculation"`, `"Pêche"` → `"peche"`. Letters of other
/// scripts (Arabic) are kept as they are.
pub fn key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match fold(c) {
            Some(f) => out.push_str(f),
            None if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            None => {}
        }
    }
    out
}

/// Latin letters with diacritics (and ligatures) → plain lower-case ASCII.
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'a'..='z' => return ASCII_LOWER.get((c as u8 - b'a') as usize).copied(),
        'A'..='Z' => return ASCII_LOWER.get((c as u8 - b'A') as usize).copied(),
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' | 'Ÿ' => "y",
        'œ' | 'Œ' => "oe",
        'æ' | 'Æ' => "ae",
        _ => return None,
    })
}

const ASCII_LOWER: [&str; 26] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s",
    "t", "u", "v", "w", "x", "y", "z",
];

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn headers_and_labels_fold() {
        assert_eq!(key("N° d'immatriculation"), "ndimmatriculation");
        assert_eq!(key("  Nombre d'ADHÉRENTS "), "nombredadherents");
        assert_eq!(key("Pêche"), "peche");
        assert_eq!(key("Montant (MAD)"), "montantmad");
        assert_eq!(key("e-commerce"), "ecommerce");
        assert_eq!(key("اسم التعاونية"), "اسمالتعاونية");
    }
}
