//! `joinedup move`: a whole SQLite installation copied into an empty
//! PostgreSQL database, then checked table by table.
//!
//! Nothing here names a table or a column. Tables, columns, their
//! PostgreSQL types, primary keys and foreign keys are read from the two
//! databases' catalogues, and the move refuses when the two schemas
//! differ, so a table a later migration adds is moved (or stops the
//! move) without anyone having to remember this file.
//!
//! The source is read inside one `BEGIN IMMEDIATE` transaction: a server
//! left running cannot write meanwhile, so no acknowledged write is left
//! behind, and the copy and its check read the same rows. The target is
//! written in one transaction, committed only once every table's row count
//! and checksum agree: a failed move leaves the target as it was
//! (migrated, empty), ready for another try.
//!
//! Values are copied as JSON (`json_populate_recordset`), typed by the
//! PostgreSQL column: booleans from SQLite's 0/1, doubles in Rust's
//! shortest exact form, timestamps to the microsecond (PostgreSQL's
//! precision; the app itself stores them so on PostgreSQL), blobs as hex.
//! The checksum reads both sides again, each through its own driver, and
//! hashes every value in the same canonical form: a value that changed on
//! the way shows as a mismatch, never as a silent difference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use diesel::connection::{DefaultLoadingMode, SimpleConnection};
use diesel::deserialize::{self, FromSql, QueryableByName};
use diesel::pg::{Pg, PgConnection, PgRowByRowLoadingMode};
use diesel::r2d2::ManageConnection;
use diesel::row::{Field, NamedRow, Row};
use diesel::sql_types::{BigInt, Binary, Bool, Date, Double, Float, Integer, Nullable, SmallInt, Text, Timestamp};
use diesel::sqlite::{Sqlite, SqliteConnection, SqliteType};
use diesel::{Connection, RunQueryDsl};
use sha2::{Digest, Sha256};

use super::connection::Pooled;
use super::{DatabaseUrl, DbConn, Manager, StorageError, migrations};

/// Rows per insert statement: large enough that round trips do not
/// dominate, small enough that one statement's JSON stays a few megabytes.
const BATCH_ROWS: usize = 5_000;
/// A batch is sent early once its JSON reaches this size (stored
/// releases and definitions are large rows).
const BATCH_BYTES: usize = 8 << 20;

