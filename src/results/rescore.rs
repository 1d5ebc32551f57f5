//! Rebuilding a survey's stored result rows (groups and scores) from the
//! answers, after the scoring rules were corrected (`joinedup rescore` runs
//! it and records the run). Results read only the stored rows, so this is
//! how a correction reaches every output.

use crate::index::scoring::Scoring;
use crate::journey::form::answers_from_stored;
use crate::storage::results::{self, ResultRow};
use crate::storage::{self, DbConn, StorageError, responses};
use crate::surveys::PublishedSurvey;

/// Responses scored per transaction.
const BATCH: i64 = 500;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub responses: usize,
    /// Result rows that differed from what was stored (or were missing).
    pub changed: usize,
    /// `label=signature` per version, as recorded.
    pub signatures: String,
}

/// Rescores every submitted response of the given versions, a batch per
/// transaction, then records the run.
pub fn rescore(
    conn: &mut DbConn,
    survey_id: &str,
    versions: &[std::sync::Arc<PublishedSurvey>],
) -> Result<Outcome, StorageError> {
    let mut outcome = Outcome::default();
    let mut signatures = Vec::new();
    for version in versions {
        let d = &version.definition;
        let scoring = Scoring::new(d);
        signatures.push(format!("{}={}", version.version.version_label, scoring.signature));
        let mut after = 0;
        loop {
            let page = responses::submitted_page_with_answers(conn, version.version.id, after, BATCH)?;
            let Some((last, _)) = page.last() else { break };
            after = last.id;
            let mut rows = Vec::with_capacity(page.len());
            for (response, answers) in &page {
                let answers =
                    answers_from_stored(d, answers.iter().map(|a| (a.question_id.as_str(), a.value.as_str())));
                let voice = response.voice.as_deref().and_then(crate::definitions::Voice::from_code);
                let strata = results::invitation_strata(conn, response.invitation_id)?;
                let submitted_on = response.submitted_at.unwrap_or(response.updated_at).date();
                rows.push(ResultRow::score_response(d, &scoring, response, voice, &answers, submitted_on, strata));
            }
            outcome.responses += rows.len();
            outcome.changed += results::replace(conn, &rows)?;
        }
    }
    outcome.signatures = signatures.join(" ");
    results::record_run(conn, survey_id, outcome.responses, &outcome.signatures, storage::now())?;
    Ok(outcome)
}
