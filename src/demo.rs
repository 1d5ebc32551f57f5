//! Demonstration responses for `serve --demo`: a seeded, reproducible set of
//! submitted responses across every ICS for the shipped surveys, answered
//! through the real routing and validation, with realistic non-response
//! (older and less deprived people answer more) and real differences by ICS
//! and group, so a newcomer sees full analyst pages at once. Deprivation
//! quintiles are drawn from the real IMD 2019 shares of each ICS; the people
//! and their answers are made up.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::definitions::{AnswerValue, Answers, Dimension, QuestionKind, SurveyDefinition, Voice};
use crate::index::release::Period;
use crate::index::scoring::Scoring;
use crate::journey::form::{self, Fields};
use crate::journey::simulate::{self, Persona};
use crate::journey::{Context, Presets, Route, Wording};
use crate::storage::invitations::{self, NewInvitation};
use crate::storage::responses::{self, Answer, Channel, NewResponse};
use crate::storage::results::ResultRow;
use crate::storage::{self, Db, DbConn, StorageError, write_transaction};
use crate::surveys::SurveyRegistry;
use crate::tokens;

/// Responses per survey at full size: the main questionnaire gets the most.
fn planned(survey_id: &str, scale: f64) -> usize {
    let full = match survey_id {
        "integration_index" => 15_000.0,
        "leaving_hospital" => 4_000.0,
        _ => 0.0,
    };
    (full * scale).round() as usize
}

const BANDS: [&str; 6] = ["18-34", "35-54", "55-64", "65-74", "75-84", "85+"];
/// How much more likely each adult band is to answer (non-response).
const BAND_PROPENSITY: [f64; 6] = [0.4, 0.6, 0.9, 1.3, 1.5, 1.2];

/// The `app_settings` name that says demo responses are being loaded, with
/// the time the load began: other processes on the database (CLI commands)
/// wait for it to go rather than read a half-loaded demo.
pub const LOADING: &str = "demo_loading";

/// A load that has not finished after this long was killed part-way.
pub const LOADING_ABANDONED_AFTER: Duration = Duration::minutes(2);

/// When a demo load on this database began, if one is under way (or was
/// killed part-way, which `LOADING_ABANDONED_AFTER` tells apart).
pub fn loading_since(conn: &mut DbConn) -> Result<Option<NaiveDateTime>, StorageError> {
    let value = storage::app_settings::get(conn, LOADING)?;
    Ok(value.and_then(|v| NaiveDateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M:%S").ok()))
}

/// `load_if_empty`, with the database marked as loading meanwhile, for a
/// server that answers pages while the demo goes in (`serve --demo`). A mark
/// left by a load that was killed is removed.
pub async fn load_marked(db: &Db, registry: &SurveyRegistry, now: NaiveDateTime, scale: f64) -> anyhow::Result<usize> {
    let began = now.format("%Y-%m-%dT%H:%M:%S").to_string();
    let empty = db
        .write(move |conn| {
            let empty = responses::count(conn, responses::ResponseStatus::Submitted)? == 0;
            if empty {
                storage::app_settings::set(conn, LOADING, &began)?;
            } else {
                storage::app_settings::delete(conn, LOADING)?;
            }
            Ok(empty)
        })
        .await?;
    if !empty {
        return Ok(0);
    }
    // Already known empty: the mark was set in the same transaction.
    let made = load(db, registry, now.date(), scale).await;
    db.write(|conn| storage::app_settings::delete(conn, LOADING)).await?;
    made
}

/// Loads the demo responses when the database has no submitted responses;
/// `scale` 1.0 is the full demo (tests use less). Returns how many were made.
pub async fn load_if_empty(db: &Db, registry: &SurveyRegistry, today: NaiveDate, scale: f64) -> anyhow::Result<usize> {
    if db.run(|conn| responses::count(conn, responses::ResponseStatus::Submitted)).await? > 0 {
        return Ok(0);
    }
    load(db, registry, today, scale).await
}

/// Makes and stores the demo responses, survey by survey.
async fn load(db: &Db, registry: &SurveyRegistry, today: NaiveDate, scale: f64) -> anyhow::Result<usize> {
    let mut made = 0;
    for survey in registry.open_on(today) {
        let n = planned(&survey.definition.id, scale);
        if n == 0 {
            continue;
        }
        let definition = survey.definition.clone();
        let version = survey.version.id;
        made += db.write(move |conn| generate(conn, &definition, version, n, today)).await?;
    }
    Ok(made)
}

/// The day a demo response was submitted: most in the latest closed
/// month (the latest release), some in the month before (a trend), and a
/// few since (fieldwork still open, not yet released).
fn submission_day<R: Rng>(rng: &mut R, today: NaiveDate) -> NaiveDate {
    let day_in = |rng: &mut R, first: NaiveDate, last: NaiveDate| {
        first + Duration::days(rng.random_range(0..=(last - first).num_days()))
    };
    let latest = Period::latest_closed(today);
    let open = latest.next().first_day();
    match rng.random_range(0..100) {
        0..15 => day_in(rng, latest.previous().first_day(), latest.previous().last_day()),
        90.. if today > open => day_in(rng, open, today - Duration::days(1)),
        _ => day_in(rng, latest.first_day(), latest.last_day()),
    }
}

/// Draws an index from relative weights.
fn draw<R: Rng>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        x -= w;
        if x <= 0.0 {
            return i;
        }
    }
    weights.len() - 1
}

