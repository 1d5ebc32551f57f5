//! The audit log's rows: append-only, read newest first with filters.
//! What may go in a row is decided in `accounts::audit`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_log;
use super::{DbConn, StorageError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor_user_id: Option<i64>,
    /// The actor's email when the entry was made (it outlives renames), or
    /// `command line`, or `anonymous`.
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub client_ip: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditRow<'a> {
    pub at: NaiveDateTime,
    pub actor_user_id: Option<i64>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub client_ip: Option<&'a str>,
}

pub fn insert(conn: &mut DbConn, row: &NewAuditRow<'_>) -> Result<(), StorageError> {
    diesel::insert_into(audit_log::table).values(row).execute(conn)?;
    Ok(())
}

/// What the admin page filters on; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    /// The actor exactly as recorded (an email, `command line`, `anonymous`).
    pub actor: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    /// Entries older than this id: the next page.
    pub before_id: Option<i64>,
}

/// Up to `limit` entries matching `filter`, newest first.
pub fn search(conn: &mut DbConn, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditRow>, StorageError> {
    let mut query = audit_log::table.select(AuditRow::as_select()).into_boxed();
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_log::actor.eq(actor.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_log::at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_log::at.lt(until));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(audit_log::id.lt(before));
    }
    Ok(query.order(audit_log::id.desc()).limit(limit).load(conn)?)
}
