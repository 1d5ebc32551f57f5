//! Double entry: a returned form keyed twice, blind, by two keyers. Where
//! the two keyings agree, the answer stands; where they differ, someone
//! reads the form again and keys what it says. The settled form is what
//! counts, and each keying's mistakes against it give the keyer's error
//! rate (docs/methodology.md, "Paper responses").
//!
//! Differences are found per answer id (a question, or one Likert item),
//! so a grid with one differing row is resolved by its row, and a blank
//! keyed against a tick is a difference like two different ticks.

use std::collections::BTreeSet;

use super::booklet::printed_pages;
use super::keying::field_ids;
use crate::definitions::{Answers, SurveyDefinition, Voice};

/// The answer ids on which two keyings of one form differ.
pub fn differences(first: &Answers, second: &Answers) -> BTreeSet<String> {
    let ids: BTreeSet<&String> = first.iter().chain(second.iter()).map(|(id, _)| id).collect();
    ids.into_iter().filter(|id| first.get(id) != second.get(id)).cloned().collect()
}

/// The printed pages, in printed order, that hold one of `ids`: what the
/// resolver keys again.
pub fn pages_with(definition: &SurveyDefinition, voice: Voice, ics_preset: bool, ids: &BTreeSet<String>) -> Vec<usize> {
    printed_pages(definition, voice, ics_preset)
        .into_iter()
        .filter(|&index| field_ids(definition, index).iter().any(|id| ids.contains(id)))
        .collect()
}

/// The settled form: the agreed keying, with every answer of the pages
/// keyed again (`pages`) taken from the resolver's keying instead.
pub fn settle(definition: &SurveyDefinition, agreed: &Answers, pages: &[usize], resolved: &Answers) -> Answers {
    let mut settled = agreed.clone();
    for &index in pages {
        for id in field_ids(definition, index) {
            settled.remove(&id);
            if let Some(value) = resolved.get(&id) {
                settled.insert(id, value.clone());
            }
        }
    }
    settled
}

/// Every answer id a copy prints: what a keying is compared over.
pub fn printed_ids(definition: &SurveyDefinition, voice: Voice, ics_preset: bool) -> Vec<String> {
    printed_pages(definition, voice, ics_preset).into_iter().flat_map(|index| field_ids(definition, index)).collect()
}

/// How a keying did against the settled form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accuracy {
    /// The answer ids compared: every one the copy prints.
    pub compared: u32,
    /// Those the keying has otherwise than the settled form.
    pub wrong: u32,
}

/// Scores a keying against the settled form over the printed `ids`.
pub fn accuracy(keying: &Answers, settled: &Answers, ids: &[String]) -> Accuracy {
    let wrong = ids.iter().filter(|id| keying.get(id) != settled.get(id)).count();
    Accuracy { compared: ids.len() as u32, wrong: wrong as u32 }
}

/// An error rate as a share of fields, or `None` when nothing was
/// compared (never NaN).
pub fn error_rate(compared: i64, wrong: i64) -> Option<f64> {
    (compared > 0).then(|| wrong as f64 / compared as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::{AnswerValue, QuestionKind};

    fn definition() -> SurveyDefinition {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("survey-definitions/format-example.yaml");
        crate::definitions::load_file(&path).unwrap().definition
    }

    fn answers(pairs: &[(&str, AnswerValue)]) -> Answers {
        let mut out = Answers::new();
        for (id, v) in pairs {
            out.insert(*id, v.clone());
        }
        out
    }

    fn choice(code: &str) -> AnswerValue {
        AnswerValue::Choice(code.into())
    }

    #[test]
    fn a_blank_against_a_tick_and_two_ticks_are_differences() {
        let first = answers(&[("a", choice("yes")), ("b", choice("no")), ("c", AnswerValue::Number(3.0))]);
        let second = answers(&[("a", choice("yes")), ("b", choice("yes")), ("d", choice("x"))]);
        let diff: Vec<String> = differences(&first, &second).into_iter().collect();
        assert_eq!(diff, ["b", "c", "d"]);
        assert!(differences(&first, &first).is_empty());
    }

    #[test]
    fn a_difference_in_one_grid_row_reopens_only_its_page_and_settles_by_it() {
        let d = definition();
        let (grid, items) = d
            .pages
            .iter()
            .enumerate()
            .find_map(|(i, p)| match &p.question.kind {
                QuestionKind::LikertGroup { items, options } if items.len() > 1 => Some((
                    i,
                    items
                        .iter()
                        .map(|it| (it.id.clone(), options[0].code.clone(), options[1].code.clone()))
                        .collect::<Vec<_>>(),
                )),
                _ => None,
            })
            .expect("the example has a grid");
        let (row1, a, b) = &items[0];
        let (row2, _, _) = &items[1];
        let first = answers(&[(row1, choice(a)), (row2, choice(a))]);
        let second = answers(&[(row1, choice(b)), (row2, choice(a))]);
        let diff = differences(&first, &second);
        assert_eq!(diff.iter().collect::<Vec<_>>(), [row1]);
        let pages = pages_with(&d, Voice::Patient, false, &diff);
        assert_eq!(pages, [grid]);
        // The resolver keys the grid again from the form: row 1 as the
        // second keyer had it, row 2 as both had it.
        let resolved = answers(&[(row1, choice(b)), (row2, choice(a))]);
        let settled = settle(&d, &first, &pages, &resolved);
        assert_eq!(settled, second);
        let ids = printed_ids(&d, Voice::Patient, false);
        assert!(ids.contains(row1) && ids.contains(row2));
        assert_eq!(accuracy(&first, &settled, &ids), Accuracy { compared: ids.len() as u32, wrong: 1 });
        assert_eq!(accuracy(&second, &settled, &ids).wrong, 0);
    }

    #[test]
    fn a_blank_the_resolver_confirms_removes_the_answer() {
        let d = definition();
        let page =
            pages_with(&d, Voice::Patient, false, &printed_ids(&d, Voice::Patient, false).into_iter().collect())[0];
        let id = field_ids(&d, page)[0].clone();
        let first = answers(&[(&id, AnswerValue::Text("x".into()))]);
        let settled = settle(&d, &first, &[page], &Answers::new());
        assert!(settled.get(&id).is_none());
    }

    #[test]
    fn an_error_rate_is_never_nan() {
        assert_eq!(error_rate(0, 0), None);
        assert_eq!(error_rate(200, 3), Some(0.015));
    }
}
