//! Reads the located YAML tree into the typed model, collecting every
//! problem instead of stopping at the first.
//!
//! Field-level rules (id shapes, score ranges, lengths) are declared on the
//! model with `validator` and checked as each part is read, so the error can
//! point at the key. Rules that need the whole survey live in `checks.rs`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use super::condition::{self, Expr};
use super::diagnostics::{Diagnostics, closest, did_you_mean};
use super::model::*;
use super::yaml::{Key, Node, NodeKind, Pos};

/// Where a text is shown, which decides the wording it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TextScope {
    /// Shown before the voice is known: needs a `default` wording.
    BeforeVoice,
    /// Shown on a page: needs wording for each voice that can reach it.
    Page(usize),
    /// Shown wherever an option set is used: needs every survey voice.
    AllVoices,
    /// Read by analysts only: the default language is enough.
    Analysts,
}

/// A text waiting for the wording check once voices and pages are known.
#[derive(Debug, Clone)]
pub(super) struct TextSite {
    pub at: Pos,
    pub path: String,
    pub text: Text,
    pub scope: TextScope,
}

/// A question reference to resolve once every page is read.
#[derive(Debug, Clone)]
pub(super) struct PendingCondition {
    pub page: usize,
    /// The `show_if` scalar, to place errors inside the expression.
    pub node: Node,
    pub path: String,
    pub expr: Expr,
}

/// Positions the whole-survey checks need.
#[derive(Debug, Clone, Default)]
pub(super) struct Sites {
    pub root: Pos,
    pub pages: Vec<(Pos, String)>,
    pub domains: BTreeMap<String, (Pos, String)>,
    /// Each page's `domain:` reference (page, item id, position, path, domain).
    pub domain_refs: Vec<(usize, String, Pos, String, String)>,
    pub voice_option_sites: Vec<(usize, Pos, String)>,
    /// Every question and Likert item id: (id, page, position, path).
    pub question_ids: Vec<(String, usize, Pos, String)>,
    pub dimension_sites: Vec<(Dimension, Pos, String)>,
    /// Where each option was written: (page index or option set name, code).
    pub option_sites: BTreeMap<(OptionOwner, String), (Pos, String)>,
    /// Options whose score was given but unreadable (already reported).
    pub unreadable_scores: BTreeSet<(OptionOwner, String)>,
    /// The option set each page uses, if any.
    pub page_option_sets: BTreeMap<usize, String>,
    /// (path, key) pairs where an unknown key looked like a misspelt `key`.
    pub typo_keys: BTreeSet<(String, String)>,
    /// Pages whose `show_if` has a reported problem.
    pub bad_conditions: BTreeSet<usize>,
    /// Each `depends_on` entry: (page, question id, position, path).
    pub depends_on: Vec<(usize, String, Pos, String)>,
}

/// Who wrote an option: a page inline, or a shared option set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum OptionOwner {
    Page(usize),
    Set(String),
}

pub(super) struct Decoder {
    pub diags: Diagnostics,
    /// The file's characters, to place errors inside multi-line values.
    pub source: Vec<char>,
    pub languages: Vec<String>,
    pub texts: Vec<TextSite>,
    pub conditions: Vec<PendingCondition>,
    pub sites: Sites,
}

/// A mapping node whose keys have been checked against the allowed ones.
pub(super) struct Fields<'n> {
    pub node: &'n Node,
    entries: &'n [(Key, Node)],
    pub path: String,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    pub fn key_at(&self, key: &str) -> Pos {
        self.entries.iter().find(|(k, _)| k.text == key).map_or(self.node.at, |(_, v)| v.at)
    }

    pub fn child(&self, key: &str) -> String {
        child(&self.path, key)
    }
}

pub(super) fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn item(path: &str, index: usize, label: Option<&str>) -> String {
    match label {
        Some(id) => format!("{path}[{id}]"),
        None => format!("{path}[{index}]"),
    }
}

/// The label of a list entry for key paths: its `id` or `code` if readable.
fn entry_label(node: &Node) -> Option<&str> {
    let NodeKind::Map(entries) = &node.kind else { return None };
    entries.iter().find(|(k, _)| k.text == "id" || k.text == "code").and_then(|(_, v)| match &v.kind {
        NodeKind::Scalar { text, .. } if !text.is_empty() && text.len() <= 64 => Some(text.as_str()),
        _ => None,
    })
}

const SURVEY_KEYS: &[&str] = &[
    "id",
    "version",
    "title",
    "languages",
    "opens",
    "closes",
    "retention_months",
    "about",
    "messages",
    "option_sets",
    "domains",
    "pages",
];
const LANGUAGE_KEYS: &[&str] = &["code", "name", "review"];
const ABOUT_KEYS: &[&str] = &["organisation", "purpose", "minutes", "privacy", "contact"];
const OPTION_KEYS: &[&str] = &["code", "label", "score", "missing", "exclusive", "voice", "voices"];
const DOMAIN_KEYS: &[&str] = &["id", "label", "weight", "min_answered"];
const QUESTION_KEYS: &[&str] = &[
    "id",
    "type",
    "text",
    "help",
    "required",
    "show_if",
    "depends_on",
    "domain",
    "dimension",
    "sets_voice",
    "errors",
    "options",
    "option_set",
    "items",
    "min_selected",
    "max_selected",
    "min",
    "max",
    "decimals",
    "unit",
    "max_length",
    "multiline",
];
const ITEM_KEYS: &[&str] = &["id", "text", "domain", "required"];
const QUESTION_TYPES: &[&str] = &["single_choice", "multiple_choice", "likert_group", "number", "date", "text"];
const VOICE_KEYS: &[&str] = &["default", "patient", "carer_self", "carer_on_behalf"];

