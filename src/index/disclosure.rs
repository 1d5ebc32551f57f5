//! Disclosure control, applied to every output before it leaves joinedup:
//!
//! 1. **Primary**: an estimate from fewer than `suppress_below` unweighted
//!    respondents (default 30, never below 10) is suppressed.
//! 2. **Complementary, by subtraction**: in every additive family — England
//!    and its ICSs; an ICS (or England) and the categories of a dimension
//!    (with the unstated as an implicit member) — a hidden member must not
//!    be alone, or it is the parent minus the rest; the smallest published
//!    sibling is suppressed as well.
//! 3. **Complementary, across measures**: when two score measures of one
//!    cell (the index and a domain, or two domains) are answered by sets of
//!    people that differ by 1 to `suppress_below − 1` respondents, the pair
//!    would give those few people's total by subtraction; the measure with
//!    fewer respondents is suppressed.
//! 4. **Rounding**: published counts of 1–7 show as `*`, others rounded to
//!    5; weighted totals are rounded to three significant figures.
//!
//! Steps 2 and 3 repeat until nothing changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::cells::{ALL, Cell, CellKey, ENGLAND, Patterns};
use super::frame::Group;

/// The smallest threshold anyone may set (GPP survey practice).
pub const FLOOR: usize = 10;
pub const DEFAULT_THRESHOLD: usize = 30;

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

/// Marks every cell to hide. `score_measures` are the measure names in the
/// bit order of `patterns` (index first, then domains).
pub fn suppress(
    cells: &[Cell],
    patterns: &Patterns,
    score_measures: &[String],
    threshold: usize,
) -> Vec<Option<Suppression>> {
    let threshold = threshold.max(FLOOR);
    let mut hidden: Vec<Option<Suppression>> =
        cells.iter().map(|c| (c.estimate.n < threshold).then_some(Suppression::Primary)).collect();
    let index: HashMap<&CellKey, usize> = cells.iter().enumerate().map(|(i, c)| (&c.key, i)).collect();
    // Each family's cells and each cell's measures, looked up once: the
    // rounds below repeat until nothing changes.
    let families: Vec<(usize, Vec<usize>)> = families(cells)
        .iter()
        .filter_map(|f| {
            let parent = *index.get(&f.parent)?;
            Some((parent, f.children.iter().filter_map(|k| index.get(k).copied()).collect()))
        })
        .collect();
    let measures = measure_cells(&index, patterns, score_measures);
    loop {
        let mut changed = false;
        for (parent, members) in &families {
            changed |= protect_family(cells, *parent, members, &mut hidden, threshold);
        }
        changed |= protect_measures(cells, &measures, score_measures.len(), &mut hidden, threshold);
        if !changed {
            return hidden;
        }
    }
}

/// A parent cell and the cells that add up to it (apart from the unstated).
struct Family {
    parent: CellKey,
    children: Vec<CellKey>,
}

fn families(cells: &[Cell]) -> Vec<Family> {
    let keys: BTreeSet<&CellKey> = cells.iter().map(|c| &c.key).collect();
    let mut by_parent: BTreeMap<CellKey, Vec<CellKey>> = BTreeMap::new();
    for key in &keys {
        // England = Σ ICSs, for the same measure, dimension and category.
        if key.area != ENGLAND {
            let parent = CellKey { area: ENGLAND.into(), ..(*key).clone() };
            if keys.contains(&parent) {
                by_parent.entry(parent).or_default().push((*key).clone());
            }
        }
        // An area = Σ the categories of a dimension (+ the unstated).
        if key.dimension != ALL {
            let parent = CellKey { dimension: ALL.into(), category: ALL.into(), ..(*key).clone() };
            if keys.contains(&parent) {
                by_parent.entry(parent.clone()).or_default().push((*key).clone());
            }
        }
    }
    // Children of different dimensions are different families.
    let mut families = Vec::new();
    for (parent, children) in by_parent {
        let mut by_dimension: BTreeMap<(String, String), Vec<CellKey>> = BTreeMap::new();
        for child in children {
            let split = if child.area == parent.area {
                (child.dimension.clone(), String::new())
            } else {
                (String::new(), String::new())
            };
            by_dimension.entry(split).or_default().push(child);
        }
        for (_, children) in by_dimension {
            families.push(Family { parent: parent.clone(), children });
        }
    }
    families
}

/// Hides a second member where one hidden member could be derived.
fn protect_family(
    cells: &[Cell],
    parent: usize,
    members: &[usize],
    hidden: &mut [Option<Suppression>],
    threshold: usize,
) -> bool {
    let listed: usize = members.iter().map(|&i| cells[i].estimate.n).sum();
    let unstated = cells[parent].estimate.n.saturating_sub(listed);
    // The unstated respondents are never published: a small group of them is
    // as exposed as a suppressed cell.
    let hidden_unstated = (1..threshold).contains(&unstated);
    let hidden_count = members.iter().filter(|&&i| hidden[i].is_some()).count() + usize::from(hidden_unstated);
    if hidden_count != 1 || hidden[parent].is_some() {
        return false;
    }
    let Some(&next) = members.iter().filter(|&&i| hidden[i].is_none()).min_by_key(|&&i| cells[i].estimate.n) else {
        return false;
    };
    hidden[next] = Some(Suppression::Complementary);
    true
}

