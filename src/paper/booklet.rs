//! A definition laid out for paper, for one voice and one language: a
//! cover, the questions numbered in page order with what to tick or write
//! and where to go next, and a closing line. The PDF is drawn from this,
//! and data entry keys returned forms in this order and numbering.

use std::collections::BTreeMap;

use super::routing::{self, GoTo, Say, Settled};
use crate::definitions::{QuestionKind, SurveyDefinition, Voice, voices_per_page};
use crate::journey::view::IcsChoice;
use crate::journey::wording::Wording;

/// What to print: the same for every copy of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct PrintOptions {
    pub voice: Voice,
    pub language: String,
    /// At least 16 pt throughout.
    pub large_print: bool,
}

/// What differs between copies: a sampled person's serial and ICS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Copy {
    /// The invitation's short code, printed and typed by data entry to tie
    /// the returned form to its sampled person; none on a blank copy.
    pub serial: Option<String>,
    /// The ICS the sample gave, so its question is not printed.
    pub ics_code: Option<String>,
}

/// Why a copy cannot be printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrintError {
    #[error("survey `{survey}` has no voice `{asked}`; it has: {offered}")]
    Voice { survey: String, asked: String, offered: String },
    #[error("survey `{survey}` has no language `{asked}`; it has: {offered}")]
    Language { survey: String, asked: String, offered: String },
}

/// One printed question.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub number: u32,
    /// The definition page it prints (its question id).
    pub page_id: String,
    pub text: String,
    pub help: Option<String>,
    /// "Answer question 14 only if …", when the page has a condition that
    /// no "go to" already covers.
    pub only_if: Option<String>,
    /// "Tick one box." and the like.
    pub instruction: String,
    pub answer: Answer,
}

