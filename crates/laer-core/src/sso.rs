//! Single sign-on's rules (OpenID Connect, docs/access.md "Single sign-on"): which
//! laer role a provider's claim gives, and whether a person signing in with a provider's
//! identity is let in, and as whom. Pure: the store reads what laer knows of the person
//! and applies the decision in one transaction.

use crate::access::Role;

/// How the values of the role claim map to laer's roles: `value=role` pairs in the order
/// configured, the first that matches a value wins (list the most powerful first). With
/// no pairs, a value that is a role's name (`admin`, `csm`, ...) is that role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMapping {
    pairs: Vec<(String, Role)>,
}

impl RoleMapping {
    /// Reads `value=role` pairs, e.g. `laer-admins=admin`; the error names the pair.
    pub fn parse<S: AsRef<str>>(pairs: &[S]) -> Result<RoleMapping, String> {
        let pairs = pairs
            .iter()
            .map(|pair| {
                let pair = pair.as_ref();
                let (value, role) = pair
                    .rsplit_once('=')
                    .ok_or_else(|| format!("{pair:?} is not VALUE=ROLE, e.g. laer-admins=admin"))?;
                let role = role.trim().parse::<Role>().map_err(|_| {
                    format!(
                        "{pair:?}: {role:?} is not a role (one of {})",
                        Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })?;
                let value = value.trim();
                if value.is_empty() {
                    return Err(format!("{pair:?} has no claim value before the ="));
                }
                Ok((value.to_string(), role))
            })
            .collect::<Result<_, String>>()?;
        Ok(RoleMapping { pairs })
    }

    /// The role the claim's values give, if any.
    pub fn role<S: AsRef<str>>(&self, values: &[S]) -> Option<Role> {
        if self.pairs.is_empty() {
            return values
                .iter()
                .find_map(|v| v.as_ref().trim().to_lowercase().parse().ok());
        }
        self.pairs
            .iter()
            .find(|(wanted, _)| values.iter().any(|v| v.as_ref() == wanted))
            .map(|(_, role)| *role)
    }
}

/// A person laer knows, as the sign-in sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownPerson {
    pub user_id: i64,
    pub role: Role,
    pub disabled: bool,
}

/// What laer knows of someone signing in: the person their identity (issuer, subject)
/// is linked to, and — only when the provider vouches for their email — the person with
/// that email (invited, or with a password login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInFacts {
    pub linked: Option<KnownPerson>,
    /// Whether the provider gave an email it has verified.
    pub verified_email: bool,
    pub by_email: Option<KnownPerson>,
    /// The role the provider's claim gives, if any.
    pub claimed_role: Option<Role>,
}

/// Whether and as whom someone signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// A person laer knows; `link`: their identity is linked to them now (the first
    /// sign-in, by verified email, which claims an invitation); `role`: their role
    /// changes to the claim's.
    Known {
        user_id: i64,
        link: bool,
        role: Option<Role>,
    },
    /// A new person with the claim's role, linked to the identity.
    New {
        role: Role,
    },
    Refused(SignInRefusal),
}

/// Why someone is not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// The person is deactivated in laer.
    Deactivated,
    /// No role claim, no invitation, no login with this email.
    NotInvited,
    /// The provider gave no verified email, so an invitation or a login cannot be told
    /// apart from someone using the same address elsewhere.
    UnverifiedEmail,
}

impl SignInRefusal {
    /// What the person is told.
    pub fn message(self) -> &'static str {
        match self {
            SignInRefusal::Deactivated => "Your laer login is deactivated. Ask an admin of laer to reactivate it.",
            SignInRefusal::NotInvited => {
                "You have no role in laer yet: ask an admin of laer to invite your email address, or your identity provider's admin to give you a laer role."
            }
            SignInRefusal::UnverifiedEmail => {
                "Your identity provider did not confirm that your email address is verified, so laer cannot match it to an invitation. Ask an admin of laer to give you a role at the identity provider, or verify your email address there."
            }
        }
    }

    /// A short name for logs and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInRefusal::Deactivated => "deactivated",
            SignInRefusal::NotInvited => "not_invited",
            SignInRefusal::UnverifiedEmail => "unverified_email",
        }
    }
}

