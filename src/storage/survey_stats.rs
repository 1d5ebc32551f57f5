//! Counts for survey leads: responses per version and per ICS, and how
//! many of a sample were invited and answered. Counts only: no query here
//! returns who answered or what.

use std::collections::BTreeMap;

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::outbox::{Kind, Status};
use super::responses::ResponseStatus;
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
        .filter(invitation_tokens::id.eq_any(invited_tokens))
        .group_by(invitation_tokens::ics_code)
        .select((invitation_tokens::ics_code, count_star()))
        .load(conn)?;
    for (ics, n) in answered {
        out.entry(ics).or_default().invited_answered = n;
    }
    Ok(out)
}
