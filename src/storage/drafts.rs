//! Survey leads' drafts: working copies of a definition, edited in the
//! browser and possibly not valid yet. Publishing copies a valid draft into
//! `survey_versions`, where it never changes again.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::survey_drafts;
use super::{DbConn, StorageError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = survey_drafts)]
pub struct Draft {
    pub id: i64,
    /// The survey id and version read from the text when it last parsed.
    pub survey_id: Option<String>,
    pub version_label: Option<String>,
    pub source_text: String,
    /// The uploaded file's name, or what the lead called it.
    pub source_name: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a save writes: the text and what could be read from it.
#[derive(Debug, Clone)]
pub struct DraftText<'a> {
    pub source_text: &'a str,
    pub source_name: &'a str,
    pub survey_id: Option<&'a str>,
    pub version_label: Option<&'a str>,
}

pub fn create(
    conn: &mut DbConn,
    text: &DraftText<'_>,
    created_by: Option<i64>,
    at: NaiveDateTime,
) -> Result<Draft, StorageError> {
    Ok(diesel::insert_into(survey_drafts::table)
        .values((
            survey_drafts::survey_id.eq(text.survey_id),
            survey_drafts::version_label.eq(text.version_label),
            survey_drafts::source_text.eq(text.source_text),
            survey_drafts::source_name.eq(text.source_name),
            survey_drafts::created_by.eq(created_by),
            survey_drafts::created_at.eq(at),
            survey_drafts::updated_at.eq(at),
        ))
        .returning(survey_drafts::all_columns)
        .get_result(conn)?)
}

pub fn by_id(conn: &mut DbConn, id: i64) -> Result<Option<Draft>, StorageError> {
    Ok(survey_drafts::table.find(id).select(Draft::as_select()).get_result(conn).optional()?)
}

/// Replaces a draft's text; returns false when there is no such draft.
pub fn update(conn: &mut DbConn, id: i64, text: &DraftText<'_>, at: NaiveDateTime) -> Result<bool, StorageError> {
    let changed = diesel::update(survey_drafts::table.find(id))
        .set((
            survey_drafts::survey_id.eq(text.survey_id),
            survey_drafts::version_label.eq(text.version_label),
            survey_drafts::source_text.eq(text.source_text),
            survey_drafts::source_name.eq(text.source_name),
            survey_drafts::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

pub fn delete(conn: &mut DbConn, id: i64) -> Result<bool, StorageError> {
    Ok(diesel::delete(survey_drafts::table.find(id)).execute(conn)? == 1)
}

/// Every draft, most recently changed first.
pub fn list(conn: &mut DbConn) -> Result<Vec<Draft>, StorageError> {
    Ok(survey_drafts::table
        .order((survey_drafts::updated_at.desc(), survey_drafts::id.desc()))
        .select(Draft::as_select())
        .load(conn)?)
}
