//! Who may see and change what: the roles of people who log in, and what each role may
//! do. docs/access.md is the user-facing copy of this table; a test keeps them in step.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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

    /// Whether the role works on a book of accounts of its own, which the portfolio
    /// shows first.
    pub fn has_own_book(self) -> bool {
        matches!(self, Role::Csm | Role::Renewal | Role::Expansion | Role::Sales)
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
        "accounts" | "subscriptions" => Some(EditContracts),
        "team-members" => Some(ManageUsers),
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
}