/// One simulated person's fixed traits.
struct Person {
    ics: String,
    voice: Voice,
    age_band: &'static str,
    sex: &'static str,
    ethnicity: &'static str,
    imd_quintile: i32,
    conditions: usize,
    invited: bool,
}

fn generate(
    conn: &mut DbConn,
    d: &SurveyDefinition,
    version: i64,
    n: usize,
    today: NaiveDate,
) -> Result<usize, StorageError> {
    let mut rng = StdRng::seed_from_u64(20_261_125 ^ d.id.len() as u64);
    let population = crate::reference::population().unwrap_or_default();
    let deprivation = crate::reference::deprivation_shares().unwrap_or_default();
    let icss: Vec<String> =
        population.keys().map(|(ics, _, _)| ics.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let adults = |ics: &str| -> f64 {
        population.iter().filter(|((i, b, _), _)| i == ics && *b != "0-17").map(|(_, v)| v).sum()
    };
    let ics_weights: Vec<f64> = icss.iter().map(|i| adults(i)).collect();
    // Each ICS gets its own level of joined-up care, so results differ.
    let quality: BTreeMap<&str, f64> = icss.iter().map(|i| (i.as_str(), rng.random_range(-0.5..0.7))).collect();
    let scoring = Scoring::new(d);
    let ics_set: BTreeSet<String> = icss.iter().cloned().collect();
    let ics_list = icss.clone();
    let mut made = 0;
    for chunk in 0..n.div_ceil(500) {
        let batch = 500.min(n - chunk * 500);
        let mut people = Vec::with_capacity(batch);
        for _ in 0..batch {
            let ics = icss[draw(&mut rng, &ics_weights)].clone();
            let voice = match rng.random_range(0..100) {
                0..70 => Voice::Patient,
                70..85 => Voice::CarerSelf,
                _ => Voice::CarerOnBehalf,
            };
            let band_weights: Vec<f64> = BANDS
                .iter()
                .zip(BAND_PROPENSITY)
                .map(|(b, p)| {
                    p * population.get(&(ics.clone(), b.to_string(), "female".into())).copied().unwrap_or(1.0)
                })
                .collect();
            let age_band = if voice == Voice::CarerOnBehalf && rng.random_bool(0.1) {
                "0-17"
            } else {
                BANDS[draw(&mut rng, &band_weights)]
            };
            let q1 = deprivation.get(&ics).copied().unwrap_or(0.2);
            // Less deprived people answer more: propensity rises with quintile.
            let quintile_weights =
                [q1 * 0.6, (1.0 - q1) / 4.0 * 0.85, (1.0 - q1) / 4.0, (1.0 - q1) / 4.0 * 1.1, (1.0 - q1) / 4.0 * 1.25];
            people.push(Person {
                ics,
                voice,
                age_band,
                sex: if rng.random_bool(0.56) { "female" } else { "male" },
                ethnicity: ["white", "white", "white", "white", "white", "white", "asian", "black", "mixed", "other"]
                    [rng.random_range(0..10)],
                imd_quintile: draw(&mut rng, &quintile_weights) as i32 + 1,
                conditions: draw(&mut rng, &[0.35, 0.35, 0.3]),
                // Mostly invited from a sample, as NHS surveys run; some
                // found the open link.
                invited: rng.random_bool(0.8),
            });
        }
        write_transaction(conn, |conn| {
            for person in &people {
                let lean = quality[person.ics.as_str()] + if person.age_band == "85+" { -0.2 } else { 0.0 }
                    - 0.08 * f64::from(5 - person.imd_quintile)
                    + if person.voice == Voice::CarerSelf { -0.25 } else { 0.0 };
                let persona = Persona { lean, ..Persona::new(person.voice) };
                let answers = answer_survey(d, &persona, person, &ics_list, &ics_set, today, &mut rng);
                let submitted = submission_day(&mut rng, today);
                let at =
                    submitted.and_hms_opt(rng.random_range(8..21), rng.random_range(0..60), 0).expect("valid time");
                store(conn, d, &scoring, version, person, &answers, at, &mut rng)?;
                made += 1;
            }
            Ok::<_, StorageError>(())
        })?;
    }
    Ok(made)
}

/// Walks the real pages in order, answering each as the person would.
fn answer_survey(
    d: &SurveyDefinition,
    persona: &Persona,
    person: &Person,
    ics_list: &[String],
    ics_set: &BTreeSet<String>,
    today: NaiveDate,
    rng: &mut StdRng,
) -> Answers {
    let mut answers = Answers::new();
    let mut done = BTreeSet::new();
    loop {
        let route = Route::compute(d, Presets::default(), &answers);
        let Some(&page) = route.visible.iter().find(|p| !done.contains(*p)) else { break };
        done.insert(page);
        let p = &d.pages[page];
        let mut fields: Fields = simulate::answer(persona, p, ics_list, today, rng);
        let q = &p.question;
        let set = |fields: &mut Fields, value: &str| {
            if q.kind.options().iter().any(|o| o.code == value && o.shown_to(Some(person.voice))) {
                fields.insert(q.id.clone(), vec![value.to_string()]);
            }
        };
        match q.dimension {
            Some(Dimension::Ics) => {
                fields.insert(q.id.clone(), vec![person.ics.clone()]);
            }
            Some(Dimension::AgeBand) => set(&mut fields, person.age_band),
            Some(Dimension::Sex) => set(&mut fields, person.sex),
            Some(Dimension::Ethnicity) => set(&mut fields, person.ethnicity),
            Some(Dimension::LongTermCondition) => {
                if let QuestionKind::MultipleChoice { options, .. } = &q.kind {
                    let real: Vec<&str> = options
                        .iter()
                        .filter(|o| !o.is_exclusive() && o.shown_to(Some(person.voice)))
                        .map(|o| o.code.as_str())
                        .collect();
                    let chosen: Vec<String> = if person.conditions == 0 || real.is_empty() {
                        vec!["none".into()]
                    } else {
                        real.iter().take(person.conditions.min(real.len())).map(|c| c.to_string()).collect()
                    };
                    fields.insert(q.id.clone(), chosen);
                }
            }
            None => {}
        }
        let voice = route.voice.or(Some(person.voice));
        let ctx = Context { wording: Wording::new(d, d.default_language(), voice), ics_codes: ics_set, today };
        if let Ok(Ok(input)) = form::read_page(&ctx, p, &fields) {
            for (id, value) in input.given {
                answers.insert(id, value);
            }
        }
    }
    answers
}

#[allow(clippy::too_many_arguments)]
fn store(
    conn: &mut DbConn,
    d: &SurveyDefinition,
    scoring: &Scoring,
    version: i64,
    person: &Person,
    answers: &Answers,
    at: chrono::NaiveDateTime,
    rng: &mut StdRng,
) -> Result<(), StorageError> {
    let (channel, invitation_id, base_weight) = if person.invited {
        // Sampling fractions near one in two, so base weights sit beside the
        // open link's weight of 1 without dominating the design.
        let probability = rng.random_range(0.4..0.8);
        let id = invitations::create(
            conn,
            &NewInvitation {
                token_hash: tokens::hash(&tokens::new_token()),
                survey_id: d.id.clone(),
                ics_code: Some(person.ics.clone()),
                imd_quintile: Some(person.imd_quintile),
                selection_probability: Some(probability),
                created_at: at,
                ..Default::default()
            },
        )?;
        (Channel::Invitation, Some(id), 1.0 / probability)
    } else {
        (Channel::OpenLink, None, 1.0)
    };
    let voice = crate::journey::routing::voice_from_answers(d, answers);
    let ics = answers.get(
        d.pages.iter().find(|p| p.question.dimension == Some(Dimension::Ics)).map_or("", |p| p.question.id.as_str()),
    );
    let ics_code = match ics {
        Some(AnswerValue::Choice(c)) => Some(c.clone()),
        _ => None,
    };
    let reference = tokens::new_reference();
    let response = responses::create(
        conn,
        &NewResponse {
            status: responses::ResponseStatus::Submitted,
            voice: voice.map(|v| v.code()),
            ics_code: ics_code.as_deref(),
            invitation_id,
            ..NewResponse::begun(version, channel, d.default_language(), &reference, at)
        },
    )?;
    let rows: Vec<Answer> = answers
        .iter()
        .map(|(id, value)| Answer {
            response_id: response.id,
            question_id: id.clone(),
            value: value.to_stored(),
            answered_at: at,
        })
        .collect();
    responses::insert_answers(conn, &rows)?;
    let strata = (person.invited.then_some(person.imd_quintile), base_weight);
    let row = ResultRow::score_response(d, scoring, &response, voice, answers, at.date(), strata);
    storage::results::insert(conn, &row)
}
