//! Estimates for every cell: the index and each domain, for England, each
//! ICS, each ICS × group category and England × group category; and the
//! question-level percentages.

use std::collections::BTreeMap;

use super::columns::Frame;
use super::frame::{DIMENSIONS, Group, Weighed};
use super::record::QuestionItem;
use crate::weighting::{Design, Estimate, MomentSums};

/// Where a cell is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub group: Group,
    /// `index`, a domain id, or `question_id=option_code` / `question_id=positive`.
    pub measure: String,
    /// `England` or an ICS code.
    pub area: String,
    /// `all` or a dimension.
    pub dimension: String,
    /// `all` or a category of the dimension.
    pub category: String,
}

/// One estimate before disclosure control.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub key: CellKey,
    pub estimate: Estimate,
    /// Percentages from question counts carry no standard error.
    pub has_se: bool,
}

pub const ENGLAND: &str = "England";
pub const ALL: &str = "all";

/// A grouping of one population's rows: each row's group index and the
/// (area, dimension, category) each index stands for.
pub struct Grouping {
    /// Each row's group index plus one, 0 for none: four bytes a row where
    /// `Option<u32>` takes eight, across a dozen groupings of a million rows.
    group: Vec<u32>,
    labels: Vec<(String, String, String)>,
}

impl Grouping {
    /// Row `r`'s group index, if it is in one.
    fn of(&self, r: usize) -> Option<u32> {
        self.group[r].checked_sub(1)
    }
}

/// A group index as `Grouping` stores it.
fn stored(group: Option<u32>) -> u32 {
    group.map_or(0, |g| g + 1)
}

/// Every grouping of one population: England, the ICSs, and England and
/// each ICS by each dimension's categories. Built once and shared by the
/// score and question cells.
pub fn groupings(frame: &Frame, w: &Weighed) -> Vec<Grouping> {
    let mut out = Vec::new();
    // England, and each ICS.
    out.push(Grouping {
        group: vec![stored(Some(0)); w.rows.len()],
        labels: vec![(ENGLAND.into(), ALL.into(), ALL.into())],
    });
    out.push(Grouping {
        group: w.respondents.stratum.iter().map(|h| stored(Some(*h))).collect(),
        labels: w.strata.iter().map(|s| (s.clone(), ALL.into(), ALL.into())).collect(),
    });
    for dimension in DIMENSIONS {
        let Some(column) = frame.dimension(dimension) else { continue };
        // The categories this population has, in name order.
        let mut present = vec![false; column.code_count()];
        for &i in &w.rows {
            present[column.codes[i] as usize] = true;
        }
        let mut categories: Vec<(&str, u16)> = (1..column.code_count())
            .filter(|&code| present[code])
            .filter_map(|code| Some((column.name(code as u16)?, code as u16)))
            .collect();
        if categories.is_empty() {
            continue;
        }
        categories.sort_unstable();
        let mut rank: Vec<Option<u32>> = vec![None; column.code_count()];
        for (r, (_, code)) in categories.iter().enumerate() {
            rank[*code as usize] = Some(r as u32);
        }
        let codes = || w.rows.iter().map(|&i| rank[column.codes[i] as usize]);
        let k = categories.len() as u32;
        out.push(Grouping {
            group: codes().map(stored).collect(),
            labels: categories.iter().map(|(c, _)| (ENGLAND.into(), dimension.into(), c.to_string())).collect(),
        });
        out.push(Grouping {
            group: codes().zip(&w.respondents.stratum).map(|(c, h)| stored(c.map(|c| h * k + c))).collect(),
            labels: (0..w.strata.len())
                .flat_map(|h| categories.iter().map(move |(c, _)| (h, *c)))
                .map(|(h, c)| (w.strata[h].clone(), dimension.into(), c.to_string()))
                .collect(),
        });
    }
    out
}

/// Who answered which score measures in a cell: respondents per pattern of
/// answered measures (bit m set = measure m has a value), so disclosure
/// control can see when two measures differ by a handful of people.
pub type Patterns = BTreeMap<(Group, String, String, String), BTreeMap<u32, usize>>;

