//! Release periods: results are published a calendar month at a time, once
//! the month has ended, and each month's release holds only the responses
//! submitted in it. Releases never overlap, so no two of them can be
//! subtracted to isolate anyone (docs/outputs.md §6); the month still in
//! fieldwork is never shown to analysts. A later change replaces months
//! with lead-defined fieldwork waves; everything downstream only needs a
//! period with a first and last day.

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate};

/// Whole days a month stays unreleased after its last day: a response
/// acknowledged just before midnight (UTC) whose row commits a moment
/// later, or on a server whose clock runs behind, still lands in its
/// month's release, which is computed once and never changed.
pub const GRACE_DAYS: u64 = 1;

/// One calendar month of submissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    /// The month a date falls in.
    pub fn of(date: NaiveDate) -> Period {
        Period { year: date.year(), month: date.month() }
    }

    /// `YYYY-MM`, as URLs and files write it.
    pub fn parse(text: &str) -> Option<Period> {
        let (year, month) = text.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let period = Period { year: year.parse().ok()?, month: month.parse().ok()? };
        NaiveDate::from_ymd_opt(period.year, period.month, 1).map(|_| period)
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn last_day(self) -> NaiveDate {
        self.first_day().checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MAX)
    }

    pub fn previous(self) -> Period {
        Period::of(self.first_day().checked_sub_months(Months::new(1)).unwrap_or(NaiveDate::MIN))
    }

    pub fn next(self) -> Period {
        Period::of(self.first_day().checked_add_months(Months::new(1)).unwrap_or(NaiveDate::MAX))
    }

    /// Whether the month has ended, with its grace day, by `today`: only
    /// then is it released.
    pub fn is_closed(self, today: NaiveDate) -> bool {
        self.last_day().checked_add_days(Days::new(GRACE_DAYS)).is_some_and(|d| d < today)
    }

    /// The latest month closed by `today`.
    pub fn latest_closed(today: NaiveDate) -> Period {
        Period::of(today.checked_sub_days(Days::new(GRACE_DAYS)).unwrap_or(NaiveDate::MIN)).previous()
    }

    /// The day the month is released (closes): after its grace day.
    pub fn release_day(self) -> NaiveDate {
        self.last_day().checked_add_days(Days::new(GRACE_DAYS + 1)).unwrap_or(NaiveDate::MAX)
    }

    /// The closed periods a date window touches (either end open), in
    /// order: a window snaps outwards to whole releases.
    pub fn covering(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        available: &[Period],
        today: NaiveDate,
    ) -> Vec<Period> {
        available
            .iter()
            .copied()
            .filter(|p| p.is_closed(today))
            .filter(|p| from.is_none_or(|f| p.last_day() >= f) && to.is_none_or(|t| p.first_day() <= t))
            .collect()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_month_has_its_days_and_closes_after_the_last() {
        let p = Period::parse("2024-02").unwrap();
        assert_eq!((p.first_day(), p.last_day()), (day("2024-02-01"), day("2024-02-29")));
        assert!(!p.is_closed(day("2024-02-29")));
        assert!(!p.is_closed(day("2024-03-01")), "the grace day");
        assert!(p.is_closed(day("2024-03-02")));
        assert_eq!(p.release_day(), day("2024-03-02"));
        for today in ["2024-03-02", "2024-03-31", "2024-04-01"] {
            assert_eq!(Period::latest_closed(day(today)), p, "{today}");
            assert!(Period::latest_closed(day(today)).is_closed(day(today)));
            assert!(!Period::latest_closed(day(today)).next().is_closed(day(today)));
        }
        assert_eq!(p.next().to_string(), "2024-03");
        assert_eq!(Period::parse("2024-12").unwrap().next().to_string(), "2025-01");
        assert_eq!(Period::of(day("2026-12-06")).to_string(), "2026-12");
    }

    #[test]
    fn only_real_months_parse() {
        for bad in ["2024-13", "2024-00", "24-01", "2024-1", "2024/01", "", "abcd-ef"] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn windows_snap_to_whole_closed_releases() {
        let all: Vec<Period> =
            ["2026-09", "2026-10", "2026-11", "2026-12"].iter().map(|p| Period::parse(p).unwrap()).collect();
        let today = day("2026-12-06");
        let names = |v: Vec<Period>| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(names(Period::covering(None, None, &all, today)), ["2026-09", "2026-10", "2026-11"]);
        // A window inside one month gives that whole month; the open month never.
        assert_eq!(names(Period::covering(Some(day("2026-11-10")), Some(day("2026-11-12")), &all, today)), ["2026-11"]);
        assert_eq!(
            names(Period::covering(Some(day("2026-10-31")), Some(day("2026-12-05")), &all, today)),
            ["2026-10", "2026-11"]
        );
        assert!(Period::covering(Some(day("2026-12-01")), None, &all, today).is_empty());
    }
}
