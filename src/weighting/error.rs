//! Why weighting could not be done, naming the ICS, dimension and category.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightingError {
    #[error(
        "ICS {ics}: the `{first}` margins add up to {first_total} but the `{other}` margins to {other_total}; every dimension of an ICS must total the same population"
    )]
    UnequalTotals { ics: String, first: String, first_total: f64, other: String, other_total: f64 },
    #[error("ICS {ics}: respondents are in `{dimension}` = `{category}`, which has no population in the margins")]
    NoPopulation { ics: String, dimension: String, category: String },
    #[error(
        "ICS {ics}: `{dimension}` = `{category}` has a population but no respondents, and no neighbouring category with respondents is declared to take it (collapse_into)"
    )]
    EmptyCategory { ics: String, dimension: String, category: String },
    #[error("ICS {ics} has respondents but no population margins")]
    NoMargins { ics: String },
    #[error("ICS {ics}: the `{dimension}` margins do not add up to a finite population")]
    BadPopulation { ics: String, dimension: String },
    #[error(
        "ICS {ics}: raking did not converge after {iterations} cycles; the `{dimension}` margin is still off by {relative_error:.3e} (relative) in category `{category}`"
    )]
    NotConverged { ics: String, iterations: usize, dimension: String, category: String, relative_error: f64 },
    #[error("respondent {row}: the base weight {weight} must be a positive, finite number")]
    BadWeight { row: usize, weight: f64 },
}

impl WeightingError {
    /// The ICS the problem is confined to, if it is confined to one.
    pub fn ics(&self) -> Option<&str> {
        match self {
            WeightingError::UnequalTotals { ics, .. }
            | WeightingError::NoPopulation { ics, .. }
            | WeightingError::EmptyCategory { ics, .. }
            | WeightingError::NoMargins { ics }
            | WeightingError::BadPopulation { ics, .. }
            | WeightingError::NotConverged { ics, .. } => Some(ics),
            WeightingError::BadWeight { .. } => None,
        }
    }
}