/// Index and domain estimates for every cell of one population, with the
/// answered-measure patterns of each cell.
///
/// Respondents alike in everything the estimates look at (ICS, raking
/// cells, group in every grouping, which measures they answered) form a
/// profile; each measure is summed per profile once, and every grouping ×
/// measure estimate then visits profiles, not respondents
/// (`Design::means_by_profile`). The estimates of each grouping and
/// measure are independent and run in parallel.
pub fn score_cells(
    frame: &Frame,
    w: &Weighed,
    groupings: &[Grouping],
    domain_ids: &[String],
    patterns: &mut Patterns,
) -> (Vec<Cell>, Profiles) {
    use rayon::prelude::*;
    let design: Design<'_> = w.design();
    // Every measure's column, read through the population's rows rather
    // than copied (a copy would be 16 bytes a row for each measure).
    let measures: Vec<(String, &[Option<f64>])> = std::iter::once(("index".to_string(), frame.index.as_slice()))
        .chain(domain_ids.iter().cloned().zip(frame.domains.iter().map(Vec::as_slice)))
        .collect();
    let rows = &w.rows;
    let masks: Vec<u32> = (0..rows.len())
        .into_par_iter()
        .map(|r| {
            measures.iter().enumerate().fold(0u32, |m, (k, (_, v))| if v[rows[r]].is_some() { m | 1 << k } else { m })
        })
        .collect();
    let profiles = Profiles::new(&design, w, groupings, &masks, measures.len());
    let by_grouping: Vec<Vec<BTreeMap<u32, usize>>> = (0..groupings.len())
        .into_par_iter()
        .map(|k| {
            let mut by_group: Vec<BTreeMap<u32, usize>> = vec![BTreeMap::new(); groupings[k].labels.len()];
            for (p, g) in profiles.group[k].iter().enumerate() {
                if let Some(g) = g {
                    *by_group[*g as usize].entry(masks[profiles.representative[p]]).or_default() += profiles.size(p);
                }
            }
            by_group
        })
        .collect();
    for (grouping, by_group) in groupings.iter().zip(by_grouping) {
        for (counts, (area, dimension, category)) in by_group.into_iter().zip(&grouping.labels) {
            if !counts.is_empty() {
                patterns.insert((w.group, area.clone(), dimension.clone(), category.clone()), counts);
            }
        }
    }
    let weights = &w.weighted.weights;
    let sums: Vec<Vec<MomentSums>> = measures
        .par_iter()
        .map(|(_, column)| {
            (0..profiles.len())
                .map(|p| {
                    let mut s = MomentSums::default();
                    for &r in profiles.members(p) {
                        if let Some(y) = column[rows[r as usize]] {
                            s.add(weights[r as usize], y);
                        }
                    }
                    s
                })
                .collect()
        })
        .collect();
    let places = design.profile_places(&profiles.representative);
    let jobs: Vec<(usize, usize)> =
        (0..groupings.len()).flat_map(|g| (0..measures.len()).map(move |m| (g, m))).collect();
    let estimates: Vec<Vec<Estimate>> = jobs
        .par_iter()
        .map(|&(g, m)| design.means_by_profile(&places, &sums[m], &profiles.group[g], groupings[g].labels.len()))
        .collect();
    let mut cells = Vec::new();
    for (&(g, m), estimates) in jobs.iter().zip(estimates) {
        for (e, (area, dimension, category)) in estimates.into_iter().zip(&groupings[g].labels) {
            if e.n == 0 {
                continue;
            }
            let key = CellKey {
                group: w.group,
                measure: measures[m].0.clone(),
                area: area.clone(),
                dimension: dimension.clone(),
                category: category.clone(),
            };
            cells.push(Cell { key, estimate: e, has_se: true });
        }
    }
    (cells, profiles)
}

