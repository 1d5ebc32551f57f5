//! Raking (iterative proportional fitting) within one ICS, stopping exactly
//! as R's `rake()` does: after a full cycle over the margins, when the
//! largest change in the joint table of all raking variables since the
//! previous cycle is below `epsilon × Σ input weights` (or the weights
//! have reached a fixed point up to rounding, see [`NOISE_ULPS`]).

use std::collections::HashMap;

use super::error::WeightingError;
use super::input::RakeControl;
use super::targets::StratumMargin;

/// A margin still off by more than this when the weights have stopped
/// moving cannot be met by this sample.
const UNREACHABLE: f64 = 1e-6;

/// Rounding noise: once converged, the joint cells still move by a few
/// units in the last place from cycle to cycle (every weight is rounded
/// after every multiplication). A change below this many units of the
/// largest cell, with every margin met to [`MET`], is a fixed point.
/// R's threshold (relative to the *input* weights) can be finer than that
/// noise, as with tiny base weights, and R then cycles to `maxit` on
/// weights that are already converged.
const NOISE_ULPS: f64 = 64.0;

/// Margins met to this (relative) are met up to rounding.
const MET: f64 = 1e-12;

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
    let key = |i: usize| {
        margins.iter().zip(&radix).fold(0u64, |k, (m, r)| k.wrapping_mul(*r).wrapping_add(u64::from(m.cell[i])))
    };
    let mut joint = Vec::with_capacity(n);
    let mut count = 0u32;
    let keys = radix.iter().try_fold(1u64, |p, r| p.checked_mul(*r));
    match keys {
        // Usually a few hundred possible keys: a table of them is faster
        // than hashing a million.
        Some(keys) if keys <= DENSE_KEYS => {
            let mut ids = vec![u32::MAX; keys as usize];
            for i in 0..n {
                let id = &mut ids[key(i) as usize];
                if *id == u32::MAX {
                    *id = count;
                    count += 1;
                }
                joint.push(*id);
            }
        }
        _ => {
            let mut ids: HashMap<u64, u32> = HashMap::new();
            for i in 0..n {
                let next = ids.len() as u32;
                joint.push(*ids.entry(key(i)).or_insert(next));
            }
            count = ids.len() as u32;
        }
    }
    (joint, count as usize)
}

/// The most possible joint keys `joint_cells` keeps a table for.
const DENSE_KEYS: u64 = 1 << 20;

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
        let largest = new.iter().copied().fold(0.0, f64::max);
        let fixed_point = || delta < NOISE_ULPS * f64::EPSILON * largest && worst_cell(weights, margins).2 <= MET;
        if delta < epsilon || fixed_point() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic sample of `n` respondents over a 3-cell and a 2-cell
    /// margin (targets in the tens of thousands), with every age band holding both
    /// sexes so the targets are reachable.
    fn sample(seed: u64, n: usize) -> Vec<StratumMargin> {
        let mut state = seed;
        let mut next = |k: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) % k) as u32
        };
        let mut age: Vec<u32> = (0..n).map(|_| next(3)).collect();
        let mut sex: Vec<u32> = (0..n).map(|_| next(2)).collect();
        for (i, cell) in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)].into_iter().enumerate() {
            (age[i], sex[i]) = cell;
        }
        age.rotate_left(seed as usize % n);
        sex.rotate_left(seed as usize % n);
        vec![
            StratumMargin {
                cell: age,
                targets: vec![52_000.0, 71_300.0, 38_900.0],
                labels: vec!["a1".into(), "a2".into(), "a3".into()],
            },
            StratumMargin { cell: sex, targets: vec![77_000.0, 85_200.0], labels: vec!["f".into(), "m".into()] },
        ]
    }

    /// Tiny base weights make R's threshold (1e-12 × their sum) finer than
    /// the rounding of cells in the tens of thousands; the rake must still stop, with
    /// the same weights whatever the scale of the base weights.
    #[test]
    fn tiny_base_weights_still_converge() {
        let control = RakeControl { max_iterations: 1000, epsilon: 1e-12 };
        let names = ["age".to_string(), "sex".to_string()];
        for seed in 0..40 {
            let margins = sample(seed, 30);
            let mut reference = vec![1.0; 30];
            rake_stratum(&mut reference, &margins, control, "A", &names).unwrap();
            for step in 0..50 {
                let base = 0.2 * (0.01 + 0.0037 * f64::from(step));
                let mut weights = vec![base; 30];
                let outcome = rake_stratum(&mut weights, &margins, control, "A", &names)
                    .unwrap_or_else(|e| panic!("seed {seed}, base weight {base}: {e:?}"));
                assert!(outcome.max_relative_error < 1e-12, "seed {seed}, base weight {base}: {outcome:?}");
                for (a, b) in weights.iter().zip(&reference) {
                    assert!((a - b).abs() / b < 1e-8, "seed {seed}, base weight {base}: {a} vs {b}");
                }
            }
        }
    }
}
