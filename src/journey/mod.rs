//! The respondent journey as pure functions: which pages show, reading and
//! checking a submitted page, and the view models the templates render.
//! Nothing here touches storage, so a survey lead's preview can walk the
//! same pages without saving anything.

pub mod dependents;
pub mod form;
pub mod routing;
pub mod simulate;
pub mod step;
pub mod view;
pub mod wording;

pub use form::{Context, FieldError, Fields, PageInput, Tampered};
pub use routing::{Presets, Route};
pub use step::{Next, Outcome, Step, step};
pub use wording::Wording;
