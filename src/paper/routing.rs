//! Routing on paper. Online, `show_if` hides a page; on paper every page is
//! printed and the reader must be told what to skip. Two kinds of words:
//!
//! - "Go to question 12" beside an answer option, when choosing that option
//!   skips the questions straight after it (the common filter question);
//! - "Answer question 14 only if …" above any other question with a
//!   condition, with the condition said in words.
//!
//! The copy is for one voice, so conditions on the voice are settled
//! before anything is printed: a page the voice never sees is left out, and
//! a condition true for the voice is dropped.

use std::collections::{BTreeMap, BTreeSet};

use crate::definitions::condition::{CmpOp, Expr, LiteralValue, Subject};
use crate::definitions::{AnswerValue, Answers, QuestionKind, SurveyDefinition, Voice};

/// A condition with what the voice decides already decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    Always,
    Never,
    Depends(Expr),
}

/// Settles the parts of `expr` that only the voice decides.
pub fn settle(expr: &Expr, voice: Voice) -> Settled {
    use Settled::*;
    match expr {
        Expr::And(a, b) => match (settle(a, voice), settle(b, voice)) {
            (Never, _) | (_, Never) => Never,
            (Always, x) | (x, Always) => x,
            (Depends(a), Depends(b)) => Depends(Expr::And(Box::new(a), Box::new(b))),
        },
        Expr::Or(a, b) => match (settle(a, voice), settle(b, voice)) {
            (Always, _) | (_, Always) => Always,
            (Never, x) | (x, Never) => x,
            (Depends(a), Depends(b)) => Depends(Expr::Or(Box::new(a), Box::new(b))),
        },
        Expr::Not(a) => match settle(a, voice) {
            Always => Never,
            Never => Always,
            Depends(a) => Depends(Expr::Not(Box::new(a))),
        },
        Expr::Compare { subject: Subject::Voice { .. }, .. } | Expr::In { subject: Subject::Voice { .. }, .. } => {
            if expr.eval(Some(voice), &Answers::new()) {
                Always
            } else {
                Never
            }
        }
        other => Depends(other.clone()),
    }
}

/// Where a reader goes after choosing an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoTo {
    /// To this printed page (an index into the definition's pages).
    Page(usize),
    /// Past the last question.
    End,
}

/// The routing of one printed copy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// (page index, option code) → where to go instead of the next question.
    pub go_to: BTreeMap<(usize, String), GoTo>,
    /// Pages printed with "answer only if", and the condition to say.
    pub only_if: BTreeMap<usize, Expr>,
}

/// Works out the routing words for the pages printed, in order, for `voice`.
/// `printed` holds every page index on the copy, and `conditions` the
/// settled condition of each (absent: always asked).
pub fn plan(definition: &SurveyDefinition, printed: &[usize], conditions: &BTreeMap<usize, Expr>) -> Plan {
    let mut out = Plan::default();
    // The pages each (question, option) skips, when the condition of the
    // skipped page reads that question alone.
    let mut skipped_by: BTreeMap<(usize, String), BTreeSet<usize>> = BTreeMap::new();
    for (position, &index) in printed.iter().enumerate() {
        let question = &definition.pages[index].question;
        let Some(answers) = exact_answers(&question.kind, &question.id) else { continue };
        for (code, answers) in answers {
            // Walk on from the question with only this answer known: a page
            // is skipped when its condition is false whatever the reader
            // answers elsewhere, counting skipped questions as unanswered.
            let mut skipped: BTreeSet<usize> = BTreeSet::new();
            let mut unanswered: BTreeSet<&str> = BTreeSet::new();
            for &later in &printed[position + 1..] {
                let Some(condition) = conditions.get(&later) else { continue };
                let known = |id: &str| {
                    if id == question.id {
                        Known::Answer
                    } else if unanswered.contains(id) {
                        Known::Unanswered
                    } else {
                        Known::Unknown
                    }
                };
                if decide(condition, &answers, &known) == Some(false) {
                    skipped.insert(later);
                    let page = &definition.pages[later];
                    unanswered.insert(page.question.id.as_str());
                    if let QuestionKind::LikertGroup { items, .. } = &page.question.kind {
                        unanswered.extend(items.iter().map(|i| i.id.as_str()));
                    }
                }
            }
            if skipped.is_empty() {
                continue;
            }
            // A jump needs the very next question skipped; it lands on the
            // first question this option does not skip.
            let next = printed.get(position + 1).copied();
            if next.is_some_and(|n| skipped.contains(&n)) {
                let lands = printed[position + 1..].iter().copied().find(|p| !skipped.contains(p));
                out.go_to.insert((index, code.clone()), lands.map_or(GoTo::End, GoTo::Page));
            }
            skipped_by.insert((index, code), skipped);
        }
    }
    // A conditional page needs its own words unless it reads one single
    // choice question (so every way to skip it is one option tried above)
    // and every option that skips it jumps over it.
    for (&page, condition) in conditions {
        let covered = condition.question_refs().first().is_some_and(|first| {
            let refs: BTreeSet<&str> = condition.question_refs().iter().map(|r| r.id.as_str()).collect();
            let single = definition
                .page(&first.id)
                .is_some_and(|p| matches!(p.question.kind, QuestionKind::SingleChoice { .. }));
            refs.len() == 1
                && single
                && skipped_by.iter().filter(|((q, _), _)| definition.pages[*q].question.id == first.id).all(
                    |((q, code), skipped)| {
                        !skipped.contains(&page)
                            || out.go_to.get(&(*q, code.clone())).is_some_and(|to| jumps_over(printed, *q, *to, page))
                    },
                )
                && skipped_by.keys().any(|(q, _)| definition.pages[*q].question.id == first.id)
        });
        if !covered {
            out.only_if.insert(page, condition.clone());
        }
    }
    out
}