/// Where and how the answer is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Boxes {
        options: Vec<BoxOption>,
    },
    /// One row per Likert item, one column per option.
    Grid {
        columns: Vec<String>,
        rows: Vec<String>,
    },
    Number {
        unit: Option<String>,
        boxes: usize,
    },
    Date {
        labels: [String; 3],
    },
    Text {
        lines: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoxOption {
    pub code: String,
    pub label: String,
    /// "Go to question 12" when this option skips what follows.
    pub go_to: Option<String>,
}

/// A piece of the booklet, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Title(String),
    Heading(String),
    Paragraph(String),
    Question(Question),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Booklet {
    pub title: String,
    pub language: String,
    pub large_print: bool,
    pub serial: Option<String>,
    /// Printed in the footer of every page.
    pub footer: String,
    pub cover: Vec<Block>,
    pub questions: Vec<Block>,
}

/// The printed pages of a copy, in order, with each one's number: what
/// data entry shows, in the same order.
pub fn printed_pages(definition: &SurveyDefinition, voice: Voice, ics_preset: bool) -> Vec<usize> {
    let reach = voices_per_page(&definition.pages, &definition.page_of_ids(), &definition.voices);
    (0..definition.pages.len())
        .filter(|&i| {
            let q = &definition.pages[i].question;
            let settled = definition.pages[i].show_if.as_ref().map(|c| routing::settle(&c.expr, voice));
            reach[i].contains(&voice)
                && !q.sets_voice
                && !(ics_preset && matches!(q.kind, QuestionKind::IcsSelect))
                && settled != Some(Settled::Never)
        })
        .collect()
}

/// Lays out one copy. `online_link` is where to answer online instead (the
/// survey's link, or `/s` for a copy with a code); `icss` lists the ICSs
/// for a copy that asks for one.
pub fn booklet(
    definition: &SurveyDefinition,
    options: &PrintOptions,
    copy: &Copy,
    icss: &[IcsChoice],
    online_link: &str,
) -> Result<Booklet, PrintError> {
    if !definition.voices.contains(&options.voice) {
        return Err(PrintError::Voice {
            survey: definition.id.clone(),
            asked: options.voice.code().into(),
            offered: definition.voices.iter().map(|v| v.code()).collect::<Vec<_>>().join(", "),
        });
    }
    let Some(language) = definition.languages.iter().find(|l| l.code == options.language) else {
        return Err(PrintError::Language {
            survey: definition.id.clone(),
            asked: options.language.clone(),
            offered: definition.languages.iter().map(|l| l.code.as_str()).collect::<Vec<_>>().join(", "),
        });
    };
    let wording = Wording::new(definition, &language.code, Some(options.voice));
    let printed = printed_pages(definition, options.voice, copy.ics_code.is_some());
    let conditions: BTreeMap<usize, _> = printed
        .iter()
        .filter_map(|&i| match definition.pages[i].show_if.as_ref().map(|c| routing::settle(&c.expr, options.voice)) {
            Some(Settled::Depends(expr)) => Some((i, expr)),
            _ => None,
        })
        .collect();
    let plan = routing::plan(definition, &printed, &conditions);
    let numbers: BTreeMap<usize, u32> = printed.iter().enumerate().map(|(n, &i)| (i, n as u32 + 1)).collect();
    let say = Speaker { definition, wording, numbers: &numbers };
    let title = wording.text(&definition.title).to_string();

    let mut questions = Vec::new();
    for &index in &printed {
        let page = &definition.pages[index];
        let q = &page.question;
        let number = numbers[&index];
        let go_to = |code: &str| {
            plan.go_to.get(&(index, code.to_string())).map(|to| match to {
                GoTo::Page(p) => wording.ui("paper_go_to", &[("number", &numbers[p].to_string())]),
                GoTo::End => wording.ui("paper_go_to_end", &[]),
            })
        };
        let boxes = |options: &[crate::definitions::AnswerOption]| Answer::Boxes {
            options: options
                .iter()
                .filter(|o| o.shown_to(wording.voice))
                .map(|o| BoxOption {
                    code: o.code.clone(),
                    label: wording.text(&o.label).to_string(),
                    go_to: go_to(&o.code),
                })
                .collect(),
        };
        let (instruction, answer) = match &q.kind {
            QuestionKind::SingleChoice { options } => (wording.ui("paper_tick_one", &[]), boxes(options)),
            QuestionKind::MultipleChoice { options, .. } => (wording.ui("paper_tick_any", &[]), boxes(options)),
            QuestionKind::IcsSelect => (
                wording.ui("paper_tick_one", &[]),
                Answer::Boxes {
                    options: icss
                        .iter()
                        .map(|c| BoxOption { code: c.code.clone(), label: c.name.clone(), go_to: None })
                        .collect(),
                },
            ),
            QuestionKind::LikertGroup { options, items } => (
                wording.ui("paper_tick_one_per_row", &[]),
                Answer::Grid {
                    columns: options
                        .iter()
                        .filter(|o| o.shown_to(wording.voice))
                        .map(|o| wording.text(&o.label).to_string())
                        .collect(),
                    rows: items.iter().map(|i| wording.text(&i.text).to_string()).collect(),
                },
            ),
            QuestionKind::Number { max, decimals, unit, .. } => (
                wording.ui("paper_write_number", &[]),
                Answer::Number {
                    unit: unit.as_ref().map(|u| wording.text(u).to_string()),
                    boxes: number_boxes(*max, *decimals),
                },
            ),
            QuestionKind::Date { .. } => (
                wording.ui("paper_write_date", &[]),
                Answer::Date {
                    labels: [
                        wording.ui("paper_day", &[]),
                        wording.ui("paper_month", &[]),
                        wording.ui("paper_year", &[]),
                    ],
                },
            ),
            QuestionKind::FreeText { max_length, multiline } => (
                wording.ui("paper_write_text", &[]),
                Answer::Text { lines: if *multiline { (*max_length / 200).clamp(3, 8) } else { 1 } },
            ),
        };
        let only_if = plan.only_if.get(&index).map(|expr| {
            wording.ui("paper_only_if", &[("number", &number.to_string()), ("condition", &routing::words(expr, &say))])
        });
        questions.push(Block::Question(Question {
            number,
            page_id: page.id.clone(),
            text: wording.text(&q.text).to_string(),
            help: q.help.as_ref().map(|h| wording.text(h).to_string()),
            only_if,
            instruction,
            answer,
        }));
    }
    questions.push(Block::Paragraph(wording.ui("paper_end", &[])));

    let about = &definition.about;
    let mut cover = vec![Block::Title(title.clone())];
    if let Some(organisation) = &about.organisation {
        cover.push(Block::Paragraph(wording.text(organisation).to_string()));
    }
    if let Some(purpose) = &about.purpose {
        cover.push(Block::Paragraph(wording.text(purpose).to_string()));
    }
    if let Some(minutes) = about.minutes {
        cover.push(Block::Paragraph(wording.ui("paper_minutes", &[("minutes", &minutes.to_string())])));
    }
    cover.push(Block::Heading(wording.ui("paper_how_heading", &[])));
    cover.push(Block::Paragraph(wording.ui("paper_how", &[])));
    cover.push(Block::Paragraph(match &copy.serial {
        Some(code) => wording.ui("paper_online_code", &[("link", online_link), ("code", code)]),
        None => wording.ui("paper_online", &[("link", online_link)]),
    }));
    if let Some(privacy) = &about.privacy {
        cover.push(Block::Heading(wording.ui("paper_privacy_heading", &[])));
        cover.push(Block::Paragraph(wording.text(privacy).to_string()));
    }
    if let Some(contact) = &about.contact {
        cover.push(Block::Paragraph(wording.text(contact).to_string()));
    }
    let footer = match &copy.serial {
        Some(code) => format!("{title} · {} {code}", wording.ui("paper_serial", &[])),
        None => title.clone(),
    };
    Ok(Booklet {
        title,
        language: language.code.clone(),
        large_print: options.large_print,
        serial: copy.serial.clone(),
        footer,
        cover,
        questions,
    })
}

/// Enough boxes for the largest allowed number, its decimals and a point.
fn number_boxes(max: f64, decimals: u32) -> usize {
    let whole = (max.abs().max(1.0).log10().floor() as usize) + 1;
    whole + if decimals > 0 { decimals as usize + 1 } else { 0 }
}

/// Says conditions with this copy's numbers and wording.
struct Speaker<'a> {
    definition: &'a SurveyDefinition,
    wording: Wording<'a>,
    numbers: &'a BTreeMap<usize, u32>,
}

