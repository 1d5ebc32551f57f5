//! Putting messages in the outbox: invitations for everyone imported and
//! not yet invited, reminders for exactly those who should get one, and
//! uncertain messages again when a lead decides so. Invitations and
//! reminders are queued a batch per transaction, so a large sample never
//! holds the writer; the unique (invitee, kind, round) index makes a run
//! stopped part way, or two at once, safe to repeat. Sending is `send`'s
//! job.

use chrono::{Duration, NaiveDateTime};

use crate::audit::{self, Action, Actor, Event};
use crate::storage::outbox::{self, Kind, NewMessage, ReminderFacts, Status};
use crate::storage::{Db, DbConn, StorageError, write_transaction};

/// Messages queued per transaction: a few milliseconds of writing, so a
/// respondent's save waiting behind it barely notices, even when a whole
/// 500,000-line sample is queued.
pub const BATCH: i64 = 500;

/// What the command line waits between its batches: SQLite's lock is not
/// fair, so without a pause the command takes it again before the server's
/// waiting writer wakes up.
const BETWEEN_BATCHES: std::time::Duration = std::time::Duration::from_millis(3);

/// Queues invitations for up to [`BATCH`] people of one sample after
/// `after` (by id) who have none yet (and have an address and have not
/// opted out), oldest first, in one transaction. Returns the last id looked
/// at (None once the sample is done) and how many were queued.
pub fn invitations_batch(
    conn: &mut DbConn,
    survey_id: &str,
    sample_id: i64,
    after: i64,
    actor: &Actor,
    at: NaiveDateTime,
) -> Result<(Option<i64>, usize), StorageError> {
    write_transaction(conn, |conn| {
        let people = outbox::uninvited_in(conn, sample_id, after, BATCH)?;
        let messages: Vec<NewMessage> =
            people.iter().map(|id| NewMessage::queued(*id, survey_id, Kind::Invitation, 0, &actor.name, at)).collect();
        Ok((people.last().copied(), outbox::enqueue(conn, &messages)?))
    })
}

/// The audit entry for invitations queued (none when nothing was).
fn record_invitations(
    conn: &mut DbConn,
    survey_id: &str,
    added: usize,
    actor: &Actor,
    client_ip: Option<&str>,
) -> Result<(), StorageError> {
    if added == 0 {
        return Ok(());
    }
    let event = Event::new(Action::InvitationsQueued)
        .target(survey_id.to_string())
        .detail(format!("{added} invitation(s) queued"));
    audit::record(conn, actor, &event, client_ip)
}