/// What the move reports as it goes, for the command to print.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// The target's migrations ran; `applied` were new.
    Migrated { applied: usize },
    /// Rows of a large table sent so far (after each batch).
    Copying { table: &'a str, rows: u64 },
    /// A table's rows are in the target (not yet committed).
    Copied { table: &'a str, rows: u64 },
    /// A table was read back from both sides and compared.
    Checked { table: &'a str, ok: bool },
}

/// One table's check: rows and checksum on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    pub table: String,
    pub source_rows: u64,
    pub target_rows: u64,
    /// SHA-256 (hex) over the table's rows in primary-key order, each
    /// value in a canonical form by its PostgreSQL type.
    pub source_checksum: String,
    pub target_checksum: String,
}

impl TableCheck {
    pub fn ok(&self) -> bool {
        self.source_rows == self.target_rows && self.source_checksum == self.target_checksum
    }
}

/// What a move did.
#[derive(Debug, Clone)]
pub struct Moved {
    /// Every table, in the order copied (parents before children).
    pub tables: Vec<TableCheck>,
    /// Identity and serial sequences set past the copied ids.
    pub sequences: usize,
    /// The migrations both databases have.
    pub migrations: usize,
    /// False when a table differed: the target's transaction was rolled
    /// back, and it holds no rows.
    pub committed: bool,
}

/// Copies every row of the SQLite database at `source` into the empty
/// PostgreSQL database at `target` (migrating it first), and checks the
/// copy. Refusals (wrong kinds of database, migrations that differ,
/// schemas that differ, a target with rows) change nothing but the
/// target's migrations.
pub fn move_to_postgres(
    source: &DatabaseUrl,
    target: &DatabaseUrl,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Moved, StorageError> {
    let DatabaseUrl::Sqlite(path) = source else {
        return Err(StorageError::Conflict(format!(
            "`joinedup move` copies a SQLite installation, and the database is {source} already; set DATABASE_URL \
             (or --database-url) to the SQLite file to move"
        )));
    };
    if target.backend() != super::Backend::Postgres {
        return Err(StorageError::BadUrl(format!("--to must be a postgres:// URL, not {target}")));
    }
    let mut source_conn = open_sqlite(source, path)?;
    // The source is never changed, so it must be current as it is.
    let pending = migrations::pending_count(&mut source_conn)?;
    if pending > 0 {
        return Err(StorageError::Conflict(format!(
            "{source} has {pending} migration(s) not applied yet: run `joinedup migrate` on it first (with the server stopped), then move"
        )));
    }
    let source_versions = applied(&mut source_conn)?;
    let known = known_versions()?;
    if !source_versions.is_subset(&known) {
        return Err(StorageError::Conflict(format!(
            "{source} has migrations this joinedup does not know ([{}]): move with the joinedup that last migrated \
             it, or a newer one",
            listed(source_versions.difference(&known))
        )));
    }

    let mut target_conn = Manager::new(target.clone())
        .connect()
        .map_err(|e| StorageError::Unreachable { url: target.to_string(), reason: e.to_string().trim().to_string() })?;
    let newly = migrations::run_pending(&mut target_conn)?;
    progress(Progress::Migrated { applied: newly.len() });
    let target_versions = applied(&mut target_conn)?;
    if source_versions != target_versions {
        return Err(StorageError::Conflict(format!(
            "{target} has migrations the SQLite database has not ([{}]): a newer joinedup migrated it; move into a \
             new, empty database",
            listed(target_versions.difference(&source_versions))
        )));
    }

    let (DbConn::Sqlite(sqlite), DbConn::Postgres(pg)) = (&mut *source_conn, &mut *target_conn) else {
        unreachable!("the URLs were checked: SQLite into PostgreSQL")
    };
    let schema = Schema::read(sqlite, pg)?;
    let order = schema.insert_order()?;

    // Writers on the source wait (or time out) until the move ends.
    sqlite.batch_execute("BEGIN IMMEDIATE")?;
    let moved = pg.transaction::<_, Abort, _>(|pg| {
        let (tables, sequences) = copy_and_check(sqlite, pg, &schema, &order, progress)?;
        let moved = Moved { tables, sequences, migrations: target_versions.len(), committed: true };
        if moved.tables.iter().all(TableCheck::ok) { Ok(moved) } else { Err(Abort::Differs(moved)) }
    });
    // Only read: nothing to keep or lose.
    let _ = sqlite.batch_execute("ROLLBACK");
    match moved {
        Ok(moved) => Ok(moved),
        Err(Abort::Differs(moved)) => Ok(Moved { committed: false, ..moved }),
        Err(Abort::Failed(e)) => Err(e),
    }
}

/// Why the target's transaction was rolled back.
enum Abort {
    Failed(StorageError),
    Differs(Moved),
}

impl From<StorageError> for Abort {
    fn from(e: StorageError) -> Self {
        Abort::Failed(e)
    }
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Failed(e.into())
    }
}

/// The source, refusing a path that holds no database: SQLite would make
/// an empty one and the move would copy nothing.
fn open_sqlite(url: &DatabaseUrl, path: &Path) -> Result<Pooled, StorageError> {
    if !path.is_file() {
        return Err(StorageError::Conflict(format!("{} does not exist: there is nothing to move", path.display())));
    }
    let mut conn = Manager::new(url.clone())
        .connect()
        .map_err(|e| StorageError::Unreachable { url: url.to_string(), reason: e.to_string().trim().to_string() })?;
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let found: Found = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__diesel_schema_migrations'",
    )
    .get_result(&mut *conn)?;
    if found.n == 0 {
        return Err(StorageError::Conflict(format!("{url} is not a joinedup database (no migrations table)")));
    }
    Ok(conn)
}

/// The versions this joinedup's migrations bring a database to (the
/// same for both backends).
fn known_versions() -> Result<BTreeSet<String>, StorageError> {
    use diesel::migration::MigrationSource;
    let all =
        MigrationSource::<Pg>::migrations(&migrations::POSTGRES).map_err(|e| StorageError::Migration(e.to_string()))?;
    Ok(all.iter().map(|m| m.name().version().to_string()).collect())
}

/// The versions of the migrations a database has had.
fn applied(conn: &mut DbConn) -> Result<BTreeSet<String>, StorageError> {
    use diesel_migrations::MigrationHarness;
    let versions = conn.applied_migrations().map_err(|e| StorageError::Migration(e.to_string()))?;
    Ok(versions.iter().map(ToString::to_string).collect())
}

