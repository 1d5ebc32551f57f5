//! The typed survey definition that the rest of joinedup works with.
//!
//! Everything here has passed validation: references resolve, option sets are
//! copied into the questions that use them, and every text has wording for
//! every language and every voice that can see it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;
use validator::{Validate, ValidationError};

use super::condition::Expr;

/// Who is answering. One definition carries all three wordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Voice {
    /// A person answering about their own care.
    Patient,
    /// A carer answering about their own experience as a carer.
    CarerSelf,
    /// A carer answering on behalf of the person they look after.
    CarerOnBehalf,
}

impl Voice {
    pub const ALL: [Voice; 3] = [Voice::Patient, Voice::CarerSelf, Voice::CarerOnBehalf];

    pub fn code(self) -> &'static str {
        match self {
            Voice::Patient => "patient",
            Voice::CarerSelf => "carer_self",
            Voice::CarerOnBehalf => "carer_on_behalf",
        }
    }

    pub fn from_code(code: &str) -> Option<Voice> {
        Voice::ALL.into_iter().find(|v| v.code() == code)
    }
}

impl fmt::Display for Voice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an answer carries no score. Never scored; exclusive in multiple choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingKind {
    DontKnow,
    NotApplicable,
    PreferNotToSay,
}

impl MissingKind {
    pub const ALL: [MissingKind; 3] = [MissingKind::DontKnow, MissingKind::NotApplicable, MissingKind::PreferNotToSay];

    pub fn code(self) -> &'static str {
        match self {
            MissingKind::DontKnow => "dont_know",
            MissingKind::NotApplicable => "not_applicable",
            MissingKind::PreferNotToSay => "prefer_not_to_say",
        }
    }
}

/// A grouping or weighting dimension that a demographic question feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Ics,
    AgeBand,
    Sex,
    Ethnicity,
    LongTermCondition,
}

impl Dimension {
    pub const ALL: [Dimension; 5] =
        [Dimension::Ics, Dimension::AgeBand, Dimension::Sex, Dimension::Ethnicity, Dimension::LongTermCondition];

    pub fn code(self) -> &'static str {
        match self {
            Dimension::Ics => "ics",
            Dimension::AgeBand => "age_band",
            Dimension::Sex => "sex",
            Dimension::Ethnicity => "ethnicity",
            Dimension::LongTermCondition => "long_term_condition",
        }
    }

    /// The category codes results are grouped by. Age bands match the ONS
    /// population reference; ethnicity uses the ONS 2021 high-level groups.
    /// ICS categories come from the reference list, not from here.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Dimension::Ics => &[],
            Dimension::AgeBand => &["0-17", "18-34", "35-54", "55-64", "65-74", "75-84", "85+"],
            Dimension::Sex => &["female", "male"],
            Dimension::Ethnicity => &["asian", "black", "mixed", "white", "other"],
            Dimension::LongTermCondition => &["none", "one", "two_or_more"],
        }
    }
}

/// Wording in every language, each with an optional wording per voice.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Text {
    pub by_language: BTreeMap<String, VoiceText>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VoiceText {
    /// Used for any voice without its own wording.
    pub default: Option<String>,
    pub by_voice: BTreeMap<Voice, String>,
}

impl VoiceText {
    pub fn get(&self, voice: Option<Voice>) -> Option<&str> {
        voice.and_then(|v| self.by_voice.get(&v)).or(self.default.as_ref()).map(String::as_str)
    }
}

impl Text {
    /// True when some voice has wording of its own: the question then asks
    /// about a different person depending on who is answering.
    pub fn varies_by_voice(&self) -> bool {
        self.by_language.values().any(|t| !t.by_voice.is_empty())
    }

    /// One wording for everyone, in one language.
    pub fn plain(language: &str, text: impl Into<String>) -> Self {
        let mut by_language = BTreeMap::new();
        by_language.insert(language.to_string(), VoiceText { default: Some(text.into()), by_voice: BTreeMap::new() });
        Text { by_language }
    }

    /// The wording for a language and voice. Validation guarantees it exists
    /// for every voice that can see the text; before the voice is known the
    /// default (or the first voice's) wording is used.
    pub fn get(&self, language: &str, voice: Option<Voice>) -> &str {
        let texts = self.by_language.get(language).or_else(|| self.by_language.values().next());
        texts.and_then(|t| t.get(voice).or_else(|| t.by_voice.values().next().map(String::as_str))).unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Validate)]
pub struct Language {
    #[validate(custom(function = "language_code"))]
    pub code: String,
    /// The language's own name, shown in the language switch.
    #[validate(length(min = 1, max = 60, message = "must be between 1 and 60 characters"))]
    pub name: String,
    /// A note that the translation still awaits review, shown to no respondent.
    #[validate(length(min = 1, max = 200, message = "must be between 1 and 200 characters"))]
    pub review: Option<String>,
}

