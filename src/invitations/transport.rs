//! Where email goes: a real SMTP server, or (for tests of what is sent and
//! to whom) a list in memory. The sender sees one `send`, and a failure
//! classified the same way whichever it is, on the model of crates.io's
//! email seam. Nothing outside tests makes the memory transport: settings
//! only ever name an SMTP server.

use lettre::address::Envelope;
use lettre::transport::smtp;
use lettre::transport::stub::AsyncStubTransport;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Keeps every message, accepted as a server would accept it.
    Memory(AsyncStubTransport),
}

/// Why a message was not handed over.
#[derive(Debug)]
pub enum TransportError {
    Smtp(smtp::Error),
    Memory(lettre::transport::stub::Error),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Smtp(e) => write!(f, "{e}"),
            TransportError::Memory(e) => write!(f, "the in-memory transport refused the message: {e}"),
        }
    }
}

impl Transport {
    /// A transport that keeps what it is given (see [`Transport::sent`]).
    pub fn in_memory() -> Transport {
        Transport::Memory(AsyncStubTransport::new_ok())
    }

    /// Hands `email` over; the server's reply, as `code text`.
    pub async fn send(&self, email: Message) -> Result<String, TransportError> {
        match self {
            Transport::Smtp(t) => {
                let reply = t.send(email).await.map_err(TransportError::Smtp)?;
                Ok(format!("{} {}", reply.code(), reply.message().collect::<Vec<_>>().join(" ")))
            }
            Transport::Memory(t) => {
                t.send(email).await.map_err(TransportError::Memory)?;
                Ok("250 kept in memory".into())
            }
        }
    }

    /// Whether the server answers.
    pub async fn test_connection(&self) -> Result<bool, TransportError> {
        match self {
            Transport::Smtp(t) => t.test_connection().await.map_err(TransportError::Smtp),
            Transport::Memory(_) => Ok(true),
        }
    }

    /// What the memory transport was given: each message's envelope and
    /// its text as sent. Empty for SMTP, whose messages are the server's.
    pub async fn sent(&self) -> Vec<(Envelope, String)> {
        match self {
            Transport::Smtp(_) => Vec::new(),
            Transport::Memory(t) => t.messages().await,
        }
    }
}