/// The PostgreSQL column types the move knows how to copy and compare.
/// Another type stops the move before anything is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    SmallInt,
    Integer,
    BigInt,
    Boolean,
    Real,
    Double,
    Text,
    Bytea,
    Date,
    Timestamp,
}

impl Type {
    /// From `information_schema.columns.data_type`.
    fn parse(data_type: &str) -> Option<Type> {
        Some(match data_type {
            "smallint" => Type::SmallInt,
            "integer" => Type::Integer,
            "bigint" => Type::BigInt,
            "boolean" => Type::Boolean,
            "real" => Type::Real,
            "double precision" => Type::Double,
            "text" | "character varying" => Type::Text,
            "bytea" => Type::Bytea,
            "date" => Type::Date,
            "timestamp without time zone" => Type::Timestamp,
            _ => return None,
        })
    }
}

struct Column {
    name: String,
    kind: Type,
}

struct Table {
    name: String,
    /// In the target's column order.
    columns: Vec<Column>,
    /// Primary-key column names, in key order (every column when the
    /// table has no key, so both sides still read in one order).
    key: Vec<String>,
}

/// Both databases' tables, checked to be the same.
struct Schema {
    tables: BTreeMap<String, Table>,
    /// (child, parent) for every foreign key between two of the tables.
    references: Vec<(String, String)>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct TargetColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
}

#[derive(QueryableByName)]
struct KeyColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

#[derive(QueryableByName)]
struct Reference {
    #[diesel(sql_type = Text)]
    child: String,
    #[diesel(sql_type = Text)]
    parent: String,
}

/// Every table but SQLite's own and diesel's migration record.
const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
                             ESCAPE '\\' AND name <> '__diesel_schema_migrations' ORDER BY name";
const PG_TABLES: &str = "SELECT table_name::text AS name FROM information_schema.tables \
                         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                         AND table_name <> '__diesel_schema_migrations' ORDER BY table_name";
const PG_COLUMNS: &str = "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                          data_type::text AS data_type FROM information_schema.columns \
                          WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position";
const PG_KEYS: &str = "SELECT k.table_name::text AS table_name, k.column_name::text AS column_name \
                       FROM information_schema.table_constraints c \
                       JOIN information_schema.key_column_usage k ON k.constraint_schema = c.constraint_schema \
                       AND k.constraint_name = c.constraint_name AND k.table_name = c.table_name \
                       WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema() \
                       ORDER BY k.table_name, k.ordinal_position";
const PG_REFERENCES: &str = "SELECT child.relname::text AS child, parent.relname::text AS parent \
                             FROM pg_constraint c JOIN pg_class child ON child.oid = c.conrelid \
                             JOIN pg_class parent ON parent.oid = c.confrelid \
                             WHERE c.contype = 'f' AND child.relnamespace = current_schema()::regnamespace";

