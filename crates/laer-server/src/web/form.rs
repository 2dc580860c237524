//! Forms, one way for every page: a field with its label, its value and its problem; the
//! problems of a form that cannot be accepted, shown again with the values as sent (400);
//! and the CSRF token every POST form carries.
//!
//! A handler parses its form into a core or store record, collecting [`Problems`] (one per
//! field); when there is any, it renders the same form again with [`refused`], each
//! message at its field and all of them at the top. A store refusal (a duplicate email,
//! an edit of a record changed since it was opened) becomes a problem the same way
//! ([`Problems::from_store`]), so that nothing is half-written and nothing typed is lost.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use laer_store::StoreError;
use maud::{Markup, html};

use super::{CurrentUser, PageError};

/// What is wrong with one field of a form, in words the person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The field's `name`; empty for a problem with the whole form.
    pub field: String,
    /// What the summary calls the field, when its name does not read well ("Condition
    /// 2" for `when-1-value`).
    pub label: Option<String>,
    pub message: String,
}

/// The problems of a form as sent; empty when it can be accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn new() -> Problems {
        Problems::default()
    }

    /// Records a problem with `field`.
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(Problem {
            field: field.to_string(),
            label: None,
            message: message.into(),
        });
    }

    /// Records a problem with `field`, called `label` in the summary.
    pub(crate) fn add_labelled(&mut self, field: &str, label: &str, message: impl Into<String>) {
        self.0.push(Problem {
            field: field.to_string(),
            label: Some(label.to_string()),
            message: message.into(),
        });
    }

    /// The value of a parse, or `None` with its error recorded against `field`.
    pub(crate) fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|message| self.add(field, message)).ok()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problem with `field`, if any.
    pub(crate) fn at(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|p| p.field == field).map(|p| p.message.as_str())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    /// A store refusal as the form's problem: a refused value at its field, an edit of a
    /// changed record at the top. Anything else is the server's failure, not the form's.
    pub(crate) fn from_store(e: StoreError) -> Result<Problems, PageError> {
        let mut problems = Problems::new();
        match e {
            StoreError::Refused { field, message } => problems.add(&field, message),
            e @ StoreError::Stale { .. } => problems.add("", e.to_string()),
            StoreError::Invalid(message) => problems.add("", message),
            other => return Err(other.into()),
        }
        Ok(problems)
    }
}

/// The form rendered again with its problems: 400, so that a script or a test sees that
/// nothing was accepted.
pub(crate) fn refused(page: Markup) -> Response {
    (StatusCode::BAD_REQUEST, page).into_response()
}

/// The problems of the whole form, listed above it (and announced to screen readers).
pub(crate) fn summary(problems: &Problems) -> Markup {
    html! {
        @if !problems.is_empty() {
            div.form-problems role="alert" {
                p { strong { "Nothing was saved." } " Please correct:" }
                ul {
                    @for p in problems.iter() {
                        li {
                            @if let Some(label) = &p.label { strong { (label) } ": " }
                            @else if !p.field.is_empty() { strong { (p.field.replace('_', " ")) } ": " }
                            (p.message)
                        }
                    }
                }
            }
        }
    }
}

/// The hidden field carrying the session's CSRF token ([`super::session::CsrfForm`]).
pub(crate) fn csrf(user: &CurrentUser) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf_token); }
}

/// The kind of a single-line input.
#[derive(Clone, Copy)]
pub(crate) enum Input {
    Text,
    Email,
    Number,
    Date,
    DateTime,
    Password,
}

impl Input {
    fn html_type(self) -> &'static str {
        match self {
            Input::Text => "text",
            Input::Email => "email",
            Input::Number => "number",
            Input::Date => "date",
            Input::DateTime => "datetime-local",
            Input::Password => "password",
        }
    }
}

/// A labelled single-line field with its value as sent and its problem, if any.
pub(crate) fn field(label: &str, name: &str, input: Input, value: &str, problems: &Problems) -> Markup {
    let problem = problems.at(name);
    html! {
        label.field.invalid[problem.is_some()] {
            (label)
            input type=(input.html_type()) name=(name) value=(value)
                step=[matches!(input, Input::Number).then_some("any")]
                aria-invalid=[problem.map(|_| "true")];
            @if let Some(message) = problem { span.field-problem { (message) } }
        }
    }
}

/// A labelled multi-line field.
pub(crate) fn text_area(label: &str, name: &str, value: &str, rows: u32, problems: &Problems) -> Markup {
    let problem = problems.at(name);
    html! {
        label.field.invalid[problem.is_some()] {
            (label)
            textarea name=(name) rows=(rows) aria-invalid=[problem.map(|_| "true")] { (value) }
            @if let Some(message) = problem { span.field-problem { (message) } }
        }
    }
}

/// A labelled choice of one of `options` (value, label), `selected` chosen.
pub(crate) fn select(
    label: &str,
    name: &str,
    options: &[(String, String)],
    selected: &str,
    problems: &Problems,
) -> Markup {
    let problem = problems.at(name);
    html! {
        label.field.invalid[problem.is_some()] {
            (label)
            select name=(name) aria-invalid=[problem.map(|_| "true")] {
                @for (value, text) in options {
                    option value=(value) selected[value == selected] { (text) }
                }
            }
            @if let Some(message) = problem { span.field-problem { (message) } }
        }
    }
}

/// A set of checkboxes named `name`, one per option (value, label), those in `checked`
/// ticked; the form sends the field once per ticked box.
pub(crate) fn checkboxes(
    legend: &str,
    name: &str,
    options: &[(String, String)],
    checked: &[String],
    problems: &Problems,
) -> Markup {
    let problem = problems.at(name);
    html! {
        fieldset.checkboxes.invalid[problem.is_some()] {
            legend { (legend) }
            @for (value, text) in options {
                label.check {
                    input type="checkbox" name=(name) value=(value) checked[checked.contains(value)];
                    (text)
                }
            }
            @if let Some(message) = problem { span.field-problem { (message) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_shows_at_its_field_and_at_the_top_escaped() {
        let mut problems = Problems::new();
        problems.add("email", "<b>already used</b> at this account");
        let field = field("Email", "email", Input::Email, "a@b.c", &problems).into_string();
        assert!(field.contains("aria-invalid=\"true\""), "{field}");
        assert!(field.contains("&lt;b&gt;already used"), "{field}");
        let top = summary(&problems).into_string();
        assert!(top.contains("Nothing was saved") && top.contains("email"), "{top}");
        assert!(summary(&Problems::new()).into_string().is_empty());
    }

    #[test]
    fn store_refusals_become_problems_and_failures_do_not() {
        let refused = StoreError::Refused {
            field: "email".into(),
            message: "already used".into(),
        };
        let problems = Problems::from_store(refused).expect("a problem");
        assert_eq!(problems.at("email"), Some("already used"));
        let stale = Problems::from_store(StoreError::Stale {
            what: "touchpoint 4".into(),
        })
        .expect("a problem");
        assert!(stale.at("").is_some_and(|m| m.contains("changed by someone else")));
        assert!(Problems::from_store(StoreError::WriterGone).is_err());
    }
}
