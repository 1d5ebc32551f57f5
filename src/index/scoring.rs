//! Scores from answers, driven by the definition: an item scores its
//! chosen option (a "don't know"-style answer scores nothing); a domain is
//! the mean of its answered items when at least `min_answered` are
//! answered; the respondent's index is the weighted mean of their domain
//! scores when enough domains have one. Everything is on a 0–100 scale.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::definitions::{AnswerValue, Answers, QuestionKind, SurveyDefinition, Voice, model};

/// A response's scores, domains in definition order.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseScores {
    pub domains: Vec<Option<f64>>,
    pub index: Option<f64>,
}

/// The scoring rules of one definition, prepared once.
#[derive(Debug, Clone)]
pub struct Scoring {
    /// item id → (domain index, option code → score; `None` = not scored).
    items: BTreeMap<String, (usize, BTreeMap<String, Option<f64>>)>,
    weights: Vec<f64>,
    min_answered: Vec<u32>,
    /// Per voice, the domains it can ever answer.
    applicable: BTreeMap<Voice, Vec<bool>>,
    /// Identifies the rules: versions with the same signature can be pooled.
    pub signature: String,
}

impl Scoring {
    pub fn new(definition: &SurveyDefinition) -> Self {
        let domain_index: BTreeMap<&str, usize> =
            definition.domains.iter().enumerate().map(|(i, d)| (d.id.as_str(), i)).collect();
        let mut items = BTreeMap::new();
        for item in definition.scored_items() {
            let Some(&d) = domain_index.get(item.domain) else { continue };
            let scores = item
                .options
                .iter()
                .map(|o| (o.code.clone(), if o.missing.is_some() { None } else { o.score }))
                .collect();
            items.insert(item.id.to_string(), (d, scores));
        }
        let reach = model::voices_per_page(&definition.pages, &definition.page_of_ids(), &definition.voices);
        let page_of = definition.page_of_ids();
        let applicable = definition
            .voices
            .iter()
            .map(|&voice| {
                let mut seen = vec![false; definition.domains.len()];
                for (id, (d, _)) in &items {
                    if page_of.get(id).is_some_and(|&p| reach[p].contains(&voice)) {
                        seen[*d] = true;
                    }
                }
                (voice, seen)
            })
            .collect();
        let mut hash = Sha256::new();
        for d in &definition.domains {
            hash.update(format!("domain {} {} {}\n", d.id, d.weight, d.min_answered));
        }
        for (id, (d, scores)) in &items {
            hash.update(format!("item {id} {d}"));
            for (code, score) in scores {
                hash.update(format!(" {code}={score:?}"));
            }
            hash.update("\n");
        }
        Scoring {
            items,
            weights: definition.domains.iter().map(|d| d.weight).collect(),
            min_answered: definition.domains.iter().map(|d| d.min_answered).collect(),
            applicable,
            signature: hex::encode(hash.finalize()),
        }
    }

    pub fn domain_count(&self) -> usize {
        self.weights.len()
    }

    /// The domains a voice can answer (all of them when the voice is unknown).
    pub fn applicable(&self, voice: Option<Voice>) -> Vec<bool> {
        voice.and_then(|v| self.applicable.get(&v).cloned()).unwrap_or_else(|| vec![true; self.weights.len()])
    }

    /// Scores one response. The index needs scores in at least half (rounded
    /// up) of the domains the respondent's voice can answer.
    pub fn score(&self, voice: Option<Voice>, answers: &Answers) -> ResponseScores {
        let n = self.weights.len();
        let (mut sum, mut count) = (vec![0.0; n], vec![0u32; n]);
        for (id, (d, scores)) in &self.items {
            if let Some(AnswerValue::Choice(code)) = answers.get(id)
                && let Some(Some(score)) = scores.get(code)
            {
                sum[*d] += score;
                count[*d] += 1;
            }
        }
        let domains: Vec<Option<f64>> = (0..n)
            .map(|d| (count[d] > 0 && count[d] >= self.min_answered[d]).then(|| sum[d] / f64::from(count[d])))
            .collect();
        let applicable = self.applicable(voice).iter().filter(|a| **a).count();
        let scored: Vec<(f64, f64)> =
            domains.iter().zip(&self.weights).filter_map(|(s, w)| s.map(|s| (s, *w))).collect();
        let index = (!scored.is_empty() && scored.len() >= applicable.div_ceil(2)).then(|| {
            let total_weight: f64 = scored.iter().map(|(_, w)| w).sum();
            scored.iter().map(|(s, w)| s * w).sum::<f64>() / total_weight
        });
        ResponseScores { domains, index }
    }
}

