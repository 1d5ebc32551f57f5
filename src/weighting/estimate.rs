//! Weighted means and proportions with Taylor-linearised standard errors,
//! exactly as R's `svymean`/`svyby`/`svyciprop` compute them for a design
//! declared `svydesign(ids = ~1, strata = ~ics, weights = ...)`, raked or not
//! (see tests/fixtures/weighting/SPEC.md §4–7):
//!
//! * influence values z = w (y − μ̂) / Σw, zero outside the domain;
//! * on a raked design, 10 sweeps over the margins in raking order of
//!   z ← z − w · (unweighted mean of z/w in the respondent's cell), as R's
//!   `svyrecvar` does for a design from `rake()`;
//! * V = Σ_h n_h/(n_h − 1) Σ_{i∈h} (z_i − z̄_h)², with full-sample n_h;
//! * an ICS of one respondent adds z_i² (centred at the grand mean, zero), as
//!   R does under `options(survey.lonely.psu = "adjust")`
//!   (tests/fixtures/edges).

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
///
/// The raking sweeps are linear in z and act only through the raking
/// cells, so z after the sweeps is `a + w·b` where `a` is the initial
/// influence vector and `b` is a sum of one value per cell per margin. The
/// sweeps are therefore run on those per-cell values, using per-ICS tables
/// of cell counts, weight sums and cross-cell sums of w² prepared once: a
/// domain costs one pass over its own members plus a little arithmetic per
/// cell, instead of ten passes over its whole ICS. `direct_variance` (tests)
/// is the plain ten-sweep computation it must equal.
#[derive(Debug, Clone)]
pub struct Design<'a> {
    stratum: &'a [u32],
    weights: &'a [f64],
    raking: Option<&'a RakingCells>,
    /// Per stratum: its rows and, on a raked design, its cell tables.
    strata: Vec<StratumTables>,
    /// Per respondent: its cell within its stratum, per margin.
    local_cell: Vec<Vec<u32>>,
}

/// One ICS's raking cells in local numbering, with the sums the cell-space
/// sweeps need.
#[derive(Debug, Clone, Default)]
struct StratumTables {
    rows: Vec<u32>,
    /// `[margin]`: cells of this ICS.
    sizes: Vec<usize>,
    /// `[margin][cell]`: respondents, and their weight total.
    count: Vec<Vec<f64>>,
    weight: Vec<Vec<f64>>,
    /// `[m][m']`: respondents in (cell c of m) ∩ (cell c' of m'), row-major.
    cross_count: Vec<Vec<Vec<f64>>>,
    /// `[m][m']`: Σ w² over that intersection.
    cross_w2: Vec<Vec<Vec<f64>>>,
    /// The ten sweeps as one linear map, worked out once: with the cells of
    /// every margin side by side (`offset[m]` where margin m's start, C in
    /// all), β = `sweep` · (Σ a/w per cell), C × C row-major. A domain then
    /// costs two small matrix products, not ten sweeps.
    offset: Vec<usize>,
    sweep: Vec<f64>,
    /// Σ w² over (cell, cell'), C × C, and each cell's weight total.
    quad: Vec<f64>,
    cell_weight: Vec<f64>,
}

impl StratumTables {
    /// The β of R's ten sweeps for given per-cell sums of a/w (the sweeps
    /// are linear in them); a cell with nobody in it is left alone.
    fn sweep_from(&self, a_over_w: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let margins = self.sizes.len();
        let mut beta: Vec<Vec<f64>> = self.sizes.iter().map(|&k| vec![0.0; k]).collect();
        for _ in 0..RAKING_SWEEPS {
            for m in 0..margins {
                let mut mean = a_over_w[m].clone();
                for (m2, beta2) in beta.iter().enumerate() {
                    if m2 == m {
                        for (c, v) in mean.iter_mut().enumerate() {
                            *v += self.count[m][c] * beta2[c];
                        }
                        continue;
                    }
                    let k2 = self.sizes[m2];
                    for (c, v) in mean.iter_mut().enumerate() {
                        let row = &self.cross_count[m][m2][c * k2..(c + 1) * k2];
                        *v += row.iter().zip(beta2).map(|(n, b)| n * b).sum::<f64>();
                    }
                }
                for (c, b) in beta[m].iter_mut().enumerate() {
                    if self.count[m][c] > 0.0 {
                        *b -= mean[c] / self.count[m][c];
                    }
                }
            }
        }
        beta
    }

