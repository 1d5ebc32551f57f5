//! `joinedup serve --demo`: one account per role with a random one-time
//! password, printed once, so someone trying joinedup on their own machine
//! can sign in straight away. Refused unless the server listens on a
//! loopback address only, and only on a database with no accounts, so it
//! can never open a real deployment.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::bail;

use super::roles::Role;
use super::users;
use crate::audit::{self, Action, Actor, Event};
use crate::storage::{self, Db, now, write_transaction};

/// The demo accounts: an email per area, with its roles (the admin also
/// handles data protection requests, so the withdrawal path can be tried).
pub const ACCOUNTS: [(&str, &[Role]); 3] = [
    ("admin@demo.joinedup.invalid", &[Role::Admin, Role::DataProtection]),
    ("lead@demo.joinedup.invalid", &[Role::SurveyLead]),
    ("analyst@demo.joinedup.invalid", &[Role::Analyst]),
];

pub fn refuse_unless_loopback(address: &SocketAddr) -> anyhow::Result<()> {
    if !address.ip().is_loopback() {
        bail!(
            "--demo creates accounts with printed passwords, so it only runs on a loopback address \
             (like 127.0.0.1:8080), not {address}"
        );
    }
    Ok(())
}

/// A password from a 20-character alphabet-and-digit random string (about
/// 119 bits), checked against the policy like any other.
fn one_time_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// A demo account made ready off the async threads: email, roles, the
/// one-time password and its hash.
type Prepared = (&'static str, &'static [Role], String, String);

/// Creates the demo accounts when there are no accounts at all, and writes
/// their passwords to `out` (the terminal) once. Returns whether it did.
pub async fn create_if_empty(db: &Db, out: &mut impl Write) -> anyhow::Result<bool> {
    if db.run(storage::accounts::count_users).await? > 0 {
        writeln!(out, "--demo: accounts already exist, so no demo accounts were created")?;
        return Ok(false);
    }
    let prepared = tokio::task::spawn_blocking(|| -> anyhow::Result<Vec<Prepared>> {
        ACCOUNTS
            .iter()
            .map(|(email, roles)| {
                let password = one_time_password();
                let hash = users::password_hash(email, &password)?;
                Ok((*email, *roles, password, hash))
            })
            .collect()
    })
    .await??;
    let rows: Vec<(&'static str, &'static [Role], String)> =
        prepared.iter().map(|(e, r, _, h)| (*e, *r, h.clone())).collect();
    let created = db
        .write(move |conn| {
            write_transaction(conn, |conn| {
                // Checked again inside the transaction: two instances started with --demo create one set.
                if storage::accounts::count_users(conn)? > 0 {
                    return Ok(false);
                }
                for (email, roles, hash) in &rows {
                    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    storage::accounts::create_user(conn, email, hash, &names, now())?;
                }
                let event = Event::new(Action::DemoAccountsCreated).detail("serve --demo on a loopback address");
                audit::record(conn, &Actor::command_line(), &event, None)?;
                Ok(true)
            })
        })
        .await?;
    if !created {
        return Ok(false);
    }
    writeln!(out, "Demo accounts (these passwords are shown once and stored only as hashes):")?;
    for (email, roles, password, _) in &prepared {
        writeln!(out, "  {:<12} {email:<32} {password}", roles[0].label())?;
    }
    out.flush()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::password;
    use super::*;

    #[test]
    fn only_loopback_addresses() {
        assert!(refuse_unless_loopback(&"127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(refuse_unless_loopback(&"[::1]:8080".parse().unwrap()).is_ok());
        assert!(refuse_unless_loopback(&"0.0.0.0:8080".parse().unwrap()).is_err());
        assert!(refuse_unless_loopback(&"192.0.2.10:8080".parse().unwrap()).is_err());
    }

    #[test]
    fn one_time_passwords_pass_the_policy() {
        for (email, _) in ACCOUNTS {
            assert_eq!(password::check(&one_time_password(), email), Ok(()));
        }
    }
}
