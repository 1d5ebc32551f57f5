//! Fair comparison of ICSs: against England, against deprivation peers,
//! funnel-plot control limits with overdispersion, and direct
//! standardisation to the England population by age band × sex.

use std::collections::BTreeMap;

use super::cells::{ALL, Cell, ENGLAND};
use super::columns::Frame;
use super::frame::{ADULT_BANDS, PopulationTable, Weighed};
use crate::weighting::Z95;

/// 99.8% two-sided normal quantile, for the outer funnel limits.
pub const Z998: f64 = 3.090232306167813;

/// An ICS cell against England (same measure, group and category).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VsEngland {
    pub difference: f64,
    pub se: f64,
    /// −1 below England, 0 not different, +1 above, at 95%.
    pub significant: i8,
}

/// The difference from England. The ICS is part of England, so
/// Var(d) = Var(ICS)(1 − 2·W_ics/W_eng) + Var(Eng), strata being independent.
pub fn vs_england(cell: &Cell, england: &Cell) -> Option<VsEngland> {
    if !(cell.has_se && england.has_se) || cell.key.area == ENGLAND {
        return None;
    }
    let (a, e) = (&cell.estimate, &england.estimate);
    let share = a.sum_w / e.sum_w;
    let var = a.se * a.se * (1.0 - 2.0 * share) + e.se * e.se;
    let se = var.max(0.0).sqrt();
    let difference = a.estimate - e.estimate;
    if !se.is_finite() {
        return None;
    }
    let significant = if difference > Z95 * se {
        1
    } else if difference < -Z95 * se {
        -1
    } else {
        0
    };
    Some(VsEngland { difference, se, significant })
}

/// What makes ICSs comparable: deprivation and age structure.
#[derive(Debug, Clone, PartialEq)]
pub struct IcsProfile {
    pub code: String,
    /// Share of residents in the most deprived national quintile.
    pub deprivation: f64,
    /// Share of adults aged 65 or over.
    pub older: f64,
}

/// The `k` ICSs nearest each ICS on standardised deprivation and age.
pub fn peer_groups(profiles: &[IcsProfile], k: usize) -> BTreeMap<String, Vec<String>> {
    let standardise = |f: &dyn Fn(&IcsProfile) -> f64| {
        let v: Vec<f64> = profiles.iter().map(f).collect();
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt().max(1e-12);
        v.into_iter().map(move |x| (x - mean) / sd).collect::<Vec<f64>>()
    };
    let (dep, old) = (standardise(&|p| p.deprivation), standardise(&|p| p.older));
    let mut out = BTreeMap::new();
    for (i, p) in profiles.iter().enumerate() {
        let mut others: Vec<(f64, &str)> = profiles
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, q)| (((dep[i] - dep[j]).powi(2) + (old[i] - old[j]).powi(2)).sqrt(), q.code.as_str()))
            .collect();
        others.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        out.insert(p.code.clone(), others.into_iter().take(k).map(|(_, c)| c.to_string()).collect());
    }
    out
}

/// An ICS against the mean of its peers.
#[derive(Debug, Clone, PartialEq)]
pub struct VsPeers {
    pub peers: Vec<String>,
    pub peer_mean: f64,
    pub difference: f64,
    pub se: f64,
    pub significant: i8,
}

/// `estimates`: ICS code → (estimate, SE) of published cells only.
pub fn vs_peers(code: &str, peers: &[String], estimates: &BTreeMap<String, (f64, f64)>) -> Option<VsPeers> {
    let (own, own_se) = *estimates.get(code)?;
    let present: Vec<(f64, f64)> = peers.iter().filter_map(|p| estimates.get(p).copied()).collect();
    if present.is_empty() {
        return None;
    }
    let k = present.len() as f64;
    let peer_mean = present.iter().map(|p| p.0).sum::<f64>() / k;
    let se = (own_se * own_se + present.iter().map(|p| p.1 * p.1).sum::<f64>() / (k * k)).sqrt();
    let difference = own - peer_mean;
    let significant = if difference > Z95 * se {
        1
    } else if difference < -Z95 * se {
        -1
    } else {
        0
    };
    Some(VsPeers { peers: peers.to_vec(), peer_mean, difference, se, significant })
}

/// Funnel-plot limits around England at a given precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Funnel {
    pub target: f64,
    /// The person-level standard deviation the limits assume.
    pub sd: f64,
    /// Between-ICS variance added for overdispersion (0 when none).
    pub tau2: f64,
    pub phi: f64,
}

impl Funnel {
    pub fn limits(&self, n_eff: f64, z: f64) -> (f64, f64) {
        let half = z * (self.sd * self.sd / n_eff + self.tau2).sqrt();
        (self.target - half, self.target + half)
    }

    /// −2/+2 outside 99.8%, −1/+1 outside 95%, else 0.
    pub fn flag(&self, estimate: f64, n_eff: f64) -> i8 {
        let (lo98, hi98) = self.limits(n_eff, Z998);
        let (lo95, hi95) = self.limits(n_eff, Z95);
        match estimate {
            e if e > hi98 => 2,
            e if e < lo98 => -2,
            e if e > hi95 => 1,
            e if e < lo95 => -1,
            _ => 0,
        }
    }
}

