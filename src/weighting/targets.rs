//! Raking targets per ICS, after the two rules for awkward data:
//!
//! * **Collapse.** A population category with no respondents in an ICS
//!   hands its population to its declared neighbour (following a chain such
//!   as `85+` → `75-84` → `65-74`); with no neighbour that has respondents,
//!   it is an error naming the ICS, dimension and category.
//! * **Missing.** People who preferred not to say keep their base-weighted
//!   share `s` of the ICS as a category of their own (target `s·N`), and the
//!   known categories fill the rest in population proportion (`P·(1 − s)`).

use super::error::WeightingError;
use super::input::{Population, Respondents};

/// One raking margin of one ICS: which cell each respondent of the ICS
/// falls in, and each cell's target.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumMargin {
    /// Per respondent of the ICS (in the ICS's own order): its cell.
    pub cell: Vec<u32>,
    pub targets: Vec<f64>,
    /// Cell labels, for messages: category names and `(missing)`.
    pub labels: Vec<String>,
}

/// How a category's target came about, for reports.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetRule {
    Kept,
    Missing,
    CollapsedInto(String),
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetReport {
    pub dimension: String,
    pub category: String,
    pub rule: TargetRule,
    pub respondents: usize,
    pub missing_share: f64,
    pub target: f64,
}

pub const MISSING_LABEL: &str = "(missing)";

/// The population total N of one ICS, the same on every dimension.
pub fn stratum_total(population: &Population, stratum: usize) -> Result<f64, WeightingError> {
    let mut total: Option<(f64, &str)> = None;
    for d in &population.dimensions {
        let sum: f64 = d.population[stratum].iter().flatten().sum();
        if !sum.is_finite() {
            return Err(WeightingError::BadPopulation {
                ics: population.strata[stratum].clone(),
                dimension: d.name.clone(),
            });
        }
        match total {
            None => total = Some((sum, &d.name)),
            Some((t, first)) if (t - sum).abs() > 1e-9 * t.max(1.0) => {
                return Err(WeightingError::UnequalTotals {
                    ics: population.strata[stratum].clone(),
                    first: first.to_string(),
                    first_total: t,
                    other: d.name.clone(),
                    other_total: sum,
                });
            }
            Some(_) => {}
        }
    }
    Ok(total.map_or(0.0, |(t, _)| t))
}

/// A population a category can be raked to: positive and finite (NaN
/// compares false with everything, so `p <= 0.0` alone lets it through).
fn usable(p: f64) -> bool {
    p.is_finite() && p > 0.0
}

/// Builds one ICS's margins. `members` are the ICS's respondents (global
/// row indices) in the order the raking will use.
pub fn stratum_margins(
    population: &Population,
    respondents: &Respondents,
    stratum: usize,
    members: &[u32],
) -> Result<(Vec<StratumMargin>, Vec<TargetReport>), WeightingError> {
    let ics = &population.strata[stratum];
    let n_total = stratum_total(population, stratum)?;
    let base_total: f64 = members.iter().map(|&i| respondents.base_weight[i as usize]).sum();
    let mut margins = Vec::with_capacity(population.dimensions.len());
    let mut reports = Vec::new();
    for (d_index, d) in population.dimensions.iter().enumerate() {
        let column = &respondents.categories[d_index];
        let k = d.categories.len();
        let mut count = vec![0usize; k];
        let mut missing_base = 0.0;
        let mut missing_n = 0;
        for &i in members {
            match column[i as usize] {
                Some(c) => count[c as usize] += 1,
                None => {
                    missing_base += respondents.base_weight[i as usize];
                    missing_n += 1;
                }
            }
        }
        let pops = &d.population[stratum];
        // A respondent in a category the margins do not give for this ICS.
        for (c, &n) in count.iter().enumerate() {
            if n > 0 && !pops[c].is_some_and(usable) {
                return Err(WeightingError::NoPopulation {
                    ics: ics.clone(),
                    dimension: d.name.clone(),
                    category: d.categories[c].clone(),
                });
            }
        }
        // Collapse empty categories into their declared neighbours.
        let mut target: Vec<f64> = pops.iter().map(|p| p.unwrap_or(0.0)).collect();
        let mut rules: Vec<TargetRule> = vec![TargetRule::Kept; k];
        for c in 0..k {
            let p = pops[c].unwrap_or(0.0);
            if count[c] > 0 {
                continue;
            }
            if !usable(p) {
                rules[c] = TargetRule::Empty;
                continue;
            }
            let mut dest = c;
            let mut steps = 0;
            while count[dest] == 0 {
                match d.collapse_into[stratum][dest] {
                    Some(next) if steps < k => {
                        dest = next as usize;
                        steps += 1;
                    }
                    _ => {
                        return Err(WeightingError::EmptyCategory {
                            ics: ics.clone(),
                            dimension: d.name.clone(),
                            category: d.categories[c].clone(),
                        });
                    }
                }
            }
            target[dest] += p;
            target[c] = 0.0;
            rules[c] = TargetRule::CollapsedInto(d.categories[dest].clone());
        }
        // The missing share keeps its base-weighted part of the ICS.
        let s = if base_total > 0.0 { missing_base / base_total } else { 0.0 };
        let mut cell_of_category = vec![u32::MAX; k];
        let mut targets = Vec::new();
        let mut labels = Vec::new();
        for c in 0..k {
            if target[c] > 0.0 {
                cell_of_category[c] = targets.len() as u32;
                targets.push(target[c] * (1.0 - s));
                labels.push(d.categories[c].clone());
            }
        }
        let missing_cell = if s > 0.0 {
            targets.push(s * n_total);
            labels.push(MISSING_LABEL.to_string());
            Some(targets.len() as u32 - 1)
        } else {
            None
        };
        let cell = members
            .iter()
            .map(|&i| match column[i as usize] {
                Some(c) => cell_of_category[c as usize],
                None => missing_cell.expect("a missing respondent implies s > 0"),
            })
            .collect();
        for c in 0..k {
            reports.push(TargetReport {
                dimension: d.name.clone(),
                category: d.categories[c].clone(),
                rule: rules[c].clone(),
                respondents: count[c],
                missing_share: s,
                target: if cell_of_category[c] == u32::MAX { 0.0 } else { targets[cell_of_category[c] as usize] },
            });
        }
        if let Some(m) = missing_cell {
            reports.push(TargetReport {
                dimension: d.name.clone(),
                category: MISSING_LABEL.into(),
                rule: TargetRule::Missing,
                respondents: missing_n,
                missing_share: s,
                target: targets[m as usize],
            });
        }
        margins.push(StratumMargin { cell, targets, labels });
    }
    Ok((margins, reports))
}
