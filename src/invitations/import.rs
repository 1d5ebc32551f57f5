//! Importing a sample: the file's own checks, then the ones that need the
//! database (already invited to this survey, opted out), then all of it
//! written in one transaction, or nothing. With `skip_invalid` the valid
//! lines are imported and the rest listed; addresses that opted out are
//! always left out, and only counted (which addresses they were is not
//! shown, not even to the lead).

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

use super::sample::{self, LineProblem, Rules};
use super::tokens;
use crate::accounts::audit::{self, Action, Actor, Event};
use crate::definitions::SurveyDefinition;
use crate::storage::icss::Ics;
use crate::storage::invitations::NewInvitation;
use crate::storage::samples::{self, NewInvitee, NewSample, Sample};
use crate::storage::{DbConn, StorageError, app_settings, write_transaction};

/// The `app_settings` name of the key email addresses are hashed with. It
/// is not derived from `JOINEDUP_SECRET_KEY` on purpose: changing that key
/// must never make joinedup forget who opted out.
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

pub fn import(conn: &mut DbConn, request: &Request<'_>) -> Result<Outcome, StorageError> {
    let survey_id = &request.survey.id;
    let file_hash = hex::encode(Sha256::digest(request.bytes));
    if let Some(earlier) = samples::by_file_hash(conn, survey_id, &file_hash)? {
        return Ok(Outcome::AlreadyImported(earlier));
    }
    let checked = sample::check(request.bytes, &Rules { survey: request.survey, icss: request.icss });
    let email_secret = app_settings::generated(conn, EMAIL_KEY_SETTING)?;
    let keys: Vec<String> = checked.people.iter().map(|p| tokens::email_key(&email_secret, &p.email)).collect();
    let invited = samples::invited_keys(conn, survey_id, &keys)?;
    let opted = samples::opted_out_keys(conn, survey_id, &keys)?;
    let mut problems = checked.problems;
    let mut people = Vec::new();
    let mut opted_out = 0;
    for (person, key) in checked.people.into_iter().zip(keys) {
        if opted.contains(&key) {
            opted_out += 1;
        } else if invited.contains(&key) {
            problems.push(LineProblem {
                line: person.line,
                message: "this address was already invited to this survey (in an earlier sample)".into(),
            });
        } else {
            people.push((person, key));
        }
    }
    problems.sort();
    if people.is_empty() || (!problems.is_empty() && !request.skip_invalid) {
        return Ok(Outcome::Refused { problems, valid: people.len(), opted_out });
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
                email: p.email,
                email_key,
                link_nonce: seed,
                line: p.line as i32,
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
    };
    let sample = write_transaction(conn, |conn| {
        let sample = samples::import(conn, &new, &rows)?;
        let event = Event::new(Action::SampleImported).target(survey_id.clone()).detail(format!(
            "sample {} ({}): {} people imported, {} lines skipped, {} opted-out addresses left out",
            sample.id,
            request.file_name,
            rows.len(),
            skipped_lines,
            opted_out
        ));
        audit::record(conn, request.actor, &event, request.client_ip)?;
        Ok::<_, StorageError>(sample)
    })?;
    Ok(Outcome::Imported { sample, skipped: problems, opted_out })
}