/// Spiegelhalter's additive random-effects funnel: z-scores against the
/// England mean, winsorised at 10%, φ = mean z²; if φ exceeds what chance
/// allows, τ² = (Nφ − (N − 1)) / (Σw − Σw²/Σw), w = n_eff/σ².
pub fn funnel(england: &Cell, icss: &[(f64, f64)]) -> Funnel {
    let e = &england.estimate;
    let sd = e.se * e.n_eff.sqrt();
    let target = e.estimate;
    let mut z: Vec<f64> = icss.iter().map(|(est, n_eff)| (est - target) / (sd / n_eff.sqrt())).collect();
    let n = z.len();
    if n < 3 || !sd.is_finite() || sd <= 0.0 {
        return Funnel { target, sd, tau2: 0.0, phi: 1.0 };
    }
    let mut sorted = z.clone();
    sorted.sort_by(f64::total_cmp);
    let (lo, hi) = (sorted[n / 10], sorted[n - 1 - n / 10]);
    z.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
    let phi = z.iter().map(|v| v * v).sum::<f64>() / n as f64;
    let w: Vec<f64> = icss.iter().map(|(_, n_eff)| n_eff / (sd * sd)).collect();
    let (sw, sw2) = (w.iter().sum::<f64>(), w.iter().map(|x| x * x).sum::<f64>());
    let excess = n as f64 * phi - (n as f64 - 1.0);
    let tau2 = if excess > 0.0 { excess / (sw - sw2 / sw) } else { 0.0 };
    Funnel { target, sd, tau2, phi }
}

/// Σw, Σwy, Σwy², Σw² of one ICS × age band × sex cell.
type CellSums = (f64, f64, f64, f64);

/// A directly standardised estimate for one ICS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standardised {
    pub estimate: f64,
    pub se: f64,
}

/// The ICS's people's index standardised to England's adult age band × sex
/// mix: Σ P_c m_c / Σ P_c over the cells the ICS has respondents in, with
/// Var ≈ Σ (P_c/ΣP)² s_c²/n_eff,c (cells treated as independent).
pub fn standardise(frame: &Frame, w: &Weighed, population: &PopulationTable) -> BTreeMap<String, Standardised> {
    let mut england: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for ((_, band, sex), n) in &population.counts {
        if ADULT_BANDS.contains(&band.as_str()) {
            *england.entry((band.as_str(), sex.as_str())).or_default() += n;
        }
    }
    // Per ICS and (band code, sex code): (Σw, Σwy, Σwy², Σw²).
    let (bands, sexes) = (frame.age_band.code_count(), frame.sex.code_count());
    let mut by_code: Vec<Option<CellSums>> = vec![None; w.strata.len() * bands * sexes];
    for (k, &i) in w.rows.iter().enumerate() {
        let (Some(y), band, sex) = (frame.index[i], frame.age_band.codes[i], frame.sex.codes[i]) else { continue };
        if band == 0 || sex == 0 {
            continue;
        }
        let weight = w.weighted.weights[k];
        let s = by_code[(w.respondents.stratum[k] as usize * bands + band as usize) * sexes + sex as usize]
            .get_or_insert_default();
        s.0 += weight;
        s.1 += weight * y;
        s.2 += weight * y * y;
        s.3 += weight * weight;
    }
    let mut sums: BTreeMap<(usize, String, String), CellSums> = BTreeMap::new();
    for (slot, s) in by_code.into_iter().enumerate() {
        let (h, band, sex) = (slot / (bands * sexes), (slot / sexes) % bands, slot % sexes);
        if let (Some(s), Some(band), Some(sex)) = (s, frame.age_band.name(band as u16), frame.sex.name(sex as u16)) {
            sums.insert((h, band.to_string(), sex.to_string()), s);
        }
    }
    let mut out = BTreeMap::new();
    for (h, code) in w.strata.iter().enumerate() {
        let (mut num, mut den, mut var) = (0.0, 0.0, 0.0);
        let mut parts = Vec::new();
        for ((band, sex), p) in &england {
            if let Some(&(sw, swy, swy2, sw2)) = sums.get(&(h, band.to_string(), sex.to_string())) {
                let mean = swy / sw;
                let s2 = (swy2 / sw - mean * mean).max(0.0);
                let n_eff = sw * sw / sw2;
                num += p * mean;
                den += p;
                parts.push((*p, s2 / n_eff));
            }
        }
        if den > 0.0 {
            for (p, v) in parts {
                var += (p / den).powi(2) * v;
            }
            out.insert(code.clone(), Standardised { estimate: num / den, se: var.sqrt() });
        }
    }
    out
}

/// The England cell matching a cell (same group, measure, dimension, category).
pub fn england_of<'c>(cell: &Cell, england: &BTreeMap<(String, String, String, String), &'c Cell>) -> Option<&'c Cell> {
    england
        .get(&(
            cell.key.group.code().to_string(),
            cell.key.measure.clone(),
            cell.key.dimension.clone(),
            cell.key.category.clone(),
        ))
        .copied()
}

pub fn is_headline(cell: &Cell) -> bool {
    cell.key.dimension == ALL
}
