//! Keyed paper responses: found by the serial printed on the form, and
//! saved whole in one transaction (response, answers with their off-route
//! flags, result row, the person's addresses erased, and with double entry
//! both keyings settled), so a form is either keyed or not, never half.
//! With double entry each keying is kept in `keying_passes` until the
//! form is settled.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::invitations::Invitation;
use super::responses::{Channel, Mode, NewResponse, Response, ResponseStatus};
use super::results::ResultRow;
use super::samples::{self, Invitee};
use super::schema::{answers, invitation_tokens, keying_passes, responses, samples as sample_rows, users};
use super::{DbConn, StorageError, write_transaction};

/// A serial's person, their invitation, and what they already sent.
#[derive(Debug, Clone)]
pub struct Found {
    pub invitee: Invitee,
    pub invitation: Invitation,
    /// The response that counts for them, if any (not a duplicate).
    pub counted: Option<Response>,
    /// The paper response keyed from their form, counted or duplicate.
    pub keyed: Option<Response>,
    /// Their sample asks for double entry.
    pub double_entry: bool,
    /// The keyings of their form so far (double entry), first first.
    pub passes: Vec<Pass>,
}

/// One keying of a double-entered form.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = keying_passes)]
pub struct Pass {
    pub pass: i32,
    pub keyed_by: i64,
    pub voice: String,
    /// JSON object of answer id to stored value.
    pub answers: String,
    pub keyed_at: NaiveDateTime,
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
    let keyed = paper_response(conn, invitation.id)?;
    let double_entry = sample_rows::table.find(invitee.sample_id).select(sample_rows::double_entry).get_result(conn)?;
    let passes = unsettled_passes(conn, invitee.id)?;
    Ok(Found { invitee, invitation, counted, keyed, double_entry, passes })
}

/// The paper response keyed for an invitation, duplicate or not: a form is
/// keyed once.
fn paper_response(conn: &mut DbConn, invitation_id: i64) -> Result<Option<Response>, StorageError> {
    Ok(responses::table
        .filter(responses::invitation_id.eq(invitation_id))
        .filter(responses::mode.eq(Mode::Paper))
        .select(Response::as_select())
        .order(responses::id)
        .first(conn)
        .optional()?)
}

fn unsettled_passes(conn: &mut DbConn, invitee_id: i64) -> Result<Vec<Pass>, StorageError> {
    Ok(keying_passes::table
        .filter(keying_passes::invitee_id.eq(invitee_id))
        .filter(keying_passes::settled_at.is_null())
        .order(keying_passes::pass)
        .select(Pass::as_select())
        .load(conn)?)
}

/// What keeping one keying of a double-entered form did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassKept {
    Kept,
    /// The form was keyed and saved meanwhile.
    AlreadyKeyed {
        at: Option<NaiveDateTime>,
    },
    /// Another keyer kept this keying first, or the keyer of the first
    /// keying tried the second.
    Overtaken,
}

/// Keeps keying `pass` (1 or 2) of a double-entered form, unless the form
/// was settled or that keying kept meanwhile.
pub fn keep_pass(
    conn: &mut DbConn,
    (invitee_id, invitation_id): (i64, i64),
    pass: &Pass,
) -> Result<PassKept, StorageError> {
    write_transaction(conn, |conn| {
        if let Some(r) = paper_response(conn, invitation_id)? {
            return Ok(PassKept::AlreadyKeyed { at: r.submitted_at });
        }
        let before = unsettled_passes(conn, invitee_id)?;
        let in_turn = match pass.pass {
            1 => before.is_empty(),
            _ => before.len() == 1 && before[0].keyed_by != pass.keyed_by,
        };
        if !in_turn {
            return Ok(PassKept::Overtaken);
        }
        insert_pass(conn, invitee_id, pass)?;
        Ok(PassKept::Kept)
    })
}

