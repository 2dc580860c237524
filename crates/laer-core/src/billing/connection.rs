//! A billing connection's settings and the rule that links a billing customer to a laer
//! account (issue 17, items 1–2): by a metadata key whose value is the account's external
//! id, else by the rule the admin chose — make an account for the customer, or find the
//! one account whose domain is the customer's email domain. A customer no rule links is
//! left for an admin, with the reason. Pure; reference: docs/import.md, "Stripe".

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::objects::Customer;
use super::rules::MrrRules;

/// What links a customer whose metadata names no account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkRule {
    /// Nothing: the customer waits for an admin to link it by hand.
    #[default]
    Metadata,
    /// A new account, its external id the customer's id and its name the customer's.
    CreateAccount,
    /// The one account whose domain (its `domain` attribute, or its contacts' email
    /// domains) is the customer's email domain.
    EmailDomain,
}

impl LinkRule {
    pub const ALL: [LinkRule; 3] = [LinkRule::Metadata, LinkRule::CreateAccount, LinkRule::EmailDomain];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkRule::Metadata => "metadata",
            LinkRule::CreateAccount => "create_account",
            LinkRule::EmailDomain => "email_domain",
        }
    }

    pub fn parse(text: &str) -> Option<LinkRule> {
        LinkRule::ALL.into_iter().find(|r| r.as_str() == text.trim())
    }

    /// The rule in words, for the admin page.
    pub fn describe(self) -> &'static str {
        match self {
            LinkRule::Metadata => "leave it for an admin to link",
            LinkRule::CreateAccount => "make an account for it",
            LinkRule::EmailDomain => "link it to the account with its email domain",
        }
    }
}

/// How a billing connection links and counts; kept as JSON with the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionSettings {
    /// The customer metadata key whose value is the laer account's external id.
    pub metadata_key: String,
    /// The currency laer reports in (lower case, ISO 4217).
    pub currency: String,
    /// What links a customer the metadata does not.
    pub link_rule: LinkRule,
    pub rules: MrrRules,
    /// Minutes between reconciliations: a whole sync that catches what a webhook missed.
    pub reconcile_minutes: u32,
}

impl Default for ConnectionSettings {
    fn default() -> ConnectionSettings {
        ConnectionSettings {
            metadata_key: "laer_account".into(),
            currency: "usd".into(),
            link_rule: LinkRule::Metadata,
            rules: MrrRules::default(),
            reconcile_minutes: 60,
        }
    }
}

/// A setting that cannot be used, named by its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SettingsError {
    pub field: &'static str,
    pub problem: String,
}

impl ConnectionSettings {
    /// The settings as given, trimmed and in the case Stripe uses, or the first problem.
    pub fn checked(mut self) -> Result<ConnectionSettings, SettingsError> {
        self.metadata_key = self.metadata_key.trim().to_string();
        if self.metadata_key.is_empty() || self.metadata_key.len() > 40 {
            return Err(SettingsError {
                field: "metadata_key",
                problem: "expected a metadata key of 1 to 40 characters (Stripe's limit)".into(),
            });
        }
        self.currency = self.currency.trim().to_ascii_lowercase();
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(SettingsError {
                field: "currency",
                problem: format!(
                    "expected a three-letter currency code such as usd, found {:?}",
                    self.currency
                ),
            });
        }
        if !(5..=1440).contains(&self.reconcile_minutes) {
            return Err(SettingsError {
                field: "reconcile_minutes",
                problem: format!(
                    "expected 5 to 1440 minutes between reconciliations, found {}",
                    self.reconcile_minutes
                ),
            });
        }
        Ok(self)
    }
}

/// Email domains that many companies share: never a company's own.
pub const SHARED_MAIL_DOMAINS: &[&str] = &[
    "aol.com",
    "fastmail.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "googlemail.com",
    "hey.com",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "mac.com",
    "mail.com",
    "me.com",
    "msn.com",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "web.de",
    "yahoo.com",
    "yandex.ru",
    "zoho.com",
];

/// The domain of an email address, in lower case; `None` for text that is not one.
pub fn email_domain(email: &str) -> Option<String> {
    let (local, domain) = email.trim().rsplit_once('@')?;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let valid = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    valid.then_some(domain)
}

/// A domain as an account's `domain` attribute may give it: `acme.com`,
/// `https://www.acme.com/`, `@acme.com`.
pub fn normalise_domain(text: &str) -> Option<String> {
    let text = text.trim().to_ascii_lowercase();
    let text = text
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches('@');
    let host = text.split(['/', '?', '#']).next()?;
    let host = host.strip_prefix("www.").unwrap_or(host);
    email_domain(&format!("x@{host}"))
}

