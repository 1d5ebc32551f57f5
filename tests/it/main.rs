//! The integration tests, as one binary with its own harness (libtest-mimic):
//! `tests/it/common` is compiled once, filters work as with libtest
//! (`cargo test --test it -- storage::postgres`), and a test whose service
//! (PostgreSQL, aiosmtpd) is absent here is reported `ignored` with the
//! reason instead of passing. Under CI (`CI=true` or `CI=1`) an absent
//! service stops the run before any test: CI may skip nothing.

#[macro_use]
mod common;

mod accounts;
mod backup;
mod cli;
mod definitions;
mod fuzz;
mod http;
mod index;
mod instances;
mod invitations;
mod journey;
mod layering;
mod lead;
mod logs;
mod metrics;
mod move_to_postgres;
mod paper;
mod replica;
mod storage;
mod user_cli;
mod weighting;

use common::harness::{Services, under_ci};
use libtest_mimic::{Arguments, Trial};

fn main() {
    let args = Arguments::from_args();
    let services = Services::detect();
    if !args.list {
        let absent = services.absent();
        for (why, how) in &absent {
            eprintln!("{}: {why} ({how})", if under_ci() { "error" } else { "note" });
        }
        if under_ci() && !absent.is_empty() {
            eprintln!("error: under CI (CI=true) no test may be skipped for want of a service; none was run");
            std::process::exit(1);
        }
    }
    let mut trials: Vec<Trial> = [
        accounts::trials(&services),
        backup::trials(),
        cli::trials(),
        definitions::trials(),
        fuzz::trials(),
        http::trials(&services),
        index::trials(&services),
        instances::trials(&services),
        invitations::trials(&services),
        journey::trials(&services),
        layering::trials(),
        lead::trials(&services),
        logs::trials(),
        metrics::trials(&services),
        move_to_postgres::trials(&services),
        paper::trials(&services),
        replica::trials(&services),
        storage::trials(&services),
        user_cli::trials(),
        weighting::trials(),
    ]
    .into_iter()
    .flatten()
    .collect();
    // In name order, as libtest lists and runs them.
    trials.sort_by(|a, b| a.name().cmp(b.name()));
    libtest_mimic::run(&args, trials).exit()
}