    /// Works out `sweep`, `quad` and `cell_weight` from the cell tables.
    #[allow(clippy::needless_range_loop)] // block matrices read best by index
    fn prepare_sweeps(&mut self) {
        let margins = self.sizes.len();
        self.offset = std::iter::once(0)
            .chain(self.sizes.iter().scan(0, |at, k| {
                *at += k;
                Some(*at)
            }))
            .collect();
        let cells = self.offset[margins];
        self.sweep = vec![0.0; cells * cells];
        for m in 0..margins {
            for c in 0..self.sizes[m] {
                let mut unit: Vec<Vec<f64>> = self.sizes.iter().map(|&k| vec![0.0; k]).collect();
                unit[m][c] = 1.0;
                let column = self.offset[m] + c;
                for (m2, beta) in self.sweep_from(&unit).iter().enumerate() {
                    for (c2, b) in beta.iter().enumerate() {
                        self.sweep[(self.offset[m2] + c2) * cells + column] = *b;
                    }
                }
            }
        }
        self.quad = vec![0.0; cells * cells];
        for m in 0..margins {
            for m2 in 0..margins {
                let k2 = self.sizes[m2];
                for c in 0..self.sizes[m] {
                    for c2 in 0..k2 {
                        self.quad[(self.offset[m] + c) * cells + self.offset[m2] + c2] =
                            self.cross_w2[m][m2][c * k2 + c2];
                    }
                }
            }
        }
        self.cell_weight = self.weight.concat();
    }
}

/// A domain's sums within one ICS, with a = w (y − μ) / Σw over the
/// domain's members: what a stratum's share of the variance needs. Callers
/// that gather these themselves (the question percentages) pass them to
/// `Design::stratum_share`.
#[derive(Debug, Clone, Default)]
pub struct DomainSums {
    pub sum_a: f64,
    pub sum_a2: f64,
    /// `[margin][cell]`: Σ a/w and Σ a·w over the domain's members (raked
    /// designs only; cells numbered within the stratum).
    pub a_over_w: Vec<Vec<f64>>,
    pub a_times_w: Vec<Vec<f64>>,
}

/// Sums of one measure over a set of respondents (a profile of
/// `means_by_profile`), all with a value. Each sum is of d = y − shift,
/// with the shift the first value added: respondents alike mostly score
/// alike, so the expanded variance terms stay exact where y barely varies
/// (summing raw y² there would leave rounding noise in a zero variance).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MomentSums {
    pub n: usize,
    pub shift: f64,
    pub sum_d: f64,
    pub sum_w: f64,
    pub sum_wd: f64,
    pub sum_wd2: f64,
    pub sum_w2: f64,
    pub sum_w2d: f64,
    pub sum_w2d2: f64,
}

impl MomentSums {
    pub fn add(&mut self, w: f64, y: f64) {
        if self.n == 0 {
            self.shift = y;
        }
        let d = y - self.shift;
        self.n += 1;
        self.sum_d += d;
        self.sum_w += w;
        self.sum_wd += w * d;
        self.sum_wd2 += w * d * d;
        self.sum_w2 += w * w;
        self.sum_w2d += w * w * d;
        self.sum_w2d2 += w * w * d * d;
    }
}

/// Profiles placed in a design (`Design::profile_places`).
#[derive(Debug, Clone, Default)]
pub struct ProfilePlaces {
    /// Profiles ICS by ICS; ICS h's are `order[start[h]..start[h + 1]]`.
    order: Vec<u32>,
    start: Vec<usize>,
    /// `[margin][profile]`: the profile's raking cell within its ICS.
    cells: Vec<Vec<u32>>,
}

