//! Respondent-level microdata for analysts' own modelling: a pseudonymous
//! id, grouping categories, item, domain and index scores, and the weight —
//! no emails, tokens, free text or times finer than a month.
//!
//! Any combination of the published details (grouping categories, channel
//! and month) held by fewer than ten respondents is coarsened, dropping
//! detail in this order: month, channel, ethnicity, deprivation,
//! conditions, sex, age band, voice; a respondent still in a group under
//! ten with only their ICS left is left out. The file opens with its
//! provenance as `#` lines, as the results CSV does. The file
//! is streamed ICS by ICS: each ICS is read, its combinations counted,
//! then weighted and written before the next is read.

use std::collections::HashMap;
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
use crate::storage::results::{self, ResultRow};
use crate::storage::{DbConn, StorageError};

/// The smallest group a row may describe.
pub const MIN_GROUP: usize = 10;

/// Published detail, first dropped last: level k blanks the last k fields.
const FIELDS: usize = 9; // ics, voice, age_band, sex, long_term_condition, imd_quintile, ethnicity, channel, month

type Combo = [Option<String>; FIELDS];

/// A result row's published detail.
fn row_combo(r: &ResultRow) -> Combo {
    [
        r.ics_code.clone(),
        r.voice.clone(),
        r.age_band.clone(),
        r.sex.clone(),
        r.long_term_condition.clone(),
        r.imd_quintile.map(|q| q.to_string()),
        r.ethnicity.clone(),
        Some(r.channel.clone()),
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
/// row is left out).
#[derive(Default)]
struct Counts {
    full: HashMap<Combo, usize>,
    level: HashMap<Combo, usize>,
}

impl Counts {
    fn add(&mut self, c: &Combo) {
        *self.full.entry(c.clone()).or_default() += 1;
    }

    fn settle(&mut self) {
        self.level = self.full.keys().map(|c| (c.clone(), 0)).collect();
        loop {
            let mut shown: HashMap<Combo, usize> = HashMap::new();
            for (c, n) in &self.full {
                let level = self.level[c];
                if level < FIELDS {
                    *shown.entry(coarsen(c, level)).or_default() += n;
                }
            }
            let mut changed = false;
            for (c, level) in self.level.iter_mut() {
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

    /// The level a row is shown at, or `None` if it is left out.
    fn level(&self, c: &Combo) -> Option<usize> {
        self.level.get(c).copied().filter(|&l| l < FIELDS)
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

fn field(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn number(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
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
    // One ICS at a time: its rows are read, its grouping combinations
    // counted and settled, then it is weighted and written. A combination
    // always keeps its ICS (coarsening never removes it), so counting each
    // ICS apart gives the same levels as counting all at once, and memory
    // is bounded by the largest ICS, not by the whole survey.
    for ics in results::ics_codes(conn, &plan.survey_id, plan.window)? {
        let stored = results::for_survey_ics(conn, &plan.survey_id, &ics, plan.window)?;
        let stored: Vec<&ResultRow> = stored
            .iter()
            .filter(|r| {
                plan.pooled.get(&r.survey_version_id).copied().unwrap_or(false)
                    && plan.channel.as_ref().is_none_or(|c| *c == r.channel)
            })
            .collect();
        let combos: Vec<Combo> = stored.iter().map(|r| row_combo(r)).collect();
        let mut counts = Counts::default();
        for c in &combos {
            counts.add(c);
        }
        counts.settle();
        let chunk = write_ics(&plan, &stored, &combos, &population, &counts, &secret);
        if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

fn write_ics(
    plan: &Plan,
    stored: &[&ResultRow],
    combos: &[Combo],
    population: &PopulationTable,
    counts: &Counts,
    secret: &str,
) -> String {
    let (domains, items) = (plan.scoring_domains.len(), plan.items.len());
    let mut rows = Frame::new(domains, items);
    let mut row = Row::default();
    for r in stored {
        let same = plan.same_questions.get(&r.survey_version_id).copied().unwrap_or(false);
        crate::reports::fill_row(&mut row, &r.report_columns(), domains, items, same);
        rows.push(&row);
    }
    let groups = rows.groups();
    let mut weight = vec![None; rows.len()];
    if let Ok(weighed) = frame::weigh(&rows, population, 10) {
        for w in weighed {
            for (k, &i) in w.rows.iter().enumerate() {
                weight[i] = Some(w.weighted.weights[k]);
            }
        }
    }
    let mut out = String::new();
    for (i, (r, w)) in stored.iter().zip(&weight).enumerate() {
        let c = &combos[i];
        let Some(level) = counts.level(c) else { continue };
        let shown = coarsen(c, level);
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("microdata:{}", r.response_id).as_bytes());
        let id = hex::encode(&mac.finalize().into_bytes()[..8]);
        let group = groups[i].map(|g| g.code()).unwrap_or_default();
        let mut fields = vec![
            id,
            field(&shown[0]),
            field(&shown[1]),
            // The group would say the age band of an on-behalf answer
            // (children or adults): shown for it only when the age band is.
            if shown[1].is_some() && (shown[1].as_deref() != Some("carer_on_behalf") || shown[2].is_some()) {
                group.to_string()
            } else {
                String::new()
            },
            field(&shown[2]),
            field(&shown[3]),
            field(&shown[6]),
            field(&shown[4]),
            field(&shown[5]),
            field(&shown[7]),
            field(&shown[8]),
            number(*w),
            number(r.index_score),
        ];
        fields.extend(rows.domains.iter().map(|column| number(column[i])));
        for (item, picks) in plan.items.iter().zip(rows.choices_of(i)) {
            if item.is_scored() {
                let first = (*picks != 0).then(|| picks.trailing_zeros() as usize);
                fields.push(number(first.and_then(|o| item.options.get(o)).and_then(|o| o.2)));
            }
        }
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}
