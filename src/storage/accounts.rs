//! Staff accounts: users and their roles, sessions, failed sign-ins and
//! personal API tokens. Secrets arrive here already hashed; the rules about
//! them live in `accounts`, which also wraps each change and its audit entry
//! in one transaction (so nothing here opens one).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{api_tokens, failed_sign_ins, sessions, user_roles, users};
use super::{DbConn, StorageError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    /// Lower case, trimmed: unique.
    pub email: String,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A user with the names of the roles they hold.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRoles {
    pub user: User,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id_hash: String,
    pub user_id: i64,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub client_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub created_by: Option<i64>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

// ---- users and roles -------------------------------------------------------

/// Creates a user with their roles; `None` when the email is taken.
pub fn create_user(
    conn: &mut DbConn,
    email: &str,
    password_hash: &str,
    roles: &[&str],
    at: NaiveDateTime,
) -> Result<Option<User>, StorageError> {
    if by_email(conn, email)?.is_some() {
        return Ok(None);
    }
    let user: User = diesel::insert_into(users::table)
        .values((
            users::email.eq(email),
            users::password_hash.eq(password_hash),
            users::disabled.eq(false),
            users::created_at.eq(at),
            users::updated_at.eq(at),
        ))
        .returning(users::all_columns)
        .get_result(conn)?;
    insert_roles(conn, user.id, roles, at)?;
    Ok(Some(user))
}

fn insert_roles(conn: &mut DbConn, user_id: i64, roles: &[&str], at: NaiveDateTime) -> Result<(), StorageError> {
    // One row at a time: `MultiConnection` has no batch insert, and a user has at most three roles.
    for role in roles {
        diesel::insert_into(user_roles::table)
            .values((user_roles::user_id.eq(user_id), user_roles::role.eq(*role), user_roles::granted_at.eq(at)))
            .execute(conn)?;
    }
    Ok(())
}

pub fn by_email(conn: &mut DbConn, email: &str) -> Result<Option<User>, StorageError> {
    Ok(users::table.filter(users::email.eq(email)).select(User::as_select()).get_result(conn).optional()?)
}

pub fn by_id(conn: &mut DbConn, id: i64) -> Result<Option<User>, StorageError> {
    Ok(users::table.find(id).select(User::as_select()).get_result(conn).optional()?)
}

pub fn roles_of(conn: &mut DbConn, user_id: i64) -> Result<Vec<String>, StorageError> {
    Ok(user_roles::table
        .filter(user_roles::user_id.eq(user_id))
        .order(user_roles::role)
        .select(user_roles::role)
        .load(conn)?)
}

pub fn with_roles(conn: &mut DbConn, user: User) -> Result<UserRoles, StorageError> {
    let roles = roles_of(conn, user.id)?;
    Ok(UserRoles { user, roles })
}

/// Every user with their roles, by email.
pub fn list_users(conn: &mut DbConn) -> Result<Vec<UserRoles>, StorageError> {
    let all: Vec<User> = users::table.order(users::email).select(User::as_select()).load(conn)?;
    let grants: Vec<(i64, String)> =
        user_roles::table.order(user_roles::role).select((user_roles::user_id, user_roles::role)).load(conn)?;
    Ok(all
        .into_iter()
        .map(|user| {
            let roles = grants.iter().filter(|(id, _)| *id == user.id).map(|(_, r)| r.clone()).collect();
            UserRoles { user, roles }
        })
        .collect())
}

pub fn count_users(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(users::table.count().get_result(conn)?)
}

/// Replaces a user's roles; returns false when there is no such user.
pub fn set_roles(conn: &mut DbConn, user_id: i64, roles: &[&str], at: NaiveDateTime) -> Result<bool, StorageError> {
    let found = diesel::update(users::table.find(user_id)).set(users::updated_at.eq(at)).execute(conn)?;
    if found == 0 {
        return Ok(false);
    }
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user_id))).execute(conn)?;
    insert_roles(conn, user_id, roles, at)?;
    Ok(true)
}

/// Disables or re-enables a user. Disabling also ends their sessions at
/// once; their API tokens stop working because every use checks the user.
pub fn set_disabled(conn: &mut DbConn, user_id: i64, disabled: bool, at: NaiveDateTime) -> Result<bool, StorageError> {
    let found = diesel::update(users::table.find(user_id))
        .set((users::disabled.eq(disabled), users::updated_at.eq(at)))
        .execute(conn)?;
    if disabled {
        end_sessions_of(conn, user_id)?;
    }
    Ok(found > 0)
}

/// Sets a new password hash and ends every session of the user, so a reset
/// locks out whoever knew the old password.
pub fn set_password(
    conn: &mut DbConn,
    user_id: i64,
    password_hash: &str,
    at: NaiveDateTime,
) -> Result<bool, StorageError> {
    let found = diesel::update(users::table.find(user_id))
        .set((users::password_hash.eq(password_hash), users::updated_at.eq(at)))
        .execute(conn)?;
    end_sessions_of(conn, user_id)?;
    Ok(found > 0)
}

// ---- sessions --------------------------------------------------------------

