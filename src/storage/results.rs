//! Result rows: one per submitted response, what the index reads.

use std::ops::ControlFlow;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::connection::MultiBackend;
use super::schema::{invitation_tokens, response_results, scoring_runs};
use super::{DbConn, StorageError, write_transaction};

#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable)]
#[diesel(table_name = response_results)]
pub struct ResultRow {
    pub response_id: i64,
    pub survey_version_id: i64,
    pub survey_id: String,
    pub scoring_signature: String,
    pub submitted_on: NaiveDate,
    pub channel: super::responses::Channel,
    pub voice: Option<String>,
    pub ics_code: Option<String>,
    pub age_band: Option<String>,
    pub sex: Option<String>,
    pub ethnicity: Option<String>,
    pub long_term_condition: Option<String>,
    pub imd_quintile: Option<i32>,
    pub base_weight: f64,
    pub index_score: Option<f64>,
    pub domain_scores: String,
    pub choices: String,
    pub mode: super::responses::Mode,
}

impl ResultRow {
    /// Scores one response: the one way a result row is made, whether on
    /// submit, by `rescore` or for the demo. The row holds the response's
    /// scores and groups (`index::record`, pure) with what the response
    /// itself says: version, channel, ICS, the day it was submitted, and
    /// the invitation's deprivation quintile and base weight (`strata`).
    pub fn score_response(
        definition: &crate::definitions::SurveyDefinition,
        scoring: &crate::index::scoring::Scoring,
        response: &super::responses::Response,
        voice: Option<crate::definitions::Voice>,
        answers: &crate::definitions::Answers,
        submitted_on: NaiveDate,
        (imd_quintile, base_weight): (Option<i32>, f64),
    ) -> ResultRow {
        let record = crate::index::record::record(definition, scoring, voice, answers);
        let (survey_id, scoring_signature) = (&definition.id, &scoring.signature);
        ResultRow {
            response_id: response.id,
            survey_version_id: response.survey_version_id,
            survey_id: survey_id.to_string(),
            scoring_signature: scoring_signature.to_string(),
            submitted_on,
            channel: response.channel,
            voice: record.voice.map(|v| v.code().to_string()),
            ics_code: response.ics_code.clone(),
            age_band: record.age_band,
            sex: record.sex,
            ethnicity: record.ethnicity,
            long_term_condition: record.long_term_condition,
            imd_quintile,
            base_weight,
            index_score: record.index_score,
            domain_scores: record.domain_scores,
            choices: record.choices,
            mode: response.mode,
        }
    }
}

/// What an invitation adds to a result: the sample's deprivation quintile
/// and the base weight (1 / selection probability).
pub fn invitation_strata(conn: &mut DbConn, invitation_id: Option<i64>) -> Result<(Option<i32>, f64), StorageError> {
    let Some(id) = invitation_id else { return Ok((None, 1.0)) };
    let found: Option<(Option<i32>, Option<f64>)> = invitation_tokens::table
        .find(id)
        .select((invitation_tokens::imd_quintile, invitation_tokens::selection_probability))
        .get_result(conn)
        .optional()?;
    Ok(found.map_or((None, 1.0), |(q, p)| (q, p.filter(|p| *p > 0.0).map_or(1.0, |p| 1.0 / p))))
}

/// A survey's result rows of one submission day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
pub struct Day {
    pub day: NaiveDate,
    pub rows: i64,
    pub first_id: i64,
    pub last_id: i64,
}

/// A survey's result rows per submission day, in date order, from the
/// (survey, day, response) index alone: the release periods, and each
/// release's id range and size, are read off these.
pub fn per_day(conn: &mut DbConn, survey_id: &str) -> Result<Vec<Day>, StorageError> {
    use diesel::dsl::{count_star, max, min};
    let rows: Vec<(NaiveDate, i64, Option<i64>, Option<i64>)> = response_results::table
        .filter(response_results::survey_id.eq(survey_id))
        .group_by(response_results::submitted_on)
        .select((
            response_results::submitted_on,
            count_star(),
            min(response_results::response_id),
            max(response_results::response_id),
        ))
        .order(response_results::submitted_on)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(day, rows, first, last)| Some(Day { day, rows, first_id: first?, last_id: last? }))
        .collect())
}

