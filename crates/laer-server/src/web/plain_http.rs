//! What the login page says when it was reached over plain http at an address other than
//! this machine: browsers then drop laer's session cookie (it is `Secure`), so logging in
//! would fail without a word. The rule is `Site::plain_http_host`.

use maud::{Markup, html};

/// The explanation, naming the host the page was reached at.
pub(crate) fn notice(host: &str) -> Markup {
    html! {
        div.notice.plain-http role="alert" {
            p { strong { "Logging in needs https." } " This page came over plain http from " code { (host) } ", so your browser will not keep laer's login cookie (it is marked Secure) and you would be sent back here after logging in." }
            p { "To fix it, whoever runs laer can: serve https itself (" code { "laer serve --tls-cert FILE --tls-key FILE" } "); or put it behind a proxy that handles https and start it with " code { "--public-url https://…" } " and " code { "--trusted-proxy ADDRESS" } "; or, to try it out, open it as " code { "http://localhost" } " on the machine it runs on. See docs/operations.md." }
        }
    }
}
