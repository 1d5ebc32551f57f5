//! One submitted response as results see it: its groups, its scores and
//! its choice answers in compact form. Built once, at submission (or by a
//! re-scoring run), so results never re-read the answers table.

use super::scoring::{Scoring, groups};
use crate::definitions::{AnswerValue, Answers, QuestionKind, SurveyDefinition, Voice};

/// A choice question or Likert item, as question-level results list it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionItem {
    pub id: String,
    /// The wording in the default language (the `default` or patient voice).
    pub text: String,
    pub multiple: bool,
    /// (code, label, score) in definition order.
    pub options: Vec<(String, String, Option<f64>)>,
}

impl QuestionItem {
    /// Options counted as a positive answer: scored above the midpoint.
    pub fn positive(&self, option: usize) -> bool {
        self.options[option].2.is_some_and(|s| s > 50.0)
    }

    pub fn is_scored(&self) -> bool {
        self.options.iter().any(|o| o.2.is_some())
    }
}

/// The choice questions and Likert items of a definition, in page order
/// (the ICS question, listed separately everywhere, is left out).
pub fn question_items(definition: &SurveyDefinition) -> Vec<QuestionItem> {
    let language = definition.default_language();
    let mut items = Vec::new();
    let scored: std::collections::BTreeSet<&str> = definition.scored_items().iter().map(|s| s.id).collect();
    let options_of = |options: &[crate::definitions::AnswerOption], with_scores: bool| {
        options
            .iter()
            .map(|o| {
                (
                    o.code.clone(),
                    o.label.get(language, Some(Voice::Patient)).to_string(),
                    if with_scores { o.score } else { None },
                )
            })
            .collect()
    };
    for page in &definition.pages {
        let q = &page.question;
        if q.sets_voice {
            continue;
        }
        let text = q.text.get(language, Some(Voice::Patient)).to_string();
        match &q.kind {
            QuestionKind::SingleChoice { options } => items.push(QuestionItem {
                id: q.id.clone(),
                text,
                multiple: false,
                options: options_of(options, scored.contains(q.id.as_str())),
            }),
            QuestionKind::MultipleChoice { options, .. } => {
                items.push(QuestionItem { id: q.id.clone(), text, multiple: true, options: options_of(options, false) })
            }
            QuestionKind::LikertGroup { options, items: likert } => {
                for item in likert {
                    items.push(QuestionItem {
                        id: item.id.clone(),
                        text: format!("{text} {}", item.text.get(language, Some(Voice::Patient))),
                        multiple: false,
                        options: options_of(options, scored.contains(item.id.as_str())),
                    });
                }
            }
            _ => {}
        }
    }
    items
}

/// A result row before storage.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRecord {
    pub voice: Option<Voice>,
    pub age_band: Option<String>,
    pub sex: Option<String>,
    pub ethnicity: Option<String>,
    pub long_term_condition: Option<String>,
    pub index_score: Option<f64>,
    pub domain_scores: String,
    pub choices: String,
}

/// Scores and groups of one response.
pub fn record(
    definition: &SurveyDefinition,
    scoring: &Scoring,
    voice: Option<Voice>,
    answers: &Answers,
) -> ResultRecord {
    let scores = scoring.score(voice, answers);
    let g = groups(definition, answers);
    let domain_scores =
        scores.domains.iter().map(|s| s.map(|v| v.to_string()).unwrap_or_default()).collect::<Vec<_>>().join(",");
    let choices = question_items(definition)
        .iter()
        .map(|item| {
            let index = |code: &String| item.options.iter().position(|o| &o.0 == code).map(|i| i.to_string());
            match answers.get(&item.id) {
                Some(AnswerValue::Choice(code)) => index(code).unwrap_or_default(),
                Some(AnswerValue::Choices(codes)) => codes.iter().filter_map(index).collect::<Vec<_>>().join("+"),
                _ => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    ResultRecord {
        voice,
        age_band: g.age_band,
        sex: g.sex,
        ethnicity: g.ethnicity,
        long_term_condition: g.long_term_condition,
        index_score: scores.index,
        domain_scores,
        choices,
    }
}

/// Reads back `domain_scores` into `out`, reusing its buffer.
pub fn parse_scores_into(text: &str, domains: usize, out: &mut Vec<Option<f64>>) {
    out.clear();
    out.extend(text.split(',').take(domains).map(|s| s.parse().ok()));
    out.resize(domains, None);
}

/// Reads back `choices` into `out`, reusing its buffer (results read a
/// million of these): per item, the chosen options as a bit set (bit o set
/// = option o chosen; 0 = not answered). Options past the 64th are not
/// counted (no question comes near that many).
pub fn parse_choices_into(text: &str, items: usize, out: &mut Vec<u64>) {
    out.clear();
    out.resize(items, 0);
    // One pass over the bytes: digits build an option index, `+` ends one,
    // `,` ends an item; anything else spoils the index it is in.
    let (mut item, mut option, mut digits, mut spoiled) = (0usize, 0u32, false, false);
    for &b in text.as_bytes().iter().chain(std::iter::once(&b',')) {
        match b {
            b'0'..=b'9' => {
                option = option.saturating_mul(10).saturating_add(u32::from(b - b'0'));
                digits = true;
            }
            b'+' | b',' => {
                if digits && !spoiled && option < 64 && item < items {
                    out[item] |= 1 << option;
                }
                (option, digits, spoiled) = (0, false, false);
                if b == b',' {
                    item += 1;
                }
            }
            _ => spoiled = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_read_back_as_bit_sets() {
        let mut out = Vec::new();
        parse_choices_into("1+2+5,0,,3,x,70,4", 6, &mut out);
        assert_eq!(out, vec![0b100110, 0b1, 0, 0b1000, 0, 0]);
        parse_choices_into("2", 3, &mut out);
        assert_eq!(out, vec![0b100, 0, 0]);
        parse_choices_into("", 2, &mut out);
        assert_eq!(out, vec![0, 0]);
    }
}
