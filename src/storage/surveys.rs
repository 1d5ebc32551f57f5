//! Survey definition versions: the exact text of every published version.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::{AsExpression, FromSqlRow};
use serde::Serialize;
use strum::{EnumString, IntoStaticStr};

use super::schema::survey_versions;
use super::stored_as_text::stored_as_text;
use super::{DbConn, StorageError, now, write_transaction};
use crate::definitions::LoadedFile;

/// A version is drafted, published (then never changed), and closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow, IntoStaticStr, EnumString, Serialize)]
#[diesel(sql_type = Text)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Draft,
    Published,
    Closed,
}
stored_as_text!(VersionStatus);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = survey_versions)]
pub struct SurveyVersion {
    pub id: i64,
    pub survey_id: String,
    pub version_label: String,
    pub content_hash: String,
    pub source_text: String,
    pub source_name: String,
    pub status: VersionStatus,
    pub opens_on: Option<NaiveDate>,
    pub closes_on: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
    /// When a survey lead closed it; cleared on reopening.
    pub closed_at: Option<NaiveDateTime>,
}

impl SurveyVersion {
    /// Published and within its dates on `date`.
    pub fn is_open_on(&self, date: NaiveDate) -> bool {
        self.status == VersionStatus::Published
            && self.opens_on.is_none_or(|o| o <= date)
            && self.closes_on.is_none_or(|c| date <= c)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = survey_versions)]
pub struct NewSurveyVersion<'a> {
    pub survey_id: &'a str,
    pub version_label: &'a str,
    pub content_hash: &'a str,
    pub source_text: &'a str,
    pub source_name: &'a str,
    pub status: VersionStatus,
    pub opens_on: Option<NaiveDate>,
    pub closes_on: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
}

pub fn find(conn: &mut DbConn, survey_id: &str, version_label: &str) -> Result<Option<SurveyVersion>, StorageError> {
    Ok(survey_versions::table
        .filter(survey_versions::survey_id.eq(survey_id))
        .filter(survey_versions::version_label.eq(version_label))
        .select(SurveyVersion::as_select())
        .first(conn)
        .optional()?)
}

pub fn by_id(conn: &mut DbConn, id: i64) -> Result<Option<SurveyVersion>, StorageError> {
    Ok(survey_versions::table.find(id).select(SurveyVersion::as_select()).first(conn).optional()?)
}

pub fn insert(conn: &mut DbConn, new: &NewSurveyVersion<'_>) -> Result<SurveyVersion, StorageError> {
    Ok(diesel::insert_into(survey_versions::table)
        .values(new)
        .returning(survey_versions::all_columns)
        .get_result(conn)?)
}

/// Every version that respondents may have seen: published or closed.
pub fn released(conn: &mut DbConn) -> Result<Vec<SurveyVersion>, StorageError> {
    Ok(survey_versions::table
        .filter(survey_versions::status.ne(VersionStatus::Draft))
        .order((survey_versions::survey_id, survey_versions::id))
        .select(SurveyVersion::as_select())
        .load(conn)?)
}

/// What start-up did with the definition files.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub published: Vec<String>,
    pub unchanged: usize,
}

/// The start-up rule: a file whose (survey id, version) is new becomes a
/// published version; one already stored must be byte-for-byte the same.
pub fn publish_files(conn: &mut DbConn, files: &[LoadedFile]) -> Result<SyncReport, StorageError> {
    write_transaction(conn, |conn| {
        if matches!(conn, DbConn::Postgres(_)) {
            // Serialises instances starting together; released at commit.
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(0x6a6f_696e_6564_7571_i64)
                .execute(conn)?;
        }
        let mut report = SyncReport::default();
        for file in files {
            let d = &file.definition;
            match find(conn, &d.id, &d.version)? {
                Some(stored) if stored.content_hash == d.content_hash => report.unchanged += 1,
                Some(stored) => {
                    return Err(StorageError::ChangedVersion {
                        survey: d.id.clone(),
                        version: d.version.clone(),
                        file: file.path.display().to_string(),
                        stored: short(&stored.content_hash),
                        found: short(&d.content_hash),
                    });
                }
                None => {
                    let at = now();
                    let name = file
                        .path
                        .file_name()
                        .map_or_else(|| file.path.display().to_string(), |n| n.to_string_lossy().into_owned());
                    insert(
                        conn,
                        &NewSurveyVersion {
                            survey_id: &d.id,
                            version_label: &d.version,
                            content_hash: &d.content_hash,
                            source_text: &file.source,
                            source_name: &name,
                            status: VersionStatus::Published,
                            opens_on: d.opens,
                            closes_on: d.closes,
                            created_at: at,
                            updated_at: at,
                            published_at: Some(at),
                        },
                    )?;
                    report.published.push(format!("{} {}", d.id, d.version));
                }
            }
        }
        if !report.published.is_empty() {
            mark_changed(conn)?;
        }
        Ok(report)
    })
}

