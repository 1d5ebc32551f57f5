//! Stored releases: a survey's published results for one closed period,
//! written once and read back unchanged ever after.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::result_releases;
use super::{DbConn, StorageError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = result_releases)]
pub struct StoredRelease {
    pub id: i64,
    pub survey_id: String,
    pub period: String,
    pub variant: String,
    pub computed_at: NaiveDateTime,
    pub respondents: i64,
    /// Gzipped JSON of the report.
    pub body: Vec<u8>,
}

/// The stored release, if it has been computed.
pub fn find(
    conn: &mut DbConn,
    survey_id: &str,
    period: &str,
    variant: &str,
) -> Result<Option<StoredRelease>, StorageError> {
    Ok(result_releases::table
        .filter(result_releases::survey_id.eq(survey_id))
        .filter(result_releases::period.eq(period))
        .filter(result_releases::variant.eq(variant))
        .select(StoredRelease::as_select())
        .first(conn)
        .optional()?)
}

/// Stores a release unless one is already there (two computed at once:
/// the first written wins, and the other caller reads that one back).
/// Returns whether this one was stored.
pub fn insert_if_absent(
    conn: &mut DbConn,
    (survey_id, period, variant): (&str, &str, &str),
    computed_at: NaiveDateTime,
    respondents: i64,
    body: &[u8],
) -> Result<bool, StorageError> {
    let values = (
        result_releases::survey_id.eq(survey_id),
        result_releases::period.eq(period),
        result_releases::variant.eq(variant),
        result_releases::computed_at.eq(computed_at),
        result_releases::respondents.eq(respondents),
        result_releases::body.eq(body),
    );
    let inserted = crate::per_backend!(conn => {
        diesel::insert_into(result_releases::table).values(values).on_conflict_do_nothing().execute(conn)?
    });
    Ok(inserted == 1)
}

/// The periods stored for a survey (any variant), for listing.
pub fn periods(conn: &mut DbConn, survey_id: &str) -> Result<Vec<String>, StorageError> {
    Ok(result_releases::table
        .filter(result_releases::survey_id.eq(survey_id))
        .select(result_releases::period)
        .distinct()
        .order(result_releases::period)
        .load(conn)?)
}
