//! What a person enters by hand about a customer — a contact, an outcome, a measurement of
//! it — checked field by field: every problem names its field and says what was expected,
//! all of them at once, so that a form can show each at its field. Free text is bounded
//! ([`crate::parse::bounded`]); nothing is cut.

use chrono::NaiveDate;

use crate::model::{Direction, NewContact, NewOutcome, NewOutcomeMeasurement};
use crate::parse::{self, MAX_LINE_CHARS, MAX_TEXT_CHARS};

/// What is wrong with one field as entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub message: String,
}

/// The roles the forms offer for a contact (imports may bring others; they are kept).
pub const CONTACT_ROLES: &[&str] = &["executive_sponsor", "decision_maker", "champion", "influencer", "user"];

/// The stakeholder teams the forms suggest (any other label may be typed).
pub const STAKEHOLDER_TEAMS: &[&str] = &["executive", "application", "network", "security", "operations"];

/// The longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The longest telephone number, extension included.
pub const MAX_PHONE_CHARS: usize = 40;
/// The longest unit of an outcome ("%", "days", "offices").
pub const MAX_UNIT_CHARS: usize = 40;

/// Collects the problems of one record.
#[derive(Default)]
struct Check(Vec<FieldProblem>);

impl Check {
    fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push(FieldProblem {
            field,
            message: message.into(),
        });
    }

    fn ok<T>(&mut self, field: &'static str, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|m| self.add(field, m)).ok()
    }

    /// Optional one-line text: trimmed, `None` when empty, refused when longer than `max`.
    fn line(&mut self, field: &'static str, text: &str, max: usize) -> Option<String> {
        let text = text.trim();
        self.ok(field, parse::bounded(text, max))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }

    fn done<T>(self, value: T) -> Result<T, Vec<FieldProblem>> {
        if self.0.is_empty() { Ok(value) } else { Err(self.0) }
    }
}

/// An email address as laer accepts it: one `@` with something before it and a domain
/// with a dot after it, no spaces; `None` for an empty field.
pub fn email(text: &str) -> Result<Option<String>, String> {
    let text = parse::bounded(text.trim(), MAX_EMAIL_CHARS)?;
    if text.is_empty() {
        return Ok(None);
    }
    let well_formed = match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if well_formed {
        Ok(Some(text.to_string()))
    } else {
        Err(format!(
            "expected an email address such as ada@example.com, found {text:?}"
        ))
    }
}

/// A telephone number as written: digits with spaces, `+ - ( ) . /` and an extension
/// (`ext`, `x`); `None` for an empty field.
pub fn phone(text: &str) -> Result<Option<String>, String> {
    let text = parse::bounded(text.trim(), MAX_PHONE_CHARS)?;
    if text.is_empty() {
        return Ok(None);
    }
    let allowed = |c: char| c.is_ascii_digit() || " +-()./#".contains(c) || "extEXT".contains(c);
    if text.chars().all(allowed) && text.chars().filter(char::is_ascii_digit).count() >= 3 {
        Ok(Some(text.to_string()))
    } else {
        Err(format!(
            "expected a telephone number such as +44 20 7946 0000, found {text:?}"
        ))
    }
}

/// A contact as typed into a form.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContactInput<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub phone: &'a str,
    pub title: &'a str,
    pub stakeholder_team: &'a str,
    pub role: &'a str,
}

impl ContactInput<'_> {
    /// The contact of account `account_id` with id `external_id`, or every problem: a
    /// name is required; team and role are stored as labels (`Executive Sponsor` is
    /// `executive_sponsor`).
    pub fn check(&self, account_id: i64, external_id: &str) -> Result<NewContact, Vec<FieldProblem>> {
        let mut c = Check::default();
        let name = c.line("name", self.name, MAX_LINE_CHARS);
        if name.is_none() && !c.0.iter().any(|p| p.field == "name") {
            c.add("name", "expected the person's name, found nothing");
        }
        let email = c.ok("email", email(self.email)).flatten();
        let phone = c.ok("phone", phone(self.phone)).flatten();
        let title = c.line("title", self.title, MAX_LINE_CHARS);
        let label = |c: &mut Check, field, text: &str| {
            c.line(field, text, MAX_LINE_CHARS)
                .map(|t| parse::label(&t))
                .filter(|t| !t.is_empty())
        };
        let stakeholder_team = label(&mut c, "stakeholder_team", self.stakeholder_team);
        let role = label(&mut c, "role", self.role);
        c.done(NewContact {
            external_id: external_id.to_string(),
            account_id,
            name,
            email,
            phone,
            title,
            stakeholder_team,
            role,
        })
    }
}