/// Every released version of one survey, newest first.
pub fn versions_of(conn: &mut DbConn, survey_id: &str) -> Result<Vec<SurveyVersion>, StorageError> {
    Ok(survey_versions::table
        .filter(survey_versions::survey_id.eq(survey_id))
        .filter(survey_versions::status.ne(VersionStatus::Draft))
        .order(survey_versions::id.desc())
        .select(SurveyVersion::as_select())
        .load(conn)?)
}

/// Sets a released version's opening and closing dates (the content and its
/// hash never change). Returns false when there is no such version.
pub fn set_dates(
    conn: &mut DbConn,
    id: i64,
    opens_on: Option<NaiveDate>,
    closes_on: Option<NaiveDate>,
    at: NaiveDateTime,
) -> Result<bool, StorageError> {
    let changed =
        diesel::update(survey_versions::table.find(id).filter(survey_versions::status.ne(VersionStatus::Draft)))
            .set((
                survey_versions::opens_on.eq(opens_on),
                survey_versions::closes_on.eq(closes_on),
                survey_versions::updated_at.eq(at),
            ))
            .execute(conn)?;
    Ok(changed == 1)
}

/// Closes a published version at once; returns false unless it was published.
pub fn close(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> Result<bool, StorageError> {
    let changed =
        diesel::update(survey_versions::table.find(id).filter(survey_versions::status.eq(VersionStatus::Published)))
            .set((
                survey_versions::status.eq(VersionStatus::Closed),
                survey_versions::closed_at.eq(at),
                survey_versions::updated_at.eq(at),
            ))
            .execute(conn)?;
    Ok(changed == 1)
}

/// Reopens a closed version; returns false unless it was closed.
pub fn reopen(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> Result<bool, StorageError> {
    let changed =
        diesel::update(survey_versions::table.find(id).filter(survey_versions::status.eq(VersionStatus::Closed)))
            .set((
                survey_versions::status.eq(VersionStatus::Published),
                survey_versions::closed_at.eq(None::<NaiveDateTime>),
                survey_versions::updated_at.eq(at),
            ))
            .execute(conn)?;
    Ok(changed == 1)
}

const CHANGE_STAMP: &str = "surveys_changed";

/// Records that the released versions changed (published, closed, reopened,
/// new dates), so every instance reloads them. The stamp is random rather
/// than a time: instances' clocks need not agree.
pub fn mark_changed(conn: &mut DbConn) -> Result<(), StorageError> {
    use super::schema::app_settings;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let stamp = hex::encode(bytes);
    let at = now();
    crate::per_backend!(conn => {
        diesel::insert_into(app_settings::table)
            .values((app_settings::name.eq(CHANGE_STAMP), app_settings::value.eq(&stamp), app_settings::created_at.eq(at)))
            .on_conflict(app_settings::name)
            .do_update()
            .set(app_settings::value.eq(&stamp))
            .execute(conn)?;
    });
    Ok(())
}

/// The stamp `mark_changed` last wrote (none before the first change).
pub fn change_stamp(conn: &mut DbConn) -> Result<Option<String>, StorageError> {
    use super::schema::app_settings;
    Ok(app_settings::table
        .filter(app_settings::name.eq(CHANGE_STAMP))
        .select(app_settings::value)
        .get_result::<String>(conn)
        .optional()?)
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}
