//! Keying a returned paper questionnaire: every printed question read from
//! one form, in printed order, with the checks the online pages make
//! except those a paper respondent cannot be held to.
//!
//! The rules for paper (docs/methodology.md, "Paper responses"):
//! - nothing is required and a multiple choice has no minimum or maximum:
//!   the form is keyed as it was filled in;
//! - an answer to a question the respondent's own earlier answers say to
//!   skip is kept as given and flagged `off_route`, and never scored; the
//!   keyer sees which, as a warning, not a block;
//! - the online rule that clears answers depending on a changed one does
//!   not apply: nothing keyed is ever dropped.

use std::collections::BTreeSet;

use super::booklet::printed_pages;
use crate::definitions::{Answers, QuestionKind, SurveyDefinition, Voice};
use crate::journey::form::{Context, FieldError, Fields, Tampered, field_names, read_page};
use crate::journey::routing::{Presets, Route};

/// A keyed form, read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Keyed {
    /// Every answer keyed, on route or not.
    pub answers: Answers,
    /// The answer ids (questions and Likert items) the route skips.
    pub off_route: BTreeSet<String>,
    /// The printed numbers of the questions answered off route, in order.
    pub off_route_questions: Vec<u32>,
}

impl Keyed {
    /// The answers that count: those on the respondent's route.
    pub fn scored(&self) -> Answers {
        let mut answers = self.answers.clone();
        for id in &self.off_route {
            answers.remove(id);
        }
        answers
    }
}

/// The definition as paper is keyed against it: nothing required, no
/// minimum or maximum number of ticks.
pub fn as_keyed(definition: &SurveyDefinition) -> SurveyDefinition {
    let mut paper = definition.clone();
    for page in &mut paper.pages {
        page.question.required = false;
        match &mut page.question.kind {
            QuestionKind::LikertGroup { items, .. } => items.iter_mut().for_each(|i| i.required = false),
            QuestionKind::MultipleChoice { min_selected, max_selected, .. } => {
                (*min_selected, *max_selected) = (None, None);
            }
            _ => {}
        }
    }
    paper
}

/// Reads the keyed fields of a copy printed for `voice` (and without its
/// ICS question when the sample gave the ICS). Fields other than the
/// printed questions' are refused as tampering, except those in `also`.
pub fn read(
    ctx: &Context<'_>,
    definition: &SurveyDefinition,
    voice: Voice,
    ics_preset: bool,
    fields: &Fields,
    also: &[&str],
) -> Result<Result<Keyed, Vec<FieldError>>, Tampered> {
    let printed = printed_pages(definition, voice, ics_preset);
    let read = read_pages(ctx, definition, &printed, fields, also)?;
    Ok(read.map(|answers| flag_off_route(definition, voice, ics_preset, answers)))
}

/// Reads the keyed fields of some of a copy's pages (`pages`, indices into
/// the definition's pages): all of them when a form is keyed, the ones
/// with differences when a double-entered form is resolved. Fields of
/// other pages are refused as tampering, except those in `also`.
pub fn read_pages(
    ctx: &Context<'_>,
    definition: &SurveyDefinition,
    pages: &[usize],
    fields: &Fields,
    also: &[&str],
) -> Result<Result<Answers, Vec<FieldError>>, Tampered> {
    let paper = as_keyed(definition);
    let mut known: BTreeSet<String> = also.iter().map(|s| s.to_string()).collect();
    for &index in pages {
        known.extend(field_names(&paper.pages[index]));
    }
    if let Some(name) = fields.keys().find(|name| !known.contains(*name)) {
        return Err(Tampered(format!("the form has a field `{name}` that this questionnaire does not print")));
    }
    let mut answers = Answers::new();
    let mut errors = Vec::new();
    for &index in pages {
        let page = &paper.pages[index];
        let names = field_names(page);
        let mine: Fields =
            fields.iter().filter(|(k, _)| names.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        match read_page(ctx, page, &mine)? {
            Ok(input) => {
                for (id, value) in input.given {
                    answers.insert(id, value);
                }
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    Ok(if errors.is_empty() { Ok(answers) } else { Err(errors) })
}

/// A whole copy's answers with those its respondent's route skips flagged.
pub fn flag_off_route(definition: &SurveyDefinition, voice: Voice, ics_preset: bool, answers: Answers) -> Keyed {
    let printed = printed_pages(definition, voice, ics_preset);
    let route = Route::compute(definition, Presets { voice: Some(voice), ics: ics_preset }, &answers);
    let mut keyed = Keyed { answers, ..Keyed::default() };
    for (number, &index) in printed.iter().enumerate() {
        if route.contains(index) {
            continue;
        }
        let ids = field_ids(definition, index);
        let answered: Vec<&String> = ids.iter().filter(|id| keyed.answers.get(id).is_some()).collect();
        if !answered.is_empty() {
            keyed.off_route.extend(answered.into_iter().cloned());
            keyed.off_route_questions.push(number as u32 + 1);
        }
    }
    keyed
}

/// The answer ids of a page: its question, or its Likert items.
pub fn field_ids(definition: &SurveyDefinition, index: usize) -> Vec<String> {
    let q = &definition.pages[index].question;
    match &q.kind {
        QuestionKind::LikertGroup { items, .. } => items.iter().map(|i| i.id.clone()).collect(),
        _ => vec![q.id.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::Wording;

    fn definition() -> SurveyDefinition {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("survey-definitions/format-example.yaml");
        crate::definitions::load_file(&path).unwrap().definition
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut out = Fields::new();
        for (k, v) in pairs {
            out.entry(k.to_string()).or_default().push(v.to_string());
        }
        out
    }

    /// Reading a patient's English copy on 7 December 2026.
    fn patient_context<'a>(d: &'a SurveyDefinition, codes: &'a BTreeSet<String>) -> Context<'a> {
        Context {
            wording: Wording::new(d, "en", Some(Voice::Patient)),
            ics_codes: codes,
            today: chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
        }
    }

    #[test]
    fn an_answer_the_route_skips_is_kept_flagged_and_not_scored() {
        let d = definition();
        let codes = BTreeSet::new();
        let ctx = patient_context(&d, &codes);
        // told_once = agree shows records_shared; disagree skips it.
        let form = fields(&[("told_once", "disagree"), ("records_shared", "agree")]);
        let keyed = read(&ctx, &d, Voice::Patient, true, &form, &[]).unwrap().unwrap();
        assert_eq!(keyed.answers.len(), 2);
        assert_eq!(keyed.off_route, BTreeSet::from(["records_shared".to_string()]));
        assert_eq!(keyed.off_route_questions, vec![2]);
        assert!(keyed.scored().get("records_shared").is_none());
        assert!(keyed.scored().get("told_once").is_some());
    }

    #[test]
    fn nothing_is_required_on_paper_and_strangers_are_refused() {
        let d = definition();
        let codes = BTreeSet::new();
        let ctx = patient_context(&d, &codes);
        let keyed = read(&ctx, &d, Voice::Patient, true, &Fields::new(), &[]).unwrap().unwrap();
        assert!(keyed.answers.is_empty());
        let err = read(&ctx, &d, Voice::Patient, true, &fields(&[("caring_hours", "3")]), &[]).unwrap_err();
        assert!(err.0.contains("caring_hours"), "a carers' question is not on a patient's copy: {err}");
        let unknown = read(&ctx, &d, Voice::Patient, true, &fields(&[("told_once", "sometimes")]), &[]);
        assert!(!matches!(unknown, Ok(Ok(_))), "an option the question lacks is not an answer");
    }
}
