//! `joinedup token issue`: invitation tokens for tests and manual use,
//! before invitations are sent by email.

use anyhow::{Context, bail};
use chrono::Duration;
use clap::{Args, Subcommand};

use crate::definitions::{Dimension, Voice};
use crate::settings::Settings;
use crate::storage::invitations::{self, NewInvitation};
use crate::storage::{self, Db, icss};
use crate::surveys::SurveyRegistry;
use crate::tokens;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create invitation tokens and print their links, one per line.
    Issue(TokenIssueArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TokenIssueArgs {
    /// The survey id the invitation is for (a published survey).
    #[arg(long)]
    pub survey: String,
    /// Preset the ICS (ONS code E54… or ODS code): the area question is skipped.
    #[arg(long)]
    pub ics: Option<String>,
    /// Preset the voice (patient, carer_self, carer_on_behalf): the voice question is skipped.
    #[arg(long)]
    pub voice: Option<String>,
    /// The language the survey opens in.
    #[arg(long)]
    pub language: Option<String>,
    /// Sample stratum: age band (e.g. 65-74).
    #[arg(long)]
    pub age_band: Option<String>,
    /// Sample stratum: sex (female or male).
    #[arg(long)]
    pub sex: Option<String>,
    /// Sample stratum: deprivation (IMD) quintile, 1 (most deprived) to 5.
    #[arg(long)]
    pub imd_quintile: Option<i32>,
    /// Probability this person was selected; its inverse is the base weight.
    #[arg(long)]
    pub selection_probability: Option<f64>,
    /// How many tokens to create.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Days until the links stop working (default: never).
    #[arg(long)]
    pub expires_days: Option<u32>,
}

pub fn issue_tokens(settings: &Settings, args: &TokenIssueArgs) -> anyhow::Result<()> {
    let db = Db::connect(&settings.database)?;
    let mut conn = db.get()?;
    if storage::migrations::pending_count(&mut conn)? > 0 {
        bail!("the database is not migrated yet; run `joinedup migrate` (or start the server) first");
    }
    let registry = SurveyRegistry::load(&mut conn)?;
    let survey =
        registry.latest(&args.survey).with_context(|| format!("no published survey has the id `{}`", args.survey))?;
    let d = &survey.definition;
    let today = crate::clock::Clock::system().today();
    let ics_code = match &args.ics {
        Some(code) => Some(
            icss::find(&mut conn, code, today)?
                .with_context(|| format!("`{code}` is not the ONS or ODS code of an ICS valid today"))?
                .ons_code,
        ),
        None => None,
    };
    if let Some(v) = &args.voice {
        let voice = Voice::from_code(v)
            .with_context(|| format!("`{v}` is not a voice (patient, carer_self, carer_on_behalf)"))?;
        if !d.voices.contains(&voice) {
            bail!("survey `{}` does not offer the voice `{v}`", d.id);
        }
    }
    if let Some(l) = &args.language
        && !d.languages.iter().any(|x| &x.code == l)
    {
        bail!("survey `{}` is not available in `{l}`", d.id);
    }
    for (value, dimension) in [(&args.age_band, Dimension::AgeBand), (&args.sex, Dimension::Sex)] {
        if let Some(v) = value
            && !dimension.categories().contains(&v.as_str())
        {
            bail!("`{v}` is not a {} category ({})", dimension.code(), dimension.categories().join(", "));
        }
    }
    if let Some(q) = args.imd_quintile
        && !(1..=5).contains(&q)
    {
        bail!("--imd-quintile must be from 1 to 5");
    }
    if let Some(p) = args.selection_probability
        && !(p > 0.0 && p <= 1.0)
    {
        bail!("--selection-probability must be above 0 and at most 1");
    }
    if args.count == 0 || args.count > 1_000_000 {
        bail!("--count must be from 1 to 1000000");
    }
    let now = storage::now();
    let expires_at = args.expires_days.map(|d| now + Duration::days(i64::from(d)));
    let mut links = Vec::with_capacity(args.count as usize);
    let mut rows = Vec::with_capacity(args.count as usize);
    for _ in 0..args.count {
        let token = tokens::new_token();
        rows.push(NewInvitation {
            token_hash: tokens::hash(&token),
            survey_id: d.id.clone(),
            ics_code: ics_code.clone(),
            voice: args.voice.clone(),
            language: args.language.clone(),
            age_band: args.age_band.clone(),
            sex: args.sex.clone(),
            imd_quintile: args.imd_quintile,
            selection_probability: args.selection_probability,
            created_at: now,
            expires_at,
        });
        links.push(format!("{}/s/{token}", settings.base_url));
    }
    storage::write_transaction(&mut conn, |conn| invitations::insert(conn, &rows))?;
    for link in links {
        println!("{link}");
    }
    Ok(())
}