/// Whether a target fits the direction: above (or at) the baseline when higher is
/// better, below (or at) it when lower is. At the baseline, the outcome is to keep it.
pub fn direction_fits(baseline: f64, target: f64, direction: Direction) -> Result<(), String> {
    match direction {
        Direction::Higher if target < baseline => Err(format!(
            "higher is better, so the target is expected at or above the baseline {baseline}, found {target}; \
             or choose lower is better"
        )),
        Direction::Lower if target > baseline => Err(format!(
            "lower is better, so the target is expected at or below the baseline {baseline}, found {target}; \
             or choose higher is better"
        )),
        _ => Ok(()),
    }
}

/// An outcome as typed into a form. An empty direction is what baseline and target
/// imply ([`Direction::implied`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct OutcomeInput<'a> {
    pub name: &'a str,
    pub unit: &'a str,
    pub baseline: &'a str,
    pub target: &'a str,
    pub start_date: &'a str,
    pub target_date: &'a str,
    pub direction: &'a str,
}

impl OutcomeInput<'_> {
    /// The outcome of account `account_id` with id `external_id`, or every problem.
    pub fn check(&self, account_id: i64, external_id: &str) -> Result<NewOutcome, Vec<FieldProblem>> {
        let mut c = Check::default();
        let name = c.line("name", self.name, MAX_LINE_CHARS);
        if name.is_none() && !c.0.iter().any(|p| p.field == "name") {
            c.add("name", "expected what the customer wants to reach, found nothing");
        }
        let unit = c.line("unit", self.unit, MAX_UNIT_CHARS);
        let baseline = c.ok("baseline", parse::float(self.baseline));
        let target = c.ok("target", parse::float(self.target));
        let date = |c: &mut Check, field, text: &str| match text.trim() {
            "" => None,
            t => c.ok(field, parse::date(t)),
        };
        let start_date = date(&mut c, "start_date", self.start_date);
        let target_date = date(&mut c, "target_date", self.target_date);
        if let (Some(start), Some(by)) = (start_date, target_date)
            && by < start
        {
            c.add(
                "target_date",
                format!("expected a day after the start {start}, found {by}"),
            );
        }
        let direction = match self.direction.trim() {
            "" => None,
            d => c.ok("direction", d.parse::<Direction>()),
        };
        let (Some(baseline), Some(target)) = (baseline, target) else {
            return Err(c.0);
        };
        let direction = direction.unwrap_or(Direction::implied(baseline, target));
        if let Err(m) = direction_fits(baseline, target, direction) {
            c.add("target", m);
        }
        c.done(NewOutcome {
            external_id: external_id.to_string(),
            account_id,
            name: name.unwrap_or_default(),
            unit,
            baseline,
            target,
            start_date,
            target_date,
            direction,
        })
    }
}

/// A measurement as typed into a form.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeasurementInput<'a> {
    pub measured_on: &'a str,
    pub value: &'a str,
    pub source: &'a str,
    pub note: &'a str,
}

