//! Opening the database for a command that reads responses. While `serve
//! --demo` is putting its demo responses in, such a command waits for them
//! (saying so) rather than read half a demo.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::app::Settings;
use crate::storage::Db;

/// How long a command waits for a demo load before going on regardless.
const WAIT_AT_MOST: Duration = Duration::from_secs(120);

/// The database, once no demo load is under way on it.
pub fn open_for_responses(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(&settings.database)?;
    let started = Instant::now();
    let mut told = false;
    loop {
        let since = crate::demo::loading_since(&mut *db.get()?)?;
        let Some(since) = since else { break };
        let abandoned = chrono::Utc::now().naive_utc() - since > crate::demo::LOADING_ABANDONED_AFTER;
        if abandoned || started.elapsed() > WAIT_AT_MOST {
            eprintln!("note: a demo load begun at {since} UTC did not finish; going on with what it stored");
            break;
        }
        if !told {
            eprint!("waiting: `serve --demo` is still loading its demo responses into this database…");
            told = true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if told {
        eprintln!(" done");
        std::io::stderr().flush().ok();
    }
    Ok(db)
}