impl Schema {
    fn read(sqlite: &mut SqliteConnection, pg: &mut PgConnection) -> Result<Schema, StorageError> {
        let in_sqlite: BTreeSet<String> =
            diesel::sql_query(SQLITE_TABLES).load::<Name>(sqlite)?.into_iter().map(|n| n.name).collect();
        let in_pg: BTreeSet<String> =
            diesel::sql_query(PG_TABLES).load::<Name>(pg)?.into_iter().map(|n| n.name).collect();
        if in_sqlite != in_pg {
            return Err(StorageError::Conflict(format!(
                "the two databases have different tables (only in SQLite: [{}]; only in PostgreSQL: [{}]), though \
                 their migrations agree: was a table made by hand? Nothing was copied",
                listed(in_sqlite.difference(&in_pg)),
                listed(in_pg.difference(&in_sqlite))
            )));
        }
        let mut tables: BTreeMap<String, Table> = in_pg
            .iter()
            .map(|name| (name.clone(), Table { name: name.clone(), columns: Vec::new(), key: Vec::new() }))
            .collect();
        for c in diesel::sql_query(PG_COLUMNS).load::<TargetColumn>(pg)? {
            let Some(table) = tables.get_mut(&c.table_name) else { continue };
            let kind = Type::parse(&c.data_type).ok_or_else(|| StorageError::Moving {
                table: c.table_name.clone(),
                reason: format!(
                    "column `{}` is of type `{}`, which `joinedup move` does not know how to copy and check",
                    c.column_name, c.data_type
                ),
            })?;
            table.columns.push(Column { name: c.column_name, kind });
        }
        for k in diesel::sql_query(PG_KEYS).load::<KeyColumn>(pg)? {
            if let Some(table) = tables.get_mut(&k.table_name) {
                table.key.push(k.column_name);
            }
        }
        for table in tables.values_mut() {
            let in_sqlite: BTreeSet<String> = diesel::sql_query("SELECT name FROM pragma_table_info(?)")
                .bind::<Text, _>(&table.name)
                .load::<Name>(sqlite)?
                .into_iter()
                .map(|n| n.name)
                .collect();
            let in_pg: BTreeSet<String> = table.columns.iter().map(|c| c.name.clone()).collect();
            if in_sqlite != in_pg {
                return Err(StorageError::Moving {
                    table: table.name.clone(),
                    reason: format!(
                        "the two databases have different columns (only in SQLite: [{}]; only in PostgreSQL: [{}]); \
                         nothing was copied",
                        listed(in_sqlite.difference(&in_pg)),
                        listed(in_pg.difference(&in_sqlite))
                    ),
                });
            }
            if table.key.is_empty() {
                table.key = table.columns.iter().map(|c| c.name.clone()).collect();
            }
        }
        let references = diesel::sql_query(PG_REFERENCES)
            .load::<Reference>(pg)?
            .into_iter()
            .filter(|r| tables.contains_key(&r.child) && tables.contains_key(&r.parent))
            .map(|r| (r.child, r.parent))
            .collect();
        Ok(Schema { tables, references })
    }

    /// Tables with every table a foreign key points to before the table
    /// itself (alphabetical among equals). A table referring to itself
    /// is copied in key order, so a row's parent row is already in; no
    /// superuser setting is needed to put off the checks.
    fn insert_order(&self) -> Result<Vec<String>, StorageError> {
        let mut parents: BTreeMap<&str, BTreeSet<&str>> =
            self.tables.keys().map(|t| (t.as_str(), BTreeSet::new())).collect();
        for (child, parent) in &self.references {
            if child != parent {
                parents.entry(child).or_default().insert(parent);
            }
        }
        let mut order: Vec<String> = Vec::new();
        while !parents.is_empty() {
            let ready: Vec<&str> = parents.iter().filter(|(_, p)| p.is_empty()).map(|(t, _)| *t).collect();
            if ready.is_empty() {
                return Err(StorageError::Conflict(format!(
                    "the foreign keys among [{}] form a cycle, so no table of them can be copied first; nothing \
                     was copied",
                    listed(parents.keys())
                )));
            }
            for table in ready {
                parents.remove(table);
                for waiting in parents.values_mut() {
                    waiting.remove(table);
                }
                order.push(table.to_string());
            }
        }
        Ok(order)
    }
}

fn listed<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    names.into_iter().map(|n| n.as_ref().to_string()).collect::<Vec<_>>().join(", ")
}

