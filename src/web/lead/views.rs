//! The data each survey lead page renders (but the preview's), as types: a
//! misspelt key is a compile error here rather than a blank on the page.
//! Every field is always present; `None` renders as nothing.

use serde::Serialize;

use crate::publishing::diff::Diff;

/// A line of an uploaded file with its problem.
#[derive(Serialize)]
pub struct LineProblem {
    pub line: usize,
    pub message: String,
}

impl From<&crate::invitations::sample::LineProblem> for LineProblem {
    fn from(p: &crate::invitations::sample::LineProblem) -> Self {
        LineProblem { line: p.line, message: p.message.clone() }
    }
}

// ---- lead/home ---------------------------------------------------------------

/// `lead/home`: every survey and every draft.
#[derive(Serialize)]
pub struct Home {
    pub surveys: Vec<SurveyRow>,
    pub drafts: Vec<DraftRow>,
    /// The confirmation of the change just made.
    pub notice: Option<&'static str>,
}

#[derive(Serialize)]
pub struct SurveyRow {
    pub id: String,
    pub title: String,
    pub href: String,
    /// How many versions it has.
    pub versions: usize,
    pub status: String,
    /// Submitted responses, all versions together.
    pub responses: i64,
}

#[derive(Serialize)]
pub struct DraftRow {
    pub name: String,
    pub href: String,
    /// The survey id and version read from the text, once it parses.
    pub survey: Option<String>,
    pub version: Option<String>,
    pub updated: String,
}

// ---- lead/survey ---------------------------------------------------------------

/// `lead/survey`: a survey's versions, responses and invitations.
#[derive(Serialize)]
pub struct Survey {
    pub survey_id: String,
    pub title: String,
    /// Response rates by how people were contacted and how they answered.
    pub by_contact: Vec<ContactRow>,
    /// Open-link responses (online, no sample).
    pub open_link: i64,
    /// Paper questionnaires keyed: counted, and kept as duplicates.
    pub paper_counted: i64,
    pub paper_duplicates: i64,
    /// Where the blank paper questionnaire for each voice is downloaded.
    pub paper_links: Vec<PaperLink>,
    pub notice: Option<String>,
    /// A version is open today.
    pub open_now: bool,
    pub versions: Vec<Version>,
    pub ics_rows: Vec<IcsRow>,
    pub ics_totals: IcsFigures,
    pub email: EmailSetup,
    pub samples: Vec<SampleRow>,
    pub messages: Vec<MessageCounts>,
    /// Messages waiting to be sent, invitations and reminders.
    pub queued: i64,
    /// Messages that may or may not have arrived.
    pub uncertain: i64,
    pub failures: Vec<FailureRow>,
    /// People imported and not invited yet.
    pub uninvited: usize,
    /// Invitees who asked for no more emails.
    pub opted_out: i64,
    /// Reminders that sending them now would queue.
    pub reminders_due: usize,
    pub reminder_tally: ReminderCounts,
    pub reminder_delay_days: u32,
    /// Days after closing that invitees' addresses are kept.
    pub retention_days: u32,
    pub sample_href: String,
    pub send_action: String,
    pub remind_action: String,
    pub resend_action: String,
}

/// A version with its dates, counts and the forms that change it.
#[derive(Serialize)]
pub struct Version {
    pub id: i64,
    pub label: String,
    pub status: String,
    /// Open today.
    pub open: bool,
    /// The version new respondents get.
    pub current: bool,
    pub published: bool,
    pub closed: bool,
    /// As staff read them; `None`: opens on publishing, or stays open.
    pub opens_on: Option<String>,
    pub closes_on: Option<String>,
    /// The same dates as `YYYY-MM-DD` for the form, or empty.
    pub opens_value: String,
    pub closes_value: String,
    /// Empty for a version never published (none is listed).
    pub published_at: String,
    pub closed_at: Option<String>,
    pub content_hash: String,
    pub source_name: String,
    pub submitted: i64,
    pub in_progress: i64,
    pub dates_action: String,
    pub close_action: String,
    pub reopen_action: String,
    pub draft_action: String,
}

/// Responses, and where a sample was invited, the response rate.
#[derive(Serialize)]
pub struct IcsFigures {
    pub submitted: i64,
    pub invited: i64,
    /// Invited and answered.
    pub answered: i64,
    /// `answered` of `invited` as a percentage, where anyone was invited.
    pub rate: Option<String>,
}

#[derive(Serialize)]
pub struct IcsRow {
    pub name: String,
    /// The ICS's ONS code; `None` for responses not placed in one yet.
    pub code: Option<String>,
    #[serde(flatten)]
    pub figures: IcsFigures,
}

/// Whether invitations can be emailed, and through what.
#[derive(Serialize)]
pub struct EmailSetup {
    pub ready: bool,
    pub server: Option<String>,
    pub from: Option<String>,
    /// Why not, when not ready.
    pub problem: Option<&'static str>,
}

#[derive(Serialize)]
pub struct SampleRow {
    pub id: i64,
    pub name: String,
    pub imported: i32,
    pub skipped: i32,
    /// Who imported it.
    pub by: String,
    pub at: String,
    /// When its addresses were erased.
    pub erased: Option<String>,
}

