//! A PostgreSQL streaming replica, as the analysts' handle reads it: is a
//! server a standby, and how far behind its primary is it.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Double, Nullable, Text};

use super::{DbConn, StorageError};

/// How far a replica's replay was behind the primary when asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lag {
    /// WAL the primary had written that the replica had not yet replayed.
    pub bytes: f64,
    /// Time since the replica replayed its last transaction, when it is
    /// behind; 0 when it has replayed everything the primary had written.
    pub seconds: f64,
}

impl Lag {
    /// The words provenance uses.
    pub fn describe(&self) -> String {
        if self.bytes <= 0.0 {
            "a streaming replica, caught up with the primary (0 bytes behind) when the rows were read".into()
        } else {
            format!(
                "a streaming replica, {:.0} bytes (about {:.1} s) behind the primary when the rows were read: responses submitted since are not in this release",
                self.bytes, self.seconds
            )
        }
    }
}

#[derive(QueryableByName)]
struct Standby {
    #[diesel(sql_type = Bool)]
    standby: bool,
}

/// Whether the server is a standby (in recovery, replaying a primary).
pub fn is_standby(conn: &mut DbConn) -> Result<bool, StorageError> {
    let row: Standby = diesel::sql_query("SELECT pg_is_in_recovery() AS standby").get_result(conn)?;
    Ok(row.standby)
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = Text)]
    lsn: String,
}

#[derive(QueryableByName)]
struct Behind {
    #[diesel(sql_type = Nullable<Double>)]
    bytes: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    seconds: Option<f64>,
}

/// The primary's current write position: every commit acknowledged so
/// far is at or before it.
pub fn primary_position(primary: &mut DbConn) -> Result<String, StorageError> {
    let at: Position = diesel::sql_query("SELECT pg_current_wal_lsn()::text AS lsn").get_result(primary)?;
    Ok(at.lsn)
}

/// Bytes by which a replay position may trail a write position that it
/// has in fact reached: records are padded to 8 bytes and a page header
/// can sit between them, while the smallest record that commits anything
/// is longer than this.
const ALIGNMENT_SLACK: f64 = 16.0;

/// How far the replica's replay is behind `position` (a primary's write
/// position, `primary_position`).
pub fn behind(replica: &mut DbConn, position: &str) -> Result<Lag, StorageError> {
    let behind: Behind = diesel::sql_query(
        "SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::float8 AS bytes, \
         EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))::float8 AS seconds",
    )
    .bind::<Text, _>(position)
    .get_result(replica)?;
    let bytes = behind.bytes.unwrap_or(0.0);
    if bytes <= ALIGNMENT_SLACK {
        return Ok(Lag { bytes: 0.0, seconds: 0.0 });
    }
    Ok(Lag { bytes, seconds: behind.seconds.unwrap_or(0.0).max(0.0) })
}
