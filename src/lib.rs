//! joinedup: asks patients and carers how joined-up their health and care
//! feels, and turns the answers into a weighted integration index per
//! integrated care system (ICS) and patient group.
//!
//! The modules follow the path of one answer: `definitions` (the survey
//! format), `storage` (both databases), `weighting` (pure statistics),
//! `index` (scores and comparisons), `invitations` (tokens and email),
//! `web` (thin HTTP handlers), and `app`/`cli` (wiring and commands).

pub mod accounts;
pub mod address_limits;
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod definitions;
pub mod demo;
pub mod index;
pub mod invitations;
pub mod journey;
pub mod microdata;
pub mod outputs;
pub mod population_margins;
pub mod publishing;
pub mod reference;
pub mod reports;
pub mod rescore;
pub mod rights;
pub mod settings;
pub mod storage;
pub mod surveys;
pub mod tokens;
pub mod web;
pub mod weight_files;
pub mod weighting;
