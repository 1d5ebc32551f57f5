//! An analyst's and a researcher's pages: the landing page, results with
//! their charts, population margins, and microdata for researchers.

pub mod charts;
pub mod home;
pub mod margins;
pub mod research;
pub(crate) mod results;
pub mod views;

pub use results::*;
