//! Answers cleared because an earlier one changed: told to the respondent
//! on each page asked again and on check answers. Carried in the address
//! and the form as page ids only, and only ids of this survey are used.

use crate::definitions::SurveyDefinition;
use crate::journey::{Fields, Wording};

use super::views::ReaskedSummary;

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Reasked {
    /// The page whose changed answer cleared the others.
    pub because: usize,
    /// The pages asked again.
    pub pages: Vec<usize>,
}

impl Reasked {
    pub fn parse(definition: &SurveyDefinition, because: Option<&str>, cleared: Option<&str>) -> Option<Self> {
        let index = |id: &str| definition.pages.iter().position(|p| p.id == id);
        let because = index(because?)?;
        let pages: Vec<usize> = cleared?.split(',').filter_map(index).collect();
        (!pages.is_empty()).then_some(Reasked { because, pages })
    }

    /// Takes the `because` and `cleared` fields out of a posted page.
    pub fn from_fields(definition: &SurveyDefinition, fields: &mut Fields) -> Option<Self> {
        let mut take = |name: &str| fields.remove(name).and_then(|v| v.into_iter().next());
        let (because, cleared) = (take("because"), take("cleared"));
        Self::parse(definition, because.as_deref(), cleared.as_deref())
    }

    /// The `because` page's id, for a hidden field.
    pub fn because_id<'d>(&self, definition: &'d SurveyDefinition) -> &'d str {
        &definition.pages[self.because].id
    }

    /// The cleared pages' ids, comma-separated, for a hidden field.
    pub fn cleared_ids(&self, definition: &SurveyDefinition) -> String {
        self.pages.iter().map(|&p| definition.pages[p].id.as_str()).collect::<Vec<_>>().join(",")
    }

    /// `because=…&cleared=…`, to add to an address.
    pub fn query(&self, definition: &SurveyDefinition) -> String {
        format!("because={}&cleared={}", self.because_id(definition), self.cleared_ids(definition))
    }

    /// The sentence shown on a page asked again.
    pub fn page_notice(&self, wording: &Wording<'_>) -> String {
        let because = &wording.definition.pages[self.because];
        if because.question.sets_voice {
            wording.ui("answers_cleared_voice_page", &[])
        } else {
            wording.ui("answers_cleared_page", &[("question", wording.text(&because.question.text))])
        }
    }

    /// What check answers says: why, and which questions were asked again.
    pub fn summary(&self, wording: &Wording<'_>) -> ReaskedSummary {
        let d = wording.definition;
        let because = &d.pages[self.because];
        let intro = if because.question.sets_voice {
            wording.ui("answers_cleared_voice", &[])
        } else {
            wording.ui("answers_cleared_check", &[("question", wording.text(&because.question.text))])
        };
        ReaskedSummary {
            title: wording.ui("answers_cleared_title", &[]),
            intro,
            questions: self.pages.iter().map(|&p| wording.text(&d.pages[p].question.text).to_string()).collect(),
        }
    }
}
