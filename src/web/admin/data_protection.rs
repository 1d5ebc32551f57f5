//! The data protection area: find a response by the reference its
//! respondent quotes, and withdraw it. Only the `data_protection` role
//! reaches it; the page never shows a response's answers.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::rights::{self, Found};
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::staff::{self, ErrorLink, StaffFrame, error, field, time};

type Data = web::Data<AppState>;

#[derive(Debug, Deserialize)]
pub struct FindQuery {
    reference: Option<String>,
}

/// `data_protection/home`.
#[derive(Serialize)]
struct View {
    /// The reference as typed, kept in the search box.
    typed: String,
    found: Option<FoundView>,
    /// What the withdrawal just done removed.
    done: Option<String>,
    /// Where the withdraw form posts.
    action: &'static str,
}

/// A response found by its reference: never its answers.
#[derive(Serialize)]
struct FoundView {
    reference: String,
    survey_id: String,
    version: String,
    status: &'static str,
    /// How the response came in (open link or invitation).
    channel: &'static str,
    started: String,
    submitted: Option<String>,
}

impl FoundView {
    fn from(found: &Found) -> Self {
        FoundView {
            reference: found.reference.clone(),
            survey_id: found.survey_id.clone(),
            version: found.version.clone(),
            status: if found.submitted.is_some() { "Submitted" } else { "Not submitted (in progress)" },
            channel: found.channel.as_str(),
            started: time(found.started),
            submitted: found.submitted.map(time),
        }
    }
}

fn render_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    typed: &str,
    found: Option<&Found>,
    errors: Vec<ErrorLink>,
    done: Option<String>,
) -> Result<HttpResponse, WebError> {
    let data = StaffFrame::new(state, req, Some(principal), "Find a response by its reference")
        .with_errors(errors)
        .page(View {
            typed: typed.to_string(),
            found: found.map(FoundView::from),
            done,
            action: "/data-protection/withdraw",
        });
    staff::render(state, "data_protection/home", &data)
}

/// `GET /data-protection[?reference=…]`.
pub async fn home(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<FindQuery>,
) -> Result<HttpResponse, WebError> {
    let typed = query.reference.clone().unwrap_or_default();
    if typed.trim().is_empty() {
        return render_page(&state, &req, &principal, "", None, Vec::new(), None);
    }
    let found = rights::find(&state.db, &typed).await?;
    let errors = match &found {
        Some(_) => Vec::new(),
        None => vec![error(
            "reference",
            format!(
                "No response has the reference {}: check it with the respondent (it may already have been withdrawn or deleted)",
                rights::normalise_reference(&typed)
            ),
        )],
    };
    render_page(&state, &req, &principal, &typed, found.as_ref(), errors, None)
}

/// `POST /data-protection/withdraw`: deletes the response, once confirmed.
pub async fn withdraw(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let typed = field(&fields, "reference");
    if field(&fields, "confirm") != "yes" {
        let found = rights::find(&state.db, &typed).await?;
        let errors =
            vec![error("confirm", "Tick the box to confirm the respondent asked for their answers to be removed")];
        return render_page(&state, &req, &principal, &typed, found.as_ref(), errors, None);
    }
    let outcome = rights::withdraw(&state.db, &typed, principal.actor(), principal.client_ip.clone()).await?;
    match outcome {
        Some(w) => {
            let done = format!(
                "The response to {} is withdrawn: it, its {} answer(s) and its scores are deleted. Results already released are not recomputed.",
                w.survey_id, w.answers
            );
            render_page(&state, &req, &principal, "", None, Vec::new(), Some(done))
        }
        None => {
            let errors =
                vec![error("reference", "No response has that reference any more: it may have been withdrawn already")];
            render_page(&state, &req, &principal, &typed, None, errors, None)
        }
    }
}
