//! The integration index: item scores to domain scores to a respondent's
//! index, cells per ICS and patient group, fair comparisons and disclosure
//! control. Uses `definitions` for scoring rules and `weighting` for the
//! statistics.
