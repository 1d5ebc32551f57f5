//! View models for the respondent templates: plain JSON built from the
//! definition, the respondent's voice and language, and what they entered.
//! Templates only lay out what is here; all wording decisions are made here.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::form::{FieldError, Fields, format_number};
use super::routing::Route;
use super::wording::Wording;
use crate::definitions::messages::catalogue;
use crate::definitions::{AnswerOption, AnswerValue, Answers, Page, QuestionKind, SurveyDefinition};

/// An ICS as the area question lists it, grouped by NHS region.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IcsChoice {
    pub code: String,
    pub name: String,
    pub region: String,
}

/// Every interface message in the respondent's language, for templates.
pub fn ui(wording: &Wording<'_>) -> Value {
    let keys = catalogue("en").map(|c| c.entries.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let map: Map<String, Value> = keys.into_iter().map(|k| (k.clone(), Value::String(wording.ui(&k, &[])))).collect();
    Value::Object(map)
}

/// The built-in interface wording of a language, for pages outside any survey.
pub fn catalogue_ui(language: &str) -> Value {
    let english = catalogue("en").map(|c| &c.entries);
    let own = catalogue(language).map(|c| &c.entries);
    let map: Map<String, Value> = english
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), Value::String(own.and_then(|o| o.get(k)).unwrap_or(v).clone())))
        .collect();
    Value::Object(map)
}

/// A link to the page in another of the survey's languages.
#[derive(Debug, Clone, Serialize)]
pub struct LanguageLink {
    pub code: String,
    pub name: String,
    pub href: String,
}

/// One line of a page's error summary: the mistake, linking to its field.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorLink {
    pub href: String,
    pub message: String,
}

/// Links to the survey in its other languages.
pub fn language_links(definition: &SurveyDefinition, current: &str, path: &str) -> Vec<LanguageLink> {
    if definition.languages.len() < 2 {
        return Vec::new();
    }
    definition
        .languages
        .iter()
        .filter(|l| l.code != current)
        .map(|l| LanguageLink { code: l.code.clone(), name: l.name.clone(), href: format!("{path}?lang={}", l.code) })
        .collect()
}

pub fn error_summary(errors: &[FieldError]) -> Vec<ErrorLink> {
    errors.iter().map(|e| ErrorLink { href: format!("#{}", e.field), message: e.message.clone() }).collect()
}

fn error_for<'e>(errors: &'e [FieldError], field: &str) -> Option<&'e str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

fn first(fields: &Fields, name: &str) -> String {
    fields.get(name).and_then(|v| v.first()).cloned().unwrap_or_default()
}

/// Radio or checkbox items: shown options, a divider before the
/// "don't know"-style answers, the first item carrying the question's id so
/// the error summary can link to it.
fn choice_items(wording: &Wording<'_>, id: &str, options: &[AnswerOption], chosen: &[String]) -> Vec<Value> {
    let shown: Vec<&AnswerOption> = options.iter().filter(|o| o.shown_to(wording.voice)).collect();
    let has_regular = shown.iter().any(|o| !o.is_exclusive());
    let mut divider_done = false;
    shown
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let divider = has_regular && o.is_exclusive() && !divider_done && i > 0;
            divider_done |= divider;
            json!({
                "id": if i == 0 { id.to_string() } else { format!("{id}-{}", o.code) },
                "name": id,
                "value": o.code,
                "label": wording.text(&o.label),
                "checked": chosen.contains(&o.code),
                "divider": divider,
                "exclusive": o.is_exclusive(),
            })
        })
        .collect()
}