/// Respondents sorted into profiles: runs of respondents alike in ICS,
/// raking cells, group in every grouping and answered measures.
pub struct Profiles {
    /// Respondents (indices into the population's rows), profile by profile.
    order: Vec<u32>,
    /// Where each profile's run starts in `order`, and a last end.
    start: Vec<usize>,
    /// One respondent of each profile, standing for all of it.
    representative: Vec<usize>,
    /// `[grouping][profile]`: the profile's group.
    group: Vec<Vec<Option<u32>>>,
}

impl Profiles {
    /// Packs what a profile shares into one 128-bit key per respondent and
    /// sorts by it; if it does not fit (very many categories), every
    /// respondent is a profile of its own, which is still exact.
    fn new(design: &Design<'_>, w: &Weighed, groupings: &[Grouping], masks: &[u32], measures: usize) -> Profiles {
        use rayon::prelude::*;
        let bits = |values: usize| if values <= 1 { 0 } else { usize::BITS - (values - 1).leading_zeros() };
        let mut widths = vec![bits(w.strata.len())];
        widths.extend((0..design.margin_count()).map(|m| bits(design.local_cell_count(m))));
        widths.extend(groupings.iter().map(|g| bits(g.labels.len() + 1)));
        widths.push(measures as u32);
        let fits = widths.iter().sum::<u32>() <= 128;
        let mut keyed: Vec<(u128, u32)> = (0..w.rows.len())
            .into_par_iter()
            .map(|r| {
                if !fits {
                    return (r as u128, r as u32);
                }
                let parts = std::iter::once(w.respondents.stratum[r])
                    .chain(design.local_cells(r))
                    .chain(groupings.iter().map(|g| g.group[r]))
                    .chain(std::iter::once(masks[r]));
                let key = parts.zip(&widths).fold(0u128, |key, (value, &width)| (key << width) | value as u128);
                (key, r as u32)
            })
            .collect();
        keyed.par_sort_unstable();
        let mut start = Vec::new();
        for (k, pair) in keyed.iter().enumerate() {
            if k == 0 || pair.0 != keyed[k - 1].0 {
                start.push(k);
            }
        }
        start.push(keyed.len());
        let order: Vec<u32> = keyed.into_iter().map(|(_, r)| r).collect();
        let representative: Vec<usize> = start[..start.len() - 1].iter().map(|&k| order[k] as usize).collect();
        let group = groupings.iter().map(|g| representative.iter().map(|&r| g.of(r)).collect()).collect();
        Profiles { order, start, representative, group }
    }

    fn len(&self) -> usize {
        self.representative.len()
    }

    fn members(&self, p: usize) -> &[u32] {
        &self.order[self.start[p]..self.start[p + 1]]
    }

    fn size(&self, p: usize) -> usize {
        self.start[p + 1] - self.start[p]
    }
}

