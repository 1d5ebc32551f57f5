//! The invitation and reminder emails: an HTML and a plain-text body from
//! the handlebars templates in `templates/email/`, worded in the invitee's
//! language (the interface catalogue, which a survey may override under
//! `messages:`), with the personal link, an opt-out link, and the
//! `List-Unsubscribe` headers mail programs offer as a one-click button.

use handlebars::Handlebars;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use serde_json::json;

use crate::definitions::SurveyDefinition;
use crate::journey::Wording;
use crate::storage::outbox::Kind;

const HTML: &str = include_str!("../../templates/email/message.html.hbs");
const TEXT: &str = include_str!("../../templates/email/message.txt.hbs");

/// The two email templates, compiled once. The text one is registered
/// without HTML escaping: it is not HTML, and `&` in a title must stay `&`.
pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("email::Templates")
    }
}

impl Templates {
    pub fn new() -> Result<Templates, Box<handlebars::TemplateError>> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        html.register_template_string("message", HTML).map_err(Box::new)?;
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        text.register_template_string("message", TEXT).map_err(Box::new)?;
        Ok(Templates { html, text })
    }
}

/// A rendered email, before addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// What one email says, for one invitee.
pub struct Letter<'a> {
    pub survey: &'a SurveyDefinition,
    /// The invitee's language (one the survey offers).
    pub language: &'a str,
    pub kind: Kind,
    /// The personal survey link and the opt-out link.
    pub link: &'a str,
    pub opt_out: &'a str,
}

pub fn render(templates: &Templates, letter: &Letter<'_>) -> Result<Content, handlebars::RenderError> {
    let d = letter.survey;
    let wording = Wording::new(d, letter.language, None);
    let title = wording.text(&d.title).to_string();
    let about = |t: &Option<crate::definitions::Text>| t.as_ref().map(|t| wording.text(t).to_string());
    let (subject_key, intro_key) = match letter.kind {
        Kind::Invitation => ("email_invitation_subject", "email_invitation_intro"),
        Kind::Reminder => ("email_reminder_subject", "email_reminder_intro"),
    };
    let subject = wording.ui(subject_key, &[("survey", &title)]);
    let data = json!({
        "lang": letter.language,
        "subject": subject,
        "greeting": wording.ui("email_greeting", &[]),
        "intro": wording.ui(intro_key, &[("survey", &title)]),
        "purpose": about(&d.about.purpose),
        "organisation": about(&d.about.organisation).map(|o| wording.ui("email_organisation", &[("organisation", &o)])),
        "minutes": d.about.minutes.map(|m| wording.ui("email_minutes", &[("minutes", &m.to_string())])),
        "link_intro": wording.ui("email_link_intro", &[]),
        "button": wording.ui("email_button", &[]),
        "link": letter.link,
        "personal": wording.ui("email_personal", &[]),
        "opt_out_intro": wording.ui("email_opt_out_intro", &[]),
        "opt_out_link": wording.ui("email_opt_out_link", &[]),
        "opt_out": letter.opt_out,
    });
    Ok(Content {
        subject,
        html: templates.html.render("message", &data)?,
        text: templates.text.render("message", &data)?,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("`{0}` is not an address a message can be sent to")]
    Invalid(String),
    #[error("the message could not be built: {0}")]
    Build(String),
}

/// The message for one recipient. Its Message-ID is fixed by the outbox
/// row, so if a lead chooses to resend an uncertain message, mail programs
/// can tell it is the same one.
pub fn message(
    from: &Mailbox,
    to: &str,
    content: &Content,
    opt_out: &str,
    message_id: &str,
) -> Result<Message, AddressError> {
    let to: Mailbox = to.parse().map_err(|_| AddressError::Invalid(to.to_string()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(content.subject.clone())
        .message_id(Some(message_id.to_string()))
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{opt_out}>")))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ))
        .multipart(MultiPart::alternative_plain_html(content.text.clone(), content.html.clone()))
        .map_err(|e| AddressError::Build(e.to_string()))
}

/// The Message-ID for outbox row `id`, in the sender's domain.
pub fn message_id(from: &Mailbox, outbox_id: i64, invitation_id: i64) -> String {
    format!("<joinedup.{outbox_id}.{invitation_id}@{}>", from.email.domain())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey() -> SurveyDefinition {
        let source =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/survey-definitions/format-example.yaml"))
                .unwrap();
        crate::definitions::parse("format-example.yaml", &source).unwrap()
    }

    #[test]
    fn both_bodies_carry_both_links_in_the_language() {
        let templates = Templates::new().unwrap();
        let d = survey();
        let letter = Letter {
            survey: &d,
            language: "pl",
            kind: Kind::Reminder,
            link: "https://x/s/T&1",
            opt_out: "https://x/opt-out/T",
        };
        let content = render(&templates, &letter).unwrap();
        assert_eq!(content.subject, "Przypomnienie: Przykładowa ankieta");
        assert!(content.text.contains("https://x/s/T&1\n"), "no escaping in text: {}", content.text);
        assert!(content.html.contains("href=\"https://x/s/T&amp;1\""), "escaped in HTML");
        assert!(content.text.contains("https://x/opt-out/T") && content.html.contains("https://x/opt-out/T"));
        assert!(content.html.contains("lang=\"pl\""));
        let from: Mailbox = "Surveys <surveys@example.org>".parse().unwrap();
        let m = message(&from, "ann@example.org", &content, "https://x/opt-out/T", &message_id(&from, 7, 9)).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("List-Unsubscribe: <https://x/opt-out/T>"), "{raw}");
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("Message-ID: <joinedup.7.9@example.org>"));
        assert!(matches!(message(&from, "not an address", &content, "x", "<a@b>"), Err(AddressError::Invalid(_))));
    }
}