/// A survey's result rows submitted within the dates (either end open):
/// the start of every query here.
fn in_window<'a>(
    survey_id: &'a str,
    (from, to): (Option<NaiveDate>, Option<NaiveDate>),
) -> response_results::BoxedQuery<'a, MultiBackend> {
    let mut query = response_results::table.filter(response_results::survey_id.eq(survey_id)).into_boxed();
    if let Some(from) = from {
        query = query.filter(response_results::submitted_on.ge(from));
    }
    if let Some(to) = to {
        query = query.filter(response_results::submitted_on.le(to));
    }
    query
}

pub fn insert(conn: &mut DbConn, row: &ResultRow) -> Result<(), StorageError> {
    diesel::insert_into(response_results::table).values(row).execute(conn)?;
    Ok(())
}

/// Submits a response and stores its result row in one transaction, so a
/// response is either in progress without a result or submitted with one.
/// Returns false if it was already submitted, or written since `revision`
/// (nothing changes).
pub fn submit_with_result(
    conn: &mut DbConn,
    response_id: i64,
    revision: i64,
    at: NaiveDateTime,
    row: impl FnOnce(&mut DbConn) -> Result<ResultRow, StorageError>,
) -> Result<bool, StorageError> {
    write_transaction(conn, |conn| {
        if !super::responses::submit(conn, response_id, Some(revision), at)? {
            return Ok(false);
        }
        let row = row(conn)?;
        diesel::insert_into(response_results::table).values(&row).execute(conn)?;
        Ok(true)
    })
}

/// Result rows of a survey (all versions) submitted within the dates, in
/// response order.
pub fn for_survey(
    conn: &mut DbConn,
    survey_id: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<ResultRow>, StorageError> {
    Ok(in_window(survey_id, (from, to))
        .order(response_results::response_id)
        .select(ResultRow::as_select())
        .load(conn)?)
}

/// The columns a report reads from a result row. The text columns arrive
/// joined into one value (`texts`): decoding one field instead of ten makes
/// reading a million rows markedly faster on both backends. No joined value
/// can hold the separator `|`: they are fixed codes, numbers and commas.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct ReportRow {
    pub survey_version_id: i64,
    pub submitted_on: NaiveDate,
    pub imd_quintile: Option<i32>,
    pub base_weight: f64,
    pub index_score: Option<f64>,
    /// channel, mode, voice, ICS, age band, sex, ethnicity, long-term
    /// conditions, domain scores and choices, `|`-separated; empty = none.
    pub texts: String,
}

/// SQL for `ReportRow::texts`, the same on SQLite and PostgreSQL.
const JOINED_TEXTS: &str = "channel || '|' || mode || '|' || COALESCE(voice, '') || '|' || COALESCE(ics_code, '') || '|' \
    || COALESCE(age_band, '') || '|' || COALESCE(sex, '') || '|' || COALESCE(ethnicity, '') || '|' \
    || COALESCE(long_term_condition, '') || '|' || domain_scores || '|' || choices";

/// `ReportRow::texts` taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReportTexts<'a> {
    pub channel: &'a str,
    /// `online` or `paper` (`Mode`'s spelling): never empty in a stored row.
    pub mode: &'a str,
    pub voice: Option<&'a str>,
    pub ics_code: Option<&'a str>,
    pub age_band: Option<&'a str>,
    pub sex: Option<&'a str>,
    pub ethnicity: Option<&'a str>,
    pub long_term_condition: Option<&'a str>,
    pub domain_scores: &'a str,
    pub choices: &'a str,
}

impl ReportRow {
    pub fn texts(&self) -> ReportTexts<'_> {
        let mut parts = self.texts.splitn(10, '|');
        let channel = parts.next().unwrap_or_default();
        let mode = parts.next().unwrap_or_default();
        let mut optional = || parts.next().filter(|s| !s.is_empty());
        ReportTexts {
            channel,
            mode,
            voice: optional(),
            ics_code: optional(),
            age_band: optional(),
            sex: optional(),
            ethnicity: optional(),
            long_term_condition: optional(),
            domain_scores: optional().unwrap_or_default(),
            choices: optional().unwrap_or_default(),
        }
    }
}

