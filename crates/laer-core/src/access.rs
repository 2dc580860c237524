//! Who may see and change what: the roles of people who log in, and what each role may
//! do. docs/access.md is the user-facing copy of this table; a test keeps them in step.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::lifecycle::Phase;
use crate::model::text_enum;

text_enum!(
    /// The role of a person who logs in (or of an API token).
    Role {
        Admin = "admin",
        Leader = "leader",
        Csm = "csm",
        Renewal = "renewal",
        Expansion = "expansion",
        Sales = "sales",
        Viewer = "viewer",
    }
);

text_enum!(
    /// Something a role may or may not do: see the portfolio and every account's 360 view
    /// (`view_accounts`), contracts renewing soon (`view_renewals`), company revenue
    /// (`view_revenue`); read through `/api/v1` (`use_api`); set an account's LAER phase
    /// by hand (`set_phase`); edit accounts' success plans and share them with the
    /// customer (`manage_plans`); record the team's work with customers — touchpoints,
    /// contacts and cadences, outcomes and measurements, cases and survey answers by hand
    /// (`record_work`); create accounts and change their contract lines (`edit_contracts`);
    /// upload CSV files of any import kind (`import_data`); read the audit log
    /// (`view_audit`); add people and change roles (`manage_users`); manage write keys
    /// and API tokens (`manage_keys`).
    Permission {
        ViewAccounts = "view_accounts",
        ViewRenewals = "view_renewals",
        ViewRevenue = "view_revenue",
        UseApi = "use_api",
        SetPhase = "set_phase",
        WorkTasks = "work_tasks",
        ManagePlans = "manage_plans",
        RecordWork = "record_work",
        EditContracts = "edit_contracts",
        ImportData = "import_data",
        ViewAudit = "view_audit",
        ManageAutomation = "manage_automation",
        ManageUsers = "manage_users",
        ManageKeys = "manage_keys",
    }
);

impl Role {
    /// Whether the role has the permission. Only admins manage people and keys; viewers
    /// see accounts and renewals but not company revenue.
    pub fn can(self, permission: Permission) -> bool {
        use Permission::*;
        match permission {
            ViewAccounts | ViewRenewals | UseApi => true,
            ViewRevenue => self != Role::Viewer,
            // Those who own an account's motion: its CSM, the leaders, the admins.
            SetPhase | ManagePlans => matches!(self, Role::Admin | Role::Leader | Role::Csm),
            WorkTasks | RecordWork => self != Role::Viewer,
            // Contracts are the commercial roles' records; revenue follows from them.
            EditContracts => matches!(
                self,
                Role::Admin | Role::Leader | Role::Sales | Role::Renewal | Role::Expansion
            ),
            ImportData => self == Role::Admin,
            ViewAudit => matches!(self, Role::Admin | Role::Leader),
            // Who covers which account and what fires when: the leaders' call.
            ManageAutomation => matches!(self, Role::Admin | Role::Leader),
            ManageUsers | ManageKeys => self == Role::Admin,
        }
    }

    /// The role's permissions, in the order of [`Permission::ALL`].
    pub fn permissions(self) -> Vec<Permission> {
        Permission::ALL.iter().copied().filter(|p| self.can(*p)).collect()
    }

    /// The role as people read it, in the words the coverage model uses for the same
    /// people ([`crate::automation::coverage::role_label`]): one name per role everywhere.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Leader => "CS leader",
            Role::Csm => "CSM",
            Role::Renewal => "Renewal specialist",
            Role::Expansion => "Expansion specialist",
            Role::Sales => "Account executive",
            Role::Viewer => "Viewer",
        }
    }

    /// Whether the role works on a book of accounts of its own, which the portfolio
    /// shows first.
    pub fn has_own_book(self) -> bool {
        matches!(self, Role::Csm | Role::Renewal | Role::Expansion | Role::Sales)
    }

    /// Whether the role may use `permission` on one account, where the person stands as
    /// `standing` (`None`: not known, or no account in question). Rights by phase: a
    /// role with a book of its own that lacks a permission of the phase's work
    /// ([`Permission::is_phase_work`]) has it on an account while the person covers the
    /// account in its current phase ([`Standing::leads_phase`]) — the account executive
    /// in Land writes the plan and shares it. Otherwise the role's table decides. A
    /// refusal names the permission and why.
    pub fn may(self, permission: Permission, standing: Option<Standing>) -> Result<(), Refusal> {
        if self.can(permission) {
            return Ok(());
        }
        let by_phase = permission.is_phase_work() && self.has_own_book();
        match standing {
            Some(s) if by_phase && s.leads_phase && s.phase != Phase::Churned => Ok(()),
            _ => Err(Refusal {
                permission,
                role: self,
                phase: by_phase.then(|| standing.map(|s| s.phase)).flatten(),
                by_phase,
            }),
        }
    }
}

