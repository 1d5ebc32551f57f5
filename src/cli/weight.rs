//! `joinedup weight`: weighting a researcher's own respondent file to
//! population margins (`weight_files` does the work).

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct WeightArgs {
    /// CSV: id, ics, one column per dimension in the margins (empty = not
    /// given), optional base_weight; other columns are ignored.
    #[arg(long)]
    pub respondents: PathBuf,
    /// CSV: ics, dimension, category, population, optional collapse_into.
    #[arg(long)]
    pub margins: PathBuf,
    /// Cap weights at K times the ICS mean weight, re-raking until both hold.
    #[arg(long, value_name = "K")]
    pub trim: Option<f64>,
    /// Where to write `id,weight`.
    #[arg(long, default_value = "weights.csv")]
    pub out: PathBuf,
    /// ICSs with fewer respondents are scaled to their total, not raked.
    #[arg(long, default_value_t = 10)]
    pub min_respondents: usize,
    /// A numeric column whose weighted mean to estimate per ICS.
    #[arg(long, value_name = "COLUMN", requires = "estimates_out")]
    pub estimate: Option<String>,
    /// Also split the estimate by this column's categories.
    #[arg(long, value_name = "COLUMN", requires = "estimate")]
    pub by: Option<String>,
    /// Where to write the estimates.
    #[arg(long, value_name = "FILE", requires = "estimate")]
    pub estimates_out: Option<PathBuf>,
    /// Print the wall time of each phase (reading, weighting, writing).
    #[arg(long)]
    pub timings: bool,
}

pub fn run(args: WeightArgs) -> anyhow::Result<()> {
    crate::weight_files::run(&crate::weight_files::WeightJob {
        respondents: args.respondents,
        margins: args.margins,
        out: args.out,
        trim: args.trim,
        min_respondents: args.min_respondents,
        estimate: args.estimate,
        by: args.by,
        estimates_out: args.estimates_out,
        timings: args.timings,
    })
}
