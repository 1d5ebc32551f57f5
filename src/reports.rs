//! Results for one survey, from the database to published cells with their
//! provenance: the glue between storage and the pure `index` chain, shared
//! by the analyst pages, the API and `joinedup results`.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use chrono::NaiveDate;
use compact_str::CompactString;
use serde::Serialize;

use crate::index::columns::Frame;
use crate::index::compare::IcsProfile;
use crate::index::disclosure;
use crate::index::frame::{ADULT_BANDS, Group, PopulationTable, Row};
use crate::index::margins::UsedMargins;
use crate::index::record::{self, question_items};
use crate::index::results::{self, Inputs, Results};
use crate::index::scoring::Scoring;
use crate::storage::results::ReportRow;
use crate::storage::{Db, DbConn, StorageError, icss};
use crate::web::SurveyRegistry;

/// What to report.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub survey_id: String,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// `open_link` or `invitation`; `None` = both.
    pub channel: Option<String>,
    pub threshold: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("there is no survey `{0}`")]
    UnknownSurvey(String),
    #[error("survey `{0}` has no submitted responses in that window")]
    NoResponses(String),
    #[error("the uploaded population margins cannot be used: {0}")]
    Margins(String),
    #[error("the results cannot be weighted: {0}")]
    Weighting(#[from] crate::weighting::WeightingError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where every number came from, carried by every output.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub survey_id: String,
    pub survey_title: String,
    /// Versions pooled: label and content hash.
    pub versions: Vec<(String, String)>,
    /// Versions left out because their scoring differs from the latest.
    pub versions_not_pooled: Vec<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub first_response: Option<NaiveDate>,
    pub last_response: Option<NaiveDate>,
    /// Respondents per channel, published as counts are.
    pub channel_mix: BTreeMap<String, String>,
    pub channel_filter: String,
    pub weighting: String,
    pub population_source: String,
    pub deprivation_source: String,
    pub suppression: String,
    pub software: String,
    pub generated_at: String,
}

pub struct Report {
    pub results: Results,
    pub provenance: Provenance,
}

/// The adult population table and ICS profiles from the bundled reference data.
pub fn reference_tables() -> (PopulationTable, Vec<IcsProfile>) {
    let counts = crate::reference::population().unwrap_or_default();
    let deprivation = crate::reference::deprivation_shares().unwrap_or_default();
    let mut adults: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for ((ics, band, _), n) in &counts {
        if ADULT_BANDS.contains(&band.as_str()) {
            let e = adults.entry(ics.as_str()).or_default();
            e.0 += n;
            if matches!(band.as_str(), "65-74" | "75-84" | "85+") {
                e.1 += n;
            }
        }
    }
    let profiles = adults
        .iter()
        .map(|(code, (all, older))| IcsProfile {
            code: code.to_string(),
            deprivation: deprivation.get(*code).copied().unwrap_or(0.2),
            older: older / all,
        })
        .collect();
    (
        PopulationTable { counts, source: crate::reference::POPULATION_SOURCE.into(), uploaded: BTreeMap::new() },
        profiles,
    )
}

/// Loads, weights and publishes one survey's results.
pub fn build(db: &Db, registry: &SurveyRegistry, request: &Request) -> Result<Report, ReportError> {
    build_inner(db, registry, request, false)
}

/// Like `build`, but a survey with no responses gives a report with no
/// cells (and its provenance) instead of an error: pages and downloads then
/// say plainly that there is nothing yet.
pub fn build_allowing_empty(db: &Db, registry: &SurveyRegistry, request: &Request) -> Result<Report, ReportError> {
    build_inner(db, registry, request, true)
}

