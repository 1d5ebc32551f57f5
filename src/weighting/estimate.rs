//! Weighted means and proportions with Taylor-linearised standard errors,
//! exactly as R's `svymean`/`svyby`/`svyciprop` compute them for a design
//! declared `svydesign(ids = ~1, strata = ~ics, weights = ...)`, raked or not
//! (see tests/fixtures/weighting/SPEC.md §4–7):
//!
//! * influence values z = w (y − μ̂) / Σw, zero outside the domain;
//! * on a raked design, 10 sweeps over the margins in raking order of
//!   z ← z − w · (unweighted mean of z/w in the respondent's cell), as R's
//!   `svyrecvar` does for a design from `rake()`;
//! * V = Σ_h n_h/(n_h − 1) Σ_{i∈h} (z_i − z̄_h)², with full-sample n_h.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// z for a 95% normal interval, as R's `qnorm(0.975)`.
pub const Z95: f64 = 1.959963984540054;

/// R's `svyrecvar` sweeps this many times, with no convergence test.
const RAKING_SWEEPS: usize = 10;

/// The raking cells of a weighted sample, for the variance.
#[derive(Debug, Clone, Default)]
pub struct RakingCells {
    /// `[margin][respondent]`: a cell id unique across ICSs.
    pub cell: Vec<Vec<u32>>,
    /// `[margin]`: how many cell ids there are.
    pub n_cells: Vec<usize>,
}

/// A weighted sample ready for estimation.
#[derive(Debug, Clone)]
pub struct Design<'a> {
    stratum: &'a [u32],
    weights: &'a [f64],
    raking: Option<&'a RakingCells>,
    /// Respondent rows of each stratum.
    blocks: Vec<Vec<u32>>,
    /// `[margin][cell]`: respondents in the cell (whole sample).
    cell_counts: Vec<Vec<u32>>,
}

/// One estimate with everything an analyst needs to judge it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Unweighted respondents in the domain.
    pub n: usize,
    pub sum_w: f64,
    pub estimate: f64,
    pub se: f64,
    /// Kish effective sample size (Σw)²/Σw².
    pub n_eff: f64,
    /// Kish weighting design effect n Σw² / (Σw)².
    pub deff_w: f64,
    /// R's `svymean(deff = TRUE)`: V / V_srs (without replacement).
    pub deff: f64,
    /// ICSs with at least one respondent in the domain.
    pub strata: usize,
}

impl Estimate {
    /// 95% interval, estimate ± 1.96·SE, clipped to the scale.
    pub fn ci(&self, lowest: f64, highest: f64) -> (f64, f64) {
        ((self.estimate - Z95 * self.se).max(lowest), (self.estimate + Z95 * self.se).min(highest))
    }
}

/// A proportion with R's `svyciprop(method = "logit")` interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proportion {
    pub estimate: Estimate,
    /// Degrees of freedom: respondents in the domain − ICSs in the domain.
    pub df: f64,
    /// `None` when the logit interval is undefined: p̂ of 0 or 1, or df ≤ 1.
    pub ci: Option<(f64, f64)>,
}

impl<'a> Design<'a> {
    /// `raking` is `None` for a design weighted but not raked (base weights).
    pub fn new(stratum: &'a [u32], weights: &'a [f64], n_strata: usize, raking: Option<&'a RakingCells>) -> Self {
        let mut blocks = vec![Vec::new(); n_strata];
        for (i, &h) in stratum.iter().enumerate() {
            blocks[h as usize].push(i as u32);
        }
        let cell_counts = raking
            .map(|r| {
                r.cell
                    .iter()
                    .zip(&r.n_cells)
                    .map(|(cells, &n)| {
                        let mut counts = vec![0u32; n];
                        for &c in cells {
                            counts[c as usize] += 1;
                        }
                        counts
                    })
                    .collect()
            })
            .unwrap_or_default();
        Design { stratum, weights, raking, blocks, cell_counts }
    }

    /// The weighted mean of `y` over the respondents for whom `member` is true.
    pub fn mean(&self, y: &[f64], member: &dyn Fn(usize) -> bool) -> Estimate {
        let touched: Vec<usize> =
            (0..self.blocks.len()).filter(|&h| self.blocks[h].iter().any(|&i| member(i as usize))).collect();
        self.mean_in(y, member, &touched)
    }

    /// Means for every group `0..n_groups` of `group` (`None` = in no group).
    pub fn means_by(&self, y: &[f64], group: &[Option<u32>], n_groups: usize) -> Vec<Estimate> {
        let mut touched = vec![Vec::new(); n_groups];
        for (h, block) in self.blocks.iter().enumerate() {
            let mut seen = vec![false; n_groups];
            for &i in block {
                if let Some(g) = group[i as usize] {
                    seen[g as usize] = true;
                }
            }
            for (g, s) in seen.into_iter().enumerate() {
                if s {
                    touched[g].push(h);
                }
            }
        }
        (0..n_groups).map(|g| self.mean_in(y, &|i| group[i] == Some(g as u32), &touched[g])).collect()
    }

