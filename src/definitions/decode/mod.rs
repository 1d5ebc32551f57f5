//! Reads the located YAML tree into the typed model, collecting every
//! problem instead of stopping at the first.
//!
//! Field-level rules (id shapes, score ranges, lengths) are declared on the
//! model with `validator` and checked as each part is read, so the error can
//! point at the key. Rules that need the whole survey live in `checks.rs`.
//! The decoder's methods are split by what they read: `scalars` (one
//! value), `survey` (the survey's own keys), `questions` (pages).

mod questions;
mod scalars;
mod survey;

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

    pub(super) fn error(
        &mut self,
        at: Pos,
        path: &str,
        message: impl Into<String>,
    ) -> &mut super::diagnostics::Diagnostic {
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