/// The accounts each domain belongs to.
#[derive(Debug, Clone, Default)]
pub struct DomainIndex {
    accounts: HashMap<String, BTreeSet<i64>>,
}

impl DomainIndex {
    /// From `(account, domain or email)` pairs; shared mail domains are left out.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (i64, &'a str)>) -> DomainIndex {
        let mut accounts: HashMap<String, BTreeSet<i64>> = HashMap::new();
        for (account, text) in pairs {
            let domain = if text.contains('@') {
                email_domain(text)
            } else {
                normalise_domain(text)
            };
            if let Some(domain) = domain.filter(|d| !SHARED_MAIL_DOMAINS.contains(&d.as_str())) {
                accounts.entry(domain).or_default().insert(account);
            }
        }
        DomainIndex { accounts }
    }

    /// The accounts with `domain` (none for a shared mail domain).
    pub fn accounts_with(&self, domain: &str) -> Option<&BTreeSet<i64>> {
        self.accounts.get(domain)
    }
}

/// What links a customer, or why nothing does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkDecision {
    Account(i64),
    /// Make an account for the customer (the rule [`LinkRule::CreateAccount`]).
    Create,
    Unmatched(Unmatched),
}

/// Why a customer is linked to no account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Unmatched {
    /// Its metadata key is not set (and the rule links nothing else).
    NoMetadata {
        key: String,
    },
    /// Its metadata names an external id no account has.
    UnknownAccount {
        key: String,
        value: String,
    },
    /// It has no email with a domain to match.
    NoEmailDomain,
    /// Its email domain is a shared mail domain.
    SharedMailDomain {
        domain: String,
    },
    NoAccountWithDomain {
        domain: String,
    },
    SeveralAccountsWithDomain {
        domain: String,
        accounts: usize,
    },
}

impl std::fmt::Display for Unmatched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unmatched::NoMetadata { key } => write!(f, "its metadata has no {key}"),
            Unmatched::UnknownAccount { key, value } => {
                write!(f, "its metadata {key} is {value:?}, which no account's external id is")
            }
            Unmatched::NoEmailDomain => f.write_str("it has no email address to match a domain"),
            Unmatched::SharedMailDomain { domain } => {
                write!(f, "its email domain {domain} is a shared mail service, not a company's")
            }
            Unmatched::NoAccountWithDomain { domain } => write!(f, "no account has the domain {domain}"),
            Unmatched::SeveralAccountsWithDomain { domain, accounts } => {
                write!(f, "{accounts} accounts have the domain {domain}")
            }
        }
    }
}

