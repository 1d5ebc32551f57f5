//! The audit log: who did what, when, from where. Every feature that acts
//! for a signed-in person (publishing, closing, sending invitations,
//! downloads) calls `record`. Entries are built from ids, emails, role
//! names and fixed wording only: never a password, a token, a session id
//! or a respondent's answer.

use crate::storage::audit::{self as rows, NewAuditRow};
use crate::storage::{DbConn, StorageError, now};

/// What happened. The stored name is fixed once released: the admin page
/// filters on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignIn,
    SignOut,
    SignInFailed,
    SignInBlocked,
    AccessDenied,
    CsrfRejected,
    UserCreated,
    UserDisabled,
    UserEnabled,
    RolesChanged,
    PasswordReset,
    PasswordChanged,
    ApiTokenIssued,
    ApiTokenRevoked,
    DemoAccountsCreated,
    SurveyPublished,
    SurveyClosed,
    InvitationsSent,
    ResultsDownloaded,
    SurveyReopened,
    SurveyDatesChanged,
    SampleImported,
    InvitationsQueued,
    RemindersQueued,
    UncertainRequeued,
    EmailsErased,
    ResultsRescored,
    MarginsUploaded,
    MarginsRetired,
    ResponseWithdrawn,
    ResponsesPastRetention,
    KeysRotated,
    LettersPrinted,
    QuestionnairesPrinted,
    OptOutKeyed,
}