impl Say for Speaker<'_> {
    fn number(&self, id: &str) -> String {
        let page = self.definition.page_of_ids().get(id).copied();
        page.and_then(|p| self.numbers.get(&p)).map_or_else(|| id.to_string(), u32::to_string)
    }

    fn option(&self, id: &str, code: &str) -> Option<String> {
        let page = self.definition.pages.iter().find(|p| p.question.id == id)?;
        let option = page.question.kind.options().iter().find(|o| o.code == code)?;
        Some(self.wording.text(&option.label).to_string())
    }

    fn ui(&self, key: &str, params: &[(&str, &str)]) -> String {
        self.wording.ui(key, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(name: &str) -> SurveyDefinition {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("survey-definitions").join(name);
        crate::definitions::load_file(&path).expect("a shipped definition loads").definition
    }

    fn questions(b: &Booklet) -> Vec<&Question> {
        b.questions
            .iter()
            .filter_map(|q| match q {
                Block::Question(q) => Some(q),
                _ => None,
            })
            .collect()
    }

    fn options(voice: Voice, language: &str) -> PrintOptions {
        PrintOptions { voice, language: language.into(), large_print: false }
    }

    #[test]
    fn a_filter_question_sends_the_reader_past_what_it_skips() {
        let d = definition("integration-index.yaml");
        let b = booklet(&d, &options(Voice::Patient, "en"), &Copy::default(), &[], "https://x/s").unwrap();
        let qs = questions(&b);
        let plan = qs.iter().find(|q| q.page_id == "has_care_plan").expect("printed");
        let Answer::Boxes { options } = &plan.answer else { panic!("boxes") };
        let no = options.iter().find(|o| o.code == "no").unwrap();
        let next = qs.iter().position(|q| q.page_id == "has_care_plan").unwrap() + 2;
        assert_eq!(no.go_to.as_deref(), Some(format!("Go to question {}", qs[next].number).as_str()));
        assert_eq!(options.iter().find(|o| o.code == "yes").unwrap().go_to, None);
        // The question it skips needs no words of its own.
        assert_eq!(qs[next - 1].only_if, None);
        assert_eq!(qs.iter().map(|q| q.number).collect::<Vec<_>>(), (1..=qs.len() as u32).collect::<Vec<_>>());
    }

    #[test]
    fn the_voice_question_is_settled_and_its_conditions_with_it() {
        let d = definition("format-example.yaml");
        for voice in d.voices.clone() {
            let b = booklet(&d, &options(voice, "en"), &Copy::default(), &[], "https://x").unwrap();
            let qs = questions(&b);
            assert!(qs.iter().all(|q| !d.page(&q.page_id).unwrap().question.sets_voice));
            let carers = qs.iter().any(|q| q.page_id == "caring_hours");
            assert_eq!(carers, voice != Voice::Patient, "{voice}");
            assert!(qs.iter().all(|q| q.only_if.as_deref().is_none_or(|w| !w.contains("voice"))));
        }
    }

    #[test]
    fn a_condition_on_two_questions_is_said_in_words() {
        let d = definition("format-example.yaml");
        let b = booklet(&d, &options(Voice::Patient, "en"), &Copy::default(), &[], "https://x").unwrap();
        let qs = questions(&b);
        let joined = qs
            .iter()
            .find(|q| d.page(&q.page_id).unwrap().show_if.as_ref().is_some_and(|c| c.source.contains(" or ")))
            .unwrap();
        let words = joined.only_if.as_deref().expect("words");
        assert!(words.starts_with(&format!("Answer question {} only if you ticked", joined.number)), "{words}");
        assert!(words.contains(" and (you ticked"), "{words}");
        assert!(words.contains(" or "), "{words}");
    }

    #[test]
    fn a_voice_or_language_the_survey_lacks_is_named() {
        let d = definition("integration-index.yaml");
        let err = booklet(&d, &options(Voice::Patient, "cy"), &Copy::default(), &[], "x").unwrap_err();
        assert_eq!(err.to_string(), "survey `integration_index` has no language `cy`; it has: en");
    }

    #[test]
    fn number_boxes_fit_the_largest_number() {
        assert_eq!(number_boxes(168.0, 0), 3);
        assert_eq!(number_boxes(9.0, 0), 1);
        assert_eq!(number_boxes(100.0, 1), 5);
    }
}
