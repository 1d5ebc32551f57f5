//! Staff accounts: admins, survey leads and analysts sign in; respondents
//! never do. Password policy and hashing, sessions and their lifetimes, the
//! sign-in rate limit, API tokens and the audit log live here; storage only
//! keeps rows and `web` only translates HTTP.

pub mod demo;
pub mod limits;
pub mod password;
pub mod principal;
pub mod roles;
pub mod session;
pub mod sign_in;
pub mod tokens;
pub mod users;

pub use principal::{Credential, Principal, SessionId};
pub use roles::Role;

/// The account settings (from flags and `JOINEDUP_...` variables).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountSettings {
    pub lifetimes: session::Lifetimes,
    pub limits: limits::SignInLimits,
}
