//! The data each admin page renders, as types: a misspelt key is a compile
//! error here rather than a blank on the page. Every field is always
//! present; `None` renders as nothing.

use serde::Serialize;

use crate::accounts::{Role, roles};
use crate::storage::accounts::{ApiToken, UserRoles};
use crate::web::staff::time;

/// `admin/home`.
#[derive(Serialize)]
pub struct Home {
    pub user_count: i64,
}

/// A user in the list, and at the top of their own page.
#[derive(Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub href: String,
    /// The labels of the roles held, comma separated.
    pub roles: String,
    pub disabled: bool,
    pub created: String,
}

impl User {
    pub fn from(entry: &UserRoles) -> Self {
        let held = roles::parse_all(entry.roles.iter().map(String::as_str));
        User {
            id: entry.user.id,
            email: entry.user.email.clone(),
            href: format!("/admin/users/{}", entry.user.id),
            roles: held.iter().map(|r| r.label()).collect::<Vec<_>>().join(", "),
            disabled: entry.user.disabled,
            created: time(entry.user.created_at),
        }
    }
}

/// `admin/users`.
#[derive(Serialize)]
pub struct Users {
    pub users: Vec<User>,
    /// The confirmation of the change just made.
    pub notice: Option<&'static str>,
}

/// A checkbox of the roles field.
#[derive(Serialize)]
pub struct RoleChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

impl RoleChoice {
    /// Every role, ticked if `held` has it.
    pub fn all(held: &[Role]) -> Vec<RoleChoice> {
        Role::ALL
            .iter()
            .map(|r| RoleChoice { value: r.as_str(), label: r.label(), checked: held.contains(r) })
            .collect()
    }
}

/// `admin/user_new`: the form, with what was typed.
#[derive(Serialize)]
pub struct NewUser {
    pub email: String,
    pub roles: Vec<RoleChoice>,
    /// The password policy's minimum length, for the hint.
    pub min_length: usize,
}

/// `admin/user`: one account, with the forms that change it.
#[derive(Serialize)]
pub struct UserPage {
    pub user: User,
    pub roles: Vec<RoleChoice>,
    /// The admin is looking at their own account (which they cannot disable).
    pub is_self: bool,
    pub notice: Option<&'static str>,
    pub min_length: usize,
}

/// A row of the tokens table.
#[derive(Serialize)]
pub struct Token {
    pub id: i64,
    pub name: String,
    /// The owner's email address.
    pub email: String,
    pub created: String,
    pub last_used: Option<String>,
    pub revoked: Option<String>,
    pub revoke_action: String,
}

impl Token {
    pub fn from(token: &ApiToken, email: &str) -> Self {
        Token {
            id: token.id,
            name: token.name.clone(),
            email: email.to_string(),
            created: time(token.created_at),
            last_used: token.last_used_at.map(time),
            revoked: token.revoked_at.map(time),
            revoke_action: format!("/admin/tokens/{}/revoke", token.id),
        }
    }
}

/// A user a token can be issued for.
#[derive(Serialize)]
pub struct TokenOwner {
    pub id: i64,
    pub email: String,
}

/// `admin/tokens`.
#[derive(Serialize)]
pub struct Tokens {
    pub tokens: Vec<Token>,
    /// The enabled users, for the "For" list.
    pub users: Vec<TokenOwner>,
    pub notice: Option<&'static str>,
}

/// `admin/token_issued`: the new token, shown this once.
#[derive(Serialize)]
pub struct TokenIssued {
    pub token: String,
    pub name: String,
    pub email: String,
}

/// A row of the audit table.
#[derive(Serialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    /// The action's label, or its stored name if this build does not know it.
    pub action: String,
    /// Empty where the entry has none (the template shows it bare).
    pub target: String,
    pub detail: String,
    pub client_ip: String,
}

/// An option of the "What happened" list.
#[derive(Serialize)]
pub struct ActionChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// `admin/audit`: a page of entries and the filters as typed.
#[derive(Serialize)]
pub struct Audit {
    pub entries: Vec<AuditEntry>,
    pub actions: Vec<ActionChoice>,
    pub actor: String,
    pub from: String,
    pub to: String,
    /// The next page, when there are older entries.
    pub older_href: Option<String>,
}
