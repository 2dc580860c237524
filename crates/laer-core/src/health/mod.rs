//! Account health: signals as of any day ([`inputs`]), the model that scores them
//! ([`model`], [`score`](mod@score)) and places the account in its LAER phase (by the model's
//! [`crate::lifecycle`] rules), and what happened next ([`outcome`]), for validation.
//! Definitions: docs/health.md and docs/metrics.md.

pub mod assess;
pub mod fit;
pub mod inputs;
pub mod model;
pub mod outcome;
pub mod recent;
pub mod score;
pub mod validation;
pub mod words;

pub use assess::{AccountRecords, Assessment, UsageOn, Workspace, assess, assess_each, changes_since};
pub use inputs::{AccountInputs, Line, Relationship, Signals, WindowUse, Windows, experience_from, signals};
pub use model::{HealthModel, Pillar, Scope};
pub use outcome::Outcome;
pub use recent::RecentDays;
pub use score::{Health, Quadrant, score, score_in};
