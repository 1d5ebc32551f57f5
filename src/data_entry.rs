//! Data entry of returned paper questionnaires: find the form by the serial
//! printed on it, key every printed question on one page, and save it as a
//! paper response of that sampled person (their base weight and strata
//! with it). The rules for reading a keyed form are `paper::keying`'s; the
//! saving is `storage::keying`'s, in one transaction.
//!
//! With double entry (a sample's choice) two different keyers key the form
//! blind; when they agree the second keying saves it, and otherwise the
//! differences are resolved against the form (`paper::double_entry`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::audit::Actor;
use crate::definitions::{Answers, Voice};
use crate::invitations::opt_out::Heard;
use crate::journey::form::{Context, FieldError, Fields, Tampered, answers_from_stored};
use crate::journey::wording::{Wording, choose_language};
use crate::paper::{double_entry, keying};
use crate::storage::keying::{Found, KeyedForm, KeyerAccuracy, Pass, PassKept, Saved, Settled, Waiting};
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
    // A second keying is of the copy the first keyer chose.
    let first = found.passes.first().and_then(|p| Voice::from_code(&p.voice));
    let voice = given.or(first).or(voice).filter(|v| survey.definition.voices.contains(v));
    let language = choose_language(&survey.definition, found.invitation.language.as_deref()).to_string();
    Some(Form { found, survey, voice, language })
}

/// The data entry home page's figures: each keyer's accuracy over
/// settled double-entered forms, and the forms waiting to be resolved.
pub struct Overview {
    pub accuracy: Vec<KeyerAccuracy>,
    pub waiting: Vec<Waiting>,
}

pub async fn overview(db: &Db) -> Result<Overview, StorageError> {
    db.run(|conn| {
        Ok(Overview {
            accuracy: crate::storage::keying::keyer_accuracy(conn)?,
            waiting: crate::storage::keying::waiting_for_resolution(conn)?,
        })
    })
    .await
}

/// Why a keyer may not key this form now, if they may not.
pub fn refusal(form: &Form, keyer: i64) -> Option<String> {
    if let Some(keyed) = &form.found.keyed {
        let when = keyed.submitted_at.map(|t| t.format("%-d %b %Y %H:%M UTC").to_string()).unwrap_or_default();
        return Some(format!("This questionnaire was keyed on {when}: a questionnaire is keyed once"));
    }
    match form.stage() {
        Stage::Second { first } if first.keyed_by == keyer => Some(format!(
            "You keyed this questionnaire the first time, on {}: with double entry a different keyer keys it the \
             second time",
            first.keyed_at.format("%-d %b %Y %H:%M UTC")
        )),
        _ => None,
    }
}

/// Where a form is in its keying.
#[derive(Debug, Clone, Copy)]
pub enum Stage<'a> {
    /// Keyed once and saved: the sample did not ask for double entry.
    Single,
    /// Double entry: the first keying.
    First,
    /// Double entry: the second keying, blind to the first.
    Second { first: &'a Pass },
    /// Keyed twice, with differences to resolve against the form.
    Resolve { first: &'a Pass, second: &'a Pass },
}

