//! Weighting: base weights, raking to ICS population margins, trimming, and
//! estimates with linearised standard errors. Pure functions on slices, with
//! no database, HTTP or global state, so they can be checked against R's
//! `survey` package and benchmarked alone.