impl MeasurementInput<'_> {
    /// The measurement of outcome `outcome_id` recorded by `recorded_by`, or every
    /// problem: a value, and a day that is not after `today`.
    pub fn check(
        &self,
        outcome_id: i64,
        recorded_by: &str,
        today: NaiveDate,
    ) -> Result<NewOutcomeMeasurement, Vec<FieldProblem>> {
        let mut c = Check::default();
        let measured_on = match self.measured_on.trim() {
            "" => Some(today),
            t => c.ok("measured_on", parse::date(t)),
        };
        if let Some(day) = measured_on.filter(|d| *d > today) {
            c.add(
                "measured_on",
                format!("expected a day that has come, today ({today}) or before, found {day}"),
            );
        }
        let value = c.ok("value", parse::float(self.value));
        let source = c.line("source", self.source, MAX_LINE_CHARS);
        let note = c.line("note", self.note, MAX_TEXT_CHARS);
        let (Some(measured_on), Some(value)) = (measured_on, value) else {
            return Err(c.0);
        };
        c.done(NewOutcomeMeasurement {
            outcome_id,
            measured_on,
            value,
            source,
            note,
            recorded_by: Some(recorded_by.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(problems: &[FieldProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.field).collect()
    }

    #[test]
    fn a_contact_needs_a_name_and_well_formed_email_and_phone() {
        let ok = ContactInput {
            name: " Ada Obi ",
            email: "ada@northwind.example",
            phone: "+44 20 7946 0000 ext 12",
            title: "CIO",
            stakeholder_team: "Executive",
            role: "Executive Sponsor",
        }
        .check(4, "web-1")
        .unwrap();
        assert_eq!(ok.name.as_deref(), Some("Ada Obi"));
        assert_eq!(ok.stakeholder_team.as_deref(), Some("executive"));
        assert_eq!(ok.role.as_deref(), Some("executive_sponsor"));
        assert_eq!(ok.phone.as_deref(), Some("+44 20 7946 0000 ext 12"));

        let long = "x".repeat(MAX_LINE_CHARS + 1);
        let bad = ContactInput {
            name: "",
            email: "ada at northwind",
            phone: "call me",
            title: &long,
            ..Default::default()
        }
        .check(4, "web-1")
        .unwrap_err();
        assert_eq!(fields(&bad), ["name", "email", "phone", "title"]);
        assert!(bad[1].message.contains("\"ada at northwind\""), "{bad:?}");
        assert!(bad[3].message.contains("at most 300 characters"), "{bad:?}");
        assert_eq!(email(""), Ok(None));
        for wrong in ["a@b", "@b.c", "a@@b.c", "a b@c.d", "a@.c", "a@c."] {
            assert!(email(wrong).is_err(), "{wrong}");
        }
        assert!(phone("12").is_err(), "too few digits");
    }

    #[test]
    fn an_outcome_direction_is_given_or_implied_and_must_fit_the_target() {
        let input = OutcomeInput {
            name: "Days to open a branch",
            unit: "days",
            baseline: "30",
            target: "5",
            start_date: "2026-01-01",
            target_date: "2026-12-31",
            direction: "",
        };
        let o = input.check(1, "o-1").unwrap();
        assert_eq!(o.direction, Direction::Lower, "implied by a target below the baseline");
        let wrong = OutcomeInput {
            direction: "higher",
            ..input
        }
        .check(1, "o-1")
        .unwrap_err();
        assert_eq!(fields(&wrong), ["target"]);
        let keep = OutcomeInput {
            target: "30",
            direction: "lower",
            ..input
        }
        .check(1, "o-1")
        .unwrap();
        assert_eq!(
            (keep.baseline, keep.target, keep.direction),
            (30.0, 30.0, Direction::Lower)
        );
        let bad = OutcomeInput {
            name: " ",
            baseline: "lots",
            target_date: "2025-01-01",
            direction: "sideways",
            ..input
        }
        .check(1, "o-1")
        .unwrap_err();
        assert_eq!(fields(&bad), ["name", "baseline", "target_date", "direction"]);
    }

    #[test]
    fn progress_follows_the_direction() {
        let o = |baseline, target, direction| NewOutcome {
            external_id: "o".into(),
            account_id: 1,
            name: "o".into(),
            unit: None,
            baseline,
            target,
            start_date: None,
            target_date: None,
            direction,
        };
        let fewer = o(30.0, 10.0, Direction::Lower);
        assert_eq!(fewer.progress(20.0), Some(0.5));
        assert_eq!(fewer.progress(35.0), Some(-0.25), "the wrong way");
        assert!(fewer.reached(9.0) && !fewer.reached(11.0));
        let keep_low = o(2.0, 2.0, Direction::Lower);
        assert_eq!(keep_low.progress(1.5), Some(1.0));
        assert_eq!(keep_low.progress(2.5), Some(0.0));
        let keep_high = o(2.0, 2.0, Direction::Higher);
        assert_eq!(keep_high.progress(1.5), Some(0.0));
        assert_eq!(keep_high.progress(f64::NAN), None);
        assert_eq!(Direction::implied(1.0, 1.0), Direction::Higher);
    }

    #[test]
    fn a_measurement_has_a_value_and_a_day_that_has_come() {
        let today: NaiveDate = "2026-06-30".parse().unwrap();
        let m = MeasurementInput {
            measured_on: "",
            value: " 42.5 ",
            source: "Monthly report",
            note: "",
        }
        .check(9, "Ada", today)
        .unwrap();
        assert_eq!((m.measured_on, m.value, m.note.as_deref()), (today, 42.5, None));
        assert_eq!(m.recorded_by.as_deref(), Some("Ada"));
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let bad = MeasurementInput {
            measured_on: "2026-07-01",
            value: "",
            source: "",
            note: &long,
        }
        .check(9, "Ada", today)
        .unwrap_err();
        assert_eq!(fields(&bad), ["measured_on", "value", "note"]);
    }
}
