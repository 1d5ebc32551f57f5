//! Analysts' population margins between the file and the report: upload
//! (checked by `index::margins`, stored as a new version, audited), retire,
//! and read back the versions in use with the label provenance shows.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::audit::{self, Action, Actor, Event};
use crate::index::frame::Group;
use crate::index::margins::{self, LineProblem, MarginSet, UsedMargins};
use crate::storage::margins::{self as rows, MarginSetRow, NewMarginSet};
use crate::storage::{DbConn, StorageError, icss, now, write_transaction};

/// An upload as the page or the command line received it.
#[derive(Debug, Clone)]
pub struct Upload<'a> {
    pub group: &'a str,
    pub source: &'a str,
    pub file_name: &'a str,
    pub bytes: &'a [u8],
}

/// What became of an upload.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stored as this version of the group's margins.
    Stored { version: i32, dimensions: String, hash: String },
    /// Nothing stored: the form's problems (line 0) or the file's, by line.
    Refused(Vec<LineProblem>),
}

/// The ICS codes margins must cover: every ICS joinedup knows.
fn ics_codes(conn: &mut DbConn) -> Result<BTreeSet<String>, StorageError> {
    Ok(icss::all(conn)?.into_iter().map(|i| i.ons_code).collect())
}

/// Checks and stores an upload as the next version of its group, with its
/// audit entry, in one transaction; a refused upload stores nothing.
pub fn upload(
    conn: &mut DbConn,
    upload: &Upload<'_>,
    actor: &Actor,
    client_ip: Option<&str>,
) -> Result<Outcome, StorageError> {
    let mut problems = Vec::new();
    let group = margins::group_from_code(upload.group);
    if group.is_none() {
        problems.push(LineProblem { line: 0, message: "Choose whose margins these are: people or carers".into() });
    }
    let source = upload.source.trim();
    if source.is_empty() {
        problems.push(LineProblem {
            line: 0,
            message: "Say where the figures come from (publisher, table and date)".into(),
        });
    }
    let text = match std::str::from_utf8(upload.bytes) {
        Ok(t) => t,
        Err(_) => {
            problems.push(LineProblem { line: 0, message: "The file must be UTF-8 text (a CSV)".into() });
            ""
        }
    };
    let Some(group) = group.filter(|_| problems.is_empty()) else { return Ok(Outcome::Refused(problems)) };
    let set = match margins::parse(group, text.as_bytes(), &ics_codes(conn)?) {
        Ok(set) => set,
        Err(problems) => return Ok(Outcome::Refused(problems)),
    };
    let dimensions = set.dimensions.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ");
    let hash = hex::encode(Sha256::digest(upload.bytes));
    write_transaction(conn, |conn| {
        let version = rows::insert(
            conn,
            &NewMarginSet {
                population_group: group.code(),
                source,
                file_name: upload.file_name,
                content_hash: &hash,
                csv_text: text,
                dimensions: &dimensions,
                uploaded_by: &actor.name,
                uploaded_at: now(),
            },
        )?;
        let event = Event::new(Action::MarginsUploaded)
            .target(format!("{} margins v{version}", group.code()))
            .detail(format!("{dimensions}; {source}; sha256 {}", &hash[..12]));
        audit::record(conn, actor, &event, client_ip)?;
        Ok(Outcome::Stored { version, dimensions: dimensions.clone(), hash: hash.clone() })
    })
}

/// Stops using a version, audited. Returns it, or `None` if there was
/// nothing to retire.
pub fn retire(
    conn: &mut DbConn,
    id: i64,
    actor: &Actor,
    client_ip: Option<&str>,
) -> Result<Option<MarginSetRow>, StorageError> {
    write_transaction(conn, |conn| {
        let Some(row) = rows::retire(conn, id, now())? else { return Ok(None) };
        let event =
            Event::new(Action::MarginsRetired).target(format!("{} margins v{}", row.population_group, row.version));
        audit::record(conn, actor, &event, client_ip)?;
        Ok(Some(row))
    })
}

/// How provenance names a stored version.
pub fn label(row: &MarginSetRow) -> String {
    format!(
        "{} margins v{} ({}: {}; sha256 {}; uploaded {})",
        row.population_group,
        row.version,
        row.dimensions,
        row.source,
        &row.content_hash[..12.min(row.content_hash.len())],
        row.uploaded_at.date()
    )
}

/// The versions in use, read back and checked again against today's ICS
/// list; a stored file that no longer passes is an error naming it.
pub fn in_use(conn: &mut DbConn) -> Result<Result<BTreeMap<Group, UsedMargins>, String>, StorageError> {
    let rows = rows::in_use(conn)?;
    parse_rows(conn, rows)
}

/// These stored versions (those a release used), read back the same way.
pub fn versions(conn: &mut DbConn, ids: &[i64]) -> Result<Result<BTreeMap<Group, UsedMargins>, String>, StorageError> {
    let rows = rows::by_ids(conn, ids)?;
    parse_rows(conn, rows)
}

fn parse_rows(
    conn: &mut DbConn,
    rows: Vec<MarginSetRow>,
) -> Result<Result<BTreeMap<Group, UsedMargins>, String>, StorageError> {
    let codes = ics_codes(conn)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let Some(group) = margins::group_from_code(&row.population_group) else { continue };
        match margins::parse(group, row.csv_text.as_bytes(), &codes) {
            Ok(set) => {
                out.insert(group, UsedMargins { id: row.id, set, label: label(&row) });
            }
            Err(problems) => {
                let first = problems.first().map(|p| format!("line {}: {}", p.line, p.message)).unwrap_or_default();
                return Ok(Err(format!("the {} no longer fit the ICS list ({first})", label(&row))));
            }
        }
    }
    Ok(Ok(out))
}

/// Only the sets, for weighting.
pub fn sets(used: &BTreeMap<Group, UsedMargins>) -> BTreeMap<Group, MarginSet> {
    used.iter().map(|(g, u)| (*g, u.set.clone())).collect()
}
