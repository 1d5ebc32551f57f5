//! The responses respondents are answering, kept between their pages.
//!
//! Every respondent page reads the response with its answers, and every
//! saved page redirects to the next one, which reads them again. Kept here
//! after each read and save, those reads need no database; on PostgreSQL
//! that is two of the three round trips of a page submit.
//!
//! A kept copy is never trusted for a write: a save or submit names the
//! revision it was worked out from and changes nothing if the response has
//! been written since (by another server process, say); the handler then
//! reads the response afresh and works the page out again. Copies older
//! than a few minutes are read afresh anyway, so a response changed
//! elsewhere is not shown for long.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::definitions::Answers;
use crate::journey::Route;
use crate::storage::responses::Response;

/// Enough for every respondent active within `FRESH_FOR` at thousands of
/// pages a second; an entry is a few kilobytes.
const CAPACITY: usize = 20_000;

/// How long a copy may be shown without reading the database.
const FRESH_FOR: Duration = Duration::from_secs(300);

/// A response and its answers as last read or written by this process,
/// with the pages they route through.
#[derive(Debug, Clone)]
pub struct Kept {
    pub response: Response,
    pub answers: Answers,
    pub route: Route,
}

pub struct ResponseCache {
    entries: quick_cache::sync::Cache<i64, (Instant, Arc<Kept>)>,
}

impl Default for ResponseCache {
    fn default() -> Self {
        ResponseCache { entries: quick_cache::sync::Cache::new(CAPACITY) }
    }
}

impl ResponseCache {
    /// The kept copy of a response, if there is one fresh enough.
    pub fn get(&self, id: i64) -> Option<Arc<Kept>> {
        let (kept_at, kept) = self.entries.get(&id)?;
        if kept_at.elapsed() > FRESH_FOR {
            self.entries.remove(&id);
            return None;
        }
        Some(kept)
    }

    /// Keeps a response as it now stands in the database.
    pub fn keep(&self, response: Response, answers: Answers, route: Route) {
        self.entries.insert(response.id, (Instant::now(), Arc::new(Kept { response, answers, route })));
    }

    /// Drops a copy that may no longer match the database.
    pub fn forget(&self, id: i64) {
        self.entries.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::responses::{Channel, ResponseStatus};
    use chrono::NaiveDate;

    fn response(id: i64, revision: i64) -> Response {
        let at = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap().and_hms_opt(9, 0, 0).unwrap();
        Response {
            id,
            survey_version_id: 1,
            channel: Channel::OpenLink,
            status: ResponseStatus::InProgress,
            voice: None,
            language: "en".into(),
            ics_code: None,
            resume_token_hash: None,
            resume_expires_at: None,
            created_at: at,
            updated_at: at,
            submitted_at: None,
            invitation_id: None,
            reference: None,
            resume_code_hash: None,
            voice_preset: false,
            ics_preset: false,
            revision,
            mode: Default::default(),
            duplicate_of: None,
            keyed_by: None,
        }
    }

    #[test]
    fn keeps_the_latest_copy_until_forgotten() {
        let cache = ResponseCache::default();
        assert!(cache.get(7).is_none());
        let route = Route { visible: vec![0, 1], voice: None };
        cache.keep(response(7, 0), Answers::new(), route.clone());
        cache.keep(response(7, 1), Answers::new(), route);
        assert_eq!(cache.get(7).unwrap().response.revision, 1);
        assert!(cache.get(8).is_none());
        cache.forget(7);
        assert!(cache.get(7).is_none());
    }
}