/// One way of contacting people, and how those contacted answered.
#[derive(Serialize)]
pub struct ContactRow {
    pub label: &'static str,
    pub contacted: i64,
    pub online: i64,
    pub paper: i64,
    pub rate: Option<String>,
}

/// A blank paper questionnaire to download.
#[derive(Serialize)]
pub struct PaperLink {
    pub label: String,
    pub href: String,
}

/// One kind of message (invitations or reminders) by status.
#[derive(Serialize)]
pub struct MessageCounts {
    pub label: &'static str,
    /// Waiting or being sent.
    pub queued: i64,
    pub sent: i64,
    pub uncertain: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// A message that failed or may not have arrived.
#[derive(Serialize)]
pub struct FailureRow {
    /// The address, or `(erased)`.
    pub email: String,
    /// Its line in the sample file.
    pub line: i32,
    pub what: String,
    pub status: &'static str,
    /// What the mail server said, or empty.
    pub error: String,
}

/// Why the other invitees get no reminder now.
#[derive(Serialize)]
pub struct ReminderCounts {
    pub answered: usize,
    pub too_soon: usize,
    pub pending: usize,
}

// ---- drafts ------------------------------------------------------------------

/// `lead/draft_new`.
#[derive(Serialize)]
pub struct NewDraft {
    /// What was typed, kept in the textarea.
    pub source: String,
    pub action: &'static str,
}

/// `lead/draft`: a draft with its problems, and the form to edit it.
#[derive(Serialize)]
pub struct Draft {
    pub name: String,
    /// The text in the textarea: the draft's, or what was typed if it could not be saved.
    pub source: String,
    /// The first problems, each with the lines around it.
    pub problems: Vec<Problem>,
    pub problem_count: usize,
    /// Problems not shown on the page.
    pub more_problems: usize,
    pub shown_problems: usize,
    /// Every problem as a text file.
    pub problems_href: String,
    /// The text reads as a survey definition.
    pub valid: bool,
    pub publishable: bool,
    /// The definition in one line, or empty when it does not read.
    pub summary: String,
    pub survey_id: Option<String>,
    pub version: Option<String>,
    pub updated: String,
    pub notice: Option<&'static str>,
    /// Where the edit form posts.
    pub action: String,
    pub preview_href: String,
    pub publish_href: String,
    pub delete_action: String,
}

/// A problem in a draft, with the lines around it.
#[derive(Serialize)]
pub struct Problem {
    /// The id the error summary links to.
    pub anchor: String,
    pub line: usize,
    pub column: usize,
    /// Where in the document, when the problem is inside it.
    pub path: Option<String>,
    pub message: String,
    pub hint: Option<String>,
    pub excerpt: Vec<ExcerptLine>,
}

#[derive(Serialize)]
pub struct ExcerptLine {
    pub number: usize,
    /// The line, clipped if long.
    pub text: String,
    /// The line the problem is on.
    pub problem: bool,
}

/// `lead/publish`: what publishing a draft would do.
#[derive(Serialize)]
pub struct Publish {
    pub name: String,
    /// Why it cannot be published, one line each.
    pub problems: Vec<String>,
    pub publishable: bool,
    /// From the definition, when the draft reads as one.
    pub survey_id: Option<String>,
    pub title: Option<String>,
    pub version: Option<String>,
    pub content_hash: Option<String>,
    pub summary: Option<String>,
    /// The dates in the file, `YYYY-MM-DD`.
    pub opens: Option<String>,
    pub closes: Option<String>,
    /// The survey's latest version, which this one would follow.
    pub previous: Option<Previous>,
    /// The changes from `previous`.
    pub diff: Option<Diff>,
    /// Where the publish form posts.
    pub action: String,
}

#[derive(Serialize)]
pub struct Previous {
    pub version: String,
    pub published_at: Option<String>,
    pub content_hash: String,
}

// ---- samples -----------------------------------------------------------------

/// `lead/sample_new`: the upload form, with the last upload's problems.
#[derive(Serialize)]
pub struct NewSample {
    pub survey_id: String,
    pub title: String,
    /// The first problems of a refused file.
    pub problems: Vec<LineProblem>,
    /// Problems not listed.
    pub more_problems: usize,
    /// Lines of a refused file that had no problem.
    pub valid: Option<usize>,
    /// Addresses of a refused file that opted out.
    pub opted_out: Option<usize>,
    /// The survey's language codes, comma separated.
    pub survey_languages: String,
    /// The survey's voice codes, comma separated.
    pub voices: String,
    /// Where the form posts.
    pub action: String,
}

/// `lead/sample_done`: what an upload imported.
#[derive(Serialize)]
pub struct SampleDone {
    /// The file's name.
    pub name: String,
    pub imported: i32,
    /// The first lines skipped, with why.
    pub skipped: Vec<LineProblem>,
    /// Lines skipped (a line may have several problems).
    pub skipped_count: usize,
    /// Problems not listed.
    pub more_skipped: usize,
    /// Addresses left out because they opted out.
    pub opted_out: usize,
    /// People imported and not invited yet, this sample's and others'.
    pub uninvited: usize,
    pub email_ready: bool,
    pub open_now: bool,
    pub send_action: String,
    pub survey_href: String,
}
