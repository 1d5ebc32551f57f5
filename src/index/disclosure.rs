//! Disclosure control, applied to every output before it leaves joinedup.
//! The threat model (which attack each rule stops, and what it costs the
//! analyst) is in docs/outputs.md §6.
//!
//! 1. **Primary**: an estimate from fewer than `suppress_below` unweighted
//!    respondents (default 30, never below 10) is hidden.
//! 2. **Complementary, only where a hidden value could be derived.** In
//!    every additive family of a table (England and its ICSs; an area and
//!    the categories of one dimension, the unstated making up the rest),
//!    the hidden members and the unstated together can be worked out from
//!    the published parent and siblings. That union is safe if it holds at
//!    least `suppress_below` people. Otherwise it is derivable if its
//!    estimate follows within ±2 points: published estimates are rounded to
//!    0.1, so the attacker's error is at most 0.05 × (the weight of the
//!    parent and of every published sibling) / (the union's weight),
//!    judged both on exact weight totals (the attacker may know them from
//!    population figures) and on the rounded published ones, whichever
//!    gives the smaller error. Counts are never more precise than their
//!    rounding (below) whatever is subtracted, so only estimates can be
//!    derived. A derivable union is protected first by showing the
//!    heaviest published sibling to whole points (error 0.5 × its weight),
//!    then the next; only when all are coarse does the sibling with the
//!    fewest respondents go (the parent only when no sibling is left). A
//!    hidden parent whose members are all published, nobody unstated, is
//!    their sum: its smallest member goes.
//! 3. **Pooled tables**: a pooled cell is the invited and open-link cells
//!    combined, so it is hidden when exactly one of the two is hidden, and
//!    shown to whole points when either is; with one sample absent it is
//!    the other's cell and takes its marks.
//! 4. **Variants**: a release computed with other options (trimming,
//!    pooling) starts from the default release's marks, so it never shows
//!    a cell the default hid, nor one finer than the default showed it.
//! 5. **Rounding**: counts of 1–7 show as `*`, others rounded to 5; weighted
//!    totals to three significant figures; effective sample sizes to 5.
//!
//! Steps 2 and 3 repeat until nothing changes. Information loss (the share
//! of cells with at least `suppress_below` respondents that are hidden) is
//! measured and published in the provenance.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::cells::{ALL, Cell, CellKey, ENGLAND};
use super::frame::Group;
use super::sample::Sample;

/// The smallest threshold anyone may set (GPP survey practice).
pub const FLOOR: usize = 10;
pub const DEFAULT_THRESHOLD: usize = 30;

/// How close (in points, on the 0–100 scale) a derived estimate must come
/// to count as disclosed.
pub const DERIVABLE_WITHIN: f64 = 2.0;

/// Half the last published digit of an estimate.
const ESTIMATE_ROUNDING: f64 = 0.05;

/// The same for an estimate published to whole points (coarsened).
const COARSE_ROUNDING: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppression {
    /// Too few respondents.
    Primary,
    /// Hidden so that another hidden cell cannot be derived.
    Complementary,
}

impl Suppression {
    pub fn code(self) -> &'static str {
        match self {
            Suppression::Primary => "too few respondents",
            Suppression::Complementary => "hidden to protect another cell",
        }
    }
}

/// What disclosure control hid, and what that cost.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DisclosureSummary {
    pub threshold: usize,
    pub cells: usize,
    pub primary: usize,
    pub complementary: usize,
    /// Cells with at least `threshold` respondents, and how many of them
    /// are hidden (to protect others).
    pub large_cells: usize,
    pub large_hidden: usize,
    /// Cells shown to whole points instead of hidden.
    #[serde(default)]
    pub coarsened: usize,
}

impl DisclosureSummary {
    /// The share of cells with at least `threshold` respondents that are
    /// hidden: what complementary suppression costs.
    pub fn information_loss(&self) -> f64 {
        if self.large_cells == 0 { 0.0 } else { self.large_hidden as f64 / self.large_cells as f64 }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} of {} cells hidden ({} with fewer than {} respondents, {} to protect them); information loss {:.2}% ({} of {} cells with at least {} respondents hidden); {} cells shown to whole points to protect others instead of hidden",
            self.primary + self.complementary,
            self.cells,
            self.primary,
            self.threshold,
            self.complementary,
            100.0 * self.information_loss(),
            self.large_hidden,
            self.large_cells,
            self.threshold,
            self.coarsened
        )
    }
}

