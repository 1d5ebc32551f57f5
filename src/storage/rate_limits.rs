//! Attempts at rate-limited actions, counted in the database so that a
//! limit holds however many instances serve, and reserved atomically: the
//! count and the new attempt are one transaction, and such transactions
//! run one at a time (SQLite has one writer; on PostgreSQL they take one
//! advisory lock), so parallel attempts cannot all see the same old count.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::schema::rate_limit_hits;
use super::{DbConn, StorageError, write_transaction};

/// Arbitrary but fixed: every instance takes the same lock for limits.
const LIMITS_LOCK: i64 = 0x6a6f_696e_6564_756c;

/// Makes the rest of the transaction wait for any other instance counting
/// attempts (PostgreSQL; SQLite's writer already runs writes one by one).
/// Released at commit.
pub fn serialise(conn: &mut DbConn) -> Result<(), StorageError> {
    if matches!(conn, DbConn::Postgres(_)) {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)").bind::<BigInt, _>(LIMITS_LOCK).execute(conn)?;
    }
    Ok(())
}

/// Counts `key`'s attempts in `bucket` since `since` and, if fewer than
/// `limit`, records this one. Returns whether it may go ahead.
pub fn reserve(
    conn: &mut DbConn,
    bucket: &str,
    key: &str,
    limit: u32,
    since: NaiveDateTime,
    at: NaiveDateTime,
) -> Result<bool, StorageError> {
    write_transaction(conn, |conn| {
        serialise(conn)?;
        let mine =
            rate_limit_hits::table.filter(rate_limit_hits::bucket.eq(bucket)).filter(rate_limit_hits::key.eq(key));
        diesel::delete(mine.filter(rate_limit_hits::at.lt(since))).execute(conn)?;
        let used: i64 = mine.filter(rate_limit_hits::at.ge(since)).count().get_result(conn)?;
        if used >= i64::from(limit) {
            return Ok(false);
        }
        diesel::insert_into(rate_limit_hits::table)
            .values((rate_limit_hits::bucket.eq(bucket), rate_limit_hits::key.eq(key), rate_limit_hits::at.eq(at)))
            .execute(conn)?;
        Ok(true)
    })
}

/// Forgets attempts older than `before` (of keys not seen since).
pub fn purge(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, StorageError> {
    Ok(diesel::delete(rate_limit_hits::table.filter(rate_limit_hits::at.lt(before))).execute(conn)?)
}
