//! Respondent-level microdata of one release and one sample, for
//! researchers' own modelling: the ICS, population group and grouping
//! categories as published (mode included), the index, domain and item
//! scores, and a weight — no emails, tokens, free text, dates or channels.
//!
//! What keeps it safe (docs/outputs.md §6 rule 6 and §11):
//! * Any combination of the grouping details held by fewer than ten
//!   respondents is coarsened, in this order: ethnicity, deprivation,
//!   conditions, mode, voice and sex blanked, then the age band widened to
//!   three adult bands, then two, then blanked. The ICS and population
//!   group are never dropped; a respondent still in a group under ten with
//!   only those left is left out (such cells are never published anyway).
//! * The weight is the respondent's base weight (1 / selection
//!   probability, set by the sample design) times the adjustment of their
//!   shown combination (what raking, scaling and trimming did to everyone
//!   shown alike, keeping the combination's total), not their own: that
//!   would give away a blanked age band and sex (the raking cell). The base
//!   weight is shown only as the mean of a band of at least ten rows of the
//!   same combination: the survey lead sets selection probabilities, and a
//!   probability held by one invitee would mark their row. Where nothing is
//!   blanked and each base weight is shared by ten, this is the
//!   respondent's own weight, so the file reproduces the release's figures.
//! * Each download numbers its rows afresh (random ids) and shuffles them
//!   within each ICS, so nothing links two downloads or reveals who
//!   answered when.
//! * A release is a closed month and never changes, so two downloads of it
//!   hold the same rows (as a multiset).
//!
//! The file opens with its provenance as `#` lines. It is streamed ICS by
//! ICS, each read twice (first what weighting and coarsening need, then the
//! rows to write), so memory stays within one ICS's rows.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ops::{ControlFlow, RangeInclusive};
use std::sync::Arc;

use actix_web::web::Bytes;
use futures_util::stream::Stream;
use rand::seq::SliceRandom;

use crate::index::columns::Frame;
use crate::index::frame::{self, Group, PopulationTable, Row, WeighOptions};
use crate::index::record::{self, QuestionItem};
use crate::index::sample::Sample;
use crate::results::reports::{Pooling, Report};
use crate::storage::results::{self, ReportRow};
use crate::storage::{Db, DbConn, StorageError};

/// The smallest group a row may describe.
pub const MIN_GROUP: usize = 10;

/// The droppable details, in this order: age band, sex, voice, mode,
/// long-term conditions, deprivation quintile, ethnicity.
const DETAILS: usize = 7;

/// How far a combination can be coarsened: each level generalises one
/// more detail, in this order: blank ethnicity, deprivation, conditions,
/// mode, voice and sex, then widen the age band to three adult bands, then
/// to two, then blank it. Age band and sex go last and in steps: they are
/// the raking cells, so the more of them a row keeps, the closer its weight
/// is to its own. Mode goes after the characteristics of the person (the
/// most identifying, with the most categories) and before voice: paper is
/// the rarer mode, so it splits many combinations, while voice says who
/// answered and so what the answers are about; neither changes a weight.
const LEVELS: usize = 9;

/// (ICS, group) and the droppable details.
type Combo = (String, Group, [Option<String>; DETAILS]);

/// A result row's published detail (its group given).
fn row_combo(r: &ReportRow, group: Group) -> Combo {
    let t = r.texts();
    let text = |v: Option<&str>| v.map(str::to_string);
    (
        t.ics_code.unwrap_or_default().to_string(),
        group,
        [
            text(t.age_band),
            text(t.sex),
            text(t.voice),
            Some(t.mode).filter(|m| !m.is_empty()).map(str::to_string),
            text(t.long_term_condition),
            r.imd_quintile.map(|q| q.to_string()),
            text(t.ethnicity),
        ],
    )
}

/// An adult age band widened: to three bands, or (wider) to two.
fn widen(band: &str, wider: bool) -> &'static str {
    match (band, wider) {
        ("0-17", _) => "0-17",
        ("18-34" | "35-54", _) => "18-54",
        ("55-64" | "65-74", false) => "55-74",
        ("75-84" | "85+", false) => "75+",
        (_, true) => "55+",
        (_, false) => "55-74",
    }
}

