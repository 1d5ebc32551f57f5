//! People's rights over their answers: a respondent quotes the reference
//! from their confirmation page, and staff with the `data_protection` role
//! find that response and withdraw it. Withdrawal deletes the response, its
//! answers and its result row; the audit log says that a response to which
//! survey was withdrawn, never its reference or its answers. Releases
//! already published are aggregates and are not recomputed.

use chrono::{Months, NaiveDateTime};

use crate::audit::{self, Action, Actor, Event};
use crate::storage::{Db, DbConn, StorageError, responses, surveys, write_transaction};

/// What staff see of a response found by its reference: enough to be sure
/// it is the right one, nothing of what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub reference: String,
    pub survey_id: String,
    pub version: String,
    pub status: responses::ResponseStatus,
    pub channel: responses::Channel,
    pub started: NaiveDateTime,
    pub submitted: Option<NaiveDateTime>,
}

/// What a withdrawal removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawn {
    pub survey_id: String,
    pub answers: usize,
}

/// A reference as typed: case, spaces and missing dashes forgiven
/// (`ju abcd efgh` is `JU-ABCD-EFGH`).
pub fn normalise_reference(typed: &str) -> String {
    let bare: String = typed.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    match bare.strip_prefix("JU") {
        Some(rest) if rest.len() == 8 => format!("JU-{}-{}", &rest[..4], &rest[4..]),
        _ => typed.trim().to_ascii_uppercase(),
    }
}

/// Finds the response with this reference.
pub fn find_blocking(conn: &mut DbConn, typed: &str) -> Result<Option<Found>, StorageError> {
    let reference = normalise_reference(typed);
    let Some(response) = responses::by_reference(conn, &reference)? else { return Ok(None) };
    let version = surveys::by_id(conn, response.survey_version_id)?;
    Ok(Some(Found {
        reference,
        survey_id: version.as_ref().map(|v| v.survey_id.clone()).unwrap_or_default(),
        version: version.map(|v| v.version_label).unwrap_or_default(),
        status: response.status,
        channel: response.channel,
        started: response.created_at,
        submitted: response.submitted_at,
    }))
}

/// Withdraws the response with this reference, audited, in one transaction.
pub fn withdraw_blocking(
    conn: &mut DbConn,
    typed: &str,
    actor: &Actor,
    client_ip: Option<&str>,
) -> Result<Option<Withdrawn>, StorageError> {
    write_transaction(conn, |conn| {
        let reference = normalise_reference(typed);
        let Some(response) = responses::by_reference(conn, &reference)? else { return Ok(None) };
        let survey = surveys::by_id(conn, response.survey_version_id)?;
        let target = survey
            .as_ref()
            .map_or_else(|| "a response".to_string(), |v| format!("a response to {} {}", v.survey_id, v.version_label));
        let Some(answers) = responses::delete_entirely(conn, response.id)? else { return Ok(None) };
        let event = Event::new(Action::ResponseWithdrawn)
            .target(target)
            .detail(format!("{answers} answer(s) deleted with the response and its scores"));
        audit::record(conn, actor, &event, client_ip)?;
        Ok(Some(Withdrawn { survey_id: survey.map(|v| v.survey_id).unwrap_or_default(), answers }))
    })
}

pub async fn find(db: &Db, typed: &str) -> Result<Option<Found>, StorageError> {
    let typed = typed.to_string();
    db.run(move |conn| find_blocking(conn, &typed)).await
}

pub async fn withdraw(
    db: &Db,
    typed: &str,
    actor: Actor,
    client_ip: Option<String>,
) -> Result<Option<Withdrawn>, StorageError> {
    let typed = typed.to_string();
    db.write(move |conn| withdraw_blocking(conn, &typed, &actor, client_ip.as_deref())).await
}

/// One survey version's retention: responses started before `now` minus
/// `months` are deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub version_id: i64,
    pub survey_id: String,
    pub version: String,
    pub months: u32,
}

/// Responses deleted a batch at a time: each batch is one short write, so
/// respondents' saves go in between.
const RETENTION_BATCH: i64 = 200;

/// The daily retention job: deletes every response (with its answers and
/// scores) started longer ago than its survey version keeps them, and
/// records one audit entry per version with how many went. Published
/// releases are aggregates and stay. Returns how many responses went.
pub async fn delete_past_retention(
    db: &Db,
    versions: Vec<Retention>,
    now: NaiveDateTime,
) -> Result<usize, StorageError> {
    let mut total = 0;
    for v in versions {
        let Some(before) = now.checked_sub_months(Months::new(v.months)) else { continue };
        let mut deleted = 0;
        loop {
            let id = v.version_id;
            let batch = db.run(move |conn| responses::ids_created_before(conn, id, before, RETENTION_BATCH)).await?;
            if batch.is_empty() {
                break;
            }
            deleted += db
                .write(move |conn| {
                    let mut n = 0;
                    for id in batch {
                        n += usize::from(responses::delete_entirely(conn, id)?.is_some());
                    }
                    Ok(n)
                })
                .await?;
        }
        if deleted > 0 {
            let event = Event::new(Action::ResponsesPastRetention)
                .target(format!("{} {}", v.survey_id, v.version))
                .detail(format!(
                    "{deleted} response(s) started before {} deleted ({} months' retention)",
                    before.date(),
                    v.months
                ));
            db.write(move |conn| audit::record(conn, &Actor::system(), &event, None)).await?;
        }
        total += deleted;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_as_people_type_them() {
        assert_eq!(normalise_reference("JU-ABCD-EFGH"), "JU-ABCD-EFGH");
        assert_eq!(normalise_reference(" ju abcd efgh "), "JU-ABCD-EFGH");
        assert_eq!(normalise_reference("juabcdefgh"), "JU-ABCD-EFGH");
        assert_eq!(normalise_reference("something else"), "SOMETHING ELSE");
    }
}
