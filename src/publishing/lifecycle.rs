//! Publishing a draft, and a released version's dates, closing and
//! reopening. Each is one transaction holding the change, its audit entry
//! and the change stamp, so no instance serves a stale survey for long and
//! nothing happens unrecorded.

use chrono::NaiveDate;

use super::drafts::{self, Checked};
use crate::audit::{self, Action, Actor, Event};
use crate::definitions::{self, Diagnostic, SurveyDefinition};
use crate::storage::drafts as draft_rows;
use crate::storage::surveys::{self, NewSurveyVersion, SurveyVersion, VersionStatus};
use crate::storage::{Db, DbConn, StorageError, now, write_transaction};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("There is no such draft (it may have been published or deleted)")]
    NoDraft,
    #[error("There is no such survey version")]
    NoVersion,
    #[error("The draft has {} problem(s); fix them before publishing", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error("The draft has changed since you reviewed it; review the changes again before publishing")]
    ChangedSinceReview,
    #[error("Survey `{0}` already has a published version `{1}`: give this draft a new `version`")]
    VersionTaken(String, String),
    #[error("The closing date must be on or after the opening date")]
    ClosesBeforeOpens,
    #[error("Its closing date, {0}, has passed: set a later closing date (or none) before reopening it")]
    ClosingDatePassed(NaiveDate),
    #[error("This version is not published, so it cannot be closed")]
    NotPublished,
    #[error("This version is not closed, so it cannot be reopened")]
    NotClosed,
    #[error("{0}")]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for LifecycleError {
    fn from(e: diesel::result::Error) -> Self {
        LifecycleError::Storage(e.into())
    }
}

/// Who did it, from where: what the audit entry records.
#[derive(Debug, Clone)]
pub struct By<'a> {
    pub actor: &'a Actor,
    pub client_ip: Option<&'a str>,
}

fn record(conn: &mut DbConn, by: &By<'_>, event: Event) -> Result<(), StorageError> {
    audit::record(conn, by.actor, &event, by.client_ip)
}

fn target(version: &SurveyVersion) -> String {
    format!("{} {}", version.survey_id, version.version_label)
}

/// Publishes draft `draft_id` as a new version, if its text is still the
/// one reviewed (`reviewed_hash`), it passes every check and its version
/// label is new. The text is checked off the database threads; the write
/// that follows is short and stores it only if the draft is still the text
/// that was checked. The draft is removed: the version is now the record.
pub async fn publish_draft(
    db: &Db,
    actor: Actor,
    client_ip: Option<String>,
    draft_id: i64,
    reviewed_hash: &str,
) -> Result<SurveyVersion, LifecycleError> {
    let (_, Checked { definition, problems }) =
        drafts::load_checked(db, draft_id).await?.ok_or(LifecycleError::NoDraft)?;
    let definition = match (definition, problems.is_empty()) {
        (Some(d), true) => d,
        _ => return Err(LifecycleError::Invalid(problems)),
    };
    if definition.content_hash != reviewed_hash {
        return Err(LifecycleError::ChangedSinceReview);
    }
    db.write(move |conn| {
        Ok(publish(conn, &By { actor: &actor, client_ip: client_ip.as_deref() }, draft_id, &definition))
    })
    .await?
}

/// Stores draft `draft_id` as the published version `definition`, which
/// was read from the draft's text; refused if the text has changed since.
pub fn publish(
    conn: &mut DbConn,
    by: &By<'_>,
    draft_id: i64,
    definition: &SurveyDefinition,
) -> Result<SurveyVersion, LifecycleError> {
    write_transaction(conn, |conn| {
        let draft = draft_rows::by_id(conn, draft_id)?.ok_or(LifecycleError::NoDraft)?;
        let name = drafts::display_name(&draft.source_name, draft.id);
        if definitions::content_hash(draft.source_text.as_bytes()) != definition.content_hash {
            return Err(LifecycleError::ChangedSinceReview);
        }
        if surveys::find(conn, &definition.id, &definition.version)?.is_some() {
            return Err(LifecycleError::VersionTaken(definition.id.clone(), definition.version.clone()));
        }
        let at = now();
        let version = surveys::insert(
            conn,
            &NewSurveyVersion {
                survey_id: &definition.id,
                version_label: &definition.version,
                content_hash: &definition.content_hash,
                source_text: &draft.source_text,
                source_name: &name,
                status: VersionStatus::Published,
                opens_on: definition.opens,
                closes_on: definition.closes,
                created_at: at,
                updated_at: at,
                published_at: Some(at),
            },
        )?;
        record(
            conn,
            by,
            Event::new(Action::SurveyPublished)
                .target(target(&version))
                .detail(format!("content hash {}; from draft {}", version.content_hash, draft.id)),
        )?;
        draft_rows::delete(conn, draft.id)?;
        surveys::mark_changed(conn)?;
        Ok(version)
    })
}

