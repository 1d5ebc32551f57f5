//! Answers that stop being about the right thing when an earlier answer
//! changes. A page whose `show_if` or `depends_on` uses a changed answer
//! was answered under the old one, so its answers are cleared and asked
//! again; so are the answers that depend on those, in turn. When the voice
//! changes, every answer whose wording differs by voice was about another
//! person ("your age" against "their age") and is cleared too.

use std::collections::{BTreeMap, BTreeSet};

use crate::definitions::{Answers, QuestionKind, SurveyDefinition, Text, Voice};

use super::routing::{answer_ids, voice_from_answers};

/// Why answers were cleared: which earlier answer changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clearing {
    /// The page whose answer changed (the voice question for a new voice).
    pub because: usize,
    /// True when the change was to who the answers are about.
    pub voice: bool,
    /// Answer ids cleared, in page order.
    pub cleared: Vec<String>,
    /// The pages those answers were on, in order.
    pub pages: Vec<usize>,
}

/// True when the page's question reads differently, or offers different
/// options, to voice `a` than to voice `b`: "How old are you?" against
/// "How old is the person you look after?". Patients and carers answering
/// for themselves usually share wording, and keep their answers.
pub fn differs_between(definition: &SurveyDefinition, page: usize, a: Voice, b: Voice) -> bool {
    let differs = |t: &Text| t.by_language.keys().any(|l| t.get(l, Some(a)) != t.get(l, Some(b)));
    let q = &definition.pages[page].question;
    differs(&q.text)
        || q.help.as_ref().is_some_and(differs)
        || q.kind.options().iter().any(|o| differs(&o.label) || o.shown_to(Some(a)) != o.shown_to(Some(b)))
        || matches!(&q.kind, QuestionKind::LikertGroup { items, .. } if items.iter().any(|i| differs(&i.text)))
}

/// The pages each page's answers depend on: what its `show_if` reads and
/// what its `depends_on` names (a Likert item stands for its page).
fn depends_on_pages(definition: &SurveyDefinition) -> Vec<BTreeSet<usize>> {
    let page_of: BTreeMap<&str, usize> = (0..definition.pages.len())
        .flat_map(|p| {
            let mut ids = answer_ids(definition, p);
            ids.push(definition.pages[p].id.as_str());
            ids.into_iter().map(move |id| (id, p))
        })
        .collect();
    definition
        .pages
        .iter()
        .map(|page| {
            let from_condition = page.show_if.iter().flat_map(|c| c.expr.question_refs()).map(|r| r.id.as_str());
            from_condition
                .chain(page.depends_on.iter().map(String::as_str))
                .filter_map(|id| page_of.get(id).copied())
                .collect()
        })
        .collect()
}

/// What saving page `saved` (whose answers went from `before` to `after`)
/// clears elsewhere, or `None` when nothing depended on what changed. The
/// saved page's own answers are never cleared.
pub fn clearing(definition: &SurveyDefinition, saved: usize, before: &Answers, after: &Answers) -> Option<Clearing> {
    let changed = answer_ids(definition, saved).iter().any(|id| before.get(id) != after.get(id));
    if !changed {
        return None;
    }
    let old_voice = voice_from_answers(definition, before);
    let new_voice = voice_from_answers(definition, after);
    let voice_change = match (old_voice, new_voice) {
        (Some(a), Some(b)) if a != b && definition.pages[saved].question.sets_voice => Some((a, b)),
        _ => None,
    };
    let depends = depends_on_pages(definition);
    let mut reached = BTreeSet::from([saved]);
    let mut work = vec![saved];
    while let Some(changed_page) = work.pop() {
        for (p, on) in depends.iter().enumerate() {
            if on.contains(&changed_page) && reached.insert(p) {
                work.push(p);
            }
        }
    }
    if let Some((a, b)) = voice_change {
        for p in (0..definition.pages.len()).filter(|&p| differs_between(definition, p, a, b)) {
            if reached.insert(p) {
                // What depended on an answer about the other person goes too.
                for (q, on) in depends.iter().enumerate() {
                    if on.contains(&p) {
                        reached.insert(q);
                    }
                }
            }
        }
    }
    reached.remove(&saved);
    let mut cleared = Vec::new();
    let mut pages = Vec::new();
    for p in reached {
        let ids: Vec<String> =
            answer_ids(definition, p).into_iter().filter(|id| after.get(id).is_some()).map(str::to_string).collect();
        if !ids.is_empty() {
            pages.push(p);
            cleared.extend(ids);
        }
    }
    (!cleared.is_empty()).then_some(Clearing { because: saved, voice: voice_change.is_some(), cleared, pages })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::AnswerValue;

    fn survey() -> SurveyDefinition {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/survey-definitions/integration-index.yaml");
        crate::definitions::load_file(std::path::Path::new(path)).unwrap().definition
    }

    fn page(d: &SurveyDefinition, id: &str) -> usize {
        d.pages.iter().position(|p| p.id == id).unwrap()
    }

    fn choice(answers: &mut Answers, id: &str, code: &str) {
        answers.insert(id, AnswerValue::Choice(code.into()));
    }

    /// A patient's answers: the voice, care plan, coordinator and about-you pages.
    fn patient() -> Answers {
        let mut a = Answers::new();
        choice(&mut a, "voice", "patient");
        choice(&mut a, "has_care_plan", "yes");
        choice(&mut a, "plan_had_say", "agree");
        choice(&mut a, "named_coordinator", "yes");
        choice(&mut a, "coordinator_help", "very_well");
        choice(&mut a, "age_band", "65-74");
        choice(&mut a, "sex", "female");
        a
    }

    #[test]
    fn a_changed_answer_clears_what_its_show_if_and_depends_on_use() {
        let d = survey();
        let before = patient();
        let mut after = before.clone();
        choice(&mut after, "named_coordinator", "dont_know");
        let c = clearing(&d, page(&d, "named_coordinator"), &before, &after).unwrap();
        assert_eq!(c.cleared, vec!["coordinator_help".to_string()]);
        assert!(!c.voice);
        // The same answer again changes nothing.
        assert_eq!(clearing(&d, page(&d, "named_coordinator"), &before, &before.clone()), None);
    }

    #[test]
    fn a_new_voice_clears_answers_about_the_other_person_only() {
        let d = survey();
        let before = patient();
        let mut on_behalf = before.clone();
        choice(&mut on_behalf, "voice", "carer_on_behalf");
        let c = clearing(&d, page(&d, "voice"), &before, &on_behalf).unwrap();
        assert!(c.voice);
        for id in ["age_band", "sex", "has_care_plan", "plan_had_say", "coordinator_help"] {
            assert!(c.cleared.iter().any(|x| x == id), "{id} is about someone else now: {:?}", c.cleared);
        }
        // A carer answering for themselves is asked "How old are you?" too.
        let mut carer_self = before.clone();
        choice(&mut carer_self, "voice", "carer_self");
        let kept = clearing(&d, page(&d, "voice"), &before, &carer_self);
        assert!(kept.as_ref().is_none_or(|c| !c.cleared.iter().any(|x| x == "age_band")), "{kept:?}");
    }
}
