//! Putting messages in the outbox: invitations for everyone imported and
//! not yet invited, reminders for exactly those who should get one, and
//! uncertain messages again when a lead decides so. Each is one
//! transaction with its audit entry; sending is `send`'s job.

use chrono::{Duration, NaiveDateTime};

use crate::accounts::audit::{self, Action, Actor, Event};
use crate::storage::outbox::{self, Kind, NewMessage, ReminderFacts, Status};
use crate::storage::{DbConn, StorageError, write_transaction};

/// Queues an invitation for every invitee of the survey who has none yet
/// (and has an address and has not opted out). Returns how many.
pub fn invitations(
    conn: &mut DbConn,
    survey_id: &str,
    actor: &Actor,
    client_ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<usize, StorageError> {
    write_transaction(conn, |conn| {
        let people = outbox::uninvited(conn, survey_id)?;
        let messages: Vec<NewMessage> =
            people.iter().map(|id| NewMessage::queued(*id, survey_id, Kind::Invitation, 0, &actor.name, at)).collect();
        let added = outbox::enqueue(conn, &messages)?;
        if added > 0 {
            let event = Event::new(Action::InvitationsQueued)
                .target(survey_id.to_string())
                .detail(format!("{added} invitation(s) queued"));
            audit::record(conn, actor, &event, client_ip)?;
        }
        Ok(added)
    })
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
    let is = |s: &str, status: Status| s == status.as_str();
    for f in facts {
        let invitation = f.messages.iter().find(|m| m.kind == Kind::Invitation.as_str());
        let reminders: Vec<_> = f.messages.iter().filter(|m| m.kind == Kind::Reminder.as_str()).collect();
        // Answering or opting out erases the address too: those are told
        // apart first, so "erased" counts only what retention erased.
        if f.opted_out {
            tally.opted_out += 1;
        } else if f.answered {
            tally.answered += 1;
        } else if !f.has_email {
            tally.erased += 1;
        } else if f.messages.iter().any(|m| is(&m.status, Status::Failed)) {
            tally.failed_address += 1;
        } else if !invitation.is_some_and(|m| is(&m.status, Status::Sent) || is(&m.status, Status::Uncertain)) {
            tally.not_invited += 1;
        } else if reminders.iter().any(|m| {
            is(&m.status, Status::Queued) || is(&m.status, Status::Sending) || is(&m.status, Status::Uncertain)
        }) {
            tally.pending += 1;
        } else {
            let last = f
                .messages
                .iter()
                .filter(|m| is(&m.status, Status::Sent) || is(&m.status, Status::Uncertain))
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
    write_transaction(conn, |conn| {
        let facts = outbox::reminder_facts(conn, survey_id)?;
        let (due, mut tally) = due_reminders(&facts, at, Duration::days(i64::from(delay_days)));
        let messages: Vec<NewMessage> = due
            .iter()
            .map(|(invitee, round)| NewMessage::queued(*invitee, survey_id, Kind::Reminder, *round, &actor.name, at))
            .collect();
        tally.queued = outbox::enqueue(conn, &messages)?;
        let event = Event::new(Action::RemindersQueued).target(survey_id.to_string()).detail(tally.summary());
        audit::record(conn, actor, &event, client_ip)?;
        Ok(tally)
    })
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
                    kind: k.to_string(),
                    round: *r,
                    status: s.to_string(),
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