/// Question-level percentages (weighted % choosing each option, and %
/// positive) for England, each ICS, and England by each group category.
/// Point estimates only. (ICS × group by question would be thousands of
/// cells too small to publish.)
///
/// One pass over the respondents (or their profiles) fills every
/// grouping's sums: a row's answers are read once, not once per grouping
/// and question. Blocks are summed in parallel.
pub fn question_cells(
    frame: &Frame,
    w: &Weighed,
    groupings: &[Grouping],
    profiles: &Profiles,
    items: &[QuestionItem],
) -> Vec<Cell> {
    let wanted: Vec<usize> = (0..groupings.len())
        .filter(|&k| {
            !groupings[k].labels.first().is_some_and(|(area, dimension, _)| area != ENGLAND && dimension != ALL)
        })
        .collect();
    let layout = QuestionLayout::new(items);
    // Respondents of a profile share every group, so where profiles are
    // well filled their sums are taken once and added to each grouping
    // once; otherwise each respondent is added to each grouping.
    let totals = if profiles.len() * 3 <= w.rows.len() {
        question_sums_by_profile(frame, w, groupings, &wanted, profiles, &layout)
    } else {
        question_sums_by_respondent(frame, w, groupings, &wanted, &layout)
    };
    let wanted: Vec<&Grouping> = wanted.iter().map(|&k| &groupings[k]).collect();
    let mut cells = Vec::new();
    for (grouping, sums) in wanted.iter().zip(&totals) {
        for (q, item) in items.iter().enumerate() {
            for (g, (area, dimension, category)) in grouping.labels.iter().enumerate() {
                let (n, sum_w, sum_w2) = sums.answered[g * items.len() + q];
                if n == 0 {
                    continue;
                }
                let k = item.options.len();
                let chosen = &sums.chosen[g * layout.width + layout.offset[q]..][..k + 1];
                let outcomes = item
                    .options
                    .iter()
                    .enumerate()
                    .map(|(o, (code, _, _))| (format!("{}={code}", item.id), o))
                    .chain(item.is_scored().then(|| (format!("{}=positive", item.id), k)));
                for (measure, o) in outcomes {
                    let estimate = Estimate {
                        n,
                        sum_w,
                        estimate: 100.0 * chosen[o] / sum_w,
                        se: f64::NAN,
                        n_eff: sum_w * sum_w / sum_w2,
                        deff_w: n as f64 * sum_w2 / (sum_w * sum_w),
                        deff: f64::NAN,
                        strata: 0,
                    };
                    let key = CellKey {
                        group: w.group,
                        measure,
                        area: area.clone(),
                        dimension: dimension.clone(),
                        category: category.clone(),
                    };
                    cells.push(Cell { key, estimate, has_se: false });
                }
            }
        }
    }
    cells
}

/// The question sums of the groupings `wanted`, a profile at a time.
fn question_sums_by_profile(
    frame: &Frame,
    w: &Weighed,
    groupings: &[Grouping],
    wanted: &[usize],
    profiles: &Profiles,
    layout: &QuestionLayout,
) -> Vec<QuestionSums> {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 10;
    let new_sums = || -> Vec<QuestionSums> {
        wanted.iter().map(|&k| QuestionSums::new(groupings[k].labels.len(), layout)).collect()
    };
    let blocks: Vec<Vec<QuestionSums>> = (0..profiles.len().div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut sums = new_sums();
            let (mut one, mut answer) = (QuestionSums::new(1, layout), Answer::default());
            let range = b * BLOCK..((b + 1) * BLOCK).min(profiles.len());
            let same_groups = |p: usize, q: usize| wanted.iter().all(|&k| profiles.group[k][p] == profiles.group[k][q]);
            for p in range.clone() {
                for &r in profiles.members(p) {
                    answer.read(frame.choices_of(w.rows[r as usize]), layout);
                    one.add(0, &answer, w.weighted.weights[r as usize], layout);
                }
                // Neighbouring profiles often differ only in what the
                // questions ignore (raking cell, answered measures): their
                // sums go to the groupings together.
                if p + 1 < range.end && same_groups(p, p + 1) {
                    continue;
                }
                for (&k, sums) in wanted.iter().zip(sums.iter_mut()) {
                    if let Some(g) = profiles.group[k][p] {
                        sums.add_group(g as usize, &one);
                    }
                }
                one.clear();
            }
            sums
        })
        .collect();
    merge_blocks(new_sums(), blocks)
}

/// The question sums of the groupings `wanted`, a respondent at a time.
fn question_sums_by_respondent(
    frame: &Frame,
    w: &Weighed,
    groupings: &[Grouping],
    wanted: &[usize],
    layout: &QuestionLayout,
) -> Vec<QuestionSums> {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 16;
    let new_sums = || -> Vec<QuestionSums> {
        wanted.iter().map(|&k| QuestionSums::new(groupings[k].labels.len(), layout)).collect()
    };
    let blocks: Vec<Vec<QuestionSums>> = (0..w.rows.len().div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut sums = new_sums();
            let mut answer = Answer::default();
            for r in b * BLOCK..((b + 1) * BLOCK).min(w.rows.len()) {
                answer.read(frame.choices_of(w.rows[r]), layout);
                for (&k, sums) in wanted.iter().zip(sums.iter_mut()) {
                    if let Some(g) = groupings[k].of(r) {
                        sums.add(g as usize, &answer, w.weighted.weights[r], layout);
                    }
                }
            }
            sums
        })
        .collect();
    merge_blocks(new_sums(), blocks)
}

