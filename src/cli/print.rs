//! `joinedup print`: paper questionnaires as a PDF to print. It loads the
//! definitions folder as `serve` does, so it works on a database that has
//! only been migrated.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::audit::{self, Action, Actor, Event};
use crate::definitions::Voice;
use crate::journey::view::IcsChoice;
use crate::paper::{self, Copy, PrintOptions};
use crate::settings::{SecretKey, Settings};
use crate::storage;
use crate::storage::outbox::Kind;
use crate::tokens;

#[derive(Debug, Subcommand)]
pub enum PrintCommand {
    /// A paper questionnaire for one voice and language, as a tagged A4 PDF:
    /// one blank copy, or with --sample one numbered copy per person who has
    /// neither answered nor opted out.
    Questionnaire(QuestionnaireArgs),
    /// Letters to a sample's people written to by post, as a PDF to print
    /// or a mail-merge CSV for a print house.
    Letters(LettersArgs),
}

#[derive(Debug, Args)]
pub struct LettersArgs {
    /// The sample (its number on the lead's survey page).
    #[arg(long)]
    pub sample: i64,
    /// Reminder letters, to those whose letter went at least the reminder
    /// delay ago and who have neither answered nor opted out.
    #[arg(long)]
    pub reminder: bool,
    /// FILE.pdf to print, or FILE.csv for mail merge.
    #[arg(long)]
    pub out: PathBuf,
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
    /// One copy per person of this sample who has neither answered nor
    /// opted out, each with their code, for the voice and language the
    /// sample gives them (--voice and --lang for those it does not).
    #[arg(long)]
    pub sample: Option<i64>,
    /// Where to write the PDF.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(settings: &Settings, command: PrintCommand) -> anyhow::Result<()> {
    match command {
        PrintCommand::Questionnaire(args) => questionnaire(settings, &args),
        PrintCommand::Letters(args) => letters(settings, &args),
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
    let options = PrintOptions { voice, language, large_print: args.large_print };
    let base = settings.base_url.trim_end_matches('/');
    let Some(sample) = args.sample else {
        let link = format!("{base}/surveys/{}", definition.id);
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
        return Ok(());
    };
    let people = storage::letters::sample_people(&mut conn, sample)?;
    if people.is_empty() {
        bail!("there is no sample {sample}");
    }
    if people[0].survey_id != definition.id {
        bail!("sample {sample} is of survey `{}`, not `{}`", people[0].survey_id, definition.id);
    }
    let secret = secret_key(settings, &mut conn)?;
    let mut booklets = Vec::new();
    let (mut answered, mut opted_out, mut erased) = (0, 0, 0);
    for person in &people {
        let seed = match (&person.seed, person.answered, person.opted_out) {
            (_, true, _) => {
                answered += 1;
                continue;
            }
            (_, _, true) => {
                opted_out += 1;
                continue;
            }
            (None, ..) => {
                erased += 1;
                continue;
            }
            (Some(seed), ..) => seed,
        };
        let options = PrintOptions {
            voice: person.voice.as_deref().and_then(Voice::from_code).unwrap_or(options.voice),
            language: crate::journey::wording::choose_language(
                definition,
                person.language.as_deref().or(Some(&options.language)),
            )
            .to_string(),
            large_print: options.large_print,
        };
        let copy = Copy { serial: Some(tokens::short_code(secret.expose(), seed)), ics_code: person.ics_code.clone() };
        booklets.push(paper::booklet(definition, &options, &copy, &icss, &format!("{base}/s"))?);
    }
    if booklets.is_empty() {
        bail!(
            "no copy to print: of sample {sample}'s {} people, {answered} answered, {opted_out} opted out and \
             {erased} have had their details erased",
            people.len()
        );
    }
    let pdf = paper::pdf::render(&booklets)?;
    std::fs::write(&args.out, &pdf).with_context(|| format!("cannot write {}", args.out.display()))?;
    let event = Event::new(Action::QuestionnairesPrinted)
        .target(definition.id.clone())
        .detail(format!("sample {sample}: {} numbered copies", booklets.len()));
    audit::record(&mut conn, &Actor::command_line(), &event, None)?;
    println!(
        "wrote {} ({} bytes): {} numbered copies of `{}` version {} for sample {sample}; left out {answered} who \
         answered, {opted_out} who opted out, {erased} erased",
        args.out.display(),
        pdf.len(),
        booklets.len(),
        definition.id,
        definition.version,
    );
    Ok(())
}

fn secret_key(settings: &Settings, conn: &mut storage::DbConn) -> anyhow::Result<SecretKey> {
    Ok(match &settings.secret_key {
        Some(key) => key.clone(),
        None => SecretKey::new(storage::app_settings::secret_key(conn)?)?,
    })
}

/// What a print run writes: a PDF or a mail-merge CSV, by the file's name.
enum Output {
    Pdf,
    Csv,
}

fn output_of(path: &std::path::Path) -> anyhow::Result<Output> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("pdf") => Ok(Output::Pdf),
        Some("csv") => Ok(Output::Csv),
        _ => bail!("--out must name a .pdf file (to print) or a .csv file (for mail merge): {}", path.display()),
    }
}

/// Lines of an address a mail-merge file has columns for.
const ADDRESS_COLUMNS: usize = 6;

