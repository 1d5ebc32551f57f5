//! Data entry of returned paper questionnaires: find the form by the serial
//! printed on it, key every printed question on one page, and save it as a
//! paper response of that sampled person (their base weight and strata
//! with it). The rules for reading a keyed form are `paper::keying`'s; the
//! saving is `storage::keying`'s, in one transaction.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::definitions::Voice;
use crate::journey::form::{Context, FieldError, Fields, Tampered};
use crate::journey::wording::{Wording, choose_language};
use crate::paper::keying;
use crate::storage::keying::{Found, KeyedForm, Saved};
use crate::storage::results::ResultRow;
use crate::storage::{Db, StorageError, samples};
use crate::surveys::{PublishedSurvey, SurveyRegistry};
use crate::tokens;

/// A form ready to key: who it is from, and the questionnaire it is.
pub struct Form {
    pub found: Found,
    pub survey: Arc<PublishedSurvey>,
    /// The voice the copy was printed for: the sample's, or the keyer's
    /// choice when the sample gave none.
    pub voice: Option<Voice>,
    pub language: String,
}

impl Form {
    pub fn ics_preset(&self) -> bool {
        self.found.invitation.ics_code.is_some()
    }
}

/// The form a typed serial names, if it names one.
pub async fn find(db: &Db, surveys: &SurveyRegistry, typed: &str) -> Result<Option<Form>, StorageError> {
    let hash = tokens::short_code_hash(typed);
    let found = db.run(move |conn| crate::storage::keying::by_serial_hash(conn, &hash)).await?;
    Ok(found.and_then(|f| form(surveys, f, None)))
}

/// The form of an invitee found earlier, keyed as `voice` if given.
pub async fn by_invitee(
    db: &Db,
    surveys: &SurveyRegistry,
    invitee_id: i64,
    voice: Option<Voice>,
) -> Result<Option<Form>, StorageError> {
    let found = db
        .run(move |conn| {
            let Some(invitee) = samples::by_id(conn, invitee_id)? else { return Ok(None) };
            crate::storage::keying::by_invitee(conn, invitee).map(Some)
        })
        .await?;
    Ok(found.and_then(|f| form(surveys, f, voice)))
}

fn form(surveys: &SurveyRegistry, found: Found, voice: Option<Voice>) -> Option<Form> {
    let survey = surveys.latest(&found.invitation.survey_id)?;
    let given = found.invitation.voice.as_deref().and_then(Voice::from_code);
    let voice = given.or(voice).filter(|v| survey.definition.voices.contains(v));
    let language = choose_language(&survey.definition, found.invitation.language.as_deref()).to_string();
    Some(Form { found, survey, voice, language })
}

/// What keying a form came to.
#[derive(Debug)]
pub enum Keying {
    /// Mistakes to correct (a number out of range, an unreadable date).
    Invalid(Vec<FieldError>),
    /// Answers to questions the respondent's route skips, by printed
    /// number: kept and flagged once the keyer confirms.
    Confirm(Vec<u32>),
    Saved(Saved),
}

/// Reads and, when it is clean or confirmed, saves a keyed form.
pub async fn key(
    db: &Db,
    form: &Form,
    voice: Voice,
    fields: &Fields,
    confirmed: bool,
    keyed_by: i64,
    (ics_codes, now): (&BTreeSet<String>, chrono::NaiveDateTime),
) -> Result<Result<Keying, Tampered>, StorageError> {
    let d = &form.survey.definition;
    let ctx = Context { wording: Wording::new(d, &form.language, Some(voice)), ics_codes, today: now.date() };
    let keyed = match keying::read(&ctx, d, voice, form.ics_preset(), fields, &["voice", "confirm"]) {
        Err(tampered) => return Ok(Err(tampered)),
        Ok(Err(errors)) => return Ok(Ok(Keying::Invalid(errors))),
        Ok(Ok(keyed)) => keyed,
    };
    if !keyed.off_route_questions.is_empty() && !confirmed {
        return Ok(Ok(Keying::Confirm(keyed.off_route_questions)));
    }
    let answers: Vec<(String, String, bool)> =
        keyed.answers.iter().map(|(id, value)| (id.clone(), value.to_stored(), keyed.off_route.contains(id))).collect();
    let scored = keyed.scored();
    let survey = form.survey.clone();
    let invitation = form.found.invitation.clone();
    let language = form.language.clone();
    let saved = db
        .write(move |conn| {
            let d = &survey.definition;
            let scoring = crate::index::scoring::Scoring::new(d);
            let reference = tokens::new_reference();
            let keyed = KeyedForm {
                survey_version_id: survey.version.id,
                invitation_id: invitation.id,
                voice: voice.code(),
                language: &language,
                ics_code: invitation.ics_code.as_deref(),
                reference: &reference,
                answers,
                keyed_by,
                at: now,
            };
            crate::storage::keying::save(conn, &keyed, &|response, (imd_quintile, base_weight)| ResultRow {
                imd_quintile,
                base_weight,
                ..ResultRow::score_response(d, &scoring, response, Some(voice), &scored, now.date(), (None, 1.0))
            })
        })
        .await?;
    Ok(Ok(Keying::Saved(saved)))
}
