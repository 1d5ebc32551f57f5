//! `/metrics` for Prometheus (the OpenMetrics text format, which Prometheus
//! scrapes natively), behind an API token with the admin role. What is
//! measured:
//! - requests and their latency by route template (never the raw path,
//!   which would hold tokens and grow without bound) and method;
//! - page submits by outcome and survey submissions (respondents' work);
//! - the database: pooled connections in use, waits for one, and on
//!   SQLite the group-commit queue, commit time and group size;
//! - the outbox: messages by kind and state (all sent by email);
//! - the release cache: hits, misses and the time to build a release.
//!
//! The registry lives in the app state, not in a global.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::results::reports::ReleaseStats;
use crate::storage::{DbStats, outbox};
use crate::web::AppState;
use crate::web::errors::WebError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    channel: &'static str,
    kind: &'static str,
    state: &'static str,
}

/// Every metric the server exposes, and the registry that writes them.
pub struct Metrics {
    registry: Registry,
    /// The route table's paths, to count requests under as `'static` labels.
    templates: std::collections::HashSet<&'static str>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    page_submits: Family<OutcomeLabels, Counter>,
    submissions: Counter,
    pool_in_use: Family<PoolLabels, Gauge>,
    pool_max: Family<PoolLabels, Gauge>,
    outbox: Family<OutboxLabels, Gauge>,
}

impl Metrics {
    /// Registers the request metrics with the database's and the release
    /// cache's own measurements.
    pub fn new(db: &DbStats, releases: &ReleaseStats) -> Metrics {
        let mut registry = Registry::with_prefix("joinedup");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route template, method and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer a request, by route template and method",
            Unit::Seconds,
            latency.clone(),
        );
        let page_submits = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "page_submits",
            "Question pages submitted by respondents: saved, or shown again with a mistake",
            page_submits.clone(),
        );
        let submissions = Counter::default();
        registry.register("submissions", "Responses submitted by respondents", submissions.clone());
        let pool_in_use = Family::<PoolLabels, Gauge>::default();
        registry.register("db_pool_connections_in_use", "Pooled database connections in use", pool_in_use.clone());
        let pool_max = Family::<PoolLabels, Gauge>::default();
        registry.register("db_pool_connections_max", "The most connections a pool opens", pool_max.clone());
        registry.register_with_unit(
            "db_pool_wait",
            "Time a request waited for a pooled connection",
            Unit::Seconds,
            db.pool_wait.clone(),
        );
        registry.register("db_queued_writes", "SQLite: writes waiting for the writer thread", db.queued_writes.clone());
        registry.register_with_unit(
            "db_group_commit",
            "SQLite: time to run and commit one group of writes",
            Unit::Seconds,
            db.group_commit.clone(),
        );
        registry.register("db_group_commit_writes", "SQLite: writes per group commit", db.group_size.clone());
        let outbox = Family::<OutboxLabels, Gauge>::default();
        registry.register("outbox_messages", "Messages in the outbox by channel, kind and state", outbox.clone());
        registry.register("report_cache_hits", "Releases answered from memory", releases.hits.clone());
        registry.register(
            "report_cache_misses",
            "Releases read from the database or computed",
            releases.misses.clone(),
        );
        registry.register_with_unit(
            "report_build",
            "Time to read or compute a release not in memory",
            Unit::Seconds,
            releases.build.clone(),
        );
        let templates = super::routes::ROUTES.iter().map(|e| e.path).collect();
        Metrics { registry, templates, requests, latency, page_submits, submissions, pool_in_use, pool_max, outbox }
    }

    fn observe(&self, route: &'static str, method: &'static str, status: u16, seconds: f64) {
        self.requests.get_or_create(&RequestLabels { route, method, status }).inc();
        self.latency.get_or_create(&RouteLabels { route, method }).observe(seconds);
        if method != "POST" {
            return;
        }
        match route {
            "/surveys/{survey_id}/q/{page_id}" => {
                let outcome = if status == 303 { "saved" } else { "shown_again" };
                self.page_submits.get_or_create(&OutcomeLabels { outcome }).inc();
            }
            "/surveys/{survey_id}/submit" if status == 303 => {
                self.submissions.inc();
            }
            _ => {}
        }
    }

    /// The route template a request is counted under: a path of the route
    /// table, as a `'static` string, so counting allocates nothing.
    fn template(&self, pattern: Option<&str>) -> &'static str {
        pattern.and_then(|p| self.templates.get(p)).copied().unwrap_or("unmatched")
    }
}

fn method_name(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts and times each request under its route template.
pub async fn measure(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let began = Instant::now();
    let method = method_name(req.method());
    let response = next.call(req).await?;
    if let Some(metrics) = response.request().app_data::<web::Data<AppState>>().and_then(|s| s.metrics.as_ref()) {
        let route = metrics.template(response.request().match_pattern().as_deref());
        metrics.observe(route, method, response.status().as_u16(), began.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// `GET /metrics`: every metric now, the gauges read at this moment.
pub async fn scrape(state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let Some(metrics) = state.metrics.as_ref() else { return Err(WebError::NotFound) };
    for (pool, now) in state.db.pool_states() {
        metrics.pool_in_use.get_or_create(&PoolLabels { pool }).set(i64::from(now.size - now.idle));
        metrics.pool_max.get_or_create(&PoolLabels { pool }).set(i64::from(now.max));
    }
    let counts = state.db.run(outbox::counts_everywhere).await?;
    metrics.outbox.clear();
    for (kind, status, n) in counts {
        let labels = OutboxLabels { channel: "email", kind: kind.into(), state: status.into() };
        metrics.outbox.get_or_create(&labels).set(n);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry).map_err(|e| {
        tracing::error!(error = %e, "cannot write the metrics");
        WebError::Internal
    })?;
    Ok(HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text))
}
