//! Counts for survey leads: responses per version and per ICS, and how
//! many of a sample were invited and answered. Counts only: no query here
//! returns who answered or what.

use std::collections::BTreeMap;

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::outbox::{Kind, Status};
use super::responses::{Channel, Mode, ResponseStatus};
use super::samples::Contact;
use super::schema::{invitation_tokens, invitees, outbox, responses, survey_versions};
use super::{DbConn, StorageError};

/// Submitted and unfinished responses of one version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionCounts {
    pub submitted: i64,
    pub in_progress: i64,
}

/// Per version id of a survey.
pub fn by_version(conn: &mut DbConn, survey_id: &str) -> Result<BTreeMap<i64, VersionCounts>, StorageError> {
    let rows: Vec<(i64, ResponseStatus, i64)> = responses::table
        .inner_join(survey_versions::table)
        .filter(survey_versions::survey_id.eq(survey_id))
        .filter(responses::duplicate_of.is_null())
        .group_by((responses::survey_version_id, responses::status))
        .select((responses::survey_version_id, responses::status, count_star()))
        .load(conn)?;
    let mut out: BTreeMap<i64, VersionCounts> = BTreeMap::new();
    for (version, status, n) in rows {
        let entry = out.entry(version).or_default();
        match status {
            ResponseStatus::Submitted => entry.submitted += n,
            ResponseStatus::InProgress => entry.in_progress += n,
        }
    }
    Ok(out)
}

/// One ICS's line: submitted responses by any route, and for the survey's
/// samples how many were invited (the mail server took the invitation, or
/// may have) and how many of those answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IcsCounts {
    pub submitted: i64,
    pub invited: i64,
    pub invited_answered: i64,
}

impl IcsCounts {
    /// Answered as a share of invited, where anyone was invited.
    pub fn response_rate(&self) -> Option<f64> {
        (self.invited > 0).then(|| self.invited_answered as f64 / self.invited as f64)
    }
}

/// Per ICS code (`None`: not known yet) for a survey, all versions together.
pub fn by_ics(conn: &mut DbConn, survey_id: &str) -> Result<BTreeMap<Option<String>, IcsCounts>, StorageError> {
    let mut out: BTreeMap<Option<String>, IcsCounts> = BTreeMap::new();
    let submitted: Vec<(Option<String>, i64)> = responses::table
        .inner_join(survey_versions::table)
        .filter(survey_versions::survey_id.eq(survey_id))
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .filter(responses::duplicate_of.is_null())
        .group_by(responses::ics_code)
        .select((responses::ics_code, count_star()))
        .load(conn)?;
    for (ics, n) in submitted {
        out.entry(ics).or_default().submitted = n;
    }
    let reached = outbox::table
        .filter(outbox::survey_id.eq(survey_id))
        .filter(outbox::kind.eq(Kind::Invitation))
        .filter(outbox::status.eq_any([Status::Sent, Status::Uncertain]))
        .select(outbox::invitee_id);
    let invited: Vec<(Option<String>, i64)> = invitees::table
        .inner_join(invitation_tokens::table)
        .filter(invitees::survey_id.eq(survey_id))
        .filter(invitees::id.eq_any(reached))
        .group_by(invitation_tokens::ics_code)
        .select((invitation_tokens::ics_code, count_star()))
        .load(conn)?;
    for (ics, n) in invited {
        out.entry(ics).or_default().invited = n;
    }
    let reached = outbox::table
        .filter(outbox::survey_id.eq(survey_id))
        .filter(outbox::kind.eq(Kind::Invitation))
        .filter(outbox::status.eq_any([Status::Sent, Status::Uncertain]))
        .select(outbox::invitee_id);
    let invited_tokens = invitees::table.filter(invitees::id.eq_any(reached)).select(invitees::invitation_id);
    let answered: Vec<(Option<String>, i64)> = responses::table
        .inner_join(invitation_tokens::table)
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .filter(responses::duplicate_of.is_null())
        .filter(invitation_tokens::id.eq_any(invited_tokens))
        .group_by(invitation_tokens::ics_code)
        .select((invitation_tokens::ics_code, count_star()))
        .load(conn)?;
    for (ics, n) in answered {
        out.entry(ics).or_default().invited_answered = n;
    }
    Ok(out)
}

/// People written to one way, and how those who answered did so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactCounts {
    /// Sent an invitation (the mail server took it, or may have) or
    /// printed an invitation letter.
    pub contacted: i64,
    pub online: i64,
    pub paper: i64,
}

impl ContactCounts {
    /// Answered, either way, as a share of those contacted.
    pub fn response_rate(&self) -> Option<f64> {
        (self.contacted > 0).then(|| (self.online + self.paper) as f64 / self.contacted as f64)
    }
}

/// Response rates by how people were contacted (email, letter) and how
/// they answered (online, paper), counting each person's first complete
/// response only; and the open link's responses, which have no sample.
pub fn by_contact(conn: &mut DbConn, survey_id: &str) -> Result<(BTreeMap<Contact, ContactCounts>, i64), StorageError> {
    use super::schema::letters;
    let emailed: std::collections::BTreeSet<i64> = outbox::table
        .filter(outbox::survey_id.eq(survey_id))
        .filter(outbox::kind.eq(Kind::Invitation))
        .filter(outbox::status.eq_any([Status::Sent, Status::Uncertain]))
        .select(outbox::invitee_id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    let lettered: std::collections::BTreeSet<i64> = letters::table
        .filter(letters::survey_id.eq(survey_id))
        .filter(letters::kind.eq(Kind::Invitation))
        .select(letters::invitee_id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    let people: Vec<(i64, i64, Contact)> = invitees::table
        .filter(invitees::survey_id.eq(survey_id))
        .select((invitees::id, invitees::invitation_id, invitees::preferred_channel))
        .load(conn)?;
    let answered: BTreeMap<Option<i64>, Mode> = responses::table
        .inner_join(survey_versions::table)
        .filter(survey_versions::survey_id.eq(survey_id))
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .filter(responses::duplicate_of.is_null())
        .filter(responses::invitation_id.is_not_null())
        .select((responses::invitation_id, responses::mode))
        .load::<(Option<i64>, Mode)>(conn)?
        .into_iter()
        .collect();
    let mut out: BTreeMap<Contact, ContactCounts> = BTreeMap::new();
    for (id, invitation, channel) in people {
        let contacted = match channel {
            Contact::Email => emailed.contains(&id),
            Contact::Letter => lettered.contains(&id),
        };
        if !contacted {
            continue;
        }
        let counts = out.entry(channel).or_default();
        counts.contacted += 1;
        match answered.get(&Some(invitation)) {
            Some(Mode::Online) => counts.online += 1,
            Some(Mode::Paper) => counts.paper += 1,
            None => {}
        }
    }
    let open_link: i64 = responses::table
        .inner_join(survey_versions::table)
        .filter(survey_versions::survey_id.eq(survey_id))
        .filter(responses::status.eq(ResponseStatus::Submitted))
        .filter(responses::channel.eq(Channel::OpenLink))
        .count()
        .get_result(conn)?;
    Ok((out, open_link))
}
