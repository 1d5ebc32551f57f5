//! Keyed paper responses: found by the serial printed on the form, and
//! saved whole in one transaction (response, answers with their off-route
//! flags, result row, the person's addresses erased), so a form is either
//! keyed or not, never half.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::invitations::Invitation;
use super::responses::{Channel, Mode, NewResponse, Response, ResponseStatus};
use super::results::ResultRow;
use super::samples::{self, Invitee};
use super::schema::{answers, invitation_tokens, responses};
use super::{DbConn, StorageError, write_transaction};

/// A serial's person, their invitation, and what they already sent.
#[derive(Debug, Clone)]
pub struct Found {
    pub invitee: Invitee,
    pub invitation: Invitation,
    /// The response that counts for them, if any (not a duplicate).
    pub counted: Option<Response>,
}

/// The person a serial (a short code's hash) names.
pub fn by_serial_hash(conn: &mut DbConn, hash: &str) -> Result<Option<Found>, StorageError> {
    let Some(invitee) = samples::by_short_code_hash(conn, hash)? else { return Ok(None) };
    by_invitee(conn, invitee).map(Some)
}

/// The same, for an invitee already found.
pub fn by_invitee(conn: &mut DbConn, invitee: Invitee) -> Result<Found, StorageError> {
    let invitation: Invitation =
        invitation_tokens::table.find(invitee.invitation_id).select(Invitation::as_select()).get_result(conn)?;
    let counted = super::responses::by_invitation(conn, invitation.id)?;
    Ok(Found { invitee, invitation, counted })
}

/// An invitation's deprivation quintile and base weight.
pub type Strata = (Option<i32>, f64);

/// A keyed form to save.
pub struct KeyedForm<'a> {
    pub survey_version_id: i64,
    pub invitation_id: i64,
    pub voice: &'a str,
    pub language: &'a str,
    pub ics_code: Option<&'a str>,
    pub reference: &'a str,
    /// (answer id, stored value, off route).
    pub answers: Vec<(String, String, bool)>,
    pub keyed_by: i64,
    pub at: NaiveDateTime,
}

/// What saving did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Counted: the person's first complete response.
    Counted { response_id: i64 },
    /// Kept but not counted: they had already answered (online).
    Duplicate { response_id: i64, of: i64 },
    /// This form was keyed before (a paper response already counts).
    AlreadyKeyed { at: Option<NaiveDateTime> },
}

/// Saves a keyed form. `score` makes the result row of a counted response
/// from the stored response and its invitation's strata (deprivation
/// quintile, base weight); a duplicate gets none.
pub fn save(
    conn: &mut DbConn,
    form: &KeyedForm<'_>,
    score: &dyn Fn(&Response, Strata) -> ResultRow,
) -> Result<Saved, StorageError> {
    write_transaction(conn, |conn| {
        let counted = super::responses::by_invitation(conn, form.invitation_id)?;
        let duplicate_of = match &counted {
            Some(r) if r.mode == Mode::Paper => return Ok(Saved::AlreadyKeyed { at: r.submitted_at }),
            Some(r) if r.status == ResponseStatus::Submitted => Some(r.id),
            // Begun online but not sent: the paper form is the first
            // complete response, and the unfinished one gives way.
            Some(r) => {
                super::responses::delete_in_progress(conn, r.id)?;
                None
            }
            None => None,
        };
        let new =
            NewResponse::begun(form.survey_version_id, Channel::Invitation, form.language, form.reference, form.at)
                .invited(form.invitation_id, Some(form.voice), form.ics_code);
        let new = NewResponse { duplicate_of, ..new };
        let created = super::responses::create(conn, &new)?;
        diesel::update(responses::table.find(created.id))
            .set((
                responses::status.eq(ResponseStatus::Submitted),
                responses::submitted_at.eq(form.at),
                responses::mode.eq(Mode::Paper),
                responses::keyed_by.eq(form.keyed_by),
            ))
            .execute(conn)?;
        let rows: Vec<_> = form
            .answers
            .iter()
            .map(|(id, value, off)| {
                (
                    answers::response_id.eq(created.id),
                    answers::question_id.eq(id),
                    answers::value.eq(value),
                    answers::answered_at.eq(form.at),
                    answers::off_route.eq(off),
                )
            })
            .collect();
        if !rows.is_empty() {
            crate::per_backend!(conn => { diesel::insert_into(answers::table).values(&rows).execute(conn)? });
        }
        let stored = super::responses::by_id(conn, created.id)?.ok_or(diesel::result::Error::NotFound)?;
        if let Some(of) = duplicate_of {
            return Ok(Saved::Duplicate { response_id: created.id, of });
        }
        let strata = super::results::invitation_strata(conn, Some(form.invitation_id))?;
        super::results::insert(conn, &score(&stored, strata))?;
        samples::erase_invitee_address(conn, form.invitation_id, form.at)?;
        Ok(Saved::Counted { response_id: created.id })
    })
}

/// How many keyed paper responses a survey has, counted and duplicate.
pub fn counts(conn: &mut DbConn, survey_id: &str) -> Result<(i64, i64), StorageError> {
    use super::schema::survey_versions;
    let rows: Vec<Option<i64>> = responses::table
        .inner_join(survey_versions::table)
        .filter(survey_versions::survey_id.eq(survey_id))
        .filter(responses::mode.eq(Mode::Paper))
        .select(responses::duplicate_of)
        .load(conn)?;
    let duplicates = rows.iter().filter(|d| d.is_some()).count() as i64;
    Ok((rows.len() as i64 - duplicates, duplicates))
}
