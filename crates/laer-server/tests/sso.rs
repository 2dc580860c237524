//! Single sign-on end to end, on each backend, against a real OpenID provider: the
//! certified `oidc-provider` package from npm (tests/sso/provider.cjs), driven by a
//! browser made of an HTTP client that keeps cookies, follows redirects and posts the
//! provider's login and consent forms. A role claim signs a new person in; an
//! invitation is claimed by a verified email; a forged `state`, an ID token issued to
//! another client, an expired ID token, a deactivated person and a stranger are refused;
//! password logins can be switched off.
//!
//! Needs `LAER_TEST_OIDC_NODE_MODULES` (a node_modules folder with oidc-provider 9);
//! `scripts/test` installs it. Without it the tests are skipped, unless
//! `LAER_TEST_REQUIRE_OIDC=1` (CI).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use laer_core::access::Role;
use laer_server::{SSO_CALLBACK_PATH, Server, Site, SsoConfig};
use laer_store::{AuditFilter, Store};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

/// The node_modules folder with oidc-provider, or `None` to skip.
fn node_modules() -> Option<String> {
    match std::env::var("LAER_TEST_OIDC_NODE_MODULES")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(dir) => Some(dir),
        None if std::env::var("LAER_TEST_REQUIRE_OIDC").is_ok_and(|v| v == "1") => {
            panic!("LAER_TEST_REQUIRE_OIDC=1 but LAER_TEST_OIDC_NODE_MODULES is not set")
        }
        None => {
            eprintln!("skipping: set LAER_TEST_OIDC_NODE_MODULES (a node_modules folder with oidc-provider)");
            None
        }
    }
}