/// `name` as an SQL identifier, whatever it holds.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Inside the target's transaction: refuses a target with rows, copies
/// every table in `order`, moves the sequences on, and checks each table;
/// returns the checks and how many sequences were set.
fn copy_and_check(
    sqlite: &mut SqliteConnection,
    pg: &mut PgConnection,
    schema: &Schema,
    order: &[String],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(Vec<TableCheck>, usize), StorageError> {
    // No other writer may add rows between the check and the copy.
    let all: Vec<String> = order.iter().map(|t| quoted(t)).collect();
    pg.batch_execute(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", all.join(", ")))?;
    let mut occupied = Vec::new();
    for name in order {
        #[derive(QueryableByName)]
        struct Any {
            #[diesel(sql_type = Bool)]
            any: bool,
        }
        let found: Any =
            diesel::sql_query(format!("SELECT EXISTS (SELECT 1 FROM {}) AS any", quoted(name))).get_result(pg)?;
        if found.any {
            occupied.push(name.as_str());
        }
    }
    if !occupied.is_empty() {
        return Err(StorageError::Conflict(format!(
            "the PostgreSQL database is not empty: {} already hold(s) rows. Move into a new database (createdb), \
             or drop this one's tables first; nothing was copied",
            occupied.join(", ")
        )));
    }
    for name in order {
        let table = &schema.tables[name];
        let rows = copy_table(sqlite, pg, table, &mut |rows| progress(Progress::Copying { table: name, rows }))?;
        progress(Progress::Copied { table: name, rows });
    }
    let sequences = reset_sequences(pg)?;
    let mut tables = Vec::new();
    for name in order {
        let table = &schema.tables[name];
        let (source_rows, source_checksum) = sqlite_checksum(sqlite, table)?;
        let (target_rows, target_checksum) = pg_checksum(pg, table)?;
        let check = TableCheck { table: name.clone(), source_rows, target_rows, source_checksum, target_checksum };
        progress(Progress::Checked { table: name, ok: check.ok() });
        tables.push(check);
    }
    Ok((tables, sequences))
}

/// The SELECT both sides read a table with: its columns in the target's
/// order, rows in key order. Text keys compare byte by byte on both sides
/// (SQLite's BINARY collation, PostgreSQL's "C"), so the orders agree.
fn select_in_key_order(table: &Table, pg: bool) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
    let key: Vec<String> = table
        .key
        .iter()
        .map(|k| {
            let text = table.columns.iter().any(|c| &c.name == k && c.kind == Type::Text);
            match (pg, text) {
                (true, true) => format!("{} COLLATE \"C\" NULLS FIRST", quoted(k)),
                (true, false) => format!("{} NULLS FIRST", quoted(k)),
                (false, _) => quoted(k),
            }
        })
        .collect();
    format!("SELECT {} FROM {} ORDER BY {}", columns.join(", "), quoted(&table.name), key.join(", "))
}

/// Copies one table in batches, saying after each how many rows have
/// gone; returns the rows copied.
fn copy_table(
    sqlite: &mut SqliteConnection,
    pg: &mut PgConnection,
    table: &Table,
    sent: &mut dyn FnMut(u64),
) -> Result<u64, StorageError> {
    let failed = |reason: String| StorageError::Moving { table: table.name.clone(), reason };
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
    let insert = format!(
        "INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM json_populate_recordset(NULL::{t}, $1::json)",
        t = quoted(&table.name),
        c = columns.join(", ")
    );
    // Each row's keys, JSON-escaped once.
    let keys: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("{}:", serde_json::to_string(&c.name).expect("a string serialises")))
        .collect();
    let mut send = |batch: &mut String, rows: usize| -> Result<(), StorageError> {
        batch.push(']');
        let written = diesel::sql_query(&insert)
            .bind::<Text, _>(batch.as_str())
            .execute(pg)
            .map_err(|e| failed(e.to_string()))?;
        if written != rows {
            return Err(failed(format!("{rows} rows sent, {written} written")));
        }
        batch.clear();
        Ok(())
    };
    let mut batch = String::new();
    let (mut in_batch, mut total) = (0usize, 0u64);
    let rows = diesel::sql_query(select_in_key_order(table, false))
        .load_iter::<SqliteRow, DefaultLoadingMode>(sqlite)
        .map_err(|e| failed(e.to_string()))?;
    for row in rows {
        let row = row.map_err(|e| failed(e.to_string()))?;
        batch.push(if in_batch == 0 { '[' } else { ',' });
        batch.push('{');
        for (i, (cell, column)) in row.0.into_iter().zip(&table.columns).enumerate() {
            if i > 0 {
                batch.push(',');
            }
            batch.push_str(&keys[i]);
            let value = cell.typed(column.kind).map_err(|stored| {
                failed(format!("column `{}` holds {stored} where PostgreSQL has {:?}", column.name, column.kind))
            })?;
            value.write_json(&mut batch);
        }
        batch.push('}');
        in_batch += 1;
        total += 1;
        if in_batch == BATCH_ROWS || batch.len() >= BATCH_BYTES {
            send(&mut batch, in_batch)?;
            in_batch = 0;
            sent(total);
        }
    }
    if in_batch > 0 {
        send(&mut batch, in_batch)?;
    }
    Ok(total)
}

#[derive(QueryableByName)]
struct Sequence {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    sequence: Option<String>,
}

/// Sets each identity or serial column's sequence past the largest id
/// copied, so the next row the app inserts gets a fresh one.
fn reset_sequences(pg: &mut PgConnection) -> Result<usize, StorageError> {
    let found: Vec<Sequence> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
         pg_get_serial_sequence(quote_ident(table_schema) || '.' || quote_ident(table_name), column_name) AS sequence \
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .load(pg)?;
    let mut reset = 0;
    for s in found {
        let Some(sequence) = s.sequence else { continue };
        diesel::sql_query(format!(
            "SELECT setval($1::regclass, COALESCE((SELECT max({}) FROM {}), 0) + 1, false)",
            quoted(&s.column_name),
            quoted(&s.table_name)
        ))
        .bind::<Text, _>(&sequence)
        .execute(pg)?;
        reset += 1;
    }
    Ok(reset)
}