fn released(conn: &mut DbConn, version_id: i64) -> Result<SurveyVersion, LifecycleError> {
    surveys::by_id(conn, version_id)?.filter(|v| v.status != VersionStatus::Draft).ok_or(LifecycleError::NoVersion)
}

fn date_text(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "none".into(), |d| d.to_string())
}

/// Sets a version's opening and closing dates (either may be none).
pub fn set_dates(
    conn: &mut DbConn,
    by: &By<'_>,
    version_id: i64,
    opens_on: Option<NaiveDate>,
    closes_on: Option<NaiveDate>,
) -> Result<SurveyVersion, LifecycleError> {
    if let (Some(o), Some(c)) = (opens_on, closes_on)
        && c < o
    {
        return Err(LifecycleError::ClosesBeforeOpens);
    }
    write_transaction(conn, |conn| {
        let version = released(conn, version_id)?;
        surveys::set_dates(conn, version_id, opens_on, closes_on, now())?;
        record(
            conn,
            by,
            Event::new(Action::SurveyDatesChanged).target(target(&version)).detail(format!(
                "opens {} (was {}), closes {} (was {})",
                date_text(opens_on),
                date_text(version.opens_on),
                date_text(closes_on),
                date_text(version.closes_on)
            )),
        )?;
        surveys::mark_changed(conn)?;
        released(conn, version_id)
    })
}

/// Closes a published version at once: no new responses start on it.
pub fn close(conn: &mut DbConn, by: &By<'_>, version_id: i64) -> Result<SurveyVersion, LifecycleError> {
    write_transaction(conn, |conn| {
        let version = released(conn, version_id)?;
        if !surveys::close(conn, version_id, now())? {
            return Err(LifecycleError::NotPublished);
        }
        record(conn, by, Event::new(Action::SurveyClosed).target(target(&version)))?;
        surveys::mark_changed(conn)?;
        released(conn, version_id)
    })
}

/// Reopens a closed version, unless its closing date has passed (it would
/// stay shut, which would surprise the lead).
pub fn reopen(
    conn: &mut DbConn,
    by: &By<'_>,
    version_id: i64,
    today: NaiveDate,
) -> Result<SurveyVersion, LifecycleError> {
    write_transaction(conn, |conn| {
        let version = released(conn, version_id)?;
        if version.status != VersionStatus::Closed {
            return Err(LifecycleError::NotClosed);
        }
        if let Some(closes) = version.closes_on
            && closes < today
        {
            return Err(LifecycleError::ClosingDatePassed(closes));
        }
        if !surveys::reopen(conn, version_id, now())? {
            return Err(LifecycleError::NotClosed);
        }
        record(conn, by, Event::new(Action::SurveyReopened).target(target(&version)))?;
        surveys::mark_changed(conn)?;
        released(conn, version_id)
    })
}

/// When a survey stopped taking responses for good, if it has: every
/// version is closed or past its closing date, and none will open later.
/// `None` while any version is open or yet to open.
pub fn closed_since(versions: &[SurveyVersion], today: NaiveDate) -> Option<chrono::NaiveDateTime> {
    let mut latest = None;
    for v in versions {
        let ended = if v.status == VersionStatus::Closed {
            v.closed_at.or_else(|| v.closes_on.and_then(|d| d.succ_opt()).and_then(|d| d.and_hms_opt(0, 0, 0)))
        } else if v.status == VersionStatus::Published {
            match v.closes_on {
                Some(c) if c < today => c.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)),
                _ => return None,
            }
        } else {
            continue;
        };
        let ended = ended?;
        latest = Some(latest.map_or(ended, |l: chrono::NaiveDateTime| l.max(ended)));
    }
    latest
}