impl Permission {
    /// What the permission lets a person do, as a refusal says it ("edit a success
    /// plan and share it").
    pub fn what(self) -> &'static str {
        use Permission::*;
        match self {
            ViewAccounts => "see the accounts",
            ViewRenewals => "see the renewals",
            ViewRevenue => "see the company's revenue",
            UseApi => "use the API",
            SetPhase => "set an account's phase by hand",
            WorkTasks => "work on tasks",
            ManagePlans => "edit a success plan and share it",
            RecordWork => "record work with customers",
            EditContracts => "create accounts and change their contract lines",
            ImportData => "import data",
            ViewAudit => "read the audit log",
            ManageAutomation => "change the coverage rules, playbooks and owners",
            ManageUsers => "manage people",
            ManageKeys => "manage write keys and API tokens",
        }
    }

    /// Whether the permission is part of the work of an account's current phase, which
    /// the person who covers the account in that phase may do whatever their role:
    /// writing the success plan (objective, outcomes, milestones) and sharing it.
    pub fn is_phase_work(self) -> bool {
        self == Permission::ManagePlans
    }
}

/// Where a person stands with one account: its current LAER phase, and whether they
/// cover it in the role that leads that phase by the coverage model (the account
/// executive in Land, the CSM in Adopt, ...: `AccountSnapshot::phase_owner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub phase: Phase,
    pub leads_phase: bool,
}

/// Why a person may not do something: the permission, their role, and, for the
/// phase's work, the phase they would have to cover the account in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub permission: Permission,
    pub role: Role,
    /// The account's current phase, when covering it in that phase would give the right.
    pub phase: Option<Phase>,
    /// Whether covering the account in its current phase would give the right.
    pub by_phase: bool,
}

impl fmt::Display for Refusal {
    /// "manage_plans: your role (sales) may edit a success plan and share it only while
    /// you cover the account in its current phase (land)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (permission, role, what) = (self.permission, self.role, self.permission.what());
        match (self.by_phase, self.phase) {
            (true, Some(Phase::Churned)) => write!(
                f,
                "{permission}: your role ({role}) may {what} only while you cover the account in its current phase, and a churned account has none"
            ),
            (true, Some(phase)) => write!(
                f,
                "{permission}: your role ({role}) may {what} only while you cover the account in its current phase ({})",
                phase.label()
            ),
            (true, None) => write!(
                f,
                "{permission}: your role ({role}) may {what} only on an account you cover in its current phase"
            ),
            (false, _) => write!(
                f,
                "{permission}: your role ({role}) may not {what}; an administrator can change your role"
            ),
        }
    }
}

// Issue 14, touchpoints: who may change a record someone logged.
impl Role {
    /// Whether a person of this role, user `user_id`, may edit or delete a record of the
    /// team's work that user `created_by` logged (a touchpoint): their own, with
    /// `record_work`; an admin any, imported ones (no author) too.
    pub fn may_change_logged(self, user_id: i64, created_by: Option<i64>) -> bool {
        self == Role::Admin || (self.can(Permission::RecordWork) && created_by == Some(user_id))
    }
}

/// The fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The most characters a password may have (hashing a longer one is work for nothing).
pub const MAX_PASSWORD_CHARS: usize = 1_000;

/// Whether a password may be set: at least [`MIN_PASSWORD_CHARS`] characters, at most
/// [`MAX_PASSWORD_CHARS`]; else why not.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ))
    } else if n > MAX_PASSWORD_CHARS {
        Err(format!(
            "the password must have at most {MAX_PASSWORD_CHARS} characters"
        ))
    } else {
        Ok(())
    }
}

/// A login's email address as stored: trimmed and in lower case; one `@` with text on
/// both sides, no spaces, at most 254 characters.
pub fn login_email(text: &str) -> Result<String, String> {
    let email = text.trim().to_lowercase();
    crate::parse::bounded(&email, 254)?;
    let valid = !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    match () {
        _ if valid => Ok(email),
        _ if email.is_empty() => Err("an email address is needed".into()),
        _ => Err(format!("{email:?} is not an email address")),
    }
}