/// Links `customer`: its metadata first (the value an account's external id, in
/// `accounts`), then `rule`.
pub fn link_customer(
    customer: &Customer,
    settings: &ConnectionSettings,
    accounts: &HashMap<String, i64>,
    domains: &DomainIndex,
) -> LinkDecision {
    let key = &settings.metadata_key;
    let named = customer.metadata.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(&account) = named.and_then(|value| accounts.get(value)) {
        return LinkDecision::Account(account);
    }
    let by_metadata = || match named {
        Some(value) => Unmatched::UnknownAccount {
            key: key.clone(),
            value: value.to_string(),
        },
        None => Unmatched::NoMetadata { key: key.clone() },
    };
    match settings.link_rule {
        LinkRule::Metadata => LinkDecision::Unmatched(by_metadata()),
        LinkRule::CreateAccount => match accounts.get(&customer.id) {
            Some(&account) => LinkDecision::Account(account),
            None => LinkDecision::Create,
        },
        LinkRule::EmailDomain => {
            let Some(domain) = customer.email.as_deref().and_then(email_domain) else {
                return LinkDecision::Unmatched(Unmatched::NoEmailDomain);
            };
            if SHARED_MAIL_DOMAINS.contains(&domain.as_str()) {
                return LinkDecision::Unmatched(Unmatched::SharedMailDomain { domain });
            }
            match domains
                .accounts_with(&domain)
                .map(|found| (found.len(), found.first().copied()))
            {
                Some((1, Some(account))) => LinkDecision::Account(account),
                Some((accounts, _)) => {
                    LinkDecision::Unmatched(Unmatched::SeveralAccountsWithDomain { domain, accounts })
                }
                None => LinkDecision::Unmatched(Unmatched::NoAccountWithDomain { domain }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str, email: Option<&str>, account: Option<&str>) -> Customer {
        Customer {
            id: id.into(),
            email: email.map(String::from),
            name: None,
            metadata: account
                .map(|a| [("laer_account".to_string(), a.to_string())].into())
                .unwrap_or_default(),
            deleted: false,
        }
    }

    fn settings(rule: LinkRule) -> ConnectionSettings {
        ConnectionSettings {
            link_rule: rule,
            ..ConnectionSettings::default()
        }
    }

    #[test]
    fn metadata_links_first_whatever_the_rule() {
        let accounts: HashMap<String, i64> = [("acme".to_string(), 1), ("cus_2".to_string(), 2)].into();
        let domains = DomainIndex::new([(3, "acme.com")]);
        for rule in LinkRule::ALL {
            let c = customer("cus_1", Some("ap@acme.com"), Some(" acme "));
            assert_eq!(
                link_customer(&c, &settings(rule), &accounts, &domains),
                LinkDecision::Account(1)
            );
        }
        let unknown = customer("cus_1", None, Some("nope"));
        assert_eq!(
            link_customer(&unknown, &settings(LinkRule::Metadata), &accounts, &domains),
            LinkDecision::Unmatched(Unmatched::UnknownAccount {
                key: "laer_account".into(),
                value: "nope".into()
            })
        );
        // Made before by the rule: the account with the customer's id.
        assert_eq!(
            link_customer(
                &customer("cus_2", None, None),
                &settings(LinkRule::CreateAccount),
                &accounts,
                &domains
            ),
            LinkDecision::Account(2)
        );
        assert_eq!(
            link_customer(
                &customer("cus_9", None, None),
                &settings(LinkRule::CreateAccount),
                &accounts,
                &domains
            ),
            LinkDecision::Create
        );
    }

    #[test]
    fn the_email_domain_links_only_one_company_account() {
        let accounts = HashMap::new();
        let domains = DomainIndex::new([
            (1, "https://www.Acme.com/about"),
            (1, "jo@acme.com"),
            (2, "ops@birch.io"),
            (3, "birch.io"),
            (4, "someone@gmail.com"),
        ]);
        let rule = settings(LinkRule::EmailDomain);
        let link = |email: Option<&str>| link_customer(&customer("cus", email, None), &rule, &accounts, &domains);
        assert_eq!(link(Some("AP@ACME.COM")), LinkDecision::Account(1));
        assert_eq!(
            link(Some("a@birch.io")),
            LinkDecision::Unmatched(Unmatched::SeveralAccountsWithDomain {
                domain: "birch.io".into(),
                accounts: 2
            })
        );
        assert_eq!(
            link(Some("me@gmail.com")),
            LinkDecision::Unmatched(Unmatched::SharedMailDomain {
                domain: "gmail.com".into()
            })
        );
        assert_eq!(
            link(Some("x@cedar.dev")),
            LinkDecision::Unmatched(Unmatched::NoAccountWithDomain {
                domain: "cedar.dev".into()
            })
        );
        assert_eq!(
            link(Some("not an email")),
            LinkDecision::Unmatched(Unmatched::NoEmailDomain)
        );
        assert_eq!(link(None), LinkDecision::Unmatched(Unmatched::NoEmailDomain));
    }

    #[test]
    fn settings_are_checked_at_their_field() {
        let ok = ConnectionSettings {
            currency: " EUR ".into(),
            ..ConnectionSettings::default()
        }
        .checked()
        .unwrap();
        assert_eq!(ok.currency, "eur");
        let err = ConnectionSettings {
            currency: "euro".into(),
            ..ConnectionSettings::default()
        }
        .checked()
        .unwrap_err();
        assert_eq!(err.field, "currency");
        let err = ConnectionSettings {
            metadata_key: "  ".into(),
            ..ConnectionSettings::default()
        }
        .checked()
        .unwrap_err();
        assert_eq!(err.field, "metadata_key");
        let err = ConnectionSettings {
            reconcile_minutes: 1,
            ..ConnectionSettings::default()
        }
        .checked()
        .unwrap_err();
        assert_eq!(err.field, "reconcile_minutes");
        // Kept as JSON; a file from before a new field still reads.
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(serde_json::from_str::<ConnectionSettings>(&json).unwrap(), ok);
        assert_eq!(
            serde_json::from_str::<ConnectionSettings>(r#"{"currency":"gbp"}"#)
                .unwrap()
                .metadata_key,
            "laer_account"
        );
    }

    #[test]
    fn domains_are_read_leniently_and_emails_strictly() {
        assert_eq!(normalise_domain("@Acme.com"), Some("acme.com".into()));
        assert_eq!(normalise_domain("http://www.acme.co.uk?x"), Some("acme.co.uk".into()));
        assert_eq!(normalise_domain("localhost"), None);
        assert_eq!(email_domain("a@b"), None);
        assert_eq!(email_domain("@acme.com"), None);
        assert_eq!(email_domain("a@acme.com."), Some("acme.com".into()));
    }
}