/// The per-stratum pass shared by `means_by` and `means_by_profile`: the
/// domain sums of each group met in a stratum, turned into its variance
/// term when the stratum ends.
struct VariancePass {
    totals: Vec<Totals>,
    mu: Vec<f64>,
    variance: Vec<f64>,
    weighted_ss: Vec<f64>,
    strata_touched: Vec<usize>,
    /// Per group met in the current stratum, its sums (a dense slot per
    /// group: a map lookup per respondent was the hot spot), and the groups
    /// met, in order.
    slots: Vec<Option<DomainSums>>,
    met: Vec<u32>,
    raked: bool,
}

impl VariancePass {
    fn new(design: &Design<'_>, totals: Vec<Totals>) -> VariancePass {
        let n = totals.len();
        VariancePass {
            mu: totals.iter().map(|t| t.sum_wy / t.sum_w).collect(),
            totals,
            variance: vec![0.0; n],
            weighted_ss: vec![0.0; n],
            strata_touched: vec![0; n],
            slots: vec![None; n],
            met: Vec::new(),
            raked: design.raking.is_some(),
        }
    }

    /// (μ, Σw) of group `g`.
    fn domain(&self, g: u32) -> (f64, f64) {
        (self.mu[g as usize], self.totals[g as usize].sum_w)
    }

    /// Adds Σw(y − μ)² of some members of group `g` and returns the group's
    /// domain sums in this stratum for the caller to add the rest.
    fn add(&mut self, g: u32, t: &StratumTables, weighted_ss: f64) -> &mut DomainSums {
        self.weighted_ss[g as usize] += weighted_ss;
        let met = &mut self.met;
        self.slots[g as usize].get_or_insert_with(|| {
            met.push(g);
            DomainSums {
                a_over_w: t.sizes.iter().map(|&k| vec![0.0; k]).collect(),
                a_times_w: t.sizes.iter().map(|&k| vec![0.0; k]).collect(),
                ..DomainSums::default()
            }
        })
    }

    fn finish_stratum(&mut self, t: &StratumTables) {
        self.met.sort_unstable();
        for &g in &self.met {
            let Some(d) = self.slots[g as usize].take() else { continue };
            self.strata_touched[g as usize] += 1;
            let (sum_z, sum_z2) = if self.raked { swept_sums(t, &d) } else { (d.sum_a, d.sum_a2) };
            self.variance[g as usize] += stratum_variance(t.rows.len(), sum_z, sum_z2);
        }
        self.met.clear();
    }

    fn estimates(self) -> Vec<Estimate> {
        (0..self.totals.len())
            .map(|g| {
                let t = self.totals[g];
                Estimate::from_sums(
                    (t.n, t.sum_w, t.sum_w2),
                    self.mu[g],
                    self.variance[g],
                    self.weighted_ss[g],
                    self.strata_touched[g],
                )
            })
            .collect()
    }
}

