//! `joinedup results`: a survey's published releases to a file or standard
//! output, the same as the analyst pages give.

use std::io::Write as _;
use std::sync::Arc;

use std::path::PathBuf;

use clap::Args;

use crate::index::release::Period;
use crate::index::sample::Sample;
use crate::results::reports::{ReleaseOptions, Request, Window, compute, resolve, store, stored};
use crate::settings::Settings;
use crate::surveys::SurveyRegistry;

#[derive(Debug, Clone, Args)]
pub struct ResultsArgs {
    #[arg(long)]
    pub survey: String,
    /// The release: a closed calendar month, YYYY-MM (default: the latest).
    #[arg(long, value_name = "YYYY-MM")]
    pub release: Option<String>,
    /// Every closed release from this date on (dates snap to whole months).
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Every closed release up to this date.
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// Only one sample: `invitation`, `open_link` or `pooled` (default: each
    /// sample the release has, labelled).
    #[arg(long, alias = "channel")]
    pub sample: Option<String>,
    /// Cap weights at K times the ICS mean weight (2 to 10), or `off`
    /// (default 5).
    #[arg(long, value_name = "K|off")]
    pub trim: Option<String>,
    /// Also the invited and open-link samples combined (composite weights).
    #[arg(long)]
    pub pooled: bool,
    /// csv, xlsx or json.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// File to write (default: standard output; required for xlsx).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `joinedup results`: the same releases as the analyst pages, to a file or
/// standard output; nothing is written unless it all succeeded, and the
/// download is audited.
pub fn run(settings: &Settings, args: &ResultsArgs) -> anyhow::Result<()> {
    use anyhow::{Context, bail};
    let format = crate::results::outputs::Format::parse(&args.format).context("--format must be csv, xlsx or json")?;
    if format == crate::results::outputs::Format::Xlsx && args.out.is_none() {
        bail!("--format xlsx needs --out FILE");
    }
    let sample = match args.sample.as_deref() {
        None => None,
        Some(code) => Some(Sample::parse(code).context("--sample must be invitation, open_link or pooled")?),
    };
    let mut options = ReleaseOptions::new(settings.suppress_below);
    if let Some(trim) = &args.trim {
        options.trim = ReleaseOptions::parse_trim(trim).map_err(anyhow::Error::msg)?;
    }
    options.pooled = args.pooled || sample == Some(Sample::Pooled);
    let window = match (&args.release, args.from, args.to) {
        (Some(p), None, None) => {
            Window::Period(Period::parse(p).with_context(|| format!("--release `{p}` must be a month, YYYY-MM"))?)
        }
        (Some(_), _, _) => bail!("give --release or --from/--to, not both"),
        (None, None, None) => Window::Latest,
        (None, from, to) => Window::Dates(from, to),
    };
    // Read as the analysts' pages do: from the replica when there is one.
    let mut db = super::database::open_for_responses(settings)?;
    if let Some(replica) = &settings.database_read {
        db.attach_replica(replica)?;
    }
    let db = db.for_analysts();
    let mut conn = db.get()?;
    let registry = SurveyRegistry::load(&mut conn)?;
    drop(conn);
    let request = Request { survey_id: args.survey.clone(), window, options };
    let periods = {
        let mut conn = db.get()?;
        resolve(&mut conn, &registry, &request, crate::clock::Clock::system().today())?
    };
    // Stored releases are read back; one computed now is stored while the
    // output is written, and if another run stored it first, the output is
    // written again from that one.
    let mut reports = Vec::new();
    let mut fresh = Vec::new();
    for period in periods {
        match stored(&db, &request.survey_id, period, options)? {
            Some(report) => reports.push(Arc::new(report)),
            None => {
                fresh.push(reports.len());
                reports.push(Arc::new(compute(&db, &registry, &request.survey_id, period, options)?));
            }
        }
    }
    let (bytes, replaced) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let (db, reports) = (&db, &reports);
        let storing: Vec<_> = fresh.iter().map(|&k| (k, scope.spawn(move || store(db, &reports[k])))).collect();
        let started = std::time::Instant::now();
        let mut bytes = Vec::new();
        crate::results::outputs::write(reports, sample, format, &mut bytes)?;
        tracing::debug!(bytes = bytes.len(), seconds = started.elapsed().as_secs_f64(), "output written");
        let mut replaced = Vec::new();
        for (k, handle) in storing {
            let outcome = handle.join().map_err(|_| anyhow::anyhow!("storing the release failed"))??;
            if let Some(other) = outcome {
                replaced.push((k, other));
            }
        }
        Ok((bytes, replaced))
    })?;
    let bytes = if replaced.is_empty() {
        bytes
    } else {
        for (k, other) in replaced {
            reports[k] = Arc::new(other);
        }
        let mut bytes = Vec::new();
        crate::results::outputs::write(&reports, sample, format, &mut bytes)?;
        bytes
    };
    match &args.out {
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(&bytes)?;
            tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => std::io::stdout().write_all(&bytes)?,
    }
    let releases: Vec<String> = reports.iter().map(|r| r.period.to_string()).collect();
    let event = crate::audit::Event::new(crate::audit::Action::ResultsDownloaded)
        .target(args.survey.clone())
        .detail(format!("{} of release {} from the command line", format.extension(), releases.join(", ")));
    let mut writer = db.get_writer()?;
    crate::audit::record(&mut writer, &crate::audit::Actor::command_line(), &event, None)?;
    Ok(())
}
