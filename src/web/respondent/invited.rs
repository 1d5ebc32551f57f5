//! An invited respondent's way in: `/s/{token}` from their email. One
//! invitation makes at most one response, which the link always returns to.

use actix_web::{HttpRequest, HttpResponse, web};

use super::resume::resume_response;
use super::views::{About, Frame, Page, Start};
use super::{Data, render};
use crate::definitions::Voice;
use crate::journey::Wording;
use crate::storage::invitations::{self, Invitation};
use crate::storage::responses::{self, Channel, NewResponse, Response};
use crate::storage::{self};
use crate::tokens;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;

/// The invitation a token names, and its response if one was started.
async fn invitation(state: &Data, token: String) -> Result<(Invitation, Option<Response>), WebError> {
    let hash = tokens::hash(&token);
    let now = state.clock.now();
    let found = state
        .db
        .run(move |conn| {
            let Some(invitation) = invitations::by_hash(conn, &hash, now)? else { return Ok(None) };
            let response = responses::by_invitation(conn, invitation.id)?;
            Ok(Some((invitation, response)))
        })
        .await?;
    found.ok_or(WebError::NotFound)
}

/// `GET /s/{token}`: an invited respondent's start page, or where they left off.
pub async fn invited_start_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let token = path.into_inner();
    let (invitation, response) = invitation(&state, token.clone()).await?;
    if let Some(response) = response {
        return resume_response(&state, response).await;
    }
    let survey = state.surveys.current(&invitation.survey_id, state.clock.today()).ok_or(WebError::NotFound)?;
    let d = &survey.definition;
    let language = crate::journey::wording::choose_language(d, invitation.language.as_deref());
    let wording = Wording::new(d, language, invitation.voice.as_deref().and_then(Voice::from_code));
    let title = wording.text(&d.title);
    let mut frame = Frame::for_survey(&state, &req, &survey, &wording, title, &format!("/s/{token}"));
    // The invitation chose the language.
    frame.languages = Vec::new();
    let body = Start {
        about: About::of(&wording),
        survey_title: title.to_string(),
        action: format!("/s/{token}"),
        resume_href: None,
    };
    render(&state, "respondent/start", Page { frame, body })
}

/// `POST /s/{token}`: starts the invitation's one response (two tabs
/// starting at once still make one).
pub async fn invited_start(state: Data, path: web::Path<String>, _form: CsrfForm) -> Result<HttpResponse, WebError> {
    let token = path.into_inner();
    let (invitation, existing) = invitation(&state, token).await?;
    if let Some(response) = existing {
        return resume_response(&state, response).await;
    }
    let survey = state.surveys.current(&invitation.survey_id, state.clock.today()).ok_or(WebError::NotFound)?;
    let version_id = survey.version.id;
    let language =
        crate::journey::wording::choose_language(&survey.definition, invitation.language.as_deref()).to_string();
    let invitation_id = invitation.id;
    let at = state.clock.now();
    let response = state
        .db
        .write(move |conn| {
            let reference = tokens::new_reference();
            let new = NewResponse::begun(version_id, Channel::Invitation, &language, &reference, at).invited(
                invitation_id,
                invitation.voice.as_deref(),
                invitation.ics_code.as_deref(),
            );
            let created = responses::create(conn, &new);
            match created {
                Ok(r) => Ok(r),
                // Another tab won the race: use its response.
                Err(_) => responses::by_invitation(conn, invitation_id)?
                    .ok_or(storage::StorageError::Pool("the invitation's response vanished".into())),
            }
        })
        .await?;
    resume_response(&state, response).await
}
