//! The response a respondent is answering, read once per request by an
//! extractor. A page states what it needs in its signature (`Answering`,
//! `Finishing` or `Stored`) and gets a response or never runs: with no
//! response the respondent is sent to the survey's start page, and a page
//! that changes answers sends a submitted response to its confirmation.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{FromRequest, HttpRequest, web};

use super::response_cache::Kept;
use super::{check_path, cookie, done_path, page_path, survey_path};
use crate::definitions::{Answers, Voice};
use crate::journey::form::answers_from_stored;
use crate::journey::{Presets, Route, Wording};
use crate::storage::responses::{self, Response};
use crate::surveys::PublishedSurvey;
use crate::web::AppState;
use crate::web::errors::WebError;

type Data = web::Data<AppState>;

/// The response being answered, with everything a page needs.
pub struct Current {
    pub survey: Arc<PublishedSurvey>,
    pub response: Response,
    pub answers: Answers,
    pub route: Route,
}

impl Current {
    pub fn presets(response: &Response) -> Presets {
        Presets {
            voice: if response.voice_preset { response.voice.as_deref().and_then(Voice::from_code) } else { None },
            ics: response.ics_preset,
        }
    }

    pub fn wording(&self) -> Wording<'_> {
        let language = crate::journey::wording::choose_language(&self.survey.definition, Some(&self.response.language));
        Wording::new(&self.survey.definition, language, self.route.voice)
    }

    pub fn survey_id(&self) -> &str {
        &self.survey.definition.id
    }

    /// Where a returning respondent picks up: the first unanswered page,
    /// or check answers, or the confirmation if already sent.
    pub fn resume_location(&self) -> String {
        let id = self.survey_id();
        if self.response.is_submitted() {
            return done_path(id);
        }
        match self.route.resume_point(&self.survey.definition, &self.answers) {
            Some(p) => page_path(id, &self.survey.definition.pages[p].id),
            None => check_path(id),
        }
    }
}

/// Where a response is read from.
#[derive(Clone, Copy, PartialEq)]
pub enum Source {
    /// The copy kept between pages, if there is one: the question pages.
    Kept,
    /// The database: a save found the kept copy out of date, or the step
    /// is one a respondent takes once (check answers, submit, confirmation,
    /// save, delete), where what another process changed matters more than
    /// a read.
    Database,
}

/// The response this browser is answering for `survey_id`, if any.
pub(super) async fn load_current(
    state: &Data,
    req: &HttpRequest,
    survey_id: &str,
    source: Source,
) -> Result<Option<Current>, WebError> {
    let Some((id, seen)) = cookie::read(state, req, survey_id) else { return Ok(None) };
    load_response(state, id, survey_id, source, seen).await
}

/// `seen` is the newest revision the browser has seen: a kept copy older
/// than it was left behind by a save another instance served.
pub(super) async fn load_response(
    state: &Data,
    id: i64,
    survey_id: &str,
    source: Source,
    seen: i64,
) -> Result<Option<Current>, WebError> {
    let kept = if source == Source::Kept { state.responses.get(id) } else { None };
    let kept = kept.filter(|k| k.response.revision >= seen);
    let (response, answers, route, survey) = match kept {
        Some(kept) => {
            let Some(survey) = state.surveys.get_or_reload(&state.db, kept.response.survey_version_id).await? else {
                return Ok(None);
            };
            let Kept { response, answers, route } = Kept::clone(&kept);
            (response, answers, route, survey)
        }
        None => {
            let loaded = state.db.read_small(move |conn| responses::with_answers(conn, id)).await?;
            let Some((response, rows)) = loaded else {
                state.responses.forget(id);
                return Ok(None);
            };
            let Some(survey) = state.surveys.get_or_reload(&state.db, response.survey_version_id).await? else {
                return Ok(None);
            };
            let d = &survey.definition;
            let answers = answers_from_stored(d, rows.iter().map(|(q, v)| (q.as_str(), v.as_str())));
            let route = Route::compute(d, Current::presets(&response), &answers);
            state.responses.keep(response.clone(), answers.clone(), route.clone());
            (response, answers, route, survey)
        }
    };
    if survey.definition.id != survey_id {
        return Ok(None);
    }
    Ok(Some(Current { survey, response, answers, route }))
}

/// What a page needs of the response: where it is read from, and whether
/// a submitted one is sent on to its confirmation.
pub trait Need {
    const SOURCE: Source;
    const IN_PROGRESS: bool;
}

/// A question page: the kept copy will do; the response must be open.
pub struct Open;
impl Need for Open {
    const SOURCE: Source = Source::Kept;
    const IN_PROGRESS: bool = true;
}

/// A step taken once (check answers, submit, save, delete): read afresh;
/// the response must be open.
pub struct OpenFresh;
impl Need for OpenFresh {
    const SOURCE: Source = Source::Database;
    const IN_PROGRESS: bool = true;
}

/// Read afresh, open or submitted (the confirmation, "save for later").
pub struct AnyFresh;
impl Need for AnyFresh {
    const SOURCE: Source = Source::Database;
    const IN_PROGRESS: bool = false;
}

/// The response for the `{survey_id}` in the path, read as `N` says.
pub struct ResponseOf<N>(pub Current, PhantomData<N>);

/// A question page's response.
pub type Answering = ResponseOf<Open>;
/// Check answers, submit, save and delete.
pub type Finishing = ResponseOf<OpenFresh>;
/// The confirmation and the "save for later" page.
pub type Stored = ResponseOf<AnyFresh>;

impl<N: Need> ResponseOf<N> {
    /// The response, or where to send the respondent instead. A form's
    /// handler calls this after its `CsrfForm`, so a form without a valid
    /// token is refused as such whatever the response's state.
    pub async fn of(req: &HttpRequest) -> Result<Current, WebError> {
        let state = req.app_data::<Data>().ok_or(WebError::Internal)?;
        let survey_id = req.match_info().get("survey_id").ok_or(WebError::NotFound)?;
        let current = load_current(state, req, survey_id, N::SOURCE)
            .await?
            .ok_or_else(|| WebError::SeeOther(survey_path(survey_id)))?;
        if N::IN_PROGRESS && current.response.is_submitted() {
            return Err(WebError::SeeOther(done_path(survey_id)));
        }
        Ok(current)
    }
}

/// For pages without a form. Extractors run together, so a handler with a
/// `CsrfForm` calls [`ResponseOf::of`] in its body instead.
impl<N: Need> FromRequest for ResponseOf<N> {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(ResponseOf(Self::of(&req).await?, PhantomData)) })
    }
}