/// A value as SQLite stores it (its storage class).
#[derive(Debug)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A value as the PostgreSQL column holds it: what is copied and hashed.
#[derive(Debug, PartialEq)]
enum Value {
    Null,
    Integer(i64),
    Boolean(bool),
    Double(f64),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
}

/// Timestamps as diesel writes them on SQLite (`%F %T%.f`), and the
/// other forms it reads.
const TIMESTAMP_FORMATS: [&str; 6] = ["%F %T%.f", "%F %T", "%FT%T%.f", "%FT%T", "%F %R", "%FT%R"];

impl Cell {
    /// The value the PostgreSQL column of type `kind` is to hold, or the
    /// kind of value found instead (never the value: it may be personal).
    fn typed(self, kind: Type) -> Result<Value, &'static str> {
        let found = self.class();
        Ok(match (kind, self) {
            (_, Cell::Null) => Value::Null,
            (Type::SmallInt | Type::Integer | Type::BigInt, Cell::Integer(i)) => Value::Integer(i),
            // As diesel reads a SQLite boolean.
            (Type::Boolean, Cell::Integer(i)) => Value::Boolean(i != 0),
            (Type::Real | Type::Double, Cell::Real(x)) => Value::Double(x),
            (Type::Real | Type::Double, Cell::Integer(i)) => Value::Double(i as f64),
            (Type::Text, Cell::Text(s)) => Value::Text(s),
            (Type::Bytea, Cell::Blob(b)) => Value::Bytes(b),
            (Type::Bytea, Cell::Text(s)) => Value::Bytes(s.into_bytes()),
            (Type::Date, Cell::Text(s)) => {
                Value::Date(NaiveDate::parse_from_str(&s, "%F").map_err(|_| "text that is not a date")?)
            }
            (Type::Timestamp, Cell::Text(s)) => {
                let parsed = TIMESTAMP_FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(&s, f).ok());
                Value::Timestamp(to_microseconds(parsed.ok_or("text that is not a timestamp")?))
            }
            _ => return Err(found),
        })
    }

    fn class(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Integer(_) => "an integer",
            Cell::Real(_) => "a real number",
            Cell::Text(_) => "text",
            Cell::Blob(_) => "a blob",
        }
    }
}

/// PostgreSQL keeps timestamps to the microsecond; diesel drops the rest
/// when it stores one there, and so does the move.
fn to_microseconds(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or(t)
}

impl Value {
    /// The value as `json_populate_recordset` reads it into its column.
    fn write_json(&self, out: &mut String) {
        use std::fmt::Write;
        let string = |out: &mut String, s: &str| out.push_str(&serde_json::to_string(s).expect("a string serialises"));
        match self {
            Value::Null => out.push_str("null"),
            Value::Integer(i) => write!(out, "{i}").expect("writing to a String"),
            Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            // Rust's shortest form that reads back as the same double;
            // quoted, so infinities pass too.
            Value::Double(x) => string(out, &format!("{x:?}")),
            Value::Text(s) => string(out, s),
            Value::Bytes(b) => string(out, &format!("\\x{}", hex::encode(b))),
            Value::Date(d) => string(out, &d.format("%F").to_string()),
            Value::Timestamp(t) => string(out, &t.format("%F %T%.6f").to_string()),
        }
    }

