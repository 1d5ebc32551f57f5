//! The outbox: one row per message to an invitee, moved through its states
//! by single conditional updates, so two senders can never both own a row.
//!
//! `queued` → `sending` is committed before the message is handed to the
//! mail server, and `sending` → `sent` after the server accepts it. A row
//! found in `sending` when a new run starts was left by a process that
//! stopped in between: it becomes `uncertain` and is only queued again when
//! a survey lead asks. The rules for what to send live in `invitations`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::{AsExpression, FromSqlRow};
use serde::Serialize;
use strum::{EnumString, IntoStaticStr};

use super::invitations::Invitation;
use super::responses::ResponseStatus;
use super::samples::{Contact, Invitee};
use super::schema::{invitation_tokens, invitees, outbox, responses};
use super::stored_as_text::stored_as_text;
use super::{DbConn, StorageError, write_transaction};
use crate::per_backend;

/// Which message of the series it is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow, IntoStaticStr, EnumString, Serialize,
)]
#[diesel(sql_type = Text)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Invitation,
    Reminder,
}
stored_as_text!(Kind);

/// Where a message is on its way (see the module doc for the moves).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow, IntoStaticStr, EnumString, Serialize,
)]
#[diesel(sql_type = Text)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Sending,
    Sent,
    Uncertain,
    Failed,
    Cancelled,
}
stored_as_text!(Status);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct Message {
    pub id: i64,
    pub invitee_id: i64,
    pub survey_id: String,
    pub kind: Kind,
    pub round: i32,
    pub status: Status,
    /// How many times it was handed to the mail server.
    pub attempts: i32,
    pub not_before: NaiveDateTime,
    pub queued_at: NaiveDateTime,
    pub queued_by: String,
    pub sending_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub smtp_reply: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox)]
pub struct NewMessage {
    pub invitee_id: i64,
    pub survey_id: String,
    pub kind: Kind,
    pub round: i32,
    pub status: Status,
    pub attempts: i32,
    pub not_before: NaiveDateTime,
    pub queued_at: NaiveDateTime,
    pub queued_by: String,
}

impl NewMessage {
    pub fn queued(invitee_id: i64, survey_id: &str, kind: Kind, round: i32, by: &str, at: NaiveDateTime) -> Self {
        NewMessage {
            invitee_id,
            survey_id: survey_id.to_string(),
            kind,
            round,
            status: Status::Queued,
            attempts: 0,
            not_before: at,
            queued_at: at,
            queued_by: by.to_string(),
        }
    }
}

/// Queues messages; one already queued for the same invitee, kind and
/// round is left alone (a double click queues nothing twice). Returns how
/// many were added. Row by row: SQLite has no batch insert that skips
/// conflicts, and inside the caller's transaction each row is cheap.
pub fn enqueue(conn: &mut DbConn, messages: &[NewMessage]) -> Result<usize, StorageError> {
    let mut added = 0;
    for message in messages {
        added += per_backend!(conn => {
            diesel::insert_into(outbox::table).values(message).on_conflict_do_nothing().execute(conn)?
        });
    }
    Ok(added)
}

/// Invitees of a survey with an address and no invitation message yet,
/// who have not opted out (how many a lead may still invite).
pub fn uninvited(conn: &mut DbConn, survey_id: &str) -> Result<Vec<i64>, StorageError> {
    let mut all = Vec::new();
    for sample in complete_samples(conn, survey_id)? {
        all.extend(uninvited_in(conn, sample, 0, i64::MAX)?);
    }
    Ok(all)
}

/// A survey's samples that are completely written, oldest first: a sample
/// still being written is not invited until it is complete.
pub fn complete_samples(conn: &mut DbConn, survey_id: &str) -> Result<Vec<i64>, StorageError> {
    use super::schema::samples;
    Ok(samples::table
        .filter(samples::survey_id.eq(survey_id))
        .filter(samples::complete.eq(true))
        .order(samples::id)
        .select(samples::id)
        .load(conn)?)
}

