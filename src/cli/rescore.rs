//! `joinedup rescore`: recomputing a survey's stored scores after a scoring
//! correction (`rescore` does the work), audited.

use anyhow::{Context, bail};
use clap::Args;

use crate::audit::{self, Action, Actor, Event};
use crate::results::rescore::rescore;
use crate::settings::Settings;
use crate::surveys::SurveyRegistry;

#[derive(Debug, Clone, Args)]
pub struct RescoreArgs {
    /// The survey whose stored scores to recompute (every version).
    #[arg(long)]
    pub survey: String,
}

pub fn run(settings: &Settings, args: &RescoreArgs) -> anyhow::Result<()> {
    let db = super::database::open_for_responses(settings)?;
    let mut conn = db.get_writer()?;
    let registry = SurveyRegistry::load(&mut conn)?;
    let versions = registry.versions_of(&args.survey);
    if versions.is_empty() {
        bail!("there is no survey `{}`", args.survey);
    }
    let outcome = rescore(&mut conn, &args.survey, &versions)
        .with_context(|| format!("re-scoring survey `{}` stopped; rows already rescored are kept", args.survey))?;
    let event = Event::new(Action::ResultsRescored)
        .target(args.survey.clone())
        .detail(format!("{} responses, {} changed", outcome.responses, outcome.changed));
    audit::record(&mut conn, &Actor::command_line(), &event, None)?;
    println!(
        "rescored {} submitted responses of `{}`: {} result rows changed ({})",
        outcome.responses, args.survey, outcome.changed, outcome.signatures
    );
    Ok(())
}
