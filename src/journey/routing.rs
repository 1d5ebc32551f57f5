//! Which pages a respondent sees, given their voice and answers so far.
//!
//! Pages are decided in order: a page's `show_if` sees only the answers of
//! earlier pages that are themselves shown, so an answer on a page that a
//! changed answer has hidden no longer counts, and is discarded on save.

use crate::definitions::{Answers, QuestionKind, SurveyDefinition, Voice};

/// What is fixed before the first page: an invitation may preset the voice
/// and the ICS, which hides the questions that would ask for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presets {
    pub voice: Option<Voice>,
    pub ics: bool,
}

/// The pages shown to one respondent, by index into `definition.pages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub visible: Vec<usize>,
    pub voice: Option<Voice>,
}

impl Route {
    pub fn compute(definition: &SurveyDefinition, presets: Presets, answers: &Answers) -> Route {
        let voice = presets.voice.or_else(|| voice_from_answers(definition, answers));
        let mut effective = Answers::new();
        let mut visible = Vec::new();
        for (index, page) in definition.pages.iter().enumerate() {
            let q = &page.question;
            let preset =
                (q.sets_voice && presets.voice.is_some()) || (matches!(q.kind, QuestionKind::IcsSelect) && presets.ics);
            let shown = !preset && page.show_if.as_ref().is_none_or(|c| c.expr.eval(voice, &effective));
            if shown {
                visible.push(index);
                for id in answer_ids(definition, index) {
                    if let Some(value) = answers.get(id) {
                        effective.insert(id, value.clone());
                    }
                }
            }
        }
        Route { visible, voice }
    }

    pub fn contains(&self, page: usize) -> bool {
        self.visible.contains(&page)
    }

    /// The first shown page after `page`, or `None` for "check answers".
    pub fn next(&self, page: usize) -> Option<usize> {
        self.visible.iter().copied().find(|&p| p > page)
    }

    /// The last shown page before `page`.
    pub fn previous(&self, page: usize) -> Option<usize> {
        self.visible.iter().copied().rev().find(|&p| p < page)
    }

    /// 1-based position of `page` among the shown pages.
    pub fn position(&self, page: usize) -> usize {
        self.visible.iter().position(|&p| p == page).map_or(1, |i| i + 1)
    }

    /// Where to go on return: the first shown page with no answer at all,
    /// else `None` (everything answered: check answers).
    pub fn resume_point(&self, definition: &SurveyDefinition, answers: &Answers) -> Option<usize> {
        self.visible.iter().copied().find(|&p| answer_ids(definition, p).iter().all(|id| answers.get(id).is_none()))
    }

    /// Answers that belong to pages no longer shown: they must be discarded.
    pub fn stale_answers(&self, definition: &SurveyDefinition, answers: &Answers) -> Vec<String> {
        (0..definition.pages.len())
            .filter(|p| !self.contains(*p))
            .flat_map(|p| answer_ids(definition, p))
            .filter(|id| answers.get(id).is_some())
            .map(str::to_string)
            .collect()
    }

    /// Required questions on shown pages that have no answer.
    pub fn missing_required(&self, definition: &SurveyDefinition, answers: &Answers) -> Vec<usize> {
        self.visible
            .iter()
            .copied()
            .filter(|&p| {
                let q = &definition.pages[p].question;
                match &q.kind {
                    QuestionKind::LikertGroup { items, .. } => {
                        items.iter().any(|i| i.required && answers.get(&i.id).is_none())
                    }
                    _ => q.required && answers.get(&q.id).is_none(),
                }
            })
            .collect()
    }
}

/// The ids answers are stored under for a page: the question, or each Likert item.
pub fn answer_ids(definition: &SurveyDefinition, page: usize) -> Vec<&str> {
    let q = &definition.pages[page].question;
    match &q.kind {
        QuestionKind::LikertGroup { items, .. } => items.iter().map(|i| i.id.as_str()).collect(),
        _ => vec![q.id.as_str()],
    }
}

