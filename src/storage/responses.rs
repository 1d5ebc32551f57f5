//! Responses and their answers. A response is saved page by page and
//! submitted exactly once; only submitted responses ever count.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::{AsExpression, FromSqlRow};
use serde::Serialize;
use strum::{EnumString, IntoStaticStr};

use super::schema::{answers, responses};
use super::stored_as_text::stored_as_text;
use super::{DbConn, StorageError, write_transaction};
use crate::per_backend;

/// How the respondent came to the survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow, IntoStaticStr, EnumString, Serialize)]
#[diesel(sql_type = Text)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    OpenLink,
    Invitation,
}
stored_as_text!(Channel);

/// A response is saved page by page in progress, then submitted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow, IntoStaticStr, EnumString, Serialize)]
#[diesel(sql_type = Text)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    InProgress,
    Submitted,
}
stored_as_text!(ResponseStatus);

/// How the answers were given: online by the respondent, or on a paper
/// questionnaire keyed by staff. A dimension of every result.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, AsExpression, FromSqlRow, IntoStaticStr, EnumString, Serialize,
)]
#[diesel(sql_type = Text)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Online,
    Paper,
}
stored_as_text!(Mode);

#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = responses)]
pub struct Response {
    pub id: i64,
    pub survey_version_id: i64,
    pub channel: Channel,
    pub status: ResponseStatus,
    pub voice: Option<String>,
    pub language: String,
    pub ics_code: Option<String>,
    pub resume_token_hash: Option<String>,
    pub resume_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub submitted_at: Option<NaiveDateTime>,
    pub invitation_id: Option<i64>,
    /// Quoted by a respondent who wants their answers withdrawn.
    pub reference: Option<String>,
    pub resume_code_hash: Option<String>,
    /// The voice and ICS came with the invitation, so their questions are skipped.
    pub voice_preset: bool,
    pub ics_preset: bool,
    /// How many times it has been written; a save names the revision it
    /// was worked out from (see the migration `response_revision`).
    pub revision: i64,
    pub mode: Mode,
    /// Set on a later response from a person who had already answered:
    /// kept, counted as a duplicate, never in results.
    pub duplicate_of: Option<i64>,
    /// The staff account that keyed a paper response.
    pub keyed_by: Option<i64>,
}

impl Response {
    pub fn is_submitted(&self) -> bool {
        self.status == ResponseStatus::Submitted
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = responses)]
pub struct NewResponse<'a> {
    pub survey_version_id: i64,
    pub channel: Channel,
    pub status: ResponseStatus,
    pub voice: Option<&'a str>,
    pub language: &'a str,
    pub ics_code: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub invitation_id: Option<i64>,
    pub reference: Option<&'a str>,
    pub voice_preset: bool,
    pub ics_preset: bool,
    /// Set for a later response from someone already counted: written at
    /// once, since only one response per invitation may be without it.
    pub duplicate_of: Option<i64>,
}

impl<'a> NewResponse<'a> {
    /// A response begun now on `channel`, in progress, with no voice, ICS
    /// or invitation yet: the builders below add what the channel knows.
    pub fn begun(
        survey_version_id: i64,
        channel: Channel,
        language: &'a str,
        reference: &'a str,
        at: NaiveDateTime,
    ) -> Self {
        NewResponse {
            survey_version_id,
            channel,
            status: ResponseStatus::InProgress,
            voice: None,
            language,
            ics_code: None,
            created_at: at,
            updated_at: at,
            invitation_id: None,
            reference: Some(reference),
            voice_preset: false,
            ics_preset: false,
            duplicate_of: None,
        }
    }

    /// For an invitation: its voice and ICS are given, so their questions
    /// are skipped.
    pub fn invited(mut self, invitation_id: i64, voice: Option<&'a str>, ics_code: Option<&'a str>) -> Self {
        self.invitation_id = Some(invitation_id);
        (self.voice, self.voice_preset) = (voice, voice.is_some());
        (self.ics_code, self.ics_preset) = (ics_code, ics_code.is_some());
        self
    }
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
    // `get_result`, not `first`: a bound `LIMIT ?` makes SQLite re-prepare the statement on every run.
    Ok(responses::table.find(id).select(Response::as_select()).get_result(conn).optional()?)
}