/// The permission a REST API write of an import kind needs (`POST /api/v1/records/{kind}`
/// and its single-record routes), by the kind's name; `None` for a kind the API does not
/// write: usage events and their types come through the tracking API. docs/api.md lists
/// the same table.
pub fn record_write_permission(kind: &str) -> Option<Permission> {
    use Permission::*;
    match kind {
        "contacts"
        | "product-users"
        | "support-cases"
        | "meetings"
        | "meeting-cadences"
        | "survey-responses"
        | "outcomes"
        | "outcome-measurements" => Some(RecordWork),
        "tasks" => Some(WorkTasks),
        "accounts" | "subscriptions" | "exchange-rates" => Some(EditContracts),
        "team-members" => Some(ManageUsers),
        "owners" => Some(ManageAutomation),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_people_and_keys() {
        for role in Role::ALL {
            assert_eq!(role.can(Permission::ManageUsers), *role == Role::Admin, "{role}");
            assert_eq!(role.can(Permission::ManageKeys), *role == Role::Admin, "{role}");
            assert!(role.can(Permission::ViewAccounts), "{role}");
        }
        assert!(!Role::Viewer.can(Permission::ViewRevenue));
        assert!(Role::Csm.may_change_logged(4, Some(4)));
        assert!(!Role::Csm.may_change_logged(4, Some(5)) && !Role::Csm.may_change_logged(4, None));
        assert!(!Role::Viewer.may_change_logged(4, Some(4)));
        assert!(Role::Admin.may_change_logged(4, None) && Role::Admin.may_change_logged(4, Some(5)));
        assert!(Role::Leader.can(Permission::ViewRevenue));
    }

    #[test]
    fn the_user_docs_list_every_role_with_its_permissions() {
        let docs = include_str!("../../../docs/access.md");
        for role in Role::ALL {
            let row = format!("| {} |", role.as_str());
            let line = docs
                .lines()
                .find(|l| l.starts_with(&row))
                .unwrap_or_else(|| panic!("docs/access.md has no row for {role}"));
            let cells: Vec<&str> = line.split('|').map(str::trim).skip(2).collect();
            for (permission, cell) in Permission::ALL.iter().zip(&cells) {
                let documented = *cell == "yes";
                assert_eq!(
                    documented,
                    role.can(*permission),
                    "{role} / {permission} in docs/access.md"
                );
            }
        }
    }

    #[test]
    fn the_person_covering_the_current_phase_does_its_work() {
        let land = |leads_phase| {
            Some(Standing {
                phase: Phase::Land,
                leads_phase,
            })
        };
        assert_eq!(Role::Sales.may(Permission::ManagePlans, land(true)), Ok(()));
        let refused = Role::Sales.may(Permission::ManagePlans, land(false)).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "manage_plans: your role (sales) may edit a success plan and share it only while you cover the account in its current phase (Land)"
        );
        assert!(
            Role::Sales.may(Permission::ManagePlans, None).is_err(),
            "no account, no phase"
        );
        assert_eq!(
            Role::Csm.may(Permission::ManagePlans, land(false)),
            Ok(()),
            "the role has it"
        );
        let viewer = Role::Viewer.may(Permission::ManagePlans, land(true)).unwrap_err();
        assert!(!viewer.by_phase);
        assert!(
            viewer
                .to_string()
                .starts_with("manage_plans: your role (viewer) may not edit"),
            "{viewer}"
        );
        let churned = Some(Standing {
            phase: Phase::Churned,
            leads_phase: true,
        });
        assert!(Role::Renewal.may(Permission::ManagePlans, churned).is_err());
        // Only the phase's work comes with covering the phase.
        assert!(Role::Sales.may(Permission::SetPhase, land(true)).is_err());
        assert!(Role::Csm.may(Permission::EditContracts, land(true)).is_err());
    }

    #[test]
    fn api_writes_need_the_permission_of_the_records_they_write() {
        assert_eq!(record_write_permission("meetings"), Some(Permission::RecordWork));
        assert_eq!(record_write_permission("accounts"), Some(Permission::EditContracts));
        assert_eq!(record_write_permission("team-members"), Some(Permission::ManageUsers));
        assert_eq!(record_write_permission("events"), None);
        assert!(!Role::Viewer.can(Permission::RecordWork));
    }

    #[test]
    fn roles_read_back() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn passwords_and_emails_are_checked() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        assert_eq!(login_email(" Kim@Example.com "), Ok("kim@example.com".to_string()));
        for bad in ["", "kim", "@example.com", "kim@", "kim lee@example.com", "a@b@c"] {
            assert!(login_email(bad).is_err(), "{bad:?}");
        }
    }
}
