//! The released survey versions, parsed once at start-up from the exact
//! text stored in the database (not from the files, which may have moved on).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::definitions::{self, SurveyDefinition};
use crate::storage::surveys::{self, SurveyVersion};
use crate::storage::{DbConn, StorageError};

#[derive(Debug)]
pub struct PublishedSurvey {
    pub version: SurveyVersion,
    pub definition: SurveyDefinition,
}

#[derive(Debug, Default)]
pub struct SurveyRegistry {
    by_id: BTreeMap<i64, Arc<PublishedSurvey>>,
}

impl SurveyRegistry {
    pub fn load(conn: &mut DbConn) -> Result<Self, StorageError> {
        let mut by_id = BTreeMap::new();
        for version in surveys::released(conn)? {
            let name = format!("{} {} (stored)", version.survey_id, version.version_label);
            let definition =
                definitions::parse(&name, &version.source_text).map_err(|problems| StorageError::InvalidStored {
                    survey: version.survey_id.clone(),
                    version: version.version_label.clone(),
                    problem: problems.first().map(ToString::to_string).unwrap_or_default(),
                })?;
            by_id.insert(version.id, Arc::new(PublishedSurvey { version, definition }));
        }
        Ok(SurveyRegistry { by_id })
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn get(&self, version_id: i64) -> Option<Arc<PublishedSurvey>> {
        self.by_id.get(&version_id).cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<PublishedSurvey>> {
        self.by_id.values()
    }

    /// Versions open for new responses on `date`, newest first per survey.
    pub fn open_on(&self, date: chrono::NaiveDate) -> Vec<Arc<PublishedSurvey>> {
        let mut open: Vec<Arc<PublishedSurvey>> =
            self.by_id.values().filter(|s| s.version.is_open_on(date)).cloned().collect();
        open.sort_by(|a, b| (&a.definition.id, b.version.id).cmp(&(&b.definition.id, a.version.id)));
        open
    }

    /// The version of a survey that new respondents get on `date`: the most
    /// recently published one that is open.
    pub fn current(&self, survey_id: &str, date: chrono::NaiveDate) -> Option<Arc<PublishedSurvey>> {
        self.by_id.values().rev().find(|s| s.definition.id == survey_id && s.version.is_open_on(date)).cloned()
    }

    /// The most recently published version of a survey, open or not.
    pub fn latest(&self, survey_id: &str) -> Option<Arc<PublishedSurvey>> {
        self.by_id.values().rev().find(|s| s.definition.id == survey_id).cloned()
    }
}
