//! Fair comparison of ICSs: against England, against deprivation peers,
//! funnel-plot control limits with overdispersion, and direct
//! standardisation to the England population by age band × sex.

use std::collections::{BTreeMap, HashMap};

use super::cells::{Cell, CellKey, ENGLAND};
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
/// Var(d) = Var(ICS)(1 − 2·W_ics/W_eng) + Var(Eng), strata being
/// independent (which is never below Var(ICS)(1 − W_ics/W_eng)²). Refused,
/// with the reason, when that variance is not a positive number: England is
/// this one ICS, or neither has any spread to measure.
pub fn vs_england(cell: &Cell, england: &Cell) -> Result<VsEngland, &'static str> {
    let (a, e) = (&cell.estimate, &england.estimate);
    let share = a.sum_w / e.sum_w;
    if !(share.is_finite() && share < 1.0 - 1e-12) {
        return Err("England is this ICS alone");
    }
    let var = a.se * a.se * (1.0 - 2.0 * share) + e.se * e.se;
    if !(var.is_finite() && var > 0.0) {
        return Err("no spread in the scores to measure a difference against");
    }
    let se = var.sqrt();
    let difference = a.estimate - e.estimate;
    if !difference.is_finite() {
        return Err("no estimate to compare");
    }
    Ok(VsEngland { difference, se, significant: significance(difference, se) })
}

/// +1 above, −1 below, 0 not different, at 95%.
fn significance(difference: f64, se: f64) -> i8 {
    if difference > Z95 * se {
        1
    } else if difference < -Z95 * se {
        -1
    } else {
        0
    }
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

/// An ICS against its peers' population-weighted mean. `estimates`: ICS
/// code → (estimate, SE) of published cells only; `population`: the
/// people each ICS stands for in this group (adults, or children), so the
/// peer mean weighs each peer as England does.
pub fn vs_peers(
    code: &str,
    peers: &[String],
    estimates: &BTreeMap<String, (f64, f64)>,
    population: &BTreeMap<String, f64>,
) -> Option<VsPeers> {
    let (own, own_se) = *estimates.get(code)?;
    let present: Vec<(f64, f64, f64)> = peers
        .iter()
        .filter_map(|p| {
            let (e, se) = *estimates.get(p)?;
            let n = population.get(p).copied().filter(|n| *n > 0.0)?;
            Some((e, se, n))
        })
        .collect();
    let total: f64 = present.iter().map(|p| p.2).sum();
    if present.is_empty() || total <= 0.0 {
        return None;
    }
    let peer_mean = present.iter().map(|p| p.0 * p.2).sum::<f64>() / total;
    let variance = own_se * own_se + present.iter().map(|p| (p.2 / total).powi(2) * p.1 * p.1).sum::<f64>();
    let difference = own - peer_mean;
    if !(variance.is_finite() && variance > 0.0 && difference.is_finite()) {
        return None;
    }
    let se = variance.sqrt();
    Some(VsPeers { peers: peers.to_vec(), peer_mean, difference, se, significant: significance(difference, se) })
}

/// Funnel-plot limits around England, on each ICS's own design-based
/// standard error: the same SE as the table's, so the funnel and the
/// confidence intervals describe one precision.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Funnel {
    pub target: f64,
    /// Between-ICS variance added for overdispersion (0 when none).
    pub tau2: f64,
    /// The mean of the winsorised squared z-scores.
    pub phi: f64,
    /// ICSs the overdispersion was fitted on.
    pub icss: usize,
}

impl Funnel {
    /// target ± z·√(se² + τ²).
    pub fn limits(&self, se: f64, z: f64) -> (f64, f64) {
        let half = z * (se * se + self.tau2).sqrt();
        (self.target - half, self.target + half)
    }

    /// −2/+2 outside 99.8%, −1/+1 outside 95%, else 0.
    pub fn flag(&self, estimate: f64, se: f64) -> i8 {
        let (lo98, hi98) = self.limits(se, Z998);
        let (lo95, hi95) = self.limits(se, Z95);
        match estimate {
            e if e > hi98 => 2,
            e if e < lo98 => -2,
            e if e > hi95 => 1,
            e if e < lo95 => -1,
            _ => 0,
        }
    }
}

