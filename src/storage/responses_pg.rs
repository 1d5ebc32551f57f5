//! PostgreSQL's one-statement forms of the two queries every respondent
//! page runs: reading a response with its answers, and saving a page.
//!
//! On PostgreSQL each statement is a round trip to a server process that
//! shares the machine; the portable forms in `responses` take two round
//! trips to read and four or more (begin, update, delete, an upsert per
//! answer, commit) to save. Here each is one statement, so one round trip,
//! and a save is still atomic: a single statement is its own transaction.
//! SQLite runs in-process with no round trips and keeps the portable
//! forms. Both backends run the same respondent tests.

use chrono::NaiveDateTime;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp, Untyped};

use super::StorageError;
use super::responses::{self, PageSave, Response, ResponseStatus};

/// diesel prepares a statement once per connection and reuses it only for
/// queries with a static id; `sql_query` has none, so PostgreSQL would parse
/// and plan these statements on every page. Each statement here is its own
/// type, with its binds pushed in order, so it is prepared once.
macro_rules! prepared_once {
    ($this:ty, $id:ty) => {
        impl QueryId for $this {
            type QueryId = $id;
            const HAS_STATIC_QUERY_ID: bool = true;
        }
        impl Query for $this {
            type SqlType = Untyped;
        }
        impl RunQueryDsl<PgConnection> for $this {}
    };
}

/// A response with its answers as two arrays in question id order.
struct WithAnswersQuery {
    id: i64,
}
prepared_once!(WithAnswersQuery, WithAnswersQuery);

impl QueryFragment<Pg> for WithAnswersQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT r.*, coalesce(a.question_ids, '{}') AS question_ids, \
             coalesce(a.answer_values, '{}') AS answer_values \
             FROM responses r LEFT JOIN LATERAL ( \
                 SELECT array_agg(question_id ORDER BY question_id) AS question_ids, \
                        array_agg(value ORDER BY question_id) AS answer_values \
                 FROM answers WHERE response_id = r.id) a ON true \
             WHERE r.id = ",
        );
        out.push_bind_param::<BigInt, _>(&self.id)
    }
}

#[derive(QueryableByName)]
struct WithAnswers {
    #[diesel(embed)]
    response: Response,
    #[diesel(sql_type = Array<Text>)]
    question_ids: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    answer_values: Vec<String>,
}

pub fn with_answers(conn: &mut PgConnection, id: i64) -> Result<Option<responses::WithAnswers>, StorageError> {
    let found: Option<WithAnswers> = WithAnswersQuery { id }.get_result(conn).optional()?;
    Ok(found.map(|f| (f.response, f.question_ids.into_iter().zip(f.answer_values).collect())))
}

/// One page saved. Every part runs only if the response is still in
/// progress and at the revision the page was worked out from (`touched` is
/// empty otherwise). The parts of one statement see
/// the same snapshot, so an id is never both removed and given: the
/// removed list leaves out the given ids.
struct ApplyPageQuery<'a> {
    response_id: i64,
    at: NaiveDateTime,
    set_voice: bool,
    voice: Option<&'a str>,
    set_ics: bool,
    ics_code: Option<&'a str>,
    revision: Option<i64>,
    removed: Vec<&'a str>,
    ids: Vec<&'a str>,
    values: Vec<&'a str>,
}
prepared_once!(ApplyPageQuery<'_>, ApplyPageQuery<'static>);

impl QueryFragment<Pg> for ApplyPageQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH touched AS (UPDATE responses SET updated_at = ");
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql(", voice = CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.set_voice)?;
        out.push_sql(" THEN ");
        out.push_bind_param::<Nullable<Text>, _>(&self.voice)?;
        out.push_sql(" ELSE voice END, ics_code = CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.set_ics)?;
        out.push_sql(" THEN ");
        out.push_bind_param::<Nullable<Text>, _>(&self.ics_code)?;
        out.push_sql(" ELSE ics_code END, revision = revision + 1 WHERE id = ");
        out.push_bind_param::<BigInt, _>(&self.response_id)?;
        out.push_sql(" AND status = ");
        out.push_bind_param::<Text, _>(&ResponseStatus::InProgress)?;
        out.push_sql(" AND revision = coalesce(");
        out.push_bind_param::<Nullable<BigInt>, _>(&self.revision)?;
        out.push_sql(", revision)");
        out.push_sql(
            " RETURNING id), \
             removed AS (DELETE FROM answers WHERE response_id IN (SELECT id FROM touched) AND question_id = ANY(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.removed)?;
        out.push_sql(
            ")), given AS (INSERT INTO answers (response_id, question_id, value, answered_at) \
             SELECT t.id, g.question_id, g.value, ",
        );
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql(" FROM touched t, unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.ids)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.values)?;
        out.push_sql(
            "::text[]) AS g(question_id, value) \
             ON CONFLICT (response_id, question_id) \
             DO UPDATE SET value = EXCLUDED.value, answered_at = EXCLUDED.answered_at) \
             SELECT count(*) AS touched FROM touched",
        );
        Ok(())
    }
}

#[derive(QueryableByName)]
struct Touched {
    #[diesel(sql_type = BigInt)]
    touched: i64,
}

pub fn apply_page(
    conn: &mut PgConnection,
    response_id: i64,
    save: &PageSave,
    at: NaiveDateTime,
) -> Result<bool, StorageError> {
    let (ids, values): (Vec<&str>, Vec<&str>) = save.given.iter().map(|(q, v)| (q.as_str(), v.as_str())).unzip();
    let removed = save.removed.iter().map(String::as_str).filter(|r| !ids.contains(r)).collect();
    let query = ApplyPageQuery {
        response_id,
        at,
        set_voice: save.voice.is_some(),
        voice: save.voice.as_ref().and_then(|v| v.as_deref()),
        set_ics: save.ics_code.is_some(),
        ics_code: save.ics_code.as_ref().and_then(|v| v.as_deref()),
        revision: save.revision,
        removed,
        ids,
        values,
    };
    let row: Touched = query.get_result(conn)?;
    Ok(row.touched == 1)
}
