//! Estimates for every cell: the index and each domain, for England, each
//! ICS, each ICS × group category and England × group category; and the
//! question-level percentages.

use super::columns::Frame;
use super::frame::{DIMENSIONS, Group, Weighed};
use super::record::QuestionItem;
use super::sample::Sample;
use crate::weighting::{Design, DomainSums, Estimate, MomentSums};

/// Where a cell is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// Which sample the cell comes from: samples are weighted apart.
    pub sample: Sample,
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
    /// A question percentage (0–100): its interval is the logit one of a
    /// proportion, not estimate ± 1.96·SE.
    pub proportion: bool,
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

/// Index and domain estimates for every cell of one population.
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
    sample: Sample,
    groupings: &[Grouping],
    domain_ids: &[String],
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
                sample,
                group: w.group,
                measure: measures[m].0.clone(),
                area: area.clone(),
                dimension: dimension.clone(),
                category: category.clone(),
            };
            cells.push(Cell { key, estimate: e, proportion: false });
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
}

/// Question-level percentages (weighted % choosing each option, and %
/// positive) for England, each ICS, and England by each group category,
/// with Taylor-linearised standard errors on the population's own design
/// (raking residuals included on a raked design): each percentage is a
/// domain mean of a 0/1 outcome among those who answered the question,
/// exactly as R's `svymean`/`svyciprop` on the domain. (ICS × group by
/// question would be thousands of cells too small to publish.)
///
/// A proportion's variance needs, per stratum and domain, only a handful
/// of sums (below), so they are gathered once per ICS: every base grouping
/// (England, and England by each dimension) keeps, per group and ICS, the
/// sums of each item and option, and on a raked design the same per raking
/// cell. Respondents alike in ICS, raking cells and groups (a run of
/// profiles) are summed together first. ICSs are independent and run in
/// parallel; so do the variances.
pub fn question_cells(
    frame: &Frame,
    w: &Weighed,
    sample: Sample,
    groupings: &[Grouping],
    profiles: &Profiles,
    items: &[QuestionItem],
) -> Vec<Cell> {
    use rayon::prelude::*;
    let design = w.design();
    let layout = QuestionLayout::new(items);
    // England and England × each dimension; an ICS's cells are England's
    // sums within that ICS.
    let bases: Vec<usize> = (0..groupings.len())
        .filter(|&k| groupings[k].labels.first().is_some_and(|(area, _, _)| area == ENGLAND))
        .collect();
    let strata = design.strata_count();
    // Profiles are sorted by ICS first: each ICS's profiles are one range.
    let mut ranges = vec![0..0; strata];
    for (p, &r) in profiles.representative.iter().enumerate() {
        let h = w.respondents.stratum[r] as usize;
        if ranges[h].is_empty() {
            ranges[h] = p..p + 1;
        } else {
            ranges[h].end = p + 1;
        }
    }
    let tables: Vec<StratumTables> = (0..strata)
        .into_par_iter()
        .map(|h| gather_stratum(frame, w, &design, h, ranges[h].clone(), &bases, groupings, profiles, &layout))
        .collect();
    let mut cells = Vec::new();
    // England and England × category: every ICS adds its share.
    let jobs: Vec<(usize, usize)> =
        bases.iter().enumerate().flat_map(|(b, &k)| (0..groupings[k].labels.len()).map(move |g| (b, g))).collect();
    let estimates: Vec<Vec<Option<Estimate>>> =
        jobs.par_iter().map(|&(b, g)| proportions(&design, &tables, &layout, b, g, 0..strata)).collect();
    for (&(b, g), estimates) in jobs.iter().zip(estimates) {
        let (area, dimension, category) = &groupings[bases[b]].labels[g];
        push_question_cells(&mut cells, sample, w.group, items, &layout, estimates, (area, dimension, category));
    }
    // Each ICS: England's sums within it.
    let per_ics: Vec<Vec<Option<Estimate>>> =
        (0..strata).into_par_iter().map(|h| proportions(&design, &tables, &layout, 0, 0, h..h + 1)).collect();
    for (h, estimates) in per_ics.into_iter().enumerate() {
        push_question_cells(&mut cells, sample, w.group, items, &layout, estimates, (&w.strata[h], ALL, ALL));
    }
    cells
}

