//! `joinedup print`: paper questionnaires as a PDF to print. It loads the
//! definitions folder as `serve` does, so it works on a database that has
//! only been migrated.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::definitions::Voice;
use crate::journey::view::IcsChoice;
use crate::paper::{self, Copy, PrintOptions};
use crate::settings::Settings;
use crate::storage;

#[derive(Debug, Subcommand)]
pub enum PrintCommand {
    /// A paper questionnaire for one voice and language, as a tagged A4 PDF.
    Questionnaire(QuestionnaireArgs),
}

#[derive(Debug, Args)]
pub struct QuestionnaireArgs {
    /// The survey id.
    #[arg(long)]
    pub survey: String,
    /// The published version (default: the latest).
    #[arg(long)]
    pub version: Option<String>,
    /// Whose wording: patient, carer_self or carer_on_behalf.
    #[arg(long)]
    pub voice: String,
    /// The language code (default: the survey's first language).
    #[arg(long)]
    pub lang: Option<String>,
    /// Large print: every word at 16 pt or more.
    #[arg(long)]
    pub large_print: bool,
    /// Where to write the PDF.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(settings: &Settings, command: PrintCommand) -> anyhow::Result<()> {
    match command {
        PrintCommand::Questionnaire(args) => questionnaire(settings, &args),
    }
}

fn questionnaire(settings: &Settings, args: &QuestionnaireArgs) -> anyhow::Result<()> {
    let voice = Voice::from_code(&args.voice).with_context(|| {
        let known: Vec<&str> = Voice::ALL.iter().map(|v| v.code()).collect();
        format!("there is no voice `{}`; the voices are {}", args.voice, known.join(", "))
    })?;
    let files = crate::app::load_definitions(settings)?;
    let db = super::database::open_for_responses(settings)?;
    let mut conn = db.get_writer()?;
    if storage::migrations::pending_count(&mut conn)? > 0 {
        bail!("the database is not migrated yet; run `joinedup migrate` (or start the server) first");
    }
    let registry = crate::app::publish_shipped(&mut conn, &files)?;
    let versions = registry.versions_of(&args.survey);
    let survey = match &args.version {
        None => versions.first(),
        Some(v) => versions.iter().find(|s| &s.version.version_label == v),
    };
    let Some(survey) = survey else {
        if versions.is_empty() {
            bail!("no published survey has the id `{}`", args.survey);
        }
        let labels: Vec<&str> = versions.iter().map(|s| s.version.version_label.as_str()).collect();
        bail!(
            "survey `{}` has no published version `{}`; it has {}",
            args.survey,
            args.version.as_deref().unwrap_or_default(),
            labels.join(", ")
        );
    };
    let definition = &survey.definition;
    let language = args.lang.clone().unwrap_or_else(|| definition.default_language().to_string());
    let today = chrono::Utc::now().date_naive();
    let icss = ics_choices(&storage::icss::valid_on(&mut conn, today)?);
    drop(conn);
    let options = PrintOptions { voice, language, large_print: args.large_print };
    let link = format!("{}/surveys/{}", settings.base_url.trim_end_matches('/'), definition.id);
    let booklet = paper::booklet(definition, &options, &Copy::default(), &icss, &link)?;
    let pdf = paper::pdf::render(std::slice::from_ref(&booklet))?;
    std::fs::write(&args.out, &pdf).with_context(|| format!("cannot write {}", args.out.display()))?;
    let questions = booklet.questions.iter().filter(|b| matches!(b, paper::Block::Question(_))).count();
    println!(
        "wrote {} ({} bytes): `{}` version {}, voice {}, language {}{}, {questions} questions",
        args.out.display(),
        pdf.len(),
        definition.id,
        definition.version,
        voice,
        booklet.language,
        if args.large_print { ", large print" } else { "" },
    );
    Ok(())
}

/// The ICS list as the respondent's question shows it: by region, then name.
fn ics_choices(icss: &[storage::icss::Ics]) -> Vec<IcsChoice> {
    let mut list: Vec<IcsChoice> = icss
        .iter()
        .map(|i| IcsChoice { code: i.ons_code.clone(), name: i.name.clone(), region: i.nhs_region.clone() })
        .collect();
    list.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
    list
}
