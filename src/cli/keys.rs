//! `joinedup keys`: rotating the keys invitation links and email hashes
//! are made with (`invitations::keys` does the work).

use clap::Subcommand;

use crate::settings::Settings;

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// After setting a new JOINEDUP_SECRET_KEY: give every invitation whose
    /// address is still kept a link under the new key, so reminders work,
    /// while links already sent keep working until `retire-old-links`.
    RekeyLinks {
        /// The key links were made with until now (default: the key kept in
        /// the database when none was configured).
        #[arg(long, env = "JOINEDUP_PREVIOUS_SECRET_KEY", hide_env_values = true)]
        previous_secret_key: Option<String>,
    },
    /// Stop links sent before the last `rekey-links` from working (after a
    /// leak of the old key, say; send reminders afterwards), and delete the
    /// key kept in the database when none was configured.
    RetireOldLinks,
    /// Replace the email hash key and re-hash every address still kept; the
    /// old key is kept only to recognise erased addresses' opt-outs.
    RotateEmailKey,
}

/// `joinedup keys ...`: one rotation step, its counts printed.
pub fn run(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    use crate::invitations::keys;
    let db = crate::storage::Db::connect(&settings.database)?;
    let mut conn = db.get_writer()?;
    if crate::storage::migrations::pending_count(&mut conn)? > 0 {
        anyhow::bail!("the database is not migrated yet; run `joinedup migrate` (or start the server) first");
    }
    let actor = crate::audit::Actor::command_line();
    match command {
        KeysCommand::RekeyLinks { previous_secret_key } => {
            let Some(new) = &settings.secret_key else {
                anyhow::bail!(
                    "set the new key in JOINEDUP_SECRET_KEY (try `openssl rand -hex 32`) and the old one in JOINEDUP_PREVIOUS_SECRET_KEY"
                );
            };
            let previous = match previous_secret_key {
                Some(key) => key,
                None => crate::storage::app_settings::get(&mut conn, crate::storage::app_settings::SECRET_KEY)?
                    .ok_or_else(|| {
                        anyhow::anyhow!("give the key links were made with in JOINEDUP_PREVIOUS_SECRET_KEY")
                    })?,
            };
            if previous == new.expose() {
                anyhow::bail!("JOINEDUP_PREVIOUS_SECRET_KEY is the same as JOINEDUP_SECRET_KEY: nothing to rotate");
            }
            let done = keys::rekey_links(&mut conn, &previous, new.expose(), &actor)?;
            println!(
                "{} invitation link(s) re-keyed (the links already sent still work until `joinedup keys retire-old-links`); {} already under the new key",
                done.rekeyed, done.current
            );
            if done.unknown > 0 {
                println!(
                    "{} link(s) were made under neither key and are left as they are: is JOINEDUP_PREVIOUS_SECRET_KEY right?",
                    done.unknown
                );
            }
            Ok(())
        }
        KeysCommand::RetireOldLinks => {
            let retired = keys::retire_old_links(&mut conn, &actor)?;
            println!("{retired} link(s) sent before the last rotation no longer work");
            Ok(())
        }
        KeysCommand::RotateEmailKey => {
            let done = keys::rotate_email_key(&mut conn, &actor)?;
            println!(
                "new email hash key in use; {} kept address(es) re-hashed; {} retired key(s) kept to recognise opt-outs and past invitations of erased addresses",
                done.rehashed, done.retired_keys
            );
            Ok(())
        }
    }
}
