//! Respondent-level microdata for analysts' own modelling: a pseudonymous
//! id, grouping categories, item, domain and index scores, and the weight —
//! no emails, tokens, free text or times finer than a month.
//!
//! Any combination of the published details (grouping categories, channel
//! and month) held by fewer than ten respondents is coarsened, dropping
//! detail in this order: month, channel, ethnicity, deprivation,
//! conditions, sex, age band, voice; a respondent still in a group under
//! ten with only their ICS left is left out. The file opens with its
//! provenance as `#` lines, as the results CSV does. The file is streamed
//! ICS by ICS, each read twice: first only what weighting and coarsening
//! need (a few dozen bytes a respondent), then again row by row to write,
//! so memory stays flat however many respond.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::{ControlFlow, RangeInclusive};
use std::sync::Arc;

use actix_web::web::Bytes;
use futures_util::stream::Stream;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::app::AppState;
use crate::index::columns::Frame;
use crate::index::frame::{self, Group, PopulationTable, Row};
use crate::index::record::{self, QuestionItem};
use crate::index::scoring::Scoring;
use crate::reports::Request;
use crate::storage::results::{self, ReportRow};
use crate::storage::{DbConn, StorageError};

/// The smallest group a row may describe.
pub const MIN_GROUP: usize = 10;

/// Published detail, first dropped last: level k blanks the last k fields.
const FIELDS: usize = 9; // ics, voice, age_band, sex, long_term_condition, imd_quintile, ethnicity, channel, month

type Combo = [Option<String>; FIELDS];

/// A result row's published detail.
fn row_combo(r: &ReportRow) -> Combo {
    let t = r.texts();
    let text = |v: Option<&str>| v.map(str::to_string);
    [
        text(t.ics_code),
        text(t.voice),
        text(t.age_band),
        text(t.sex),
        text(t.long_term_condition),
        r.imd_quintile.map(|q| q.to_string()),
        text(t.ethnicity),
        Some(t.channel.to_string()),
        Some(r.submitted_on.format("%Y-%m").to_string()),
    ]
}

fn coarsen(c: &Combo, level: usize) -> Combo {
    let mut out = c.clone();
    for field in out.iter_mut().skip(FIELDS - level) {
        *field = None;
    }
    out
}

/// The detail each grouping combination is shown at. A combination's rows
/// are shown at one level; a shown combination must be held by at least
/// `MIN_GROUP` rows shown the same way, so combinations too small are moved
/// to the next coarser level until every shown group is big enough (or the
/// row is left out). Combinations are numbered as they are first added, so
/// each row keeps a number, not its nine details.
#[derive(Default)]
struct Counts {
    known: HashMap<Combo, u32>,
    combos: Vec<Combo>,
    held: Vec<usize>,
    level: Vec<usize>,
}

impl Counts {
    /// Counts one row of this combination; returns the combination's number.
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
                if level < FIELDS {
                    *shown.entry(coarsen(c, level)).or_default() += n;
                }
            }
            let mut changed = false;
            for (c, level) in self.combos.iter().zip(self.level.iter_mut()) {
                if *level < FIELDS && shown[&coarsen(c, *level)] < MIN_GROUP {
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
        (level < FIELDS).then(|| coarsen(&self.combos[k as usize], level))
    }
}

struct Plan {
    survey_id: String,
    pooled: HashMap<i64, bool>,
    /// Versions whose question list is the latest's: only their answers
    /// line up with the `item_` columns.
    same_questions: HashMap<i64, bool>,
    scoring_domains: Vec<String>,
    items: Vec<QuestionItem>,
    channel: Option<String>,
    window: (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>),
}

