//! Uploaded population margins: one row per version, with the file as
//! uploaded. The newest version of a group not retired is the one in use.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::margin_sets;
use super::{DbConn, StorageError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = margin_sets)]
pub struct MarginSetRow {
    pub id: i64,
    /// `people` or `carers`.
    pub population_group: String,
    pub version: i32,
    /// Where the figures come from, as the analyst described it.
    pub source: String,
    pub file_name: String,
    /// SHA-256 of the file, hex.
    pub content_hash: String,
    pub csv_text: String,
    pub dimensions: String,
    /// The analyst's email, or `command line`.
    pub uploaded_by: String,
    pub uploaded_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

/// A checked file about to become the next version of its group.
#[derive(Debug, Clone)]
pub struct NewMarginSet<'a> {
    pub population_group: &'a str,
    pub source: &'a str,
    pub file_name: &'a str,
    pub content_hash: &'a str,
    pub csv_text: &'a str,
    pub dimensions: &'a str,
    pub uploaded_by: &'a str,
    pub uploaded_at: NaiveDateTime,
}

/// Stores the next version of the group's margins; returns its number.
/// Call it inside a write transaction, so two uploads cannot take the same
/// number (the unique index refuses the second if they do).
pub fn insert(conn: &mut DbConn, new: &NewMarginSet<'_>) -> Result<i32, StorageError> {
    {
        let latest: Option<i32> = margin_sets::table
            .filter(margin_sets::population_group.eq(new.population_group))
            .select(diesel::dsl::max(margin_sets::version))
            .get_result(conn)?;
        let version = latest.unwrap_or(0) + 1;
        diesel::insert_into(margin_sets::table)
            .values((
                margin_sets::population_group.eq(new.population_group),
                margin_sets::version.eq(version),
                margin_sets::source.eq(new.source),
                margin_sets::file_name.eq(new.file_name),
                margin_sets::content_hash.eq(new.content_hash),
                margin_sets::csv_text.eq(new.csv_text),
                margin_sets::dimensions.eq(new.dimensions),
                margin_sets::uploaded_by.eq(new.uploaded_by),
                margin_sets::uploaded_at.eq(new.uploaded_at),
            ))
            .execute(conn)?;
        Ok(version)
    }
}

/// Every version, newest first within each group.
pub fn all(conn: &mut DbConn) -> Result<Vec<MarginSetRow>, StorageError> {
    Ok(margin_sets::table
        .order((margin_sets::population_group, margin_sets::version.desc()))
        .select(MarginSetRow::as_select())
        .load(conn)?)
}

/// The version in use for each group: its newest not retired.
pub fn in_use(conn: &mut DbConn) -> Result<Vec<MarginSetRow>, StorageError> {
    let ids = in_use_ids(conn)?;
    Ok(margin_sets::table
        .filter(margin_sets::id.eq_any(ids))
        .order(margin_sets::population_group)
        .select(MarginSetRow::as_select())
        .load(conn)?)
}

/// These versions (a stored release names the ones it used), in group order.
pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<MarginSetRow>, StorageError> {
    Ok(margin_sets::table
        .filter(margin_sets::id.eq_any(ids))
        .order(margin_sets::population_group)
        .select(MarginSetRow::as_select())
        .load(conn)?)
}

/// Ids of the versions in use: what cached results depend on. Checked on
/// every analyst page, so it reads ids and groups only, never the files.
pub fn in_use_ids(conn: &mut DbConn) -> Result<Vec<i64>, StorageError> {
    let live: Vec<(i64, String)> = margin_sets::table
        .filter(margin_sets::retired_at.is_null())
        .order((margin_sets::population_group, margin_sets::version.desc()))
        .select((margin_sets::id, margin_sets::population_group))
        .load(conn)?;
    let mut ids = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (id, group) in live {
        if !seen.contains(&group) {
            seen.push(group);
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Stops using a version (the previous one not retired takes over).
/// Returns `None` if it was already retired or does not exist. Call it
/// inside a write transaction, with its audit entry.
pub fn retire(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> Result<Option<MarginSetRow>, StorageError> {
    {
        let n = diesel::update(margin_sets::table.find(id).filter(margin_sets::retired_at.is_null()))
            .set(margin_sets::retired_at.eq(at))
            .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(margin_sets::table.find(id).select(MarginSetRow::as_select()).get_result(conn)?))
    }
}
