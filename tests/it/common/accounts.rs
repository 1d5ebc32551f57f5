//! Helpers for the account tests: users made through the real account
//! code, and a staff browser over real HTTP that keeps its cookies and reads
//! CSRF tokens from the forms it is shown.

use joinedup::accounts::{Role, users};
use joinedup::audit::Actor;
use joinedup::storage::audit::{AuditFilter, AuditRow};

use super::TestApp;

/// A password that meets the policy, different per name.
pub fn password_for(name: &str) -> String {
    format!("{name} correct horse battery staple")
}

/// Creates an account through `accounts::users` (the same code as the CLI
/// and admin pages); returns its id.
pub async fn create_user(app: &TestApp, email: &str, password: &str, roles: &[Role]) -> i64 {
    let (email, password, roles) = (email.to_string(), password.to_string(), roles.to_vec());
    let hash = tokio::task::spawn_blocking({
        let (email, password) = (email.clone(), password.clone());
        move || users::password_hash(&email, &password).unwrap()
    })
    .await
    .unwrap();
    app.state
        .db
        .write(move |conn| Ok(users::create(conn, &Actor::command_line(), None, &email, &hash, &roles).unwrap().id))
        .await
        .unwrap()
}

/// Audit entries with `action`, newest first.
pub async fn audit(app: &TestApp, action: &str) -> Vec<AuditRow> {
    let filter = AuditFilter { action: Some(action.to_string()), ..AuditFilter::default() };
    app.state.db.run(move |conn| joinedup::storage::audit::search(conn, &filter, 10_000)).await.unwrap()
}

/// The CSRF token in the first form of a page.
pub fn csrf_in(body: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker).unwrap_or_else(|| panic!("no form:\n{body}")) + marker.len();
    body[start..start + 64].to_string()
}

pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

/// A browser for staff pages: cookies kept, redirects not followed.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub client: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .unwrap();
        Browser { app, client, jar }
    }

    /// The session cookie's value, if the browser holds one.
    pub fn session(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = self.app.url("/").parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header.to_str().unwrap().split("; ").find_map(|c| c.strip_prefix("joinedup_session=")).map(str::to_string)
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers.get("location").map(|l| l.to_str().unwrap().to_string());
        Reply { status, location, headers, body: response.text().await.unwrap() }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::reply(self.client.get(self.app.url(path)).send().await.unwrap()).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        Self::reply(request.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        Self::reply(self.client.post(self.app.url(path)).form(fields).send().await.unwrap()).await
    }

    /// Posts a form with the CSRF token read from the page at `form_page`.
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Reply {
        let page = self.get(form_page).await;
        assert_eq!(page.status, 200, "{form_page}: {}", page.body);
        let token = csrf_in(&page.body);
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Signs in through the sign-in page.
    pub async fn sign_in(&self, email: &str, password: &str) -> Reply {
        self.submit("/sign-in", "/sign-in", &[("email", email), ("password", password)]).await
    }

    /// Signs in and checks it worked.
    pub async fn signed_in(app: &'a TestApp, email: &str, password: &str) -> Browser<'a> {
        let browser = Browser::new(app);
        let reply = browser.sign_in(email, password).await;
        assert_eq!(reply.status, 303, "sign in as {email}: {}", reply.body);
        assert!(browser.session().is_some());
        browser
    }
}
