//! `joinedup response`: the data protection role's way to find or withdraw
//! one response by the reference its respondent quotes.

use clap::Subcommand;

use crate::settings::Settings;

#[derive(Debug, Clone, Subcommand)]
pub enum ResponseCommand {
    /// Show which survey a response is to and its status (never its answers).
    Find {
        #[arg(long)]
        reference: String,
    },
    /// Delete a response, its answers and its scores, audited without them.
    Withdraw {
        #[arg(long)]
        reference: String,
    },
}

/// `joinedup response find|withdraw --reference R`.
pub fn run(settings: &Settings, command: ResponseCommand) -> anyhow::Result<()> {
    let db = super::database::open_for_responses(settings)?;
    let mut conn = db.get_writer()?;
    match command {
        ResponseCommand::Find { reference } => match crate::rights::find_blocking(&mut conn, &reference)? {
            Some(f) => {
                let submitted = f.submitted.map_or_else(|| "not submitted".to_string(), |t| format!("submitted {t}"));
                println!(
                    "{}: survey {} version {}, {} ({}), started {}, {submitted}",
                    f.reference, f.survey_id, f.version, f.status, f.channel, f.started
                );
                Ok(())
            }
            None => {
                anyhow::bail!("no response has the reference `{reference}` (it may have been withdrawn or deleted)")
            }
        },
        ResponseCommand::Withdraw { reference } => {
            let actor = crate::audit::Actor::command_line();
            match crate::rights::withdraw_blocking(&mut conn, &reference, &actor, None)? {
                Some(w) => {
                    println!(
                        "withdrew a response to {}: it, its {} answer(s) and its scores are deleted",
                        w.survey_id, w.answers
                    );
                    Ok(())
                }
                None => {
                    anyhow::bail!("no response has the reference `{reference}` (it may have been withdrawn already)")
                }
            }
        }
    }
}
