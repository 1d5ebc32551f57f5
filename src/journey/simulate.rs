//! A simulated respondent: valid answers for any page, as a browser would
//! post them. Used by the HTTP tests, the load driver and the demo data, so
//! all three exercise the real pages and rules.

use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

use super::form::{Fields, format_number};
use crate::definitions::{AnswerOption, DateBound, Page, QuestionKind, Voice};

/// How a simulated person answers: their voice, and how often they pick a
/// "don't know"-style answer or skip an optional question.
#[derive(Debug, Clone, Copy)]
pub struct Persona {
    pub voice: Voice,
    pub missing_rate: f64,
    pub skip_optional_rate: f64,
    /// How well care works for this person, −1 to 1: scored options are
    /// chosen with weights exp(lean × score / 25), so 0 is uniform.
    pub lean: f64,
}

impl Persona {
    pub fn new(voice: Voice) -> Self {
        Persona { voice, missing_rate: 0.05, skip_optional_rate: 0.3, lean: 0.0 }
    }
}

fn pick<'o, R: Rng>(persona: &Persona, options: &'o [AnswerOption], rng: &mut R) -> Option<&'o AnswerOption> {
    let shown: Vec<&AnswerOption> = options.iter().filter(|o| o.shown_to(Some(persona.voice))).collect();
    let (missing, regular): (Vec<&AnswerOption>, Vec<&AnswerOption>) = shown.iter().partition(|o| o.missing.is_some());
    if !missing.is_empty() && (regular.is_empty() || rng.random_bool(persona.missing_rate)) {
        return missing.choose(rng).copied();
    }
    if persona.lean != 0.0 && regular.iter().any(|o| o.score.is_some()) {
        let weights: Vec<f64> = regular.iter().map(|o| (persona.lean * o.score.unwrap_or(50.0) / 25.0).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut draw = rng.random::<f64>() * total;
        for (o, w) in regular.iter().zip(&weights) {
            draw -= w;
            if draw <= 0.0 {
                return Some(o);
            }
        }
    }
    regular.choose(rng).copied()
}

/// Form fields answering `page` validly for `persona`. `ics_codes` are the
/// areas the ICS question offers; `today` bounds date questions.
pub fn answer<R: Rng>(persona: &Persona, page: &Page, ics_codes: &[String], today: NaiveDate, rng: &mut R) -> Fields {
    let q = &page.question;
    let mut fields = Fields::new();
    let skip = !q.required && rng.random_bool(persona.skip_optional_rate);
    let mut put = |name: &str, value: String| fields.entry(name.to_string()).or_default().push(value);
    match &q.kind {
        QuestionKind::SingleChoice { options } if q.sets_voice => {
            if let Some(o) = options.iter().find(|o| o.voice == Some(persona.voice)) {
                put(&q.id, o.code.clone());
            }
        }
        _ if skip => {}
        QuestionKind::SingleChoice { options } => {
            if let Some(o) = pick(persona, options, rng) {
                put(&q.id, o.code.clone());
            }
        }
        QuestionKind::IcsSelect => {
            if let Some(code) = ics_codes.choose(rng) {
                put(&q.id, code.clone());
            }
        }
        QuestionKind::LikertGroup { options, items } => {
            for item in items {
                if !item.required && rng.random_bool(persona.skip_optional_rate) {
                    continue;
                }
                if let Some(o) = pick(persona, options, rng) {
                    put(&item.id, o.code.clone());
                }
            }
        }
        QuestionKind::MultipleChoice { options, min_selected, max_selected } => {
            let shown: Vec<&AnswerOption> = options.iter().filter(|o| o.shown_to(Some(persona.voice))).collect();
            let exclusive: Vec<&&AnswerOption> = shown.iter().filter(|o| o.is_exclusive()).collect();
            let mut regular: Vec<&&AnswerOption> = shown.iter().filter(|o| !o.is_exclusive()).collect();
            let lo = min_selected.unwrap_or(1).max(1) as usize;
            let hi = max_selected.map_or(regular.len(), |m| m as usize).min(regular.len()).max(lo.min(regular.len()));
            if regular.is_empty() || (!exclusive.is_empty() && rng.random_bool(0.15)) || lo > regular.len() {
                if let Some(o) = exclusive.choose(rng) {
                    put(&q.id, o.code.clone());
                }
            } else {
                regular.shuffle(rng);
                let n = rng.random_range(lo..=hi.min(3).max(lo));
                for o in regular.into_iter().take(n) {
                    put(&q.id, o.code.clone());
                }
            }
        }
        QuestionKind::Number { min, max, .. } => {
            let value = rng.random_range(min.ceil() as i64..=max.floor() as i64);
            put(&q.id, format_number(value as f64));
        }
        QuestionKind::Date { min, max } => {
            let resolve = |b: &Option<DateBound>, fallback: NaiveDate| match b {
                Some(DateBound::Today) => today,
                Some(DateBound::Fixed(d)) => *d,
                None => fallback,
            };
            let lo = resolve(min, today - Duration::days(3650));
            let hi = resolve(max, today);
            let span = (hi - lo).num_days().max(0);
            let date = lo + Duration::days(rng.random_range(0..=span));
            put(&format!("{}-day", q.id), date.format("%-d").to_string());
            put(&format!("{}-month", q.id), date.format("%-m").to_string());
            put(&format!("{}-year", q.id), date.format("%Y").to_string());
        }
        QuestionKind::FreeText { max_length, .. } => {
            let text = "Everyone knew what was happening & nobody asked me the same thing twice.";
            put(&q.id, text.chars().take(*max_length as usize).collect());
        }
    }
    fields
}
