//! A real SMTP server on loopback for the email tests: aiosmtpd (Debian's
//! `python3-aiosmtpd`, or `pip install aiosmtpd`) writing every message it
//! accepts to a Maildir, which the tests read back. The harness looks for
//! aiosmtpd once: without it the email tests are reported ignored with the
//! reason, and under CI (`CI=true`) the run stops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope recipient (aiosmtpd's `X-RcptTo`).
    pub to: String,
    pub raw: Vec<u8>,
}

impl Mail {
    pub fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.raw).expect("a parsable message")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed().headers.iter().find(|h| h.get_key().eq_ignore_ascii_case(name)).map(|h| h.get_value())
    }

    /// The decoded body of the part with this MIME type.
    pub fn body(&self, mimetype: &str) -> String {
        fn find(part: &mailparse::ParsedMail<'_>, mimetype: &str) -> Option<String> {
            if part.ctype.mimetype == mimetype {
                return part.get_body().ok();
            }
            part.subparts.iter().find_map(|p| find(p, mimetype))
        }
        find(&self.parsed(), mimetype).unwrap_or_else(|| panic!("no {mimetype} part in the message to {}", self.to))
    }

    /// The personal survey link (`/s/...`) in the plain-text body.
    pub fn survey_link(&self) -> String {
        link_in(&self.body("text/plain"), "/s/")
    }

    pub fn opt_out_link(&self) -> String {
        link_in(&self.body("text/plain"), "/opt-out/")
    }
}

fn link_in(text: &str, marker: &str) -> String {
    text.split_whitespace().find(|w| w.contains(marker) && w.starts_with("http")).expect("a link").to_string()
}

/// The python that has aiosmtpd, if any.
pub(super) fn python() -> Option<String> {
    let candidates =
        [std::env::var("JOINEDUP_TEST_PYTHON").ok(), Some("python3".into()), Some("/usr/bin/python3".into())];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts the server on a free loopback port. Only tests declared to
    /// need it (`needs [Smtp]`) call this, so aiosmtpd is installed.
    pub fn start() -> SmtpServer {
        let python = python().expect("a python with aiosmtpd: declare the test `needs [Smtp]`");
        let dir = tempfile::tempdir().expect("temp dir");
        // aiosmtpd's Mailbox makes the Maildir itself, and fails on an empty existing folder.
        let maildir = dir.path().join("maildir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/joinedup_smtp.py");
        // The server binds port 0 and prints the port it got: no other
        // process can take it between a test choosing it and the bind.
        let mut child = Command::new(python)
            .arg(script)
            .arg(&maildir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let mut first = String::new();
        let stdout = child.stdout.take().expect("piped");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first).expect("read the port");
        let port: u16 = first.trim().parse().unwrap_or_else(|_| panic!("aiosmtpd printed `{first}`, not its port"));
        SmtpServer { port, maildir, child, _dir: dir }
    }

    /// `smtp://127.0.0.1:PORT`: plain SMTP, as a loopback relay is.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        let mut mails: Vec<(std::time::SystemTime, Mail)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let raw = std::fs::read(e.path()).ok()?;
                let modified = e.metadata().ok()?.modified().ok()?;
                let parsed = mailparse::parse_mail(&raw).ok()?;
                let to = parsed.headers.iter().find(|h| h.get_key() == "X-RcptTo").map(|h| h.get_value())?;
                Some((modified, Mail { to, raw: raw.clone() }))
            })
            .collect();
        mails.sort_by_key(|(t, _)| *t);
        mails.into_iter().map(|(_, m)| m).collect()
    }

    /// How many messages have arrived (cheap: no message is read).
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.maildir.join("new")).map_or(0, |d| d.count())
    }

    /// Waits until at least `n` messages have arrived and then no more for
    /// `quiet` (a late duplicate would show), then reads them all; gives up
    /// waiting at `timeout`.
    pub fn wait_for_quiet(&self, n: usize, quiet: Duration, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        let (mut seen, mut since) = (self.count(), Instant::now());
        while Instant::now() < deadline && (seen < n || since.elapsed() < quiet) {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.count();
            if now != seen {
                (seen, since) = (now, Instant::now());
            }
        }
        self.messages()
    }

    /// Waits until at least `n` messages have arrived, then reads them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        while self.count() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.messages()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