/// Cells of one area and category: each item's options, and its positive
/// answers when the item is scored.
fn push_question_cells(
    cells: &mut Vec<Cell>,
    sample: Sample,
    group: Group,
    items: &[QuestionItem],
    layout: &QuestionLayout,
    estimates: Vec<Option<Estimate>>,
    (area, dimension, category): (&str, &str, &str),
) {
    for (q, item) in items.iter().enumerate() {
        let k = item.options.len();
        let outcomes = item
            .options
            .iter()
            .enumerate()
            .map(|(o, (code, _, _))| (format!("{}={code}", item.id), o))
            .chain(item.is_scored().then(|| (format!("{}=positive", item.id), k)));
        for (measure, o) in outcomes {
            let Some(estimate) = estimates[layout.offset[q] + o] else { continue };
            let key = CellKey {
                sample,
                group,
                measure,
                area: area.to_string(),
                dimension: dimension.to_string(),
                category: category.to_string(),
            };
            cells.push(Cell { key, estimate, proportion: true });
        }
    }
}

/// One ICS's question sums: per base grouping and group, a slice.
struct StratumTables {
    /// `[base]`: where its groups' slices start.
    first: Vec<usize>,
    /// Slices, each `slice_len` long: per item (n, Σw, Σw²), per slot
    /// (Σw·y, Σw²·y), then per margin and raking cell, per item (n, Σw²)
    /// and per slot (Σy, Σw²·y).
    data: Vec<f64>,
    slice_len: usize,
    /// `[margin]`: where the margin's cells start within a slice.
    cell_start: Vec<usize>,
    present: Vec<bool>,
}

impl StratumTables {
    fn slice(&self, b: usize, g: usize) -> Option<&[f64]> {
        let k = self.first[b] + g;
        self.present[k].then(|| &self.data[k * self.slice_len..(k + 1) * self.slice_len])
    }
}

/// Per raking cell within a slice: items (n, Σw²), then slots (Σy, Σw²·y).
fn cell_len(layout: &QuestionLayout) -> usize {
    layout.offset.len() * 2 + layout.width * 2
}

#[allow(clippy::too_many_arguments)]
fn gather_stratum(
    frame: &Frame,
    w: &Weighed,
    design: &Design<'_>,
    h: usize,
    range: std::ops::Range<usize>,
    bases: &[usize],
    groupings: &[Grouping],
    profiles: &Profiles,
    layout: &QuestionLayout,
) -> StratumTables {
    let (n_items, width) = (layout.offset.len(), layout.width);
    let sizes: Vec<usize> = if design.is_raked() { design.cell_sizes(h).to_vec() } else { Vec::new() };
    let mut cell_start = Vec::with_capacity(sizes.len());
    let mut slice_len = n_items * 3 + width * 2;
    for &k in &sizes {
        cell_start.push(slice_len);
        slice_len += k * cell_len(layout);
    }
    let mut first = Vec::with_capacity(bases.len());
    let mut total = 0;
    for &b in bases {
        first.push(total);
        total += groupings[b].labels.len();
    }
    let mut tables =
        StratumTables { first, data: vec![0.0; total * slice_len], slice_len, cell_start, present: vec![false; total] };
    if range.is_empty() {
        return tables;
    }
    let mut one = RunSums::new(layout);
    let mut answer = Answer::default();
    let same = |p: usize, q: usize| {
        bases.iter().all(|&k| profiles.group[k][p] == profiles.group[k][q])
            && design.local_cells(profiles.representative[p]).eq(design.local_cells(profiles.representative[q]))
    };
    // The ICS's answers copied side by side first, in row order: profiles
    // visit their members out of order, and reading them from the whole
    // frame (every ICS interleaved) missed the cache on nearly every row.
    let lo = w.respondents.stratum.partition_point(|&s| (s as usize) < h);
    let hi = w.respondents.stratum.partition_point(|&s| (s as usize) <= h);
    let n_items = frame.items;
    let mut local: Vec<u64> = Vec::with_capacity((hi - lo) * n_items);
    for &i in &w.rows[lo..hi] {
        local.extend_from_slice(frame.choices_of(i));
    }
    for p in range.clone() {
        for &r in profiles.members(p) {
            let r = r as usize;
            answer.read(&local[(r - lo) * n_items..(r - lo + 1) * n_items], layout);
            one.add(&answer, w.weighted.weights[r], layout);
        }
        if p + 1 < range.end && same(p, p + 1) {
            continue;
        }
        let cells: Vec<u32> = design.local_cells(profiles.representative[p]).collect();
        for (b, &k) in bases.iter().enumerate() {
            let Some(g) = profiles.group[k][p] else { continue };
            let slot = tables.first[b] + g as usize;
            tables.present[slot] = true;
            let slice = &mut tables.data[slot * slice_len..(slot + 1) * slice_len];
            one.flush_into(slice, &tables.cell_start, &cells, layout);
        }
        one.clear();
    }
    tables
}