/// Totals of one domain over the whole sample.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    n: usize,
    sum_w: f64,
    sum_wy: f64,
    sum_w2: f64,
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
    /// An estimate from a domain's totals: `(n, Σw, Σw²)`, its mean, the
    /// variance of the mean, Σw(y − μ)² (for the design effect) and the
    /// ICSs it touches. What cannot be estimated is NaN here, and said so
    /// in words by the outputs: a mean from no weight, a design effect from
    /// one respondent or from weights that add up to no more than the
    /// respondents (R's `deff` is then undefined too).
    pub fn from_sums(
        (n, sum_w, sum_w2): (usize, f64, f64),
        mean: f64,
        variance: f64,
        weighted_ss: f64,
        strata: usize,
    ) -> Estimate {
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
        let nf = n as f64;
        let s2 = if n > 1 { nf / (nf - 1.0) * weighted_ss / sum_w } else { f64::NAN };
        let v_srs = s2 * (sum_w - nf) / (sum_w * nf);
        Estimate {
            n,
            sum_w,
            estimate: mean,
            se: variance.sqrt(),
            n_eff: sum_w * sum_w / sum_w2,
            deff_w: nf * sum_w2 / (sum_w * sum_w),
            deff: if sum_w > nf { variance / v_srs } else { f64::NAN },
            strata,
        }
    }

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
    #[allow(clippy::needless_range_loop)] // parallel per-margin tables read best by index
    pub fn new(stratum: &'a [u32], weights: &'a [f64], n_strata: usize, raking: Option<&'a RakingCells>) -> Self {
        let mut strata = vec![StratumTables::default(); n_strata];
        for (i, &h) in stratum.iter().enumerate() {
            strata[h as usize].rows.push(i as u32);
        }
        let mut local_cell = Vec::new();
        if let Some(r) = raking {
            let margins = r.cell.len();
            local_cell = vec![vec![0u32; stratum.len()]; margins];
            for t in &mut strata {
                // Cells of an ICS are a contiguous range of ids.
                let first: Vec<u32> =
                    (0..margins).map(|m| t.rows.iter().map(|&i| r.cell[m][i as usize]).min().unwrap_or(0)).collect();
                t.sizes = (0..margins)
                    .map(|m| t.rows.iter().map(|&i| (r.cell[m][i as usize] - first[m]) as usize + 1).max().unwrap_or(0))
                    .collect();
                for &i in &t.rows {
                    for m in 0..margins {
                        local_cell[m][i as usize] = r.cell[m][i as usize] - first[m];
                    }
                }
                t.count = t.sizes.iter().map(|&k| vec![0.0; k]).collect();
                t.weight = t.sizes.iter().map(|&k| vec![0.0; k]).collect();
                t.cross_count = (0..margins)
                    .map(|m| (0..margins).map(|m2| vec![0.0; t.sizes[m] * t.sizes[m2]]).collect())
                    .collect();
                t.cross_w2 = t.cross_count.clone();
                for &i in &t.rows {
                    let i = i as usize;
                    let w = weights[i];
                    for m in 0..margins {
                        let c = local_cell[m][i] as usize;
                        t.count[m][c] += 1.0;
                        t.weight[m][c] += w;
                        for m2 in 0..margins {
                            let k = c * t.sizes[m2] + local_cell[m2][i] as usize;
                            t.cross_count[m][m2][k] += 1.0;
                            t.cross_w2[m][m2][k] += w * w;
                        }
                    }
                }
                t.prepare_sweeps();
            }
        }
        Design { stratum, weights, raking, strata, local_cell }
    }

    /// The weighted mean of `y` over the respondents for whom `member` is true.
    pub fn mean(&self, y: &[f64], member: &dyn Fn(usize) -> bool) -> Estimate {
        let group: Vec<Option<u32>> = (0..self.weights.len()).map(|i| member(i).then_some(0)).collect();
        self.means_by(y, &group, 1)[0]
    }

    /// Means for every group `0..n_groups` of `group` (`None` = in no group).
    pub fn means_by(&self, y: &[f64], group: &[Option<u32>], n_groups: usize) -> Vec<Estimate> {
        let mut totals = vec![Totals::default(); n_groups];
        for (i, g) in group.iter().enumerate() {
            if let Some(g) = g {
                let (w, t) = (self.weights[i], &mut totals[*g as usize]);
                t.n += 1;
                t.sum_w += w;
                t.sum_wy += w * y[i];
                t.sum_w2 += w * w;
            }
        }
        let mut pass = VariancePass::new(self, totals);
        for t in &self.strata {
            for &i in &t.rows {
                let i = i as usize;
                let Some(g) = group[i] else { continue };
                let w = self.weights[i];
                let (mu, total) = pass.domain(g);
                let deviation = y[i] - mu;
                let a = w * deviation / total;
                let d = pass.add(g, t, w * deviation * deviation);
                d.sum_a += a;
                d.sum_a2 += a * a;
                for (m, cells) in self.local_cell.iter().enumerate() {
                    let c = cells[i] as usize;
                    d.a_over_w[m][c] += a / w;
                    d.a_times_w[m][c] += a * w;
                }
            }
            pass.finish_stratum(t);
        }
        pass.estimates()
    }

    /// Where each profile sits: its ICS and raking cells, read once off one
    /// of its respondents (`representative[p]`), and the profiles of each
    /// ICS. Every `means_by_profile` over the same profiles shares it.
    pub fn profile_places(&self, representative: &[usize]) -> ProfilePlaces {
        let mut start = vec![0usize; self.strata.len() + 1];
        for &i in representative {
            start[self.stratum[i] as usize + 1] += 1;
        }
        for h in 0..self.strata.len() {
            start[h + 1] += start[h];
        }
        let mut next = start.clone();
        let mut order = vec![0u32; representative.len()];
        for (p, &i) in representative.iter().enumerate() {
            let h = self.stratum[i] as usize;
            order[next[h]] = p as u32;
            next[h] += 1;
        }
        let cells = self.local_cell.iter().map(|cells| representative.iter().map(|&i| cells[i]).collect()).collect();
        ProfilePlaces { order, start, cells }
    }

    /// `means_by` from sums over profiles instead of respondents: a profile
    /// is a set of respondents alike in stratum, raking cells and group
    /// (`places` says where each sits), and `sums[p]` sums the measure over
    /// its respondents. The domain sums of the linearised variance are
    /// expanded in these moments, so the estimates equal `means_by` (to
    /// rounding) at the cost of one visit per profile.
    pub fn means_by_profile(
        &self,
        places: &ProfilePlaces,
        sums: &[MomentSums],
        group: &[Option<u32>],
        n_groups: usize,
    ) -> Vec<Estimate> {
        let mut totals = vec![Totals::default(); n_groups];
        for (s, g) in sums.iter().zip(group) {
            if let (Some(g), true) = (g, s.n > 0) {
                let t = &mut totals[*g as usize];
                t.n += s.n;
                t.sum_w += s.sum_w;
                t.sum_wy += s.sum_wd + s.shift * s.sum_w;
                t.sum_w2 += s.sum_w2;
            }
        }
        let mut pass = VariancePass::new(self, totals);
        for (h, t) in self.strata.iter().enumerate() {
            for &p in &places.order[places.start[h]..places.start[h + 1]] {
                let p = p as usize;
                let (s, Some(g)) = (sums[p], group[p]) else { continue };
                if s.n == 0 {
                    continue;
                }
                // y − μ = d + e, with e the shift's distance from the mean.
                let (mu, total) = pass.domain(g);
                let (e, inverse) = (s.shift - mu, 1.0 / total);
                let d = pass.add(g, t, s.sum_wd2 + 2.0 * e * s.sum_wd + e * e * s.sum_w);
                d.sum_a += (s.sum_wd + e * s.sum_w) * inverse;
                d.sum_a2 += (s.sum_w2d2 + 2.0 * e * s.sum_w2d + e * e * s.sum_w2) * inverse * inverse;
                for (m, cells) in places.cells.iter().enumerate() {
                    let c = cells[p] as usize;
                    d.a_over_w[m][c] += (s.sum_d + e * s.n as f64) * inverse;
                    d.a_times_w[m][c] += (s.sum_w2d + e * s.sum_w2) * inverse;
                }
            }
            pass.finish_stratum(t);
        }
        pass.estimates()
    }

    /// Each margin's raking cell of respondent `i` within its ICS (none on
    /// a design that is not raked): what profiles must share.
    pub fn local_cells(&self, i: usize) -> impl Iterator<Item = u32> + '_ {
        self.local_cell.iter().map(move |cells| cells[i])
    }

    /// How many margins the design was raked to (0 if not raked).
    pub fn margin_count(&self) -> usize {
        self.local_cell.len()
    }

    /// How many raking cells margin `m` has at most within one ICS.
    pub fn local_cell_count(&self, m: usize) -> usize {
        self.strata.iter().map(|t| t.sizes.get(m).copied().unwrap_or(0)).max().unwrap_or(0)
    }

    /// A proportion (y is 0 or 1) with its logit interval.
    pub fn proportion(&self, y: &[f64], member: &dyn Fn(usize) -> bool) -> Proportion {
        proportion_of(self.mean(y, member))
    }

    pub fn stratum(&self) -> &[u32] {
        self.stratum
    }

    /// How many strata (ICSs) the design has.
    pub fn strata_count(&self) -> usize {
        self.strata.len()
    }

    /// Whether the variance uses raking residuals.
    pub fn is_raked(&self) -> bool {
        self.raking.is_some()
    }

    /// Stratum `h`'s raking cells per margin (empty if not raked).
    pub fn cell_sizes(&self, h: usize) -> &[usize] {
        &self.strata[h].sizes
    }

    /// Stratum `h`'s share of a domain's variance, from the domain's sums
    /// there (the raking sweeps applied on a raked design).
    pub fn stratum_share(&self, h: usize, d: &DomainSums) -> f64 {
        let t = &self.strata[h];
        let (sum_z, sum_z2) = if self.raking.is_some() { swept_sums(t, d) } else { (d.sum_a, d.sum_a2) };
        stratum_variance(t.rows.len(), sum_z, sum_z2)
    }

    /// The variance of one domain mean by R's literal algorithm: ten sweeps
    /// over every respondent of each ICS. Slow; the oracle for the tests.
    #[allow(clippy::needless_range_loop)]
    pub fn direct_variance(&self, y: &[f64], member: &dyn Fn(usize) -> bool) -> f64 {
        let (mut sum_w, mut sum_wy) = (0.0, 0.0);
        for i in 0..y.len() {
            if member(i) {
                sum_w += self.weights[i];
                sum_wy += self.weights[i] * y[i];
            }
        }
        let mu = sum_wy / sum_w;
        let mut variance = 0.0;
        for t in &self.strata {
            if !t.rows.iter().any(|&i| member(i as usize)) {
                continue;
            }
            let w: Vec<f64> = t.rows.iter().map(|&i| self.weights[i as usize]).collect();
            let mut z: Vec<f64> = t
                .rows
                .iter()
                .zip(&w)
                .map(|(&i, w)| if member(i as usize) { w * (y[i as usize] - mu) / sum_w } else { 0.0 })
                .collect();
            if self.raking.is_some() {
                for _ in 0..RAKING_SWEEPS {
                    for m in 0..self.local_cell.len() {
                        let mut mean = vec![0.0; t.sizes[m]];
                        for (k, &i) in t.rows.iter().enumerate() {
                            mean[self.local_cell[m][i as usize] as usize] += z[k] / w[k];
                        }
                        for (c, v) in mean.iter_mut().enumerate() {
                            *v /= t.count[m][c];
                        }
                        for (k, &i) in t.rows.iter().enumerate() {
                            z[k] -= w[k] * mean[self.local_cell[m][i as usize] as usize];
                        }
                    }
                }
            }
            let n = z.len() as f64;
            // A lone respondent is centred at zero, as R's lonely.psu = "adjust".
            let mean = if z.len() > 1 { z.iter().sum::<f64>() / n } else { 0.0 };
            let scale = if z.len() > 1 { n / (n - 1.0) } else { 1.0 };
            variance += scale * z.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
        }
        variance
    }
}

