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
