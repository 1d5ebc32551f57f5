//! Drafts: a definition's text kept while a survey lead works on it, valid
//! or not. Checking a draft runs exactly what `joinedup check` runs, plus
//! the one rule only the database can answer: the version label is new.
//!
//! Reading a definition is the slow part (a 2 MB file takes a while), so it
//! always happens on a blocking thread of its own, never while holding a
//! database connection and never on the SQLite writer thread, where it
//! would hold up every respondent's save.

use chrono::NaiveDateTime;

use crate::definitions::yaml::{self, NodeKind, Pos};
use crate::definitions::{self, Diagnostic, SurveyDefinition};
use crate::storage::drafts::{self, Draft, DraftText};
use crate::storage::{Db, DbConn, StorageError, surveys};

/// Browsers send a textarea's lines ending in CRLF, and editors may add a
/// byte-order mark; stored drafts use plain LF so that the same text always
/// has the same content hash.
pub fn normalise(text: &str) -> String {
    text.strip_prefix('\u{feff}').unwrap_or(text).replace("\r\n", "\n").replace('\r', "\n")
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

/// Checks `source` as the file `name`: everything but the version label.
pub fn check_text(name: &str, source: &str) -> Checked {
    match definitions::parse(name, source) {
        Ok(d) => Checked { definition: Some(d), problems: Vec::new() },
        Err(problems) => Checked { definition: None, problems },
    }
}

/// Runs pure, slow work (reading a definition) on tokio's blocking pool.
pub async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Pool(format!("checking the definition failed: {e}")))
}

/// Checks `source` as the file `name`, the version label included: the
/// text is read off the database threads, then one short lookup.
pub async fn check(db: &Db, name: &str, source: &str) -> Result<Checked, StorageError> {
    let (owned_name, owned_source) = (name.to_string(), source.to_string());
    let mut checked = off_thread(move || check_text(&owned_name, &owned_source)).await?;
    let Some(definition) = &checked.definition else { return Ok(checked) };
    let (id, version) = (definition.id.clone(), definition.version.clone());
    let lookup = (id.clone(), version.clone());
    let Some(existing) = db.run(move |conn| surveys::find(conn, &lookup.0, &lookup.1)).await? else {
        return Ok(checked);
    };
    let (owned_name, owned_source) = (name.to_string(), source.to_string());
    let problem = off_thread(move || version_taken(&owned_name, &owned_source, &id, &version, &existing)).await?;
    checked.problems.push(problem);
    Ok(checked)
}

/// A stored draft, checked now; `None` if there is no such draft.
pub async fn load_checked(db: &Db, id: i64) -> Result<Option<(Draft, Checked)>, StorageError> {
    let Some(draft) = db.run(move |conn| drafts::by_id(conn, id)).await? else { return Ok(None) };
    let name = display_name(&draft.source_name, draft.id);
    let checked = check(db, &name, &draft.source_text).await?;
    Ok(Some((draft, checked)))
}

/// The problem of a version label already published (as `existing`).
pub fn version_taken(
    name: &str,
    source: &str,
    survey_id: &str,
    version: &str,
    existing: &surveys::SurveyVersion,
) -> Diagnostic {
    let when = existing.published_at.map(|t| format!(" on {}", t.format("%-d %b %Y"))).unwrap_or_default();
    Diagnostic {
        file: name.to_string(),
        at: top_level_value(source, "version").unwrap_or(Pos { line: 1, column: 1 }),
        path: "version".into(),
        message: format!(
            "survey `{survey_id}` already has a published version `{version}` (published{when}); a published version never changes"
        ),
        hint: Some("give this draft a new `version`, like `2.0`".into()),
    }
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
    #[error("This text cannot be saved as a draft: {0}")]
    TooLarge(String),
    #[error("There is no such draft (it may have been published or deleted)")]
    NotFound,
    #[error("{0}")]
    Storage(#[from] StorageError),
}

/// A draft's text made ready to store: normalised, within the limits, its
/// survey id and version read. Pure; run it off the database threads.
#[derive(Debug, Clone)]
pub struct Prepared {
    text: String,
    survey_id: Option<String>,
    version_label: Option<String>,
}

pub fn prepare(text: &str) -> Result<Prepared, DraftError> {
    let text = normalise(text);
    if text.trim().is_empty() {
        return Err(DraftError::Empty);
    }
    if let Some(problem) = definitions::size_problem(&text) {
        return Err(DraftError::TooLarge(problem));
    }
    let (survey_id, version_label) = identity(&text);
    Ok(Prepared { text, survey_id, version_label })
}

/// Saves text as a new draft (`id` None) or over an existing one: prepared
/// off the writer, then one short write.
pub async fn save_text(
    db: &Db,
    id: Option<i64>,
    name: String,
    text: String,
    user_id: Option<i64>,
) -> Result<Result<Draft, DraftError>, StorageError> {
    let prepared = match off_thread(move || prepare(&text)).await? {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    db.write(move |conn| Ok(save(conn, id, &name, &prepared, user_id, crate::storage::now()))).await
}

/// Stores prepared text as a new draft (`id` None) or over an existing one.
pub fn save(
    conn: &mut DbConn,
    id: Option<i64>,
    name: &str,
    prepared: &Prepared,
    user_id: Option<i64>,
    at: NaiveDateTime,
) -> Result<Draft, DraftError> {
    let row = DraftText {
        source_text: &prepared.text,
        source_name: name,
        survey_id: prepared.survey_id.as_deref(),
        version_label: prepared.version_label.as_deref(),
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
        assert_eq!(normalise("a\rb\r"), "a\nb\n", "old Mac line ends");
        assert_eq!(definitions::line_count("a\rb\r\nc\nd"), 4);
    }
}