    /// Feeds the value in its canonical form: a tag, then fixed-size
    /// bytes or a length and bytes, so no two rows hash alike by accident.
    fn hash(&self, h: &mut Sha256) {
        let mut with_length = |tag: u8, bytes: &[u8]| {
            h.update([tag]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        match self {
            Value::Null => with_length(b'N', &[]),
            Value::Integer(i) => with_length(b'I', &i.to_le_bytes()),
            Value::Boolean(b) => with_length(b'B', &[u8::from(*b)]),
            Value::Double(x) => with_length(b'F', &x.to_bits().to_le_bytes()),
            Value::Text(s) => with_length(b'T', s.as_bytes()),
            Value::Bytes(b) => with_length(b'X', b),
            Value::Date(d) => with_length(b'D', d.format("%F").to_string().as_bytes()),
            Value::Timestamp(t) => with_length(b'S', t.format("%F %T%.6f").to_string().as_bytes()),
        }
    }
}

/// A row of any table, as SQLite stores it.
struct SqliteRow(Vec<Cell>);

impl QueryableByName<Sqlite> for SqliteRow {
    fn build<'a>(row: &impl NamedRow<'a, Sqlite>) -> deserialize::Result<Self> {
        let mut cells = Vec::with_capacity(row.field_count());
        for i in 0..row.field_count() {
            let field = Row::get(row, i).ok_or("a column went missing")?;
            let cell = match field.value() {
                None => Cell::Null,
                Some(value) => match value.value_type() {
                    Some(SqliteType::Long) => Cell::Integer(<i64 as FromSql<BigInt, Sqlite>>::from_sql(value)?),
                    Some(SqliteType::Double) => Cell::Real(<f64 as FromSql<Double, Sqlite>>::from_sql(value)?),
                    Some(SqliteType::Text) => Cell::Text(<String as FromSql<Text, Sqlite>>::from_sql(value)?),
                    Some(SqliteType::Binary) => Cell::Blob(<Vec<u8> as FromSql<Binary, Sqlite>>::from_sql(value)?),
                    _ => Cell::Null,
                },
            };
            cells.push(cell);
        }
        Ok(SqliteRow(cells))
    }
}

/// A row of any table, as PostgreSQL returns it (by each value's type).
struct PgRow(Vec<Value>);

impl QueryableByName<Pg> for PgRow {
    fn build<'a>(row: &impl NamedRow<'a, Pg>) -> deserialize::Result<Self> {
        let mut values = Vec::with_capacity(row.field_count());
        for i in 0..row.field_count() {
            let field = Row::get(row, i).ok_or("a column went missing")?;
            let Some(raw) = field.value() else {
                values.push(Value::Null);
                continue;
            };
            // Type OIDs from PostgreSQL's pg_type.dat.
            let value = match raw.get_oid().get() {
                16 => Value::Boolean(<bool as FromSql<Bool, Pg>>::from_sql(raw)?),
                20 => Value::Integer(<i64 as FromSql<BigInt, Pg>>::from_sql(raw)?),
                21 => Value::Integer(<i16 as FromSql<SmallInt, Pg>>::from_sql(raw)?.into()),
                23 => Value::Integer(<i32 as FromSql<Integer, Pg>>::from_sql(raw)?.into()),
                25 | 1043 => Value::Text(<String as FromSql<Text, Pg>>::from_sql(raw)?),
                700 => Value::Double(<f32 as FromSql<Float, Pg>>::from_sql(raw)?.into()),
                701 => Value::Double(<f64 as FromSql<Double, Pg>>::from_sql(raw)?),
                17 => Value::Bytes(<Vec<u8> as FromSql<Binary, Pg>>::from_sql(raw)?),
                1082 => Value::Date(<NaiveDate as FromSql<Date, Pg>>::from_sql(raw)?),
                1114 => Value::Timestamp(<NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(raw)?),
                oid => return Err(format!("a value of type oid {oid}, which the move does not compare").into()),
            };
            values.push(value);
        }
        Ok(PgRow(values))
    }
}

/// Rows and checksum of a table as SQLite holds it, each value in the
/// form its PostgreSQL column gives it.
fn sqlite_checksum(sqlite: &mut SqliteConnection, table: &Table) -> Result<(u64, String), StorageError> {
    let failed = |reason: String| StorageError::Moving { table: table.name.clone(), reason };
    let mut h = Sha256::new();
    let mut rows = 0;
    for row in diesel::sql_query(select_in_key_order(table, false))
        .load_iter::<SqliteRow, DefaultLoadingMode>(sqlite)
        .map_err(|e| failed(e.to_string()))?
    {
        let row = row.map_err(|e| failed(e.to_string()))?;
        for (cell, column) in row.0.into_iter().zip(&table.columns) {
            let value =
                cell.typed(column.kind).map_err(|stored| failed(format!("column `{}` holds {stored}", column.name)))?;
            value.hash(&mut h);
        }
        rows += 1;
    }
    Ok((rows, hex::encode(h.finalize())))
}

