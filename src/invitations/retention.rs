//! Erasing email addresses once a survey is over: a set number of days
//! after it closed, every address of its samples goes, with the keyed
//! hashes and link seeds beside them. What weighting needs stays: each
//! invitation's ICS and strata (age band, sex, deprivation quintile,
//! selection probability). The opt-out list stays too, as keyed hashes.

use chrono::{Duration, NaiveDateTime};

use crate::audit::{self, Action, Actor, Event};
use crate::publishing::lifecycle::closed_since;
use crate::storage::{Db, StorageError, samples, surveys, write_transaction};

/// Invitees erased per write: a few milliseconds, so respondents' saves
/// go in between even when a survey had 500,000 people.
const BATCH: i64 = 500;

/// Erases the addresses of every survey closed for at least
/// `retention_days` at `now`, a batch per write. Returns (survey id,
/// invitees erased). Stopped part way, the next run finishes the job.
pub async fn erase_due(db: &Db, retention_days: u32, now: NaiveDateTime) -> Result<Vec<(String, usize)>, StorageError> {
    let due = db
        .run(move |conn| {
            let mut due = Vec::new();
            for survey_id in samples::surveys_with_emails(conn)? {
                let versions = surveys::versions_of(conn, &survey_id)?;
                let Some(closed) = closed_since(&versions, now.date()) else { continue };
                if now >= closed + Duration::days(i64::from(retention_days)) {
                    due.push((survey_id, closed));
                }
            }
            Ok(due)
        })
        .await?;
    let mut done = Vec::new();
    for (survey_id, closed) in due {
        let id = survey_id.clone();
        let sample_ids = db.run(move |conn| samples::ids_of_survey(conn, &id)).await?;
        let mut erased = 0;
        for &sample in &sample_ids {
            let mut after = 0;
            loop {
                let (last, n) = db.write(move |conn| samples::erase_emails(conn, sample, now, after, BATCH)).await?;
                erased += n;
                match last {
                    Some(last) => after = last,
                    None => break,
                }
            }
        }
        let id = survey_id.clone();
        db.write(move |conn| {
            write_transaction(conn, |conn| {
                samples::finish_erasing(conn, &id, &sample_ids, now)?;
                let event = Event::new(Action::EmailsErased).target(id.clone()).detail(format!(
                    "{erased} address(es) erased {retention_days} day(s) after the survey closed on {}",
                    closed.format("%-d %b %Y")
                ));
                audit::record(conn, &Actor::system(), &event, None)
            })
        })
        .await?;
        done.push((survey_id, erased));
    }
    Ok(done)
}
