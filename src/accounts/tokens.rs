//! Personal API tokens: an admin issues one for a user, for scripts that
//! call `/api/v1/...`. The token is shown once and stored only as a hash;
//! it acts with its user's roles, and stops working when it is revoked or
//! the user is disabled.

use super::session;
use super::users::AccountError;
use crate::audit::{self, Action, Actor, Event};
use crate::storage::accounts::{self as rows, ApiToken};
use crate::storage::{DbConn, now, write_transaction};

/// The longest token name accepted.
pub const MAX_NAME: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("Enter a name for the token, saying what it is for")]
    NoName,
    #[error("The token's name must be {MAX_NAME} characters or fewer")]
    LongName,
    #[error("There is no such token")]
    NotFound,
    #[error("{0}")]
    Account(#[from] AccountError),
}

impl From<crate::storage::StorageError> for TokenError {
    fn from(e: crate::storage::StorageError) -> Self {
        TokenError::Account(e.into())
    }
}

impl From<diesel::result::Error> for TokenError {
    fn from(e: diesel::result::Error) -> Self {
        TokenError::Account(e.into())
    }
}

/// Issues a token for `user_id`; returns the stored row and the token,
/// which is never available again.
pub fn issue(
    conn: &mut DbConn,
    actor: &Actor,
    client_ip: Option<&str>,
    user_id: i64,
    name: &str,
) -> Result<(ApiToken, String), TokenError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TokenError::NoName);
    }
    if name.chars().count() > MAX_NAME {
        return Err(TokenError::LongName);
    }
    let token = session::new_api_token();
    write_transaction(conn, |conn| {
        let user = rows::by_id(conn, user_id)?.ok_or(AccountError::NoSuchUser)?;
        let row = rows::create_token(conn, user.id, name, &session::hash(&token), actor.user_id, now())?;
        let event = Event::new(Action::ApiTokenIssued).target(&user.email).detail(format!("token {} `{name}`", row.id));
        audit::record(conn, actor, &event, client_ip)?;
        Ok((row, token.clone()))
    })
}

/// Revokes a token. With `owner`, only a token of that user may be revoked
/// (a user revoking their own through the API); anyone else's is "not found".
pub fn revoke(
    conn: &mut DbConn,
    actor: &Actor,
    client_ip: Option<&str>,
    token_id: i64,
    owner: Option<i64>,
) -> Result<(), TokenError> {
    write_transaction(conn, |conn| {
        let row = rows::token_by_id(conn, token_id)?.ok_or(TokenError::NotFound)?;
        if owner.is_some_and(|o| o != row.user_id) || row.revoked_at.is_some() {
            return Err(TokenError::NotFound);
        }
        rows::revoke_token(conn, token_id, now())?;
        let email = rows::by_id(conn, row.user_id)?.map(|u| u.email).unwrap_or_default();
        let event =
            Event::new(Action::ApiTokenRevoked).target(email).detail(format!("token {} `{}`", row.id, row.name));
        audit::record(conn, actor, &event, client_ip)?;
        Ok(())
    })
}
