//! Published results, in one direction: `population_margins` (analysts'
//! uploaded margins) and `rescore` (re-scoring stored results) feed
//! `reports` (releases computed once and stored, with their provenance),
//! which `outputs` writes as CSV, XLSX and JSON, and `microdata` (the
//! researchers' respondent-level download) builds on all three. Nothing
//! here imports a module later in that list.

pub mod population_margins;
pub mod rescore;

pub mod reports;

pub mod outputs;

pub mod microdata;