/// A run of alike respondents' sums, dense with a list of what was touched.
struct RunSums {
    /// Per item: n, Σw, Σw².
    items: Vec<[f64; 3]>,
    /// Per slot: Σy, Σw·y, Σw²·y.
    slots: Vec<[f64; 3]>,
    touched_items: Vec<u32>,
    touched_slots: Vec<u32>,
}

impl RunSums {
    fn new(layout: &QuestionLayout) -> RunSums {
        RunSums {
            items: vec![[0.0; 3]; layout.offset.len()],
            slots: vec![[0.0; 3]; layout.width],
            touched_items: Vec::new(),
            touched_slots: Vec::new(),
        }
    }

    fn add(&mut self, answer: &Answer, weight: f64, _layout: &QuestionLayout) {
        let w2 = weight * weight;
        for &q in &answer.items {
            let a = &mut self.items[q as usize];
            if a[0] == 0.0 {
                self.touched_items.push(q);
            }
            a[0] += 1.0;
            a[1] += weight;
            a[2] += w2;
        }
        for &s in &answer.slots {
            let a = &mut self.slots[s as usize];
            if a[0] == 0.0 {
                self.touched_slots.push(s);
            }
            a[0] += 1.0;
            a[1] += weight;
            a[2] += w2;
        }
    }

    fn flush_into(&self, slice: &mut [f64], cell_start: &[usize], cells: &[u32], layout: &QuestionLayout) {
        let n_items = layout.offset.len();
        let slot_base = n_items * 3;
        for &q in &self.touched_items {
            let (q, a) = (q as usize, self.items[q as usize]);
            slice[q * 3] += a[0];
            slice[q * 3 + 1] += a[1];
            slice[q * 3 + 2] += a[2];
            for (m, &c) in cells.iter().enumerate() {
                let at = cell_start[m] + c as usize * cell_len(layout) + q * 2;
                slice[at] += a[0];
                slice[at + 1] += a[2];
            }
        }
        for &s in &self.touched_slots {
            let (s, a) = (s as usize, self.slots[s as usize]);
            slice[slot_base + s * 2] += a[1];
            slice[slot_base + s * 2 + 1] += a[2];
            for (m, &c) in cells.iter().enumerate() {
                let at = cell_start[m] + c as usize * cell_len(layout) + n_items * 2 + s * 2;
                slice[at] += a[0];
                slice[at + 1] += a[2];
            }
        }
    }

    fn clear(&mut self) {
        for &q in &self.touched_items {
            self.items[q as usize] = [0.0; 3];
        }
        for &s in &self.touched_slots {
            self.slots[s as usize] = [0.0; 3];
        }
        self.touched_items.clear();
        self.touched_slots.clear();
    }
}