pub fn create_session(
    conn: &mut DbConn,
    id_hash: &str,
    user_id: i64,
    client_ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(id_hash),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(at),
            sessions::last_seen_at.eq(at),
            sessions::client_ip.eq(client_ip),
        ))
        .execute(conn)?;
    Ok(())
}

/// The session with this id hash and its user, in one query: this runs on
/// every signed-in request.
pub fn session_with_user(conn: &mut DbConn, id_hash: &str) -> Result<Option<(Session, User)>, StorageError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::id_hash.eq(id_hash))
        .select((Session::as_select(), User::as_select()))
        .get_result(conn)
        .optional()?)
}

pub fn touch_session(conn: &mut DbConn, id_hash: &str, at: NaiveDateTime) -> Result<(), StorageError> {
    diesel::update(sessions::table.find(id_hash)).set(sessions::last_seen_at.eq(at)).execute(conn)?;
    Ok(())
}

/// Ends one session; returns whether it existed.
pub fn end_session(conn: &mut DbConn, id_hash: &str) -> Result<bool, StorageError> {
    Ok(diesel::delete(sessions::table.find(id_hash)).execute(conn)? > 0)
}

pub fn end_sessions_of(conn: &mut DbConn, user_id: i64) -> Result<usize, StorageError> {
    Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?)
}

/// Deletes sessions that can no longer be used: created before
/// `created_before` or idle since before `idle_before`.
pub fn purge_sessions(
    conn: &mut DbConn,
    created_before: NaiveDateTime,
    idle_before: NaiveDateTime,
) -> Result<usize, StorageError> {
    Ok(diesel::delete(
        sessions::table.filter(sessions::created_at.lt(created_before).or(sessions::last_seen_at.lt(idle_before))),
    )
    .execute(conn)?)
}

// ---- failed sign-ins -------------------------------------------------------

pub fn record_failure(
    conn: &mut DbConn,
    account_key: &str,
    client_ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::insert_into(failed_sign_ins::table)
        .values((
            failed_sign_ins::account_key.eq(account_key),
            failed_sign_ins::client_ip.eq(client_ip),
            failed_sign_ins::at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Failures since `since` for the account key and for the client address.
pub fn failures_since(
    conn: &mut DbConn,
    account_key: &str,
    client_ip: Option<&str>,
    since: NaiveDateTime,
) -> Result<(i64, i64), StorageError> {
    let recent = failed_sign_ins::table.filter(failed_sign_ins::at.ge(since));
    let account = recent.filter(failed_sign_ins::account_key.eq(account_key)).count().get_result(conn)?;
    let address = match client_ip {
        Some(ip) => recent.filter(failed_sign_ins::client_ip.eq(ip)).count().get_result(conn)?,
        None => 0,
    };
    Ok((account, address))
}

/// A successful sign-in forgives the account's earlier failures (not the
/// address's).
pub fn clear_failures(conn: &mut DbConn, account_key: &str) -> Result<(), StorageError> {
    diesel::delete(failed_sign_ins::table.filter(failed_sign_ins::account_key.eq(account_key))).execute(conn)?;
    Ok(())
}

pub fn purge_failures(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, StorageError> {
    Ok(diesel::delete(failed_sign_ins::table.filter(failed_sign_ins::at.lt(before))).execute(conn)?)
}

// ---- API tokens ------------------------------------------------------------

pub fn create_token(
    conn: &mut DbConn,
    user_id: i64,
    name: &str,
    token_hash: &str,
    created_by: Option<i64>,
    at: NaiveDateTime,
) -> Result<ApiToken, StorageError> {
    Ok(diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::user_id.eq(user_id),
            api_tokens::name.eq(name),
            api_tokens::token_hash.eq(token_hash),
            api_tokens::created_at.eq(at),
            api_tokens::created_by.eq(created_by),
        ))
        .returning(api_tokens::all_columns)
        .get_result(conn)?)
}

/// An unrevoked token with this hash and its user.
pub fn token_with_user(conn: &mut DbConn, token_hash: &str) -> Result<Option<(ApiToken, User)>, StorageError> {
    Ok(api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked_at.is_null())
        .select((ApiToken::as_select(), User::as_select()))
        .get_result(conn)
        .optional()?)
}

pub fn token_by_id(conn: &mut DbConn, id: i64) -> Result<Option<ApiToken>, StorageError> {
    Ok(api_tokens::table.find(id).select(ApiToken::as_select()).get_result(conn).optional()?)
}

pub fn touch_token(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> Result<(), StorageError> {
    diesel::update(api_tokens::table.find(id)).set(api_tokens::last_used_at.eq(at)).execute(conn)?;
    Ok(())
}

/// Revokes a token; returns false when it did not exist or was already revoked.
pub fn revoke_token(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> Result<bool, StorageError> {
    Ok(diesel::update(api_tokens::table.find(id).filter(api_tokens::revoked_at.is_null()))
        .set(api_tokens::revoked_at.eq(at))
        .execute(conn)?
        > 0)
}

/// Every token with its owner's email, newest first.
pub fn list_tokens(conn: &mut DbConn) -> Result<Vec<(ApiToken, String)>, StorageError> {
    Ok(api_tokens::table
        .inner_join(users::table)
        .order(api_tokens::id.desc())
        .select((ApiToken::as_select(), users::email))
        .load(conn)?)
}