fn letters(settings: &Settings, args: &LettersArgs) -> anyhow::Result<()> {
    let output = output_of(&args.out)?;
    let files = crate::app::load_definitions(settings)?;
    let db = super::database::open_for_responses(settings)?;
    let mut conn = db.get_writer()?;
    if storage::migrations::pending_count(&mut conn)? > 0 {
        bail!("the database is not migrated yet; run `joinedup migrate` (or start the server) first");
    }
    let registry = crate::app::publish_shipped(&mut conn, &files)?;
    let people = storage::letters::sample_people(&mut conn, args.sample)?;
    let Some(first) = people.first() else { bail!("there is no sample {}", args.sample) };
    let today = chrono::Utc::now().date_naive();
    let survey_id = first.survey_id.clone();
    let survey = registry
        .current(&survey_id, today)
        .with_context(|| format!("survey `{survey_id}` is not open today: letters would lead nowhere"))?;
    let secret = secret_key(settings, &mut conn)?;
    // Letters go to those the sample says to write to, who can still be
    // reached and have neither answered nor opted out.
    let postal: Vec<_> =
        people.iter().filter(|p| p.preferred_channel == storage::samples::Contact::Letter).cloned().collect();
    let facts = storage::letters::reminder_facts(&mut conn, &postal)?;
    let now = chrono::Utc::now().naive_utc();
    let due: Vec<(i64, Kind, i32)> = if args.reminder {
        let delay = chrono::Duration::days(i64::from(settings.invitations.reminder_delay_days));
        let (due, tally) = crate::invitations::queue::due_reminders(&facts, now, delay);
        println!(
            "reminder letters: {} due; not due: {} answered, {} opted out, {} too soon, {} not yet written to, {} erased",
            due.len(),
            tally.answered,
            tally.opted_out,
            tally.too_soon,
            tally.not_invited,
            tally.erased
        );
        due.into_iter().map(|(id, round)| (id, Kind::Reminder, round)).collect()
    } else {
        facts
            .iter()
            .filter(|f| f.has_email && !f.answered && !f.opted_out)
            .filter(|f| !f.messages.iter().any(|m| m.kind == Kind::Invitation))
            .map(|f| (f.invitee_id, Kind::Invitation, 0))
            .collect()
    };
    let base = settings.base_url.trim_end_matches('/');
    let code_page = format!("{base}/s");
    let mut letters = Vec::new();
    for (id, _, round) in &due {
        let Some(person) = postal.iter().find(|p| p.invitee_id == *id) else { continue };
        let (Some(seed), Some(address), Some(postcode)) = (&person.seed, &person.address, &person.postcode) else {
            continue;
        };
        let token = tokens::link_token(secret.expose(), seed);
        let link = format!("{base}/s/{token}");
        let code = tokens::short_code(secret.expose(), seed);
        let to = paper::Recipient {
            address,
            postcode,
            language: person.language.as_deref(),
            voice: person.voice.as_deref().and_then(Voice::from_code),
            link: &link,
            code: &code,
            code_page: &code_page,
        };
        letters.push((*round, paper::letter(&survey.definition, &to, *round, today)));
    }
    if letters.is_empty() {
        println!("no letters to print for sample {}: everyone due one has had it", args.sample);
        return Ok(());
    }
    match output {
        Output::Pdf => {
            let pages: Vec<paper::Letter> = letters.iter().map(|(_, l)| l.clone()).collect();
            let pdf = paper::pdf::render_letters(&pages)?;
            std::fs::write(&args.out, pdf).with_context(|| format!("cannot write {}", args.out.display()))?;
        }
        Output::Csv => {
            let mut csv =
                csv::Writer::from_path(&args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
            let mut header: Vec<String> = vec!["code".into(), "kind".into(), "round".into(), "language".into()];
            header.extend((1..=ADDRESS_COLUMNS).map(|i| format!("address_{i}")));
            header.extend(["postcode".into(), "link".into(), "date".into()]);
            csv.write_record(&header)?;
            for (round, l) in &letters {
                let kind = if *round == 0 { Kind::Invitation } else { Kind::Reminder };
                let mut row = vec![l.code.clone(), kind.to_string(), round.to_string(), l.language.clone()];
                let lines = &l.address[..l.address.len().saturating_sub(1)];
                // Lines beyond the columns are joined into the last one.
                for i in 0..ADDRESS_COLUMNS {
                    row.push(match i.cmp(&(ADDRESS_COLUMNS - 1)) {
                        std::cmp::Ordering::Less => lines.get(i).cloned().unwrap_or_default(),
                        _ => lines.get(i..).map(|rest| rest.join(", ")).unwrap_or_default(),
                    });
                }
                row.extend([l.address.last().cloned().unwrap_or_default(), l.link.clone(), l.date.clone()]);
                csv.write_record(&row)?;
            }
            csv.flush()?;
        }
    }
    // Recorded once the file is written: a failed run prints again.
    let recorded = storage::letters::record(&mut conn, &survey_id, &due, "command line", now)?;
    let event = Event::new(Action::LettersPrinted).target(survey_id.clone()).detail(format!(
        "sample {}: {} {} letters to {}",
        args.sample,
        letters.len(),
        if args.reminder { "reminder" } else { "invitation" },
        args.out.display()
    ));
    audit::record(&mut conn, &Actor::command_line(), &event, None)?;
    println!(
        "wrote {}: {} {} letters for sample {} of `{survey_id}` ({recorded} recorded as printed)",
        args.out.display(),
        letters.len(),
        if args.reminder { "reminder" } else { "invitation" },
        args.sample
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