fn insert_pass(conn: &mut DbConn, invitee_id: i64, pass: &Pass) -> Result<(), StorageError> {
    diesel::insert_into(keying_passes::table)
        .values((
            keying_passes::invitee_id.eq(invitee_id),
            keying_passes::pass.eq(pass.pass),
            keying_passes::keyed_by.eq(pass.keyed_by),
            keying_passes::voice.eq(&pass.voice),
            keying_passes::answers.eq(&pass.answers),
            keying_passes::keyed_at.eq(pass.keyed_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// How each keying of a double-entered form did against the settled form.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub invitee_id: i64,
    pub compared: i32,
    /// Fields wrong in the first and second keying.
    pub wrong: [i32; 2],
    /// The second keying, when it agreed with the first and settles the
    /// form as it is kept.
    pub agreeing: Option<Pass>,
}

/// One keyer's accuracy over the double-entered forms settled so far.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct KeyerAccuracy {
    pub email: String,
    pub keyings: i64,
    pub compared: i64,
    pub wrong: i64,
}

/// Every keyer's accuracy, most keyings first.
pub fn keyer_accuracy(conn: &mut DbConn) -> Result<Vec<KeyerAccuracy>, StorageError> {
    use diesel::dsl::{count_star, sum};
    let rows: Vec<(String, i64, Option<i64>, Option<i64>)> = keying_passes::table
        .inner_join(users::table.on(users::id.eq(keying_passes::keyed_by)))
        .filter(keying_passes::settled_at.is_not_null())
        .group_by(users::email)
        .select((
            users::email,
            count_star(),
            sum(keying_passes::fields_compared).assume_not_null().nullable(),
            sum(keying_passes::fields_wrong).assume_not_null().nullable(),
        ))
        .load(conn)?;
    let mut out: Vec<KeyerAccuracy> = rows
        .into_iter()
        .map(|(email, keyings, compared, wrong)| KeyerAccuracy {
            email,
            keyings,
            compared: compared.unwrap_or(0),
            wrong: wrong.unwrap_or(0),
        })
        .collect();
    out.sort_by(|a, b| b.keyings.cmp(&a.keyings).then_with(|| a.email.cmp(&b.email)));
    Ok(out)
}

/// A double-entered form waiting for its differences to be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub invitee_id: i64,
    pub survey_id: String,
    pub line: i32,
    pub keyed_at: NaiveDateTime,
}

/// Forms keyed twice whose keyings differ, oldest first.
pub fn waiting_for_resolution(conn: &mut DbConn) -> Result<Vec<Waiting>, StorageError> {
    use super::schema::invitees;
    let rows: Vec<(i64, String, i32, NaiveDateTime)> = keying_passes::table
        .inner_join(invitees::table.on(invitees::id.eq(keying_passes::invitee_id)))
        .filter(keying_passes::pass.eq(2))
        .filter(keying_passes::settled_at.is_null())
        .order(keying_passes::keyed_at)
        .select((invitees::id, invitees::survey_id, invitees::line, keying_passes::keyed_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(invitee_id, survey_id, line, keyed_at)| Waiting { invitee_id, survey_id, line, keyed_at })
        .collect())
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
    /// Set when the form was double-entered: its two keyings are settled
    /// with the response.
    pub settles: Option<Settled>,
}

/// What saving did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Counted: the person's first complete response.
    Counted { response_id: i64 },
    /// Kept but not counted: they had already answered (online).
    Duplicate { response_id: i64, of: i64 },
    /// This form was keyed before (a paper response exists for it).
    AlreadyKeyed { at: Option<NaiveDateTime> },
    /// Double entry: the keyings changed while the form was being
    /// resolved (another resolver, say); nothing was saved.
    Overtaken,
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
        if let Some(r) = paper_response(conn, form.invitation_id)? {
            return Ok(Saved::AlreadyKeyed { at: r.submitted_at });
        }
        if let Some(s) = &form.settles {
            if let Some(second) = &s.agreeing {
                let before = unsettled_passes(conn, s.invitee_id)?;
                if before.len() != 1 || before[0].keyed_by == second.keyed_by {
                    return Ok(Saved::Overtaken);
                }
                insert_pass(conn, s.invitee_id, second)?;
            }
            let mut settled = 0;
            for (pass, wrong) in [(1, s.wrong[0]), (2, s.wrong[1])] {
                settled += diesel::update(
                    keying_passes::table.find((s.invitee_id, pass)).filter(keying_passes::settled_at.is_null()),
                )
                .set((
                    keying_passes::settled_at.eq(form.at),
                    keying_passes::fields_compared.eq(s.compared),
                    keying_passes::fields_wrong.eq(wrong),
                    keying_passes::answers.eq("{}"),
                ))
                .execute(conn)?;
            }
            match settled {
                2 => {}
                // Another resolver settled it first: nothing written.
                0 => return Ok(Saved::Overtaken),
                _ => {
                    return Err(StorageError::Conflict(format!(
                        "the keyings of the form of invitee {} changed while it was resolved: resolve it again",
                        s.invitee_id
                    )));
                }
            }
        }
        let counted = super::responses::by_invitation(conn, form.invitation_id)?;
        let duplicate_of = match &counted {
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
