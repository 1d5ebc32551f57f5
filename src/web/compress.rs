//! Compression of small responses on the worker thread.
//!
//! actix-web's `Compress` middleware hands every body chunk over 1 KiB to
//! the blocking thread pool and back. For a question page (3–15 KiB of
//! HTML, compressed in well under 0.1 ms) the two thread hand-offs cost
//! more than the compression, and under load they queued: respondents
//! waited tens of milliseconds for bodies already rendered. So pages up to
//! `MAX_INLINE` bytes are gzipped here, at the same fast level; `Compress`
//! sees the `Content-Encoding` and leaves them alone, and still compresses
//! larger and streamed bodies (downloads) off the worker.

use std::io::Write;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding, Header, HeaderValue};
use actix_web::middleware::Next;
use flate2::Compression;
use flate2::write::GzEncoder;

/// Below this, gzip's header and checksum eat most of the saving.
const MIN_INLINE: u64 = 512;
/// Above this, compression is left to `Compress`, off the worker thread.
const MAX_INLINE: u64 = 64 * 1024;

/// Whether the client takes gzip, by the rules of `Accept-Encoding`
/// (quality values, `identity`, `*`), as actix-web reads them.
fn accepts_gzip(req: &ServiceRequest) -> bool {
    let Ok(accept) = AcceptEncoding::parse(req) else { return false };
    let supported = [Encoding::gzip(), Encoding::identity()];
    matches!(accept.negotiate(supported.iter()), Some(e) if e == Encoding::gzip())
}

/// Text worth compressing: pages, styles, JSON, SVG.
fn is_text(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/") || t.starts_with("application/json") || t.starts_with("image/svg+xml"))
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 3), Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

pub async fn small_inline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let wanted = accepts_gzip(&req);
    let res = next.call(req).await?;
    let size = match res.response().body().size() {
        BodySize::Sized(n) => n,
        _ => 0,
    };
    let headers = res.headers();
    if !wanted
        || !(MIN_INLINE..=MAX_INLINE).contains(&size)
        || headers.contains_key(header::CONTENT_ENCODING)
        || !is_text(headers.get(header::CONTENT_TYPE))
    {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (mut res, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.map_err(|e| {
        let e: Box<dyn std::error::Error> = e.into();
        actix_web::error::ErrorInternalServerError(e.to_string())
    })?;
    let packed = gzip(&bytes)?;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_ENCODING, ContentEncoding::Gzip.to_header_value());
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    Ok(ServiceResponse::new(req, res.set_body(packed).map_into_boxed_body()))
}
