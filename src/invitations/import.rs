//! Importing a sample: the file's own checks, then the ones that need the
//! database (already invited to this survey, opted out), then the rows
//! written in batches of `BATCH`, each its own short transaction so that
//! respondents' saves go in between. The sample takes effect (its people
//! can be invited) only when the last batch is in; an import that fails
//! part way is removed, so nothing stays half-written. With `skip_invalid` the valid
//! lines are imported and the rest listed; addresses that opted out are
//! always left out, and only counted (which addresses they were is not
//! shown, not even to the lead).

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

use super::keys::EmailKeys;
use super::sample::{self, LineProblem, Rules};
use crate::audit::{self, Action, Actor, Event};
use crate::definitions::SurveyDefinition;
use crate::storage::icss::Ics;
use crate::storage::invitations::NewInvitation;
use crate::storage::samples::{self, NewInvitee, NewSample, Sample};
use crate::storage::{Db, DbConn, StorageError, write_transaction};
use crate::tokens;

/// People written per transaction: a few milliseconds of writing, short
/// enough that a respondent's save waiting behind it barely notices.
pub const BATCH: usize = 250;

/// What the command line waits between its batches. SQLite's lock is not
/// fair: without a pause the importing process takes it again before the
/// server's waiting writer wakes up.
const BETWEEN_BATCHES: std::time::Duration = std::time::Duration::from_millis(3);

/// The `app_settings` name of the key email addresses are hashed with. It
/// is not derived from `JOINEDUP_SECRET_KEY` on purpose: changing that key
/// must never make joinedup forget who opted out. It is rotated on its own
/// (`super::keys`), keeping retired keys for lookups.
pub const EMAIL_KEY_SETTING: &str = "email_hash_key";

/// What the import was asked to do.
pub struct Request<'a> {
    pub survey: &'a SurveyDefinition,
    /// The ICSs that exist today.
    pub icss: &'a [Ics],
    pub file_name: &'a str,
    pub bytes: &'a [u8],
    /// Import the valid lines even if others have problems.
    pub skip_invalid: bool,
    /// Returned paper forms are to be keyed twice (double entry).
    pub double_entry: bool,
    /// Signs the invitation links (the app's secret key).
    pub secret: &'a str,
    pub actor: &'a Actor,
    pub client_ip: Option<&'a str>,
    pub at: NaiveDateTime,
}

#[derive(Debug)]
pub enum Outcome {
    Imported {
        sample: Sample,
        /// Lines left out because of their problems (with `skip_invalid`).
        skipped: Vec<LineProblem>,
        /// Addresses left out because they opted out of this survey.
        opted_out: usize,
    },
    /// Nothing was written.
    Refused { problems: Vec<LineProblem>, valid: usize, opted_out: usize },
    /// This exact file was imported for this survey before.
    AlreadyImported(Sample),
}

/// How many lines have at least one problem (a line may have several).
pub fn lines_with_problems(problems: &[LineProblem]) -> usize {
    problems.iter().map(|p| p.line).collect::<std::collections::BTreeSet<_>>().len()
}

/// Everything an import will write, worked out from the file and from
/// reads alone: the slow part (checking, hashing each address) holds no
/// write lock.
pub struct Plan {
    new: NewSample,
    rows: Vec<NewInvitee>,
    problems: Vec<LineProblem>,
    skipped_lines: usize,
    opted_out: usize,
}

