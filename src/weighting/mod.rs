//! Weighting: base weights, raking to ICS population margins, trimming, and
//! estimates with linearised standard errors. Pure functions on columns,
//! with no database, HTTP or global state, so they can be checked against
//! R's `survey` package (tests/fixtures/weighting) and benchmarked alone.
//!
//! Each ICS is weighted on its own (ICSs never interact), in parallel.
//! `docs/methodology.md` explains the method for analysts.

mod error;
pub mod estimate;
mod input;
mod rake;
mod targets;
mod trim;

use rayon::prelude::*;

pub use error::WeightingError;
pub use estimate::{
    Design, DomainSums, Estimate, MomentSums, ProfilePlaces, Proportion, RakingCells, Z95, proportion_of,
    proportion_with, t_quantile,
};
pub use input::{DimensionMargins, Population, RakeControl, Respondents, TrimControl, WeightingSpec};
pub use targets::{MISSING_LABEL, TargetReport, TargetRule};
pub use trim::trim_to_cap;

/// What happened to one ICS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StratumStatus {
    /// Raked to its margins.
    Raked,
    /// Raked, trimmed and re-raked until the cap and the margins held.
    Trimmed,
    /// The trim loop hit its iteration limit: weights are the last re-rake,
    /// which meets the margins but may exceed the cap.
    TrimLimitReached,
    /// Fewer respondents than the minimum: base weights scaled to the ICS
    /// population total, not raked.
    TooFewRespondents,
    /// No respondents at all.
    Empty,
}

impl StratumStatus {
    pub fn describe(self) -> &'static str {
        match self {
            StratumStatus::Raked => "raked",
            StratumStatus::Trimmed => "raked and trimmed",
            StratumStatus::TrimLimitReached => "trim limit reached: cap not met",
            StratumStatus::TooFewRespondents => "too few respondents: scaled to the total, not raked",
            StratumStatus::Empty => "no respondents",
        }
    }
}

/// Per-ICS diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumReport {
    pub ics: String,
    pub respondents: usize,
    pub status: StratumStatus,
    /// Raking cycles of the first rake.
    pub cycles: usize,
    pub trim_iterations: usize,
    pub max_margin_error: f64,
    pub min_weight: f64,
    pub max_weight: f64,
    pub n_eff: f64,
    pub design_effect: f64,
    pub targets: Vec<TargetReport>,
    /// Trimming: how many weights were ever above the cap, and the weight
    /// the first trim took off them, as a share of the ICS's total.
    pub capped: usize,
    pub trimmed_share: f64,
}

/// Final weights and how they were reached.
#[derive(Debug, Clone)]
pub struct Weighted {
    pub weights: Vec<f64>,
    pub strata: Vec<StratumReport>,
    /// The raking cells, for linearised variances of the raked design.
    pub cells: RakingCells,
}

impl Weighted {
    pub fn design<'a>(&'a self, respondents: &'a Respondents) -> Design<'a> {
        Design::new(&respondents.stratum, &self.weights, self.strata.len(), Some(&self.cells))
    }
}

struct StratumResult {
    members: Vec<u32>,
    weights: Vec<f64>,
    margins: Vec<targets::StratumMargin>,
    report: StratumReport,
}

/// Weights every ICS: targets (collapse and missing rules), raking, and
/// optional trimming with re-raking.
///
/// The trim loop runs over all ICSs together, as the R reference does: it
/// stops when every ICS meets the cap and its margins, and until then every
/// ICS is trimmed and re-raked (one already within the cap barely moves).
pub fn weight(
    respondents: &Respondents,
    population: &Population,
    spec: &WeightingSpec,
) -> Result<Weighted, WeightingError> {
    let n_strata = population.strata.len();
    for (row, &w) in respondents.base_weight.iter().enumerate() {
        if !(w.is_finite() && w > 0.0) {
            return Err(WeightingError::BadWeight { row, weight: w });
        }
    }
    let mut members = vec![Vec::new(); n_strata];
    for (i, &h) in respondents.stratum.iter().enumerate() {
        members[h as usize].push(i as u32);
    }
    let names: Vec<String> = population.dimensions.iter().map(|d| d.name.clone()).collect();
    let mut results: Vec<StratumResult> = members
        .into_par_iter()
        .enumerate()
        .map(|(h, members)| rake_first(respondents, population, spec, h, members, &names))
        .collect::<Result<_, _>>()?;
    if let Some(trim) = spec.trim {
        trim_all(&mut results, spec.rake, trim, &names)?;
    }
    Ok(assemble(results, respondents.len(), population.dimensions.len()))
}

/// Puts the per-ICS results back in respondent order.
fn assemble(results: Vec<StratumResult>, n: usize, n_margins: usize) -> Weighted {
    let mut weights = vec![0.0; n];
    let mut cells = RakingCells { cell: vec![vec![0; n]; n_margins], n_cells: vec![0; n_margins] };
    let mut strata = Vec::with_capacity(results.len());
    for mut result in results {
        summarise(&mut result.report, &result.weights);
        for (k, &i) in result.members.iter().enumerate() {
            weights[i as usize] = result.weights[k];
        }
        for m in 0..n_margins {
            let offset = cells.n_cells[m] as u32;
            match result.margins.get(m) {
                Some(margin) => {
                    for (k, &i) in result.members.iter().enumerate() {
                        cells.cell[m][i as usize] = offset + margin.cell[k];
                    }
                    cells.n_cells[m] += margin.targets.len();
                }
                None => {
                    // Not raked: the whole ICS is one cell of every margin.
                    for &i in &result.members {
                        cells.cell[m][i as usize] = offset;
                    }
                    cells.n_cells[m] += 1;
                }
            }
        }
        strata.push(result.report);
    }
    Weighted { weights, strata, cells }
}

