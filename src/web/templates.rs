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

pub fn registry() -> Result<Handlebars<'static>, Box<handlebars::TemplateError>> {
    let mut hb = Handlebars::new();
    hb.set_dev_mode(false);
    hb.register_partial("layout", include_str!("../../templates/layout.hbs")).map_err(Box::new)?;
    for (name, source) in PARTIALS {
        hb.register_partial(name, *source).map_err(Box::new)?;
    }
    for (name, source) in PAGES {
        hb.register_template_string(name, source).map_err(Box::new)?;
    }
    Ok(hb)
}

/// Renders a page from data the caller hands over. `Handlebars::render`
/// would first copy the whole value into its own context; a respondent
/// page's data is a few hundred strings, copied on every request.
pub fn render_owned(
    hb: &Handlebars<'_>,
    name: &str,
    data: serde_json::Value,
) -> Result<String, handlebars::RenderError> {
    hb.render_with_context(name, &handlebars::Context::from(data))
}