/// Decides a sign-in. A linked identity signs in as its person; the first time, a
/// verified email finds the person invited or with a login; else a role claim makes a
/// new person. A deactivated person is refused whatever the claim says; a role claim
/// replaces the person's role.
pub fn decide(facts: SignInFacts) -> SignIn {
    let changed = |person: KnownPerson| facts.claimed_role.filter(|role| *role != person.role);
    let found = match (facts.linked, facts.by_email.filter(|_| facts.verified_email)) {
        (Some(person), _) => Some((person, false)),
        (None, Some(person)) => Some((person, true)),
        (None, None) => None,
    };
    match found {
        Some((person, _)) if person.disabled => SignIn::Refused(SignInRefusal::Deactivated),
        Some((person, link)) => SignIn::Known {
            user_id: person.user_id,
            link,
            role: changed(person),
        },
        None if !facts.verified_email => SignIn::Refused(SignInRefusal::UnverifiedEmail),
        None => match facts.claimed_role {
            Some(role) => SignIn::New { role },
            None => SignIn::Refused(SignInRefusal::NotInvited),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(user_id: i64, role: Role, disabled: bool) -> Option<KnownPerson> {
        Some(KnownPerson {
            user_id,
            role,
            disabled,
        })
    }

    fn facts(
        linked: Option<KnownPerson>,
        verified: bool,
        by_email: Option<KnownPerson>,
        claim: Option<Role>,
    ) -> SignInFacts {
        SignInFacts {
            linked,
            verified_email: verified,
            by_email,
            claimed_role: claim,
        }
    }

    #[test]
    fn role_values_map_in_the_configured_order() {
        let mapping = RoleMapping::parse(&["laer-admins=admin", "cs=csm"]).unwrap();
        assert_eq!(mapping.role(&["cs", "laer-admins"]), Some(Role::Admin));
        assert_eq!(mapping.role(&["cs"]), Some(Role::Csm));
        assert_eq!(mapping.role(&["admin"]), None, "with pairs, only their values count");
        assert_eq!(mapping.role::<&str>(&[]), None);
        let plain = RoleMapping::default();
        assert_eq!(plain.role(&["Leader"]), Some(Role::Leader));
        assert_eq!(plain.role(&["staff", "viewer"]), Some(Role::Viewer));
        assert_eq!(plain.role(&["staff"]), None);
        assert!(RoleMapping::parse(&["cs"]).unwrap_err().contains("VALUE=ROLE"));
        assert!(RoleMapping::parse(&["cs=boss"]).unwrap_err().contains("not a role"));
        assert!(RoleMapping::parse(&["=csm"]).is_err());
    }

    #[test]
    fn a_linked_identity_signs_in_and_the_claim_sets_the_role() {
        let linked = person(1, Role::Viewer, false);
        assert_eq!(
            decide(facts(linked, false, None, None)),
            SignIn::Known {
                user_id: 1,
                link: false,
                role: None
            }
        );
        assert_eq!(
            decide(facts(linked, true, person(2, Role::Csm, false), Some(Role::Csm))),
            SignIn::Known {
                user_id: 1,
                link: false,
                role: Some(Role::Csm)
            }
        );
        assert_eq!(
            decide(facts(linked, true, None, Some(Role::Viewer))),
            SignIn::Known {
                user_id: 1,
                link: false,
                role: None
            }
        );
    }

    #[test]
    fn a_verified_email_claims_an_invitation_the_first_time() {
        let invited = person(7, Role::Renewal, false);
        assert_eq!(
            decide(facts(None, true, invited, None)),
            SignIn::Known {
                user_id: 7,
                link: true,
                role: None
            }
        );
        assert_eq!(
            decide(facts(None, false, invited, None)),
            SignIn::Refused(SignInRefusal::UnverifiedEmail)
        );
        assert_eq!(
            decide(facts(None, false, None, Some(Role::Csm))),
            SignIn::Refused(SignInRefusal::UnverifiedEmail)
        );
    }

    #[test]
    fn strangers_need_a_role_claim_and_the_deactivated_stay_out() {
        assert_eq!(
            decide(facts(None, true, None, Some(Role::Csm))),
            SignIn::New { role: Role::Csm }
        );
        assert_eq!(
            decide(facts(None, true, None, None)),
            SignIn::Refused(SignInRefusal::NotInvited)
        );
        assert_eq!(
            decide(facts(person(1, Role::Csm, true), true, None, Some(Role::Admin))),
            SignIn::Refused(SignInRefusal::Deactivated)
        );
        assert_eq!(
            decide(facts(None, true, person(2, Role::Csm, true), Some(Role::Csm))),
            SignIn::Refused(SignInRefusal::Deactivated)
        );
    }
}