fn coarsen(c: &Combo, level: usize) -> Combo {
    let mut out = c.clone();
    let details = &mut out.2;
    for step in 1..=level.min(LEVELS) {
        match step {
            1 => details[6] = None,
            2 => details[5] = None,
            3 => details[4] = None,
            4 => details[3] = None,
            5 => details[2] = None,
            6 => details[1] = None,
            7 | 8 => details[0] = details[0].as_deref().map(|b| widen(b, step == 8).to_string()),
            _ => details[0] = None,
        }
    }
    out
}

/// The detail each grouping combination is shown at. A combination's rows
/// are shown at one level; a shown combination must be held by at least
/// `MIN_GROUP` rows shown the same way, so combinations too small are moved
/// to the next coarser level until every shown group is big enough (or the
/// rows are left out). Combinations are numbered as they are first added.
#[derive(Default)]
struct Counts {
    known: HashMap<Combo, u32>,
    combos: Vec<Combo>,
    held: Vec<usize>,
    level: Vec<usize>,
}

impl Counts {
    fn add(&mut self, c: Combo) -> u32 {
        let k = match self.known.get(&c) {
            Some(&k) => k,
            None => {
                let k = self.combos.len() as u32;
                self.known.insert(c.clone(), k);
                self.combos.push(c);
                self.held.push(0);
                k
            }
        };
        self.held[k as usize] += 1;
        k
    }