impl Form {
    pub fn stage(&self) -> Stage<'_> {
        match (self.found.double_entry, self.found.passes.as_slice()) {
            (false, _) => Stage::Single,
            (true, []) => Stage::First,
            (true, [first]) => Stage::Second { first },
            (true, [first, second, ..]) => Stage::Resolve { first, second },
        }
    }

    /// The answers a keying of this form holds.
    fn answers_of(&self, pass: &Pass) -> Answers {
        let stored: BTreeMap<String, String> = serde_json::from_str(&pass.answers).unwrap_or_default();
        answers_from_stored(&self.survey.definition, stored.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
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
    /// Double entry: the first keying is kept; a second keyer keys the
    /// form again.
    FirstKept,
    /// Double entry: the two keyings differ; the differences are to be
    /// resolved against the form.
    Differences,
    /// Double entry: the keyer of the first keying tried the second.
    SameKeyer,
    /// Another keyer kept this keying first.
    Overtaken,
    /// Nothing was keyed: a blank form is a refusal, recorded once the
    /// keyer confirms the form really is blank.
    ConfirmBlank,
    /// A blank form, recorded as a refusal: no reminders follow, and it
    /// is not a response.
    ReturnedBlank,
}

/// What the keyer confirmed on a second look.
#[derive(Debug, Clone, Copy, Default)]
pub struct Confirmed {
    /// Keep answers the route skips, flagged.
    pub off_route: bool,
    /// The form came back with nothing filled in.
    pub blank: bool,
}

/// Reads and, when it is clean or confirmed, saves a keyed form: as a
/// response, or with double entry as one of its two keyings (the second
/// saving the response when the two agree).
pub async fn key(
    db: &Db,
    form: &Form,
    voice: Voice,
    fields: &Fields,
    confirmed: Confirmed,
    keyer: (&Actor, Option<&str>),
    (ics_codes, now): (&BTreeSet<String>, chrono::NaiveDateTime),
) -> Result<Result<Keying, Tampered>, StorageError> {
    let d = &form.survey.definition;
    let ctx = Context { wording: Wording::new(d, &form.language, Some(voice)), ics_codes, today: now.date() };
    let also = ["voice", "confirm", "blank"];
    let keyed = match keying::read(&ctx, d, voice, form.ics_preset(), fields, &also) {
        Err(tampered) => return Ok(Err(tampered)),
        Ok(Err(errors)) => return Ok(Ok(Keying::Invalid(errors))),
        Ok(Ok(keyed)) => keyed,
    };
    if keyed.answers.is_empty() {
        if !confirmed.blank {
            return Ok(Ok(Keying::ConfirmBlank));
        }
        let (invitee_id, actor, ip) = (form.found.invitee.id, keyer.0.clone(), keyer.1.map(str::to_string));
        db.write(move |conn| {
            crate::invitations::opt_out::record_for_staff(
                conn,
                invitee_id,
                Heard::BlankForm,
                (&actor, ip.as_deref()),
                now,
            )
        })
        .await?;
        return Ok(Ok(Keying::ReturnedBlank));
    }
    if !keyed.off_route_questions.is_empty() && !confirmed.off_route {
        return Ok(Ok(Keying::Confirm(keyed.off_route_questions)));
    }
    let keyed_by = keyer.0.user_id.unwrap_or_default();
    let outcome = match form.stage() {
        Stage::Single => save(db, form, voice, &keyed, keyed_by, now, None).await?,
        Stage::First => keep(db, form, 1, voice, &keyed.answers, keyed_by, now).await?,
        Stage::Second { first } if first.keyed_by == keyed_by => Keying::SameKeyer,
        Stage::Second { first } => {
            if double_entry::differences(&form.answers_of(first), &keyed.answers).is_empty() {
                let compared = double_entry::printed_ids(d, voice, form.ics_preset()).len() as i32;
                let agreeing = Some(pass(2, voice, &keyed.answers, keyed_by, now));
                let settles = Settled { invitee_id: form.found.invitee.id, compared, wrong: [0, 0], agreeing };
                save(db, form, voice, &keyed, keyed_by, now, Some(settles)).await?
            } else {
                keep(db, form, 2, voice, &keyed.answers, keyed_by, now).await?
            }
        }
        Stage::Resolve { .. } => Keying::Differences,
    };
    Ok(Ok(outcome))
}

/// The two keyings of a form and where they differ.
pub struct Comparison {
    pub first: Answers,
    pub second: Answers,
    pub differing: BTreeSet<String>,
    /// The printed pages with a difference, in printed order: keyed again
    /// by the resolver.
    pub pages: Vec<usize>,
}

/// The comparison of a form keyed twice, when it is waiting for one.
pub fn comparison(form: &Form) -> Option<Comparison> {
    let (Stage::Resolve { first, second }, Some(voice)) = (form.stage(), form.voice) else { return None };
    let (first, second) = (form.answers_of(first), form.answers_of(second));
    let differing = double_entry::differences(&first, &second);
    let pages = double_entry::pages_with(&form.survey.definition, voice, form.ics_preset(), &differing);
    Some(Comparison { first, second, differing, pages })
}

/// Resolves a double-entered form: the pages with differences as keyed
/// again from the form, the rest as both keyers had it. Saves the settled
/// form as the response, and each keyer's mistakes against it.
pub async fn resolve(
    db: &Db,
    form: &Form,
    fields: &Fields,
    resolver: i64,
    (ics_codes, now): (&BTreeSet<String>, chrono::NaiveDateTime),
) -> Result<Result<Keying, Tampered>, StorageError> {
    let (Some(c), Some(voice)) = (comparison(form), form.voice) else { return Ok(Ok(Keying::Overtaken)) };
    let d = &form.survey.definition;
    let ctx = Context { wording: Wording::new(d, &form.language, Some(voice)), ics_codes, today: now.date() };
    let resolved = match keying::read_pages(&ctx, d, &c.pages, fields, &[]) {
        Err(tampered) => return Ok(Err(tampered)),
        Ok(Err(errors)) => return Ok(Ok(Keying::Invalid(errors))),
        Ok(Ok(resolved)) => resolved,
    };
    let settled = double_entry::settle(d, &c.first, &c.pages, &resolved);
    let keyed = keying::flag_off_route(d, voice, form.ics_preset(), settled);
    let ids = double_entry::printed_ids(d, voice, form.ics_preset());
    let [a, b] = [&c.first, &c.second].map(|k| double_entry::accuracy(k, &keyed.answers, &ids));
    let settles = Settled {
        invitee_id: form.found.invitee.id,
        compared: a.compared as i32,
        wrong: [a.wrong as i32, b.wrong as i32],
        agreeing: None,
    };
    Ok(Ok(save(db, form, voice, &keyed, resolver, now, Some(settles)).await?))
}

/// Keeps one keying of a double-entered form.
async fn keep(
    db: &Db,
    form: &Form,
    pass: i32,
    voice: Voice,
    answers: &Answers,
    keyed_by: i64,
    at: chrono::NaiveDateTime,
) -> Result<Keying, StorageError> {
    let number = pass;
    let pass = self::pass(number, voice, answers, keyed_by, at);
    let ids = (form.found.invitee.id, form.found.invitation.id);
    let kept = db.write(move |conn| crate::storage::keying::keep_pass(conn, ids, &pass)).await?;
    Ok(match (kept, number) {
        (PassKept::Kept, 1) => Keying::FirstKept,
        (PassKept::Kept, _) => Keying::Differences,
        (PassKept::AlreadyKeyed { at }, _) => Keying::Saved(Saved::AlreadyKeyed { at }),
        (PassKept::Overtaken, _) => Keying::Overtaken,
    })
}

/// One keying, as kept until its form is settled.
fn pass(number: i32, voice: Voice, answers: &Answers, keyed_by: i64, at: chrono::NaiveDateTime) -> Pass {
    let stored: BTreeMap<&String, String> = answers.iter().map(|(id, v)| (id, v.to_stored())).collect();
    Pass {
        pass: number,
        keyed_by,
        voice: voice.code().to_string(),
        answers: serde_json::to_string(&stored).expect("a map of strings is JSON"),
        keyed_at: at,
    }
}

/// Saves a keyed form as a paper response of its sampled person.
async fn save(
    db: &Db,
    form: &Form,
    voice: Voice,
    keyed: &keying::Keyed,
    keyed_by: i64,
    now: chrono::NaiveDateTime,
    settles: Option<Settled>,
) -> Result<Keying, StorageError> {
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
                settles,
            };
            crate::storage::keying::save(conn, &keyed, &|response, (imd_quintile, base_weight)| ResultRow {
                imd_quintile,
                base_weight,
                ..ResultRow::score_response(d, &scoring, response, Some(voice), &scored, now.date(), (None, 1.0))
            })
        })
        .await?;
    Ok(Keying::Saved(saved))
}
