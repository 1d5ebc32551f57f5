//! The one clock. Everything that asks "what time is it?" or "which day
//! is it?" asks a `Clock` it was given, so "today" is worked out one way
//! (UTC, the zone every timestamp column stores) and a test can move time
//! forward instead of rewriting timestamps in the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};

/// The system clock in UTC, shifted by however far a test has moved it.
/// Clones share the shift, so moving one moves every holder of the app's
/// clock (and nothing outside that app).
#[derive(Debug, Clone, Default)]
pub struct Clock {
    shift_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The time now, as timestamp columns store it.
    pub fn now(&self) -> NaiveDateTime {
        Utc::now().naive_utc() + Duration::milliseconds(self.shift_ms.load(Ordering::Relaxed))
    }

    /// Today's date in UTC: what opening and closing dates are compared with.
    pub fn today(&self) -> NaiveDate {
        self.now().date()
    }

    /// Moves this clock (and its clones) forward; for tests of what happens
    /// later (reminders, expiry, erasure).
    pub fn advance(&self, by: Duration) {
        self.shift_ms.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone() {
        let clock = Clock::system();
        let held = clock.clone();
        let before = held.now();
        clock.advance(Duration::days(3));
        let moved = held.now() - before;
        assert!(moved >= Duration::days(3) && moved < Duration::days(3) + Duration::minutes(1), "{moved}");
        assert_eq!(held.today(), clock.today());
    }
}
