//! A survey lead's pages: their surveys and versions, drafts in the
//! browser with a preview, and samples with their invitations.

pub mod drafts;
pub mod paper;
pub mod preview;
pub mod samples;
mod surveys;
mod views;

pub use surveys::*;