impl Decoder {
    pub fn new(file: &str, source: &str) -> Self {
        Decoder {
            diags: Diagnostics::new(file),
            source: source.chars().collect(),
            languages: Vec::new(),
            texts: Vec::new(),
            conditions: Vec::new(),
            sites: Sites::default(),
        }
    }

    fn error(&mut self, at: Pos, path: &str, message: impl Into<String>) -> &mut super::diagnostics::Diagnostic {
        self.diags.error(at, path, message)
    }

    /// Checks that `node` is a mapping with only `allowed` keys.
    pub fn fields<'n>(&mut self, node: &'n Node, path: &str, allowed: &[&str], what: &str) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.error(
                node.at,
                path,
                format!("expected {what} written as `key: value` lines, found {}", node.describe()),
            );
            return None;
        };
        for (key, value) in entries {
            if allowed.contains(&key.text.as_str()) {
                if value.is_null() && key.text != "score" {
                    self.error(key.at, &child(path, &key.text), format!("`{}` has no value", key.text))
                        .hint("give it a value after the colon, or remove the line");
                }
                continue;
            }
            if node.style == super::yaml::Style::Flow && value.is_null() {
                let message = if key.text.contains(':') {
                    format!("`{}` needs a space after the colon", key.text)
                } else {
                    format!(
                        "`{}` is not a key: the comma ends the label; put a label containing a comma in quotes",
                        key.text
                    )
                };
                self.error(key.at, path, message);
                continue;
            }
            let suggestion = closest(&key.text, allowed.iter().copied());
            if let Some(s) = suggestion {
                self.sites.typo_keys.insert((path.to_string(), s.to_string()));
            }
            let hint = suggestion
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("the keys allowed here are: {}", allowed.join(", ")));
            self.error(key.at, path, format!("unknown key `{}`", key.text)).hint(hint);
        }
        Some(Fields { node, entries, path: path.to_string() })
    }

    pub fn required<'n>(&mut self, fields: &Fields<'n>, key: &str) -> Option<&'n Node> {
        let found = fields.get(key);
        let present = fields.entries.iter().any(|(k, _)| k.text == key);
        if found.is_none() && !present {
            self.error(fields.key_at(key), &fields.path, format!("missing `{key}`"));
        }
        found
    }

    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.error(node.at, path, format!("expected a single value, found {}", node.describe()));
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Scalar { text, quoted: false } if text == "true" => Some(true),
            NodeKind::Scalar { text, quoted: false } if text == "false" => Some(false),
            _ => {
                self.error(node.at, path, format!("expected `true` or `false`, found {}", shown(node)));
                None
            }
        }
    }

    pub fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        if let NodeKind::Scalar { text, quoted: false } = &node.kind
            && let Ok(n) = text.parse::<f64>()
            && n.is_finite()
        {
            return Some(n);
        }
        self.not_a_number(node, path, "a number");
        None
    }

    pub fn whole(&mut self, node: &Node, path: &str) -> Option<u32> {
        if let NodeKind::Scalar { text, quoted: false } = &node.kind
            && let Ok(n) = text.parse::<u32>()
        {
            return Some(n);
        }
        self.not_a_number(node, path, "a whole number");
        None
    }

    fn not_a_number(&mut self, node: &Node, path: &str, what: &str) {
        let message = match &node.kind {
            NodeKind::Scalar { text, quoted: true } if text.trim().parse::<f64>().is_ok() => {
                let quote = if self.source.get(node.index) == Some(&'\'') { '\'' } else { '"' };
                format!("expected {what}, found the text `{quote}{text}{quote}` in quotes; remove the quotes")
            }
            _ => format!("expected {what}, found {}", shown(node)),
        };
        self.error(node.at, path, message);
    }

    pub fn date(&mut self, node: &Node, path: &str) -> Option<NaiveDate> {
        let text = self.string(node, path)?;
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                let shaped = text.len() == 10
                    && text
                        .chars()
                        .enumerate()
                        .all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
                let message = if shaped {
                    format!("`{text}` is not a real date")
                } else {
                    format!("expected a date written YYYY-MM-DD, found `{text}`")
                };
                self.error(node.at, path, message).hint("for example 2026-04-01");
                None
            }
        }
    }

    pub fn list<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.kind {
            NodeKind::Seq(items) => Some(items),
            _ => {
                self.error(
                    node.at,
                    path,
                    format!("expected a list (lines starting with `- `), found {}", node.describe()),
                );
                None
            }
        }
    }

    /// Maps `validator` errors on a freshly read struct to its keys.
    pub fn check<T: Validate>(&mut self, value: &T, fields: &Fields<'_>) {
        if let Err(errors) = value.validate() {
            self.report(&errors, fields);
        }
    }

    fn report(&mut self, errors: &ValidationErrors, fields: &Fields<'_>) {
        for (field, kind) in errors.errors() {
            if let ValidationErrorsKind::Field(list) = kind {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map_or_else(|| format!("is not valid ({})", error.code), |m| m.to_string());
                    let shown_value = fields.get(field).map(shown).unwrap_or_default();
                    self.error(fields.key_at(field), &fields.child(field), format!("{shown_value} {message}"));
                }
            }
        }
    }

    /// Reads a text: one wording, wording per voice, or wording per language.
    pub fn text(&mut self, node: &Node, path: &str, scope: TextScope) -> Option<Text> {
        let default_language = self.languages.first().cloned().unwrap_or_else(|| "en".into());
        let text = match &node.kind {
            NodeKind::Scalar { .. } => {
                let s = self.nonempty(node, path)?;
                Text::plain(&default_language, s)
            }
            NodeKind::Map(entries) => {
                let all_voices = entries.iter().all(|(k, _)| VOICE_KEYS.contains(&k.text.as_str()));
                if all_voices {
                    let mut by_language = BTreeMap::new();
                    by_language.insert(default_language, self.voice_text(node, path)?);
                    Text { by_language }
                } else {
                    let mut by_language = BTreeMap::new();
                    let language_keys: Vec<&str> = entries
                        .iter()
                        .map(|(k, _)| k.text.as_str())
                        .filter(|k| self.languages.iter().any(|l| l == k))
                        .collect();
                    for (key, value) in entries {
                        if VOICE_KEYS.contains(&key.text.as_str()) {
                            let language = language_keys.first().copied().unwrap_or("en");
                            self.error(key.at, path, format!("`{}` is a voice, so it cannot sit beside the language `{language}`; put the voice wordings under `{language}:`", key.text));
                            continue;
                        }
                        if !self.languages.contains(&key.text) {
                            let known: Vec<&str> =
                                self.languages.iter().map(String::as_str).chain(VOICE_KEYS.iter().copied()).collect();
                            let hint = did_you_mean(&key.text, known.iter().copied()).unwrap_or_else(|| {
                                format!(
                                    "use a language from `languages` ({}) or a voice ({})",
                                    self.languages.join(", "),
                                    VOICE_KEYS.join(", ")
                                )
                            });
                            self.error(
                                key.at,
                                path,
                                format!("`{}` is neither a declared language nor a voice", key.text),
                            )
                            .hint(hint);
                            continue;
                        }
                        let lang_path = child(path, &key.text);
                        let wording = match &value.kind {
                            NodeKind::Scalar { .. } => self
                                .nonempty(value, &lang_path)
                                .map(|s| VoiceText { default: Some(s), by_voice: BTreeMap::new() }),
                            NodeKind::Map(_) => self.voice_text(value, &lang_path),
                            NodeKind::Seq(_) => {
                                self.error(value.at, &lang_path, "expected wording, found a list");
                                None
                            }
                        };
                        if let Some(w) = wording {
                            by_language.insert(key.text.clone(), w);
                        }
                    }
                    Text { by_language }
                }
            }
            NodeKind::Seq(_) => {
                self.error(node.at, path, "expected wording, found a list");
                return None;
            }
        };
        self.texts.push(TextSite { at: node.at, path: path.to_string(), text: text.clone(), scope });
        Some(text)
    }

    fn nonempty(&mut self, node: &Node, path: &str) -> Option<String> {
        let s = self.string(node, path)?;
        if s.trim().is_empty() {
            self.error(node.at, path, "the wording is empty");
            return None;
        }
        Some(s)
    }

    fn voice_text(&mut self, node: &Node, path: &str) -> Option<VoiceText> {
        let fields = self.fields(node, path, VOICE_KEYS, "wording per voice")?;
        let mut text = VoiceText::default();
        for key in VOICE_KEYS {
            if let Some(value) = fields.get(key) {
                let s = self.nonempty(value, &fields.child(key))?;
                match Voice::from_code(key) {
                    Some(voice) => {
                        text.by_voice.insert(voice, s);
                    }
                    None => text.default = Some(s),
                }
            }
        }
        Some(text)
    }

    fn choice<T: Copy>(&mut self, node: &Node, path: &str, choices: &[(&str, T)], what: &str) -> Option<T> {
        let value = self.string(node, path)?;
        if let Some((_, v)) = choices.iter().find(|(name, _)| *name == value) {
            return Some(*v);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let hint =
            did_you_mean(&value, names.iter().copied()).unwrap_or_else(|| format!("use one of: {}", names.join(", ")));
        self.error(node.at, path, format!("`{value}` is not a {what}")).hint(hint);
        None
    }

    pub fn voice(&mut self, node: &Node, path: &str) -> Option<Voice> {
        let choices: Vec<(&str, Voice)> = Voice::ALL.iter().map(|v| (v.code(), *v)).collect();
        self.choice(node, path, &choices, "voice")
    }

    // ---- the survey -------------------------------------------------------

    /// Reads the whole document. Returns `None` only when the top level is
    /// unreadable; otherwise a best-effort survey plus any diagnostics.
    pub fn survey(&mut self, root: &Node) -> Option<PartialSurvey> {
        self.sites.root = root.at;
        let f = self.fields(root, "", SURVEY_KEYS, "a survey")?;
        let languages = self.languages_of(&f);
        self.languages = languages.iter().map(|l| l.code.clone()).collect();

        let id = self.required(&f, "id").and_then(|n| self.string(n, "id"));
        if let (Some(id), Some(node)) = (&id, f.get("id"))
            && let Err(e) = identifier(id)
        {
            self.error(node.at, "id", format!("`{id}` {}", e.message.unwrap_or_default()));
        }
        let version = self.required(&f, "version").and_then(|n| self.string(n, "version"));
        if let (Some(v), Some(node)) = (&version, f.get("version"))
            && (v.len() > 40 || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            self.error(node.at, "version", format!("`{v}` must be up to 40 letters, digits, `.`, `-` or `_`"))
                .hint("for example 1.0 or 2026-04");
        }
        let title = self.required(&f, "title").and_then(|n| self.text(n, "title", TextScope::BeforeVoice));
        let opens = f.get("opens").and_then(|n| self.date(n, "opens"));
        let closes = f.get("closes").and_then(|n| self.date(n, "closes"));
        if let (Some(o), Some(c)) = (opens, closes)
            && c < o
        {
            self.error(f.key_at("closes"), "closes", format!("the survey closes ({c}) before it opens ({o})"));
        }
        let retention_months = match f.get("retention_months") {
            None => DEFAULT_RETENTION_MONTHS,
            Some(n) => match self.whole(n, "retention_months") {
                Some(m) if (1..=MAX_RETENTION_MONTHS).contains(&m) => m,
                Some(m) => {
                    self.error(
                        n.at,
                        "retention_months",
                        format!("{m} months is not allowed; keep answers from 1 to {MAX_RETENTION_MONTHS} months"),
                    )
                    .hint("most surveys keep answers for 24 months (2 years)");
                    DEFAULT_RETENTION_MONTHS
                }
                None => DEFAULT_RETENTION_MONTHS,
            },
        };
        let about = f.get("about").map(|n| self.about(n)).unwrap_or_default();
        let messages = f.get("messages").map(|n| self.messages(n)).unwrap_or_default();
        let option_sets = f.get("option_sets").map(|n| self.option_sets(n)).unwrap_or_default();
        let domains = f.get("domains").map(|n| self.domains(n)).unwrap_or_default();
        let pages = match self.required(&f, "pages") {
            Some(node) => self.pages(node, &option_sets),
            None => Vec::new(),
        };
        Some(PartialSurvey {
            id,
            version,
            title,
            languages,
            opens,
            closes,
            retention_months,
            about,
            messages,
            domains,
            pages,
        })
    }

    fn languages_of(&mut self, f: &Fields<'_>) -> Vec<Language> {
        let Some(node) = f.get("languages") else {
            return vec![Language { code: "en".into(), name: "English".into(), review: None }];
        };
        let Some(items) = self.list(node, "languages") else { return Vec::new() };
        let mut out: Vec<Language> = Vec::new();
        for (i, entry) in items.iter().enumerate() {
            let path = item("languages", i, entry_label(entry));
            let Some(lf) = self.fields(entry, &path, LANGUAGE_KEYS, "a language") else { continue };
            let code = self.required(&lf, "code").and_then(|n| self.string(n, &lf.child("code")));
            let name = self.required(&lf, "name").and_then(|n| self.string(n, &lf.child("name")));
            let review = lf.get("review").and_then(|n| self.string(n, &lf.child("review")));
            let (Some(code), Some(name)) = (code, name) else { continue };
            if out.iter().any(|l| l.code == code) {
                self.error(entry.at, &path, format!("language `{code}` is listed twice"));
                continue;
            }
            let language = Language { code, name, review };
            self.check(&language, &lf);
            out.push(language);
        }
        if out.is_empty() {
            self.error(node.at, "languages", "list at least one language; the first is the default");
        }
        out
    }

    fn about(&mut self, node: &Node) -> About {
        let Some(f) = self.fields(node, "about", ABOUT_KEYS, "the start-page details") else {
            return About::default();
        };
        let text = |d: &mut Self, key: &str| f.get(key).and_then(|n| d.text(n, &f.child(key), TextScope::BeforeVoice));
        let about = About {
            organisation: text(self, "organisation"),
            purpose: text(self, "purpose"),
            privacy: text(self, "privacy"),
            contact: text(self, "contact"),
            minutes: f.get("minutes").and_then(|n| self.whole(n, "about.minutes")),
        };
        self.check(&about, &f);
        about
    }

    fn messages(&mut self, node: &Node) -> BTreeMap<String, Text> {
        let mut out = BTreeMap::new();
        let NodeKind::Map(entries) = &node.kind else {
            self.error(node.at, "messages", format!("expected `key: wording` lines, found {}", node.describe()));
            return out;
        };
        let keys: Vec<&str> = super::messages::keys().collect();
        for (key, value) in entries {
            let path = child("messages", &key.text);
            if !keys.contains(&key.text.as_str()) {
                let hint = did_you_mean(&key.text, keys.iter().copied())
                    .unwrap_or_else(|| "see docs/definition-format.md for the message names".into());
                self.error(key.at, "messages", format!("unknown message `{}`", key.text)).hint(hint);
                continue;
            }
            if let Some(text) = self.text(value, &path, TextScope::AllVoices) {
                out.insert(key.text.clone(), text);
            }
        }
        out
    }

    fn option_sets(&mut self, node: &Node) -> BTreeMap<String, Vec<AnswerOption>> {
        let mut out = BTreeMap::new();
        let NodeKind::Map(entries) = &node.kind else {
            self.error(
                node.at,
                "option_sets",
                format!("expected `name:` entries each holding a list of options, found {}", node.describe()),
            );
            return out;
        };
        for (key, value) in entries {
            let path = child("option_sets", &key.text);
            if let Err(e) = identifier(&key.text) {
                self.error(key.at, "option_sets", format!("`{}` {}", key.text, e.message.unwrap_or_default()));
            }
            let options = self.options(value, &path, OptionOwner::Set(key.text.clone()), TextScope::AllVoices);
            out.insert(key.text.clone(), options);
        }
        out
    }

    /// Reads a list of answer options, written in a page or an option set.
    fn options(&mut self, node: &Node, path: &str, owner: OptionOwner, scope: TextScope) -> Vec<AnswerOption> {
        let Some(items) = self.list(node, path) else { return Vec::new() };
        let mut out: Vec<AnswerOption> = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let page = match owner {
            OptionOwner::Page(p) => Some(p),
            OptionOwner::Set(_) => None,
        };
        for (i, entry) in items.iter().enumerate() {
            let opath = item(path, i, entry_label(entry));
            let Some(f) = self.fields(entry, &opath, OPTION_KEYS, "an answer option") else { continue };
            let code = self.required(&f, "code").and_then(|n| self.string(n, &f.child("code")));
            let label = self.required(&f, "label").and_then(|n| self.text(n, &f.child("label"), scope));
            let score = f.get("score").and_then(|n| self.number(n, &f.child("score")));
            let missing = f.get("missing").and_then(|n| {
                let choices: Vec<(&str, MissingKind)> = MissingKind::ALL.iter().map(|m| (m.code(), *m)).collect();
                self.choice(n, &f.child("missing"), &choices, "kind of missing answer")
            });
            let exclusive = f.get("exclusive").and_then(|n| self.bool(n, &f.child("exclusive"))).unwrap_or(false);
            let voice = f.get("voice").and_then(|n| self.voice(n, &f.child("voice")));
            if f.get("voice").is_some() {
                match page {
                    Some(p) => self.sites.voice_option_sites.push((p, f.key_at("voice"), f.child("voice"))),
                    None => {
                        self.error(
                            f.key_at("voice"),
                            &f.child("voice"),
                            "`voice` belongs only in the voice question's own options, not in a shared option set",
                        );
                    }
                }
            }
            let voices = f.get("voices").map(|n| self.voices_list(n, &f.child("voices")));
            let Some(code) = code else { continue };
            self.sites.option_sites.insert((owner.clone(), code.clone()), (entry.at, opath.clone()));
            // `score:0` (no space) reads as an unknown key, already reported.
            let mangled_score = f.entries.iter().any(|(k, _)| k.text.starts_with("score:"));
            if (f.get("score").is_some() && score.is_none()) || mangled_score {
                self.sites.unreadable_scores.insert((owner.clone(), code.clone()));
            }
            let Some(label) = label else { continue };
            if let Some(line) = seen.get(&code) {
                self.error(
                    f.key_at("code"),
                    &f.child("code"),
                    format!("option code `{code}` is used twice (first on line {line})"),
                );
                continue;
            }
            seen.insert(code.clone(), f.key_at("code").line);
            if let Some(kind) = missing
                && score.is_some()
            {
                self.error(
                    f.key_at("score"),
                    &f.child("score"),
                    format!("an option marked `missing: {}` is never scored, so it cannot have a score", kind.code()),
                )
                .hint("remove the score, or remove `missing` if this answer should count");
            }
            if voices.is_some() && page.is_none() {
                self.error(
                    f.key_at("voices"),
                    &f.child("voices"),
                    "`voices` can only limit an option written inside a question, not in a shared option set",
                );
            }
            let option =
                AnswerOption { code, label, score, missing, exclusive, voice, voices: voices.unwrap_or_default() };
            self.check(&option, &f);
            out.push(option);
        }
        if items.is_empty() {
            self.error(node.at, path, "the list of options is empty");
        }
        out
    }

    /// `depends_on`: one question id or a list of them; checked against
    /// the pages once all are read.
    fn depends_on(&mut self, node: &Node, path: &str, page: usize) -> Vec<String> {
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut ids = Vec::new();
        for item in items {
            let Some(id) = self.string(item, path) else { continue };
            self.sites.depends_on.push((page, id.clone(), item.at, path.to_string()));
            ids.push(id);
        }
        ids
    }

    fn voices_list(&mut self, node: &Node, path: &str) -> Vec<Voice> {
        let Some(items) = self.list(node, path) else { return Vec::new() };
        items.iter().filter_map(|n| self.voice(n, path)).collect()
    }

    fn domains(&mut self, node: &Node) -> Vec<Domain> {
        let Some(items) = self.list(node, "domains") else { return Vec::new() };
        let mut out: Vec<Domain> = Vec::new();
        for (i, entry) in items.iter().enumerate() {
            let path = item("domains", i, entry_label(entry));
            let Some(f) = self.fields(entry, &path, DOMAIN_KEYS, "a domain") else { continue };
            let id = self.required(&f, "id").and_then(|n| self.string(n, &f.child("id")));
            let label = self.required(&f, "label").and_then(|n| self.text(n, &f.child("label"), TextScope::Analysts));
            let weight = f.get("weight").and_then(|n| self.number(n, &f.child("weight"))).unwrap_or(1.0);
            let min_answered = f.get("min_answered").and_then(|n| self.whole(n, &f.child("min_answered")));
            let (Some(id), Some(label)) = (id, label) else { continue };
            if let Some((at, _)) = self.sites.domains.get(&id) {
                let line = at.line;
                self.error(
                    f.key_at("id"),
                    &f.child("id"),
                    format!("domain `{id}` is declared twice (first on line {line})"),
                );
                continue;
            }
            self.sites.domains.insert(id.clone(), (entry.at, path.clone()));
            let domain = Domain {
                id,
                label,
                weight,
                // Zero means "not given": filled in once the items are known.
                min_answered: min_answered.unwrap_or(0),
                items: Vec::new(),
            };
            if min_answered.is_some() {
                self.check(&domain, &f);
            } else {
                self.check(&Domain { min_answered: 1, ..domain.clone() }, &f);
            }
            out.push(domain);
        }
        out
    }

    fn pages(&mut self, node: &Node, option_sets: &BTreeMap<String, Vec<AnswerOption>>) -> Vec<Option<Page>> {
        let Some(items) = self.list(node, "pages") else { return Vec::new() };
        if items.is_empty() {
            self.error(node.at, "pages", "the survey has no pages");
        }
        let mut out = Vec::new();
        for (index, entry) in items.iter().enumerate() {
            let path = item("pages", index, entry_label(entry));
            self.sites.pages.push((entry.at, path.clone()));
            out.push(self.page(entry, &path, index, option_sets));
        }
        out
    }

    fn page(
        &mut self,
        node: &Node,
        path: &str,
        index: usize,
        option_sets: &BTreeMap<String, Vec<AnswerOption>>,
    ) -> Option<Page> {
        let f = self.fields(node, path, QUESTION_KEYS, "a page with its question")?;
        let sets_voice = f.get("sets_voice").and_then(|n| self.bool(n, &f.child("sets_voice"))).unwrap_or(false);
        // The voice question is read before anyone's voice is known.
        let scope = if sets_voice { TextScope::BeforeVoice } else { TextScope::Page(index) };
        let id = self.required(&f, "id").and_then(|n| self.string(n, &f.child("id")));
        if let (Some(id), Some(n)) = (&id, f.get("id"))
            && let Err(e) = identifier(id)
        {
            self.error(n.at, &f.child("id"), format!("`{id}` {}", e.message.unwrap_or_default()));
        }
        let type_name = self.required(&f, "type").and_then(|n| {
            let choices: Vec<(&str, &str)> = QUESTION_TYPES.iter().map(|t| (*t, *t)).collect();
            self.choice(n, &f.child("type"), &choices, "question type")
        });
        let text = self.required(&f, "text").and_then(|n| self.text(n, &f.child("text"), scope));
        let help = f.get("help").and_then(|n| self.text(n, &f.child("help"), scope));
        let required = f.get("required").and_then(|n| self.bool(n, &f.child("required"))).unwrap_or(true);
        if sets_voice && !required {
            self.error(
                f.key_at("required"),
                &f.child("required"),
                "the voice question must be answered, so it cannot be `required: false`",
            );
        }
        let dimension = f.get("dimension").and_then(|n| {
            let choices: Vec<(&str, Dimension)> = Dimension::ALL.iter().map(|d| (d.code(), *d)).collect();
            self.choice(n, &f.child("dimension"), &choices, "grouping dimension")
        });
        if let Some(d) = dimension {
            self.sites.dimension_sites.push((d, f.key_at("dimension"), f.child("dimension")));
        }
        let domain = f.get("domain").and_then(|n| self.string(n, &f.child("domain")));
        // A Likert group's `domain` is its items' default, not an item itself.
        if let (Some(d), Some(qid), false) = (&domain, &id, type_name == Some("likert_group")) {
            self.sites.domain_refs.push((index, qid.clone(), f.key_at("domain"), f.child("domain"), d.clone()));
        }
        let show_if = f.get("show_if").and_then(|n| self.condition(n, &f.child("show_if"), index));
        if f.get("show_if").is_some() && show_if.is_none() {
            self.sites.bad_conditions.insert(index);
        }
        let depends_on =
            f.get("depends_on").map(|n| self.depends_on(n, &f.child("depends_on"), index)).unwrap_or_default();
        let errors = f.get("errors").map(|n| self.errors(n, &f.child("errors"), scope)).unwrap_or_default();

        let kind = match type_name {
            Some(t) => self.kind(t, &f, (index, scope), option_sets, dimension, domain.as_deref()),
            None => None,
        };
        self.forbid_foreign_keys(&f, type_name, dimension);

        if let Some(id) = &id {
            self.sites.question_ids.push((id.clone(), index, f.key_at("id"), f.child("id")));
        }
        let (id, text, kind) = (id?, text?, kind?);
        Some(Page {
            id: id.clone(),
            show_if,
            depends_on,
            question: Question { id, text, help, required, kind, domain, dimension, sets_voice, errors },
        })
    }

    /// Keys that belong to another question type are mistakes worth naming.
    fn forbid_foreign_keys(&mut self, f: &Fields<'_>, type_name: Option<&str>, dimension: Option<Dimension>) {
        let Some(t) = type_name else { return };
        let allowed: &[&str] = match t {
            "single_choice" => &["options", "option_set"],
            "multiple_choice" => &["options", "option_set", "min_selected", "max_selected"],
            "likert_group" => &["options", "option_set", "items"],
            "number" => &["min", "max", "decimals", "unit"],
            "date" => &["min", "max"],
            _ => &["max_length", "multiline"],
        };
        for key in [
            "options",
            "option_set",
            "items",
            "min_selected",
            "max_selected",
            "min",
            "max",
            "decimals",
            "unit",
            "max_length",
            "multiline",
        ] {
            let ics_options = dimension == Some(Dimension::Ics) && matches!(key, "options" | "option_set");
            if f.get(key).is_some() && (!allowed.contains(&key) || ics_options) {
                let message = if ics_options {
                    "the ICS question takes its options from the reference list of ICSs, so it has no `options` or `option_set`".to_string()
                } else {
                    format!("`{key}` does not apply to a `{t}` question")
                };
                self.error(f.key_at(key), &f.child(key), message);
            }
        }
    }

    fn kind(
        &mut self,
        type_name: &str,
        f: &Fields<'_>,
        (page, scope): (usize, TextScope),
        option_sets: &BTreeMap<String, Vec<AnswerOption>>,
        dimension: Option<Dimension>,
        domain: Option<&str>,
    ) -> Option<QuestionKind> {
        match type_name {
            "single_choice" if dimension == Some(Dimension::Ics) => Some(QuestionKind::IcsSelect),
            "single_choice" => {
                Some(QuestionKind::SingleChoice { options: self.question_options(f, page, scope, option_sets)? })
            }
            "multiple_choice" => {
                let options = self.question_options(f, page, scope, option_sets)?;
                let min_selected = f.get("min_selected").and_then(|n| self.whole(n, &f.child("min_selected")));
                let max_selected = f.get("max_selected").and_then(|n| self.whole(n, &f.child("max_selected")));
                if let (Some(lo), Some(hi)) = (min_selected, max_selected)
                    && lo > hi
                {
                    self.error(
                        f.key_at("min_selected"),
                        &f.child("min_selected"),
                        format!("min_selected ({lo}) is more than max_selected ({hi})"),
                    );
                }
                if let Some(hi) = max_selected
                    && (hi == 0 || hi as usize > options.len())
                {
                    self.error(
                        f.key_at("max_selected"),
                        &f.child("max_selected"),
                        format!("max_selected must be from 1 to the number of options ({})", options.len()),
                    );
                }
                Some(QuestionKind::MultipleChoice { options, min_selected, max_selected })
            }
            "likert_group" => {
                let options = self.question_options(f, page, scope, option_sets);
                let items_node = self.required(f, "items")?;
                let items = self.likert_items(items_node, &f.child("items"), page, domain);
                Some(QuestionKind::LikertGroup { options: options?, items })
            }
            "number" => {
                let min = self.required(f, "min").and_then(|n| self.number(n, &f.child("min")));
                let max = self.required(f, "max").and_then(|n| self.number(n, &f.child("max")));
                let decimals = f.get("decimals").and_then(|n| self.whole(n, &f.child("decimals"))).unwrap_or(0);
                if decimals > 6 {
                    self.error(f.key_at("decimals"), &f.child("decimals"), "decimals must be from 0 to 6");
                }
                let unit = f.get("unit").and_then(|n| self.text(n, &f.child("unit"), TextScope::Page(page)));
                let (min, max) = (min?, max?);
                if min > max {
                    self.error(f.key_at("min"), &f.child("min"), format!("min ({min}) is more than max ({max})"));
                }
                Some(QuestionKind::Number { min, max, decimals, unit })
            }
            "date" => {
                let min = f.get("min").and_then(|n| self.date_bound(n, &f.child("min")));
                let max = f.get("max").and_then(|n| self.date_bound(n, &f.child("max")));
                if let (Some(DateBound::Fixed(lo)), Some(DateBound::Fixed(hi))) = (min, max)
                    && lo > hi
                {
                    self.error(f.key_at("min"), &f.child("min"), format!("min ({lo}) is after max ({hi})"));
                }
                Some(QuestionKind::Date { min, max })
            }
            _ => {
                let max_length = self.required(f, "max_length").and_then(|n| self.whole(n, &f.child("max_length")));
                let multiline = f.get("multiline").and_then(|n| self.bool(n, &f.child("multiline"))).unwrap_or(false);
                let max_length = max_length?;
                if !(1..=5000).contains(&max_length) {
                    self.error(
                        f.key_at("max_length"),
                        &f.child("max_length"),
                        format!("{max_length} must be from 1 to 5000 characters"),
                    );
                }
                Some(QuestionKind::FreeText { max_length, multiline })
            }
        }
    }

    fn date_bound(&mut self, node: &Node, path: &str) -> Option<DateBound> {
        if matches!(&node.kind, NodeKind::Scalar { text, .. } if text == "today") {
            return Some(DateBound::Today);
        }
        self.date(node, path).map(DateBound::Fixed)
    }

    fn question_options(
        &mut self,
        f: &Fields<'_>,
        page: usize,
        scope: TextScope,
        option_sets: &BTreeMap<String, Vec<AnswerOption>>,
    ) -> Option<Vec<AnswerOption>> {
        match (f.get("options"), f.get("option_set")) {
            (Some(_), Some(_)) => {
                self.error(f.key_at("option_set"), &f.path, "give either `options` or `option_set`, not both");
                None
            }
            (Some(node), None) => Some(self.options(node, &f.child("options"), OptionOwner::Page(page), scope)),
            (None, Some(node)) => {
                let name = self.string(node, &f.child("option_set"))?;
                self.sites.page_option_sets.insert(page, name.clone());
                match option_sets.get(&name) {
                    Some(options) => Some(options.clone()),
                    None => {
                        let hint = did_you_mean(&name, option_sets.keys().map(String::as_str))
                            .unwrap_or_else(|| "declare it under `option_sets`".into());
                        self.error(node.at, &f.child("option_set"), format!("unknown option set `{name}`")).hint(hint);
                        None
                    }
                }
            }
            (None, None) => {
                let misspelt = ["options", "option_set"]
                    .iter()
                    .any(|k| self.sites.typo_keys.contains(&(f.path.clone(), k.to_string())));
                if !misspelt {
                    self.error(f.node.at, &f.path, "a choice question needs `options` or `option_set`");
                }
                None
            }
        }
    }

    fn likert_items(&mut self, node: &Node, path: &str, page: usize, group_domain: Option<&str>) -> Vec<LikertItem> {
        let Some(entries) = self.list(node, path) else { return Vec::new() };
        if entries.len() < 2 {
            self.error(node.at, path, "a Likert group needs at least two items; use a single_choice question for one");
        }
        let mut out = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let ipath = item(path, i, entry_label(entry));
            let Some(f) = self.fields(entry, &ipath, ITEM_KEYS, "a Likert item") else { continue };
            let id = self.required(&f, "id").and_then(|n| self.string(n, &f.child("id")));
            let text = self.required(&f, "text").and_then(|n| self.text(n, &f.child("text"), TextScope::Page(page)));
            let domain = f.get("domain").and_then(|n| self.string(n, &f.child("domain")));
            let required = f.get("required").and_then(|n| self.bool(n, &f.child("required"))).unwrap_or(true);
            if let Some(id) = &id {
                self.sites.question_ids.push((id.clone(), page, f.key_at("id"), f.child("id")));
            }
            let (Some(id), Some(text)) = (id, text) else { continue };
            if let Some(d) = domain.as_deref().or(group_domain) {
                let at = if domain.is_some() { f.key_at("domain") } else { f.node.at };
                self.sites.domain_refs.push((page, id.clone(), at, f.child("domain"), d.to_string()));
            }
            let likert = LikertItem { id, text, domain, required };
            self.check(&likert, &f);
            out.push(likert);
        }
        out
    }

    fn errors(&mut self, node: &Node, path: &str, scope: TextScope) -> BTreeMap<Rule, Text> {
        let names: Vec<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
        let mut out = BTreeMap::new();
        let Some(f) = self.fields(node, path, &names, "error messages per rule") else { return out };
        for rule in Rule::ALL {
            if let Some(n) = f.get(rule.code())
                && let Some(text) = self.text(n, &f.child(rule.code()), scope)
            {
                out.insert(rule, text);
            }
        }
        out
    }

    fn condition(&mut self, node: &Node, path: &str, page: usize) -> Option<Condition> {
        let source = self.string(node, path)?;
        match condition::parse(&source) {
            Ok(expr) => {
                self.conditions.push(PendingCondition {
                    page,
                    node: node.clone(),
                    path: path.to_string(),
                    expr: expr.clone(),
                });
                Some(Condition { source, expr })
            }
            Err(e) => {
                let at = node.text_pos(&self.source, e.offset);
                self.error(at, path, format!("cannot read the condition: {}", e.message))
                    .hint("conditions look like `q_help == 'yes' and voice != 'carer_self'`");
                None
            }
        }
    }
}

/// What `survey` read, with holes where the file had mistakes.
pub(super) struct PartialSurvey {
    pub id: Option<String>,
    pub version: Option<String>,
    pub title: Option<Text>,
    pub languages: Vec<Language>,
    pub opens: Option<NaiveDate>,
    pub closes: Option<NaiveDate>,
    pub retention_months: u32,
    pub about: About,
    pub messages: BTreeMap<String, Text>,
    pub domains: Vec<Domain>,
    pub pages: Vec<Option<Page>>,
}

/// A node's value for messages: `'abc'`, or what kind of thing it is.
fn shown(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar { text, .. } if !node.is_null() => {
            let short: String = text.chars().take(40).collect();
            format!("`{short}`")
        }
        _ => node.describe().to_string(),
    }
}
