//! The health model: a model file's text read and checked (`HealthModel::from_toml`),
//! or — for an input starting with a NUL byte — a model built from the default with
//! arbitrary weights, ranges, scales, phases and calibration, written out and read
//! back; then arbitrary signals scored in an arbitrary scope, what moved between two
//! sets of signals, and the phase rules on arbitrary facts. A model the check accepts
//! reads back as itself from its own file, and scores stay numbers from 0 to 100.
#![no_main]

use arbitrary::{Result, Unstructured};
use laer_core::health::model::{Calibration, Measure, Scale};
use laer_core::health::score::changes;
use laer_core::health::{Health, HealthModel, Pillar, Scope, score_in};
use laer_core::lifecycle::{PhaseFacts, phase};
use laer_fuzz::{day, phase as any_phase, recent_day, signal_name, signals, split, value};
use libfuzzer_sys::fuzz_target;

/// The default model with arbitrary changes, as its file says it.
fn built(u: &mut Unstructured<'_>) -> Result<String> {
    let mut m = HealthModel::default();
    if u.arbitrary()? {
        m.engagement_floor = value(u)? / 100.0;
        m.quadrant_threshold = value(u)?;
    }
    if u.arbitrary()? {
        m.pillars.adoption = value(u)?;
        m.pillars.experience = value(u)?;
        m.pillars.engagement = value(u)?;
        m.pillars.transformation = value(u)?;
    }
    if u.ratio(1, 4)? {
        m.windows.usage_days = u.arbitrary()?;
        m.windows.experience_days = u.arbitrary()?;
        m.windows.engagement_days = u.arbitrary()?;
    }
    if u.ratio(1, 4)? {
        m.phases.activation_share = value(u)? / 100.0;
        m.phases.renew_days = u.arbitrary()?;
        m.phases.land_days_without_usage = u.arbitrary()?;
        m.phases.expand_utilisation = value(u)?;
        m.phases.expand_breadth = value(u)?;
    }
    if u.arbitrary()? {
        m.calibration = Some(Calibration {
            intercept: value(u)?,
            slope: value(u)?,
        });
    }
    m.measures.retain(|_| u.ratio(7, 8).unwrap_or(true));
    for measure in &mut m.measures {
        if u.ratio(1, 3)? {
            measure.weight = value(u)?;
            measure.bad = value(u)?;
            measure.good = value(u)?;
            measure.scale = *u.choose(Scale::ALL)?;
        }
        if u.ratio(1, 8)? {
            measure.phases = vec![any_phase(u)?];
            measure.segments = u.arbitrary()?;
        }
    }
    for _ in 0..u.int_in_range(0..=3u8)? {
        let signal = signal_name(u)?;
        m.measures.push(Measure {
            pillar: Pillar::of_signal(&signal),
            signal,
            weight: value(u)?,
            bad: value(u)?,
            good: value(u)?,
            scale: *u.choose(Scale::ALL)?,
            phases: Vec::new(),
            segments: Vec::new(),
        });
    }
    Ok(m.to_toml())
}

/// A score from 0 to 100, give or take floating point's last digits (a weighted mean of
/// scores of 100 may come out at 100.00000000000001).
fn a_score(x: f64) -> bool {
    (-1e-9..=100.0 + 1e-9).contains(&x)
}

fn check(health: &Health) {
    assert!(health.score.is_none_or(a_score), "score {:?}", health.score);
    for pillar in Pillar::ALL {
        let p = health.pillars.of(*pillar);
        assert!(p.is_none_or(a_score), "{pillar} {p:?}");
    }
    for driver in &health.drivers {
        assert!(a_score(driver.score), "{driver:?}");
    }
}

fn facts(u: &mut Unstructured<'_>) -> Result<PhaseFacts> {
    let when = |u: &mut Unstructured<'_>| if u.ratio(1, 8)? { day(u) } else { recent_day(u) };
    Ok(PhaseFacts {
        as_of: Some(when(u)?),
        customer: u.ratio(3, 4)?,
        landed_on: if u.arbitrary()? { Some(when(u)?) } else { None },
        term_months: u.arbitrary()?,
        renewal_date: if u.arbitrary()? { Some(when(u)?) } else { None },
        usage_tracked: u.arbitrary()?,
        seats: if u.arbitrary()? { Some(value(u)?) } else { None },
        users_ever: u.arbitrary()?,
        utilisation: if u.arbitrary()? { Some(value(u)?) } else { None },
        breadth: if u.arbitrary()? { Some(value(u)?) } else { None },
        expansion_specialist: u.arbitrary()?,
        set_by_hand: if u.ratio(1, 8)? { Some(any_phase(u)?) } else { None },
    })
}

fn run(data: &[u8]) -> Result<()> {
    let (text, rest) = split(data);
    let mut u = Unstructured::new(rest);
    let (text, written) = match text {
        Some(t) if !t.is_empty() => (t.to_string(), false),
        Some(_) => (built(&mut u)?, true),
        None => return Ok(()),
    };
    let Ok(model) = HealthModel::from_toml(&text) else {
        return Ok(());
    };
    // A model built here was read from its own file already.
    if !written {
        let file = model.to_toml();
        assert_eq!(
            HealthModel::from_toml(&file).as_ref(),
            Ok(&model),
            "an accepted model reads back from its own file:\n{file}"
        );
    }
    let now = signals(&mut u)?;
    let segment: Option<String> = u.arbitrary()?;
    let scope = Scope {
        phase: if u.arbitrary()? { Some(any_phase(&mut u)?) } else { None },
        segment: segment.as_deref(),
    };
    let health = score_in(&model, &now, &scope);
    check(&health);
    if let (Some(c), Some(s)) = (model.calibration, health.score) {
        let p = c.churn_probability(s);
        assert!((0.0..=1.0).contains(&p), "churn probability {p}");
    }
    let before = signals(&mut u)?;
    for change in changes(&model, &scope, &before, &now) {
        assert!(change.points.is_finite(), "{change:?}");
    }
    let _ = phase(&facts(&mut u)?, &model.phases);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
