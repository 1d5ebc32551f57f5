//! Letters: one page per sampled person, with their address for a window
//! envelope, what the survey is for, the personal link as a QR code and
//! the short code to type at `/s`, and how to say no. An invitation and a
//! reminder differ only in their opening words.

use crate::definitions::{SurveyDefinition, Voice};
use crate::journey::wording::{Wording, choose_language};

/// One person's letter, worded and ready to draw or merge.
#[derive(Debug, Clone, PartialEq)]
pub struct Letter {
    pub language: String,
    pub address: Vec<String>,
    pub date: String,
    pub title: String,
    /// The paragraphs, in order.
    pub body: Vec<String>,
    /// The link the QR code carries.
    pub link: String,
    pub code: String,
}

/// Who a letter goes to, and how they answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient<'a> {
    pub address: &'a str,
    pub postcode: &'a str,
    pub language: Option<&'a str>,
    pub voice: Option<Voice>,
    /// `{base}/s/{token}`.
    pub link: &'a str,
    /// The short code, as printed.
    pub code: &'a str,
    /// `{base}/s`, where the code is typed.
    pub code_page: &'a str,
}

/// Words one letter. `round` 0 is the invitation, 1 and on are reminders.
pub fn letter(definition: &SurveyDefinition, to: &Recipient<'_>, round: i32, date: chrono::NaiveDate) -> Letter {
    let language = choose_language(definition, to.language).to_string();
    let wording = Wording::new(definition, &language, to.voice);
    let title = wording.text(&definition.title).to_string();
    let mut body = vec![wording.ui("letter_greeting", &[])];
    body.push(if round == 0 {
        wording.ui("letter_opening", &[("title", &title)])
    } else {
        wording.ui("letter_reminder_opening", &[("title", &title)])
    });
    if let Some(purpose) = &definition.about.purpose {
        body.push(wording.text(purpose).to_string());
    }
    body.push(wording.ui("letter_how_online", &[("page", to.code_page), ("code", to.code)]));
    body.push(wording.ui("letter_how_qr", &[]));
    body.push(wording.ui("letter_paper", &[]));
    body.push(wording.ui("letter_no", &[]));
    if let Some(contact) = &definition.about.contact {
        body.push(wording.text(contact).to_string());
    }
    body.push(wording.ui("letter_thanks", &[]));
    // Month names are English: other languages get the date in numbers.
    let date = if language == "en" { date.format("%-d %B %Y") } else { date.format("%-d.%m.%Y") }.to_string();
    let mut address: Vec<String> = to.address.lines().map(str::to_string).collect();
    address.push(to.postcode.to_string());
    Letter { language, address, date, title, body, link: to.link.to_string(), code: to.code.to_string() }
}
