//! Answers as the routing language and the validators see them.

use std::collections::BTreeMap;

use chrono::NaiveDate;

/// One stored answer, already checked against its question.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerValue {
    /// The code of the chosen option.
    Choice(String),
    /// The codes of the chosen options, in the definition's order.
    Choices(Vec<String>),
    Number(f64),
    Date(NaiveDate),
    Text(String),
}

impl AnswerValue {
    /// The text kept in the `answers.value` column.
    pub fn to_stored(&self) -> String {
        match self {
            AnswerValue::Choice(code) => code.clone(),
            AnswerValue::Choices(codes) => codes.join(","),
            AnswerValue::Number(n) => n.to_string(),
            AnswerValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            AnswerValue::Text(t) => t.clone(),
        }
    }
}

/// A respondent's answers so far, by question id (Likert items by item id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers(BTreeMap<String, AnswerValue>);

impl Answers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, id: &str) -> Option<&AnswerValue> {
        self.0.get(id)
    }

    pub fn insert(&mut self, id: impl Into<String>, value: AnswerValue) {
        self.0.insert(id.into(), value);
    }

    pub fn remove(&mut self, id: &str) -> Option<AnswerValue> {
        self.0.remove(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &AnswerValue)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
