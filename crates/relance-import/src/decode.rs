//! Bytes → text for CSV files: a BOM first, then valid UTF-8, then a choice between
//! Windows-1252 (French) and Windows-1256 (Arabic); binary junk is refused here.

use crate::{Encoding, ImportError};

/// Recognised non-spreadsheet signatures, named in the error.
const MAGIC: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an executable"),
    (b"MZ", "a Windows executable"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
];

/// What a signature says the bytes are, when it is a known non-spreadsheet format.
pub(crate) fn known_binary(bytes: &[u8]) -> Option<&'static str> {
    MAGIC
        .iter()
        .find(|(m, _)| bytes.starts_with(m))
        .map(|(_, name)| *name)
}

/// Text and the encoding it was read with.
pub(crate) fn decode(
    bytes: &[u8],
    forced: Option<Encoding>,
) -> Result<(String, Encoding), ImportError> {
    let (text, enc) = match forced {
        Some(enc) => (strict(strip_bom(bytes, enc), enc)?, enc),
        None => detect(bytes)?,
    };
    check_text_like(&text)?;
    Ok((text, enc))
}

fn strip_bom(bytes: &[u8], enc: Encoding) -> &[u8] {
    let bom: &[u8] = match enc {
        Encoding::Utf8 => b"\xef\xbb\xbf",
        Encoding::Utf16Le => b"\xff\xfe",
        Encoding::Utf16Be => b"\xfe\xff",
        Encoding::Windows1252 | Encoding::Windows1256 => b"",
    };
    bytes.strip_prefix(bom).unwrap_or(bytes)
}

fn strict(bytes: &[u8], enc: Encoding) -> Result<String, ImportError> {
    enc.encoding()
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|c| c.into_owned())
        .ok_or_else(|| ImportError::Encoding {
            encoding: enc.name(),
            detail: "some bytes are not valid in this encoding".into(),
        })
}

fn detect(bytes: &[u8]) -> Result<(String, Encoding), ImportError> {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let enc = if enc == encoding_rs::UTF_16LE {
            Encoding::Utf16Le
        } else if enc == encoding_rs::UTF_16BE {
            Encoding::Utf16Be
        } else {
            Encoding::Utf8
        };
        let rest = bytes.get(bom_len..).unwrap_or_default();
        return Ok((strict(rest, enc)?, enc));
    }
    if let Some(enc) = utf16_without_bom(bytes) {
        return Ok((strict(bytes, enc)?, enc));
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.to_owned(), Encoding::Utf8));
    }
    let enc = if looks_arabic_1256(bytes) {
        Encoding::Windows1256
    } else {
        Encoding::Windows1252
    };
    Ok((strict(bytes, enc)?, enc))
}

/// UTF-16 without a BOM shows as a NUL in nearly every other byte (ASCII text).
fn utf16_without_bom(bytes: &[u8]) -> Option<Encoding> {
    let sample = &bytes[..bytes.len().min(4096)];
    if sample.len() < 4 || !bytes.len().is_multiple_of(2) {
        return None;
    }
    let pairs = sample.len() / 2;
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in sample.chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    if odd * 10 >= pairs * 6 && even * 10 <= pairs {
        Some(Encoding::Utf16Le)
    } else if even * 10 >= pairs * 6 && odd * 10 <= pairs {
        Some(Encoding::Utf16Be)
    } else {
        None
    }
}

/// Windows-1256 keeps the French lower-case accents where 1252 has them, and puts Arabic
/// letters where 1252 has upper-case accents and a few symbols. Arabic words are runs of
/// those bytes; French words have an accented capital between ASCII letters. So: 1256 when
/// most high bytes stand in runs of two or more that all decode to Arabic letters.
fn looks_arabic_1256(bytes: &[u8]) -> bool {
    let arabic = |b: u8| {
        let mut buf = [0u16; 2];
        let (_, _, n, _) = encoding_rs::WINDOWS_1256
            .new_decoder_without_bom_handling()
            .decode_to_utf16(&[b], &mut buf, true);
        n == 1 && (0x0600..=0x06FF).contains(&buf[0])
    };
    let (mut high, mut in_runs, mut run) = (0usize, 0usize, 0usize);
    for &b in bytes.iter().chain(std::iter::once(&b' ')) {
        if b >= 0x80 {
            high += 1;
        }
        if b >= 0x80 && arabic(b) {
            run += 1;
        } else {
            if run >= 2 {
                in_runs += run;
            }
            run = 0;
        }
    }
    in_runs >= 2 && in_runs * 2 >= high
}

/// Refuses text that is really binary: NULs, or many control characters.
fn check_text_like(text: &str) -> Result<(), ImportError> {
    let mut controls = 0usize;
    for c in text.chars() {
        if c == '\0' {
            return Err(ImportError::NotASpreadsheet {
                detail: "it holds NUL bytes (binary data)".into(),
            });
        }
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            controls += 1;
        }
    }
    if controls > 8 && controls * 100 > text.chars().count() {
        return Err(ImportError::NotASpreadsheet {
            detail: format!("it holds {controls} control characters (binary data)"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_in_1252_and_arabic_in_1256_are_told_apart() {
        let (fr, _, _) = encoding_rs::WINDOWS_1252.encode("Coopérative ÉCOLE Benguérir; Pêche");
        let (_, enc) = decode(&fr, None).expect("fr");
        assert_eq!(enc, Encoding::Windows1252);
        let (ar, _, _) = encoding_rs::WINDOWS_1256.encode("تعاونية النور; Benguérir");
        let (text, enc) = decode(&ar, None).expect("ar");
        assert_eq!(enc, Encoding::Windows1256);
        assert_eq!(text, "تعاونية النور; Benguérir");
    }

    #[test]
    fn utf16_without_bom_and_binary() {
        let le: Vec<u8> = "Nom\tID\r\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(decode(&le, None).expect("le").1, Encoding::Utf16Le);
        assert!(matches!(
            decode(b"abc\0def\x01\x02", None),
            Err(ImportError::NotASpreadsheet { .. })
        ));
        assert_eq!(known_binary(b"\x89PNG\r\n\x1a\n...."), Some("a PNG image"));
    }
}
