//! Postal contact: the sampled people a letter or a paper questionnaire is
//! printed for, and the letters printed, one row per person, kind and round
//! (the outbox's `kind` and `round`), so reminder letters follow the same
//! rules as reminder emails (`invitations::queue::due_reminders`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::outbox::{Kind, MessageFact, ReminderFacts, Status};
use super::responses::ResponseStatus;
use super::samples::Contact;
use super::schema::{invitation_tokens, invitees, letters, responses};
use super::{DbConn, StorageError};

/// Someone of a sample, as printing sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Addressee {
    pub invitee_id: i64,
    pub invitation_id: i64,
    pub survey_id: String,
    pub seed: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub preferred_channel: Contact,
    pub opted_out: bool,
    /// A submitted response on their invitation.
    pub answered: bool,
    pub voice: Option<String>,
    pub language: Option<String>,
    pub ics_code: Option<String>,
}

type Row = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Contact,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Everyone of a sample, in the order of the file.
pub fn sample_people(conn: &mut DbConn, sample_id: i64) -> Result<Vec<Addressee>, StorageError> {
    let rows: Vec<Row> = invitees::table
        .inner_join(invitation_tokens::table)
        .filter(invitees::sample_id.eq(sample_id))
        .order(invitees::id)
        .select((
            invitees::id,
            invitees::invitation_id,
            invitees::survey_id,
            invitees::link_nonce,
            invitees::address,
            invitees::postcode,
            invitees::preferred_channel,
            invitees::opted_out_at,
            invitation_tokens::voice,
            invitation_tokens::language,
            invitation_tokens::ics_code,
        ))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let answered: BTreeSet<i64> = responses::table
        .filter(responses::invitation_id.eq_any(&ids))
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .select(responses::invitation_id.assume_not_null())
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(id, invitation_id, survey_id, seed, address, postcode, channel, opted, voice, language, ics)| {
            Addressee {
                invitee_id: id,
                invitation_id,
                survey_id,
                seed,
                address,
                postcode,
                preferred_channel: channel,
                opted_out: opted.is_some(),
                answered: answered.contains(&invitation_id),
                voice,
                language,
                ics_code: ics,
            }
        })
        .collect())
}

/// The letter facts of the sample's people written to by letter, for
/// deciding reminder letters as reminder emails are decided: a printed
/// letter counts as sent when it was printed.
pub fn reminder_facts(conn: &mut DbConn, people: &[Addressee]) -> Result<Vec<ReminderFacts>, StorageError> {
    let ids: Vec<i64> = people.iter().map(|p| p.invitee_id).collect();
    let printed: Vec<(i64, Kind, i32, NaiveDateTime)> = letters::table
        .filter(letters::invitee_id.eq_any(&ids))
        .select((letters::invitee_id, letters::kind, letters::round, letters::printed_at))
        .load(conn)?;
    let mut by_person: BTreeMap<i64, Vec<MessageFact>> = BTreeMap::new();
    for (id, kind, round, at) in printed {
        by_person.entry(id).or_default().push(MessageFact { kind, round, status: Status::Sent, at: Some(at) });
    }
    Ok(people
        .iter()
        .map(|p| ReminderFacts {
            invitee_id: p.invitee_id,
            has_email: p.address.is_some() && p.seed.is_some(),
            opted_out: p.opted_out,
            answered: p.answered,
            messages: by_person.remove(&p.invitee_id).unwrap_or_default(),
        })
        .collect())
}

/// Records letters as printed; one already recorded is left as it was.
pub fn record(
    conn: &mut DbConn,
    survey_id: &str,
    printed: &[(i64, Kind, i32)],
    by: &str,
    at: NaiveDateTime,
) -> Result<usize, StorageError> {
    let mut added = 0;
    for (invitee_id, kind, round) in printed {
        let row = (
            letters::invitee_id.eq(invitee_id),
            letters::survey_id.eq(survey_id),
            letters::kind.eq(kind),
            letters::round.eq(round),
            letters::printed_at.eq(at),
            letters::printed_by.eq(by),
        );
        added += crate::per_backend!(conn => {
            diesel::insert_into(letters::table).values(row).on_conflict_do_nothing().execute(conn)?
        });
    }
    Ok(added)
}