/// The proportion of every slot for group `g` of base `b`, over the ICSs
/// `strata` (all of them for England, one for an ICS); `None` where nobody
/// in the domain answered the question.
fn proportions(
    design: &Design<'_>,
    tables: &[StratumTables],
    layout: &QuestionLayout,
    b: usize,
    g: usize,
    strata: std::ops::Range<usize>,
) -> Vec<Option<Estimate>> {
    let n_items = layout.offset.len();
    let slot_base = n_items * 3;
    // Totals over the ICSs: per item (n, Σw, Σw²) and per slot Σw·y.
    let mut item_totals = vec![[0.0f64; 3]; n_items];
    let mut chosen = vec![0.0f64; layout.width];
    for h in strata.clone() {
        let Some(slice) = tables[h].slice(b, g) else { continue };
        for (q, t) in item_totals.iter_mut().enumerate() {
            t[0] += slice[q * 3];
            t[1] += slice[q * 3 + 1];
            t[2] += slice[q * 3 + 2];
        }
        for (s, c) in chosen.iter_mut().enumerate() {
            *c += slice[slot_base + s * 2];
        }
    }
    let mut out = vec![None; layout.width];
    let mut d = DomainSums::default();
    for (q, totals) in item_totals.iter().enumerate() {
        let [n, sum_w, sum_w2] = *totals;
        if n == 0.0 || sum_w <= 0.0 {
            continue;
        }
        let end = layout.offset.get(q + 1).copied().unwrap_or(layout.width);
        for s in layout.offset[q]..end {
            let p = chosen[s] / sum_w;
            let (mut variance, mut weighted_ss, mut touched) = (0.0, 0.0, 0);
            for h in strata.clone() {
                let Some(slice) = tables[h].slice(b, g) else { continue };
                let (n_h, w_h, w2_h) = (slice[q * 3], slice[q * 3 + 1], slice[q * 3 + 2]);
                if n_h == 0.0 {
                    continue;
                }
                touched += 1;
                let (y, y2) = (slice[slot_base + s * 2], slice[slot_base + s * 2 + 1]);
                // a = w (y − p) / Σw, for y in {0, 1}.
                d.sum_a = (y - p * w_h) / sum_w;
                d.sum_a2 = (y2 * (1.0 - 2.0 * p) + p * p * w2_h) / (sum_w * sum_w);
                weighted_ss += y * (1.0 - 2.0 * p) + p * p * w_h;
                let t = &tables[h];
                let sizes = if design.is_raked() { design.cell_sizes(h) } else { &[] };
                d.a_over_w.resize(sizes.len(), Vec::new());
                d.a_times_w.resize(sizes.len(), Vec::new());
                for (m, &k) in sizes.iter().enumerate() {
                    d.a_over_w[m].clear();
                    d.a_times_w[m].clear();
                    for c in 0..k {
                        let at = t.cell_start[m] + c * cell_len(layout);
                        let (n_c, w2_c) = (slice[at + q * 2], slice[at + q * 2 + 1]);
                        let (y_c, y2_c) = (slice[at + n_items * 2 + s * 2], slice[at + n_items * 2 + s * 2 + 1]);
                        d.a_over_w[m].push((y_c - p * n_c) / sum_w);
                        d.a_times_w[m].push((y2_c - p * w2_c) / sum_w);
                    }
                }
                variance += design.stratum_share(h, &d);
            }
            // On the 0–100 scale every published figure uses.
            let e = Estimate::from_sums((n as usize, sum_w, sum_w2), p, variance, weighted_ss, touched);
            out[s] = Some(Estimate { estimate: 100.0 * e.estimate, se: 100.0 * e.se, ..e });
        }
    }
    out
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

/// One respondent's answers as the sums see them: the items answered, and
/// the slots (options chosen, and "positive") that count 1 for them.
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::index::frame::{ADULT_BANDS, PopulationTable, Row, WeighOptions, weigh};

    fn item(id: &str, options: usize, multiple: bool) -> QuestionItem {
        QuestionItem {
            id: id.into(),
            text: id.into(),
            multiple,
            options: (0..options).map(|o| (format!("o{o}"), format!("option {o}"), Some(25.0 * o as f64))).collect(),
        }
    }

    /// Two ICSs' people, raked, a fifth of them on paper (more of the older
    /// ones): England and each ICS get a cell per mode, holding exactly
    /// the rows of that mode, with the design's own domain mean over them;
    /// the modes add up to the `all` cell, as every dimension's categories
    /// do.
    #[test]
    fn online_and_paper_rows_give_cells_by_mode() {
        let mut counts = BTreeMap::new();
        for ics in ["E1", "E2"] {
            for band in ADULT_BANDS {
                for sex in ["female", "male"] {
                    counts.insert((ics.to_string(), band.to_string(), sex.to_string()), 1000.0);
                }
            }
        }
        let population = PopulationTable { counts, source: "test".into(), uploaded: BTreeMap::new() };
        let rows: Vec<Row> = (0..240usize)
            .map(|i| {
                let band = (i / 2) % 6;
                Row {
                    version: 1,
                    channel: "invitation".into(),
                    mode: Some(if i % 5 == 0 || (band >= 4 && i % 3 == 0) { "paper" } else { "online" }.into()),
                    voice: Some("patient".into()),
                    ics: Some(["E1", "E2"][i % 2].into()),
                    age_band: Some(ADULT_BANDS[band].into()),
                    sex: Some(["female", "male"][(i / 12) % 2].into()),
                    base_weight: 1.0 + (i % 4) as f64 / 4.0,
                    index: Some(40.0 + (i % 11) as f64 + if i % 5 == 0 { 6.0 } else { 0.0 }),
                    ..Row::default()
                }
            })
            .collect();
        let frame = Frame::from_rows(&rows, 0, 0);
        let w = weigh(&frame, &population, &WeighOptions::default(), &|_| true).unwrap().remove(0);
        let groupings = groupings(&frame, &w);
        let (cells, _) = score_cells(&frame, &w, Sample::Invitation, &groupings, &[]);
        let by_mode: Vec<&Cell> = cells.iter().filter(|c| c.key.dimension == "mode").collect();
        let keys: Vec<(&str, &str)> = by_mode.iter().map(|c| (c.key.area.as_str(), c.key.category.as_str())).collect();
        assert_eq!(
            keys,
            [
                ("England", "online"),
                ("England", "paper"),
                ("E1", "online"),
                ("E1", "paper"),
                ("E2", "online"),
                ("E2", "paper")
            ]
        );
        let design = w.design();
        let y: Vec<f64> = w.rows.iter().map(|&i| rows[i].index.unwrap()).collect();
        for cell in by_mode {
            let k = &cell.key;
            let member = |r: usize| {
                let row = &rows[w.rows[r]];
                row.mode.as_deref() == Some(k.category.as_str())
                    && (k.area == ENGLAND || row.ics.as_deref() == Some(k.area.as_str()))
            };
            let oracle = design.mean(&y, &member);
            assert_eq!(cell.estimate.n, oracle.n, "{k:?}");
            assert!((cell.estimate.estimate - oracle.estimate).abs() < 1e-9, "{k:?}");
            assert!((cell.estimate.se - oracle.se).abs() < 1e-9, "{k:?}");
            let all = cells
                .iter()
                .find(|c| c.key.area == k.area && c.key.dimension == ALL && c.key.measure == k.measure)
                .unwrap();
            let siblings: usize = cells
                .iter()
                .filter(|c| c.key.area == k.area && c.key.dimension == "mode" && c.key.measure == k.measure)
                .map(|c| c.estimate.n)
                .sum();
            assert_eq!(siblings, all.estimate.n, "{k:?}: online and paper make up the area");
        }
        let paper = rows.iter().filter(|r| r.mode.as_deref() == Some("paper")).count();
        assert!((40..120).contains(&paper), "{paper}");
    }

    /// 300 people in two ICSs, raked (people) and trimmed, answering three
    /// questions, some not at all: every question percentage, with its SE
    /// and design effect, equals the design's own domain mean of the 0/1
    /// outcome (`Design::means_by`, the engine R's fixtures check) for
    /// England, each ICS and England by each category.
    #[test]
    fn question_percentages_are_domain_means_of_the_design() {
        let mut counts = BTreeMap::new();
        for ics in ["E1", "E2"] {
            for band in ADULT_BANDS {
                for sex in ["female", "male"] {
                    counts.insert(
                        (ics.to_string(), band.to_string(), sex.to_string()),
                        1000.0 + band.len() as f64 * 50.0,
                    );
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
                    channel: "invitation".into(),
                    voice: Some("patient".into()),
                    ics: Some(["E1", "E2"][p % 2].into()),
                    age_band: Some(ADULT_BANDS[(p / 2) % 6].into()),
                    sex: Some(["female", "male"][(p / 12) % 2].into()),
                    ethnicity: Some(["white", "asian", "black"][i % 3].into()),
                    base_weight: 1.0 + (i % 7) as f64 / 10.0 + if i == 17 { 30.0 } else { 0.0 },
                    index: Some(40.0 + (i % 9) as f64),
                    choices: vec![
                        1 << ((i + i / 60) % 4),
                        (1 << ((i + i / 60) % 3)) | 1,
                        if i % 5 == 0 { 0 } else { 1 << (i * 7 % 5) },
                    ],
                    ..Row::default()
                }
            })
            .collect();
        let frame = Frame::from_rows(&rows, 0, items.len());
        let layout = QuestionLayout::new(&items);
        let options = WeighOptions { min_respondents: 10, trim: Some(5.0) };
        let w = weigh(&frame, &population, &options, &|_| true).unwrap().remove(0);
        assert!(w.raked && w.trimmed.capped > 0);
        let groupings = groupings(&frame, &w);
        let (_, profiles) = score_cells(&frame, &w, Sample::Invitation, &groupings, &[]);
        let cells = question_cells(&frame, &w, Sample::Invitation, &groupings, &profiles, &items);
        let design = w.design();
        let mut checked = 0;
        for cell in &cells {
            let k = &cell.key;
            let (id, option) = k.measure.split_once('=').unwrap();
            let q = items.iter().position(|i| i.id == id).unwrap();
            let slot = match option {
                "positive" => layout.offset[q] + items[q].options.len(),
                code => layout.offset[q] + items[q].options.iter().position(|o| o.0 == code).unwrap(),
            };
            let mut answer = Answer::default();
            let (mut y, mut member) = (Vec::new(), Vec::new());
            for (r, &i) in w.rows.iter().enumerate() {
                answer.read(frame.choices_of(i), &layout);
                y.push(if answer.slots.contains(&(slot as u32)) { 1.0 } else { 0.0 });
                let in_area = k.area == ENGLAND || w.strata[w.respondents.stratum[r] as usize] == k.area;
                let in_category = k.dimension == ALL
                    || frame.dimension(&k.dimension).and_then(|c| c.get(i)) == Some(k.category.as_str());
                member.push(answer.items.contains(&(q as u32)) && in_area && in_category);
            }
            let oracle = design.mean(&y, &|r| member[r]);
            let e = &cell.estimate;
            assert_eq!(e.n, oracle.n, "{k:?}");
            assert!(
                (e.estimate / 100.0 - oracle.estimate).abs() < 1e-12,
                "{k:?}: {} vs {}",
                e.estimate,
                oracle.estimate
            );
            assert!((e.se / 100.0 - oracle.se).abs() < 1e-8 + 1e-9 * oracle.se, "{k:?}: se {} vs {}", e.se, oracle.se);
            assert!(
                (e.deff - oracle.deff).abs() < 1e-9 * oracle.deff.abs().max(1.0) || !oracle.deff.is_finite(),
                "{k:?}: deff {} vs {}",
                e.deff,
                oracle.deff
            );
            assert_eq!(e.strata, oracle.strata, "{k:?}");
            checked += 1;
        }
        assert!(checked > 100, "{checked} cells");
    }
}
