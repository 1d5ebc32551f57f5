//! Erasing email addresses once a survey is over: a set number of days
//! after it closed, every address of its samples goes, with the keyed
//! hashes and link seeds beside them. What weighting needs stays: each
//! invitation's ICS and strata (age band, sex, deprivation quintile,
//! selection probability). The opt-out list stays too, as keyed hashes.

use chrono::{Duration, NaiveDateTime};

use crate::accounts::audit::{self, Action, Actor, Event};
use crate::publishing::lifecycle::closed_since;
use crate::storage::{DbConn, StorageError, samples, surveys, write_transaction};

/// Erases the addresses of every survey closed for at least
/// `retention_days` at `now`. Returns (survey id, invitees erased).
pub fn erase_due(
    conn: &mut DbConn,
    retention_days: u32,
    now: NaiveDateTime,
) -> Result<Vec<(String, usize)>, StorageError> {
    let mut done = Vec::new();
    for survey_id in samples::surveys_with_emails(conn)? {
        let versions = surveys::versions_of(conn, &survey_id)?;
        let Some(closed) = closed_since(&versions, now.date()) else { continue };
        if now < closed + Duration::days(i64::from(retention_days)) {
            continue;
        }
        let erased = write_transaction(conn, |conn| {
            let erased = samples::erase_emails(conn, &survey_id, now)?;
            let event = Event::new(Action::EmailsErased).target(survey_id.clone()).detail(format!(
                "{erased} address(es) erased {retention_days} day(s) after the survey closed on {}",
                closed.format("%-d %b %Y")
            ));
            audit::record(conn, &Actor::system(), &event, None)?;
            Ok::<_, StorageError>(erased)
        })?;
        done.push((survey_id, erased));
    }
    Ok(done)
}