/// The question on a page, with the values to show and any errors.
pub fn question(
    wording: &Wording<'_>,
    page: &Page,
    fields: &Fields,
    errors: &[FieldError],
    ics: &[IcsChoice],
) -> Value {
    let q = &page.question;
    let mut view = json!({
        "id": q.id,
        "heading": wording.text(&q.text),
        "hint": q.help.as_ref().map(|h| wording.text(h)),
        "optional": !q.required && !matches!(q.kind, QuestionKind::LikertGroup { .. }),
        "error": error_for(errors, &q.id),
        // Set by data entry, which shows every question numbered on one page.
        "printed_number": Value::Null,
    });
    let obj = view.as_object_mut().expect("object");
    let described: Vec<String> = [
        q.help.as_ref().map(|_| format!("{}-hint", q.id)),
        error_for(errors, &q.id).map(|_| format!("{}-error", q.id)),
    ]
    .into_iter()
    .flatten()
    .collect();
    obj.insert("describedby".into(), json!(if described.is_empty() { None } else { Some(described.join(" ")) }));
    let chosen = |name: &str| fields.get(name).cloned().unwrap_or_default();
    match &q.kind {
        QuestionKind::SingleChoice { options } => {
            obj.insert("radios".into(), json!(true));
            obj.insert("items".into(), json!(choice_items(wording, &q.id, options, &chosen(&q.id))));
        }
        QuestionKind::MultipleChoice { options, .. } => {
            obj.insert("checkboxes".into(), json!(true));
            obj.insert("items".into(), json!(choice_items(wording, &q.id, options, &chosen(&q.id))));
        }
        QuestionKind::LikertGroup { options, items } => {
            obj.insert("likert".into(), json!(true));
            let groups: Vec<Value> = items
                .iter()
                .map(|item| {
                    json!({
                        "id": item.id,
                        "legend": wording.text(&item.text),
                        "optional": !item.required,
                        "error": error_for(errors, &item.id),
                        "items": choice_items(wording, &item.id, options, &chosen(&item.id)),
                    })
                })
                .collect();
            obj.insert("groups".into(), json!(groups));
        }
        QuestionKind::IcsSelect => {
            obj.insert("select".into(), json!(true));
            let selected = first(fields, &q.id);
            let mut regions: Vec<(String, Vec<Value>)> = Vec::new();
            for choice in ics {
                let option = json!({ "value": choice.code, "label": choice.name, "selected": choice.code == selected });
                match regions.iter_mut().find(|(r, _)| *r == choice.region) {
                    Some((_, list)) => list.push(option),
                    None => regions.push((choice.region.clone(), vec![option])),
                }
            }
            let regions: Vec<Value> = regions.into_iter().map(|(r, o)| json!({ "label": r, "options": o })).collect();
            obj.insert("regions".into(), json!(regions));
        }
        QuestionKind::Number { unit, decimals, .. } => {
            obj.insert("number".into(), json!(true));
            obj.insert("value".into(), json!(first(fields, &q.id)));
            obj.insert("inputmode".into(), json!(if *decimals == 0 { "numeric" } else { "decimal" }));
            obj.insert("unit".into(), json!(unit.as_ref().map(|u| wording.text(u))));
        }
        QuestionKind::Date { .. } => {
            obj.insert("date".into(), json!(true));
            let error = errors.iter().find(|e| e.field.starts_with(&q.id)).map(|e| e.message.clone());
            obj.insert("error".into(), json!(error));
            for part in ["day", "month", "year"] {
                obj.insert(part.into(), json!(first(fields, &format!("{}-{part}", q.id))));
            }
        }
        QuestionKind::FreeText { max_length, multiline } => {
            obj.insert(if *multiline { "textarea" } else { "text" }.into(), json!(true));
            obj.insert("value".into(), json!(first(fields, &q.id)));
            let limit = wording.ui("text_limit", &[("max", &max_length.to_string())]);
            obj.insert("limit".into(), json!(limit));
        }
    }
    view
}

/// "Question 3 of 12", counting the pages this respondent will see.
pub fn progress(wording: &Wording<'_>, route: &Route, page: usize) -> String {
    let current = route.position(page).to_string();
    let total = route.visible.len().to_string();
    wording.ui("progress", &[("current", &current), ("total", &total)])
}

/// A saved answer as the respondent would read it back.
pub fn answer_lines(wording: &Wording<'_>, page: &Page, answers: &Answers) -> Vec<String> {
    let q = &page.question;
    let label = |options: &[AnswerOption], code: &str| {
        options.iter().find(|o| o.code == code).map_or_else(|| code.to_string(), |o| wording.text(&o.label).to_string())
    };
    let mut lines = Vec::new();
    match &q.kind {
        QuestionKind::LikertGroup { options, items } => {
            for item in items {
                if let Some(AnswerValue::Choice(code)) = answers.get(&item.id) {
                    lines.push(format!("{}: {}", wording.text(&item.text), label(options, code)));
                }
            }
        }
        kind => match answers.get(&q.id) {
            Some(AnswerValue::Choice(code)) => lines.push(label(kind.options(), code)),
            Some(AnswerValue::Choices(codes)) => lines.extend(codes.iter().map(|c| label(kind.options(), c))),
            Some(AnswerValue::Number(n)) => {
                let unit = match kind {
                    QuestionKind::Number { unit: Some(u), .. } => format!(" {}", wording.text(u)),
                    _ => String::new(),
                };
                lines.push(format!("{}{unit}", format_number(*n)));
            }
            Some(AnswerValue::Date(d)) => lines.push(d.format("%-d.%m.%Y").to_string()),
            Some(AnswerValue::Text(t)) => lines.push(t.clone()),
            None => {}
        },
    }
    lines
}

/// One row per shown page for "check your answers".
pub fn check_rows(
    wording: &Wording<'_>,
    definition: &SurveyDefinition,
    route: &Route,
    answers: &Answers,
    ics: &[IcsChoice],
    change_href: &dyn Fn(&str) -> String,
) -> Vec<Value> {
    route
        .visible
        .iter()
        .map(|&p| {
            let page = &definition.pages[p];
            let mut lines = answer_lines(wording, page, answers);
            if matches!(page.question.kind, QuestionKind::IcsSelect) {
                lines = lines
                    .iter()
                    .map(|code| ics.iter().find(|c| &c.code == code).map_or(code.clone(), |c| c.name.clone()))
                    .collect();
            }
            json!({
                "question": wording.text(&page.question.text),
                "lines": if lines.is_empty() { vec![wording.ui("not_answered", &[])] } else { lines },
                "href": change_href(&page.id),
            })
        })
        .collect()
}
