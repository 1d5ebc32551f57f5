//! The released survey versions, parsed from the exact text stored in the
//! database (not from the files, which may have moved on).
//!
//! Loaded at start-up, and reloaded when the versions change: at once on
//! the instance where a survey lead published, closed or reopened, and
//! within seconds on every other instance, which polls a change stamp the
//! change writes in the same transaction (`storage::surveys::mark_changed`).
//! A request for a version this instance has not seen yet (a response
//! started on another instance) reloads on the spot (`get_or_reload`).
//! The registry lives in `AppState`; nothing here is global.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;

use crate::definitions::{self, SurveyDefinition, Voice};
use crate::journey::{Wording, view};
use crate::storage::surveys::{self, SurveyVersion};
use crate::storage::{Db, DbConn, StorageError};

#[derive(Debug)]
pub struct PublishedSurvey {
    pub version: SurveyVersion,
    pub definition: SurveyDefinition,
    /// The interface wording every page carries, by language and voice,
    /// worked out once instead of on every page.
    ui: Mutex<BTreeMap<(String, Option<Voice>), Value>>,
}

impl PublishedSurvey {
    pub fn new(version: SurveyVersion, definition: SurveyDefinition) -> Self {
        PublishedSurvey { version, definition, ui: Mutex::default() }
    }

    /// The interface wording for pages in `wording`'s language and voice.
    pub fn ui(&self, wording: &Wording<'_>) -> Value {
        let mut held = self.ui.lock().unwrap_or_else(|e| e.into_inner());
        held.entry((wording.language.to_string(), wording.voice)).or_insert_with(|| view::ui(wording)).clone()
    }
}

/// One consistent view of the released versions.
#[derive(Debug, Default)]
struct Snapshot {
    by_id: BTreeMap<i64, Arc<PublishedSurvey>>,
    /// The change stamp this view was read under.
    stamp: Option<String>,
}

#[derive(Debug, Default)]
pub struct SurveyRegistry {
    current: RwLock<Arc<Snapshot>>,
}

impl SurveyRegistry {
    pub fn load(conn: &mut DbConn) -> Result<Self, StorageError> {
        let snapshot = read(conn, &Snapshot::default())?;
        Ok(SurveyRegistry { current: RwLock::new(Arc::new(snapshot)) })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        // A panic while holding the lock cannot leave a half-written
        // snapshot (it is swapped whole), so a poisoned lock is still good.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the versions again if the change stamp moved; returns whether
    /// it did. Versions whose text is unchanged are not parsed again.
    pub fn refresh(&self, conn: &mut DbConn) -> Result<bool, StorageError> {
        let old = self.snapshot();
        if surveys::change_stamp(conn)? == old.stamp {
            return Ok(false);
        }
        let fresh = read(conn, &old)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(true)
    }

    /// `refresh` on a blocking thread.
    pub async fn refresh_from(&self, db: &Db) -> Result<bool, StorageError> {
        let old = self.snapshot();
        let fresh = db
            .run(move |conn| {
                if surveys::change_stamp(conn)? == old.stamp {
                    return Ok(None);
                }
                read(conn, &old).map(Some)
            })
            .await?;
        let Some(fresh) = fresh else { return Ok(false) };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(true)
    }

    /// A version by id, reloading first if this instance has not seen it.
    pub async fn get_or_reload(&self, db: &Db, version_id: i64) -> Result<Option<Arc<PublishedSurvey>>, StorageError> {
        if let Some(found) = self.get(version_id) {
            return Ok(Some(found));
        }
        self.refresh_from(db).await?;
        Ok(self.get(version_id))
    }

    pub fn len(&self) -> usize {
        self.snapshot().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.snapshot().by_id.is_empty()
    }

    pub fn get(&self, version_id: i64) -> Option<Arc<PublishedSurvey>> {
        self.snapshot().by_id.get(&version_id).cloned()
    }

    /// Every released version, by id.
    pub fn all(&self) -> std::vec::IntoIter<Arc<PublishedSurvey>> {
        self.snapshot().by_id.values().cloned().collect::<Vec<_>>().into_iter()
    }

    /// Versions open for new responses on `date`, newest first per survey.
    pub fn open_on(&self, date: chrono::NaiveDate) -> Vec<Arc<PublishedSurvey>> {
        let mut open: Vec<Arc<PublishedSurvey>> =
            self.snapshot().by_id.values().filter(|s| s.version.is_open_on(date)).cloned().collect();
        open.sort_by(|a, b| (&a.definition.id, b.version.id).cmp(&(&b.definition.id, a.version.id)));
        open
    }

    /// The version of a survey that new respondents get on `date`: the most
    /// recently published one that is open.
    pub fn current(&self, survey_id: &str, date: chrono::NaiveDate) -> Option<Arc<PublishedSurvey>> {
        self.snapshot()
            .by_id
            .values()
            .rev()
            .find(|s| s.definition.id == survey_id && s.version.is_open_on(date))
            .cloned()
    }

    /// The most recently published version of a survey, open or not.
    pub fn latest(&self, survey_id: &str) -> Option<Arc<PublishedSurvey>> {
        self.snapshot().by_id.values().rev().find(|s| s.definition.id == survey_id).cloned()
    }

    /// Every version of one survey, newest first.
    pub fn versions_of(&self, survey_id: &str) -> Vec<Arc<PublishedSurvey>> {
        self.snapshot().by_id.values().rev().filter(|s| s.definition.id == survey_id).cloned().collect()
    }
}

/// Reads every released version, reusing `previous`'s parsed definition
/// where the stored text (its hash) is the same.
fn read(conn: &mut DbConn, previous: &Snapshot) -> Result<Snapshot, StorageError> {
    // The stamp first: a change committed after it is read is seen by the next refresh.
    let stamp = surveys::change_stamp(conn)?;
    let mut by_id = BTreeMap::new();
    for version in surveys::released(conn)? {
        let definition = match previous.by_id.get(&version.id) {
            Some(old) if old.version.content_hash == version.content_hash => old.definition.clone(),
            _ => {
                let name = format!("{} {} (stored)", version.survey_id, version.version_label);
                definitions::parse(&name, &version.source_text).map_err(|problems| StorageError::InvalidStored {
                    survey: version.survey_id.clone(),
                    version: version.version_label.clone(),
                    problem: problems.first().map(ToString::to_string).unwrap_or_default(),
                })?
            }
        };
        by_id.insert(version.id, Arc::new(PublishedSurvey::new(version, definition)));
    }
    Ok(Snapshot { by_id, stamp })
}