    /// A proportion (y is 0 or 1) with its logit interval.
    pub fn proportion(&self, y: &[f64], member: &dyn Fn(usize) -> bool) -> Proportion {
        proportion_of(self.mean(y, member))
    }

    fn mean_in(&self, y: &[f64], member: &dyn Fn(usize) -> bool, touched: &[usize]) -> Estimate {
        let (mut n, mut sum_w, mut sum_wy, mut sum_w2) = (0usize, 0.0, 0.0, 0.0);
        for &h in touched {
            for &i in &self.blocks[h] {
                let i = i as usize;
                if member(i) {
                    let w = self.weights[i];
                    n += 1;
                    sum_w += w;
                    sum_wy += w * y[i];
                    sum_w2 += w * w;
                }
            }
        }
        if n == 0 || sum_w <= 0.0 {
            return Estimate {
                n,
                sum_w,
                estimate: f64::NAN,
                se: f64::NAN,
                n_eff: 0.0,
                deff_w: f64::NAN,
                deff: f64::NAN,
                strata: 0,
            };
        }
        let mu = sum_wy / sum_w;
        let mut variance = 0.0;
        let mut weighted_ss = 0.0;
        let mut z = Vec::new();
        let mut sums: Vec<Vec<f64>> = self.cell_counts.iter().map(|c| vec![0.0; c.len()]).collect();
        for &h in touched {
            let block = &self.blocks[h];
            z.clear();
            z.extend(block.iter().map(|&i| {
                let i = i as usize;
                if member(i) {
                    weighted_ss += self.weights[i] * (y[i] - mu).powi(2);
                    self.weights[i] * (y[i] - mu) / sum_w
                } else {
                    0.0
                }
            }));
            if let Some(raking) = self.raking {
                self.sweep(raking, block, &mut z, &mut sums);
            }
            let n_h = block.len() as f64;
            let mean_z = z.iter().sum::<f64>() / n_h;
            let ss: f64 = z.iter().map(|v| (v - mean_z).powi(2)).sum();
            variance += if block.len() > 1 { n_h / (n_h - 1.0) * ss } else { f64::NAN };
        }
        let nf = n as f64;
        let s2 = if n > 1 { nf / (nf - 1.0) * weighted_ss / sum_w } else { f64::NAN };
        let v_srs = s2 * (sum_w - nf) / (sum_w * nf);
        Estimate {
            n,
            sum_w,
            estimate: mu,
            se: variance.sqrt(),
            n_eff: sum_w * sum_w / sum_w2,
            deff_w: nf * sum_w2 / (sum_w * sum_w),
            deff: if sum_w > nf { variance / v_srs } else { f64::NAN },
            strata: touched.len(),
        }
    }

    /// R's raking residuals: 10 sweeps over the margins, within one ICS.
    fn sweep(&self, raking: &RakingCells, block: &[u32], z: &mut [f64], sums: &mut [Vec<f64>]) {
        for _ in 0..RAKING_SWEEPS {
            for (m, cells) in raking.cell.iter().enumerate() {
                let sums = &mut sums[m];
                let counts = &self.cell_counts[m];
                for (k, &i) in block.iter().enumerate() {
                    let i = i as usize;
                    sums[cells[i] as usize] += z[k] / self.weights[i];
                }
                for (k, &i) in block.iter().enumerate() {
                    let i = i as usize;
                    let c = cells[i] as usize;
                    z[k] -= self.weights[i] * sums[c] / f64::from(counts[c]);
                }
                for &i in block {
                    sums[cells[i as usize] as usize] = 0.0;
                }
            }
        }
    }

    pub fn stratum(&self) -> &[u32] {
        self.stratum
    }
}

/// The logit interval of R's `svyciprop(method = "logit")`, closed form:
/// expit(logit p̂ ± t(0.975, df) · SE / (p̂(1 − p̂))).
pub fn proportion_of(estimate: Estimate) -> Proportion {
    let df = estimate.n as f64 - estimate.strata as f64;
    let p = estimate.estimate;
    let ci = if df > 1.0 && p > 0.0 && p < 1.0 && estimate.se.is_finite() {
        StudentsT::new(0.0, 1.0, df).ok().map(|t| {
            let q = t.inverse_cdf(0.975);
            let logit = (p / (1.0 - p)).ln();
            let half = q * estimate.se / (p * (1.0 - p));
            (expit(logit - half), expit(logit + half))
        })
    } else {
        None
    };
    Proportion { estimate, df, ci }
}

fn expit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