/// Blocks' sums added in block order, so the result does not depend on the
/// thread count.
fn merge_blocks(mut totals: Vec<QuestionSums>, blocks: Vec<Vec<QuestionSums>>) -> Vec<QuestionSums> {
    for block in &blocks {
        for (total, part) in totals.iter_mut().zip(block) {
            total.merge(part);
        }
    }
    totals
}

/// Where each question item's option sums sit in a group's slots: its
/// options, then one slot for "positive".
struct QuestionLayout {
    offset: Vec<usize>,
    width: usize,
    /// Per item: the bits of options that exist, and of positive options.
    valid: Vec<u64>,
    positive: Vec<u64>,
}

impl QuestionLayout {
    fn new(items: &[QuestionItem]) -> QuestionLayout {
        let mut offset = Vec::with_capacity(items.len());
        let mut width = 0;
        for item in items {
            offset.push(width);
            width += item.options.len() + 1;
        }
        let valid = items
            .iter()
            .map(|i| if i.options.len() >= 64 { u64::MAX } else { (1u64 << i.options.len()) - 1 })
            .collect();
        let positive = items
            .iter()
            .map(|i| {
                if i.multiple {
                    0
                } else {
                    (0..i.options.len().min(64)).filter(|&o| i.positive(o)).fold(0, |m, o| m | 1 << o)
                }
            })
            .collect();
        QuestionLayout { offset, width, valid, positive }
    }
}

/// One respondent's answers as the sums see them, worked out once and
/// added to every grouping: the items answered, and the slots (options
/// chosen, and "positive") that get the respondent's weight.
#[derive(Default)]
struct Answer {
    items: Vec<u32>,
    slots: Vec<u32>,
}

impl Answer {
    fn read(&mut self, choices: &[u64], layout: &QuestionLayout) {
        self.items.clear();
        self.slots.clear();
        for (q, &picks) in choices.iter().enumerate() {
            if picks == 0 {
                continue;
            }
            self.items.push(q as u32);
            let base = layout.offset[q] as u32;
            let mut bits = picks & layout.valid[q];
            while bits != 0 {
                self.slots.push(base + bits.trailing_zeros());
                bits &= bits - 1;
            }
            if picks & layout.positive[q] != 0 {
                let end = layout.offset.get(q + 1).copied().unwrap_or(layout.width);
                self.slots.push(end as u32 - 1);
            }
        }
    }
}

/// One grouping's question sums: per group and item, respondents answering
/// with their weight and squared weight; per group, item and option (and
/// "positive"), the weight choosing it.
struct QuestionSums {
    answered: Vec<(usize, f64, f64)>,
    chosen: Vec<f64>,
}

impl QuestionSums {
    fn new(groups: usize, layout: &QuestionLayout) -> QuestionSums {
        QuestionSums {
            answered: vec![(0, 0.0, 0.0); groups * layout.offset.len()],
            chosen: vec![0.0; groups * layout.width],
        }
    }

    fn add(&mut self, g: usize, answer: &Answer, weight: f64, layout: &QuestionLayout) {
        let items = layout.offset.len();
        let answered = &mut self.answered[g * items..(g + 1) * items];
        for &q in &answer.items {
            let a = &mut answered[q as usize];
            a.0 += 1;
            a.1 += weight;
            a.2 += weight * weight;
        }
        let chosen = &mut self.chosen[g * layout.width..(g + 1) * layout.width];
        for &slot in &answer.slots {
            chosen[slot as usize] += weight;
        }
    }

    fn clear(&mut self) {
        self.answered.fill((0, 0.0, 0.0));
        self.chosen.fill(0.0);
    }