/// Up to `limit` people of one sample after `after` (by id) with an address
/// and no invitation message yet, who have not opted out, oldest first.
/// The query walks the sample's index from the last id and checks the
/// outbox's unique index (`NOT EXISTS`), so queueing a large sample a
/// batch at a time costs each batch only its own rows.
pub fn uninvited_in(conn: &mut DbConn, sample_id: i64, after: i64, limit: i64) -> Result<Vec<i64>, StorageError> {
    use diesel::dsl::{exists, not};
    let invited = outbox::table.filter(outbox::invitee_id.eq(invitees::id)).filter(outbox::kind.eq(Kind::Invitation));
    Ok(invitees::table
        .filter(invitees::sample_id.eq(sample_id))
        .filter(invitees::id.gt(after))
        .filter(invitees::email.is_not_null())
        .filter(invitees::preferred_channel.eq(Contact::Email))
        .filter(invitees::opted_out_at.is_null())
        .filter(not(exists(invited)))
        .order(invitees::id)
        .limit(limit)
        .select(invitees::id)
        .load(conn)?)
}

/// Marks every row left in `sending` as `uncertain`. Only call it while
/// holding the sender lock: then no live process owns those rows.
pub fn recover_abandoned(conn: &mut DbConn, at: NaiveDateTime) -> Result<usize, StorageError> {
    Ok(diesel::update(outbox::table.filter(outbox::status.eq(Status::Sending)))
        .set((
            outbox::status.eq(Status::Uncertain),
            outbox::finished_at.eq(at),
            outbox::error
                .eq("sending stopped after the message was handed to the mail server, before its answer was recorded"),
        ))
        .execute(conn)?)
}

/// The next queued rows due by `now`, oldest first, optionally of one survey.
pub fn due(
    conn: &mut DbConn,
    survey_id: Option<&str>,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<i64>, StorageError> {
    let mut query = outbox::table
        .filter(outbox::status.eq(Status::Queued))
        .filter(outbox::not_before.le(now))
        .select(outbox::id)
        .into_boxed();
    if let Some(survey) = survey_id {
        query = query.filter(outbox::survey_id.eq(survey.to_string()));
    }
    Ok(query.order(outbox::id).limit(limit).load(conn)?)
}

/// Whether any row of the survey (or of any survey) waits in `queued`,
/// due now or later.
pub fn has_queued(conn: &mut DbConn, survey_id: Option<&str>) -> Result<bool, StorageError> {
    let mut query = outbox::table.filter(outbox::status.eq(Status::Queued)).select(outbox::id).into_boxed();
    if let Some(survey) = survey_id {
        query = query.filter(outbox::survey_id.eq(survey.to_string()));
    }
    Ok(!query.limit(1).load::<i64>(conn)?.is_empty())
}

/// A row taken for sending, with what its message is built from.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub message: Message,
    pub invitee: Invitee,
    pub invitation: Invitation,
}

