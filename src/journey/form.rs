//! Reading one submitted page: every field is checked against the
//! definition, because the server never trusts the browser. A person's
//! mistake comes back as a message by the field; a value no form could have
//! sent (an unknown option or field) is refused outright.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::wording::Wording;
use crate::definitions::{
    AnswerOption, AnswerValue, Answers, DateBound, Page, Question, QuestionKind, Rule, SurveyDefinition,
};

/// Raw form values by field name; checkboxes repeat a name.
pub type Fields = BTreeMap<String, Vec<String>>;

/// Longest value any field may carry; text answers have their own, smaller limit.
pub const MAX_FIELD_CHARS: usize = 10_000;

/// A form that no page could have produced: answered with HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Tampered(pub String);

/// A mistake to show by a field and in the error summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The HTML id the error summary links to.
    pub field: String,
    pub rule: Rule,
    pub message: String,
}

/// What a valid page changes: answers given, and answers removed (an
/// optional question left blank).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PageInput {
    pub given: Vec<(String, AnswerValue)>,
    pub cleared: Vec<String>,
}

/// Everything reading a page depends on besides the form itself.
pub struct Context<'a> {
    pub wording: Wording<'a>,
    /// The ICS codes a respondent may choose today.
    pub ics_codes: &'a BTreeSet<String>,
    pub today: NaiveDate,
}

/// Field names a page's form may contain (besides the CSRF token).
pub fn field_names(page: &Page) -> Vec<String> {
    let q = &page.question;
    match &q.kind {
        QuestionKind::LikertGroup { items, .. } => items.iter().map(|i| i.id.clone()).collect(),
        QuestionKind::Date { .. } => ["day", "month", "year"].iter().map(|p| format!("{}-{p}", q.id)).collect(),
        _ => vec![q.id.clone()],
    }
}

pub fn read_page(
    ctx: &Context<'_>,
    page: &Page,
    fields: &Fields,
) -> Result<Result<PageInput, Vec<FieldError>>, Tampered> {
    let allowed = field_names(page);
    for (name, values) in fields {
        if !allowed.contains(name) {
            return Err(Tampered(format!("the form has a field `{}` that this page does not ask", truncate(name))));
        }
        if values.iter().any(|v| v.chars().count() > MAX_FIELD_CHARS) {
            return Err(Tampered(format!("the value of `{name}` is too long")));
        }
    }
    let q = &page.question;
    let mut input = PageInput::default();
    let mut errors = Vec::new();
    let mut outcome = |id: &str, result: Result<Option<AnswerValue>, FieldError>| match result {
        Ok(Some(value)) => input.given.push((id.to_string(), value)),
        Ok(None) => input.cleared.push(id.to_string()),
        Err(e) => errors.push(e),
    };
    match &q.kind {
        QuestionKind::SingleChoice { options } => {
            let result = single(ctx, q, &q.id, q.required, options, fields.get(&q.id))?;
            outcome(&q.id, result);
        }
        QuestionKind::IcsSelect => {
            let result = ics(ctx, q, fields.get(&q.id))?;
            outcome(&q.id, result);
        }
        QuestionKind::LikertGroup { options, items } => {
            for item in items {
                let result = single(ctx, q, &item.id, item.required, options, fields.get(&item.id))?;
                outcome(&item.id, result);
            }
        }
        QuestionKind::MultipleChoice { options, min_selected, max_selected } => {
            let result = multiple(ctx, q, options, *min_selected, *max_selected, fields.get(&q.id))?;
            outcome(&q.id, result);
        }
        QuestionKind::Number { min, max, decimals, .. } => {
            let result = number(ctx, q, *min, *max, *decimals, fields.get(&q.id))?;
            outcome(&q.id, result);
        }
        QuestionKind::Date { min, max } => {
            let result = date(ctx, q, *min, *max, fields)?;
            outcome(&q.id, result);
        }
        QuestionKind::FreeText { max_length, .. } => {
            let result = text(ctx, q, *max_length, fields.get(&q.id))?;
            outcome(&q.id, result);
        }
    }
    Ok(if errors.is_empty() { Ok(input) } else { Err(errors) })
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn one<'v>(id: &str, values: Option<&'v Vec<String>>) -> Result<Option<&'v str>, Tampered> {
    match values.map(Vec::as_slice) {
        None | Some([]) => Ok(None),
        Some([v]) => Ok(Some(v.as_str())),
        Some(_) => Err(Tampered(format!("`{id}` was sent more than once"))),
    }
}