    fn settle(&mut self) {
        self.level = vec![0; self.combos.len()];
        loop {
            let mut shown: HashMap<Combo, usize> = HashMap::new();
            for ((c, n), &level) in self.combos.iter().zip(&self.held).zip(&self.level) {
                if level <= LEVELS {
                    *shown.entry(coarsen(c, level)).or_default() += n;
                }
            }
            let mut changed = false;
            for (c, level) in self.combos.iter().zip(self.level.iter_mut()) {
                if *level <= LEVELS && shown[&coarsen(c, *level)] < MIN_GROUP {
                    *level += 1;
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }

    /// Combination `k` as it is shown, or `None` if its rows are left out.
    fn shown(&self, k: u32) -> Option<Combo> {
        let level = self.level[k as usize];
        (level <= LEVELS).then(|| coarsen(&self.combos[k as usize], level))
    }
}

/// What a download needs to know of the survey.
pub struct Plan {
    survey_id: String,
    pooling: Pooling,
    scoring_domains: Vec<String>,
    items: Vec<QuestionItem>,
    versions: Vec<String>,
}

impl Plan {
    pub fn new(registry: &crate::surveys::SurveyRegistry, survey_id: &str) -> Option<Plan> {
        let latest = registry.latest(survey_id)?;
        let pooling = Pooling::of(registry, survey_id)?;
        let versions = registry
            .all()
            .filter(|v| pooling.pooled.get(&v.version.id).copied().unwrap_or(false))
            .map(|v| format!("{} (sha256 {})", v.version.version_label, v.version.content_hash))
            .collect();
        Some(Plan {
            survey_id: survey_id.to_string(),
            pooling,
            scoring_domains: latest.definition.domains.iter().map(|x| x.id.clone()).collect(),
            items: record::question_items(&latest.definition),
            versions,
        })
    }
}

fn header(plan: &Plan) -> String {
    let mut cols: Vec<String> = [
        "id",
        "release",
        "sample",
        "ics",
        "population_group",
        "voice",
        "mode",
        "age_band",
        "sex",
        "ethnicity",
        "long_term_condition",
        "imd_quintile",
        "weight",
        "index",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cols.extend(plan.scoring_domains.iter().map(|d| format!("domain_{d}")));
    cols.extend(plan.items.iter().filter(|i| i.is_scored()).map(|i| format!("item_{}", i.id)));
    cols.join(",") + "\n"
}

/// Where the file came from, as `#` lines before the header.
fn provenance_lines(plan: &Plan, report: &Report, sample: Sample) -> String {
    let p = &report.provenance;
    let lines = [
        ("survey", format!("{} ({})", plan.survey_id, p.survey_title)),
        ("release", format!("{} (responses submitted {} to {})", p.release, p.release_from, p.release_to)),
        ("sample", format!("{} ({})", sample.code(), sample.label())),
        ("versions", plan.versions.join("; ")),
        ("weighting", p.weighting.clone()),
        ("trimming", p.trimming.lines().next().unwrap_or_default().split("; ").next().unwrap_or_default().to_string()),
        ("population", p.population_source.clone()),
        (
            "design",
            "svydesign(ids = ~1, strata = ~ics, weights = ~weight) per population_group reproduces the release's ICS figures; the weight is the base weight times the adjustment (raking, scaling, trimming) of the respondent's shown combination, which keeps each combination's total".to_string(),
        ),
        (
            "disclosure control",
            format!(
                "every combination of the details shown is held by at least {MIN_GROUP} respondents; smaller ones are coarsened (ethnicity, deprivation, conditions, mode, voice, sex blanked in turn, then age bands widened to 18-54/55-74/75+, to 18-54/55+, then blanked) or left out; each row's weight adjustment is its shown combination's; ids are fresh for each download and rows are shuffled within each ICS; no emails, tokens, free text, dates or channels"
            ),
        ),
        ("software", format!("joinedup {}", env!("CARGO_PKG_VERSION"))),
    ];
    lines.iter().map(|(k, v)| format!("# {k}: {}\n", crate::results::outputs::one_line(v))).collect()
}

/// Streams the microdata CSV of `report`'s release for one sample.
pub fn stream(
    db: Db,
    plan: Plan,
    report: Arc<Report>,
    sample: Sample,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::task::spawn_blocking(move || {
        // Never a withdrawn person's row from a replica that has not yet
        // replayed the withdrawal: caught up, or the primary.
        let result = db.caught_up_or_primary().and_then(|db| db.get()).and_then(|mut conn| {
            produce(&mut conn, &plan, &report, sample, &mut |chunk| tx.blocking_send(Ok(chunk)).is_ok())
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "microdata download failed");
            let _ = tx.blocking_send(Err(std::io::Error::other("the microdata could not be produced")));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

/// Writes the file through `send` (which answers `false` once the reader
/// has gone). Pure of HTTP, so tests and commands can collect it.
pub fn produce(
    conn: &mut DbConn,
    plan: &Plan,
    report: &Report,
    sample: Sample,
    send: &mut dyn FnMut(Bytes) -> bool,
) -> Result<(), StorageError> {
    // Weighted as the release was, with the margins it used.
    let (mut population, _) = crate::results::reports::reference_tables();
    match crate::results::population_margins::versions(conn, &report.margin_ids)? {
        Ok(used) => population.uploaded = crate::results::population_margins::sets(&used),
        Err(message) => tracing::warn!(%message, "microdata weighted without the uploaded margins"),
    }
    if !send(Bytes::from(provenance_lines(plan, report, sample) + &header(plan))) {
        return Ok(());
    }
    let window = (Some(report.period.first_day()), Some(report.period.last_day()));
    let Some((first, last)) = results::id_range(conn, &plan.survey_id, window.0, window.1)? else {
        return Ok(());
    };
    let read = Read { plan, window, sample, release: report.period.to_string() };
    let options = WeighOptions { min_respondents: 10, trim: report.options.trim };
    for ics in results::ics_codes(conn, &plan.survey_id, window)? {
        let kept = weigh_ics(conn, &read, &ics, first..=last, &population, &options)?;
        if !write_ics(conn, &read, &ics, first..=last, &kept, send)? {
            return Ok(());
        }
    }
    Ok(())
}

struct Read<'a> {
    plan: &'a Plan,
    window: (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>),
    sample: Sample,
    release: String,
}

impl Read<'_> {
    fn wants(&self, r: &ReportRow) -> bool {
        self.plan.pooling.pooled.get(&r.survey_version_id).copied().unwrap_or(false)
            && Sample::of_channel(r.texts().channel) == self.sample
    }
}

/// What the first read keeps of an ICS's rows: each row's response id,
/// combination (a number into `counts`) and population group, and each
/// shown combination's mean weight.
#[derive(Default)]
struct IcsRows {
    ids: Vec<i64>,
    combo: Vec<u32>,
    counts: Counts,
    /// Each shown combination's adjustment (its weight over its base
    /// weight): raking cells blanked from a row cannot be read off it.
    adjustment: HashMap<Combo, f64>,
    /// Each row's base weight (1 / selection probability).
    base: Vec<f64>,
}

fn weigh_ics(
    conn: &mut DbConn,
    read: &Read<'_>,
    ics: &str,
    ids: RangeInclusive<i64>,
    population: &PopulationTable,
    options: &WeighOptions,
) -> Result<IcsRows, StorageError> {
    let mut frame = Frame::new(0, 0);
    let mut row = Row::default();
    let mut kept = IcsRows::default();
    let mut groups = Vec::new();
    results::each_for_report(conn, &read.plan.survey_id, read.window, ids, Some(ics), |id, r| {
        if !read.wants(&r) {
            return ControlFlow::Continue(());
        }
        crate::results::reports::fill_row(&mut row, &r, 0, 0, false);
        let Some(group) = Group::of(&row) else { return ControlFlow::Continue(()) };
        kept.combo.push(kept.counts.add(row_combo(&r, group)));
        groups.push(group);
        frame.push(&row);
        kept.ids.push(id);
        ControlFlow::Continue(())
    })?;
    kept.counts.settle();
    // Each row's adjustment: its final weight over its base weight (what
    // raking, scaling and trimming did to it).
    let mut adjustment = vec![None; frame.len()];
    if let Ok(weighed) = frame::weigh(&frame, population, options, &|_| true) {
        for w in weighed {
            for (k, &i) in w.rows.iter().enumerate() {
                adjustment[i] = Some(w.weighted.weights[k] / w.respondents.base_weight[k]);
            }
        }
    }
    // Per shown combination: its weight over its base weight, so each
    // combination keeps its total weight.
    let mut sums: HashMap<Combo, (f64, f64)> = HashMap::new();
    for ((k, a), base) in kept.combo.iter().zip(&adjustment).zip(&frame.base_weight) {
        if let (Some(shown), Some(a)) = (kept.counts.shown(*k), a) {
            let e = sums.entry(shown).or_default();
            e.0 += a * base;
            e.1 += base;
        }
    }
    kept.adjustment = sums.into_iter().map(|(c, (weight, base))| (c, weight / base)).collect();
    // Base weights banded within each shown combination.
    let mut members: HashMap<Combo, Vec<usize>> = HashMap::new();
    for (i, k) in kept.combo.iter().enumerate() {
        if let Some(shown) = kept.counts.shown(*k) {
            members.entry(shown).or_default().push(i);
        }
    }
    kept.base = frame.base_weight.clone();
    for rows in members.values() {
        let own: Vec<f64> = rows.iter().map(|&i| frame.base_weight[i]).collect();
        for (&i, shown) in rows.iter().zip(banded(&own)) {
            kept.base[i] = shown;
        }
    }
    Ok(kept)
}

/// Base weights as a microdata file shows them: sorted, cut into bands of
/// at least `MIN_GROUP` rows (never between equal weights; a short last
/// band joins the one before), each row given its band's mean. Totals are
/// kept, and a weight shared by `MIN_GROUP` rows or more is left as it is,
/// so a sample drawn with a few stratum probabilities shows them exactly.
/// In the input's order.
fn banded(weights: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| weights[a].total_cmp(&weights[b]));
    let mut bands: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    for end in 1..=order.len() {
        let boundary = end == order.len() || weights[order[end]] != weights[order[end - 1]];
        if boundary && end - start >= MIN_GROUP {
            bands.push(start..end);
            start = end;
        }
    }
    if start < order.len() {
        match bands.last_mut() {
            Some(last) => last.end = order.len(),
            None => bands.push(start..order.len()),
        }
    }
    let mut out = vec![0.0; weights.len()];
    for band in bands {
        let (low, high) = (weights[order[band.start]], weights[order[band.end - 1]]);
        let mean =
            if low == high { low } else { band.clone().map(|k| weights[order[k]]).sum::<f64>() / band.len() as f64 };
        for k in band {
            out[order[k]] = mean;
        }
    }
    out
}

/// Bytes of CSV gathered before they are sent on.
const CHUNK_BYTES: usize = 64 * 1024;

/// The second read of an ICS: its rows again, each written with what the
/// first read worked out, then shuffled and sent on in chunks. `false` if
/// the download was abandoned.
fn write_ics(
    conn: &mut DbConn,
    read: &Read<'_>,
    ics: &str,
    ids: RangeInclusive<i64>,
    kept: &IcsRows,
    send: &mut dyn FnMut(Bytes) -> bool,
) -> Result<bool, StorageError> {
    let plan = read.plan;
    let (domains, items) = (plan.scoring_domains.len(), plan.items.len());
    let mut row = Row::default();
    let mut lines: Vec<String> = Vec::with_capacity(kept.ids.len());
    let mut next = 0;
    results::each_for_report(conn, &plan.survey_id, read.window, ids, Some(ics), |id, r| {
        // Both reads go in response order: step to this row's place in the
        // first, skipping rows the first read left out.
        while next < kept.ids.len() && kept.ids[next] < id {
            next += 1;
        }
        if next == kept.ids.len() || kept.ids[next] != id {
            return ControlFlow::Continue(());
        }
        let i = next;
        next += 1;
        let Some(shown) = kept.counts.shown(kept.combo[i]) else { return ControlFlow::Continue(()) };
        let same = plan.pooling.same_questions.get(&r.survey_version_id).copied().unwrap_or(false);
        crate::results::reports::fill_row(&mut row, &r, domains, items, same);
        let mut line = String::with_capacity(256);
        let weight = kept.adjustment.get(&shown).map(|a| a * kept.base[i]);
        write_line(&mut line, read, &shown, weight, &r, &row);
        lines.push(line);
        ControlFlow::Continue(())
    })?;
    let mut rng = rand::rng();
    lines.shuffle(&mut rng);
    let mut out = String::with_capacity(CHUNK_BYTES + 4096);
    for line in lines {
        let _ = write!(out, "{:016x}", rand::random::<u64>());
        out.push_str(&line);
        if out.len() >= CHUNK_BYTES && !send(Bytes::from(std::mem::take(&mut out))) {
            return Ok(false);
        }
    }
    Ok(out.is_empty() || send(Bytes::from(out)))
}

/// One respondent's line after its id: the details shown, the shown
/// combination's weight, index, domain scores and scored items' scores.
fn write_line(out: &mut String, read: &Read<'_>, shown: &Combo, weight: Option<f64>, r: &ReportRow, row: &Row) {
    let (ics, group, details) = shown;
    let field = |v: &Option<String>| crate::results::outputs::safe_text(v.as_deref().unwrap_or_default()).into_owned();
    let _ = write!(
        out,
        ",{},{},{},{},{},{},{},{},{},{},{}",
        read.release,
        read.sample.code(),
        crate::results::outputs::safe_text(ics),
        group.code(),
        field(&details[2]),
        field(&details[3]),
        field(&details[0]),
        field(&details[1]),
        field(&details[6]),
        field(&details[4]),
        field(&details[5]),
    );
    let domains = (0..read.plan.scoring_domains.len()).map(|d| row.domains.get(d).copied().flatten());
    for value in [weight, r.index_score].into_iter().chain(domains) {
        push_number(out, value);
    }
    for (q, item) in read.plan.items.iter().enumerate() {
        if item.is_scored() {
            let picks = row.choices.get(q).copied().unwrap_or(0);
            let first = (picks != 0).then(|| picks.trailing_zeros() as usize);
            push_number(out, first.and_then(|o| item.options.get(o)).and_then(|o| o.2));
        }
    }
    out.push('\n');
}

/// A comma, then the number (nothing if there is none).
fn push_number(out: &mut String, value: Option<f64>) {
    out.push(',');
    if let Some(x) = value.filter(|x| x.is_finite()) {
        let _ = write!(out, "{x}");
    }
}

/// A whole file in memory (tests, and commands that write a file).
pub fn collect(conn: &mut DbConn, plan: &Plan, report: &Report, sample: Sample) -> Result<String, StorageError> {
    let mut bytes = Vec::new();
    produce(conn, plan, report, sample, &mut |chunk| {
        bytes.extend_from_slice(&chunk);
        true
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The samples a release has, for choosing one.
pub fn samples(report: &Report) -> BTreeMap<Sample, usize> {
    report.results.samples.iter().filter(|s| s.sample != Sample::Pooled).map(|s| (s.sample, s.respondents)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (age band, sex, voice, mode, conditions, quintile, ethnicity).
    fn combo(details: [&str; DETAILS]) -> Combo {
        ("E1".into(), Group::People, details.map(|d| Some(d.to_string())))
    }

    fn shown_with(counts: &[([&str; DETAILS], usize)]) -> Vec<Option<Combo>> {
        let mut c = Counts::default();
        let keys: Vec<u32> = counts.iter().map(|(d, n)| (0..*n).map(|_| c.add(combo(*d))).last().unwrap()).collect();
        c.settle();
        keys.into_iter().map(|k| c.shown(k)).collect()
    }

    #[test]
    fn mode_is_blanked_after_the_persons_details_and_before_voice() {
        let paper_asian = ["75-84", "female", "patient", "paper", "one", "2", "asian"];
        let paper_white = ["75-84", "female", "patient", "paper", "one", "2", "white"];
        let online_white = ["75-84", "female", "patient", "online", "one", "2", "white"];
        // Six and six on paper: ethnicity goes, and their mode stays.
        let shown = shown_with(&[(paper_asian, 6), (paper_white, 6), (online_white, 12)]);
        let paper = shown[0].clone().unwrap();
        assert_eq!(shown[1], Some(paper.clone()));
        assert_eq!((paper.2[3].as_deref(), paper.2[6].as_deref()), (Some("paper"), None));
        assert_eq!(shown[2], Some(combo(online_white)), "twelve alike online keep everything");
        // Six on paper and six online, alike otherwise: everything before
        // mode goes, then mode, and the twelve share voice, sex and age.
        let shown = shown_with(&[(paper_white, 6), (online_white, 6)]);
        assert_eq!(shown[0], shown[1]);
        let both = shown[0].clone().unwrap();
        assert_eq!(
            both.2,
            [Some("75-84".into()), Some("female".into()), Some("patient".into()), None, None, None, None]
        );
    }

    #[test]
    fn base_weights_shared_by_ten_stay_and_rare_ones_are_pooled() {
        // Two strata of a dozen each keep their weights exactly.
        let mut strata = vec![2.5; 12];
        strata.extend(vec![1.25; 12]);
        assert_eq!(banded(&strata), strata);
        // One invitee given a probability of their own joins the band
        // before: no weight is held by fewer than ten rows.
        let mut marked = vec![2.0; 20];
        marked.push(7.0);
        let shown = banded(&marked);
        assert!(shown.iter().all(|&w| (w - 47.0 / 21.0).abs() < 1e-12), "{shown:?}");
        // Every weight different (the demo's): bands of ten, totals kept.
        let distinct: Vec<f64> = (0..25).map(|k| 1.0 + k as f64 / 10.0).rev().collect();
        let shown = banded(&distinct);
        let total = |v: &[f64]| v.iter().sum::<f64>();
        assert!((total(&shown) - total(&distinct)).abs() < 1e-9);
        let mut held: HashMap<u64, usize> = HashMap::new();
        for w in &shown {
            *held.entry(w.to_bits()).or_default() += 1;
        }
        assert!(held.values().all(|&n| n >= MIN_GROUP), "{held:?}");
        assert_eq!(held.len(), 2, "25 rows: a band of 10 and one of 15");
        // Fewer rows than a band: one mean.
        assert_eq!(banded(&[1.0, 3.0]), vec![2.0, 2.0]);
        assert!(banded(&[]).is_empty());
    }
}