/// One stratum's share of the variance from the sums of its influence
/// values: n_h/(n_h − 1) Σ (z − z̄_h)². A stratum of one respondent has no
/// spread of its own to measure; as R does under
/// `options(survey.lonely.psu = "adjust")`, its value is centred at the
/// grand mean of the influence values, which is zero, with a scale of 1:
/// the stratum adds z², not NaN (which would make every estimate that
/// touches it, England's included, unpublishable).
fn stratum_variance(n_h: usize, sum_z: f64, sum_z2: f64) -> f64 {
    if n_h <= 1 {
        return sum_z2;
    }
    let n = n_h as f64;
    // Rounding can leave a tiny negative sum of squares where z barely
    // varies; a NaN must stay NaN, so no `max` (which would turn it to 0).
    let ss = sum_z2 - sum_z * sum_z / n;
    n / (n - 1.0) * if ss < 0.0 { 0.0 } else { ss }
}

/// Σz and Σz² after R's ten raking sweeps, computed in cell space: z = a + w·b
/// with b_i = Σ_m β_m[cell_m(i)] and β = `sweep` · (Σ a/w per cell), so
/// Σz = Σa + Σ β·W and Σz² = Σa² + 2 Σ β·(Σ a·w) + βᵀ Q β.
fn swept_sums(t: &StratumTables, d: &DomainSums) -> (f64, f64) {
    let cells = t.cell_weight.len();
    let mut v = [0.0f64; 64];
    let mut atw = [0.0f64; 64];
    let mut beta = [0.0f64; 64];
    if cells > v.len() {
        // Very many raking cells: the sweeps themselves.
        let beta = t.sweep_from(&d.a_over_w).concat();
        return finish_sweeps(t, d, &beta, &d.a_times_w.concat());
    }
    for (m, (over, times)) in d.a_over_w.iter().zip(&d.a_times_w).enumerate() {
        let at = t.offset[m];
        v[at..at + over.len()].copy_from_slice(over);
        atw[at..at + times.len()].copy_from_slice(times);
    }
    for (r, b) in beta[..cells].iter_mut().enumerate() {
        let row = &t.sweep[r * cells..(r + 1) * cells];
        *b = row.iter().zip(&v[..cells]).map(|(l, x)| l * x).sum();
    }
    finish_sweeps(t, d, &beta[..cells], &atw[..cells])
}