fn build_inner(
    db: &Db,
    registry: &SurveyRegistry,
    request: &Request,
    allow_empty: bool,
) -> Result<Report, ReportError> {
    let latest =
        registry.latest(&request.survey_id).ok_or_else(|| ReportError::UnknownSurvey(request.survey_id.clone()))?;
    let d = &latest.definition;
    let scoring = Scoring::new(d);
    let items = question_items(d);
    let item_ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    // Pool versions that score the same; others are listed, not mixed in.
    let mut pooled: BTreeMap<i64, bool> = BTreeMap::new();
    let mut same_questions: BTreeMap<i64, bool> = BTreeMap::new();
    for v in registry.all().filter(|v| v.definition.id == request.survey_id) {
        pooled.insert(v.version.id, Scoring::new(&v.definition).signature == scoring.signature);
        let ids: Vec<String> = question_items(&v.definition).into_iter().map(|i| i.id).collect();
        same_questions.insert(v.version.id, ids == item_ids);
    }
    let mut conn = db.get()?;
    let conn = &mut *conn;
    let started = std::time::Instant::now();
    let read = read_frame(db, conn, request, &pooled, &same_questions, (scoring.domain_count(), items.len()))?;
    let Loaded { frame, channel_mix, first, last } = read;
    tracing::debug!(rows = frame.len(), seconds = started.elapsed().as_secs_f64(), "report rows read");
    if frame.is_empty() && !allow_empty {
        return Err(ReportError::NoResponses(request.survey_id.clone()));
    }
    let (mut population, profiles) = reference_tables();
    let used = crate::population_margins::in_use(conn)?.map_err(ReportError::Margins)?;
    population.uploaded = crate::population_margins::sets(&used);
    let ics_names: BTreeMap<String, String> = icss::all(conn)?.into_iter().map(|i| (i.ons_code, i.name)).collect();
    let threshold = request.threshold.max(disclosure::FLOOR);
    let results = if frame.is_empty() {
        Results { cells: Vec::new(), funnel: None, peers: BTreeMap::new(), weighting: Vec::new(), without_ics: 0 }
    } else {
        results::compute(&Inputs {
            definition: d,
            frame: &frame,
            population: &population,
            profiles: &profiles,
            ics_names: &ics_names,
            threshold,
            min_respondents: 10,
        })?
    };
    tracing::debug!(cells = results.cells.len(), seconds = started.elapsed().as_secs_f64(), "report computed");
    let mut versions = Vec::new();
    let mut not_pooled = Vec::new();
    for v in registry.all().filter(|v| v.definition.id == request.survey_id) {
        if pooled[&v.version.id] {
            versions.push((v.version.version_label.clone(), v.version.content_hash.clone()));
        } else {
            not_pooled.push(v.version.version_label.clone());
        }
    }
    let provenance = Provenance {
        survey_id: d.id.clone(),
        survey_title: d.title.get(d.default_language(), None).to_string(),
        versions,
        versions_not_pooled: not_pooled,
        from: request.from,
        to: request.to,
        first_response: first,
        last_response: last,
        channel_mix: channel_mix.into_iter().map(|(k, v)| (k, disclosure::published_count(v))).collect(),
        channel_filter: request.channel.clone().unwrap_or_else(|| "all channels".into()),
        weighting: weighting_description(&used, &results.weighting),
        population_source: population.source.clone(),
        deprivation_source: crate::reference::DEPRIVATION_SOURCE.into(),
        suppression: format!(
            "estimates from fewer than {threshold} respondents suppressed, with complementary suppression; counts 1-7 shown as *, others rounded to 5; weighted totals to 3 significant figures"
        ),
        software: format!("joinedup {}", env!("CARGO_PKG_VERSION")),
        generated_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    Ok(Report { results, provenance })
}

/// A survey's pooled result rows as columns, with what provenance says
/// about them.
struct Loaded {
    frame: Frame,
    channel_mix: BTreeMap<String, usize>,
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
}

impl Loaded {
    fn new((domains, items): (usize, usize)) -> Loaded {
        Loaded { frame: Frame::new(domains, items), channel_mix: BTreeMap::new(), first: None, last: None }
    }

    /// Adds the rows read after these.
    fn append(&mut self, later: &Loaded) {
        self.frame.append(&later.frame);
        for (channel, n) in &later.channel_mix {
            match self.channel_mix.get_mut(channel) {
                Some(total) => *total += n,
                None => {
                    self.channel_mix.insert(channel.clone(), *n);
                }
            }
        }
        self.first = self.first.into_iter().chain(later.first).min();
        self.last = self.last.into_iter().chain(later.last).max();
    }

    /// Empties it for the next part, keeping the memory.
    fn clear(&mut self) {
        self.frame.clear();
        self.channel_mix.clear();
        self.first = None;
        self.last = None;
    }
}

/// About how many rows `read_frame` reads as one part.
const PART_ROWS: usize = 16_384;

/// Reads the rows a report pools into a `Frame`. Reading a row costs about
/// as much as everything done with it later, so the response ids are cut
/// into parts of about `PART_ROWS` rows, read alternately on two
/// connections side by side and joined in order: the same frame as one
/// read, in about half the time. The frame's columns are sized once from a
/// count, and each side reuses a part's worth of memory: a million rows
/// then touch their own memory once, which matters on a virtual machine
/// where memory handed back and taken again is slow to fault in.
fn read_frame(
    db: &Db,
    conn: &mut DbConn,
    request: &Request,
    pooled: &BTreeMap<i64, bool>,
    same_questions: &BTreeMap<i64, bool>,
    shape: (usize, usize),
) -> Result<Loaded, StorageError> {
    let read = |conn: &mut DbConn, ids, into: &mut Loaded| read_part(conn, request, pooled, same_questions, ids, into);
    let mut loaded = Loaded::new(shape);
    let Some((first, last)) = crate::storage::results::id_range(conn, &request.survey_id, request.from, request.to)?
    else {
        return Ok(loaded);
    };
    let total =
        crate::storage::results::count_between(conn, &request.survey_id, (request.from, request.to), first..=last)?;
    loaded.frame.reserve(total);
    let parts = parts(first..=last, total);
    let spare = if parts.len() > 1 { db.get_spare() } else { None };
    let Some(mut spare) = spare else {
        read(conn, first..=last, &mut loaded)?;
        return Ok(loaded);
    };
    std::thread::scope(|scope| {
        // The other side reads the odd parts and hands each over; the
        // part comes back empty to be filled again.
        let (handed, receive) = std::sync::mpsc::sync_channel::<Result<Loaded, StorageError>>(1);
        let (give_back, returned) = std::sync::mpsc::channel::<Loaded>();
        let odd: Vec<_> = parts.iter().skip(1).step_by(2).cloned().collect();
        scope.spawn(move || {
            for ids in odd {
                let mut part = returned.try_recv().unwrap_or_else(|_| Loaded::new(shape));
                part.clear();
                let result = read(&mut spare, ids, &mut part).map(|()| part);
                let failed = result.is_err();
                if handed.send(result).is_err() || failed {
                    return;
                }
            }
        });
        let mut own = Loaded::new(shape);
        for (k, ids) in parts.into_iter().enumerate() {
            if k % 2 == 0 {
                own.clear();
                read(conn, ids, &mut own)?;
                loaded.append(&own);
            } else {
                // A closed channel means the other side panicked; the
                // scope passes the panic on when it ends.
                let Ok(part) = receive.recv() else { break };
                let part = part?;
                loaded.append(&part);
                let _ = give_back.send(part);
            }
        }
        Ok(loaded)
    })
}

/// The response ids `ids` cut into runs of equal width holding about
/// `PART_ROWS` of the `rows` each, at least two when there are rows to share.
fn parts(ids: std::ops::RangeInclusive<i64>, rows: usize) -> Vec<std::ops::RangeInclusive<i64>> {
    let (first, last) = (*ids.start(), *ids.end());
    let span = (last - first).saturating_add(1).max(1);
    let count = i64::try_from(rows.div_ceil(PART_ROWS)).unwrap_or(i64::MAX).max(2).min(span);
    let width = span / count + i64::from(span % count != 0);
    (0..count)
        .map(|k| first + k * width)
        .take_while(|&start| start <= last)
        .map(|start| start..=(start + width - 1).min(last))
        .collect()
}

/// One part of `read_frame`: the pooled rows among the response ids `ids`,
/// added to `into`.
fn read_part(
    conn: &mut DbConn,
    request: &Request,
    pooled: &BTreeMap<i64, bool>,
    same_questions: &BTreeMap<i64, bool>,
    ids: std::ops::RangeInclusive<i64>,
    into: &mut Loaded,
) -> Result<(), StorageError> {
    let (domains, items) = (into.frame.domains.len(), into.frame.items);
    let mut row = Row::default();
    crate::storage::results::each_for_report(
        conn,
        &request.survey_id,
        (request.from, request.to),
        ids,
        None,
        |_, r| {
            let channel = r.texts().channel;
            if !pooled.get(&r.survey_version_id).copied().unwrap_or(false)
                || request.channel.as_deref().is_some_and(|c| c != channel)
            {
                return ControlFlow::Continue(());
            }
            match into.channel_mix.get_mut(channel) {
                Some(n) => *n += 1,
                None => {
                    into.channel_mix.insert(channel.to_string(), 1);
                }
            }
            into.first = Some(into.first.map_or(r.submitted_on, |f| f.min(r.submitted_on)));
            into.last = Some(into.last.map_or(r.submitted_on, |l| l.max(r.submitted_on)));
            let same = same_questions.get(&r.survey_version_id).copied().unwrap_or(false);
            fill_row(&mut row, &r, domains, items, same);
            into.frame.push(&row);
            ControlFlow::Continue(())
        },
    )?;
    Ok(())
}

/// The weighting specification every output states, naming the uploaded
/// margins it used.
pub fn weighting_description(used: &BTreeMap<Group, UsedMargins>, summaries: &[results::WeightingSummary]) -> String {
    let people = match used.get(&Group::People) {
        Some(u) => format!("adult age band and sex margins (ONS) and the {}", u.label),
        None => "adult age band and sex margins (ONS)".into(),
    };
    let carers = match used.get(&Group::Carers) {
        Some(u) => format!("carers: base weights raked within each ICS to the {}", u.label),
        None => "carers: base weights".into(),
    };
    let mut text = format!(
        "people's index: base weights (1/selection probability) raked within each ICS to {people} \
         (iterative proportional fitting to convergence, R rake() equivalent); {carers}; children: base weights; \
         SEs by Taylor linearisation with ICS strata and raking residuals"
    );
    text.push_str(&format!(
        "; in each ICS, a margin category with fewer than {} respondents is merged into its neighbour",
        crate::index::frame::MIN_CATEGORY_RESPONDENTS
    ));
    for s in summaries.iter().filter(|s| !s.margins_not_met.is_empty()) {
        text.push_str(&format!(
            "; {}: the margins could not be met (raking did not converge), so weights are only scaled to the ICS population in {}",
            s.group,
            s.margins_not_met.join(", ")
        ));
    }
    text
}

/// A stored result as the index reads it, written over `row` so a million
/// rows reuse one row's buffers; answers only from versions whose question
/// list is the latest's (`same_questions`), so columns line up.
pub fn fill_row(row: &mut Row, r: &ReportRow, domains: usize, items: usize, same_questions: bool) {
    let t = r.texts();
    let text = |v: Option<&str>| v.map(CompactString::from);
    row.version = r.survey_version_id;
    row.channel = t.channel.into();
    row.voice = text(t.voice);
    row.ics = text(t.ics_code);
    row.age_band = text(t.age_band);
    row.sex = text(t.sex);
    row.ethnicity = text(t.ethnicity);
    row.long_term_condition = text(t.long_term_condition);
    row.imd_quintile = r.imd_quintile;
    row.base_weight = r.base_weight;
    row.index = r.index_score;
    record::parse_scores_into(t.domain_scores, domains, &mut row.domains);
    if same_questions {
        record::parse_choices_into(t.choices, items, &mut row.choices);
    } else {
        row.choices.clear();
        row.choices.resize(items, 0);
    }
}

/// `joinedup results`: the same report as the analyst pages, to a file or
/// standard output; nothing is written unless it all succeeded, and the
/// download is audited.
pub fn run_command(settings: &crate::app::Settings, args: &crate::cli::ResultsArgs) -> anyhow::Result<()> {
    use anyhow::{Context, bail};
    let format = crate::outputs::Format::parse(&args.format).context("--format must be csv, xlsx or json")?;
    if format == crate::outputs::Format::Xlsx && args.out.is_none() {
        bail!("--format xlsx needs --out FILE");
    }
    if let Some(c) = &args.channel
        && c != "open_link"
        && c != "invitation"
    {
        bail!("--channel must be open_link or invitation");
    }
    let db = crate::storage::Db::connect(&settings.database)?;
    let mut conn = db.get()?;
    let registry = SurveyRegistry::load(&mut conn)?;
    let request = Request {
        survey_id: args.survey.clone(),
        from: args.from,
        to: args.to,
        channel: args.channel.clone(),
        threshold: settings.suppress_below,
    };
    drop(conn);
    let report = build(&db, &registry, &request)?;
    let mut bytes = Vec::new();
    crate::outputs::write(&report, format, &mut bytes)?;
    match &args.out {
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, &bytes)?;
            tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => std::io::Write::write_all(&mut std::io::stdout(), &bytes)?,
    }
    let event = crate::accounts::audit::Event::new(crate::accounts::audit::Action::ResultsDownloaded)
        .target(args.survey.clone())
        .detail(format!("{} from the command line", format.extension()));
    let mut writer = db.get_writer()?;
    crate::accounts::audit::record(&mut writer, &crate::accounts::audit::Actor::command_line(), &event, None)?;
    Ok(())
}