/// One page's changes to a response.
#[derive(Debug, Clone, Default)]
pub struct PageSave {
    /// (question id, stored value) pairs to write.
    pub given: Vec<(String, String)>,
    /// Question ids whose answers go: left blank, or on pages now hidden.
    pub removed: Vec<String>,
    /// Set when the page changed the respondent's voice (`Some(None)` clears it).
    pub voice: Option<Option<String>>,
    /// Set when the page changed the ICS.
    pub ics_code: Option<Option<String>>,
    /// The revision the page was worked out from: nothing is saved if the
    /// response has been written since. `None` (scripts, tests) saves
    /// over whatever is there.
    pub revision: Option<i64>,
}

/// The response columns a page save sets; `None` leaves a column alone.
#[derive(AsChangeset)]
#[diesel(table_name = responses)]
struct PageChanges<'a> {
    updated_at: NaiveDateTime,
    voice: Option<Option<&'a str>>,
    ics_code: Option<Option<&'a str>>,
}

/// Saves one page: answers given are written, answers no longer shown are
/// removed, all in one transaction with the response's `updated_at`.
/// Refuses (returns false) once the response is submitted, or when it has
/// moved on from the revision the save names.
pub fn save_page(
    conn: &mut DbConn,
    response_id: i64,
    given: &[(String, String)],
    removed: &[String],
    at: NaiveDateTime,
) -> Result<bool, StorageError> {
    let save = PageSave { given: given.to_vec(), removed: removed.to_vec(), ..PageSave::default() };
    apply_page(conn, response_id, &save, at)
}

