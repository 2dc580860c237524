//! laer's survival estimates against lifelines (PyPI `lifelines` 0.30.3), computed live:
//! tests/survival/lifelines_reference.py fits lifelines' `KaplanMeierFitter` on the
//! datasets lifelines ships (waltons by group and whole, lymphoma, dd) and laer's
//! `kaplan_meier` must agree on the timeline, the counts, the estimate and its 95 % band
//! (exponential Greenwood) within 1e-6; and its `CoxPHFitter` (Efron's ties) on rossi and
//! the regression dataset, where laer's `cox` must agree on every coefficient, standard
//! error and interval within 1e-4 and on the partial log-likelihood within 1e-6; and its
//! `CoxTimeVaryingFitter` on the Stanford heart transplant data and on rossi cut into
//! stretches, where laer's `cox_time_varying` must agree likewise.
//!
//! Needs `LAER_TEST_LIFELINES_PYTHON` (a Python with lifelines; `scripts/test` makes one);
//! skipped without it unless `LAER_TEST_REQUIRE_LIFELINES=1`.

use laer_core::stats::{CoxFit, cox, cox_time_varying, kaplan_meier};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    lifelines_version: String,
    kaplan_meier: Vec<KmCase>,
    cox: Vec<CoxCase>,
    cox_time_varying: Vec<CoxCase>,
}

#[derive(Deserialize)]
struct KmCase {
    name: String,
    durations: Vec<f64>,
    events: Vec<u8>,
    timeline: Vec<f64>,
    survival: Vec<f64>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    at_risk: Vec<f64>,
    observed: Vec<f64>,
    censored: Vec<f64>,
}

/// The reference, computed once for every test of this file.
fn reference() -> Option<&'static Reference> {
    static REFERENCE: std::sync::OnceLock<Option<Reference>> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(compute).as_ref()
}

fn compute() -> Option<Reference> {
    let Some(python) = std::env::var_os("LAER_TEST_LIFELINES_PYTHON").filter(|p| !p.is_empty()) else {
        assert!(
            std::env::var("LAER_TEST_REQUIRE_LIFELINES").as_deref() != Ok("1"),
            "LAER_TEST_REQUIRE_LIFELINES=1 but LAER_TEST_LIFELINES_PYTHON is not set"
        );
        eprintln!("skipping: set LAER_TEST_LIFELINES_PYTHON to a Python with lifelines 0.30.3");
        return None;
    };
    let out = std::env::temp_dir().join(format!("laer-lifelines-{}.json", std::process::id()));
    let run = std::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/survival/lifelines_reference.py"
        ))
        .arg(&out)
        .output()
        .expect("the lifelines reference runs");
    assert!(
        run.status.success(),
        "lifelines_reference.py: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("the reference is written");
    let _ = std::fs::remove_file(&out);
    Some(serde_json::from_str(&text).expect("the reference reads"))
}

fn close(what: &str, laer: f64, lifelines: f64) {
    assert!(
        (laer - lifelines).abs() <= 1e-6,
        "{what}: laer {laer}, lifelines {lifelines}"
    );
}

#[test]
fn kaplan_meier_equals_lifelines() {
    let Some(reference) = reference() else {
        return;
    };
    assert_eq!(reference.lifelines_version, "0.30.3");
    assert!(reference.kaplan_meier.len() >= 5);
    for case in &reference.kaplan_meier {
        let observed: Vec<bool> = case.events.iter().map(|e| *e == 1).collect();
        let km = kaplan_meier(&case.durations, &observed).unwrap();
        assert_eq!(km.timeline, case.timeline, "{}: the timeline", case.name);
        for i in 0..km.timeline.len() {
            let at = |what: &str| format!("{} at t={} ({what})", case.name, km.timeline[i]);
            assert_eq!(km.at_risk[i] as f64, case.at_risk[i], "{}", at("at risk"));
            assert_eq!(km.observed[i] as f64, case.observed[i], "{}", at("observed"));
            assert_eq!(km.censored[i] as f64, case.censored[i], "{}", at("censored"));
            close(&at("survival"), km.survival[i], case.survival[i]);
            close(&at("lower"), km.lower[i], case.lower[i]);
            close(&at("upper"), km.upper[i], case.upper[i]);
        }
    }
}

#[derive(Deserialize)]
struct CoxCase {
    name: String,
    columns: Vec<String>,
    rows: Vec<Vec<f64>>,
    #[serde(default)]
    starts: Vec<f64>,
    /// The durations; a stretch's stop when there are starts.
    #[serde(alias = "stops")]
    durations: Vec<f64>,
    events: Vec<u8>,
    coef: std::collections::BTreeMap<String, f64>,
    se: std::collections::BTreeMap<String, f64>,
    ci_lower: std::collections::BTreeMap<String, f64>,
    ci_upper: std::collections::BTreeMap<String, f64>,
    log_likelihood: f64,
}

/// laer's fit agrees with lifelines' on every coefficient, standard error and interval
/// within 1e-4, and on the partial log-likelihood within 1e-6.
fn agrees(case: &CoxCase, fit: &CoxFit) {
    for (j, column) in case.columns.iter().enumerate() {
        let at = |what: &str| format!("{} {column} ({what})", case.name);
        let near = |what: &str, laer: f64, lifelines: f64| {
            assert!(
                (laer - lifelines).abs() <= 1e-4,
                "{}: laer {laer}, lifelines {lifelines}",
                at(what)
            );
        };
        near("coefficient", fit.coefficients[j], case.coef[column]);
        near("standard error", fit.standard_errors[j], case.se[column]);
        near("lower", fit.lower[j], case.ci_lower[column]);
        near("upper", fit.upper[j], case.ci_upper[column]);
    }
    assert!(
        (fit.log_likelihood - case.log_likelihood).abs() <= 1e-6,
        "{}: laer {}, lifelines {}",
        case.name,
        fit.log_likelihood,
        case.log_likelihood
    );
}

#[test]
fn cox_equals_lifelines() {
    let Some(reference) = reference() else {
        return;
    };
    assert!(reference.cox.len() >= 2);
    for case in &reference.cox {
        let observed: Vec<bool> = case.events.iter().map(|e| *e == 1).collect();
        agrees(case, &cox(&case.rows, &case.durations, &observed).unwrap());
    }
}

#[test]
fn cox_time_varying_equals_lifelines() {
    let Some(reference) = reference() else {
        return;
    };
    assert_eq!(reference.cox_time_varying.len(), 2);
    for case in &reference.cox_time_varying {
        assert_eq!(case.starts.len(), case.rows.len(), "{}", case.name);
        let observed: Vec<bool> = case.events.iter().map(|e| *e == 1).collect();
        agrees(
            case,
            &cox_time_varying(&case.rows, &case.starts, &case.durations, &observed).unwrap(),
        );
    }
}
