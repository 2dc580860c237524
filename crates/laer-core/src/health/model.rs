//! The health model: which signals are measured, how each is scored 0–100, how measures
//! weigh within their pillar and pillars within the score, the engagement multiplier, the
//! quadrant and the phase rules. It lives in a TOML file; [`HealthModel::default`] is the
//! shipped default (`default-model.toml`, documented in docs/health.md).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::health::inputs::{Windows, signal_label};
use crate::lifecycle::{Phase, PhaseRules};
use crate::model::text_enum;

text_enum!(
    /// The pillars of health.
    Pillar { Adoption = "adoption", Experience = "experience", Engagement = "engagement", Transformation = "transformation" }
);

impl Pillar {
    /// Its name in a sentence's first word: "Adoption".
    pub fn label(self) -> &'static str {
        match self {
            Pillar::Adoption => "Adoption",
            Pillar::Experience => "Experience",
            Pillar::Engagement => "Engagement",
            Pillar::Transformation => "Transformation",
        }
    }

    /// The pillar a signal belongs to: support and survey signals to experience, meetings
    /// and contacts to engagement, outcomes to transformation, and usage and contract
    /// signals (per-feature ones included) to adoption.
    pub fn of_signal(signal: &str) -> Pillar {
        match signal {
            "cases_per_active_user"
            | "cases_per_month"
            | "cases_last_14_days"
            | "case_severity"
            | "days_to_resolve"
            | "how_to_share"
            | "csat"
            | "nps" => Pillar::Experience,
            "cadence_kept" | "days_since_executive_meeting" | "contacts_engaged" => Pillar::Engagement,
            "outcomes_on_track" | "outcome_progress" => Pillar::Transformation,
            _ => Pillar::Adoption,
        }
    }
}

text_enum!(
    /// How a signal's value maps onto its scoring range: straight, on `ln(1 + x)` for
    /// fat-tailed counts, or on `asinh(x)` for fat-tailed values that can be negative (the
    /// book's rule).
    Scale { Linear = "linear", Log = "log", Asinh = "asinh" }
);

/// One measure: a signal scored 0 at `bad`, 100 at `good`, evenly in between (on the
/// scale), clamped beyond. `good` below `bad` means lower is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub signal: String,
    pub pillar: Pillar,
    pub weight: f64,
    pub bad: f64,
    pub good: f64,
    #[serde(default = "linear", skip_serializing_if = "is_linear")]
    pub scale: Scale,
    /// Only for accounts in these phases (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
    /// Only for accounts in these segments, any case (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
}

/// What a measure may be limited to: the account's phase and segment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scope<'a> {
    pub phase: Option<Phase>,
    pub segment: Option<&'a str>,
}

fn linear() -> Scale {
    Scale::Linear
}

fn is_linear(s: &Scale) -> bool {
    *s == Scale::Linear
}

impl Scale {
    /// The value on this scale (`ln(1 + x)` of a negative value is taken at 0).
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Scale::Linear => x,
            Scale::Log => x.max(0.0).ln_1p(),
            Scale::Asinh => x.asinh(),
        }
    }
}

impl Measure {
    /// Whether the measure applies to an account of this phase and segment.
    pub fn applies(&self, scope: &Scope<'_>) -> bool {
        (self.phases.is_empty() || scope.phase.is_some_and(|p| self.phases.contains(&p)))
            && (self.segments.is_empty()
                || scope
                    .segment
                    .is_some_and(|s| self.segments.iter().any(|m| m.eq_ignore_ascii_case(s.trim()))))
    }

    /// The measure's score 0–100 for a signal value.
    pub fn score(&self, value: f64) -> f64 {
        let t = |x: f64| self.scale.apply(x);
        let span = t(self.good) - t(self.bad);
        if span == 0.0 || !value.is_finite() {
            return 0.0;
        }
        ((t(value) - t(self.bad)) / span).clamp(0.0, 1.0) * 100.0
    }
}

/// Weights of the pillars in the base score (engagement may also, or only, multiply).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PillarWeights {
    pub adoption: f64,
    pub experience: f64,
    #[serde(default)]
    pub engagement: f64,
    pub transformation: f64,
}

impl PillarWeights {
    pub fn of(&self, pillar: Pillar) -> f64 {
        match pillar {
            Pillar::Adoption => self.adoption,
            Pillar::Experience => self.experience,
            Pillar::Engagement => self.engagement,
            Pillar::Transformation => self.transformation,
        }
    }
}

/// Maps a score to the probability of churn or downsell within 90 days:
/// `1 / (1 + exp(-(intercept + slope × score / 100)))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub intercept: f64,
    pub slope: f64,
}