/// Saves a page's changes, including the voice and ICS kept on the response.
pub fn apply_page(
    conn: &mut DbConn,
    response_id: i64,
    save: &PageSave,
    at: NaiveDateTime,
) -> Result<bool, StorageError> {
    if let DbConn::Postgres(pg) = conn {
        return super::responses_pg::apply_page(pg, response_id, save, at);
    }
    let (given, removed) = (&save.given, &save.removed);
    write_transaction(conn, |conn| {
        // One update, so the revision moves by exactly one.
        let open = responses::table.find(response_id).filter(responses::status.eq(ResponseStatus::InProgress));
        let changes = (
            PageChanges {
                updated_at: at,
                voice: save.voice.as_ref().map(Option::as_deref),
                ics_code: save.ics_code.as_ref().map(Option::as_deref),
            },
            responses::revision.eq(responses::revision + 1),
        );
        let touched = match save.revision {
            Some(seen) => diesel::update(open.filter(responses::revision.eq(seen))).set(changes).execute(conn)?,
            None => diesel::update(open).set(changes).execute(conn)?,
        };
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

/// Marks the response submitted if it is still in progress (and still at
/// `revision`, when given). Returns true for the one call that did it, so a
/// double submit is harmless.
pub fn submit(
    conn: &mut DbConn,
    response_id: i64,
    revision: Option<i64>,
    at: NaiveDateTime,
) -> Result<bool, StorageError> {
    let open = responses::table.find(response_id).filter(responses::status.eq(ResponseStatus::InProgress));
    let set = (
        responses::status.eq(ResponseStatus::Submitted),
        responses::submitted_at.eq(at),
        responses::updated_at.eq(at),
        responses::revision.eq(responses::revision + 1),
    );
    let changed = match revision {
        Some(seen) => diesel::update(open.filter(responses::revision.eq(seen))).set(set).execute(conn)?,
        None => diesel::update(open).set(set).execute(conn)?,
    };
    Ok(changed == 1)
}

/// A response and its answers as (question id, stored value).
pub type WithAnswers = (Response, Vec<(String, String)>);

/// A response and its answers, in question id order: what every
/// respondent page reads first.
pub fn with_answers(conn: &mut DbConn, id: i64) -> Result<Option<WithAnswers>, StorageError> {
    if let DbConn::Postgres(pg) = conn {
        return super::responses_pg::with_answers(pg, id);
    }
    let Some(response) = by_id(conn, id)? else { return Ok(None) };
    Ok(Some((response, answer_values(conn, id)?)))
}

/// A response's answers as (question id, stored value), the hot read of
/// every page; timestamps are left out because parsing them is the cost.
pub fn answer_values(conn: &mut DbConn, response_id: i64) -> Result<Vec<(String, String)>, StorageError> {
    Ok(answers::table
        .filter(answers::response_id.eq(response_id))
        .order(answers::question_id)
        .select((answers::question_id, answers::value))
        .load(conn)?)
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
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .filter(responses::duplicate_of.is_null())
        .order(responses::id)
        .select(Response::as_select())
        .load(conn)?;
    let all: Vec<Answer> = answers::table
        .inner_join(responses::table)
        .filter(responses::survey_version_id.eq(survey_version_id))
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .filter(responses::duplicate_of.is_null())
        .filter(answers::off_route.eq(false))
        .order((answers::response_id, answers::question_id))
        .select(Answer::as_select())
        .load(conn)?;
    let mut grouped = all.grouped_by(&list);
    Ok(list.into_iter().zip(grouped.drain(..)).collect())
}

/// The next page of submitted responses of one survey version after
/// `after_id`, with their answers: how re-scoring walks a large survey
/// without holding every answer in memory.
pub fn submitted_page_with_answers(
    conn: &mut DbConn,
    survey_version_id: i64,
    after_id: i64,
    limit: i64,
) -> Result<Vec<(Response, Vec<Answer>)>, StorageError> {
    let list: Vec<Response> = responses::table
        .filter(responses::survey_version_id.eq(survey_version_id))
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .filter(responses::duplicate_of.is_null())
        .filter(responses::id.gt(after_id))
        .order(responses::id)
        .limit(limit)
        .select(Response::as_select())
        .load(conn)?;
    let Some(last) = list.last().map(|r| r.id) else { return Ok(Vec::new()) };
    let all: Vec<Answer> = answers::table
        .inner_join(responses::table)
        .filter(responses::survey_version_id.eq(survey_version_id))
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .filter(responses::duplicate_of.is_null())
        .filter(answers::off_route.eq(false))
        .filter(answers::response_id.gt(after_id))
        .filter(answers::response_id.le(last))
        .order((answers::response_id, answers::question_id))
        .select(Answer::as_select())
        .load(conn)?;
    let mut grouped = all.grouped_by(&list);
    Ok(list.into_iter().zip(grouped.drain(..)).collect())
}

pub fn set_language(conn: &mut DbConn, response_id: i64, language: &str) -> Result<(), StorageError> {
    diesel::update(responses::table.find(response_id))
        .set((responses::language.eq(language), responses::revision.eq(responses::revision + 1)))
        .execute(conn)?;
    Ok(())
}

/// Stores the hashes of a new resume link and code; older ones stop working.
pub fn set_resume(
    conn: &mut DbConn,
    response_id: i64,
    token_hash: &str,
    code_hash: &str,
    expires_at: NaiveDateTime,
) -> Result<bool, StorageError> {
    let changed =
        diesel::update(responses::table.find(response_id).filter(responses::status.eq(ResponseStatus::InProgress)))
            .set((
                responses::resume_token_hash.eq(token_hash),
                responses::resume_code_hash.eq(code_hash),
                responses::resume_expires_at.eq(expires_at),
            ))
            .execute(conn)?;
    Ok(changed == 1)
}

/// An in-progress response by the hash of its resume link or code, if not expired.
pub fn by_resume_hash(conn: &mut DbConn, hash: &str, now: NaiveDateTime) -> Result<Option<Response>, StorageError> {
    Ok(responses::table
        .filter(responses::resume_token_hash.eq(hash).or(responses::resume_code_hash.eq(hash)))
        .filter(responses::status.eq(ResponseStatus::InProgress))
        .filter(responses::resume_expires_at.gt(now))
        .select(Response::as_select())
        .get_result(conn)
        .optional()?)
}

pub fn by_invitation(conn: &mut DbConn, invitation_id: i64) -> Result<Option<Response>, StorageError> {
    Ok(responses::table
        .filter(responses::invitation_id.eq(invitation_id))
        .filter(responses::duplicate_of.is_null())
        .select(Response::as_select())
        .get_result(conn)
        .optional()?)
}

/// Deletes a response that is still in progress (a respondent's own choice).
pub fn delete_in_progress(conn: &mut DbConn, response_id: i64) -> Result<bool, StorageError> {
    write_transaction(conn, |conn| {
        let open = responses::table.find(response_id).filter(responses::status.eq(ResponseStatus::InProgress));
        let exists = diesel::select(diesel::dsl::exists(open)).get_result::<bool>(conn)?;
        if !exists {
            return Ok(false);
        }
        diesel::delete(answers::table.filter(answers::response_id.eq(response_id))).execute(conn)?;
        Ok(diesel::delete(open).execute(conn)? == 1)
    })
}

/// Deletes a response, its answers and its result row, whatever its
/// status: a withdrawal at the respondent's request, or the end of its
/// retention period. Returns the number of answers deleted, or `None` if
/// there was no such response.
pub fn delete_entirely(conn: &mut DbConn, response_id: i64) -> Result<Option<usize>, StorageError> {
    use super::schema::response_results;
    write_transaction(conn, |conn| {
        let answers = diesel::delete(answers::table.filter(answers::response_id.eq(response_id))).execute(conn)?;
        diesel::delete(response_results::table.filter(response_results::response_id.eq(response_id))).execute(conn)?;
        let gone = diesel::delete(responses::table.find(response_id)).execute(conn)?;
        Ok((gone == 1).then_some(answers))
    })
}

/// Responses of `version_id` created before `before` (a retention date),
/// by id: what the retention job deletes.
pub fn ids_created_before(
    conn: &mut DbConn,
    version_id: i64,
    before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<i64>, StorageError> {
    Ok(responses::table
        .filter(responses::survey_version_id.eq(version_id))
        .filter(responses::created_at.lt(before))
        .select(responses::id)
        .order(responses::id)
        .limit(limit)
        .load(conn)?)
}

/// Deletes in-progress responses untouched since `before`; they never count.
/// They are found through `created_at` (indexed, and never later than
/// `updated_at`, which is left unindexed so page saves stay cheap).
pub fn purge_in_progress(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, StorageError> {
    write_transaction(conn, |conn| {
        let stale = || {
            responses::table
                .filter(responses::status.eq(ResponseStatus::InProgress))
                .filter(responses::created_at.lt(before))
                .filter(responses::updated_at.lt(before))
        };
        diesel::delete(answers::table.filter(answers::response_id.eq_any(stale().select(responses::id))))
            .execute(conn)?;
        Ok(diesel::delete(stale()).execute(conn)?)
    })
}

/// Counts by status, for checks and load tests.
pub fn count(conn: &mut DbConn, status: ResponseStatus) -> Result<i64, StorageError> {
    Ok(responses::table.filter(responses::status.eq(status)).count().get_result(conn)?)
}

/// A response by the reference shown on its confirmation page.
pub fn by_reference(conn: &mut DbConn, reference: &str) -> Result<Option<Response>, StorageError> {
    Ok(responses::table
        .filter(responses::reference.eq(reference))
        .select(Response::as_select())
        .get_result(conn)
        .optional()?)
}

/// All stored answers, for checks and load tests.
pub fn answer_count(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(answers::table.count().get_result(conn)?)
}

/// Inserts many answers at once (a batch insert goes per backend).
pub fn insert_answers(conn: &mut DbConn, rows: &[Answer]) -> Result<usize, StorageError> {
    let mut written = 0;
    for chunk in rows.chunks(500) {
        written += per_backend!(conn => { diesel::insert_into(answers::table).values(chunk).execute(conn)? });
    }
    Ok(written)
}
