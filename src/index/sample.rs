//! The two samples a survey can have, kept apart: people invited from a
//! sample frame with a known chance of selection (a probability sample,
//! weighted by 1/probability), and people who found the open link (self-
//! selected). Their weights mean different things, so each is weighted on
//! its own; they are combined only when an analyst asks, and then by a
//! stated method (`frame::composite`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sample {
    /// Invited from a sample: the probability sample.
    Invitation,
    /// Came through the open link: self-selected, indicative only.
    OpenLink,
    /// Both, combined on request (composite weights).
    Pooled,
}

impl Sample {
    pub const SEPARATE: [Sample; 2] = [Sample::Invitation, Sample::OpenLink];

    pub fn code(self) -> &'static str {
        match self {
            Sample::Invitation => "invitation",
            Sample::OpenLink => "open_link",
            Sample::Pooled => "pooled",
        }
    }

    pub fn parse(code: &str) -> Option<Sample> {
        [Sample::Invitation, Sample::OpenLink, Sample::Pooled].into_iter().find(|s| s.code() == code)
    }

    /// How outputs describe the sample, in words.
    pub fn label(self) -> &'static str {
        match self {
            Sample::Invitation => "probability sample (invited people)",
            Sample::OpenLink => "self-selected (indicative): open-link respondents",
            Sample::Pooled => "pooled on request: invited and open-link respondents combined (composite weights)",
        }
    }

    /// The sample a response of this channel belongs to: every channel but
    /// the open link reaches people chosen from a sample.
    pub fn of_channel(channel: &str) -> Sample {
        if channel == "open_link" { Sample::OpenLink } else { Sample::Invitation }
    }
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
