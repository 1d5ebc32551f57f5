//! Opting out of a survey: from the link in each email (or the mail
//! program's one-click unsubscribe), or by post or phone, keyed by staff
//! against the serial or the person. The contact is kept only as a keyed
//! hash in the survey's opt-out list, which outlives the erasure of
//! addresses, so the same person in a later sample is never contacted.

use chrono::NaiveDateTime;

use crate::storage::invitations::{self, Invitation};
use crate::storage::samples::{self, Invitee};
use crate::storage::{DbConn, StorageError, write_transaction};
use crate::tokens;

/// The invitee an emailed link belongs to, with their invitation.
pub fn find(conn: &mut DbConn, token: &str, at: NaiveDateTime) -> Result<Option<(Invitee, Invitation)>, StorageError> {
    let Some(invitation) = invitations::by_hash(conn, &tokens::hash(token), at)? else { return Ok(None) };
    Ok(samples::by_invitation(conn, invitation.id)?.map(|invitee| (invitee, invitation)))
}

/// Records the opt-out for the link's invitee; `None` for a link that is
/// not an emailed invitation. `Some(false)`: they had opted out before.
pub fn opt_out(conn: &mut DbConn, token: &str, at: NaiveDateTime) -> Result<Option<bool>, StorageError> {
    write_transaction(conn, |conn| {
        let Some((invitee, _)) = find(conn, token, at)? else { return Ok(None) };
        samples::opt_out(conn, &invitee, at).map(Some)
    })
}

/// How staff name someone who asked, by post or phone, not to be contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// The serial on their letter or questionnaire.
    Serial(String),
    /// Their email address, within one survey.
    Email { survey_id: String, email: String },
    /// Their first address line and postcode, within one survey.
    Postal { survey_id: String, first_line: String, postcode: String },
}

/// How the request reached the team, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Heard {
    Post,
    Phone,
    Email,
    /// A questionnaire returned with nothing filled in: a refusal.
    BlankForm,
}

impl Heard {
    /// How it came, in words: "asked {words}".
    pub fn words(self) -> &'static str {
        match self {
            Heard::Post => "by post",
            Heard::Phone => "by phone",
            Heard::Email => "by email to the survey team",
            Heard::BlankForm => "by returning a blank questionnaire",
        }
    }
}

/// The sampled person staff named, if one is in a sample.
pub fn find_named(conn: &mut DbConn, named: &Named) -> Result<Option<Invitee>, StorageError> {
    let (survey_id, key) = match named {
        Named::Serial(typed) => return samples::by_short_code_hash(conn, &tokens::short_code_hash(typed)),
        Named::Email { survey_id, email } => (survey_id, email.clone()),
        Named::Postal { survey_id, first_line, postcode } => {
            (survey_id, super::sample::postal_key(first_line, postcode))
        }
    };
    let hashes = super::keys::EmailKeys::load(conn)?.hashes(&key);
    samples::by_contact_keys(conn, survey_id, &hashes)
}

/// Records an opt-out staff keyed for `invitee_id`: every channel stops
/// (queued emails cancelled; no letter, questionnaire or reminder is
/// printed or sent to them again; a later sample leaves them out), and the
/// audit log says who keyed it and how it came. `None`: no such person;
/// `Some(false)`: they had opted out before.
pub fn record_for_staff(
    conn: &mut DbConn,
    invitee_id: i64,
    heard: Heard,
    (actor, client_ip): (&crate::audit::Actor, Option<&str>),
    at: NaiveDateTime,
) -> Result<Option<bool>, StorageError> {
    use crate::audit::{Action, Event};
    write_transaction(conn, |conn| {
        let Some(invitee) = samples::by_id(conn, invitee_id)? else { return Ok(None) };
        let newly = samples::opt_out(conn, &invitee, at)?;
        if newly {
            let event = Event::new(Action::OptOutKeyed).target(invitee.survey_id.clone()).detail(format!(
                "sample {} line {}, asked {}",
                invitee.sample_id,
                invitee.line,
                heard.words()
            ));
            crate::audit::record(conn, actor, &event, client_ip)?;
        }
        Ok(Some(newly))
    })
}
