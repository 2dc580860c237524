//! From signals to the right person's next action: the coverage model ([`coverage`]),
//! playbooks ([`playbook`]) and the facts both look at ([`facts`]). Pure decisions; the
//! store records them and the server runs them. Reference: docs/automation.md.

pub mod coverage;
pub mod facts;
pub mod playbook;
pub mod preview;
pub mod wording;

pub use coverage::{Books, CoverageChange, CoverageRules, Holder, Member};
pub use facts::{AccountFacts, Clause};
pub use playbook::{ChatDraft, ChatTemplate, EmailDraft, Firing, OpenRun, Playbooks, Recipient, RunChange, TaskDraft};
