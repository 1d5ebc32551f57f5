//! Settings the application keeps for itself, such as the generated secret.

use diesel::prelude::*;
use rand::RngCore;

use super::schema::app_settings;
use super::{DbConn, StorageError, now};
use crate::per_backend;

/// The name the generated secret key is kept under.
pub const SECRET_KEY: &str = "secret_key";

/// The key that signs cookies and CSRF tokens when none is configured:
/// generated once and shared by every instance using this database.
pub fn secret_key(conn: &mut DbConn) -> Result<String, StorageError> {
    generated(conn, SECRET_KEY)
}

/// A random 512-bit value stored under `name`, generated on first use and
/// the same for every instance afterwards.
pub fn generated(conn: &mut DbConn, name: &str) -> Result<String, StorageError> {
    if let Some(value) = get(conn, name)? {
        return Ok(value);
    }
    let fresh = random_value();
    let at = now();
    // Two instances may race here; the first insert wins and both read it.
    per_backend!(conn => {
        diesel::insert_into(app_settings::table)
            .values((app_settings::name.eq(name), app_settings::value.eq(&fresh), app_settings::created_at.eq(at)))
            .on_conflict_do_nothing()
            .execute(conn)?;
    });
    get(conn, name)?
        .ok_or_else(|| StorageError::Migration(format!("the generated setting `{name}` could not be stored")))
}

/// 512 random bits as hex: a fresh key.
pub fn random_value() -> String {
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn get(conn: &mut DbConn, name: &str) -> Result<Option<String>, StorageError> {
    Ok(app_settings::table
        .filter(app_settings::name.eq(name))
        .select(app_settings::value)
        .first::<String>(conn)
        .optional()?)
}

/// Stores `value` under `name`, replacing what was there.
pub fn set(conn: &mut DbConn, name: &str, value: &str) -> Result<(), StorageError> {
    let at = now();
    per_backend!(conn => {
        diesel::insert_into(app_settings::table)
            .values((app_settings::name.eq(name), app_settings::value.eq(value), app_settings::created_at.eq(at)))
            .on_conflict(app_settings::name)
            .do_update()
            .set((app_settings::value.eq(value), app_settings::created_at.eq(at)))
            .execute(conn)?;
    });
    Ok(())
}

/// Every value whose name starts with `prefix`, oldest name first.
pub fn with_prefix(conn: &mut DbConn, prefix: &str) -> Result<Vec<(String, String)>, StorageError> {
    let rows: Vec<(String, String)> = app_settings::table
        .filter(app_settings::name.like(format!("{prefix}%")))
        .order(app_settings::name)
        .select((app_settings::name, app_settings::value))
        .load(conn)?;
    // `like` treats `_` and `%` as wildcards: keep exact prefixes only.
    Ok(rows.into_iter().filter(|(name, _)| name.starts_with(prefix)).collect())
}

/// Replaces `name`'s value only if it is still `expected`: false when
/// another process changed it first.
pub fn replace_if(conn: &mut DbConn, name: &str, expected: &str, value: &str) -> Result<bool, StorageError> {
    let changed = diesel::update(
        app_settings::table.filter(app_settings::name.eq(name)).filter(app_settings::value.eq(expected)),
    )
    .set((app_settings::value.eq(value), app_settings::created_at.eq(now())))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Removes `name`; returns whether it was there.
pub fn delete(conn: &mut DbConn, name: &str) -> Result<bool, StorageError> {
    Ok(diesel::delete(app_settings::table.filter(app_settings::name.eq(name))).execute(conn)? == 1)
}