/// What the start page tells respondents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Validate)]
pub struct About {
    pub organisation: Option<Text>,
    pub purpose: Option<Text>,
    #[validate(range(min = 1, max = 120, message = "must be a whole number of minutes from 1 to 120"))]
    pub minutes: Option<u32>,
    pub privacy: Option<Text>,
    pub contact: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Validate)]
pub struct AnswerOption {
    #[validate(custom(function = "option_code"))]
    pub code: String,
    pub label: Text,
    #[validate(range(min = 0.0, max = 100.0, message = "must be a number from 0 to 100"))]
    pub score: Option<f64>,
    pub missing: Option<MissingKind>,
    /// Chosen alone: "none of these" in a multiple choice (missing kinds are always exclusive).
    pub exclusive: bool,
    /// In the voice question, the voice this option sets.
    pub voice: Option<Voice>,
    /// The voices shown this option; empty means everyone.
    pub voices: Vec<Voice>,
}

impl AnswerOption {
    pub fn shown_to(&self, voice: Option<Voice>) -> bool {
        self.voices.is_empty() || voice.is_some_and(|v| self.voices.contains(&v))
    }

    pub fn is_exclusive(&self) -> bool {
        self.exclusive || self.missing.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Validate)]
pub struct Domain {
    #[validate(custom(function = "identifier"))]
    pub id: String,
    pub label: Text,
    /// The domain's weight in the respondent's index.
    #[validate(range(exclusive_min = 0.0, max = 100.0, message = "must be a number above 0 and at most 100"))]
    pub weight: f64,
    /// Scored items that must be answered for the domain to have a score.
    #[validate(range(min = 1, message = "must be at least 1"))]
    pub min_answered: u32,
    /// The ids of the scored items in this domain, in page order.
    pub items: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub source: String,
    #[serde(skip)]
    pub expr: Expr,
}

/// The checks a question can fail, each with its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Required,
    Invalid,
    Range,
    TooLong,
    TooFew,
    TooMany,
    Exclusive,
}

impl Rule {
    pub const ALL: [Rule; 7] =
        [Rule::Required, Rule::Invalid, Rule::Range, Rule::TooLong, Rule::TooFew, Rule::TooMany, Rule::Exclusive];