impl ResultRow {
    /// The columns a report reads, as the database joins them.
    pub fn report_columns(&self) -> ReportRow {
        let texts = [
            Some(self.channel.as_str()),
            Some(self.mode.as_str()),
            self.voice.as_deref(),
            self.ics_code.as_deref(),
            self.age_band.as_deref(),
            self.sex.as_deref(),
            self.ethnicity.as_deref(),
            self.long_term_condition.as_deref(),
            Some(self.domain_scores.as_str()),
            Some(self.choices.as_str()),
        ]
        .map(Option::unwrap_or_default)
        .join("|");
        ReportRow {
            survey_version_id: self.survey_version_id,
            submitted_on: self.submitted_on,
            imd_quintile: self.imd_quintile,
            base_weight: self.base_weight,
            index_score: self.index_score,
            texts,
        }
    }
}

/// The first and last response ids of a survey's result rows within the
/// dates, so a report can read them in parts side by side.
pub fn id_range(
    conn: &mut DbConn,
    survey_id: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Option<(i64, i64)>, StorageError> {
    use diesel::dsl::{max, min};
    let (first, last): (Option<i64>, Option<i64>) = in_window(survey_id, (from, to))
        .select((min(response_results::response_id), max(response_results::response_id)))
        .get_result(conn)?;
    Ok(first.zip(last))
}

/// How many result rows of a survey lie within the dates and the
/// response ids `ids`: the most a report read of them can hold, so its
/// columns are sized once instead of growing (and copying) as they fill.
pub fn count_between(
    conn: &mut DbConn,
    survey_id: &str,
    window: (Option<NaiveDate>, Option<NaiveDate>),
    ids: std::ops::RangeInclusive<i64>,
) -> Result<usize, StorageError> {
    let n: i64 = in_window(survey_id, window)
        .filter(response_results::response_id.between(*ids.start(), *ids.end()))
        .count()
        .get_result(conn)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Rows a report read asks the database for at a time: PostgreSQL's client
/// library holds a whole query's result in memory before the first row is
/// handed over, so reading in batches bounds that buffer (about 6 MB here)
/// and the memory it takes and gives back, where one query over a million
/// rows would hold hundreds of megabytes at once.
const REPORT_BATCH: i64 = 20_000;

/// Hands `each` the response id and report columns of a survey's result
/// rows within the dates and the response ids `ids` (and in one ICS, if
/// `ics` names one), one at a time in response order, without holding them
/// all: a million rows are read straight into the caller's own form,
/// `REPORT_BATCH` rows per query. `each` may stop the read early.
pub fn each_for_report(
    conn: &mut DbConn,
    survey_id: &str,
    window: (Option<NaiveDate>, Option<NaiveDate>),
    ids: std::ops::RangeInclusive<i64>,
    ics: Option<&str>,
    each: impl FnMut(i64, ReportRow) -> ControlFlow<()>,
) -> Result<(), StorageError> {
    each_in_batches(conn, survey_id, window, ids, ics, REPORT_BATCH, each)
}

/// `each_for_report` with `batch` rows per query (tests use small ones).
pub fn each_in_batches(
    conn: &mut DbConn,
    survey_id: &str,
    (from, to): (Option<NaiveDate>, Option<NaiveDate>),
    ids: std::ops::RangeInclusive<i64>,
    ics: Option<&str>,
    batch: i64,
    mut each: impl FnMut(i64, ReportRow) -> ControlFlow<()>,
) -> Result<(), StorageError> {
    let mut next = *ids.start();
    loop {
        let mut query = in_window(survey_id, (from, to))
            .filter(response_results::response_id.between(next, *ids.end()))
            .order(response_results::response_id)
            .limit(batch);
        if let Some(ics) = ics {
            query = query.filter(response_results::ics_code.eq(ics));
        }
        let columns = (
            response_results::response_id,
            (
                response_results::survey_version_id,
                response_results::submitted_on,
                response_results::imd_quintile,
                response_results::base_weight,
                response_results::index_score,
                diesel::dsl::sql::<diesel::sql_types::Text>(JOINED_TEXTS),
            ),
        );
        let mut read = 0;
        let mut last = None;
        for row in query.select(columns).load_iter::<(i64, ReportRow), diesel::connection::DefaultLoadingMode>(conn)? {
            let (id, row) = row?;
            read += 1;
            last = Some(id);
            if each(id, row).is_break() {
                return Ok(());
            }
        }
        match last {
            Some(id) if read == batch && id < *ids.end() => next = id + 1,
            _ => return Ok(()),
        }
    }
}

/// Replaces the result rows of some responses (one batch of a re-scoring
/// run) in one transaction; returns how many differ from what was stored.
pub fn replace(conn: &mut DbConn, rows: &[ResultRow]) -> Result<usize, StorageError> {
    write_transaction(conn, |conn| {
        let ids: Vec<i64> = rows.iter().map(|r| r.response_id).collect();
        let before: Vec<ResultRow> = response_results::table
            .filter(response_results::response_id.eq_any(&ids))
            .select(ResultRow::as_select())
            .load(conn)?;
        let before: std::collections::HashMap<i64, ResultRow> =
            before.into_iter().map(|r| (r.response_id, r)).collect();
        let mut changed = 0;
        for row in rows {
            if before.get(&row.response_id) == Some(row) {
                continue;
            }
            changed += 1;
            diesel::delete(response_results::table.find(row.response_id)).execute(conn)?;
            diesel::insert_into(response_results::table).values(row).execute(conn)?;
        }
        Ok(changed)
    })
}

/// Records a finished re-scoring run: the survey, how many responses were
/// scored and the scoring signature of each version.
pub fn record_run(
    conn: &mut DbConn,
    survey_id: &str,
    responses: usize,
    signatures: &str,
    at: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::insert_into(scoring_runs::table)
        .values((
            scoring_runs::survey_id.eq(survey_id),
            scoring_runs::responses.eq(responses as i32),
            scoring_runs::signatures.eq(signatures),
            scoring_runs::run_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The re-scoring runs of a survey, newest first: (responses, signatures, run at).
pub fn runs(conn: &mut DbConn, survey_id: &str) -> Result<Vec<(i32, String, NaiveDateTime)>, StorageError> {
    Ok(scoring_runs::table
        .filter(scoring_runs::survey_id.eq(survey_id))
        .order(scoring_runs::id.desc())
        .select((scoring_runs::responses, scoring_runs::signatures, scoring_runs::run_at))
        .load(conn)?)
}

/// How many result rows a survey has, the newest, and the newest
/// re-scoring run: changes whenever a response is submitted or re-scored.
pub fn stamp(conn: &mut DbConn, survey_id: &str) -> Result<(i64, i64, i64), StorageError> {
    use diesel::dsl::{count_star, max};
    let (n, newest): (i64, Option<i64>) = response_results::table
        .filter(response_results::survey_id.eq(survey_id))
        .select((count_star(), max(response_results::response_id)))
        .get_result(conn)?;
    let run: Option<i64> = scoring_runs::table
        .filter(scoring_runs::survey_id.eq(survey_id))
        .select(max(scoring_runs::id))
        .get_result(conn)?;
    Ok((n, newest.unwrap_or(0), run.unwrap_or(0)))
}

/// The ICSs with results in the window, in code order.
pub fn ics_codes(
    conn: &mut DbConn,
    survey_id: &str,
    window: (Option<NaiveDate>, Option<NaiveDate>),
) -> Result<Vec<String>, StorageError> {
    Ok(in_window(survey_id, window)
        .filter(response_results::ics_code.is_not_null())
        .select(response_results::ics_code.assume_not_null())
        .distinct()
        .order(response_results::ics_code)
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::responses::{Channel, Mode};

    fn row(mode: Mode, voice: Option<&str>) -> ResultRow {
        ResultRow {
            response_id: 1,
            survey_version_id: 2,
            survey_id: "s".into(),
            scoring_signature: String::new(),
            submitted_on: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            channel: Channel::Invitation,
            voice: voice.map(str::to_string),
            ics_code: Some("E54000008".into()),
            age_band: Some("75-84".into()),
            sex: None,
            ethnicity: Some("white".into()),
            long_term_condition: Some("one".into()),
            imd_quintile: Some(2),
            base_weight: 1.5,
            index_score: Some(61.0),
            domain_scores: "50,,75".into(),
            choices: "2,0+3,".into(),
            mode,
        }
    }

    #[test]
    fn the_joined_texts_come_apart_with_the_mode_in_its_place() {
        let paper = row(Mode::Paper, Some("carer_self")).report_columns();
        assert_eq!(
            paper.texts(),
            ReportTexts {
                channel: "invitation",
                mode: "paper",
                voice: Some("carer_self"),
                ics_code: Some("E54000008"),
                age_band: Some("75-84"),
                sex: None,
                ethnicity: Some("white"),
                long_term_condition: Some("one"),
                domain_scores: "50,,75",
                choices: "2,0+3,",
            }
        );
        let online = row(Mode::Online, None).report_columns();
        assert_eq!((online.texts().mode, online.texts().voice), ("online", None));
    }
}
