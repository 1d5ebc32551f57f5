//! `joinedup user ...`: staff accounts from the command line, for the first
//! admin and for when the browser is not an option. Passwords are read from
//! a prompt (without echo) or, when standard input is not a terminal, from
//! its first line: never from the arguments, which other users of the
//! machine can see.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::accounts::roles::{self, Role};
use crate::accounts::users::{self, normalise_email};
use crate::audit::Actor;
use crate::settings::Settings;
use crate::storage::{self, Db, DbConn, PooledConn};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from a prompt or standard input.
    Add(AddArgs),
    /// List every account with its roles and whether it is disabled.
    List,
    /// Disable an account: its sessions end at once and its API tokens stop working.
    Disable {
        /// The account's email address.
        email: String,
    },
    /// Re-enable a disabled account.
    Enable {
        /// The account's email address.
        email: String,
    },
    /// Set a new password (read from a prompt or standard input); the account's sessions end.
    ResetPassword {
        /// The account's email address.
        email: String,
    },
    /// Issue a personal API token for a script that acts as this account;
    /// the token is printed once, only its hash is kept.
    Token {
        /// The account's email address.
        email: String,
        /// What the token is for, as the admin pages will list it.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// The email address the person signs in with.
    #[arg(long)]
    pub email: String,
    /// One or more roles: admin, survey_lead, analyst (repeat, or separate with commas).
    #[arg(long = "role", required = true, num_args = 1.., value_delimiter = ',')]
    pub roles: Vec<Role>,
}

pub fn run(settings: &Settings, command: UserCommand) -> anyhow::Result<()> {
    let db = Db::connect(&settings.database)?;
    let mut conn = db.get_writer()?;
    if storage::migrations::pending_count(&mut conn)? > 0 {
        bail!("the database is not migrated yet; run `joinedup migrate` (or start the server) first");
    }
    let actor = Actor::command_line();
    match command {
        UserCommand::Add(args) => add(&mut conn, &actor, &args),
        UserCommand::List => list(&mut conn),
        UserCommand::Disable { email } => set_disabled(&mut conn, &actor, &email, true),
        UserCommand::Enable { email } => set_disabled(&mut conn, &actor, &email, false),
        UserCommand::ResetPassword { email } => reset_password(&mut conn, &actor, &email),
        UserCommand::Token { email, name } => token(&mut conn, &actor, &email, &name),
    }
}

fn token(conn: &mut PooledConn, actor: &Actor, email: &str, name: &str) -> anyhow::Result<()> {
    let email = normalise_email(email);
    let conn: &mut DbConn = conn;
    let Some(user) = storage::accounts::by_email(conn, &email)? else { bail!("no account has the email {email}") };
    if user.disabled {
        bail!("{email} is disabled; enable it first");
    }
    let (issued, secret) = crate::accounts::tokens::issue(conn, actor, None, user.id, name)?;
    eprintln!("token {} \"{}\" for {email}; it is shown only now:", issued.id, issued.name);
    println!("{secret}");
    Ok(())
}

fn add(conn: &mut PooledConn, actor: &Actor, args: &AddArgs) -> anyhow::Result<()> {
    let email = normalise_email(&args.email);
    users::check_email(&email)?;
    let conn: &mut DbConn = conn;
    if storage::accounts::by_email(conn, &email)?.is_some() {
        bail!("{}", users::AccountError::Exists);
    }
    let password = read_password(&format!("Password for {email}: "))?;
    let hash = users::password_hash(&email, &password)?;
    let user = users::create(conn, actor, None, &email, &hash, &args.roles)?;
    let roles: Vec<&str> = args.roles.iter().map(|r| r.as_str()).collect();
    println!("created {} with role(s) {}", user.email, roles.join(", "));
    Ok(())
}

fn list(conn: &mut PooledConn) -> anyhow::Result<()> {
    let all = storage::accounts::list_users(conn)?;
    if all.is_empty() {
        println!("no accounts yet; add one with `joinedup user add --email EMAIL --role admin`");
    }
    for entry in all {
        let roles = roles::parse_all(entry.roles.iter().map(String::as_str));
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let status = if entry.user.disabled { "disabled" } else { "active" };
        println!("{}\t{}\t{}\tcreated {}", entry.user.email, roles.join(","), status, entry.user.created_at.date());
    }
    Ok(())
}

fn set_disabled(conn: &mut PooledConn, actor: &Actor, email: &str, disabled: bool) -> anyhow::Result<()> {
    let found = users::find(conn, email)?;
    let user = users::set_disabled(conn, actor, None, found.user.id, disabled)?;
    println!("{} is now {}", user.email, if user.disabled { "disabled" } else { "enabled" });
    Ok(())
}

fn reset_password(conn: &mut PooledConn, actor: &Actor, email: &str) -> anyhow::Result<()> {
    let found = users::find(conn, email)?;
    let password = read_password(&format!("New password for {}: ", found.user.email))?;
    let hash = users::password_hash(&found.user.email, &password)?;
    users::set_password(conn, actor, None, found.user.id, &hash, false)?;
    println!("the password of {} is reset; their sessions have ended", found.user.email);
    Ok(())
}

/// At a terminal: asked twice without echo. Otherwise: the first line of
/// standard input (for scripts and tests), without its line ending.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).context("cannot read the password")?;
        let again = rpassword::prompt_password("Type it again: ").context("cannot read the password")?;
        if first != again {
            bail!("the two passwords are not the same");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("no password on standard input: pipe it in, or run the command at a terminal to be asked");
    }
    Ok(password)
}
