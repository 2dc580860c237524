//! A logged-in browser over plain HTTP, for the web app's tests.
#![allow(dead_code)]

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The value of a cookie the response sets.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v.split(';').next().unwrap_or_default()[name.len() + 1..].to_string();
            (value, v.to_string())
        })
}

/// The value of the hidden input `name` in a page.
pub fn hidden(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\""))?;
    let tag_start = page[..at].rfind('<')?;
    let tag = &page[tag_start..at + page[at..].find('>')?];
    let value = tag.split("value=\"").nth(1)?;
    Some(value[..value.find('"')?].to_string())
}

/// A logged-in browser: its session cookie and the session's CSRF token.
pub struct Session {
    pub base: String,
    pub cookie: String,
}

impl Session {
    /// Logs in as a viewer, made first (viewer@example.com).
    pub async fn viewer(store: &laer_store::Store, base: &str) -> Session {
        let hash = laer_app::auth::hash_password("viewer password").unwrap();
        store
            .upsert_user(
                "viewer@example.com",
                "Vic Viewer",
                laer_core::access::Role::Viewer,
                &hash,
                None,
            )
            .await
            .unwrap();
        Session::login(base, "viewer@example.com", "viewer password")
            .await
            .unwrap()
    }

    /// Logs in as an admin, made first (admin@example.com, "admin password").
    #[allow(dead_code)]
    pub async fn admin(store: &laer_store::Store, base: &str) -> Session {
        let hash = laer_app::auth::hash_password("admin password").unwrap();
        store
            .upsert_user(
                "admin@example.com",
                "Ada Admin",
                laer_core::access::Role::Admin,
                &hash,
                None,
            )
            .await
            .unwrap();
        Session::login(base, "admin@example.com", "admin password")
            .await
            .unwrap()
    }

    pub async fn login(base: &str, email: &str, password: &str) -> Result<Session, u16> {
        let http = client();
        let form = http.get(format!("{base}/login")).send().await.unwrap();
        let (login_csrf, _) = set_cookie(&form, "laer_login_csrf").expect("the login form sets its CSRF cookie");
        let page = form.text().await.unwrap();
        let token = hidden(&page, "csrf").expect("the login form carries a CSRF token");
        assert_eq!(token, login_csrf);
        let response = http
            .post(format!("{base}/login"))
            .header(COOKIE, format!("laer_login_csrf={login_csrf}"))
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf", &token),
                ("next", "/portfolio"),
            ])
            .send()
            .await
            .unwrap();
        if response.status().as_u16() != 303 {
            return Err(response.status().as_u16());
        }
        let (secret, attributes) = set_cookie(&response, "laer_session").expect("a session cookie");
        // `Secure` too, except on plain http within this machine, as here (site.rs).
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(attributes.contains(attribute), "{attributes}");
        }
        Ok(Session {
            base: base.to_string(),
            cookie: format!("laer_session={secret}"),
        })
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = client()
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn csrf(&self) -> String {
        let (_, page) = self.get("/portfolio").await;
        hidden(&page, "csrf").expect("every page's logout form carries the CSRF token")
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> u16 {
        self.post_page(path, form).await.0
    }

    /// Posts a form; the status and the page answered.
    pub async fn post_page(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = client()
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}