/// Reports kept until the survey's results change (a new submission), so
/// analysts paging through tables do not re-weight every time. Each entry is
/// checked against the number and newest id of the survey's result rows.
#[derive(Default)]
pub struct Cache {
    entries: std::sync::Mutex<BTreeMap<CacheKey, (Stamp, std::sync::Arc<Report>)>>,
}

type CacheKey = (String, Option<NaiveDate>, Option<NaiveDate>, Option<String>, usize);
type Stamp = ((i64, i64, i64), Vec<i64>);

impl Cache {
    pub async fn get(
        &self,
        state: &actix_web::web::Data<crate::app::AppState>,
        request: Request,
    ) -> Result<std::sync::Arc<Report>, ReportError> {
        let key: CacheKey =
            (request.survey_id.clone(), request.from, request.to, request.channel.clone(), request.threshold);
        let survey = request.survey_id.clone();
        let stamp = state
            .db
            .run(move |conn| {
                Ok((crate::storage::results::stamp(conn, &survey)?, crate::storage::margins::in_use_ids(conn)?))
            })
            .await?;
        if let Some((seen, report)) = self.entries.lock().expect("not poisoned").get(&key)
            && *seen == stamp
        {
            return Ok(report.clone());
        }
        let st = state.clone();
        let report = state.db.run_with_pool(move |db| build_allowing_empty(db, &st.surveys, &request)).await??;
        let report = std::sync::Arc::new(report);
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() > 32 {
            entries.clear();
        }
        entries.insert(key, (stamp, report.clone()));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::{PART_ROWS, parts};

    /// The parts cover the ids exactly once, in order, without gaps.
    fn assert_tiles(ids: std::ops::RangeInclusive<i64>, cut: &[std::ops::RangeInclusive<i64>]) {
        assert_eq!(cut.first().map(|p| *p.start()), Some(*ids.start()));
        assert_eq!(cut.last().map(|p| *p.end()), Some(*ids.end()));
        for pair in cut.windows(2) {
            assert_eq!(*pair[0].end() + 1, *pair[1].start(), "{cut:?}");
        }
        assert!(cut.iter().all(|p| p.start() <= p.end()), "{cut:?}");
    }

    #[test]
    fn a_million_rows_are_read_in_parts_of_about_part_rows() {
        let cut = parts(1..=1_000_000, 1_000_000);
        assert_tiles(1..=1_000_000, &cut);
        assert_eq!(cut.len(), 1_000_000usize.div_ceil(PART_ROWS));
    }

    #[test]
    fn a_few_rows_are_still_shared_between_two_readers() {
        let cut = parts(10..=20, 5);
        assert_tiles(10..=20, &cut);
        assert_eq!(cut.len(), 2);
    }

    #[test]
    fn a_single_id_is_one_part() {
        assert_eq!(parts(7..=7, 1), vec![7..=7]);
    }

    #[test]
    fn sparse_ids_give_parts_of_equal_width() {
        let cut = parts(100..=1_000_099, 40_000);
        assert_tiles(100..=1_000_099, &cut);
        assert_eq!(cut.len(), 3);
        assert!(cut.iter().all(|p| p.end() - p.start() < 333_334), "{cut:?}");
    }
}
