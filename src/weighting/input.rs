//! What the engine weights: respondents (their ICS, a category per
//! dimension or none, a base weight) and population margins per ICS.
//! Categories and ICSs are small integer indices; names live alongside for
//! messages only.

/// Respondents in columns. Row `i` of every slice is the same person.
#[derive(Debug, Clone, Default)]
pub struct Respondents {
    /// Index into `Population::strata` (the ICS).
    pub stratum: Vec<u32>,
    /// 1 / selection probability; 1 when unknown.
    pub base_weight: Vec<f64>,
    /// Per dimension (in `Population::dimensions` order): the category
    /// index, or `None` when the person preferred not to say.
    pub categories: Vec<Vec<Option<u32>>>,
}

impl Respondents {
    pub fn len(&self) -> usize {
        self.stratum.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stratum.is_empty()
    }
}

/// Population margins: for every ICS and dimension, a count per category.
#[derive(Debug, Clone, Default)]
pub struct Population {
    /// ICS labels, by stratum index.
    pub strata: Vec<String>,
    /// Raking dimensions in raking order (the order matters for the
    /// variance, exactly as in R).
    pub dimensions: Vec<DimensionMargins>,
}

#[derive(Debug, Clone, Default)]
pub struct DimensionMargins {
    pub name: String,
    pub categories: Vec<String>,
    /// `[stratum][category]`: the population count, `None` where the
    /// margins give no row for that ICS and category.
    pub population: Vec<Vec<Option<f64>>>,
    /// `[stratum][category]`: the neighbouring category that takes this
    /// one's population if it has no respondents in that ICS.
    pub collapse_into: Vec<Vec<Option<u32>>>,
}

/// How raking stops. Defaults match the R reference runs:
/// `rake(..., control = list(maxit = 1000, epsilon = 1e-12))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RakeControl {
    pub max_iterations: usize,
    /// Relative to the sum of the input weights, as R's `epsilon < 1`.
    pub epsilon: f64,
}

impl Default for RakeControl {
    fn default() -> Self {
        RakeControl { max_iterations: 1000, epsilon: 1e-12 }
    }
}

/// Trimming: cap weights at `cap` × the ICS mean weight, re-rake, repeat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrimControl {
    pub cap: f64,
    /// The cap and the margins must hold within this (relative).
    pub tolerance: f64,
    pub max_iterations: usize,
}

impl Default for TrimControl {
    fn default() -> Self {
        TrimControl { cap: 5.0, tolerance: 1e-6, max_iterations: 100 }
    }
}

/// Everything that decides a weighting run.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightingSpec {
    pub rake: RakeControl,
    pub trim: Option<TrimControl>,
    /// An ICS with fewer respondents is not raked: its base weights are
    /// scaled to its population total, and the report says so.
    pub min_respondents: usize,
    /// ICSs (indices into the strata) not to rake whatever their size:
    /// scaled to their population total as the rule above does. For a
    /// caller that found an ICS's margins cannot be met.
    pub scale_only: Vec<u32>,
}

impl Default for WeightingSpec {
    fn default() -> Self {
        WeightingSpec { rake: RakeControl::default(), trim: None, min_respondents: 10, scale_only: Vec::new() }
    }
}