/// Rows and checksum of a table as PostgreSQL holds it.
fn pg_checksum(pg: &mut PgConnection, table: &Table) -> Result<(u64, String), StorageError> {
    let failed = |reason: String| StorageError::Moving { table: table.name.clone(), reason };
    let mut h = Sha256::new();
    let mut rows = 0;
    for row in diesel::sql_query(select_in_key_order(table, true))
        .load_iter::<PgRow, PgRowByRowLoadingMode>(pg)
        .map_err(|e| failed(e.to_string()))?
    {
        let row = row.map_err(|e| failed(e.to_string()))?;
        for value in &row.0 {
            value.hash(&mut h);
        }
        rows += 1;
    }
    Ok((rows, hex::encode(h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: Value) -> String {
        let mut out = String::new();
        value.write_json(&mut out);
        out
    }

    #[test]
    fn sqlite_values_take_their_postgres_type() {
        assert_eq!(Cell::Integer(1).typed(Type::Boolean), Ok(Value::Boolean(true)));
        assert_eq!(Cell::Integer(0).typed(Type::Boolean), Ok(Value::Boolean(false)));
        assert_eq!(Cell::Integer(3).typed(Type::Double), Ok(Value::Double(3.0)));
        assert_eq!(Cell::Null.typed(Type::Timestamp), Ok(Value::Null));
        let t = Cell::Text("2026-12-07 10:11:12.123456789".into()).typed(Type::Timestamp).unwrap();
        assert_eq!(json(t), "\"2026-12-07 10:11:12.123456\"", "kept to the microsecond, not rounded");
        let whole = Cell::Text("2026-12-07 10:11:12".into()).typed(Type::Timestamp).unwrap();
        assert_eq!(json(whole), "\"2026-12-07 10:11:12.000000\"");
        assert_eq!(Cell::Text("yesterday".into()).typed(Type::Timestamp), Err("text that is not a timestamp"));
        assert_eq!(Cell::Real(0.5).typed(Type::BigInt), Err("a real number"));
        assert_eq!(Cell::Text("12".into()).typed(Type::Integer), Err("text"));
    }

    #[test]
    fn json_keeps_every_bit() {
        for x in [0.1, 1.0 / 3.0, 1e-300, -2.5e17, f64::MAX, f64::MIN_POSITIVE, 5e-324] {
            let text = json(Value::Double(x));
            let back: f64 = text.trim_matches('"').parse().unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{text}");
        }
        assert_eq!(json(Value::Double(f64::INFINITY)), "\"inf\"");
        assert_eq!(json(Value::Bytes(vec![0, 255])), "\"\\\\x00ff\"");
        assert_eq!(json(Value::Text("a \"b\"\n".into())), "\"a \\\"b\\\"\\n\"");
        assert_eq!(json(Value::Integer(i64::MIN)), "-9223372036854775808");
    }

    #[test]
    fn checksums_tell_values_and_their_boundaries_apart() {
        let sum = |values: &[Value]| {
            let mut h = Sha256::new();
            values.iter().for_each(|v| v.hash(&mut h));
            hex::encode(h.finalize())
        };
        let ab = [Value::Text("ab".into()), Value::Text("c".into())];
        let a_bc = [Value::Text("a".into()), Value::Text("bc".into())];
        assert_ne!(sum(&ab), sum(&a_bc));
        assert_ne!(sum(&[Value::Null]), sum(&[Value::Text(String::new())]));
        assert_ne!(sum(&[Value::Double(0.0)]), sum(&[Value::Double(-0.0)]));
        assert_ne!(sum(&[Value::Integer(1)]), sum(&[Value::Boolean(true)]));
    }

    fn schema(references: &[(&str, &str)]) -> Schema {
        let mut tables = BTreeMap::new();
        for (child, parent) in references {
            for name in [child, parent] {
                tables.insert(name.to_string(), Table { name: name.to_string(), columns: Vec::new(), key: Vec::new() });
            }
        }
        let references = references.iter().map(|(c, p)| (c.to_string(), p.to_string())).collect();
        Schema { tables, references }
    }

    #[test]
    fn parents_go_in_before_children() {
        let s = schema(&[("answers", "responses"), ("responses", "surveys"), ("responses", "responses")]);
        assert_eq!(s.insert_order().unwrap(), ["surveys", "responses", "answers"]);
        let cycle = schema(&[("a", "b"), ("b", "a"), ("c", "a")]).insert_order().unwrap_err().to_string();
        assert!(cycle.contains("cycle") && cycle.contains("[a, b, c]"), "{cycle}");
    }
}