fn header(plan: &Plan) -> String {
    let mut cols: Vec<String> = [
        "id",
        "ics",
        "voice",
        "population_group",
        "age_band",
        "sex",
        "ethnicity",
        "long_term_condition",
        "imd_quintile",
        "channel",
        "month",
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
fn provenance_lines(
    state: &AppState,
    plan: &Plan,
    used: &std::collections::BTreeMap<Group, crate::index::margins::UsedMargins>,
) -> String {
    let versions: Vec<String> = state
        .surveys
        .all()
        .filter(|v| plan.pooled.get(&v.version.id).copied().unwrap_or(false))
        .map(|v| format!("{} (sha256 {})", v.version.version_label, v.version.content_hash))
        .collect();
    let lines = [
        ("survey", plan.survey_id.clone()),
        ("versions", versions.join("; ")),
        (
            "response window",
            format!(
                "{} to {}",
                plan.window.0.map_or("start".into(), |d| d.to_string()),
                plan.window.1.map_or("now".into(), |d| d.to_string())
            ),
        ),
        ("channels", plan.channel.clone().unwrap_or_else(|| "all channels".into())),
        ("weighting", crate::reports::weighting_description(used, &[])),
        ("population", crate::reference::POPULATION_SOURCE.to_string()),
        (
            "disclosure control",
            format!(
                "every combination of the published details is held by at least {MIN_GROUP} respondents; smaller ones are coarsened (month, channel, ethnicity, deprivation, conditions, sex, age band, voice blanked in turn) or left out; no emails, tokens, free text or dates finer than a month"
            ),
        ),
        ("software", format!("joinedup {}", env!("CARGO_PKG_VERSION"))),
        ("generated at", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    ];
    lines.iter().map(|(k, v)| format!("# {k}: {}\n", crate::outputs::one_line(v))).collect()
}

/// Streams the microdata CSV for `request`.
pub fn stream(state: Arc<AppState>, request: Request) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || {
        let result = db.get().and_then(|mut conn| produce(&mut conn, &state, &request, &tx));
        if let Err(e) = result {
            tracing::error!(error = %e, "microdata download failed");
            let _ = tx.blocking_send(Err(std::io::Error::other("the microdata could not be produced")));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

fn produce(
    conn: &mut DbConn,
    state: &AppState,
    request: &Request,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), StorageError> {
    let Some(latest) = state.surveys.latest(&request.survey_id) else { return Ok(()) };
    let d = &latest.definition;
    let scoring = Scoring::new(d);
    let pooled: HashMap<i64, bool> = state
        .surveys
        .all()
        .filter(|v| v.definition.id == request.survey_id)
        .map(|v| (v.version.id, Scoring::new(&v.definition).signature == scoring.signature))
        .collect();
    let item_ids: Vec<String> = record::question_items(d).into_iter().map(|i| i.id).collect();
    let same_questions: HashMap<i64, bool> = state
        .surveys
        .all()
        .filter(|v| v.definition.id == request.survey_id)
        .map(|v| {
            let ids: Vec<String> = record::question_items(&v.definition).into_iter().map(|i| i.id).collect();
            (v.version.id, ids == item_ids)
        })
        .collect();
    let plan = Plan {
        survey_id: request.survey_id.clone(),
        pooled,
        same_questions,
        scoring_domains: d.domains.iter().map(|x| x.id.clone()).collect(),
        items: record::question_items(d),
        channel: request.channel.clone(),
        window: (request.from, request.to),
    };
    let secret = state.secret.expose().to_string();
    // Weighted as the results are, with the margins in use; the provenance
    // and header go first, so the download starts at once.
    let (mut population, _) = crate::reports::reference_tables();
    let used = match crate::population_margins::in_use(conn)? {
        Ok(used) => used,
        Err(message) => {
            tracing::warn!(%message, "microdata weighted without the uploaded margins");
            Default::default()
        }
    };
    population.uploaded = crate::population_margins::sets(&used);
    let provenance = provenance_lines(state, &plan, &used);
    if tx.blocking_send(Ok(Bytes::from(provenance + &header(&plan)))).is_err() {
        return Ok(());
    }
    // One ICS at a time. A combination always keeps its ICS (coarsening
    // never removes it), so counting each ICS apart gives the same levels
    // as counting all at once. Rows submitted after the download began
    // are left for the next one, so both reads of an ICS see the same rows.
    let Some((first, last)) = results::id_range(conn, &plan.survey_id, plan.window.0, plan.window.1)? else {
        return Ok(());
    };
    let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    for ics in results::ics_codes(conn, &plan.survey_id, plan.window)? {
        let kept = weigh_ics(conn, &plan, &ics, first..=last, &population)?;
        if !write_ics(conn, &plan, &ics, first..=last, &kept, &mac, tx)? {
            return Ok(());
        }
    }
    Ok(())
}

/// What the first read keeps of an ICS's rows: each row's response id,
/// grouping combination (a number into `counts`), weight and population,
/// and the settled combinations.
#[derive(Default)]
struct IcsRows {
    ids: Vec<i64>,
    combo: Vec<u32>,
    counts: Counts,
    weight: Vec<Option<f64>>,
    group: Vec<Option<Group>>,
}

/// The first read of an ICS: its pooled rows' grouping details only (no
/// scores or answers), weighted as the results are and their combinations
/// counted and settled.
fn weigh_ics(
    conn: &mut DbConn,
    plan: &Plan,
    ics: &str,
    ids: RangeInclusive<i64>,
    population: &PopulationTable,
) -> Result<IcsRows, StorageError> {
    let mut frame = Frame::new(0, 0);
    let mut row = Row::default();
    let mut kept = IcsRows::default();
    results::each_for_report(conn, &plan.survey_id, plan.window, ids, Some(ics), |id, r| {
        if plan.pooled.get(&r.survey_version_id).copied().unwrap_or(false)
            && plan.channel.as_ref().is_none_or(|c| c == r.texts().channel)
        {
            kept.combo.push(kept.counts.add(row_combo(&r)));
            crate::reports::fill_row(&mut row, &r, 0, 0, false);
            frame.push(&row);
            kept.ids.push(id);
        }
        ControlFlow::Continue(())
    })?;
    kept.counts.settle();
    kept.group = frame.groups();
    kept.weight = vec![None; frame.len()];
    if let Ok(weighed) = frame::weigh(&frame, population, 10) {
        for w in weighed {
            for (k, &i) in w.rows.iter().enumerate() {
                kept.weight[i] = Some(w.weighted.weights[k]);
            }
        }
    }
    Ok(kept)
}

/// Bytes of CSV gathered before they are sent on.
const CHUNK_BYTES: usize = 64 * 1024;

/// The second read of an ICS: its rows again, each written with what the
/// first read worked out and sent on in chunks. `false` if the download
/// was abandoned.
fn write_ics(
    conn: &mut DbConn,
    plan: &Plan,
    ics: &str,
    ids: RangeInclusive<i64>,
    kept: &IcsRows,
    mac: &Hmac<Sha256>,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<bool, StorageError> {
    let (domains, items) = (plan.scoring_domains.len(), plan.items.len());
    let mut row = Row::default();
    let mut out = String::with_capacity(CHUNK_BYTES + 4096);
    let mut next = 0;
    let mut open = true;
    results::each_for_report(conn, &plan.survey_id, plan.window, ids, Some(ics), |id, r| {
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
        let same = plan.same_questions.get(&r.survey_version_id).copied().unwrap_or(false);
        crate::reports::fill_row(&mut row, &r, domains, items, same);
        let mut id_mac = mac.clone();
        id_mac.update(format!("microdata:{id}").as_bytes());
        let pseudonym = hex::encode(&id_mac.finalize().into_bytes()[..8]);
        write_line(&mut out, plan, &pseudonym, &shown, kept.group[i], kept.weight[i], &r, &row);
        if out.len() >= CHUNK_BYTES {
            open = tx.blocking_send(Ok(Bytes::from(std::mem::take(&mut out)))).is_ok();
            out.reserve(CHUNK_BYTES + 4096);
        }
        if open { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    })?;
    if open && !out.is_empty() {
        open = tx.blocking_send(Ok(Bytes::from(out))).is_ok();
    }
    Ok(open)
}

/// One respondent's line: pseudonym, the details shown, weight, index,
/// domain scores and scored items' scores.
#[allow(clippy::too_many_arguments)]
fn write_line(
    out: &mut String,
    plan: &Plan,
    pseudonym: &str,
    shown: &Combo,
    group: Option<Group>,
    weight: Option<f64>,
    r: &ReportRow,
    row: &Row,
) {
    // The group would say the age band of an on-behalf answer (children
    // or adults): shown for it only when the age band is.
    let group = if shown[1].is_some() && (shown[1].as_deref() != Some("carer_on_behalf") || shown[2].is_some()) {
        group.map(|g| g.code()).unwrap_or_default()
    } else {
        ""
    };
    let _ = write!(
        out,
        "{pseudonym},{},{},{group},{},{},{},{},{},{},{}",
        field(&shown[0]),
        field(&shown[1]),
        field(&shown[2]),
        field(&shown[3]),
        field(&shown[6]),
        field(&shown[4]),
        field(&shown[5]),
        field(&shown[7]),
        field(&shown[8]),
    );
    let domains = (0..plan.scoring_domains.len()).map(|d| row.domains.get(d).copied().flatten());
    for value in [weight, r.index_score].into_iter().chain(domains) {
        push_number(out, value);
    }
    for (q, item) in plan.items.iter().enumerate() {
        if item.is_scored() {
            let picks = row.choices.get(q).copied().unwrap_or(0);
            let first = (picks != 0).then(|| picks.trailing_zeros() as usize);
            push_number(out, first.and_then(|o| item.options.get(o)).and_then(|o| o.2));
        }
    }
    out.push('\n');
}

/// A detail as shown (empty if blanked).
fn field(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or_default()
}

/// A comma, then the number (nothing if there is none).
fn push_number(out: &mut String, value: Option<f64>) {
    out.push(',');
    if let Some(x) = value {
        let _ = write!(out, "{x}");
    }
}