fn rake_first(
    respondents: &Respondents,
    population: &Population,
    spec: &WeightingSpec,
    h: usize,
    members: Vec<u32>,
    names: &[String],
) -> Result<StratumResult, WeightingError> {
    let ics = population.strata[h].clone();
    let mut weights: Vec<f64> = members.iter().map(|&i| respondents.base_weight[i as usize]).collect();
    let has_margins = population.dimensions.iter().any(|d| d.population[h].iter().any(Option::is_some));
    let mut report = StratumReport {
        ics: ics.clone(),
        respondents: members.len(),
        status: StratumStatus::Empty,
        cycles: 0,
        trim_iterations: 0,
        max_margin_error: 0.0,
        min_weight: 0.0,
        max_weight: 0.0,
        n_eff: 0.0,
        design_effect: 0.0,
        targets: Vec::new(),
        capped: 0,
        trimmed_share: 0.0,
    };
    if members.is_empty() {
        return Ok(StratumResult { members, weights, margins: Vec::new(), report });
    }
    if !has_margins {
        return Err(WeightingError::NoMargins { ics });
    }
    if members.len() < spec.min_respondents || spec.scale_only.contains(&(h as u32)) {
        let total = targets::stratum_total(population, h)?;
        let sum: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w *= total / sum);
        report.status = StratumStatus::TooFewRespondents;
        return Ok(StratumResult { members, weights, margins: Vec::new(), report });
    }
    let (margins, target_reports) = targets::stratum_margins(population, respondents, h, &members)?;
    let first = rake::rake_stratum(&mut weights, &margins, spec.rake, &ics, names)?;
    report.cycles = first.cycles;
    report.max_margin_error = first.max_relative_error;
    report.status = StratumStatus::Raked;
    report.targets = target_reports;
    Ok(StratumResult { members, weights, margins, report })
}

/// Does this raked ICS meet the cap and its margins?
fn within_cap(result: &StratumResult, trim: TrimControl) -> bool {
    if result.margins.is_empty() {
        return true;
    }
    let cap = trim.cap * trim::mean(&result.weights);
    let max = result.weights.iter().copied().fold(0.0, f64::max);
    max <= cap * (1.0 + trim.tolerance) && rake::worst_cell(&result.weights, &result.margins).2 <= trim.tolerance
}

fn trim_all(
    results: &mut [StratumResult],
    rake: RakeControl,
    trim: TrimControl,
    names: &[String],
) -> Result<(), WeightingError> {
    let mut iteration = 0;
    let mut trimmed = vec![false; results.len()];
    let mut capped: Vec<Vec<bool>> = results.iter().map(|r| vec![false; r.weights.len()]).collect();
    while !results.par_iter().all(|r| within_cap(r, trim)) {
        if iteration == trim.max_iterations {
            for r in results.iter_mut().filter(|r| !within_cap(r, trim)) {
                r.report.status = StratumStatus::TrimLimitReached;
            }
            break;
        }
        iteration += 1;
        results.par_iter_mut().zip(trimmed.par_iter_mut()).zip(capped.par_iter_mut()).try_for_each(
            |((r, was_trimmed), capped)| {
                if r.margins.is_empty() {
                    return Ok(());
                }
                let cap = trim.cap * trim::mean(&r.weights);
                *was_trimmed |= r.weights.iter().any(|&w| w > cap);
                if iteration == 1 {
                    let total: f64 = r.weights.iter().sum();
                    r.report.trimmed_share =
                        r.weights.iter().filter(|&&w| w > cap).map(|w| w - cap).sum::<f64>() / total;
                }
                for (c, &w) in capped.iter_mut().zip(&r.weights) {
                    *c |= w > cap;
                }
                trim::trim_to_cap(&mut r.weights, cap);
                rake::rake_stratum(&mut r.weights, &r.margins, rake, &r.report.ics, names).map(|_| ())
            },
        )?;
    }
    for ((r, was_trimmed), capped) in results.iter_mut().zip(trimmed).zip(capped) {
        r.report.trim_iterations = iteration;
        r.report.capped = capped.iter().filter(|&&c| c).count();
        if !r.margins.is_empty() {
            r.report.max_margin_error = rake::worst_cell(&r.weights, &r.margins).2;
        }
        if was_trimmed && r.report.status == StratumStatus::Raked {
            r.report.status = StratumStatus::Trimmed;
        }
    }
    Ok(())
}

fn summarise(report: &mut StratumReport, weights: &[f64]) {
    let sum: f64 = weights.iter().sum();
    let sum2: f64 = weights.iter().map(|w| w * w).sum();
    let n = weights.len() as f64;
    report.min_weight = weights.iter().copied().fold(f64::INFINITY, f64::min);
    report.max_weight = weights.iter().copied().fold(0.0, f64::max);
    report.n_eff = sum * sum / sum2;
    report.design_effect = n * sum2 / (sum * sum);
}
