//! The staff roles. A user may hold several; respondents hold none and never
//! sign in.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages accounts and API tokens, reads the audit log.
    #[value(name = "admin")]
    Admin,
    /// Publishes questionnaires and sends emails to the public.
    #[value(name = "survey_lead", alias = "survey-lead")]
    SurveyLead,
    /// Downloads results about whole populations.
    #[value(name = "analyst")]
    Analyst,
    /// Downloads respondent-level microdata (an admin grants it apart from
    /// `analyst`: rows about individuals, however coarsened, need a reason).
    #[value(name = "researcher")]
    Researcher,
    /// Finds a response by the reference its respondent quotes, and
    /// withdraws it (people's rights under data protection law).
    #[value(name = "data_protection", alias = "data-protection")]
    DataProtection,
    /// Keys returned paper questionnaires by their serial.
    #[value(name = "data_entry", alias = "data-entry")]
    DataEntry,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Admin, Role::SurveyLead, Role::Analyst, Role::Researcher, Role::DataProtection, Role::DataEntry];

    /// The name stored in the database and typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::SurveyLead => "survey_lead",
            Role::Analyst => "analyst",
            Role::Researcher => "researcher",
            Role::DataProtection => "data_protection",
            Role::DataEntry => "data_entry",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// How the role is named on pages.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::SurveyLead => "Survey lead",
            Role::Analyst => "Analyst",
            Role::Researcher => "Researcher",
            Role::DataProtection => "Data protection",
            Role::DataEntry => "Data entry",
        }
    }

    /// The landing page of the role's area.
    pub fn home(self) -> &'static str {
        match self {
            Role::Admin => "/admin",
            Role::SurveyLead => "/lead",
            Role::Analyst => "/analyst",
            Role::Researcher => "/research",
            Role::DataProtection => "/data-protection",
            Role::DataEntry => "/data-entry",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Roles read from the database, ignoring names this build does not know
/// (a newer instance may have added one): an unknown role grants nothing.
pub fn parse_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Role> {
    let mut roles: Vec<Role> = names.into_iter().filter_map(Role::parse).collect();
    roles.sort();
    roles.dedup();
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(parse_all(["analyst", "admin", "analyst", "superuser"]), vec![Role::Admin, Role::Analyst]);
    }
}