    pub fn code(self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::Invalid => "invalid",
            Rule::Range => "range",
            Rule::TooLong => "too_long",
            Rule::TooFew => "too_few",
            Rule::TooMany => "too_many",
            Rule::Exclusive => "exclusive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    /// The page's id is its question's id.
    pub id: String,
    pub show_if: Option<Condition>,
    /// Earlier questions this page's answers are about (beyond `show_if`):
    /// when one of their answers changes, this page's answers are cleared
    /// and asked again.
    pub depends_on: Vec<String>,
    pub question: Question,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    pub id: String,
    pub text: Text,
    pub help: Option<Text>,
    pub required: bool,
    pub kind: QuestionKind,
    /// The index domain of a scored single-choice question.
    pub domain: Option<String>,
    pub dimension: Option<Dimension>,
    /// The first question: its options set the respondent's voice.
    pub sets_voice: bool,
    /// Messages for the rules this question can break.
    pub errors: BTreeMap<Rule, Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QuestionKind {
    SingleChoice {
        options: Vec<AnswerOption>,
    },
    /// The ICS, chosen from the dated reference list, grouped by NHS region.
    IcsSelect,
    MultipleChoice {
        options: Vec<AnswerOption>,
        min_selected: Option<u32>,
        max_selected: Option<u32>,
    },
    /// Several items sharing one option set, shown as stacked radio groups.
    LikertGroup {
        options: Vec<AnswerOption>,
        items: Vec<LikertItem>,
    },
    Number {
        min: f64,
        max: f64,
        decimals: u32,
        unit: Option<Text>,
    },
    Date {
        min: Option<DateBound>,
        max: Option<DateBound>,
    },
    FreeText {
        max_length: u32,
        multiline: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateBound {
    Today,
    Fixed(NaiveDate),
}

#[derive(Debug, Clone, PartialEq, Serialize, Validate)]
pub struct LikertItem {
    #[validate(custom(function = "identifier"))]
    pub id: String,
    pub text: Text,
    pub domain: Option<String>,
    pub required: bool,
}

impl QuestionKind {
    pub fn name(&self) -> &'static str {
        match self {
            QuestionKind::SingleChoice { .. } => "single_choice",
            QuestionKind::IcsSelect => "single_choice",
            QuestionKind::MultipleChoice { .. } => "multiple_choice",
            QuestionKind::LikertGroup { .. } => "likert_group",
            QuestionKind::Number { .. } => "number",
            QuestionKind::Date { .. } => "date",
            QuestionKind::FreeText { .. } => "text",
        }
    }

    pub fn options(&self) -> &[AnswerOption] {
        match self {
            QuestionKind::SingleChoice { options }
            | QuestionKind::MultipleChoice { options, .. }
            | QuestionKind::LikertGroup { options, .. } => options,
            _ => &[],
        }
    }
}

/// A scored item: a question or a Likert item, with its domain and options.
#[derive(Debug, Clone, Copy)]
pub struct ScoredItem<'a> {
    pub id: &'a str,
    pub domain: &'a str,
    pub options: &'a [AnswerOption],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyDefinition {
    pub id: String,
    pub version: String,
    pub title: Text,
    pub languages: Vec<Language>,
    pub opens: Option<NaiveDate>,
    pub closes: Option<NaiveDate>,
    /// How long respondent-level data is kept after a response starts; the
    /// daily retention job deletes it then, and the privacy notice says so.
    pub retention_months: u32,
    pub about: About,
    /// Interface wording overriding the built-in English defaults.
    pub messages: BTreeMap<String, Text>,
    pub domains: Vec<Domain>,
    pub pages: Vec<Page>,
    /// The voices the voice question offers, in its order.
    pub voices: Vec<Voice>,
    /// SHA-256 of the file's bytes, in hex.
    pub content_hash: String,
}

/// Respondent-level data is kept this long unless a definition says otherwise.
pub const DEFAULT_RETENTION_MONTHS: u32 = 24;
/// The longest a definition may keep it: ten years.
pub const MAX_RETENTION_MONTHS: u32 = 120;

impl SurveyDefinition {
    pub fn default_language(&self) -> &str {
        self.languages.first().map_or("en", |l| l.code.as_str())
    }

    pub fn voice_question(&self) -> Option<&Question> {
        self.pages.iter().map(|p| &p.question).find(|q| q.sets_voice)
    }

    pub fn page(&self, id: &str) -> Option<&Page> {
        self.pages.iter().find(|p| p.id == id)
    }

    /// Every scored item in page order.
    pub fn scored_items(&self) -> Vec<ScoredItem<'_>> {
        let mut items = Vec::new();
        for page in &self.pages {
            let q = &page.question;
            match &q.kind {
                QuestionKind::LikertGroup { options, items: likert } => {
                    for item in likert {
                        if let Some(domain) = item.domain.as_deref().or(q.domain.as_deref()) {
                            items.push(ScoredItem { id: &item.id, domain, options });
                        }
                    }
                }
                kind => {
                    if let Some(domain) = q.domain.as_deref() {
                        items.push(ScoredItem { id: &q.id, domain, options: kind.options() });
                    }
                }
            }
        }
        items
    }

    /// The number of answerable questions (Likert items count one each).
    pub fn question_count(&self) -> usize {
        self.pages
            .iter()
            .map(|p| match &p.question.kind {
                QuestionKind::LikertGroup { items, .. } => items.len(),
                _ => 1,
            })
            .sum()
    }
}

/// For each page, the voices that can ever see it: a page whose `show_if`
/// is false for a voice whatever the answers (or that depends only on pages
/// that voice never sees) is not theirs.
pub fn voices_per_page(
    pages: &[Page],
    page_of: &BTreeMap<String, usize>,
    voices: &[Voice],
) -> Vec<std::collections::BTreeSet<Voice>> {
    let mut reach: Vec<std::collections::BTreeSet<Voice>> = Vec::with_capacity(pages.len());
    for (index, page) in pages.iter().enumerate() {
        let seen_by = voices
            .iter()
            .copied()
            .filter(|&voice| match &page.show_if {
                None => true,
                Some(cond) => {
                    let reachable = |id: &str| page_of.get(id).is_some_and(|&p| p < index && reach[p].contains(&voice));
                    cond.expr.possible(voice, &reachable) != super::condition::Tri::False
                }
            })
            .collect();
        reach.push(seen_by);
    }
    reach
}

impl SurveyDefinition {
    /// The question and Likert item ids, each with its page index.
    pub fn page_of_ids(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (index, page) in self.pages.iter().enumerate() {
            out.insert(page.question.id.clone(), index);
            if let QuestionKind::LikertGroup { items, .. } = &page.question.kind {
                for item in items {
                    out.insert(item.id.clone(), index);
                }
            }
        }
        out
    }

    /// How many pages each voice can ever be shown.
    pub fn pages_per_voice(&self) -> BTreeMap<Voice, usize> {
        let reach = voices_per_page(&self.pages, &self.page_of_ids(), &self.voices);
        self.voices.iter().map(|v| (*v, reach.iter().filter(|r| r.contains(v)).count())).collect()
    }
}

pub(crate) fn identifier(id: &str) -> Result<(), ValidationError> {
    let ok = (1..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("identifier").with_message(
            "must be 1 to 64 characters: lower-case letters, digits and `_`, starting with a letter".into(),
        ))
    }
}

pub(crate) fn option_code(code: &str) -> Result<(), ValidationError> {
    let ok = (1..=64).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("option_code")
            .with_message("must be 1 to 64 characters: lower-case letters, digits, `_`, `-` and `+`".into()))
    }
}

fn language_code(code: &str) -> Result<(), ValidationError> {
    let ok = (2..=3).contains(&code.len()) && code.chars().all(|c| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("language_code")
            .with_message("must be a two- or three-letter lower-case language code, such as `en` or `pl`".into()))
    }
}