fn finish_sweeps(t: &StratumTables, d: &DomainSums, beta: &[f64], atw: &[f64]) -> (f64, f64) {
    let cells = beta.len();
    let sum_z = d.sum_a + beta.iter().zip(&t.cell_weight).map(|(b, w)| b * w).sum::<f64>();
    let mut sum_z2 = d.sum_a2 + 2.0 * beta.iter().zip(atw).map(|(b, x)| b * x).sum::<f64>();
    for (r, b) in beta.iter().enumerate() {
        let row = &t.quad[r * cells..(r + 1) * cells];
        sum_z2 += b * row.iter().zip(beta).map(|(q, b2)| q * b2).sum::<f64>();
    }
    (sum_z, sum_z2)
}

/// The logit interval of R's `svyciprop(method = "logit")`, closed form:
/// expit(logit p̂ ± t(0.975, df) · SE / (p̂(1 − p̂))).
pub fn proportion_of(estimate: Estimate) -> Proportion {
    proportion_with(estimate, &mut t_quantile)
}

/// The 97.5% point of Student's t with `df` degrees of freedom.
pub fn t_quantile(df: f64) -> Option<f64> {
    StudentsT::new(0.0, 1.0, df).ok().map(|t| t.inverse_cdf(0.975))
}

/// `proportion_of` with the t quantile from `quantile` (a caller with
/// thousands of proportions keeps them by df: the inverse t is slow).
pub fn proportion_with(estimate: Estimate, quantile: &mut dyn FnMut(f64) -> Option<f64>) -> Proportion {
    let df = estimate.n as f64 - estimate.strata as f64;
    let p = estimate.estimate;
    let ci = if df > 1.0 && p > 0.0 && p < 1.0 && estimate.se.is_finite() {
        quantile(df).map(|q| {
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
