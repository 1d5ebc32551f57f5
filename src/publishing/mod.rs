//! What a survey lead does to a questionnaire in the browser: keep drafts
//! (which may not be valid yet), check them with the same rules as
//! `joinedup check`, compare them with the version before, publish them as
//! new immutable versions, and set a version's dates, close it and reopen
//! it. Every change to a released version is written with its audit entry
//! and the change stamp that makes every instance reload the surveys.

pub mod diff;
pub mod drafts;
pub mod lifecycle;