/// Spiegelhalter's (2005) additive random-effects funnel: each ICS's
/// z-score against the England estimate on its own SE, winsorised at the
/// 10th and 90th percentiles; φ = mean z². If Nφ exceeds N − 1 (more spread
/// than chance allows), τ² = (Nφ − (N − 1)) / (Σw − Σw²/Σw) with w = 1/SE²,
/// and the limits widen to target ± z·√(SE² + τ²). `None` when England has
/// no estimate; ICSs without a positive, finite SE are left out of the fit.
pub fn funnel(target: f64, icss: &[(f64, f64)]) -> Option<Funnel> {
    if !target.is_finite() {
        return None;
    }
    let usable: Vec<(f64, f64)> =
        icss.iter().copied().filter(|(e, se)| e.is_finite() && se.is_finite() && *se > 0.0).collect();
    let n = usable.len();
    if n < 3 {
        return Some(Funnel { target, tau2: 0.0, phi: 1.0, icss: n });
    }
    let mut z: Vec<f64> = usable.iter().map(|(e, se)| (e - target) / se).collect();
    let mut sorted = z.clone();
    sorted.sort_by(f64::total_cmp);
    let (lo, hi) = (sorted[n / 10], sorted[n - 1 - n / 10]);
    z.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
    let phi = z.iter().map(|v| v * v).sum::<f64>() / n as f64;
    let w: Vec<f64> = usable.iter().map(|(_, se)| 1.0 / (se * se)).collect();
    let (sw, sw2) = (w.iter().sum::<f64>(), w.iter().map(|x| x * x).sum::<f64>());
    let excess = n as f64 * phi - (n as f64 - 1.0);
    let denominator = sw - sw2 / sw;
    let tau2 = if excess > 0.0 && denominator > 0.0 { excess / denominator } else { 0.0 };
    Some(Funnel { target, tau2, phi, icss: n })
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
            if let Some(&(sw, swy, swy2, sw2)) = sums.get(&(h, band.to_string(), sex.to_string()))
                && sw > 0.0
                && sw2 > 0.0
            {
                let mean = swy / sw;
                // Rounding can leave a tiny negative spread; NaN cannot arise
                // here (sw > 0), so the clamp hides nothing.
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

/// The England cell matching a cell (same sample, group, measure, dimension,
/// category), with whatever the caller keeps beside it.
pub fn england_of<'c, T: Copy>(cell: &Cell, england: &HashMap<CellKey, (&'c Cell, T)>) -> Option<(&'c Cell, T)> {
    england.get(&CellKey { area: ENGLAND.to_string(), ..cell.key.clone() }).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::cells::CellKey;
    use crate::index::frame::Group;
    use crate::index::sample::Sample;
    use crate::weighting::Estimate;

    fn cell(area: &str, estimate: f64, se: f64, sum_w: f64) -> Cell {
        Cell {
            key: CellKey {
                sample: Sample::Invitation,
                group: Group::People,
                measure: "index".into(),
                area: area.into(),
                dimension: "all".into(),
                category: "all".into(),
            },
            estimate: Estimate { n: 100, sum_w, estimate, se, n_eff: 90.0, deff_w: 1.1, deff: 1.2, strata: 1 },
            proportion: false,
        }
    }

    #[test]
    fn a_difference_from_england_allows_for_the_ics_being_in_it() {
        let england = cell("England", 60.0, 0.5, 1000.0);
        let d = vs_england(&cell("E1", 63.0, 1.0, 100.0), &england).unwrap();
        // Var = 1 × (1 − 0.2) + 0.25 = 1.05.
        assert!((d.se - 1.05f64.sqrt()).abs() < 1e-12);
        assert_eq!((d.difference, d.significant), (3.0, 1));
        assert_eq!(vs_england(&cell("E1", 60.0, 0.5, 1000.0), &england), Err("England is this ICS alone"));
        let flat = cell("England", 60.0, 0.0, 1000.0);
        assert!(vs_england(&cell("E1", 61.0, 0.0, 100.0), &flat).is_err(), "no spread: refused, not significant");
    }

    #[test]
    fn peers_are_weighed_by_population() {
        let estimates: BTreeMap<String, (f64, f64)> = [("A", (50.0, 1.0)), ("B", (60.0, 2.0)), ("C", (70.0, 2.0))]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let population: BTreeMap<String, f64> =
            [("A", 1.0), ("B", 3.0), ("C", 1.0)].iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let p = vs_peers("A", &["B".into(), "C".into()], &estimates, &population).unwrap();
        assert!((p.peer_mean - 62.5).abs() < 1e-12, "(3 × 60 + 70) / 4");
        // SE² = 1 + (3/4)² × 4 + (1/4)² × 4.
        assert!((p.se - (1.0f64 + 2.25 + 0.25).sqrt()).abs() < 1e-12);
    }

    /// Spiegelhalter (2005) by hand: five ICSs, z on their own SEs,
    /// winsorised at 10% (with five, no value moves), φ = mean z², and τ²
    /// from the excess over N − 1.
    #[test]
    fn the_funnel_uses_each_icss_own_standard_error() {
        let icss = [(62.0, 1.0), (58.0, 1.0), (60.0, 2.0), (66.0, 2.0), (55.0, 0.5)];
        let f = funnel(60.0, &icss).unwrap();
        let z: Vec<f64> = icss.iter().map(|(e, se)| (e - 60.0) / se).collect();
        let phi = z.iter().map(|v| v * v).sum::<f64>() / 5.0;
        let w: Vec<f64> = icss.iter().map(|(_, se)| 1.0 / (se * se)).collect();
        let (sw, sw2) = (w.iter().sum::<f64>(), w.iter().map(|x| x * x).sum::<f64>());
        let tau2 = (5.0 * phi - 4.0) / (sw - sw2 / sw);
        assert!((f.phi - phi).abs() < 1e-12 && (f.tau2 - tau2).abs() < 1e-12, "{f:?}");
        // An ICS 2.5 SEs out is beyond 95% on its SE alone, but within the
        // funnel once the spread between ICSs (τ²) is allowed for.
        assert_eq!(f.flag(65.0, 2.0), 0);
        const { assert!(65.0 - 60.0 > Z95 * 2.0) };
        assert!(funnel(f64::NAN, &icss).is_none());
        let f = funnel(60.0, &[(61.0, 0.0), (59.0, f64::NAN), (62.0, 1.0)]).unwrap();
        assert_eq!((f.icss, f.tau2), (1, 0.0), "SEs of 0 or NaN are left out of the fit");
    }
}
