//! Managing accounts, the same rules for the command line and the admin
//! pages: emails are normalised, passwords meet the policy, at least one
//! role, and every change is written with its audit entry in one
//! transaction. Hashing is slow on purpose, so it is a separate step
//! (`password_hash`) that callers run off the async threads and outside any
//! database transaction.

use validator::ValidateEmail;

use super::password::{self, HashError, PolicyError};
use super::roles::Role;
use crate::audit::{self, Action, Actor, Event};
use crate::storage::accounts::{self as rows, User, UserRoles};
use crate::storage::{DbConn, StorageError, now, write_transaction};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Enter an email address in the correct format, like name@example.org")]
    BadEmail,
    #[error("{0}")]
    Policy(#[from] PolicyError),
    #[error("Select at least one role")]
    NoRoles,
    #[error("An account with that email address already exists")]
    Exists,
    #[error("There is no account with that email address")]
    NoSuchUser,
    #[error("You cannot disable your own account or remove your own admin role: ask another admin")]
    OwnAccess,
    #[error("{0}")]
    Hash(#[from] HashError),
    #[error("{0}")]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Storage(e.into())
    }
}

/// Emails compare case-insensitively: stored trimmed and in lower case.
pub fn normalise_email(typed: &str) -> String {
    typed.trim().to_lowercase()
}

pub fn check_email(email: &str) -> Result<(), AccountError> {
    if email.validate_email() { Ok(()) } else { Err(AccountError::BadEmail) }
}

/// Checks a new password against the policy and hashes it (slow).
pub fn password_hash(email: &str, password: &str) -> Result<String, AccountError> {
    password::check(password, email)?;
    Ok(password::hash(password)?)
}

fn role_names(roles: &[Role]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = roles.iter().map(|r| r.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn roles_text(roles: &[Role]) -> String {
    if roles.is_empty() { "none".into() } else { role_names(roles).join(", ") }
}

/// Creates an account; `hash` comes from `password_hash`.
pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    client_ip: Option<&str>,
    email: &str,
    hash: &str,
    roles: &[Role],
) -> Result<User, AccountError> {
    check_email(email)?;
    if roles.is_empty() {
        return Err(AccountError::NoRoles);
    }
    write_transaction(conn, |conn| {
        let user = rows::create_user(conn, email, hash, &role_names(roles), now())?.ok_or(AccountError::Exists)?;
        let event = Event::new(Action::UserCreated).target(email).detail(format!("roles: {}", roles_text(roles)));
        audit::record(conn, actor, &event, client_ip)?;
        Ok(user)
    })
}

pub fn find(conn: &mut DbConn, email: &str) -> Result<UserRoles, AccountError> {
    let user = rows::by_email(conn, &normalise_email(email))?.ok_or(AccountError::NoSuchUser)?;
    Ok(rows::with_roles(conn, user)?)
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> Result<UserRoles, AccountError> {
    let user = rows::by_id(conn, id)?.ok_or(AccountError::NoSuchUser)?;
    Ok(rows::with_roles(conn, user)?)
}

/// Disables or re-enables an account. Disabling ends its sessions at once.
/// Nobody disables their own account, so an admin cannot lock everyone out
/// by mistake.
pub fn set_disabled(
    conn: &mut DbConn,
    actor: &Actor,
    client_ip: Option<&str>,
    user_id: i64,
    disabled: bool,
) -> Result<User, AccountError> {
    if disabled && actor.user_id == Some(user_id) {
        return Err(AccountError::OwnAccess);
    }
    write_transaction(conn, |conn| {
        let user = rows::by_id(conn, user_id)?.ok_or(AccountError::NoSuchUser)?;
        if user.disabled == disabled {
            return Ok(user);
        }
        rows::set_disabled(conn, user_id, disabled, now())?;
        let action = if disabled { Action::UserDisabled } else { Action::UserEnabled };
        audit::record(conn, actor, &Event::new(action).target(&user.email), client_ip)?;
        Ok(User { disabled, ..user })
    })
}

/// Replaces an account's roles. An admin cannot take away their own admin
/// role.
pub fn set_roles(
    conn: &mut DbConn,
    actor: &Actor,
    client_ip: Option<&str>,
    user_id: i64,
    roles: &[Role],
) -> Result<(), AccountError> {
    if roles.is_empty() {
        return Err(AccountError::NoRoles);
    }
    if actor.user_id == Some(user_id) && !roles.contains(&Role::Admin) {
        return Err(AccountError::OwnAccess);
    }
    write_transaction(conn, |conn| {
        let user = rows::by_id(conn, user_id)?.ok_or(AccountError::NoSuchUser)?;
        let before = super::roles::parse_all(rows::roles_of(conn, user_id)?.iter().map(String::as_str));
        let mut after = roles.to_vec();
        after.sort();
        after.dedup();
        if before == after {
            return Ok(());
        }
        rows::set_roles(conn, user_id, &role_names(roles), now())?;
        let event = Event::new(Action::RolesChanged).target(&user.email).detail(format!(
            "from {} to {}",
            roles_text(&before),
            roles_text(&after)
        ));
        audit::record(conn, actor, &event, client_ip)?;
        Ok(())
    })
}

/// Sets a new password (hashed by `password_hash`) and ends the account's
/// sessions. `own` says the user changed their own password.
pub fn set_password(
    conn: &mut DbConn,
    actor: &Actor,
    client_ip: Option<&str>,
    user_id: i64,
    hash: &str,
    own: bool,
) -> Result<(), AccountError> {
    write_transaction(conn, |conn| {
        let user = rows::by_id(conn, user_id)?.ok_or(AccountError::NoSuchUser)?;
        rows::set_password(conn, user_id, hash, now())?;
        let action = if own { Action::PasswordChanged } else { Action::PasswordReset };
        audit::record(conn, actor, &Event::new(action).target(&user.email), client_ip)?;
        Ok(())
    })
}