/// Queues an invitation for every invitee of the survey who has none yet,
/// a batch per transaction (the command line's way). Returns how many.
pub fn invitations(
    conn: &mut DbConn,
    survey_id: &str,
    actor: &Actor,
    client_ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<usize, StorageError> {
    let mut added = 0;
    for sample in outbox::complete_samples(conn, survey_id)? {
        let mut after = 0;
        while let (Some(last), queued) = invitations_batch(conn, survey_id, sample, after, actor, at)? {
            added += queued;
            after = last;
            std::thread::sleep(BETWEEN_BATCHES);
        }
    }
    record_invitations(conn, survey_id, added, actor, client_ip)?;
    Ok(added)
}

/// [`invitations`] through the server's writer: each batch is one write
/// among respondents' saves.
pub async fn invitations_through(
    db: &Db,
    survey_id: &str,
    actor: &Actor,
    client_ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<usize, StorageError> {
    let id = survey_id.to_string();
    let samples = db.run(move |conn| outbox::complete_samples(conn, &id)).await?;
    let mut added = 0;
    for sample in samples {
        let mut after = 0;
        loop {
            let (id, who) = (survey_id.to_string(), actor.clone());
            let (last, queued) = db.write(move |conn| invitations_batch(conn, &id, sample, after, &who, at)).await?;
            added += queued;
            match last {
                Some(last) => after = last,
                None => break,
            }
        }
    }
    let (id, who, ip) = (survey_id.to_string(), actor.clone(), client_ip.map(str::to_string));
    db.write(move |conn| record_invitations(conn, &id, added, &who, ip.as_deref())).await?;
    Ok(added)
}

/// Who got a reminder, and why the others did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderTally {
    pub queued: usize,
    pub answered: usize,
    pub opted_out: usize,
    /// Invited (or last reminded) less than the delay ago.
    pub too_soon: usize,
    /// Their invitation has not gone (yet), or did not.
    pub not_invited: usize,
    /// A reminder is already waiting, or its outcome is uncertain.
    pub pending: usize,
    /// The mail server refused their address.
    pub failed_address: usize,
    /// Their address has been erased.
    pub erased: usize,
}

impl ReminderTally {
    pub fn summary(&self) -> String {
        format!(
            "{} reminder(s) queued; not reminded: {} answered, {} opted out, {} contacted less than the delay ago, \
             {} not invited yet, {} with a reminder pending, {} refused addresses, {} erased",
            self.queued,
            self.answered,
            self.opted_out,
            self.too_soon,
            self.not_invited,
            self.pending,
            self.failed_address,
            self.erased
        )
    }
}

/// The reminders due at `now`: one for each invitee who has neither
/// answered nor opted out, whose invitation went (or may have gone) and
/// who was last contacted at least `delay` ago. Returns (invitee, round).
pub fn due_reminders(facts: &[ReminderFacts], now: NaiveDateTime, delay: Duration) -> (Vec<(i64, i32)>, ReminderTally) {
    let mut tally = ReminderTally::default();
    let mut due = Vec::new();
    for f in facts {
        let invitation = f.messages.iter().find(|m| m.kind == Kind::Invitation);
        let reminders: Vec<_> = f.messages.iter().filter(|m| m.kind == Kind::Reminder).collect();
        // Answering or opting out erases the address too: those are told
        // apart first, so "erased" counts only what retention erased.
        if f.opted_out {
            tally.opted_out += 1;
        } else if f.answered {
            tally.answered += 1;
        } else if !f.has_email {
            tally.erased += 1;
        } else if f.messages.iter().any(|m| m.status == Status::Failed) {
            tally.failed_address += 1;
        } else if !invitation.is_some_and(|m| m.status == Status::Sent || m.status == Status::Uncertain) {
            tally.not_invited += 1;
        } else if reminders
            .iter()
            .any(|m| m.status == Status::Queued || m.status == Status::Sending || m.status == Status::Uncertain)
        {
            tally.pending += 1;
        } else {
            let last = f
                .messages
                .iter()
                .filter(|m| m.status == Status::Sent || m.status == Status::Uncertain)
                .filter_map(|m| m.at)
                .max();
            if last.is_some_and(|last| now - last < delay) {
                tally.too_soon += 1;
            } else {
                let round = reminders.iter().map(|m| m.round).max().unwrap_or(0) + 1;
                due.push((f.invitee_id, round));
                tally.queued += 1;
            }
        }
    }
    (due, tally)
}

/// Queues the reminders due now (see `due_reminders`), with an audit entry.
pub fn reminders(
    conn: &mut DbConn,
    survey_id: &str,
    delay_days: u32,
    actor: &Actor,
    client_ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<ReminderTally, StorageError> {
    let (messages, mut tally) = due_messages(conn, survey_id, delay_days, actor, at)?;
    tally.queued = 0;
    for batch in messages.chunks(BATCH as usize) {
        tally.queued += write_transaction(conn, |conn| outbox::enqueue(conn, batch))?;
        std::thread::sleep(BETWEEN_BATCHES);
    }
    record_reminders(conn, survey_id, &tally, actor, client_ip)?;
    Ok(tally)
}

/// [`reminders`] through the server's writer: each batch is one write
/// among respondents' saves.
pub async fn reminders_through(
    db: &Db,
    survey_id: &str,
    delay_days: u32,
    actor: &Actor,
    client_ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<ReminderTally, StorageError> {
    let (id, who) = (survey_id.to_string(), actor.clone());
    let (messages, mut tally) = db.run(move |conn| due_messages(conn, &id, delay_days, &who, at)).await?;
    let messages = std::sync::Arc::new(messages);
    tally.queued = 0;
    for start in (0..messages.len()).step_by(BATCH as usize) {
        let batch = messages.clone();
        let end = (start + BATCH as usize).min(batch.len());
        tally.queued += db.write(move |conn| outbox::enqueue(conn, &batch[start..end])).await?;
    }
    let (id, who, ip) = (survey_id.to_string(), actor.clone(), client_ip.map(str::to_string));
    let recorded = tally.clone();
    db.write(move |conn| record_reminders(conn, &id, &recorded, &who, ip.as_deref())).await?;
    Ok(tally)
}

/// The reminders due now, and why the others are not (a read: the queueing
/// is idempotent, one reminder per person and round).
fn due_messages(
    conn: &mut DbConn,
    survey_id: &str,
    delay_days: u32,
    actor: &Actor,
    at: NaiveDateTime,
) -> Result<(Vec<NewMessage>, ReminderTally), StorageError> {
    let facts = outbox::reminder_facts(conn, survey_id)?;
    // The tally counts the due as queued; the caller counts what is.
    let (due, tally) = due_reminders(&facts, at, Duration::days(i64::from(delay_days)));
    let messages = due
        .iter()
        .map(|(invitee, round)| NewMessage::queued(*invitee, survey_id, Kind::Reminder, *round, &actor.name, at))
        .collect();
    Ok((messages, tally))
}

fn record_reminders(
    conn: &mut DbConn,
    survey_id: &str,
    tally: &ReminderTally,
    actor: &Actor,
    client_ip: Option<&str>,
) -> Result<(), StorageError> {
    let event = Event::new(Action::RemindersQueued).target(survey_id.to_string()).detail(tally.summary());
    audit::record(conn, actor, &event, client_ip)
}

/// Queues a survey's uncertain messages again: a lead has decided that
/// a possible duplicate is better than a possibly missing message.
pub fn uncertain_again(
    conn: &mut DbConn,
    survey_id: &str,
    actor: &Actor,
    client_ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<usize, StorageError> {
    write_transaction(conn, |conn| {
        let n = outbox::requeue_uncertain(conn, survey_id, at)?;
        if n > 0 {
            let event = Event::new(Action::UncertainRequeued)
                .target(survey_id.to_string())
                .detail(format!("{n} uncertain message(s) queued again"));
            audit::record(conn, actor, &event, client_ip)?;
        }
        Ok(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::outbox::MessageFact;

    fn at(day: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 3, day).unwrap().and_hms_opt(9, 0, 0).unwrap()
    }

    fn person(id: i64, messages: &[(&str, i32, &str, u32)]) -> ReminderFacts {
        ReminderFacts {
            invitee_id: id,
            has_email: true,
            opted_out: false,
            answered: false,
            messages: messages
                .iter()
                .map(|(k, r, s, d)| MessageFact {
                    kind: k.parse().unwrap(),
                    round: *r,
                    status: s.parse().unwrap(),
                    at: Some(at(*d)),
                })
                .collect(),
        }
    }

    #[test]
    fn only_non_responders_past_the_delay_are_reminded() {
        let week = Duration::days(7);
        let facts = vec![
            person(1, &[("invitation", 0, "sent", 1)]),
            ReminderFacts { answered: true, ..person(2, &[("invitation", 0, "sent", 1)]) },
            ReminderFacts { opted_out: true, ..person(3, &[("invitation", 0, "sent", 1)]) },
            person(4, &[("invitation", 0, "sent", 8)]),
            person(5, &[("invitation", 0, "queued", 1)]),
            person(6, &[("invitation", 0, "failed", 1)]),
            person(7, &[("invitation", 0, "sent", 1), ("reminder", 1, "sent", 2)]),
            person(8, &[("invitation", 0, "sent", 1), ("reminder", 1, "queued", 9)]),
            person(9, &[("invitation", 0, "uncertain", 1)]),
            ReminderFacts { has_email: false, ..person(10, &[("invitation", 0, "sent", 1)]) },
            person(11, &[("invitation", 0, "sent", 1), ("reminder", 1, "sent", 5)]),
        ];
        let (due, tally) = due_reminders(&facts, at(10), week);
        assert_eq!(due, vec![(1, 1), (7, 2), (9, 1)]);
        assert_eq!(
            tally,
            ReminderTally {
                queued: 3,
                answered: 1,
                opted_out: 1,
                too_soon: 2,
                not_invited: 1,
                pending: 1,
                failed_address: 1,
                erased: 1
            }
        );
        let (due, _) = due_reminders(&facts, at(10), Duration::zero());
        assert!(due.contains(&(4, 1)) && due.contains(&(11, 2)), "no delay: everyone eligible");
    }
}
