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

use std::cell::RefCell;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding, Header, HeaderValue};
use actix_web::middleware::Next;
use flate2::{Compress, Compression, FlushCompress, Status};

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

thread_local! {
    /// One gzip compressor per worker thread, reset for each page: setting
    /// up deflate's window and hash tables (a few hundred KiB, zeroed) cost
    /// more than compressing a question page. Scratch space, not state: a
    /// reset compressor is the same as a new one.
    static GZIP: RefCell<Compress> = RefCell::new(Compress::new_gzip(Compression::fast(), 15));
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    GZIP.with_borrow_mut(|compressor| {
        compressor.reset();
        let mut packed = Vec::with_capacity(bytes.len() / 3 + 64);
        loop {
            let read = usize::try_from(compressor.total_in()).map_err(std::io::Error::other)?;
            match compressor.compress_vec(&bytes[read..], &mut packed, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return Ok(packed),
                // Out of room: more, and go on.
                Ok(_) => packed.reserve(packed.capacity().max(256)),
                Err(e) => {
                    // Never leave a half-used compressor for the next page.
                    compressor.reset();
                    return Err(std::io::Error::other(e));
                }
            }
        }
    })
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::gzip;

    fn gunzip(packed: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(packed).read_to_end(&mut out).unwrap();
        out
    }

    /// The compressor is reused: each page must come out whole and alone,
    /// whatever came before it, including pages that outgrow the first
    /// guess at the output's size.
    #[test]
    fn each_page_is_its_own_gzip_stream() {
        let page = |n: usize| format!("<p>question {n}</p>").repeat(200 + n * 50).into_bytes();
        // Random-looking bytes barely compress, so the output must grow.
        let noise: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for body in [page(1), noise.clone(), page(2), b"tiny".to_vec(), page(3)] {
            assert_eq!(gunzip(&gzip(&body).unwrap()), body);
        }
    }
}
