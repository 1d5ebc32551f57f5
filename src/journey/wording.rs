//! The words a respondent sees: survey text in their language and voice,
//! and interface wording (survey overrides, then the built-in catalogue).

use crate::definitions::messages::catalogue;
use crate::definitions::{SurveyDefinition, Text, Voice};

#[derive(Clone, Copy)]
pub struct Wording<'a> {
    pub definition: &'a SurveyDefinition,
    pub language: &'a str,
    pub voice: Option<Voice>,
}

impl<'a> Wording<'a> {
    pub fn new(definition: &'a SurveyDefinition, language: &'a str, voice: Option<Voice>) -> Self {
        Wording { definition, language, voice }
    }

    pub fn text(&self, text: &'a Text) -> &'a str {
        text.get(self.language, self.voice)
    }

    /// An interface message; `{name}` placeholders are filled from `params`.
    pub fn ui(&self, key: &str, params: &[(&str, &str)]) -> String {
        let base = self
            .definition
            .messages
            .get(key)
            .filter(|t| t.by_language.contains_key(self.language))
            .map(|t| t.get(self.language, self.voice).to_string())
            .or_else(|| catalogue(self.language).and_then(|c| c.entries.get(key)).cloned())
            .or_else(|| catalogue("en").and_then(|c| c.entries.get(key)).cloned())
            .unwrap_or_else(|| key.to_string());
        params.iter().fold(base, |acc, (name, value)| acc.replace(&format!("{{{name}}}"), value))
    }
}

/// Keeps a requested language only if the survey has it.
pub fn choose_language<'d>(definition: &'d SurveyDefinition, requested: Option<&str>) -> &'d str {
    requested
        .and_then(|r| definition.languages.iter().find(|l| l.code == r))
        .map_or_else(|| definition.default_language(), |l| l.code.as_str())
}
