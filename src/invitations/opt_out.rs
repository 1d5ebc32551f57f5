//! Opting out of a survey's emails from the link in each email (or the
//! mail program's one-click unsubscribe). The address is kept only as a
//! keyed hash in the survey's opt-out list, which outlives the erasure of
//! emails, so the same address in a later sample is never contacted.

use chrono::NaiveDateTime;

use crate::storage::invitations::{self, Invitation};
use crate::storage::samples::{self, Invitee};
use crate::storage::{DbConn, StorageError, write_transaction};
use crate::tokens;

/// The invitee an emailed link belongs to, with their invitation.
pub fn find(conn: &mut DbConn, token: &str, at: NaiveDateTime) -> Result<Option<(Invitee, Invitation)>, StorageError> {
    let Some(invitation) = invitations::by_hash(conn, &tokens::hash(token), at)? else { return Ok(None) };
    Ok(samples::by_invitation(conn, invitation.id)?.map(|invitee| (invitee, invitation)))
}

/// Records the opt-out for the link's invitee; `None` for a link that is
/// not an emailed invitation. `Some(false)`: they had opted out before.
pub fn opt_out(conn: &mut DbConn, token: &str, at: NaiveDateTime) -> Result<Option<bool>, StorageError> {
    write_transaction(conn, |conn| {
        let Some((invitee, _)) = find(conn, token, at)? else { return Ok(None) };
        samples::opt_out(conn, &invitee, at).map(Some)
    })
}
