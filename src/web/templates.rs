//! The handlebars templates, embedded in the binary so a deployment is one
//! file. `{{ }}` escapes HTML; no template uses the unescaped form.

use handlebars::Handlebars;

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name, ".hbs")))),*]
    };
}

const PAGES: &[(&str, &str)] = embedded!(
    "error",
    "respondent/home",
    "respondent/start",
    "respondent/privacy",
    "respondent/accessibility",
    "respondent/question",
    "respondent/check",
    "respondent/done",
    "respondent/save",
    "respondent/resume",
    "respondent/delete",
    "account/sign_in",
    "account/home",
    "account/password",
    "lead/home",
    "lead/survey",
    "lead/draft_new",
    "lead/draft",
    "lead/publish",
    "lead/preview",
    "lead/preview_done",
    "lead/sample_new",
    "lead/sample_done",
    "respondent/opt_out",
    "analyst/home",
    "analyst/results",
    "analyst/questions",
    "analyst/margins",
    "research/home",
    "data_protection/home",
    "admin/home",
    "admin/users",
    "admin/user_new",
    "admin/user",
    "admin/tokens",
    "admin/token_issued",
    "admin/audit",
);

/// Pieces shared by several staff pages.
const PARTIALS: &[(&str, &str)] = embedded!("surveys_table", "admin/roles_field", "admin/password_field");

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
    let layout = include_str!("../../templates/layout.hbs");
    hb.register_partial("layout", layout).map_err(Box::new)?;
    // The body is HTML this module rendered and escaped.
    hb.register_template_string(LAYOUT_AROUND, layout.replace("{{> @partial-block }}", "{{{page_body}}}"))
        .map_err(Box::new)?;
    for (name, source) in PARTIALS {
        hb.register_partial(name, *source).map_err(Box::new)?;
    }
    for (name, source) in PAGES {
        hb.register_template_string(name, source).map_err(Box::new)?;
        if let Some(body) = page_body(source) {
            hb.register_template_string(&format!("{name}{BODY}"), body).map_err(Box::new)?;
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
        let hb = registry().unwrap();
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
        for (name, _) in PAGES {
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
        let hb = registry().unwrap();
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
}