impl Calibration {
    pub fn churn_probability(&self, score: f64) -> f64 {
        1.0 / (1.0 + (-(self.intercept + self.slope * score / 100.0)).exp())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthModel {
    pub name: String,
    /// Overall = base × (floor + (1 − floor) × engagement / 100); 1 turns the multiplier off.
    pub engagement_floor: f64,
    /// Experience and transformation at or above this count as high in the quadrant.
    pub quadrant_threshold: f64,
    #[serde(default)]
    pub windows: Windows,
    pub pillars: PillarWeights,
    pub phases: PhaseRules,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    pub measures: Vec<Measure>,
}

/// What is wrong with a model file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("health model: {0}")]
    Syntax(String),
    #[error("health model: measure {index} (`{signal}`): unknown signal")]
    UnknownSignal { index: usize, signal: String },
    #[error("health model: measure {index} (`{signal}`): {problem}")]
    BadMeasure {
        index: usize,
        signal: String,
        problem: &'static str,
    },
    #[error("health model: {field}: {problem}")]
    BadField { field: &'static str, problem: &'static str },
}

/// The shipped default model.
pub const DEFAULT_MODEL: &str = include_str!("default-model.toml");

impl Default for HealthModel {
    fn default() -> Self {
        // The shipped file is checked by a test; failing here would be a build defect.
        HealthModel::from_toml(DEFAULT_MODEL).unwrap_or_else(|e| panic!("the shipped health model: {e}"))
    }
}

impl HealthModel {
    /// What an account's phase on a day depends on in this model, as a short key: its
    /// phase rules and its windows (utilisation and breadth are measured over the usage
    /// window). Two models with the same key place every account in the same phase, so
    /// phases kept for past days ([`crate::bridge`]) stay valid across other edits.
    pub fn phase_key(&self) -> String {
        let rules = serde_json::json!({ "phases": self.phases, "windows": self.windows });
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(rules.to_string().as_bytes()))
    }

    /// Reads and checks a model file's text.
    pub fn from_toml(text: &str) -> Result<HealthModel, ModelError> {
        let model: HealthModel = toml::from_str(text).map_err(|e| ModelError::Syntax(e.to_string()))?;
        model.check()?;
        Ok(model)
    }

