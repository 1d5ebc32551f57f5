//! The access log, with secrets taken out: invitation tokens and resume
//! codes travel in URLs and must never reach a log.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = redact(req.path());
    let response = next.call(req).await?;
    tracing::info!(
        target: "joinedup::access",
        %method,
        %path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
    );
    Ok(response)
}

/// Replaces the secret segment of token-bearing paths. Query strings are
/// never logged at all.
pub fn redact(path: &str) -> String {
    const SECRET_AFTER: [&str; 2] = ["/s/", "/resume/"];
    for prefix in SECRET_AFTER {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map_or("", |i| &rest[i..]);
            return format!("{prefix}[redacted]{tail}");
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn tokens_are_redacted() {
        assert_eq!(redact("/s/abcDEF123/page/q1"), "/s/[redacted]/page/q1");
        assert_eq!(redact("/s/abcDEF123"), "/s/[redacted]");
        assert_eq!(redact("/healthz"), "/healthz");
    }
}
