//! Integrated care systems: dated reference data, looked up by ONS or ODS code.

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::icss;
use super::{DbConn, StorageError};
use crate::per_backend;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize)]
#[diesel(table_name = icss)]
pub struct Ics {
    pub ons_code: String,
    pub valid_from: NaiveDate,
    pub ods_code: String,
    pub name: String,
    pub nhs_region: String,
    pub region_code: String,
    pub valid_to: Option<NaiveDate>,
}

impl Ics {
    pub fn is_valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|end| date <= end)
    }
}

/// Brings the table in line with the bundled reference file; returns how
/// many rows were written.
pub fn sync(conn: &mut DbConn, rows: &[Ics]) -> Result<usize, StorageError> {
    let existing: Vec<Ics> = icss::table.select(Ics::as_select()).load(conn)?;
    let mut written = 0;
    for row in rows.iter().filter(|r| !existing.contains(r)) {
        per_backend!(conn => {
            diesel::insert_into(icss::table)
                .values(row)
                .on_conflict((icss::ons_code, icss::valid_from))
                .do_update()
                .set(row)
                .execute(conn)?;
        });
        written += 1;
    }
    Ok(written)
}

/// The ICSs valid on `date`, by region then name (the order of the select).
pub fn valid_on(conn: &mut DbConn, date: NaiveDate) -> Result<Vec<Ics>, StorageError> {
    Ok(icss::table
        .filter(icss::valid_from.le(date))
        .filter(icss::valid_to.is_null().or(icss::valid_to.ge(date)))
        .order((icss::nhs_region, icss::name))
        .select(Ics::as_select())
        .load(conn)?)
}

/// Finds an ICS valid on `date` by its ONS code (E54…) or ODS code (QYG…).
pub fn find(conn: &mut DbConn, code: &str, date: NaiveDate) -> Result<Option<Ics>, StorageError> {
    let code = code.trim().to_ascii_uppercase();
    Ok(icss::table
        .filter(icss::ons_code.eq(&code).or(icss::ods_code.eq(&code)))
        .filter(icss::valid_from.le(date))
        .filter(icss::valid_to.is_null().or(icss::valid_to.ge(date)))
        .select(Ics::as_select())
        .first(conn)
        .optional()?)
}

/// Every stored row, current or not.
pub fn all(conn: &mut DbConn) -> Result<Vec<Ics>, StorageError> {
    Ok(icss::table.order((icss::nhs_region, icss::name)).select(Ics::as_select()).load(conn)?)
}
