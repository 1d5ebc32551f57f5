//! Drafts: a definition's text kept while a survey lead works on it, valid
//! or not. Checking a draft runs exactly what `joinedup check` runs, plus
//! the one rule only the database can answer: the version label is new.

use chrono::NaiveDateTime;

use crate::definitions::yaml::{self, NodeKind, Pos};
use crate::definitions::{self, Diagnostic, SurveyDefinition};
use crate::storage::drafts::{self, Draft, DraftText};
use crate::storage::{DbConn, StorageError, surveys};

/// Browsers send a textarea's lines ending in CRLF, and editors may add a
/// byte-order mark; stored drafts use plain LF so that the same text always
/// has the same content hash.
pub fn normalise(text: &str) -> String {
    text.strip_prefix('\u{feff}').unwrap_or(text).replace("\r\n", "\n")
}

/// A draft's text after checking.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Present when the text is a valid definition.
    pub definition: Option<SurveyDefinition>,
    /// Every problem, in file order; empty means it can be published.
    pub problems: Vec<Diagnostic>,
}

impl Checked {
    pub fn publishable(&self) -> Option<&SurveyDefinition> {
        if self.problems.is_empty() { self.definition.as_ref() } else { None }
    }
}

/// Checks `source` as the file `name`.
pub fn check(conn: &mut DbConn, name: &str, source: &str) -> Result<Checked, StorageError> {
    let definition = match definitions::parse(name, source) {
        Ok(d) => d,
        Err(problems) => return Ok(Checked { definition: None, problems }),
    };
    let mut problems = Vec::new();
    if let Some(existing) = surveys::find(conn, &definition.id, &definition.version)? {
        let when = existing.published_at.map(|t| format!(" on {}", t.format("%-d %b %Y"))).unwrap_or_default();
        problems.push(Diagnostic {
            file: name.to_string(),
            at: top_level_value(source, "version").unwrap_or(Pos { line: 1, column: 1 }),
            path: "version".into(),
            message: format!(
                "survey `{}` already has a published version `{}` (published{when}); a published version never changes",
                definition.id, definition.version
            ),
            hint: Some("give this draft a new `version`, like `2.0`".into()),
        });
    }
    Ok(Checked { definition: Some(definition), problems })
}

/// Where the value of a top-level key starts, if the text is YAML at all.
fn top_level_value(source: &str, key: &str) -> Option<Pos> {
    let root = yaml::parse(source).ok()?;
    let NodeKind::Map(entries) = root.kind else { return None };
    entries.into_iter().find(|(k, _)| k.text == key).map(|(_, v)| v.at)
}

fn top_level_text(root: &yaml::Node, key: &str) -> Option<String> {
    let NodeKind::Map(entries) = &root.kind else { return None };
    entries.iter().find(|(k, _)| k.text == key).and_then(|(_, v)| match &v.kind {
        NodeKind::Scalar { text, .. } if !text.trim().is_empty() => Some(text.trim().chars().take(100).collect()),
        _ => None,
    })
}

/// The survey id and version written in a text, valid or not, for lists.
pub fn identity(source: &str) -> (Option<String>, Option<String>) {
    match yaml::parse(source) {
        Ok(root) => (top_level_text(&root, "id"), top_level_text(&root, "version")),
        Err(_) => (None, None),
    }
}

/// Why a draft could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("The definition is empty: paste its text or choose a file")]
    Empty,
    #[error("The definition is {0} bytes; definitions are limited to 2 MB")]
    TooLarge(usize),
    #[error("There is no such draft (it may have been published or deleted)")]
    NotFound,
    #[error("{0}")]
    Storage(#[from] StorageError),
}

/// Saves text as a new draft (`id` None) or over an existing one.
pub fn save(
    conn: &mut DbConn,
    id: Option<i64>,
    name: &str,
    text: &str,
    user_id: Option<i64>,
    at: NaiveDateTime,
) -> Result<Draft, DraftError> {
    let text = normalise(text);
    if text.trim().is_empty() {
        return Err(DraftError::Empty);
    }
    if text.len() > definitions::MAX_FILE_BYTES {
        return Err(DraftError::TooLarge(text.len()));
    }
    let (survey_id, version_label) = identity(&text);
    let row = DraftText {
        source_text: &text,
        source_name: name,
        survey_id: survey_id.as_deref(),
        version_label: version_label.as_deref(),
    };
    match id {
        None => Ok(drafts::create(conn, &row, user_id, at)?),
        Some(id) => {
            if !drafts::update(conn, id, &row, at)? {
                return Err(DraftError::NotFound);
            }
            drafts::by_id(conn, id)?.ok_or(DraftError::NotFound)
        }
    }
}

/// A draft's name as shown and used in problem lines: the file name, or
/// `draft-N.yaml` for text typed in.
pub fn display_name(name: &str, id: i64) -> String {
    let name = name.trim();
    if name.is_empty() { format!("draft-{id}.yaml") } else { name.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_read_even_from_an_invalid_definition() {
        assert_eq!(identity("id: x\nversion: \"2\"\npages: 5\n"), (Some("x".into()), Some("2".into())));
        assert_eq!(identity("id: [unclosed\n"), (None, None));
        assert_eq!(normalise("\u{feff}a\r\nb\r\n"), "a\nb\n");
    }
}