/// For a question whose every possible answer is one option (single
/// choice, or a multiple choice option that must be chosen alone), the
/// answers each option stands for. Other questions have no exact answers
/// to try, so they get no "go to".
fn exact_answers(kind: &QuestionKind, id: &str) -> Option<Vec<(String, Answers)>> {
    let one = |value: AnswerValue| {
        let mut answers = Answers::new();
        answers.insert(id, value);
        answers
    };
    match kind {
        QuestionKind::SingleChoice { options } => {
            Some(options.iter().map(|o| (o.code.clone(), one(AnswerValue::Choice(o.code.clone())))).collect())
        }
        QuestionKind::MultipleChoice { options, .. } => Some(
            options
                .iter()
                .filter(|o| o.is_exclusive())
                .map(|o| (o.code.clone(), one(AnswerValue::Choices(vec![o.code.clone()]))))
                .collect(),
        ),
        _ => None,
    }
}

/// What is known of a question while working out a jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// The filter question: its answer is the option being tried.
    Answer,
    /// Skipped by that answer, so left blank.
    Unanswered,
    /// Anything the reader may or may not answer.
    Unknown,
}

/// Kleene evaluation: `Some` when the condition is settled by what is
/// known, `None` when it depends on an unknown answer.
fn decide(expr: &Expr, answers: &Answers, known: &dyn Fn(&str) -> Known) -> Option<bool> {
    match expr {
        Expr::And(a, b) => match (decide(a, answers, known), decide(b, answers, known)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Expr::Or(a, b) => match (decide(a, answers, known), decide(b, answers, known)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Expr::Not(a) => decide(a, answers, known).map(|b| !b),
        atom => {
            // An atom reads one question (voice tests were settled earlier).
            let id = atom.question_refs().first().map(|r| r.id.clone())?;
            match known(&id) {
                Known::Answer => Some(atom.eval(None, answers)),
                Known::Unanswered => Some(atom.eval(None, &Answers::new())),
                Known::Unknown => None,
            }
        }
    }
}

/// Whether going from `from` to `to` passes over `page` on the copy.
fn jumps_over(printed: &[usize], from: usize, to: GoTo, page: usize) -> bool {
    let at = |p: usize| printed.iter().position(|x| *x == p);
    let (Some(from), Some(page)) = (at(from), at(page)) else { return false };
    match to {
        GoTo::End => page > from,
        GoTo::Page(to) => at(to).is_some_and(|to| from < page && page < to),
    }
}

/// How a condition's pieces are said, in the copy's language.
pub trait Say {
    /// The printed number of a question (or of a Likert item's question).
    fn number(&self, id: &str) -> String;
    /// An option's label on a question, if it has that option.
    fn option(&self, id: &str, code: &str) -> Option<String>;
    /// An interface message with its placeholders filled.
    fn ui(&self, key: &str, params: &[(&str, &str)]) -> String;
}

/// A condition in words: "you answered “Yes” at question 4 and …".
pub fn words(expr: &Expr, say: &dyn Say) -> String {
    match expr {
        // An `or` inside an `and` (or the other way) is bracketed, so the
        // words group as the condition does.
        Expr::And(a, b) => {
            format!("{} {} {}", part(a, expr, say), say.ui("paper_and", &[]), part(b, expr, say))
        }
        Expr::Or(a, b) => format!("{} {} {}", part(a, expr, say), say.ui("paper_or", &[]), part(b, expr, say)),
        Expr::Not(inner) => match inner.as_ref() {
            Expr::Answered(q) => say.ui("paper_cond_not_answered", &[("number", &say.number(&q.id))]),
            Expr::Contains { subject, value } => say.ui(
                "paper_cond_not_ticked",
                &[("number", &say.number(&subject.id)), ("option", &label(say, &subject.id, &text(&value.value)))],
            ),
            Expr::Compare { subject: Subject::Question(q), op: CmpOp::Eq, value } => say.ui(
                "paper_cond_is_not",
                &[("number", &say.number(&q.id)), ("option", &label(say, &q.id, &text(&value.value)))],
            ),
            other => say.ui("paper_not", &[("condition", &words(other, say))]),
        },
        Expr::Answered(q) => say.ui("paper_cond_answered", &[("number", &say.number(&q.id))]),
        Expr::Contains { subject, value } => say.ui(
            "paper_cond_ticked",
            &[("number", &say.number(&subject.id)), ("option", &label(say, &subject.id, &text(&value.value)))],
        ),
        Expr::In { subject: Subject::Question(q), values } => {
            let or = format!(" {} ", say.ui("paper_or", &[]));
            let options: Vec<String> = values
                .iter()
                .map(|v| say.ui("paper_quoted", &[("option", &label(say, &q.id, &text(&v.value)))]))
                .collect();
            say.ui("paper_cond_one_of", &[("number", &say.number(&q.id)), ("options", &options.join(&or))])
        }
        Expr::Compare { subject: Subject::Question(q), op, value } => {
            let number = say.number(&q.id);
            match (op, &value.value) {
                (CmpOp::Eq, LiteralValue::Text(code)) if say.option(&q.id, code).is_some() => {
                    say.ui("paper_cond_is", &[("number", &number), ("option", &label(say, &q.id, code))])
                }
                (CmpOp::Ne, LiteralValue::Text(code)) if say.option(&q.id, code).is_some() => {
                    say.ui("paper_cond_is_not", &[("number", &number), ("option", &label(say, &q.id, code))])
                }
                (op, value) => {
                    let op_key = match op {
                        CmpOp::Eq => "paper_op_eq",
                        CmpOp::Ne => "paper_op_ne",
                        CmpOp::Lt => "paper_op_lt",
                        CmpOp::Le => "paper_op_le",
                        CmpOp::Gt => "paper_op_gt",
                        CmpOp::Ge => "paper_op_ge",
                    };
                    say.ui(
                        "paper_cond_compare",
                        &[("number", &number), ("op", &say.ui(op_key, &[])), ("value", &text(value))],
                    )
                }
            }
        }
        // Settled before printing: `settle` leaves no voice test behind.
        Expr::Compare { subject: Subject::Voice { .. }, .. } | Expr::In { subject: Subject::Voice { .. }, .. } => {
            String::new()
        }
    }
}

/// One side of an `and` or `or`, bracketed when it is the other one.
fn part(side: &Expr, parent: &Expr, say: &dyn Say) -> String {
    let mixed = matches!((parent, side), (Expr::And(..), Expr::Or(..)) | (Expr::Or(..), Expr::And(..)));
    if mixed { format!("({})", words(side, say)) } else { words(side, say) }
}

/// An option's label; a code the question lacks is printed as written.
fn label(say: &dyn Say, id: &str, code: &str) -> String {
    say.option(id, code).unwrap_or_else(|| code.to_string())
}

fn text(value: &LiteralValue) -> String {
    match value {
        LiteralValue::Text(t) => t.clone(),
        LiteralValue::Number(n) => n.to_string(),
    }
}