/// The provider's process, stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    fn start(node_modules: &str, redirect_uri: &str, mode: &str) -> Provider {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sso/provider.cjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .arg(redirect_uri)
            .arg(mode)
            .env("NODE_PATH", node_modules)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready", "the provider did not start");
        // The provider writes on (its development pages' notices): read it to the end,
        // or its next write fails and ends it.
        std::thread::spawn(move || lines.for_each(drop));
        Provider {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// laer with single sign-on against a provider in `mode` (see provider.cjs).
struct Setup {
    base: String,
    _provider: Provider,
}

async fn serve(store: &Store, node_modules: &str, mode: &str, password_logins: bool) -> Setup {
    let server = Server::bind("127.0.0.1:0", store.clone()).await.unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let provider = Provider::start(node_modules, &format!("{base}{SSO_CALLBACK_PATH}"), mode);
    let config = SsoConfig {
        issuer: provider.issuer.clone(),
        client_id: "laer".into(),
        client_secret: Some("laer-secret".into()),
        name: "Test IdP".into(),
        scopes: vec!["email".into(), "profile".into(), "laer".into()],
        role_claim: Some("laer_role".into()),
        role_mapping: Default::default(),
        trust_email: false,
        password_logins,
    };
    let server = server
        .with_site(Site::new(Some(&base), &[]).unwrap())
        .with_sso(config)
        .unwrap();
    tokio::spawn(server.run(std::future::pending()));
    Setup {
        base,
        _provider: provider,
    }
}

/// A browser over HTTP: cookies by host and port, redirects followed by hand.
struct Browser {
    client: reqwest::Client,
    jar: HashMap<String, BTreeMap<String, String>>,
    /// Every address it asked for, in order.
    visited: Vec<reqwest::Url>,
}

/// Where a browser ended up.
struct Landing {
    url: String,
    status: u16,
    body: String,
}

/// Where a walk stopped.
enum Step {
    Landed(Landing),
    /// About to go back to laer's callback (not yet sent).
    Callback(reqwest::Url),
}

fn host_of(url: &reqwest::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl Browser {
    fn new() -> Browser {
        Browser {
            client: reqwest::Client::builder().redirect(Policy::none()).build().unwrap(),
            jar: HashMap::new(),
            visited: Vec::new(),
        }
    }

    fn cookie(&self, base: &str, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(base).unwrap();
        self.jar.get(&host_of(&url))?.get(name).cloned()
    }

    fn set_cookie(&mut self, base: &str, name: &str, value: &str) {
        let url = reqwest::Url::parse(base).unwrap();
        self.jar
            .entry(host_of(&url))
            .or_default()
            .insert(name.to_string(), value.to_string());
    }

    async fn send(&mut self, url: &reqwest::Url, form: Option<Vec<(String, String)>>) -> reqwest::Response {
        self.visited.push(url.clone());
        let host = host_of(url);
        let cookies = self
            .jar
            .get(&host)
            .map(|c| c.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        let mut request = match form {
            Some(form) => self.client.post(url.clone()).form(&form),
            None => self.client.get(url.clone()),
        };
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies);
        }
        let response = request.send().await.unwrap();
        let jar = self.jar.entry(host).or_default();
        for value in response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let pair = value.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if value.trim().is_empty() {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
        response
    }

    /// Follows redirects from `url`, posting the provider's login form as `login` and
    /// its consent form, until a page that is neither, or (`stop_at_callback`) until
    /// the next address is laer's callback.
    async fn walk(&mut self, url: reqwest::Url, login: &str, stop_at_callback: bool) -> Step {
        let mut url = url;
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..30 {
            if stop_at_callback && url.path() == SSO_CALLBACK_PATH {
                return Step::Callback(url);
            }
            let response = self.send(&url, form.take()).await;
            let status = response.status().as_u16();
            if let Some(location) = response.headers().get(LOCATION) {
                url = url.join(location.to_str().unwrap()).unwrap();
                continue;
            }
            let body = response.text().await.unwrap();
            let is_provider_form = url.path().starts_with("/interaction/") && body.contains("<form");
            if !is_provider_form {
                return Step::Landed(Landing {
                    url: url.to_string(),
                    status,
                    body,
                });
            }
            let action = body
                .split("action=\"")
                .nth(1)
                .and_then(|a| a.split('"').next())
                .unwrap();
            let mut fields = vec![];
            if body.contains("name=\"login\"") {
                fields.push(("prompt".to_string(), "login".to_string()));
                fields.push(("login".to_string(), login.to_string()));
                fields.push(("password".to_string(), "any password".to_string()));
            } else {
                fields.push(("prompt".to_string(), "consent".to_string()));
            }
            url = url.join(action).unwrap();
            form = Some(fields);
        }
        panic!("too many redirects");
    }

    /// Signs in at the provider as `login` from laer's `start` address, up to the
    /// address the provider sends the browser back to laer with (not yet followed).
    async fn until_callback(&mut self, start: &str, login: &str) -> reqwest::Url {
        match self.walk(reqwest::Url::parse(start).unwrap(), login, true).await {
            Step::Callback(url) => url,
            Step::Landed(landing) => panic!("no callback: {} {} {}", landing.status, landing.url, landing.body),
        }
    }

    /// Goes to `url` and follows its redirects.
    async fn follow(&mut self, url: reqwest::Url) -> Landing {
        match self.walk(url, "", false).await {
            Step::Landed(landing) => landing,
            Step::Callback(_) => unreachable!("walk goes on past the callback"),
        }
    }

    /// The whole sign-in from `start` as `login`.
    async fn sign_in(&mut self, start: &str, login: &str) -> Landing {
        let callback = self.until_callback(start, login).await;
        self.follow(callback).await
    }
}

/// `url` with its query parameter `name` set to `value`.
fn with_param(url: &reqwest::Url, name: &str, value: &str) -> reqwest::Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name { value.to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    let mut url = url.clone();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

fn param(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

async fn sign_in(setup: &Setup, login: &str) -> (Browser, Landing) {
    let mut browser = Browser::new();
    let landing = browser
        .sign_in(&format!("{}/auth/oidc/start?next=/work", setup.base), login)
        .await;
    (browser, landing)
}

async fn audit_actions(store: &Store) -> Vec<String> {
    store
        .audit_log(&AuditFilter::default(), None, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.action)
        .collect()
}

async fn a_role_claim_signs_a_new_person_in(store: &Store) {
    let Some(node_modules) = node_modules() else { return };
    let setup = serve(store, &node_modules, "normal", true).await;
    // The login page offers the provider beside the password form.
    let login_page = reqwest::get(format!("{}/login?next=/work", setup.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login_page.contains("Sign in with Test IdP"), "{login_page}");
    assert!(
        login_page.contains("href=\"/auth/oidc/start?next=/work\""),
        "{login_page}"
    );
    assert!(login_page.contains("type=\"password\""), "{login_page}");

    let (browser, landing) = sign_in(&setup, "alice").await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(
        landing.url,
        format!("{}/work", setup.base),
        "back where the sign-in started"
    );
    assert!(landing.body.contains("Alice Example"), "{}", landing.body);
    assert!(browser.cookie(&setup.base, "laer_session").is_some());
    assert!(
        browser.cookie(&setup.base, "laer_sso_state").is_none(),
        "the state cookie is cleared"
    );
    let people = store.users().await.unwrap();
    let alice = people.iter().find(|u| u.email == "alice@example.com").unwrap();
    assert_eq!(alice.role, Role::Csm);
    assert!(audit_actions(store).await.contains(&"user.created_by_sso".to_string()));

    // The second time, the same person (linked by issuer and subject).
    let (_, again) = sign_in(&setup, "alice").await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(store.users().await.unwrap().len(), people.len());

    // A stranger with no role claim and no invitation is refused, with a page saying why.
    let (browser, refused) = sign_in(&setup, "nobody").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("no role in laer"), "{}", refused.body);
    assert!(browser.cookie(&setup.base, "laer_session").is_none());
    assert!(
        store
            .users()
            .await
            .unwrap()
            .iter()
            .all(|u| u.email != "nobody@example.com")
    );
}

/// Ivan (ivan@example.com) invited as renewal, as an admin does on the People page.
async fn invite_ivan(store: &Store, setup: &Setup) -> laer_app::people::IssuedLink {
    let invite = laer_store::NewInvite {
        email: "ivan@example.com",
        name: "Ivan",
        role: Role::Renewal,
    };
    let delivery = laer_app::people::LinkDelivery {
        origin: &setup.base,
        email: false,
    };
    laer_app::people::invite(store, &invite, delivery, "Ada Admin <ada@example.com>")
        .await
        .unwrap()
}

async fn an_invitation_is_claimed_by_a_verified_email(store: &Store) {
    let Some(node_modules) = node_modules() else { return };
    let setup = serve(store, &node_modules, "normal", true).await;
    let issued = invite_ivan(store, &setup).await;
    let token = issued.url.rsplit('/').next().unwrap().to_string();

    // Someone whose provider does not vouch for the same email cannot claim it.
    let (_, refused) = sign_in(&setup, "mallory").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("verified"), "{}", refused.body);

    let (_, landing) = sign_in(&setup, "ivan").await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    let ivan = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.email == "ivan@example.com")
        .unwrap();
    assert_eq!(ivan.role, Role::Renewal, "the invitation's role, with no role claim");
    assert_eq!(ivan.id, issued.user.id);
    assert!(
        store.password_link(&token).await.unwrap().is_none(),
        "the invitation is claimed: its link ends"
    );
    assert!(audit_actions(store).await.contains(&"user.sso_linked".to_string()));
}

async fn a_deactivated_person_is_refused(store: &Store) {
    let Some(node_modules) = node_modules() else { return };
    let setup = serve(store, &node_modules, "normal", true).await;
    let hash = laer_app::auth::hash_password("dora password").unwrap();
    let dora = store
        .upsert_user("dora@example.com", "Dora", Role::Csm, &hash, None)
        .await
        .unwrap();
    // Linked first, then deactivated: the identity no longer gets in, role claim or not.
    let (_, landing) = sign_in(&setup, "dora").await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    store
        .deactivate_user(dora.id, "Ada Admin <ada@example.com>")
        .await
        .unwrap();
    let (browser, refused) = sign_in(&setup, "dora").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("deactivated"), "{}", refused.body);
    assert!(browser.cookie(&setup.base, "laer_session").is_none());
}

async fn a_forged_state_is_refused(store: &Store) {
    let Some(node_modules) = node_modules() else { return };
    let setup = serve(store, &node_modules, "normal", true).await;
    let start = format!("{}/auth/oidc/start", setup.base);
    let refused_as_not_started = |landing: &Landing| {
        assert_eq!(landing.status, 400, "{}", landing.body);
        assert!(landing.body.contains("not started in this browser"), "{}", landing.body);
    };

    // The provider's answer with another state than the one this browser started with.
    let mut browser = Browser::new();
    let callback = browser.until_callback(&start, "alice").await;
    let landing = browser
        .follow(with_param(&callback, "state", "forged-state-value"))
        .await;
    refused_as_not_started(&landing);
    assert!(browser.cookie(&setup.base, "laer_session").is_none());

    // The true answer, taken to another browser (a login forced on someone else).
    let mut victim = Browser::new();
    let callback = victim.until_callback(&start, "alice").await;
    let landing = Browser::new().follow(callback.clone()).await;
    refused_as_not_started(&landing);
    // ... or to one that started a sign-in of its own.
    let mut other = Browser::new();
    let _ = other.until_callback(&start, "nobody").await;
    refused_as_not_started(&other.follow(callback).await);
    assert!(store.users().await.unwrap().is_empty(), "nobody was made");

    // A sign-in is used once: its answer sent again, with its state cookie, is refused.
    let mut browser = Browser::new();
    let callback = browser.until_callback(&start, "alice").await;
    let state = param(&callback, "state").unwrap();
    let landing = browser.follow(callback.clone()).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    let mut replay = Browser::new();
    replay.set_cookie(&setup.base, "laer_sso_state", &state);
    refused_as_not_started(&replay.follow(callback).await);
    assert!(replay.cookie(&setup.base, "laer_session").is_none());
}

/// PKCE: the authorization request carries only an S256 challenge, and a code taken
/// from someone else's answer cannot be used in another sign-in, since the provider
/// checks it against that sign-in's verifier.
async fn pkce_binds_the_code_to_its_sign_in(store: &Store) {
    let Some(node_modules) = node_modules() else { return };
    let setup = serve(store, &node_modules, "normal", true).await;
    let start = format!("{}/auth/oidc/start", setup.base);
    let mut victim = Browser::new();
    let victims = victim.until_callback(&start, "alice").await;
    let authorize = victim
        .visited
        .iter()
        .find(|url| url.path() == "/auth" && param(url, "client_id").as_deref() == Some("laer"))
        .expect("the authorization request")
        .clone();
    assert_eq!(param(&authorize, "code_challenge_method").as_deref(), Some("S256"));
    let challenge = param(&authorize, "code_challenge").expect("a code challenge");
    assert_eq!(challenge.len(), 43, "a SHA-256, base64url: {challenge}");
    assert!(param(&authorize, "code_verifier").is_none());
    assert!(param(&authorize, "nonce").is_some_and(|n| n.len() >= 16));
    assert_eq!(
        param(&authorize, "redirect_uri"),
        Some(format!("{}{SSO_CALLBACK_PATH}", setup.base))
    );

    // An attacker who got hold of the victim's code puts it into a sign-in of their own
    // (their state, their cookie): the provider refuses it for the wrong verifier,
    // before any ID token (whose nonce would not match either) is seen.
    let mut attacker = Browser::new();
    let own = attacker.until_callback(&start, "nobody").await;
    let injected = with_param(&own, "code", &param(&victims, "code").unwrap());
    let landing = attacker.follow(injected).await;
    assert_eq!(landing.status, 401, "{}", landing.body);
    assert!(
        landing.body.contains("the provider refused the code"),
        "{}",
        landing.body
    );
    assert!(attacker.cookie(&setup.base, "laer_session").is_none());
    assert!(store.users().await.unwrap().is_empty(), "nobody was made");
}

/// A provider in `mode` issues an ID token laer must refuse, saying `why`.
async fn a_bad_id_token_is_refused(store: &Store, mode: &str, why: &str) {
    let Some(node_modules) = node_modules() else { return };
    let setup = serve(store, &node_modules, mode, true).await;
    let (browser, refused) = sign_in(&setup, "alice").await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains(why), "{}", refused.body);
    assert!(browser.cookie(&setup.base, "laer_session").is_none());
    assert!(store.users().await.unwrap().is_empty());
}