/// Hides a score measure whose respondents differ from another published
/// measure's, in the same cell, by only a few people.
/// Per answered-measure pattern of a cell: its counts and the cell of
/// each score measure there.
type MeasureCells<'p> = Vec<(&'p std::collections::BTreeMap<u32, usize>, Vec<Option<usize>>)>;

fn measure_cells<'p>(
    index: &HashMap<&CellKey, usize>,
    patterns: &'p Patterns,
    measures: &[String],
) -> MeasureCells<'p> {
    patterns
        .iter()
        .map(|((group, area, dimension, category), counts)| {
            let key = |m: usize| CellKey {
                group: *group,
                measure: measures[m].clone(),
                area: area.clone(),
                dimension: dimension.clone(),
                category: category.clone(),
            };
            (counts, (0..measures.len()).map(|m| index.get(&key(m)).copied()).collect())
        })
        .collect()
}

fn protect_measures(
    cells: &[Cell],
    measure_cells: &MeasureCells<'_>,
    measures: usize,
    hidden: &mut [Option<Suppression>],
    threshold: usize,
) -> bool {
    let mut changed = false;
    for (counts, at) in measure_cells {
        for a in 0..measures {
            for b in 0..measures {
                let (Some(ia), Some(ib)) = (at[a], at[b]) else { continue };
                if a == b || hidden[ia].is_some() || hidden[ib].is_some() {
                    continue;
                }
                let differ: usize =
                    counts.iter().filter(|(mask, _)| (**mask >> a & 1) != (**mask >> b & 1)).map(|(_, n)| n).sum();
                if (1..threshold).contains(&differ) {
                    let smaller = if cells[ia].estimate.n <= cells[ib].estimate.n { ia } else { ib };
                    hidden[smaller] = Some(Suppression::Complementary);
                    changed = true;
                }
            }
        }
    }
    changed
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

/// The key of the population groups, for outputs.
pub fn group_label(group: Group) -> &'static str {
    group.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::Estimate;

    fn cell(measure: &str, area: &str, dimension: &str, category: &str, n: usize) -> Cell {
        Cell {
            key: CellKey {
                group: Group::People,
                measure: measure.into(),
                area: area.into(),
                dimension: dimension.into(),
                category: category.into(),
            },
            estimate: Estimate {
                n,
                sum_w: n as f64,
                estimate: 50.0,
                se: 1.0,
                n_eff: n as f64,
                deff_w: 1.0,
                deff: 1.0,
                strata: 1,
            },
            has_se: true,
        }
    }

    #[test]
    fn a_lone_hidden_member_takes_its_smallest_sibling_with_it() {
        let cells = vec![
            cell("index", "E1", "all", "all", 100),
            cell("index", "E1", "sex", "female", 60),
            cell("index", "E1", "sex", "male", 20),
            cell("index", "E1", "age_band", "18-34", 100),
        ];
        // 100 = 60 + 20 + 20 unstated? No: make the family exact.
        let mut cells = cells;
        cells[1].estimate.n = 80;
        let hidden = suppress(&cells, &Patterns::new(), &["index".into()], 30);
        assert_eq!(hidden[2], Some(Suppression::Primary));
        assert_eq!(hidden[1], Some(Suppression::Complementary), "female = all − male otherwise");
        assert_eq!(hidden[0], None);
    }

    #[test]
    fn a_small_unstated_group_counts_as_hidden() {
        // 100 = 90 + 5 unstated, with nothing suppressed: the five who did not
        // say would be 100 − 90. Hiding the only member protects them.
        let cells = vec![cell("index", "E1", "all", "all", 100), cell("index", "E1", "sex", "female", 95)];
        let hidden = suppress(&cells, &Patterns::new(), &["index".into()], 30);
        assert_eq!(hidden[1], Some(Suppression::Complementary));
    }

    #[test]
    fn measures_answered_by_nearly_the_same_people_are_not_both_shown() {
        let cells = vec![
            cell("index", "E1", "all", "all", 100),
            cell("d1", "E1", "all", "all", 97),
            cell("d2", "E1", "all", "all", 60),
        ];
        let mut patterns = Patterns::new();
        let counts = patterns.entry((Group::People, "E1".into(), ALL.into(), ALL.into())).or_default();
        counts.insert(0b111, 60); // all three
        counts.insert(0b011, 37); // index and d1
        counts.insert(0b001, 3); // index only: d1 = index minus these three
        let hidden = suppress(&cells, &patterns, &["index".into(), "d1".into(), "d2".into()], 30);
        assert_eq!(hidden[1], Some(Suppression::Complementary), "d1 differs from the index by 3 people");
        assert_eq!(hidden[0], None);
        assert_eq!(hidden[2], None, "d2 differs by 40");
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
    }
}