    /// Adds the sums of a one-group `QuestionSums` to group `g`.
    fn add_group(&mut self, g: usize, one: &QuestionSums) {
        let items = one.answered.len();
        for (a, b) in self.answered[g * items..(g + 1) * items].iter_mut().zip(&one.answered) {
            a.0 += b.0;
            a.1 += b.1;
            a.2 += b.2;
        }
        let width = one.chosen.len();
        for (a, b) in self.chosen[g * width..(g + 1) * width].iter_mut().zip(&one.chosen) {
            *a += b;
        }
    }

    fn merge(&mut self, other: &QuestionSums) {
        for (a, b) in self.answered.iter_mut().zip(&other.answered) {
            a.0 += b.0;
            a.1 += b.1;
            a.2 += b.2;
        }
        for (a, b) in self.chosen.iter_mut().zip(&other.chosen) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::frame::{ADULT_BANDS, PopulationTable, Row, weigh};

    fn item(id: &str, options: usize, multiple: bool) -> QuestionItem {
        QuestionItem {
            id: id.into(),
            text: id.into(),
            multiple,
            options: (0..options).map(|o| (format!("o{o}"), format!("option {o}"), Some(25.0 * o as f64))).collect(),
        }
    }

    /// 60 people in two ICSs, each answering five times with different
    /// answers: profiles hold five respondents each.
    #[test]
    fn question_sums_by_profile_equal_sums_by_respondent() {
        let mut counts = BTreeMap::new();
        for ics in ["E1", "E2"] {
            for band in ADULT_BANDS {
                for sex in ["female", "male"] {
                    counts.insert((ics.to_string(), band.to_string(), sex.to_string()), 1000.0);
                }
            }
        }
        let population = PopulationTable { counts, source: "test".into(), uploaded: BTreeMap::new() };
        let items = [item("q1", 4, false), item("q2", 3, true), item("q3", 5, false)];
        let rows: Vec<Row> = (0..300usize)
            .map(|i| {
                let p = i % 60;
                Row {
                    version: 1,
                    channel: "open_link".into(),
                    voice: Some("patient".into()),
                    ics: Some(["E1", "E2"][p % 2].into()),
                    age_band: Some(ADULT_BANDS[(p / 2) % 6].into()),
                    sex: Some(["female", "male"][(p / 12) % 2].into()),
                    ethnicity: Some(["white", "asian", "black"][p % 3].into()),
                    base_weight: 1.0 + (i % 7) as f64 / 10.0,
                    index: Some(40.0 + (i % 9) as f64),
                    choices: vec![1 << (i % 4), (1 << (i % 3)) | 1, if i % 5 == 0 { 0 } else { 1 << (p % 5) }],
                    ..Row::default()
                }
            })
            .collect();
        let frame = Frame::from_rows(&rows, 0, items.len());
        let layout = QuestionLayout::new(&items);
        for w in weigh(&frame, &population, 10).unwrap() {
            let groupings = groupings(&frame, &w);
            let (_, profiles) = score_cells(&frame, &w, &groupings, &[], &mut Patterns::new());
            assert!(profiles.len() * 3 <= w.rows.len(), "profiles are well filled: {}", profiles.len());
            let wanted: Vec<usize> = (0..groupings.len()).collect();
            let by_profile = question_sums_by_profile(&frame, &w, &groupings, &wanted, &profiles, &layout);
            let by_respondent = question_sums_by_respondent(&frame, &w, &groupings, &wanted, &layout);
            for (a, b) in by_profile.iter().zip(&by_respondent) {
                for (x, y) in a.answered.iter().zip(&b.answered) {
                    assert_eq!(x.0, y.0);
                    assert!((x.1 - y.1).abs() < 1e-9 && (x.2 - y.2).abs() < 1e-9, "{x:?} vs {y:?}");
                }
                for (x, y) in a.chosen.iter().zip(&b.chosen) {
                    assert!((x - y).abs() < 1e-9, "{x} vs {y}");
                }
            }
        }
    }
}
