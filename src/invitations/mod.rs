//! Invitations: survey tokens, samples, email rendering and sending,
//! reminders, opt-out and retention.

pub mod issue;
pub mod tokens;