/// The message for a broken rule: the question's own, else the default.
fn message(ctx: &Context<'_>, q: &Question, rule: Rule, default_key: &str, params: &[(&str, &str)]) -> String {
    match q.errors.get(&rule) {
        Some(text) => {
            let own = ctx.wording.text(text).to_string();
            params.iter().fold(own, |acc, (name, value)| acc.replace(&format!("{{{name}}}"), value))
        }
        None => ctx.wording.ui(default_key, params),
    }
}

fn error(ctx: &Context<'_>, q: &Question, field: &str, rule: Rule, key: &str, params: &[(&str, &str)]) -> FieldError {
    FieldError { field: field.to_string(), rule, message: message(ctx, q, rule, key, params) }
}

fn single(
    ctx: &Context<'_>,
    q: &Question,
    id: &str,
    required: bool,
    options: &[AnswerOption],
    values: Option<&Vec<String>>,
) -> Result<Result<Option<AnswerValue>, FieldError>, Tampered> {
    let Some(code) = one(id, values)? else {
        return Ok(if required {
            Err(error(ctx, q, id, Rule::Required, "error_required_choice", &[]))
        } else {
            Ok(None)
        });
    };
    let known = options.iter().any(|o| o.code == code && o.shown_to(ctx.wording.voice));
    if !known {
        return Err(Tampered(format!("`{}` is not an option of `{id}`", truncate(code))));
    }
    Ok(Ok(Some(AnswerValue::Choice(code.to_string()))))
}

fn ics(
    ctx: &Context<'_>,
    q: &Question,
    values: Option<&Vec<String>>,
) -> Result<Result<Option<AnswerValue>, FieldError>, Tampered> {
    match one(&q.id, values)? {
        None | Some("") => Ok(if q.required {
            Err(error(ctx, q, &q.id, Rule::Required, "error_required_choice", &[]))
        } else {
            Ok(None)
        }),
        Some(code) if ctx.ics_codes.contains(code) => Ok(Ok(Some(AnswerValue::Choice(code.to_string())))),
        Some(code) => Err(Tampered(format!("`{}` is not an area in the list", truncate(code)))),
    }
}

fn multiple(
    ctx: &Context<'_>,
    q: &Question,
    options: &[AnswerOption],
    min_selected: Option<u32>,
    max_selected: Option<u32>,
    values: Option<&Vec<String>>,
) -> Result<Result<Option<AnswerValue>, FieldError>, Tampered> {
    let chosen: BTreeSet<&str> = values.map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
    if values.is_some_and(|v| v.len() != chosen.len()) {
        return Err(Tampered(format!("an option of `{}` was sent twice", q.id)));
    }
    for code in &chosen {
        if !options.iter().any(|o| o.code == *code && o.shown_to(ctx.wording.voice)) {
            return Err(Tampered(format!("`{}` is not an option of `{}`", truncate(code), q.id)));
        }
    }
    if chosen.is_empty() {
        return Ok(if q.required {
            Err(error(ctx, q, &q.id, Rule::Required, "error_required_multiple", &[]))
        } else {
            Ok(None)
        });
    }
    let codes: Vec<String> =
        options.iter().filter(|o| chosen.contains(o.code.as_str())).map(|o| o.code.clone()).collect();
    if codes.len() > 1
        && let Some(exclusive) = options.iter().find(|o| o.is_exclusive() && chosen.contains(o.code.as_str()))
    {
        let label = ctx.wording.text(&exclusive.label);
        return Ok(Err(error(ctx, q, &q.id, Rule::Exclusive, "error_exclusive", &[("option", label)])));
    }
    let n = codes.len() as u32;
    if let Some(min) = min_selected
        && n < min
        && !options.iter().any(|o| o.is_exclusive() && chosen.contains(o.code.as_str()))
    {
        return Ok(Err(error(ctx, q, &q.id, Rule::TooFew, "error_too_few", &[("min", &min.to_string())])));
    }
    if let Some(max) = max_selected
        && n > max
    {
        return Ok(Err(error(ctx, q, &q.id, Rule::TooMany, "error_too_many", &[("max", &max.to_string())])));
    }
    Ok(Ok(Some(AnswerValue::Choices(codes))))
}

