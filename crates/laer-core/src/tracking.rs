//! What a tracking call (the Segment-compatible API's `group` and `identify`) may change in
//! an account or a product user: by default only blanks and what tracking itself wrote,
//! never a value that came from an import, a connector or the app. A workspace setting
//! ([`TrackingUpdates`]) can let tracking update names and attributes too. Pure: the
//! store supplies each field's current value and what tracking last wrote there.

use std::fmt;

/// How far tracking calls may change records, a workspace setting (docs/ingest.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrackingUpdates {
    /// Fill in blanks (a missing name, an attribute not yet set) and change what tracking
    /// wrote before; never a value that came from elsewhere. The default: a write key is
    /// embedded in web pages, so anyone may send with it.
    #[default]
    FillBlanks,
    /// Tracking may update names and attributes whatever their source.
    Update,
}

impl TrackingUpdates {
    /// The name of the setting that keeps it (the `settings` table).
    pub const SETTING: &'static str = "tracking_updates";

    pub const ALL: [TrackingUpdates; 2] = [TrackingUpdates::FillBlanks, TrackingUpdates::Update];

    /// The setting's stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingUpdates::FillBlanks => "fill-blanks",
            TrackingUpdates::Update => "update",
        }
    }

    /// The setting as it reads on the admin page.
    pub fn label(self) -> &'static str {
        match self {
            TrackingUpdates::FillBlanks => "Only fill in blanks (the default)",
            TrackingUpdates::Update => "Update names and attributes, whatever their source",
        }
    }

    /// The setting from its stored text; `None` for any other text.
    pub fn parse(text: &str) -> Option<TrackingUpdates> {
        TrackingUpdates::ALL.into_iter().find(|u| u.as_str() == text.trim())
    }

    /// The new value of one field, when a tracking call's `incoming` value should replace
    /// `current`; `tracked` is the value tracking last wrote to the field, if it did.
    /// A blank (absent or empty) field is filled; an equal one is left; a value tracking
    /// wrote and nobody changed since is tracking's to change; anything else only under
    /// [`TrackingUpdates::Update`].
    pub fn merged<'a>(self, current: Option<&str>, tracked: Option<&str>, incoming: &'a str) -> Option<&'a str> {
        let current = current.filter(|c| !c.is_empty());
        match current {
            Some(c) if c == incoming => None,
            None => Some(incoming),
            Some(_) if self == TrackingUpdates::Update => Some(incoming),
            Some(c) if tracked == Some(c) => Some(incoming),
            Some(_) => None,
        }
    }
}

impl fmt::Display for TrackingUpdates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TrackingUpdates::{FillBlanks, Update};
    use super::*;

    #[test]
    fn blanks_are_filled_and_other_sources_kept() {
        // Blank: filled under either setting.
        assert_eq!(FillBlanks.merged(None, None, "Acme"), Some("Acme"));
        assert_eq!(FillBlanks.merged(Some(""), None, "Acme"), Some("Acme"));
        // The same value: nothing to do.
        assert_eq!(FillBlanks.merged(Some("Acme"), None, "Acme"), None);
        assert_eq!(Update.merged(Some("Acme"), None, "Acme"), None);
        // From an import (tracking never wrote it): kept, unless the setting widens it.
        assert_eq!(FillBlanks.merged(Some("Acme Corp"), None, "Hacked"), None);
        assert_eq!(Update.merged(Some("Acme Corp"), None, "Acme Inc"), Some("Acme Inc"));
        // Tracking's own value, unchanged since: tracking's to change.
        assert_eq!(
            FillBlanks.merged(Some("Acme"), Some("Acme"), "Acme Inc"),
            Some("Acme Inc")
        );
        // Tracking wrote it, then an import changed it: kept.
        assert_eq!(FillBlanks.merged(Some("Acme Corp"), Some("Acme"), "Acme Inc"), None);
    }

    #[test]
    fn the_setting_reads_back() {
        for u in TrackingUpdates::ALL {
            assert_eq!(TrackingUpdates::parse(u.as_str()), Some(u));
        }
        assert_eq!(TrackingUpdates::parse("anything"), None);
        assert_eq!(TrackingUpdates::default(), FillBlanks);
    }
}
