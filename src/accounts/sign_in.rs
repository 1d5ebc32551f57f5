//! Signing in and out. A failed attempt gives the same answer whether the
//! account is missing, disabled or the password is wrong, and takes about
//! as long; failures are counted in the database per account and per
//! client address, and past the limit no password is checked at all. Each
//! attempt is reserved (counted) before its password is checked, so the
//! limit holds against parallel guesses and across instances.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::AccountSettings;
use super::limits::{self, Decision};
use super::password;
use super::principal::{Principal, SessionId};
use super::roles::{self, Role};
use super::users::normalise_email;
use crate::audit::{self, Action, Actor, Event};
use crate::storage::accounts as rows;
use crate::storage::{Db, StorageError, now, rate_limits, write_transaction};

/// One sign-in attempt. Not `Debug`: it holds a password.
pub struct Attempt {
    pub email: String,
    pub password: String,
    pub client_ip: Option<String>,
    /// The session the browser already had, ended on success so the id
    /// always changes at sign-in.
    pub previous: Option<SessionId>,
}

#[derive(Debug)]
pub enum Outcome {
    SignedIn {
        session: SessionId,
        roles: Vec<Role>,
    },
    /// Wrong email or password, or a disabled account: one answer for all.
    Refused,
    /// Too many failures for this email or from this address.
    Blocked,
}

/// The key failures are counted under: an HMAC of the typed email, so the
/// table says nothing by itself, and a password typed in the email box is
/// never stored.
fn account_key(secret: &str, email: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"sign-in:");
    mac.update(email.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub async fn sign_in(
    db: &Db,
    secret: &str,
    settings: &AccountSettings,
    attempt: Attempt,
) -> Result<Outcome, StorageError> {
    let email = normalise_email(&attempt.email);
    let key = account_key(secret, &email);
    let ip = attempt.client_ip.clone();
    let since = now() - settings.limits.window;
    let lookup_email = email.clone();
    let lookup_key = key.clone();
    let limits = settings.limits;
    // The attempt is counted as a failure before the password is checked,
    // in one transaction with the count that allows it (serialised across
    // instances), so parallel guesses cannot all pass the limit; a right
    // password then forgives it.
    let (user, blocked) = db
        .write(move |conn| {
            write_transaction(conn, |conn| {
                rate_limits::serialise(conn)?;
                let user = rows::by_email(conn, &lookup_email)?;
                let (account_failures, address_failures) =
                    rows::failures_since(conn, &lookup_key, ip.as_deref(), since)?;
                if limits::decide(&limits, account_failures, address_failures) == Decision::Block {
                    return Ok((user, Some((account_failures, address_failures))));
                }
                rows::record_failure(conn, &lookup_key, ip.as_deref(), now())?;
                Ok((user, None))
            })
        })
        .await?;
    let actor = user.as_ref().map_or_else(Actor::anonymous, |u| Actor::user(u.id, &u.email));
    let ip = attempt.client_ip.clone();

    if let Some((account_failures, address_failures)) = blocked {
        let event = Event::new(Action::SignInBlocked)
            .detail(format!("{account_failures} recent failures for this email, {address_failures} from this address"));
        db.write(move |conn| audit::record(conn, &actor, &event, ip.as_deref())).await?;
        return Ok(Outcome::Blocked);
    }

    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = attempt.password;
    let matches = tokio::task::spawn_blocking(move || match stored {
        Some(hash) => password::verify(&password, &hash),
        None => {
            password::waste_time(&password);
            false
        }
    })
    .await
    .map_err(|e| StorageError::Pool(format!("password check failed: {e}")))?;

    match user {
        Some(user) if matches && !user.disabled => {
            let session = SessionId::generate();
            let hash = session.hash();
            let previous = attempt.previous.map(|p| p.hash());
            let user_id = user.id;
            let roles = db
                .write(move |conn| {
                    write_transaction(conn, |conn| {
                        if let Some(previous) = previous {
                            rows::end_session(conn, &previous)?;
                        }
                        rows::create_session(conn, &hash, user_id, ip.as_deref(), now())?;
                        rows::clear_failures(conn, &key)?;
                        audit::record(conn, &actor, &Event::new(Action::SignIn), ip.as_deref())?;
                        rows::roles_of(conn, user_id)
                    })
                })
                .await?;
            Ok(Outcome::SignedIn { session, roles: roles::parse_all(roles.iter().map(String::as_str)) })
        }
        user => {
            let detail = match &user {
                None => "no account has the email typed",
                Some(u) if u.disabled => "the account is disabled",
                Some(_) => "wrong password",
            };
            // The failure was recorded when the attempt was reserved.
            let event = Event::new(Action::SignInFailed).detail(detail);
            db.write(move |conn| audit::record(conn, &actor, &event, ip.as_deref())).await?;
            Ok(Outcome::Refused)
        }
    }
}

/// Ends the principal's session (if they came with one) and records it.
pub async fn sign_out(db: &Db, principal: &Principal) -> Result<(), StorageError> {
    let Some(session) = principal.session() else { return Ok(()) };
    let hash = session.hash();
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    db.write(move |conn| {
        write_transaction(conn, |conn| {
            rows::end_session(conn, &hash)?;
            audit::record(conn, &actor, &Event::new(Action::SignOut), ip.as_deref())
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn account_keys_depend_on_the_secret_and_email_only() {
        let a = super::account_key("secret one", "a@b.org");
        assert_eq!(a, super::account_key("secret one", "a@b.org"));
        assert_ne!(a, super::account_key("secret two", "a@b.org"));
        assert_ne!(a, super::account_key("secret one", "c@b.org"));
        assert!(!a.contains("a@b.org"));
    }
}
