//! One submitted page, decided: the answers after it, what it removes
//! (blanked, cleared because an answer they depended on changed, or hidden
//! by routing now), the route and where the respondent goes next. The
//! respondent's pages and a lead's preview both call [`step`], so the
//! preview walks exactly the rules a respondent meets; only saving differs.

use super::dependents::{self, Clearing};
use super::form::{self, Context, FieldError, Fields, Tampered};
use super::routing::{Presets, Route, answer_ids};
use crate::definitions::{AnswerValue, Answers};

/// Where the respondent goes after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A question page; `change` when it is a newly opened question met on
    /// the way back to check answers.
    Page { index: usize, change: bool },
    /// Check answers.
    Check,
}

/// A valid page, applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Every answer after the page.
    pub answers: Answers,
    /// The answers given on this page, to store.
    pub given: Vec<(String, AnswerValue)>,
    /// Answer ids to delete.
    pub removed: Vec<String>,
    pub route: Route,
    /// Answers cleared because an earlier one changed, and why.
    pub clearing: Option<Clearing>,
    pub next: Next,
}

/// What a submitted page comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Mistakes to show by their fields; nothing changes.
    Invalid(Vec<FieldError>),
    Moved(Step),
}

/// Reads `fields` as page `page` and applies them to `before`. `returning`
/// is true when the respondent came from check answers: they go back
/// there, unless the change opened a question they have not answered.
pub fn step(
    ctx: &Context<'_>,
    presets: Presets,
    before: &Answers,
    page: usize,
    fields: &Fields,
    returning: bool,
) -> Result<Outcome, Tampered> {
    let definition = ctx.wording.definition;
    let input = match form::read_page(ctx, &definition.pages[page], fields)? {
        Ok(input) => input,
        Err(errors) => return Ok(Outcome::Invalid(errors)),
    };
    let mut answers = before.clone();
    for id in &input.cleared {
        answers.remove(id);
    }
    for (id, value) in &input.given {
        answers.insert(id.clone(), value.clone());
    }
    // Answers given under the old answer (or about another person, for a
    // new voice) are cleared, to be asked again.
    let clearing = dependents::clearing(definition, page, before, &answers);
    let mut removed = input.cleared;
    for id in clearing.iter().flat_map(|c| &c.cleared) {
        answers.remove(id);
        removed.push(id.clone());
    }
    let route = Route::compute(definition, presets, &answers);
    for stale in route.stale_answers(definition, &answers) {
        answers.remove(&stale);
        removed.push(stale);
    }
    let next = if returning {
        let unanswered = route
            .visible
            .iter()
            .copied()
            .filter(|&p| p > page)
            .find(|&p| answer_ids(definition, p).iter().all(|id| answers.get(id).is_none()));
        unanswered.map_or(Next::Check, |index| Next::Page { index, change: true })
    } else {
        route.next(page).map_or(Next::Check, |index| Next::Page { index, change: false })
    };
    Ok(Outcome::Moved(Step { answers, given: input.given, removed, route, clearing, next }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::NaiveDate;

    use super::*;
    use crate::definitions::{SurveyDefinition, Voice};
    use crate::journey::Wording;

    fn example() -> SurveyDefinition {
        let source = include_str!("../../survey-definitions/format-example.yaml");
        crate::definitions::parse("format-example.yaml", source).expect("the shipped example loads")
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut out = Fields::new();
        for (name, value) in pairs {
            out.entry(name.to_string()).or_default().push(value.to_string());
        }
        out
    }

    fn page(d: &SurveyDefinition, id: &str) -> usize {
        d.pages.iter().position(|p| p.id == id).unwrap()
    }

    fn run(d: &SurveyDefinition, before: &Answers, id: &str, form: &[(&str, &str)], returning: bool) -> Outcome {
        let voice = crate::journey::routing::voice_from_answers(d, before);
        let ctx = Context {
            wording: Wording::new(d, "en", voice),
            ics_codes: &BTreeSet::new(),
            today: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
        };
        step(&ctx, Presets::default(), before, page(d, id), &fields(form), returning).unwrap()
    }

    fn moved(outcome: Outcome) -> Step {
        match outcome {
            Outcome::Moved(step) => step,
            Outcome::Invalid(errors) => panic!("expected a valid page, got {errors:?}"),
        }
    }

    fn choice(code: &str) -> AnswerValue {
        AnswerValue::Choice(code.into())
    }

    /// Answers for the "about you" pages at the end, so that check answers
    /// can be next.
    fn about_you(answers: &mut Answers) {
        answers.insert("ics", choice("E54000057"));
        answers.insert("age_band", choice("65-74"));
        answers.insert("sex", choice("female"));
        answers.insert("ethnicity", choice("white_british"));
        answers.insert("conditions", AnswerValue::Choices(vec!["none".into()]));
    }

    #[test]
    fn a_valid_page_moves_to_the_next_shown_page() {
        let d = example();
        let step = moved(run(&d, &Answers::new(), "voice", &[("voice", "self")], false));
        assert_eq!(step.given, vec![("voice".to_string(), choice("self"))]);
        assert_eq!(step.route.voice, Some(Voice::Patient));
        assert_eq!(step.next, Next::Page { index: page(&d, "told_once"), change: false });
        assert!(step.removed.is_empty());
    }

    #[test]
    fn routing_skips_a_hidden_page() {
        let d = example();
        let mut before = Answers::new();
        before.insert("voice".to_string(), choice("self"));
        // "disagree" hides records_shared, so services comes next.
        let step = moved(run(&d, &before, "told_once", &[("told_once", "disagree")], false));
        assert_eq!(step.next, Next::Page { index: page(&d, "services"), change: false });
        assert!(!step.route.contains(page(&d, "records_shared")));
    }

    #[test]
    fn a_mistake_changes_nothing_and_names_the_field() {
        let d = example();
        let Outcome::Invalid(errors) = run(&d, &Answers::new(), "told_once", &[], false) else {
            panic!("a required question left blank is a mistake");
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "Select how much you agree");
    }

    #[test]
    fn a_field_no_page_asks_is_tampering() {
        let d = example();
        let voice = None;
        let ctx =
            Context { wording: Wording::new(&d, "en", voice), ics_codes: &BTreeSet::new(), today: NaiveDate::MIN };
        let tampered = step(&ctx, Presets::default(), &Answers::new(), 0, &fields(&[("nope", "1")]), false);
        assert!(tampered.is_err());
    }

    #[test]
    fn a_changed_answer_removes_the_answers_it_now_hides() {
        let d = example();
        let mut before = Answers::new();
        before.insert("voice".to_string(), choice("self"));
        before.insert("told_once".to_string(), choice("agree"));
        before.insert("records_shared".to_string(), choice("agree"));
        let step = moved(run(&d, &before, "told_once", &[("told_once", "disagree")], true));
        assert!(step.answers.get("records_shared").is_none());
        assert!(step.removed.contains(&"records_shared".to_string()));
        // Going back to check answers, the first shown page without an
        // answer is asked first.
        assert_eq!(step.next, Next::Page { index: page(&d, "services"), change: true });
    }

    #[test]
    fn a_new_voice_clears_answers_about_another_person() {
        let d = example();
        let mut before = Answers::new();
        before.insert("voice".to_string(), choice("self"));
        before.insert("told_once".to_string(), choice("agree"));
        let step = moved(run(&d, &before, "voice", &[("voice", "on_behalf")], true));
        let clearing = step.clearing.expect("the voice changed who the answers are about");
        assert!(clearing.voice);
        assert_eq!(clearing.cleared, vec!["told_once".to_string()]);
        assert!(step.answers.get("told_once").is_none());
        assert_eq!(step.next, Next::Page { index: page(&d, "told_once"), change: true });
    }

    #[test]
    fn returning_with_nothing_new_goes_back_to_check_answers() {
        let d = example();
        let mut before = Answers::new();
        for (id, code) in [("voice", "self"), ("told_once", "disagree")] {
            before.insert(id, choice(code));
        }
        before.insert("services".to_string(), AnswerValue::Choices(vec!["none".into()]));
        before.insert("anything_else".to_string(), AnswerValue::Text("more".into()));
        about_you(&mut before);
        let step = moved(run(&d, &before, "told_once", &[("told_once", "neither")], true));
        // records_shared opens again and is unanswered.
        assert_eq!(step.next, Next::Page { index: page(&d, "records_shared"), change: true });
        let mut before = step.answers;
        before.insert("records_shared".to_string(), choice("agree"));
        before.insert("anything_else".to_string(), AnswerValue::Text("more".into()));
        let step = moved(run(&d, &before, "records_shared", &[("records_shared", "disagree")], true));
        assert_eq!(step.next, Next::Check);
    }

    #[test]
    fn an_optional_question_left_blank_removes_its_answer() {
        let d = example();
        let mut before = Answers::new();
        before.insert("voice".to_string(), choice("self"));
        before.insert("told_once".to_string(), choice("disagree"));
        before.insert("anything_else".to_string(), AnswerValue::Text("more".into()));
        let step = moved(run(&d, &before, "anything_else", &[("anything_else", "")], false));
        assert_eq!(step.removed, vec!["anything_else".to_string()]);
        assert!(step.answers.get("anything_else").is_none());
        assert_eq!(step.next, Next::Page { index: page(&d, "ics"), change: false });
    }
}