/// The voice chosen on the voice question, if answered.
pub fn voice_from_answers(definition: &SurveyDefinition, answers: &Answers) -> Option<Voice> {
    let q = definition.voice_question()?;
    let crate::definitions::AnswerValue::Choice(code) = answers.get(&q.id)? else { return None };
    q.kind.options().iter().find(|o| &o.code == code).and_then(|o| o.voice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::AnswerValue;

    fn example() -> SurveyDefinition {
        let source = include_str!("../../survey-definitions/format-example.yaml");
        crate::definitions::parse("format-example.yaml", source).expect("the shipped example loads")
    }

    fn ids(d: &SurveyDefinition, route: &Route) -> Vec<String> {
        route.visible.iter().map(|&p| d.pages[p].id.clone()).collect()
    }

    fn page(d: &SurveyDefinition, id: &str) -> usize {
        d.pages.iter().position(|p| p.id == id).unwrap()
    }

    fn answers(pairs: &[(&str, AnswerValue)]) -> Answers {
        let mut out = Answers::new();
        for (id, value) in pairs {
            out.insert((*id).to_string(), value.clone());
        }
        out
    }

    fn choice(code: &str) -> AnswerValue {
        AnswerValue::Choice(code.into())
    }

    #[test]
    fn before_any_answer_only_unconditional_pages_and_not_equal_tests_show() {
        let d = example();
        let route = Route::compute(&d, Presets::default(), &Answers::new());
        // last_contact's `not (services contains 'none')` is true with no answer.
        assert_eq!(
            ids(&d, &route),
            ["voice", "told_once", "services", "last_contact", "ics", "age_band", "sex", "ethnicity", "conditions"]
        );
        assert_eq!(route.voice, None);
    }

    #[test]
    fn answers_open_the_pages_that_depend_on_them() {
        let d = example();
        let given = answers(&[
            ("voice", choice("carer")),
            ("told_once", choice("neither")),
            ("services", AnswerValue::Choices(vec!["gp".into(), "hospital".into()])),
            ("caring_hours", AnswerValue::Number(35.0)),
        ]);
        let route = Route::compute(&d, Presets::default(), &given);
        assert_eq!(route.voice, Some(Voice::CarerSelf));
        assert_eq!(
            ids(&d, &route),
            [
                "voice",
                "told_once",
                "records_shared",
                "services",
                "working_together",
                "caring_hours",
                "break_from_caring",
                "last_contact",
                "anything_else",
                "ics",
                "age_band",
                "sex",
                "ethnicity",
                "conditions"
            ]
        );
        assert_eq!(route.next(page(&d, "told_once")), Some(page(&d, "records_shared")));
        assert_eq!(route.previous(page(&d, "services")), Some(page(&d, "records_shared")));
        assert_eq!(route.position(page(&d, "services")), 4);
        assert_eq!(route.next(page(&d, "conditions")), None);
    }

    #[test]
    fn a_preset_voice_hides_the_voice_question_and_still_routes() {
        let d = example();
        let presets = Presets { voice: Some(Voice::CarerOnBehalf), ics: false };
        let route = Route::compute(&d, presets, &Answers::new());
        assert_eq!(route.voice, Some(Voice::CarerOnBehalf));
        assert!(!route.contains(page(&d, "voice")));
        assert!(route.contains(page(&d, "caring_hours")));
        assert_eq!(route.previous(page(&d, "told_once")), None);
    }

    #[test]
    fn an_answer_on_a_hidden_page_is_stale_and_does_not_count() {
        let d = example();
        // services said "none", so last_contact is hidden; its old answer
        // is stale, and no condition may read it.
        let given = answers(&[
            ("voice", choice("self")),
            ("told_once", choice("disagree")),
            ("records_shared", choice("agree")),
            ("services", AnswerValue::Choices(vec!["none".into()])),
            ("last_contact", AnswerValue::Date(chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap())),
        ]);
        let route = Route::compute(&d, Presets::default(), &given);
        let mut stale = route.stale_answers(&d, &given);
        stale.sort();
        assert_eq!(stale, ["last_contact", "records_shared"]);
    }

    #[test]
    fn missing_answers_and_where_to_resume() {
        let d = example();
        let given = answers(&[("voice", choice("self")), ("told_once", choice("agree"))]);
        let route = Route::compute(&d, Presets::default(), &given);
        // Questions are required unless they say otherwise.
        let missing: Vec<&str> = route.missing_required(&d, &given).iter().map(|&p| d.pages[p].id.as_str()).collect();
        assert_eq!(missing, ["records_shared", "services", "ics", "age_band", "sex", "conditions"]);
        assert_eq!(route.resume_point(&d, &given), Some(page(&d, "records_shared")));
    }

    #[test]
    fn a_likert_group_stores_one_answer_per_item() {
        let d = example();
        assert_eq!(answer_ids(&d, page(&d, "working_together")), ["services_talk", "one_plan", "know_contact"]);
        assert_eq!(answer_ids(&d, page(&d, "told_once")), ["told_once"]);
    }

    #[test]
    fn the_voice_comes_from_the_chosen_option() {
        let d = example();
        assert_eq!(voice_from_answers(&d, &answers(&[("voice", choice("on_behalf"))])), Some(Voice::CarerOnBehalf));
        assert_eq!(voice_from_answers(&d, &Answers::new()), None);
        assert_eq!(voice_from_answers(&d, &answers(&[("voice", choice("unknown"))])), None);
    }
}
