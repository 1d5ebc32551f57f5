//! Survey definitions: the YAML format, loading, and validation with located
//! errors. See `docs/definition-format.md` for the format itself.

pub mod answer;
mod checks;
pub mod condition;
mod decode;
pub mod diagnostics;
pub mod messages;
pub mod model;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use answer::{AnswerValue, Answers};
pub use diagnostics::Diagnostic;
pub use model::*;

/// Definitions larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;

/// Definitions longer than this are refused before parsing. The largest
/// shipped survey has a few hundred lines; a multilingual one with every
/// voice worded runs to a few thousand.
pub const MAX_LINES: usize = 20_000;

/// Lines as YAML counts them: a line ends at `\n`, `\r\n` or a lone `\r`
/// (old Mac files), so positions in messages and this count agree.
pub fn line_count(source: &str) -> usize {
    let bytes = source.as_bytes();
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    let unterminated = usize::from(!source.is_empty() && !source.ends_with(['\n', '\r']));
    breaks + unterminated
}

/// Why a text cannot be a definition whatever it says: too big to read.
/// Checked before any parsing, here and by the draft upload.
pub fn size_problem(source: &str) -> Option<String> {
    if source.len() > MAX_FILE_BYTES {
        return Some(format!(
            "the file is {} bytes; definitions are limited to {MAX_FILE_BYTES} bytes (2 MB)",
            source.len()
        ));
    }
    let lines = line_count(source);
    (lines > MAX_LINES).then(|| format!("the file has {lines} lines; definitions are limited to {MAX_LINES} lines"))
}

/// SHA-256 of the file's bytes, in hex: what "this exact version" means.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parses and validates one definition. `file` names it in messages.
pub fn parse(file: &str, source: &str) -> Result<SurveyDefinition, Vec<Diagnostic>> {
    let one = |at: yaml::Pos, message: String, hint: Option<String>| {
        vec![Diagnostic { file: file.to_string(), at, path: String::new(), message, hint }]
    };
    if let Some(problem) = size_problem(source) {
        return Err(one(yaml::Pos { line: 1, column: 1 }, problem, None));
    }
    let root = yaml::parse(source).map_err(|e| one(e.at, e.message, e.hint))?;
    let mut decoder = decode::Decoder::new(file, source);
    match decoder.survey(&root) {
        Some(partial) => decoder.finish(partial, content_hash(source.as_bytes())),
        None => Err(decoder.diags.into_sorted()),
    }
}

/// A definition file that passed validation, with its exact text.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub source: String,
    pub definition: SurveyDefinition,
}

/// Reads and validates one file.
pub fn load_file(path: &Path) -> Result<LoadedFile, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let fail = |message: String| {
        vec![Diagnostic {
            file: name.clone(),
            at: yaml::Pos { line: 1, column: 1 },
            path: String::new(),
            message,
            hint: None,
        }]
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    let source = String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "the file is not UTF-8 text (invalid bytes at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let definition = parse(&name, &source)?;
    Ok(LoadedFile { path: path.to_path_buf(), source, definition })
}

/// The `.yaml`/`.yml` files directly in `dir`, sorted by name.
pub fn definition_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Loads files (and the definition files in directories), reporting every
/// problem in every file, including the same survey version in two files.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<LoadedFile>, Vec<Diagnostic>> {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let files = if path.is_dir() {
            match definition_files(path) {
                Ok(files) => files,
                Err(e) => {
                    problems.push(Diagnostic {
                        file: path.display().to_string(),
                        at: yaml::Pos { line: 1, column: 1 },
                        path: String::new(),
                        message: format!("cannot read the folder: {e}"),
                        hint: None,
                    });
                    continue;
                }
            }
        } else {
            vec![path.clone()]
        };
        for file in files {
            match load_file(&file) {
                Ok(l) => loaded.push(l),
                Err(mut d) => problems.append(&mut d),
            }
        }
    }
    let mut seen: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for file in &loaded {
        let key = (file.definition.id.clone(), file.definition.version.clone());
        if let Some(first) = seen.get(&key) {
            problems.push(Diagnostic {
                file: file.path.display().to_string(),
                at: yaml::Pos { line: 1, column: 1 },
                path: "version".into(),
                message: format!("survey `{}` version `{}` is also defined in {}", key.0, key.1, first.display()),
                hint: Some("give each file its own survey id or version".into()),
            });
        } else {
            seen.insert(key, file.path.clone());
        }
    }
    if problems.is_empty() { Ok(loaded) } else { Err(problems) }
}

/// One line describing a valid survey, as `joinedup check` prints it.
pub fn summary(d: &SurveyDefinition) -> String {
    format!(
        "{} {}: {} pages, {} questions, {} scored items, {} domains, voices {}, languages {}",
        d.id,
        d.version,
        d.pages.len(),
        d.question_count(),
        d.scored_items().len(),
        d.domains.len(),
        d.voices.iter().map(|v| v.code()).collect::<Vec<_>>().join("/"),
        d.languages.iter().map(|l| l.code.as_str()).collect::<Vec<_>>().join("/"),
    )
}