    /// The model as a file.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), ModelError> {
        let field = |ok: bool, field: &'static str, problem: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(ModelError::BadField { field, problem })
            }
        };
        field(
            (0.0..=1.0).contains(&self.engagement_floor),
            "engagement_floor",
            "must be between 0 and 1",
        )?;
        field(
            (0.0..=100.0).contains(&self.quadrant_threshold),
            "quadrant_threshold",
            "must be between 0 and 100",
        )?;
        let w = &self.pillars;
        field(
            [w.adoption, w.experience, w.engagement, w.transformation]
                .iter()
                .all(|x| x.is_finite() && *x >= 0.0),
            "pillars",
            "weights must be zero or more",
        )?;
        field(
            w.adoption + w.experience + w.engagement + w.transformation > 0.0,
            "pillars",
            "at least one weight must be above zero",
        )?;
        field(
            self.windows.usage_days > 0 && self.windows.experience_days > 0 && self.windows.engagement_days > 0,
            "windows",
            "must be at least one day",
        )?;
        let p = &self.phases;
        field(
            (0.0..=1.0).contains(&p.activation_share),
            "phases.activation_share",
            "must be between 0 and 1",
        )?;
        field(p.renew_days >= 0, "phases.renew_days", "must be zero or more")?;
        field(
            self.calibration
                .is_none_or(|c| c.intercept.is_finite() && c.slope.is_finite()),
            "calibration",
            "intercept and slope must be numbers",
        )?;
        for (index, m) in self.measures.iter().enumerate() {
            let bad = |problem| ModelError::BadMeasure {
                index: index + 1,
                signal: m.signal.clone(),
                problem,
            };
            if signal_label(&m.signal).is_none() {
                return Err(ModelError::UnknownSignal {
                    index: index + 1,
                    signal: m.signal.clone(),
                });
            }
            if !(m.weight.is_finite() && m.weight >= 0.0) {
                return Err(bad("weight must be zero or more"));
            }
            if !(m.bad.is_finite() && m.good.is_finite()) || m.bad == m.good {
                return Err(bad("bad and good must be different numbers"));
            }
            if m.scale == Scale::Log && (m.bad <= -1.0 || m.good <= -1.0) {
                return Err(bad("a log scale needs bad and good above -1"));
            }
        }
        Ok(())
    }

    /// The model's measures of one pillar.
    pub fn measures_of(&self, pillar: Pillar) -> impl Iterator<Item = &Measure> {
        self.measures.iter().filter(move |m| m.pillar == pillar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_reads_and_round_trips() {
        let model = HealthModel::from_toml(DEFAULT_MODEL).unwrap();
        assert!(model.measures.len() >= 10);
        for pillar in Pillar::ALL.iter().copied() {
            assert!(model.measures_of(pillar).count() > 0, "{pillar} has measures");
        }
        assert_eq!(HealthModel::from_toml(&model.to_toml()).unwrap(), model);
    }

    /// Phases kept for past days belong to the rules and windows that placed them: a new
    /// weight leaves the key as it is, a new phase rule or window does not.
    #[test]
    fn the_phase_key_follows_only_what_phases_depend_on() {
        let model = HealthModel::from_toml(DEFAULT_MODEL).unwrap();
        let key = model.phase_key();
        assert_eq!(key.len(), 16);
        assert_eq!(HealthModel::from_toml(&model.to_toml()).unwrap().phase_key(), key);
        let mut reweighted = model.clone();
        reweighted.engagement_floor = 0.9;
        reweighted.measures.pop();
        assert_eq!(reweighted.phase_key(), key);
        let mut rules = model.clone();
        rules.phases.renew_days += 1;
        assert_ne!(rules.phase_key(), key);
        let mut windows = model.clone();
        windows.windows.usage_days += 1;
        assert_ne!(windows.phase_key(), key);
    }

    #[test]
    fn bad_models_are_refused_naming_what_is_wrong() {
        let with = |from: &str, to: &str| HealthModel::from_toml(&DEFAULT_MODEL.replacen(from, to, 1));
        assert_eq!(
            with("signal = \"utilisation\"", "signal = \"utilization\""),
            Err(ModelError::UnknownSignal {
                index: 1,
                signal: "utilization".into()
            })
        );
        assert!(matches!(
            with("engagement_floor = 0.6", "engagement_floor = 1.5"),
            Err(ModelError::BadField {
                field: "engagement_floor",
                ..
            })
        ));
        let typo = with("quadrant_threshold", "quadrant_treshold").unwrap_err();
        assert!(typo.to_string().contains("quadrant_treshold"), "{typo}");
    }

    /// Found by the fuzz target `health_model` (docs/fuzzing.md): a calibration of `nan`
    /// or `inf` was accepted, and every churn probability was then NaN.
    #[test]
    fn a_calibration_must_be_numbers() {
        for (intercept, slope) in [("nan", "1.0"), ("-2.0", "inf"), ("-inf", "-inf")] {
            let text = format!("{DEFAULT_MODEL}\n[calibration]\nintercept = {intercept}\nslope = {slope}\n");
            assert!(
                matches!(
                    HealthModel::from_toml(&text),
                    Err(ModelError::BadField {
                        field: "calibration",
                        ..
                    })
                ),
                "{intercept} {slope}"
            );
        }
        let text = format!("{DEFAULT_MODEL}\n[calibration]\nintercept = 1e300\nslope = -1e300\n");
        let calibration = HealthModel::from_toml(&text).unwrap().calibration.unwrap();
        for score in [0.0, 50.0, 100.0] {
            assert!((0.0..=1.0).contains(&calibration.churn_probability(score)), "{score}");
        }
    }

    #[test]
    fn measures_may_be_limited_to_phases_and_segments() {
        let text = DEFAULT_MODEL.replacen(
            "signal = \"utilisation\"",
            "signal = \"utilisation\"\nphases = [\"adopt\", \"renew\"]\nsegments = [\"Enterprise\"]",
            1,
        );
        let model = HealthModel::from_toml(&text).unwrap();
        let m = &model.measures[0];
        let scope = |phase, segment| Scope {
            phase: Some(phase),
            segment,
        };
        assert!(m.applies(&scope(Phase::Adopt, Some("enterprise"))));
        assert!(!m.applies(&scope(Phase::Land, Some("Enterprise"))));
        assert!(!m.applies(&scope(Phase::Renew, Some("SMB"))));
        assert!(!m.applies(&Scope::default()));
        assert!(
            model.measures[1].applies(&Scope::default()),
            "unlimited measures always apply"
        );
        assert!(
            HealthModel::from_toml(&DEFAULT_MODEL.replacen("weight = 3.0", "weight = 3.0\nphases = [\"onboard\"]", 1))
                .is_err()
        );
    }

    #[test]
    fn the_shipped_measures_sit_in_their_signals_pillars() {
        for m in &HealthModel::default().measures {
            assert_eq!(Pillar::of_signal(&m.signal), m.pillar, "{}", m.signal);
        }
        assert_eq!(Pillar::of_signal("events_per_month:export"), Pillar::Adoption);
        assert_eq!(Pillar::of_signal("cases_last_14_days"), Pillar::Experience);
    }

    #[test]
    fn measures_score_in_either_direction_and_on_a_log_scale() {
        let m = |bad, good, scale| Measure {
            signal: "depth".into(),
            pillar: Pillar::Adoption,
            weight: 1.0,
            bad,
            good,
            scale,
            phases: vec![],
            segments: vec![],
        };
        let up = m(0.0, 10.0, Scale::Linear);
        assert_eq!((up.score(-1.0), up.score(2.5), up.score(20.0)), (0.0, 25.0, 100.0));
        let down = m(30.0, 0.0, Scale::Linear);
        assert_eq!(
            (down.score(0.0), down.score(15.0), down.score(60.0)),
            (100.0, 50.0, 0.0)
        );
        let log = m(0.0, 99.0, Scale::Log);
        assert!((log.score(9.0) - 50.0).abs() < 1e-9, "ln 10 is half of ln 100");
        assert_eq!(up.score(f64::NAN), 0.0);
    }
}
