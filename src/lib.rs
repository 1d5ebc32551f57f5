//! joinedup: asks patients and carers how joined-up their health and care
//! feels, and turns the answers into a weighted integration index per
//! integrated care system (ICS) and patient group.
//!
//! The modules form layers, each importing only those below it
//! (docs/architecture.md; `tests/it/layering.rs` checks it):
//!
//! - entry: `cli` (every command), `app` (start-up), `web` (handlers by
//!   user, middleware, typed page views, templates);
//! - domain: `results` (published results: `reports`, `outputs`,
//!   `microdata`, `rescore`, `population_margins`), `invitations` (samples,
//!   email, reminders, opt-out), `publishing` (drafts to released
//!   versions), `accounts` (staff, sessions, API tokens), `rights`
//!   (withdrawal, retention), `data_entry` (keying paper questionnaires),
//!   `address_limits`, `demo`, `weight_files`;
//! - shared: `surveys` (the registry of released versions), `settings`,
//!   `audit`, `tokens`, `clock`, `reference` (bundled data);
//! - `storage`: every query, on SQLite and PostgreSQL;
//! - pure, no I/O: `definitions` (the survey format), `journey` (pages,
//!   routing, answers), `paper` (printed questionnaires and letters),
//!   `index` (scores, cells, disclosure control), `weighting` (raking,
//!   trimming, variance).

pub mod accounts;
pub mod address_limits;
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod data_entry;
pub mod definitions;
pub mod demo;
pub mod index;
pub mod invitations;
pub mod journey;
pub mod paper;
pub mod publishing;
pub mod reference;
pub mod results;
pub mod rights;
pub mod settings;
pub mod storage;
pub mod surveys;
pub mod tokens;
pub mod web;
pub mod weight_files;
pub mod weighting;