/// Shows a bound as a person would write it: no trailing `.0`.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

fn number(
    ctx: &Context<'_>,
    q: &Question,
    min: f64,
    max: f64,
    decimals: u32,
    values: Option<&Vec<String>>,
) -> Result<Result<Option<AnswerValue>, FieldError>, Tampered> {
    let raw = one(&q.id, values)?.unwrap_or("").trim();
    if raw.is_empty() {
        return Ok(if q.required {
            Err(error(ctx, q, &q.id, Rule::Required, "error_required_number", &[]))
        } else {
            Ok(None)
        });
    }
    let cleaned: String = raw.chars().filter(|c| !matches!(c, ',' | ' ')).collect();
    let places = cleaned.split_once('.').map_or(0, |(_, f)| f.len());
    let valid_shape = !cleaned.is_empty()
        && cleaned.chars().enumerate().all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'))
        && cleaned.matches('.').count() <= 1;
    let parsed = cleaned.parse::<f64>().ok().filter(|n| n.is_finite());
    let (Some(n), true) = (parsed, valid_shape && places <= decimals as usize) else {
        return Ok(Err(error(ctx, q, &q.id, Rule::Invalid, "error_invalid_number", &[])));
    };
    if n < min || n > max {
        let (lo, hi) = (format_number(min), format_number(max));
        return Ok(Err(error(ctx, q, &q.id, Rule::Range, "error_range", &[("min", &lo), ("max", &hi)])));
    }
    Ok(Ok(Some(AnswerValue::Number(n))))
}

fn date(
    ctx: &Context<'_>,
    q: &Question,
    min: Option<DateBound>,
    max: Option<DateBound>,
    fields: &Fields,
) -> Result<Result<Option<AnswerValue>, FieldError>, Tampered> {
    let part = |p: &str| -> Result<String, Tampered> {
        let name = format!("{}-{p}", q.id);
        Ok(one(&name, fields.get(&name))?.unwrap_or("").trim().to_string())
    };
    let (day, month, year) = (part("day")?, part("month")?, part("year")?);
    let first_field = format!("{}-day", q.id);
    if day.is_empty() && month.is_empty() && year.is_empty() {
        return Ok(if q.required {
            Err(error(ctx, q, &first_field, Rule::Required, "error_required_date", &[]))
        } else {
            Ok(None)
        });
    }
    let parsed = match (day.parse::<u32>(), month.parse::<u32>(), year.parse::<i32>()) {
        (Ok(d), Ok(m), Ok(y)) if year.len() == 4 => NaiveDate::from_ymd_opt(y, m, d),
        _ => None,
    };
    let Some(date) = parsed else {
        return Ok(Err(error(ctx, q, &first_field, Rule::Invalid, "error_invalid_date", &[])));
    };
    let resolve = |b: DateBound| match b {
        DateBound::Today => ctx.today,
        DateBound::Fixed(d) => d,
    };
    let (lo, hi) = (min.map(resolve), max.map(resolve));
    if lo.is_some_and(|lo| date < lo) || hi.is_some_and(|hi| date > hi) {
        let show = |d: Option<NaiveDate>| d.map_or_else(String::new, |d| d.format("%-d %m %Y").to_string());
        return Ok(Err(error(
            ctx,
            q,
            &first_field,
            Rule::Range,
            "error_date_range",
            &[("min", &show(lo)), ("max", &show(hi))],
        )));
    }
    Ok(Ok(Some(AnswerValue::Date(date))))
}

