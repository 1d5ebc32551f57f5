//! Responses and their answers. A response is saved page by page and
//! submitted exactly once; only submitted responses ever count.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{answers, responses};
use super::{DbConn, StorageError, write_transaction};
use crate::per_backend;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    OpenLink,
    Invitation,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::OpenLink => "open_link",
            Channel::Invitation => "invitation",
        }
    }
}

pub const IN_PROGRESS: &str = "in_progress";
pub const SUBMITTED: &str = "submitted";

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = responses)]
pub struct Response {
    pub id: i64,
    pub survey_version_id: i64,
    pub channel: String,
    pub status: String,
    pub voice: Option<String>,
    pub language: String,
    pub ics_code: Option<String>,
    pub resume_token_hash: Option<String>,
    pub resume_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub submitted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = responses)]
pub struct NewResponse<'a> {
    pub survey_version_id: i64,
    pub channel: &'a str,
    pub status: &'a str,
    pub voice: Option<&'a str>,
    pub language: &'a str,
    pub ics_code: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Associations)]
#[diesel(table_name = answers, belongs_to(Response))]
pub struct Answer {
    pub response_id: i64,
    pub question_id: String,
    pub value: String,
    pub answered_at: NaiveDateTime,
}

pub fn create(conn: &mut DbConn, new: &NewResponse<'_>) -> Result<Response, StorageError> {
    Ok(diesel::insert_into(responses::table).values(new).returning(responses::all_columns).get_result(conn)?)
}

pub fn by_id(conn: &mut DbConn, id: i64) -> Result<Option<Response>, StorageError> {
    Ok(responses::table.find(id).select(Response::as_select()).first(conn).optional()?)
}

/// Saves one page: answers given are written, answers no longer shown are
/// removed, all in one transaction with the response's `updated_at`.
/// Refuses (returns false) once the response is submitted.
pub fn save_page(
    conn: &mut DbConn,
    response_id: i64,
    given: &[(String, String)],
    removed: &[String],
    at: NaiveDateTime,
) -> Result<bool, StorageError> {
    write_transaction(conn, |conn| {
        let touched = diesel::update(responses::table.find(response_id).filter(responses::status.eq(IN_PROGRESS)))
            .set(responses::updated_at.eq(at))
            .execute(conn)?;
        if touched == 0 {
            return Ok(false);
        }
        if !removed.is_empty() {
            diesel::delete(
                answers::table
                    .filter(answers::response_id.eq(response_id))
                    .filter(answers::question_id.eq_any(removed)),
            )
            .execute(conn)?;
        }
        for (question_id, value) in given {
            let row = Answer { response_id, question_id: question_id.clone(), value: value.clone(), answered_at: at };
            per_backend!(conn => {
                diesel::insert_into(answers::table)
                    .values(&row)
                    .on_conflict((answers::response_id, answers::question_id))
                    .do_update()
                    .set((answers::value.eq(&row.value), answers::answered_at.eq(at)))
                    .execute(conn)?;
            });
        }
        Ok(true)
    })
}

/// Marks the response submitted if it is still in progress. Returns true
/// for the one call that did it, so a double submit is harmless.
pub fn submit(conn: &mut DbConn, response_id: i64, at: NaiveDateTime) -> Result<bool, StorageError> {
    let changed = diesel::update(responses::table.find(response_id).filter(responses::status.eq(IN_PROGRESS)))
        .set((responses::status.eq(SUBMITTED), responses::submitted_at.eq(at), responses::updated_at.eq(at)))
        .execute(conn)?;
    Ok(changed == 1)
}

pub fn answers_of(conn: &mut DbConn, response_id: i64) -> Result<Vec<Answer>, StorageError> {
    Ok(answers::table
        .filter(answers::response_id.eq(response_id))
        .order(answers::question_id)
        .select(Answer::as_select())
        .load(conn)?)
}

/// Every submitted response of one survey version with its answers, in
/// response order: two index range scans, what weighting reads.
pub fn submitted_with_answers(
    conn: &mut DbConn,
    survey_version_id: i64,
) -> Result<Vec<(Response, Vec<Answer>)>, StorageError> {
    let list: Vec<Response> = responses::table
        .filter(responses::survey_version_id.eq(survey_version_id))
        .filter(responses::status.eq(SUBMITTED))
        .order(responses::id)
        .select(Response::as_select())
        .load(conn)?;
    let all: Vec<Answer> = answers::table
        .inner_join(responses::table)
        .filter(responses::survey_version_id.eq(survey_version_id))
        .filter(responses::status.eq(SUBMITTED))
        .order((answers::response_id, answers::question_id))
        .select(Answer::as_select())
        .load(conn)?;
    let mut grouped = all.grouped_by(&list);
    Ok(list.into_iter().zip(grouped.drain(..)).collect())
}
