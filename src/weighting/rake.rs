//! Raking (iterative proportional fitting) within one ICS, stopping exactly
//! as R's `rake()` does: after a full cycle over the margins, when the
//! largest change in the joint table of all raking variables since the
//! previous cycle is below `epsilon × Σ input weights`.

use std::collections::HashMap;

use super::error::WeightingError;
use super::input::RakeControl;
use super::targets::StratumMargin;

/// A margin still off by more than this when the weights have stopped
/// moving cannot be met by this sample.
const UNREACHABLE: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RakeOutcome {
    /// Full cycles over the margins, counted as R counts them.
    pub cycles: usize,
    /// Largest |Σw − target| / target over every margin cell afterwards.
    pub max_relative_error: f64,
}

/// Dense ids of the joint cells (one per combination of the margins' cells
/// that occurs), per respondent, and how many there are.
fn joint_cells(margins: &[StratumMargin], n: usize) -> (Vec<u32>, usize) {
    // A mixed-radix key per respondent; margins have few cells, so it fits.
    let radix: Vec<u64> = margins.iter().map(|m| m.targets.len() as u64).collect();
    let mut ids: HashMap<u64, u32> = HashMap::new();
    let mut joint = Vec::with_capacity(n);
    for i in 0..n {
        let key =
            margins.iter().zip(&radix).fold(0u64, |k, (m, r)| k.wrapping_mul(*r).wrapping_add(u64::from(m.cell[i])));
        let next = ids.len() as u32;
        joint.push(*ids.entry(key).or_insert(next));
    }
    let count = ids.len();
    (joint, count)
}

/// The worst margin cell: (margin index, cell index, relative error).
pub fn worst_cell(weights: &[f64], margins: &[StratumMargin]) -> (usize, usize, f64) {
    let mut worst = (0, 0, 0.0);
    for (m, margin) in margins.iter().enumerate() {
        let mut totals = vec![0.0; margin.targets.len()];
        for (w, &c) in weights.iter().zip(&margin.cell) {
            totals[c as usize] += w;
        }
        for (c, (t, target)) in totals.iter().zip(&margin.targets).enumerate() {
            let err = (t - target).abs() / target;
            if err > worst.2 {
                worst = (m, c, err);
            }
        }
    }
    worst
}

/// Rakes `weights` (one ICS's respondents, in the margins' order) to the
/// margins' targets.
pub fn rake_stratum(
    weights: &mut [f64],
    margins: &[StratumMargin],
    control: RakeControl,
    ics: &str,
    dimension_names: &[String],
) -> Result<RakeOutcome, WeightingError> {
    let n = weights.len();
    if margins.is_empty() || n == 0 {
        return Ok(RakeOutcome { cycles: 0, max_relative_error: 0.0 });
    }
    let epsilon = control.epsilon * weights.iter().sum::<f64>();
    let (joint, joint_count) = joint_cells(margins, n);
    let table = |w: &[f64]| {
        let mut t = vec![0.0; joint_count];
        for (w, &j) in w.iter().zip(&joint) {
            t[j as usize] += w;
        }
        t
    };
    let mut old = table(weights);
    let mut totals: Vec<Vec<f64>> = margins.iter().map(|m| vec![0.0; m.targets.len()]).collect();
    for iteration in 0..control.max_iterations {
        for (margin, totals) in margins.iter().zip(totals.iter_mut()) {
            totals.iter_mut().for_each(|t| *t = 0.0);
            for (w, &c) in weights.iter().zip(&margin.cell) {
                totals[c as usize] += w;
            }
            let factors: Vec<f64> = margin.targets.iter().zip(totals.iter()).map(|(n, t)| n / t).collect();
            for (w, &c) in weights.iter_mut().zip(&margin.cell) {
                *w *= factors[c as usize];
            }
        }
        let new = table(weights);
        let delta = new.iter().zip(&old).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        if delta < epsilon {
            let (m, c, max_relative_error) = worst_cell(weights, margins);
            // The weights stopped moving but a margin is not met: the
            // sample cannot reach these targets (R would return it silently).
            if max_relative_error > UNREACHABLE {
                return Err(WeightingError::NotConverged {
                    ics: ics.to_string(),
                    iterations: iteration + 1,
                    dimension: dimension_names.get(m).cloned().unwrap_or_default(),
                    category: margins[m].labels[c].clone(),
                    relative_error: max_relative_error,
                });
            }
            return Ok(RakeOutcome { cycles: iteration + 1, max_relative_error });
        }
        old = new;
    }
    let (m, c, relative_error) = worst_cell(weights, margins);
    Err(WeightingError::NotConverged {
        ics: ics.to_string(),
        iterations: control.max_iterations,
        dimension: dimension_names.get(m).cloned().unwrap_or_default(),
        category: margins[m].labels[c].clone(),
        relative_error,
    })
}
