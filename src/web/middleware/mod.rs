//! What wraps every request before and after its handler: the request id,
//! the authorisation guard, CSRF checks, the redacted access log and
//! compression.

pub mod access_log;
pub mod compress;
pub mod csrf;
pub mod guard;
pub mod request_id;
