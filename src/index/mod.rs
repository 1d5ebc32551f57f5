//! The integration index: item scores to domain scores to a respondent's
//! index, cells per ICS and patient group, fair comparisons and disclosure
//! control. Uses `definitions` for scoring rules and `weighting` for the
//! statistics.

pub mod cells;
pub mod columns;
pub mod compare;
pub mod disclosure;
pub mod frame;
pub mod margins;
pub mod record;
pub mod release;
pub mod results;
pub mod sample;
pub mod scoring;
