//! Interface wording: buttons, headings and default error messages.
//!
//! joinedup ships a catalogue per language it knows (`templates/locales/`).
//! A definition may override any entry under `messages:`; a definition in a
//! language joinedup has no catalogue for must give every entry itself.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A built-in catalogue: language code, review note, entries.
pub struct Catalogue {
    pub language: &'static str,
    pub review: Option<String>,
    pub entries: BTreeMap<String, String>,
}

const SOURCES: [(&str, &str); 2] =
    [("en", include_str!("../../templates/locales/en.yaml")), ("pl", include_str!("../../templates/locales/pl.yaml"))];

/// The built-in catalogues, parsed once; a broken catalogue is a build bug
/// caught by the tests below.
pub fn catalogues() -> &'static [Catalogue] {
    static CATALOGUES: OnceLock<Vec<Catalogue>> = OnceLock::new();
    CATALOGUES.get_or_init(|| SOURCES.iter().map(|(language, source)| parse_catalogue(language, source)).collect())
}

fn parse_catalogue(language: &'static str, source: &str) -> Catalogue {
    use super::yaml::{NodeKind, parse};
    let root = parse(source).unwrap_or_else(|e| panic!("locale {language} line {}: {}", e.at.line, e.message));
    let NodeKind::Map(entries) = root.kind else { panic!("locale {language} must be a mapping") };
    let mut review = None;
    let mut out = BTreeMap::new();
    for (key, node) in entries {
        let NodeKind::Scalar { text, .. } = node.kind else { panic!("locale {language}: {} must be text", key.text) };
        if key.text == "_review" {
            review = Some(text);
        } else {
            out.insert(key.text, text);
        }
    }
    Catalogue { language, review, entries: out }
}

pub fn catalogue(language: &str) -> Option<&'static Catalogue> {
    catalogues().iter().find(|c| c.language == language)
}

/// Every message key, from the English catalogue (the complete one).
pub fn keys() -> impl Iterator<Item = &'static str> {
    catalogue("en").expect("English catalogue").entries.keys().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_has_every_key_and_the_same_placeholders() {
        let english = catalogue("en").unwrap();
        for cat in catalogues() {
            for (key, text) in &english.entries {
                let theirs = cat.entries.get(key).unwrap_or_else(|| panic!("{} lacks {key}", cat.language));
                for placeholder in ["{min}", "{max}", "{current}", "{total}", "{option}"] {
                    assert_eq!(
                        text.contains(placeholder),
                        theirs.contains(placeholder),
                        "{}:{key} placeholder {placeholder}",
                        cat.language
                    );
                }
            }
            assert_eq!(cat.entries.len(), english.entries.len(), "{} has extra keys", cat.language);
        }
    }
}