impl Action {
    pub const ALL: [Action; 35] = [
        Action::SignIn,
        Action::SignOut,
        Action::SignInFailed,
        Action::SignInBlocked,
        Action::AccessDenied,
        Action::CsrfRejected,
        Action::UserCreated,
        Action::UserDisabled,
        Action::UserEnabled,
        Action::RolesChanged,
        Action::PasswordReset,
        Action::PasswordChanged,
        Action::ApiTokenIssued,
        Action::ApiTokenRevoked,
        Action::DemoAccountsCreated,
        Action::SurveyPublished,
        Action::SurveyClosed,
        Action::InvitationsSent,
        Action::ResultsDownloaded,
        Action::SurveyReopened,
        Action::SurveyDatesChanged,
        Action::SampleImported,
        Action::InvitationsQueued,
        Action::RemindersQueued,
        Action::UncertainRequeued,
        Action::EmailsErased,
        Action::ResultsRescored,
        Action::MarginsUploaded,
        Action::MarginsRetired,
        Action::ResponseWithdrawn,
        Action::ResponsesPastRetention,
        Action::KeysRotated,
        Action::LettersPrinted,
        Action::QuestionnairesPrinted,
        Action::OptOutKeyed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::SignIn => "sign_in",
            Action::SignOut => "sign_out",
            Action::SignInFailed => "sign_in_failed",
            Action::SignInBlocked => "sign_in_blocked",
            Action::AccessDenied => "access_denied",
            Action::CsrfRejected => "csrf_rejected",
            Action::UserCreated => "user_created",
            Action::UserDisabled => "user_disabled",
            Action::UserEnabled => "user_enabled",
            Action::RolesChanged => "roles_changed",
            Action::PasswordReset => "password_reset",
            Action::PasswordChanged => "password_changed",
            Action::ApiTokenIssued => "api_token_issued",
            Action::ApiTokenRevoked => "api_token_revoked",
            Action::DemoAccountsCreated => "demo_accounts_created",
            Action::SurveyPublished => "survey_published",
            Action::SurveyClosed => "survey_closed",
            Action::InvitationsSent => "invitations_sent",
            Action::ResultsDownloaded => "results_downloaded",
            Action::SurveyReopened => "survey_reopened",
            Action::SurveyDatesChanged => "survey_dates_changed",
            Action::SampleImported => "sample_imported",
            Action::InvitationsQueued => "invitations_queued",
            Action::RemindersQueued => "reminders_queued",
            Action::UncertainRequeued => "uncertain_requeued",
            Action::EmailsErased => "emails_erased",
            Action::ResultsRescored => "results_rescored",
            Action::MarginsUploaded => "margins_uploaded",
            Action::MarginsRetired => "margins_retired",
            Action::ResponseWithdrawn => "response_withdrawn",
            Action::ResponsesPastRetention => "responses_past_retention",
            Action::KeysRotated => "keys_rotated",
            Action::LettersPrinted => "letters_printed",
            Action::QuestionnairesPrinted => "questionnaires_printed",
            Action::OptOutKeyed => "opt_out_keyed",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// How the action reads on the admin page.
    pub fn label(self) -> &'static str {
        match self {
            Action::SignIn => "Signed in",
            Action::SignOut => "Signed out",
            Action::SignInFailed => "Sign-in failed",
            Action::SignInBlocked => "Sign-in blocked (too many attempts)",
            Action::AccessDenied => "Refused a page for lack of a role",
            Action::CsrfRejected => "Refused a form or API call without a valid security token",
            Action::UserCreated => "User created",
            Action::UserDisabled => "User disabled",
            Action::UserEnabled => "User enabled",
            Action::RolesChanged => "Roles changed",
            Action::PasswordReset => "Password reset",
            Action::PasswordChanged => "Own password changed",
            Action::ApiTokenIssued => "API token issued",
            Action::ApiTokenRevoked => "API token revoked",
            Action::DemoAccountsCreated => "Demo accounts created",
            Action::SurveyPublished => "Survey published",
            Action::SurveyClosed => "Survey closed",
            Action::InvitationsSent => "Invitations sent",
            Action::ResultsDownloaded => "Results downloaded",
            Action::SurveyReopened => "Survey reopened",
            Action::SurveyDatesChanged => "Survey dates changed",
            Action::SampleImported => "Sample imported",
            Action::InvitationsQueued => "Invitations queued",
            Action::RemindersQueued => "Reminders queued",
            Action::UncertainRequeued => "Uncertain messages queued again",
            Action::EmailsErased => "Email addresses erased",
            Action::ResultsRescored => "Stored scores recomputed",
            Action::MarginsUploaded => "Population margins uploaded",
            Action::MarginsRetired => "Population margins no longer used",
            Action::ResponseWithdrawn => "A response withdrawn at its respondent's request",
            Action::ResponsesPastRetention => "Responses deleted at the end of their retention period",
            Action::KeysRotated => "Keys rotated",
            Action::LettersPrinted => "Letters printed for posting",
            Action::QuestionnairesPrinted => "Paper questionnaires printed for a sample",
            Action::OptOutKeyed => "An opt-out by post or phone keyed by staff",
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i64>,
    /// An email, `command line` or `anonymous`.
    pub name: String,
}

impl Actor {
    pub fn user(id: i64, email: &str) -> Actor {
        Actor { user_id: Some(id), name: email.to_string() }
    }

    /// Someone with access to the server's command line and database.
    pub fn command_line() -> Actor {
        Actor { user_id: None, name: "command line".into() }
    }

    /// joinedup itself: scheduled work such as erasing emails, or a
    /// sending run resumed after a restart.
    pub fn system() -> Actor {
        Actor { user_id: None, name: "joinedup".into() }
    }

    pub fn anonymous() -> Actor {
        Actor { user_id: None, name: "anonymous".into() }
    }
}

/// One entry: what was done, to what, with a short fixed-wording detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub action: Action,
    /// What it was done to: a user's email, a token's id and name, a survey.
    pub target: Option<String>,
    pub detail: Option<String>,
}

impl Event {
    pub fn new(action: Action) -> Event {
        Event { action, target: None, detail: None }
    }

    pub fn target(mut self, target: impl Into<String>) -> Event {
        self.target = Some(target.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(detail.into());
        self
    }
}

/// Writes one entry, timed now. Call it inside the transaction that makes
/// the change, so an action is never done without its entry.
pub fn record(conn: &mut DbConn, actor: &Actor, event: &Event, client_ip: Option<&str>) -> Result<(), StorageError> {
    rows::insert(
        conn,
        &NewAuditRow {
            at: now(),
            actor_user_id: actor.user_id,
            actor: &actor.name,
            action: event.action.as_str(),
            target: event.target.as_deref(),
            detail: event.detail.as_deref(),
            client_ip,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_are_unique() {
        let names: std::collections::BTreeSet<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), Action::ALL.len());
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
    }
}