async fn a_token_for_another_client_is_refused(store: &Store) {
    a_bad_id_token_is_refused(store, "wrong-audience", "Invalid audiences").await;
}

async fn an_expired_token_is_refused(store: &Store) {
    a_bad_id_token_is_refused(store, "expired", "Expired").await;
}

async fn password_logins_can_be_switched_off(store: &Store) {
    let Some(node_modules) = node_modules() else { return };
    let setup = serve(store, &node_modules, "normal", false).await;
    let hash = laer_app::auth::hash_password("ada password").unwrap();
    store
        .upsert_user("ada@example.com", "Ada", Role::Admin, &hash, None)
        .await
        .unwrap();
    let client = crate::common::web::client();
    let response = client.get(format!("{}/login", setup.base)).send().await.unwrap();
    let (csrf, _) = crate::common::web::set_cookie(&response, "laer_login_csrf").unwrap();
    let page = response.text().await.unwrap();
    assert!(page.contains("Sign in with Test IdP"), "{page}");
    assert!(!page.contains("type=\"password\""), "no password form: {page}");
    let response = client
        .post(format!("{}/login", setup.base))
        .header(COOKIE, format!("laer_login_csrf={csrf}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "ada@example.com"),
            ("password", "ada password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(crate::common::web::set_cookie(&response, "laer_session").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Password logins are switched off")
    );

    // An invitation's link sets no password and logs nobody in: the invited person signs
    // in with the provider instead, and their verified email claims the invitation.
    let issued = invite_ivan(store, &setup).await;
    let response = client.get(&issued.url).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(page.contains("Sign in with Test IdP"), "{page}");
    assert!(!page.contains("type=\"password\""), "{page}");
    let response = client
        .post(&issued.url)
        .header(COOKIE, "laer_link_csrf=t")
        .form(&[
            ("csrf", "t"),
            ("name", "Ivan"),
            ("password", "a long password"),
            ("password_again", "a long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(crate::common::web::set_cookie(&response, "laer_session").is_none());
    let (_, landing) = sign_in(&setup, "ivan").await;
    assert_eq!(landing.status, 200, "{}", landing.body);
}

/// Each sign-in started is kept until it ends or expires, so one address can start only
/// so many: beyond, laer answers 429 with the wait and keeps nothing; the login page and
/// sign-ins from other addresses are unaffected.
async fn sign_ins_started_from_one_address_are_bounded(store: &Store) {
    let Some(node_modules) = node_modules() else { return };
    let setup = serve(store, &node_modules, "normal", true).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = format!("{}/auth/oidc/start", setup.base);
    let limit = laer_core::throttle::SSO_ADDRESS.max;
    for n in 1..=limit {
        let response = client.get(&start).send().await.unwrap();
        assert!(response.status().is_redirection(), "sign-in {n}: {}", response.status());
    }
    let refused = client.get(&start).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "600");
    assert!(refused.headers().get("location").is_none(), "nothing started");
    assert!(refused.text().await.unwrap().contains("try again in 10 minutes"));
    let login = client.get(format!("{}/login", setup.base)).send().await.unwrap();
    assert_eq!(login.status(), 200);
}

laer_store::backend_tests!(
    a_role_claim_signs_a_new_person_in,
    an_invitation_is_claimed_by_a_verified_email,
    a_deactivated_person_is_refused,
    a_forged_state_is_refused,
    pkce_binds_the_code_to_its_sign_in,
    a_token_for_another_client_is_refused,
    an_expired_token_is_refused,
    password_logins_can_be_switched_off,
    sign_ins_started_from_one_address_are_bounded,
);
