//! A request id on every request: the reverse proxy's `X-Request-Id` when
//! it sent a plain one, otherwise 128 random bits made here. Every log line
//! of the request is written inside a span carrying it (the access line,
//! and the database work the request hands to other threads), and the
//! response carries it back, so a user's report, the proxy's log and
//! joinedup's log meet on one id.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use rand::RngCore;
use tracing::Instrument;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Handlers' errors are already responses here (actix turns them into
/// responses where they arise), so they carry the id too.
pub async fn tag_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let given = req.headers().get(&HEADER).and_then(|v| v.to_str().ok()).filter(|v| well_formed(v));
    let id = given.map_or_else(fresh, str::to_string);
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.call(req).instrument(span).await?;
    let value = HeaderValue::from_str(&id).expect("checked or made of hex digits");
    response.headers_mut().insert(HEADER, value);
    Ok(response)
}

/// An id from outside is used only when it is short and plain, so it can
/// neither forge log lines nor carry anything personal of size.
fn well_formed(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn fresh() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_from_outside_are_kept() {
        assert!(well_formed("3f2a9c1e-77b0-4c1d-9a55-0b8e2f6d4c11"));
        assert!(!well_formed("short"));
        assert!(!well_formed("two words and\nnewline"));
        assert!(!well_formed(&"a".repeat(65)));
        assert_eq!(fresh().len(), 32);
        assert_ne!(fresh(), fresh());
    }
}
