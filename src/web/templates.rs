//! The handlebars templates, embedded in the binary (by walking
//! `templates/` at build time) so a deployment is one file. `{{ }}`
//! escapes HTML; no template uses the unescaped form. Strict: a key a
//! template reads that the page's data lacks is an error.

use handlebars::Handlebars;

/// Every `.hbs` under `templates/` but the emails (their own registry,
/// `invitations::email`), read at build time: a new template needs no list.
#[derive(rust_embed::Embed)]
#[folder = "templates/"]
#[include = "*.hbs"]
#[exclude = "email/*"]
struct Files;

/// The templates by name: the path under `templates/` without `.hbs`.
fn templates() -> impl Iterator<Item = (String, String)> {
    Files::iter().filter_map(|path| {
        let file = Files::get(&path)?;
        let source = String::from_utf8(file.data.into_owned()).ok()?;
        Some((path.strip_suffix(".hbs")?.to_string(), source))
    })
}

/// Each page is also registered without its `{{#> layout}}` wrapper, under
/// its name with this suffix, for `render_owned`.
const BODY: &str = "#body";
/// The layout as a template with the page's rendered body put in place.
const LAYOUT_AROUND: &str = "layout#around";

/// A page's own part: its source inside `{{#> layout}} ... {{/layout}}`.
fn page_body(source: &str) -> Option<&str> {
    source.trim_end().strip_prefix("{{#> layout}}")?.strip_suffix("{{/layout}}")
}

pub fn registry() -> Result<Handlebars<'static>, Box<handlebars::TemplateError>> {
    let mut hb = Handlebars::new();
    hb.set_dev_mode(false);
    // A key a template reads that the page's data lacks is an error, not a blank.
    hb.set_strict_mode(true);
    for (name, source) in templates() {
        // Every file is both: a page to render, and a partial (`layout`,
        // the shared form fields) that others include.
        hb.register_partial(&name, &source).map_err(Box::new)?;
        hb.register_template_string(&name, &source).map_err(Box::new)?;
        if let Some(body) = page_body(&source) {
            hb.register_template_string(&format!("{name}{BODY}"), body).map_err(Box::new)?;
        }
        if name == "layout" {
            // The body is HTML this module rendered and escaped.
            let around = source.replace("{{> @partial-block }}", "{{{page_body}}}");
            hb.register_template_string(LAYOUT_AROUND, around).map_err(Box::new)?;
        }
    }
    Ok(hb)
}

/// Renders a page from data the caller hands over. `Handlebars::render`
/// would first copy the whole value into its own context, and the
/// `{{#> layout}}` partial block copies it again; a respondent page's data
/// is a few hundred strings, copied on every request. So the page's body
/// is rendered first, then the layout around it, from the one context.
pub fn render_owned(
    hb: &Handlebars<'_>,
    name: &str,
    data: serde_json::Value,
) -> Result<String, handlebars::RenderError> {
    let mut context = handlebars::Context::from(data);
    let body_name = format!("{name}{BODY}");
    if !hb.has_template(&body_name) || !context.data().is_object() {
        return hb.render_with_context(name, &context);
    }
    let body = hb.render_with_context(&body_name, &context)?;
    if let Some(map) = context.data_mut().as_object_mut() {
        map.insert("page_body".to_string(), serde_json::Value::String(body));
    }
    hb.render_with_context(LAYOUT_AROUND, &context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Rendering a page's body and then the layout around it gives the page
    /// the `{{#> layout}}` block gives, but for indentation.
    #[test]
    fn body_then_layout_is_the_page() {
        // One set of data for every page: not strict, as no page has all
        // the keys every other page reads (real pages are rendered strict
        // by the integration tests).
        let mut hb = registry().unwrap();
        hb.set_strict_mode(false);
        let data = json!({
            "lang": "en",
            "title": "A <title>",
            "ui": crate::journey::view::catalogue_ui("en"),
            "errors": [{ "href": "#q", "text": "Choose one & go on" }],
            "languages": [{ "code": "cy", "name": "Cymraeg", "href": "?lang=cy" }],
            "question": {
                "id": "q", "heading": "How <joined> up?", "radios": true, "hint": "Think of the last year",
                "error": "Choose one", "items": [
                    { "id": "q-1", "name": "q", "value": "1", "label": "Yes", "checked": true },
                    { "divider": true, "id": "q-2", "name": "q", "value": "2", "label": "Don't know" },
                ],
            },
            "back_href": "/back",
            "privacy_href": "/privacy",
            "reference": "ABC-123",
        });
        let words = |html: String| html.split_whitespace().collect::<Vec<_>>().join(" ");
        let pages: Vec<String> = templates().filter(|(_, s)| page_body(s).is_some()).map(|(n, _)| n).collect();
        assert!(pages.len() > 30, "{pages:?}");
        for name in &pages {
            let whole = hb.render(name, &data).unwrap();
            let parts = render_owned(&hb, name, data.clone()).unwrap();
            assert_eq!(words(whole), words(parts), "{name}");
        }
        assert!(hb.has_template("respondent/question#body"));
    }

    /// Each question of a Likert group is its own fieldset under one
    /// heading; a screen reader entering any of them hears the page's hint,
    /// and that question's error.
    #[test]
    fn likert_questions_are_described_by_the_hint() {
        let mut hb = registry().unwrap();
        hb.set_strict_mode(false);
        let group = |id: &str, error: Option<&str>| json!({ "id": id, "legend": id, "error": error, "items": [] });
        let page = |hint: Option<&str>| {
            json!({
                "lang": "en",
                "ui": crate::journey::view::catalogue_ui("en"),
                "question": {
                    "id": "page", "heading": "About your care", "likert": true, "hint": hint,
                    "groups": [group("a", None), group("b", Some("Choose one"))],
                },
            })
        };
        let html = render_owned(&hb, "respondent/question", page(Some("Think of the last year"))).unwrap();
        assert!(html.contains(r#"<fieldset class="nhsuk-fieldset" aria-describedby="page-hint">"#), "{html}");
        assert!(html.contains(r#"aria-describedby="page-hint b-error""#), "{html}");
        let html = render_owned(&hb, "respondent/question", page(None)).unwrap();
        assert!(html.contains(r#"<fieldset class="nhsuk-fieldset">"#), "{html}");
        assert!(html.contains(r#"<fieldset class="nhsuk-fieldset" aria-describedby="b-error">"#), "{html}");
    }

    /// Pages render strictly: a key the template reads that the data lacks
    /// is an error, not a blank on the page.
    #[test]
    fn a_missing_key_is_an_error() {
        let hb = registry().unwrap();
        let data = json!({
            "lang": "en", "title": "Sent", "service_name": "S", "home_href": "/",
            "ui": crate::journey::view::catalogue_ui("en"), "reference": "ABC-123",
        });
        let err = render_owned(&hb, "respondent/done", data.clone()).unwrap_err();
        assert!(err.to_string().contains("withdraw"), "{err}");
        let mut data = data;
        data["withdraw"] = json!("Write to us.");
        render_owned(&hb, "respondent/done", data).unwrap();
    }
}