fn text(
    ctx: &Context<'_>,
    q: &Question,
    max_length: u32,
    values: Option<&Vec<String>>,
) -> Result<Result<Option<AnswerValue>, FieldError>, Tampered> {
    let raw = one(&q.id, values)?.unwrap_or("");
    let normalised = raw.replace("\r\n", "\n");
    let trimmed = normalised.trim();
    if trimmed.is_empty() {
        return Ok(if q.required {
            Err(error(ctx, q, &q.id, Rule::Required, "error_required_text", &[]))
        } else {
            Ok(None)
        });
    }
    if trimmed.chars().count() > max_length as usize {
        return Ok(Err(error(ctx, q, &q.id, Rule::TooLong, "error_too_long", &[("max", &max_length.to_string())])));
    }
    Ok(Ok(Some(AnswerValue::Text(trimmed.to_string()))))
}

/// Rebuilds typed answers from stored rows; rows for ids the definition no
/// longer has are ignored.
pub fn answers_from_stored<'r>(
    definition: &SurveyDefinition,
    rows: impl IntoIterator<Item = (&'r str, &'r str)>,
) -> Answers {
    let mut kinds: BTreeMap<&str, &QuestionKind> = BTreeMap::new();
    for page in &definition.pages {
        let q = &page.question;
        kinds.insert(&q.id, &q.kind);
        if let QuestionKind::LikertGroup { items, .. } = &q.kind {
            for item in items {
                kinds.insert(&item.id, &q.kind);
            }
        }
    }
    let mut answers = Answers::new();
    for (id, value) in rows {
        let decoded = match kinds.get(id) {
            Some(QuestionKind::MultipleChoice { .. }) => {
                Some(AnswerValue::Choices(value.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()))
            }
            Some(QuestionKind::Number { .. }) => value.parse().ok().map(AnswerValue::Number),
            Some(QuestionKind::Date { .. }) => NaiveDate::parse_from_str(value, "%Y-%m-%d").ok().map(AnswerValue::Date),
            Some(QuestionKind::FreeText { .. }) => Some(AnswerValue::Text(value.to_string())),
            Some(_) => Some(AnswerValue::Choice(value.to_string())),
            None => None,
        };
        if let Some(v) = decoded {
            answers.insert(id, v);
        }
    }
    answers
}

/// The form values that show saved answers on a page.
pub fn fields_from_answers(page: &Page, answers: &Answers) -> Fields {
    let mut fields = Fields::new();
    let q = &page.question;
    let ids: Vec<&str> = match &q.kind {
        QuestionKind::LikertGroup { items, .. } => items.iter().map(|i| i.id.as_str()).collect(),
        _ => vec![q.id.as_str()],
    };
    for id in ids {
        match answers.get(id) {
            Some(AnswerValue::Choice(c)) => {
                fields.insert(id.to_string(), vec![c.clone()]);
            }
            Some(AnswerValue::Choices(cs)) => {
                fields.insert(id.to_string(), cs.clone());
            }
            Some(AnswerValue::Number(n)) => {
                fields.insert(id.to_string(), vec![format_number(*n)]);
            }
            Some(AnswerValue::Text(t)) => {
                fields.insert(id.to_string(), vec![t.clone()]);
            }
            Some(AnswerValue::Date(d)) => {
                fields.insert(format!("{id}-day"), vec![d.format("%-d").to_string()]);
                fields.insert(format!("{id}-month"), vec![d.format("%-m").to_string()]);
                fields.insert(format!("{id}-year"), vec![d.format("%Y").to_string()]);
            }
            None => {}
        }
    }
    fields
}