/// What claiming a row found.
#[derive(Debug)]
pub enum Claim {
    /// Now `sending`, committed: hand it to the mail server.
    Send(Box<Claimed>),
    /// Cancelled instead, for this reason (opted out, already answered...).
    Cancelled(&'static str),
    /// Another sender took it first, or it is no longer queued.
    Gone,
}

/// Takes one queued row for sending, in one transaction: a row whose
/// invitee has opted out, has no address any more, or (for a reminder)
/// has already answered is cancelled instead.
pub fn claim(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> Result<Claim, StorageError> {
    write_transaction(conn, |conn| {
        let Some(message) = outbox::table
            .find(id)
            .filter(outbox::status.eq(Status::Queued))
            .select(Message::as_select())
            .get_result(conn)
            .optional()?
        else {
            return Ok(Claim::Gone);
        };
        let (invitee, invitation): (Invitee, Invitation) = invitees::table
            .inner_join(invitation_tokens::table)
            .filter(invitees::id.eq(message.invitee_id))
            .select((Invitee::as_select(), Invitation::as_select()))
            .get_result(conn)?;
        let answered = |conn: &mut DbConn| -> Result<bool, StorageError> {
            Ok(diesel::select(diesel::dsl::exists(
                responses::table
                    .filter(responses::invitation_id.eq(invitation.id))
                    .filter(responses::status.eq(ResponseStatus::Submitted)),
            ))
            .get_result(conn)?)
        };
        let reason = if invitee.opted_out_at.is_some() {
            Some("opted out")
        } else if invitee.email.is_none() {
            Some("the address has been erased")
        } else if message.kind == Kind::Reminder && answered(conn)? {
            Some("already answered")
        } else {
            None
        };
        if let Some(reason) = reason {
            diesel::update(outbox::table.find(id))
                .set((outbox::status.eq(Status::Cancelled), outbox::finished_at.eq(now), outbox::error.eq(reason)))
                .execute(conn)?;
            return Ok(Claim::Cancelled(reason));
        }
        diesel::update(outbox::table.find(id))
            .set((
                outbox::status.eq(Status::Sending),
                outbox::sending_at.eq(now),
                outbox::attempts.eq(message.attempts + 1),
            ))
            .execute(conn)?;
        let message = Message { status: Status::Sending, attempts: message.attempts + 1, ..message };
        Ok(Claim::Send(Box::new(Claimed { message, invitee, invitation })))
    })
}

/// Cancels a row that has not gone to the mail server (`queued` or
/// `sending`), e.g. because the survey closed or its link cannot be built.
pub fn cancel(conn: &mut DbConn, id: i64, reason: &str, at: NaiveDateTime) -> Result<(), StorageError> {
    diesel::update(outbox::table.find(id).filter(outbox::status.eq_any([Status::Queued, Status::Sending])))
        .set((outbox::status.eq(Status::Cancelled), outbox::finished_at.eq(at), outbox::error.eq(reason)))
        .execute(conn)?;
    Ok(())
}

fn finish(
    conn: &mut DbConn,
    id: i64,
    status: Status,
    reply: Option<&str>,
    error: Option<&str>,
    at: NaiveDateTime,
) -> Result<bool, StorageError> {
    Ok(diesel::update(outbox::table.find(id).filter(outbox::status.eq(Status::Sending)))
        .set((
            outbox::status.eq(status),
            outbox::finished_at.eq(at),
            outbox::smtp_reply.eq(reply),
            outbox::error.eq(error),
        ))
        .execute(conn)?
        == 1)
}

/// The mail server accepted the message.
pub fn mark_sent(conn: &mut DbConn, id: i64, reply: &str, at: NaiveDateTime) -> Result<bool, StorageError> {
    finish(conn, id, Status::Sent, Some(reply), None, at)
}

/// The mail server refused the message for good (or after the last try).
pub fn mark_failed(conn: &mut DbConn, id: i64, error: &str, at: NaiveDateTime) -> Result<bool, StorageError> {
    finish(conn, id, Status::Failed, None, Some(error), at)
}

/// The outcome is unknown: the connection broke while the message was
/// being handed over.
pub fn mark_uncertain(conn: &mut DbConn, id: i64, error: &str, at: NaiveDateTime) -> Result<bool, StorageError> {
    finish(conn, id, Status::Uncertain, None, Some(error), at)
}

/// The mail server asked to try later (a 4xx reply): queued again for
/// `not_before`.
pub fn retry_later(conn: &mut DbConn, id: i64, error: &str, not_before: NaiveDateTime) -> Result<bool, StorageError> {
    Ok(diesel::update(outbox::table.find(id).filter(outbox::status.eq(Status::Sending)))
        .set((outbox::status.eq(Status::Queued), outbox::not_before.eq(not_before), outbox::error.eq(error)))
        .execute(conn)?
        == 1)
}

/// The message never reached the mail server (it could not be reached, or
/// the survey is not open yet): queued again for `not_before`, the attempt
/// not counted.
pub fn put_back(conn: &mut DbConn, id: i64, reason: &str, not_before: NaiveDateTime) -> Result<bool, StorageError> {
    Ok(diesel::update(outbox::table.find(id).filter(outbox::status.eq(Status::Sending)))
        .set((
            outbox::status.eq(Status::Queued),
            outbox::attempts.eq(outbox::attempts - 1),
            outbox::not_before.eq(not_before),
            outbox::error.eq(reason),
        ))
        .execute(conn)?
        == 1)
}

/// Queues a survey's uncertain messages again, because a lead decided to.
pub fn requeue_uncertain(conn: &mut DbConn, survey_id: &str, at: NaiveDateTime) -> Result<usize, StorageError> {
    Ok(diesel::update(
        outbox::table.filter(outbox::survey_id.eq(survey_id)).filter(outbox::status.eq(Status::Uncertain)),
    )
    .set((outbox::status.eq(Status::Queued), outbox::not_before.eq(at), outbox::finished_at.eq(None::<NaiveDateTime>)))
    .execute(conn)?)
}

/// Every survey's messages counted by kind and status: the metrics page's
/// outbox gauges.
pub fn counts_everywhere(conn: &mut DbConn) -> Result<Vec<(Kind, Status, i64)>, StorageError> {
    Ok(outbox::table
        .group_by((outbox::kind, outbox::status))
        .select((outbox::kind, outbox::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Messages of a survey counted by kind and status.
pub fn counts(conn: &mut DbConn, survey_id: &str) -> Result<BTreeMap<(Kind, Status), i64>, StorageError> {
    let rows: Vec<(Kind, Status, i64)> = outbox::table
        .filter(outbox::survey_id.eq(survey_id))
        .group_by((outbox::kind, outbox::status))
        .select((outbox::kind, outbox::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().map(|(k, s, n)| ((k, s), n)).collect())
}

/// A message that did not go: which address, which message, why.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Failure {
    pub email: Option<String>,
    pub line: i32,
    pub kind: Kind,
    pub round: i32,
    pub status: Status,
    pub error: Option<String>,
}

/// A survey's failed and uncertain messages, for the lead to act on.
pub fn failures(conn: &mut DbConn, survey_id: &str) -> Result<Vec<Failure>, StorageError> {
    Ok(outbox::table
        .inner_join(invitees::table)
        .filter(outbox::survey_id.eq(survey_id))
        .filter(outbox::status.eq_any([Status::Failed, Status::Uncertain]))
        .order(outbox::id)
        .select((invitees::email, invitees::line, outbox::kind, outbox::round, outbox::status, outbox::error))
        .load(conn)?)
}

/// One message to an invitee, as deciding a reminder sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFact {
    pub kind: Kind,
    pub round: i32,
    pub status: Status,
    /// When it went (or was last handed over).
    pub at: Option<NaiveDateTime>,
}

/// What deciding a reminder needs about one invitee.
#[derive(Debug, Clone, PartialEq)]
pub struct ReminderFacts {
    pub invitee_id: i64,
    pub has_email: bool,
    pub opted_out: bool,
    pub answered: bool,
    pub messages: Vec<MessageFact>,
}

#[derive(Queryable)]
struct MessageRow {
    invitee_id: i64,
    kind: Kind,
    round: i32,
    status: Status,
    finished_at: Option<NaiveDateTime>,
    sending_at: Option<NaiveDateTime>,
}

/// The facts for every invitee of a survey, in invitee order.
pub fn reminder_facts(conn: &mut DbConn, survey_id: &str) -> Result<Vec<ReminderFacts>, StorageError> {
    let people: Vec<(i64, i64, bool, Option<NaiveDateTime>)> = invitees::table
        .filter(invitees::survey_id.eq(survey_id))
        .filter(invitees::preferred_channel.eq(Contact::Email))
        .order(invitees::id)
        .select((invitees::id, invitees::invitation_id, invitees::email.is_not_null(), invitees::opted_out_at))
        .load(conn)?;
    let answered: std::collections::BTreeSet<i64> = responses::table
        .inner_join(invitees::table.on(invitees::invitation_id.nullable().eq(responses::invitation_id)))
        .filter(invitees::survey_id.eq(survey_id))
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .select(invitees::id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    let mut messages: BTreeMap<i64, Vec<MessageFact>> = BTreeMap::new();
    let rows: Vec<MessageRow> = outbox::table
        .filter(outbox::survey_id.eq(survey_id))
        .select((
            outbox::invitee_id,
            outbox::kind,
            outbox::round,
            outbox::status,
            outbox::finished_at,
            outbox::sending_at,
        ))
        .load(conn)?;
    for r in rows {
        let fact = MessageFact { kind: r.kind, round: r.round, status: r.status, at: r.finished_at.or(r.sending_at) };
        messages.entry(r.invitee_id).or_default().push(fact);
    }
    Ok(people
        .into_iter()
        .map(|(id, _, has_email, opted_out)| ReminderFacts {
            invitee_id: id,
            has_email,
            opted_out: opted_out.is_some(),
            answered: answered.contains(&id),
            messages: messages.remove(&id).unwrap_or_default(),
        })
        .collect())
}
