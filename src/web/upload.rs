//! Forms that may carry a file (a definition, a sample): read as
//! `multipart/form-data`, or as an ordinary urlencoded form when no file
//! input is involved, with the CSRF token checked either way. Sizes are
//! bounded while reading, so an oversized upload is refused with a clear
//! message instead of filling memory.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;

use super::csrf;
use super::errors::WebError;
use crate::journey::Fields;

/// Largest upload accepted: a sample of a few hundred thousand addresses.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Largest text field: a definition pasted into the textarea.
const MAX_TEXT_FIELD_BYTES: usize = 4 * 1024 * 1024;
/// Most parts one form may send. joinedup's forms have a handful of fields;
/// without a cap, 400,000 empty parts (100 MB of headers) were read.
pub const MAX_PARTS: usize = 64;
/// What each part's headers count against `MAX_UPLOAD_BYTES`, on top of its
/// contents, so that many small parts add up as the body they make.
const PART_OVERHEAD: usize = 256;

/// A file sent with a form.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The name the browser gave (no path), for messages and records.
    pub filename: String,
    pub bytes: web::Bytes,
}

/// A form whose CSRF token has been checked: its text fields, and its
/// files by field name (a file input left empty is not listed).
pub struct UploadForm {
    pub fields: Fields,
    pub files: BTreeMap<String, Upload>,
}

fn too_large() -> WebError {
    WebError::BadRequest(format!("the upload is larger than {} MB", MAX_UPLOAD_BYTES / (1024 * 1024)))
}

async fn read_multipart(mut multipart: Multipart) -> Result<UploadForm, WebError> {
    let unreadable =
        |e: actix_multipart::MultipartError| WebError::BadRequest(format!("the upload could not be read ({e})"));
    let mut form = UploadForm { fields: Fields::new(), files: BTreeMap::new() };
    let mut total = 0usize;
    let mut parts = 0usize;
    while let Some(field) = multipart.next().await {
        parts += 1;
        total += PART_OVERHEAD;
        if parts > MAX_PARTS {
            return Err(WebError::BadRequest(format!(
                "the form has more than {MAX_PARTS} parts; no form here needs more"
            )));
        }
        if total > MAX_UPLOAD_BYTES {
            return Err(too_large());
        }
        let mut field = field.map_err(unreadable)?;
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.content_disposition().and_then(|d| d.get_filename()).map(str::to_string);
        let limit = if filename.is_some() { MAX_UPLOAD_BYTES } else { MAX_TEXT_FIELD_BYTES };
        let bytes = match field.bytes(limit.min(MAX_UPLOAD_BYTES - total)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return Err(unreadable(e)),
            Err(_) => return Err(too_large()),
        };
        total += bytes.len();
        match filename {
            // A file input left empty still sends a part, with no name and no bytes.
            Some(f) if f.is_empty() && bytes.is_empty() => {}
            Some(f) => {
                let filename = f.rsplit(['/', '\\']).next().unwrap_or_default().to_string();
                form.files.insert(name, Upload { filename, bytes });
            }
            None => {
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| WebError::BadRequest(format!("the field `{name}` is not text")))?;
                form.fields.entry(name).or_default().push(text);
            }
        }
    }
    Ok(form)
}

impl FromRequest for UploadForm {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let is_multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if is_multipart && declared.is_some_and(|n| n > MAX_UPLOAD_BYTES + MAX_PARTS * PART_OVERHEAD) {
            return Box::pin(async { Err(too_large()) });
        }
        if is_multipart {
            let multipart = Multipart::new(req.headers(), payload.take());
            Box::pin(async move {
                let mut form = read_multipart(multipart).await?;
                csrf::check_fields(&req, &mut form.fields).await?;
                Ok(form)
            })
        } else {
            let body = web::Bytes::from_request(&req, payload);
            Box::pin(async move {
                let bytes = body.await.map_err(|_| WebError::BadRequest("the form could not be read".into()))?;
                let mut fields = csrf::parse_urlencoded(&bytes);
                csrf::check_fields(&req, &mut fields).await?;
                Ok(UploadForm { fields, files: BTreeMap::new() })
            })
        }
    }
}