/// Grouping categories from a response's answers, for every dimension the
/// definition tags (the ICS and voice come from the response itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    pub age_band: Option<String>,
    pub sex: Option<String>,
    pub ethnicity: Option<String>,
    /// `none`, `one` or `two_or_more`.
    pub long_term_condition: Option<String>,
}

pub fn groups(definition: &SurveyDefinition, answers: &Answers) -> Groups {
    let mut out = Groups::default();
    for page in &definition.pages {
        let q = &page.question;
        let Some(dimension) = q.dimension else { continue };
        let answer = answers.get(&q.id);
        let is_category = |code: &str| dimension.categories().contains(&code);
        match (dimension, answer) {
            (model::Dimension::AgeBand, Some(AnswerValue::Choice(c))) if is_category(c) => {
                out.age_band = Some(c.clone())
            }
            (model::Dimension::Sex, Some(AnswerValue::Choice(c))) if is_category(c) => out.sex = Some(c.clone()),
            (model::Dimension::Ethnicity, Some(AnswerValue::Choice(c))) if is_category(c) => {
                out.ethnicity = Some(c.clone())
            }
            (model::Dimension::LongTermCondition, Some(AnswerValue::Choices(codes))) => {
                let QuestionKind::MultipleChoice { options, .. } = &q.kind else { continue };
                let chosen: Vec<_> = options.iter().filter(|o| codes.contains(&o.code)).collect();
                out.long_term_condition = if chosen.iter().any(|o| o.missing.is_some()) {
                    None
                } else if chosen.iter().any(|o| o.code == "none") {
                    Some("none".into())
                } else {
                    match chosen.len() {
                        0 => None,
                        1 => Some("one".into()),
                        _ => Some("two_or_more".into()),
                    }
                };
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> SurveyDefinition {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/survey-definitions/format-example.yaml");
        crate::definitions::load_file(std::path::Path::new(path)).unwrap().definition
    }

    #[test]
    fn domains_need_their_minimum_and_missing_answers_score_nothing() {
        let d = example();
        let scoring = Scoring::new(&d);
        let mut answers = Answers::new();
        answers.insert("told_once", AnswerValue::Choice("agree".into()));
        answers.insert("records_shared", AnswerValue::Choice("dont_know".into()));
        answers.insert("services_talk", AnswerValue::Choice("disagree".into()));
        let s = scoring.score(Some(Voice::Patient), &answers);
        assert_eq!(s.domains[0], Some(100.0), "information: min_answered 1, the don't-know not counted");
        assert_eq!(s.domains[1], None, "coordination needs 2 answered of its items");
        assert_eq!(s.index, Some(100.0), "one of two applicable domains is half, rounded up");
        answers.insert("one_plan", AnswerValue::Choice("neither".into()));
        let s = scoring.score(Some(Voice::Patient), &answers);
        assert_eq!(s.domains[1], Some(25.0));
        // Index = (2 × 100 + 1 × 25) / 3 with the domain weights 2 and 1.
        assert!((s.index.unwrap() - 75.0).abs() < 1e-9);
    }

    #[test]
    fn conditions_are_grouped_none_one_or_more() {
        let d = example();
        let mut answers = Answers::new();
        answers.insert("conditions", AnswerValue::Choices(vec!["diabetes".into(), "heart".into()]));
        assert_eq!(groups(&d, &answers).long_term_condition.as_deref(), Some("two_or_more"));
        answers.insert("conditions", AnswerValue::Choices(vec!["none".into()]));
        assert_eq!(groups(&d, &answers).long_term_condition.as_deref(), Some("none"));
        answers.insert("conditions", AnswerValue::Choices(vec!["prefer_not".into()]));
        assert_eq!(groups(&d, &answers).long_term_condition, None);
        answers.insert("age_band", AnswerValue::Choice("prefer_not".into()));
        assert_eq!(groups(&d, &answers).age_band, None, "a missing-kind answer is no category");
    }
}