/// A parent cell and the cells that add up to it (with the unstated, for a
/// dimension).
struct Family {
    parent: usize,
    members: Vec<usize>,
}

/// What another table of the same release decided for a cell, which this
/// table must keep (rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Hidden,
    Coarse,
}

/// Marks by cell, from a table already published.
pub type Marks = HashMap<CellKey, Mark>;

/// Marks every cell to hide, starting from `forced` (the marks of a table
/// already published from the same respondents), and measures what it
/// cost.
pub fn suppress(cells: &[Cell], threshold: usize, forced: &Marks) -> Protection {
    let threshold = threshold.max(FLOOR);
    let mut hidden: Vec<Option<Suppression>> = cells
        .iter()
        .map(|c| {
            if c.estimate.n < threshold {
                Some(Suppression::Primary)
            } else {
                (forced.get(&c.key) == Some(&Mark::Hidden)).then_some(Suppression::Complementary)
            }
        })
        .collect();
    let mut coarse: Vec<bool> = cells.iter().map(|c| forced.get(&c.key) == Some(&Mark::Coarse)).collect();
    let index: HashMap<&CellKey, usize> = cells.iter().enumerate().map(|(i, c)| (&c.key, i)).collect();
    let families = families(cells, &index);
    let pooled = pooled_pairs(cells, &index);
    loop {
        let mut changed = false;
        for family in &families {
            changed |= protect(cells, family, &mut hidden, &mut coarse, threshold);
        }
        for &(pooled, invitation, open_link) in &pooled {
            let counterparts = [invitation, open_link];
            let present: Vec<usize> = counterparts.iter().flatten().copied().collect();
            // With one sample absent, the pooled cell is the other's cell:
            // it takes that cell's marks. With both, pooled less one would
            // give the other: hidden when exactly one is hidden.
            let hide = match present.as_slice() {
                [one] => hidden[*one].is_some(),
                [a, b] => hidden[*a].is_some() != hidden[*b].is_some(),
                _ => false,
            };
            if hide && hidden[pooled].is_none() {
                hidden[pooled] = Some(Suppression::Complementary);
                changed = true;
            }
            // Pooled less one sample would give the other's coarse figure
            // back to 0.1: the pooled cell goes to whole points too.
            if present.iter().any(|&c| coarse[c]) && !coarse[pooled] && hidden[pooled].is_none() {
                coarse[pooled] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut summary = DisclosureSummary { threshold, cells: cells.len(), ..DisclosureSummary::default() };
    for (c, h) in cells.iter().zip(&hidden) {
        match h {
            Some(Suppression::Primary) => summary.primary += 1,
            Some(Suppression::Complementary) => summary.complementary += 1,
            None => {}
        }
        if c.estimate.n >= threshold {
            summary.large_cells += 1;
            summary.large_hidden += usize::from(h.is_some());
        }
    }
    // A hidden cell shows nothing, so it is not also coarse.
    for (c, h) in coarse.iter_mut().zip(&hidden) {
        *c &= h.is_none();
    }
    summary.coarsened = coarse.iter().filter(|&&c| c).count();
    Protection { hidden, coarse, summary }
}

/// What disclosure control decided for each cell.
pub struct Protection {
    pub hidden: Vec<Option<Suppression>>,
    /// Shown with its estimate (and everything derived from it) to whole
    /// points, so that a hidden neighbour cannot be derived.
    pub coarse: Vec<bool>,
    pub summary: DisclosureSummary,
}

/// Every additive family of every table.
fn families(cells: &[Cell], index: &HashMap<&CellKey, usize>) -> Vec<Family> {
    let mut by_parent: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
    for (i, c) in cells.iter().enumerate() {
        let key = &c.key;
        // England = Σ ICSs, for the same measure, dimension and category.
        if key.area != ENGLAND {
            let parent = CellKey { area: ENGLAND.into(), ..key.clone() };
            if let Some(&p) = index.get(&parent) {
                by_parent.entry((p, String::new())).or_default().push(i);
            }
        }
        // An area = Σ the categories of a dimension (+ the unstated).
        if key.dimension != ALL {
            let parent = CellKey { dimension: ALL.into(), category: ALL.into(), ..key.clone() };
            if let Some(&p) = index.get(&parent) {
                by_parent.entry((p, key.dimension.clone())).or_default().push(i);
            }
        }
    }
    by_parent.into_iter().map(|((parent, _), members)| Family { parent, members }).collect()
}

/// (pooled, invitation, open-link) cells of the same key; a sample with
/// nobody in the cell has none.
type PooledCells = (usize, Option<usize>, Option<usize>);

fn pooled_pairs(cells: &[Cell], index: &HashMap<&CellKey, usize>) -> Vec<PooledCells> {
    cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.key.sample == Sample::Pooled)
        .map(|(i, c)| {
            let invitation = index.get(&CellKey { sample: Sample::Invitation, ..c.key.clone() }).copied();
            let open_link = index.get(&CellKey { sample: Sample::OpenLink, ..c.key.clone() }).copied();
            (i, invitation, open_link)
        })
        .collect()
}

/// What protects a family whose rest could be derived.
enum Step {
    /// Publish this member's estimate (and what derives from it) to whole
    /// points: its error then hides the rest.
    Coarsen(usize),
    /// Hide this cell.
    Hide(usize),
}

/// Protects a family while its hidden members and unstated could be
/// derived: first by coarsening the published sibling that carries the
/// most weight, then by hiding the smallest (or, with none left, the
/// parent).
fn protect(
    cells: &[Cell],
    family: &Family,
    hidden: &mut [Option<Suppression>],
    coarse: &mut [bool],
    threshold: usize,
) -> bool {
    let mut changed = false;
    while let Some(step) = exposed(cells, family, hidden, coarse, threshold) {
        match step {
            Step::Coarsen(m) => coarse[m] = true,
            Step::Hide(m) => hidden[m] = Some(Suppression::Complementary),
        }
        changed = true;
    }
    changed
}

/// The next step if the family gives away a small group, else None.
fn exposed(
    cells: &[Cell],
    family: &Family,
    hidden: &[Option<Suppression>],
    coarse: &[bool],
    threshold: usize,
) -> Option<Step> {
    if hidden[family.parent].is_some() {
        return rebuilt_parent(cells, family, hidden, coarse);
    }
    let parent = &cells[family.parent].estimate;
    // What is left once the published members are taken away: the hidden
    // members and the unstated, as the attacker would derive them. The
    // rest's weight is taken exactly and as the rounded published totals
    // give it: the attacker's error is judged on both, the smaller
    // counting. Each published estimate is off by up to half its last
    // digit: 0.05, or 0.5 where it is published to whole points.
    let rounding = |i: usize| if coarse[i] { COARSE_ROUNDING } else { ESTIMATE_ROUNDING };
    let (mut n, mut weight, mut rounded) = (parent.n as f64, parent.sum_w, published_total(parent.sum_w));
    let mut error = rounding(family.parent) * parent.sum_w;
    let mut error_rounded = rounding(family.parent) * rounded;
    for &m in &family.members {
        let e = &cells[m].estimate;
        if hidden[m].is_none() {
            n -= e.n as f64;
            weight -= e.sum_w;
            rounded -= published_total(e.sum_w);
            error += rounding(m) * e.sum_w;
            error_rounded += rounding(m) * published_total(e.sum_w);
        }
    }
    if n < 0.5 || n >= threshold as f64 {
        return None;
    }
    if !(derivable(weight, error) || derivable(rounded, error_rounded)) {
        return None;
    }
    let published = || family.members.iter().copied().filter(|&m| hidden[m].is_none());
    if let Some(m) = published()
        .filter(|&m| !coarse[m])
        .max_by(|&a, &b| cells[a].estimate.sum_w.total_cmp(&cells[b].estimate.sum_w).then(b.cmp(&a)))
    {
        return Some(Step::Coarsen(m));
    }
    Some(Step::Hide(published().min_by_key(|&m| (cells[m].estimate.n, m)).unwrap_or(family.parent)))
}

/// A hidden parent whose members are all published, with nobody unstated,
/// is their sum: it follows within ±2 points unless enough of them are
/// coarse. Then the smallest published member is hidden (coarsening does
/// not help much here: the members' errors are a share of the parent's
/// own weight). A parent hidden for too few respondents needs nothing: its
/// members are smaller still, so hidden too.
fn rebuilt_parent(cells: &[Cell], family: &Family, hidden: &[Option<Suppression>], coarse: &[bool]) -> Option<Step> {
    let parent = &cells[family.parent].estimate;
    if family.members.iter().any(|&m| hidden[m].is_some()) {
        return None;
    }
    let listed: usize = family.members.iter().map(|&m| cells[m].estimate.n).sum();
    if listed != parent.n {
        return None;
    }
    let error: f64 = family
        .members
        .iter()
        .map(|&m| if coarse[m] { COARSE_ROUNDING } else { ESTIMATE_ROUNDING } * cells[m].estimate.sum_w)
        .sum();
    if !derivable(parent.sum_w, error) {
        return None;
    }
    family.members.iter().copied().min_by_key(|&m| (cells[m].estimate.n, m)).map(Step::Hide)
}

/// Whether the estimate of the rest of a family (of weight `weight`)
/// follows within `DERIVABLE_WITHIN` points, when the published figures it
/// is worked out from carry `error` (Σ rounding × weight) between them: the
/// rest's weighted total is the parent's less the siblings', each off by
/// at most its rounding times its weight.
fn derivable(weight: f64, error: f64) -> bool {
    // A tiny or vanishing remainder cannot be pinned down, however it is
    // computed. Non-finite figures are never published, so they leave
    // nothing to derive.
    if !(weight.is_finite() && error.is_finite()) || weight <= 0.0 {
        return false;
    }
    error / weight <= DERIVABLE_WITHIN
}

/// A count as published: 0, `*` for 1–7, otherwise rounded to 5.
pub fn published_count(n: usize) -> String {
    match n {
        0 => "0".into(),
        1..=7 => "*".into(),
        _ => (((n + 2) / 5) * 5).to_string(),
    }
}

/// A weighted total rounded to three significant figures.
pub fn published_total(total: f64) -> f64 {
    if total <= 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(total.log10().floor() as i32 - 2);
    (total / scale).round() * scale
}

/// An effective sample size rounded to 5: with equal weights it equals the
/// count, which would otherwise be published exactly.
pub fn published_effective(n_eff: f64) -> f64 {
    (n_eff / 5.0).round() * 5.0
}

/// The key of the population groups, for outputs.
pub fn group_label(group: Group) -> &'static str {
    group.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::Estimate;

    fn cell(measure: &str, area: &str, dimension: &str, category: &str, n: usize, sum_w: f64) -> Cell {
        Cell {
            key: CellKey {
                sample: Sample::Invitation,
                group: Group::People,
                measure: measure.into(),
                area: area.into(),
                dimension: dimension.into(),
                category: category.into(),
            },
            estimate: Estimate {
                n,
                sum_w,
                estimate: 50.0,
                se: 1.0,
                n_eff: n as f64,
                deff_w: 1.0,
                deff: 1.0,
                strata: 1,
            },
            proportion: false,
        }
    }

    #[test]
    fn a_hidden_cell_with_a_big_share_of_its_parent_takes_its_smallest_sibling() {
        // Female is 40% of the weight: all − male gives it to ±0.05 × 1.6 / 0.4.
        let cells = vec![
            cell("index", "E1", "all", "all", 100, 1000.0),
            cell("index", "E1", "sex", "female", 20, 400.0),
            cell("index", "E1", "sex", "male", 80, 600.0),
        ];
        let Protection { hidden, summary, .. } = suppress(&cells, 30, &Marks::new());
        assert_eq!(hidden[1], Some(Suppression::Primary));
        assert_eq!(hidden[2], Some(Suppression::Complementary), "female = all − male otherwise");
        assert_eq!(hidden[0], None, "the margin is kept: a sibling goes first");
        assert_eq!((summary.large_cells, summary.large_hidden), (2, 1));
    }

    #[test]
    fn a_hidden_cell_too_small_to_derive_needs_no_complement() {
        // 85+ holds 2% of the weight: derived from the rest it is only known
        // to ±0.05 × 1.98 / 0.02 ≈ 5 points.
        let cells = vec![
            cell("index", "E1", "all", "all", 300, 1000.0),
            cell("index", "E1", "age_band", "85+", 6, 20.0),
            cell("index", "E1", "age_band", "75-84", 44, 130.0),
            cell("index", "E1", "age_band", "65-74", 250, 850.0),
        ];
        let Protection { hidden, summary, .. } = suppress(&cells, 30, &Marks::new());
        assert_eq!(hidden[1], Some(Suppression::Primary));
        assert_eq!(&hidden[2..], &[None, None]);
        assert_eq!(summary.information_loss(), 0.0);
    }

    #[test]
    fn a_small_unstated_group_counts_as_hidden() {
        // 100 = 95 + 5 who did not say, holding 5% of the weight: the five
        // would be derived to ±(0.05 × 1950)/50 ≈ 1.95 points. With female
        // shown to whole points, to ±(50 + 0.5 × 950)/50 = 10.5: enough.
        let cells =
            vec![cell("index", "E1", "all", "all", 100, 1000.0), cell("index", "E1", "sex", "female", 95, 950.0)];
        let Protection { hidden, coarse, summary } = suppress(&cells, 30, &Marks::new());
        assert_eq!((hidden[1], coarse[1]), (None, true));
        assert_eq!((summary.large_hidden, summary.coarsened), (0, 1));
    }

    #[test]
    fn a_sibling_shown_to_whole_points_protects_instead_of_going() {
        // 24 carers on behalf of adults, 13% of an ICS's weight: all − the
        // patients gives them to ±0.72 points; with the patients to whole
        // points, to ±3.7. Nothing with enough respondents is hidden.
        let cells = vec![
            cell("index", "E1", "all", "all", 180, 1000.0),
            cell("index", "E1", "voice", "patient", 156, 870.0),
            cell("index", "E1", "voice", "carer_on_behalf", 24, 130.0),
        ];
        let Protection { hidden, coarse, summary } = suppress(&cells, 30, &Marks::new());
        assert_eq!(hidden, vec![None, None, Some(Suppression::Primary)]);
        assert_eq!(coarse, vec![false, true, false]);
        assert_eq!(summary.information_loss(), 0.0);
    }

    #[test]
    fn a_small_paper_group_is_hidden_and_cannot_be_worked_out_from_online() {
        // Mode is a dimension like any other. E1's 12 paper responses (18%
        // of its weight) are hidden; all − online would give them to
        // ±0.05 × (1000 + 820) / 180 ≈ 0.5 points, so online is shown to
        // whole points, which makes it ±(50 + 410) / 180 ≈ 2.6. England's
        // 48 paper responses are shown, so England − E2 would give E1's
        // paper row: E2's paper row (36, enough on its own) is hidden.
        let cells = vec![
            cell("index", "England", "all", "all", 400, 2000.0),
            cell("index", "England", "mode", "online", 352, 1640.0),
            cell("index", "England", "mode", "paper", 48, 360.0),
            cell("index", "E1", "all", "all", 100, 1000.0),
            cell("index", "E1", "mode", "online", 88, 820.0),
            cell("index", "E1", "mode", "paper", 12, 180.0),
            cell("index", "E2", "all", "all", 300, 1000.0),
            cell("index", "E2", "mode", "online", 264, 820.0),
            cell("index", "E2", "mode", "paper", 36, 180.0),
        ];
        let Protection { hidden, coarse, summary } = suppress(&cells, 30, &Marks::new());
        assert_eq!(hidden[5], Some(Suppression::Primary), "12 paper responses");
        assert_eq!((hidden[4], coarse[4]), (None, true), "online to whole points instead of hidden");
        assert_eq!(hidden[8], Some(Suppression::Complementary), "England − E2 would give E1's paper row");
        assert_eq!((hidden[2], coarse[2]), (None, false), "England's paper row is shown");
        assert!(hidden.iter().enumerate().all(|(k, h)| h.is_none() || k == 5 || k == 8), "{hidden:?}");
        assert_eq!((summary.large_hidden, summary.coarsened), (1, 1), "{summary:?}");
    }

    #[test]
    fn a_hidden_union_of_enough_people_is_safe() {
        let cells = vec![
            cell("index", "E1", "all", "all", 200, 1000.0),
            cell("index", "E1", "ethnicity", "asian", 20, 100.0),
            cell("index", "E1", "ethnicity", "black", 15, 90.0),
            cell("index", "E1", "ethnicity", "white", 165, 810.0),
        ];
        let Protection { hidden, .. } = suppress(&cells, 30, &Marks::new());
        assert_eq!(hidden[3], None, "asian and black together are 35 people: no complement");
    }

    #[test]
    fn a_pooled_cell_goes_when_one_sample_is_hidden() {
        let mut invitation = cell("index", "E1", "all", "all", 100, 1000.0);
        let mut open_link = cell("index", "E1", "all", "all", 12, 1000.0);
        let mut pooled = cell("index", "E1", "all", "all", 112, 1000.0);
        open_link.key.sample = Sample::OpenLink;
        pooled.key.sample = Sample::Pooled;
        invitation.key.sample = Sample::Invitation;
        let Protection { hidden, .. } = suppress(&[invitation, open_link, pooled], 30, &Marks::new());
        assert_eq!(hidden, vec![None, Some(Suppression::Primary), Some(Suppression::Complementary)]);
    }

    #[test]
    fn a_pooled_cell_with_one_sample_absent_mirrors_the_other() {
        // Nobody from the open link is male in E1: pooled male is invitation
        // male, which the invitation family hides to protect 20 women.
        let sampled = |sample: Sample, mut c: Cell| {
            c.key.sample = sample;
            c
        };
        let cells = vec![
            sampled(Sample::Invitation, cell("index", "E1", "all", "all", 100, 1000.0)),
            sampled(Sample::Invitation, cell("index", "E1", "sex", "female", 20, 400.0)),
            sampled(Sample::Invitation, cell("index", "E1", "sex", "male", 80, 600.0)),
            sampled(Sample::OpenLink, cell("index", "E1", "all", "all", 40, 1000.0)),
            sampled(Sample::OpenLink, cell("index", "E1", "sex", "female", 40, 1000.0)),
            sampled(Sample::Pooled, cell("index", "E1", "all", "all", 140, 2000.0)),
            sampled(Sample::Pooled, cell("index", "E1", "sex", "female", 60, 1400.0)),
            sampled(Sample::Pooled, cell("index", "E1", "sex", "male", 80, 600.0)),
        ];
        let Protection { hidden, .. } = suppress(&cells, 30, &Marks::new());
        assert_eq!(hidden[2], Some(Suppression::Complementary));
        assert_eq!(hidden[7], Some(Suppression::Complementary), "pooled male is invitation male");
    }

    #[test]
    fn a_hidden_area_is_not_rebuilt_from_its_published_groups() {
        // E3 is hidden so that England − E2 − E3 does not give E1; with both
        // of its sexes published, E3 = female + male would give it back.
        let cells = vec![
            cell("index", "England", "all", "all", 300, 3000.0),
            cell("index", "E1", "all", "all", 25, 1000.0),
            cell("index", "E2", "all", "all", 150, 1000.0),
            cell("index", "E3", "all", "all", 125, 1000.0),
            cell("index", "E3", "sex", "female", 60, 500.0),
            cell("index", "E3", "sex", "male", 65, 500.0),
        ];
        let Protection { hidden, coarse, .. } = suppress(&cells, 30, &Marks::new());
        assert_eq!(hidden[1], Some(Suppression::Primary));
        assert_eq!(hidden[3], Some(Suppression::Complementary));
        assert_eq!((hidden[2], coarse[2]), (None, true));
        assert_eq!(hidden[4], Some(Suppression::Complementary), "the smaller sex goes");
        assert_eq!(hidden[5], None);
    }

    #[test]
    fn a_variant_keeps_the_marks_of_the_default_release() {
        // On their own these cells need nothing; the default release (other
        // weights) hid male and showed all to whole points.
        let cells = vec![
            cell("index", "E1", "all", "all", 200, 1000.0),
            cell("index", "E1", "sex", "female", 100, 500.0),
            cell("index", "E1", "sex", "male", 100, 500.0),
        ];
        assert_eq!(suppress(&cells, 30, &Marks::new()).hidden, vec![None; 3]);
        let forced: Marks = [(cells[2].key.clone(), Mark::Hidden), (cells[0].key.clone(), Mark::Coarse)].into();
        let Protection { hidden, coarse, .. } = suppress(&cells, 30, &forced);
        assert_eq!(hidden[2], Some(Suppression::Complementary));
        assert!(coarse[0]);
        // All − female gives male, but male is 100 people: safe.
        assert_eq!((hidden[1], coarse[1]), (None, false));
    }

    #[test]
    fn counts_follow_the_nhs_rule() {
        assert_eq!(published_count(0), "0");
        assert_eq!(published_count(7), "*");
        assert_eq!(published_count(8), "10");
        assert_eq!(published_count(12), "10");
        assert_eq!(published_count(13), "15");
        assert_eq!(published_total(123_456.0), 123_000.0);
        assert_eq!(published_total(987.6), 988.0);
        assert_eq!(published_effective(37.4), 35.0);
        assert_eq!(published_effective(39.0), 40.0);
    }
}
