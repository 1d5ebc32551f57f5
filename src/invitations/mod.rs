//! Invitations: samples of people to invite (checked line by line), their
//! tokens, the emails (rendered from templates, sent over SMTP through a
//! resumable outbox at a set rate), reminders to non-responders, opt-out,
//! and erasing addresses after a survey closes.

pub mod background;
pub mod email;
pub mod import;
pub mod keys;
pub mod lock;
pub mod opt_out;
pub mod queue;
pub mod retention;
pub mod sample;
pub mod send;
pub mod settings;
pub mod transport;

pub use settings::InvitationSettings;
