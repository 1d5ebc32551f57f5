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
}