/// Checks the file against the survey and the database. `Err` is the
/// outcome when nothing is to be written (refused, or imported before).
pub fn plan(conn: &mut DbConn, request: &Request<'_>) -> Result<Result<Plan, Outcome>, StorageError> {
    let survey_id = &request.survey.id;
    let file_hash = hex::encode(Sha256::digest(request.bytes));
    if let Some(earlier) = samples::by_file_hash(conn, survey_id, &file_hash)? {
        return Ok(Err(Outcome::AlreadyImported(earlier)));
    }
    let checked = sample::check(request.bytes, &Rules { survey: request.survey, icss: request.icss });
    // Each address under every email key there has been: an opt-out or an
    // earlier invitation from before a key rotation is still found.
    let email_keys = EmailKeys::load(conn)?;
    let hashes: Vec<Vec<String>> = checked.people.iter().map(|p| email_keys.hashes(&p.contact_key())).collect();
    let every: Vec<String> = hashes.iter().flatten().cloned().collect();
    let invited = samples::invited_keys(conn, survey_id, &every)?;
    let opted = samples::opted_out_keys(conn, survey_id, &every)?;
    let mut problems = checked.problems;
    let mut people = Vec::new();
    let mut opted_out = 0;
    for (person, hashes) in checked.people.into_iter().zip(hashes) {
        let key = hashes[0].clone();
        if hashes.iter().any(|h| opted.contains(h)) {
            opted_out += 1;
        } else if hashes.iter().any(|h| invited.contains(h)) {
            problems.push(LineProblem {
                line: person.line,
                message: "this person was already invited to this survey (in an earlier sample)".into(),
            });
        } else {
            people.push((person, key));
        }
    }
    problems.sort();
    if people.is_empty() || (!problems.is_empty() && !request.skip_invalid) {
        return Ok(Err(Outcome::Refused { problems, valid: people.len(), opted_out }));
    }
    let rows: Vec<NewInvitee> = people
        .into_iter()
        .map(|(p, email_key)| {
            let seed = tokens::new_link_seed();
            let token = tokens::link_token(request.secret, &seed);
            NewInvitee {
                invitation: NewInvitation {
                    token_hash: tokens::hash(&token),
                    survey_id: survey_id.clone(),
                    ics_code: Some(p.ics_code),
                    voice: p.voice,
                    language: Some(p.language),
                    age_band: p.age_band,
                    sex: p.sex,
                    imd_quintile: p.imd_quintile,
                    selection_probability: p.selection_probability,
                    created_at: request.at,
                    expires_at: None,
                },
                short_code_hash: tokens::short_code_hash(&tokens::short_code(request.secret, &seed)),
                email: p.email,
                email_key,
                link_nonce: seed,
                line: p.line as i32,
                address: p.address,
                postcode: p.postcode,
                preferred_channel: p.channel,
            }
        })
        .collect();
    let skipped_lines = lines_with_problems(&problems);
    let new = NewSample {
        survey_id: survey_id.clone(),
        source_name: request.file_name.to_string(),
        file_hash,
        rows_skipped: skipped_lines as i32,
        created_by: request.actor.name.clone(),
        created_at: request.at,
        double_entry: request.double_entry,
    };
    Ok(Ok(Plan { new, rows, problems, skipped_lines, opted_out }))
}

/// The last step: the sample takes effect, with its audit entry.
fn finish(
    conn: &mut DbConn,
    plan: &Plan,
    sample_id: i64,
    actor: &Actor,
    client_ip: Option<&str>,
) -> Result<Sample, StorageError> {
    write_transaction(conn, |conn| {
        let sample = samples::finish_import(conn, sample_id)?;
        let event = Event::new(Action::SampleImported).target(plan.new.survey_id.clone()).detail(format!(
            "sample {} ({}): {} people imported, {} lines skipped, {} opted-out addresses left out",
            sample.id,
            plan.new.source_name,
            plan.rows.len(),
            plan.skipped_lines,
            plan.opted_out
        ));
        audit::record(conn, actor, &event, client_ip)?;
        Ok::<_, StorageError>(sample)
    })
}

/// Imports on one connection (the command line), a batch per transaction.
pub fn import(conn: &mut DbConn, request: &Request<'_>) -> Result<Outcome, StorageError> {
    let plan = match plan(conn, request)? {
        Ok(plan) => plan,
        Err(outcome) => return Ok(outcome),
    };
    let sample = write_transaction(conn, |conn| samples::begin_import(conn, &plan.new, plan.rows.len()))?;
    for batch in plan.rows.chunks(BATCH) {
        if let Err(e) = write_transaction(conn, |conn| samples::import_batch(conn, &sample, batch)) {
            samples::abandon_import(conn, sample.id)?;
            return Err(e);
        }
        std::thread::sleep(BETWEEN_BATCHES);
    }
    let sample = finish(conn, &plan, sample.id, request.actor, request.client_ip)?;
    Ok(Outcome::Imported { sample, skipped: plan.problems, opted_out: plan.opted_out })
}

/// Writes a plan through the server's writer, a batch per write, so
/// respondents' saves are committed between batches.
pub async fn write(db: &Db, plan: Plan, actor: Actor, client_ip: Option<String>) -> Result<Outcome, StorageError> {
    let plan = std::sync::Arc::new(plan);
    let sample = {
        let plan = plan.clone();
        db.write(move |conn| samples::begin_import(conn, &plan.new, plan.rows.len())).await?
    };
    let sample = std::sync::Arc::new(sample);
    for start in (0..plan.rows.len()).step_by(BATCH) {
        let (plan, batch_sample) = (plan.clone(), sample.clone());
        let end = (start + BATCH).min(plan.rows.len());
        let written = db.write(move |conn| samples::import_batch(conn, &batch_sample, &plan.rows[start..end])).await;
        if let Err(e) = written {
            let id = sample.id;
            db.write(move |conn| samples::abandon_import(conn, id)).await?;
            return Err(e);
        }
    }
    let finished = {
        let (plan, id) = (plan.clone(), sample.id);
        db.write(move |conn| finish(conn, &plan, id, &actor, client_ip.as_deref())).await?
    };
    let plan =
        std::sync::Arc::try_unwrap(plan).map_err(|_| StorageError::Pool("the import plan is still shared".into()))?;
    Ok(Outcome::Imported { sample: finished, skipped: plan.problems, opted_out: plan.opted_out })
}
