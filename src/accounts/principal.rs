//! Who is asking: the signed-in user behind a session cookie or an API
//! token, with their roles, looked up in the database on every request so
//! that sign-out, disabling and role changes take effect at once on every
//! instance.

use super::roles::{self, Role};
use super::session::{self, Lifetimes, Standing};
use crate::audit::Actor;
use crate::storage::accounts as rows;
use crate::storage::{Db, StorageError, now};

/// A session id as the cookie carries it. Never printed: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// A value read from a cookie; anything not shaped like one of ours is
    /// refused before it reaches the database.
    pub fn from_cookie(value: &str) -> Option<SessionId> {
        (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())).then(|| SessionId(value.to_string()))
    }

    pub fn generate() -> SessionId {
        SessionId(session::new_session_id())
    }

    /// The value for the cookie, and the key the CSRF token is bound to.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        session::hash(&self.0)
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(***)")
    }
}

/// How the request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser's session cookie: state-changing requests need a CSRF token.
    Session(SessionId),
    /// A personal API token sent as `Authorization: Bearer`: no cookie is
    /// involved, so no CSRF token is needed.
    ApiToken { id: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub email: String,
    pub roles: Vec<Role>,
    pub credential: Credential,
    /// The client address the request came from, for the audit log.
    pub client_ip: Option<String>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn actor(&self) -> Actor {
        Actor::user(self.user_id, &self.email)
    }

    pub fn session(&self) -> Option<&SessionId> {
        match &self.credential {
            Credential::Session(id) => Some(id),
            Credential::ApiToken { .. } => None,
        }
    }
}

/// What a session cookie turned out to be.
#[derive(Debug)]
pub enum Lookup {
    Found(Principal),
    /// It was a session, but it has ended (idle, too old, user disabled):
    /// the sign-in page says so.
    Expired,
    /// Not a session this database knows.
    Unknown,
}

/// Resolves a session id; ends it in the database if it has expired, and
/// notes activity at most once a minute.
pub async fn from_session(
    db: &Db,
    id: SessionId,
    lifetimes: Lifetimes,
    client_ip: Option<String>,
) -> Result<Lookup, StorageError> {
    let hash = id.hash();
    let key = hash.clone();
    let found = db
        .run(move |conn| {
            let Some((session, user)) = rows::session_with_user(conn, &key)? else { return Ok(None) };
            let roles = rows::roles_of(conn, user.id)?;
            Ok(Some((session, user, roles)))
        })
        .await?;
    let Some((session, user, role_names)) = found else { return Ok(Lookup::Unknown) };
    let at = now();
    match session::standing(session.created_at, session.last_seen_at, at, lifetimes) {
        Standing::Expired => {
            db.write(move |conn| rows::end_session(conn, &hash)).await?;
            return Ok(Lookup::Expired);
        }
        Standing::Live { touch: true } => db.write(move |conn| rows::touch_session(conn, &hash, at)).await?,
        Standing::Live { touch: false } => {}
    }
    if user.disabled {
        return Ok(Lookup::Expired);
    }
    Ok(Lookup::Found(Principal {
        user_id: user.id,
        email: user.email,
        roles: roles::parse_all(role_names.iter().map(String::as_str)),
        credential: Credential::Session(id),
        client_ip,
    }))
}

/// Resolves a bearer token; `None` for an unknown or revoked token or a
/// disabled user.
pub async fn from_api_token(
    db: &Db,
    token: &str,
    client_ip: Option<String>,
) -> Result<Option<Principal>, StorageError> {
    if !token.starts_with(session::API_TOKEN_PREFIX) {
        return Ok(None);
    }
    let hash = session::hash(token);
    let found = db
        .run(move |conn| {
            let Some((token, user)) = rows::token_with_user(conn, &hash)? else { return Ok(None) };
            let roles = rows::roles_of(conn, user.id)?;
            Ok(Some((token, user, roles)))
        })
        .await?;
    let Some((token, user, role_names)) = found else { return Ok(None) };
    if user.disabled {
        return Ok(None);
    }
    let at = now();
    if token.last_used_at.is_none_or(|last| at >= last + session::TOUCH_EVERY) {
        let id = token.id;
        db.write(move |conn| rows::touch_token(conn, id, at)).await?;
    }
    Ok(Some(Principal {
        user_id: user.id,
        email: user.email,
        roles: roles::parse_all(role_names.iter().map(String::as_str)),
        credential: Credential::ApiToken { id: token.id },
        client_ip,
    }))
}
