//! Scoring an account's signals with a [`HealthModel`]: pillar scores, the overall
//! score, the Experience × Transformation quadrant, and each measure's contribution —
//! the contributions add up to the score.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::health::inputs::Signals;
use crate::health::model::{HealthModel, Pillar, Scope};
use crate::model::text_enum;

text_enum!(
    /// Experience × Transformation: low/low will churn and tell others; high experience
    /// and low transformation is a commodity, lost for a cent; low experience and high
    /// transformation is tolerated and will not grow; high/high renews and expands.
    Quadrant { ChurnRisk = "churn_risk", Commodity = "commodity", Tolerated = "tolerated", Advocate = "advocate" }
);

impl Quadrant {
    pub fn of(experience_high: bool, transformation_high: bool) -> Quadrant {
        match (experience_high, transformation_high) {
            (false, false) => Quadrant::ChurnRisk,
            (true, false) => Quadrant::Commodity,
            (false, true) => Quadrant::Tolerated,
            (true, true) => Quadrant::Advocate,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Quadrant::ChurnRisk => "Will churn and tell others",
            Quadrant::Commodity => "A commodity: lost for a cent",
            Quadrant::Tolerated => "Tolerated: will not grow",
            Quadrant::Advocate => "Renews and expands",
        }
    }

    /// What the quadrant means for the team, and what to do.
    pub fn explain(self) -> &'static str {
        match self {
            Quadrant::ChurnRisk => {
                "A poor experience and little value delivered: fix what hurts in support and agree measurable outcomes now."
            }
            Quadrant::Commodity => {
                "Happy with the service but seeing little value: without outcomes they leave for a cheaper offer. Agree and measure outcomes."
            }
            Quadrant::Tolerated => {
                "Getting value but through a poor experience: they stay but will not grow. Fix the experience (support, quality)."
            }
            Quadrant::Advocate => {
                "A good experience and value delivered: ask for a reference and talk about expansion."
            }
        }
    }
}

/// Scores per pillar, 0–100; `None` when none of its measures has a value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PillarScores {
    pub adoption: Option<f64>,
    pub experience: Option<f64>,
    pub engagement: Option<f64>,
    pub transformation: Option<f64>,
}

impl PillarScores {
    pub fn of(&self, pillar: Pillar) -> Option<f64> {
        match pillar {
            Pillar::Adoption => self.adoption,
            Pillar::Experience => self.experience,
            Pillar::Engagement => self.engagement,
            Pillar::Transformation => self.transformation,
        }
    }

    fn set(&mut self, pillar: Pillar, value: Option<f64>) {
        match pillar {
            Pillar::Adoption => self.adoption = value,
            Pillar::Experience => self.experience = value,
            Pillar::Engagement => self.engagement = value,
            Pillar::Transformation => self.transformation = value,
        }
    }
}

/// One measure's part in the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    /// The signal measured.
    pub measure: String,
    pub pillar: Pillar,
    /// The signal's value.
    pub value: f64,
    /// The measure's own score, 0–100.
    pub score: f64,
    /// Points of the overall score it brings; all contributions add up to the score.
    pub contribution: f64,
    /// Points it would bring at a perfect score, the others as they are.
    pub possible: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// 0–100; `None` when no pillar that weighs has a value.
    pub score: Option<f64>,
    pub pillars: PillarScores,
    pub quadrant: Option<Quadrant>,
    /// What engagement multiplied the other pillars by (1 without engagement data).
    pub engagement_multiplier: f64,
    /// In the model's order; measures without a value are absent.
    pub drivers: Vec<Driver>,
}

/// Scores `signals` with `model`, with the measures that apply to any account.
pub fn score(model: &HealthModel, signals: &Signals) -> Health {
    score_in(model, signals, &Scope::default())
}

/// Scores `signals` with the measures of `model` that apply in `scope` (the account's
/// phase and segment); the others are left out as if without a value.
pub fn score_in(model: &HealthModel, signals: &Signals, scope: &Scope<'_>) -> Health {
    struct Scored {
        index: usize,
        value: f64,
        score: f64,
    }
    let scored: Vec<Scored> = model
        .measures
        .iter()
        .enumerate()
        .filter(|(_, m)| m.applies(scope))
        .filter_map(|(index, m)| {
            let value = *signals.get(&m.signal)?;
            Some(Scored {
                index,
                value,
                score: m.score(value),
            })
        })
        .collect();
    let pillar_weight = |p: Pillar| -> f64 {
        scored
            .iter()
            .filter(|s| model.measures[s.index].pillar == p)
            .map(|s| model.measures[s.index].weight)
            .sum()
    };
    let mut pillars = PillarScores::default();
    for p in Pillar::ALL.iter().copied() {
        let total = pillar_weight(p);
        let points: f64 = scored
            .iter()
            .filter(|s| model.measures[s.index].pillar == p)
            .map(|s| model.measures[s.index].weight * s.score)
            .sum();
        pillars.set(p, (total > 0.0).then(|| points / total));
    }
    let base_weight: f64 = Pillar::ALL
        .iter()
        .filter(|p| pillars.of(**p).is_some())
        .map(|p| model.pillars.of(*p))
        .sum();
    let base = (base_weight > 0.0).then(|| {
        Pillar::ALL
            .iter()
            .filter_map(|p| pillars.of(*p).map(|s| model.pillars.of(*p) * s))
            .sum::<f64>()
            / base_weight
    });
    let floor = if pillars.engagement.is_some() {
        model.engagement_floor
    } else {
        1.0
    };
    let engagement_multiplier = floor + (1.0 - floor) * pillars.engagement.unwrap_or(0.0) / 100.0;
    let drivers = scored
        .iter()
        .map(|s| {
            let m = &model.measures[s.index];
            let in_pillar = pillar_weight(m.pillar);
            let share_in_pillar = if in_pillar > 0.0 { m.weight / in_pillar } else { 0.0 };
            let (additive, multiplied) = match base {
                Some(base) => (
                    floor * model.pillars.of(m.pillar) / base_weight * share_in_pillar,
                    if m.pillar == Pillar::Engagement {
                        (1.0 - floor) * base / 100.0 * share_in_pillar
                    } else {
                        0.0
                    },
                ),
                None => (0.0, 0.0),
            };
            let per_point = additive + multiplied;
            Driver {
                measure: m.signal.clone(),
                pillar: m.pillar,
                value: s.value,
                score: s.score,
                contribution: per_point * s.score,
                possible: per_point * 100.0,
            }
        })
        .collect();
    Health {
        score: base.map(|b| b * engagement_multiplier),
        quadrant: pillars
            .experience
            .zip(pillars.transformation)
            .map(|(e, t)| Quadrant::of(e >= model.quadrant_threshold, t >= model.quadrant_threshold)),
        pillars,
        engagement_multiplier,
        drivers,
    }
}

/// How a measure moved between two scorings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriverChange {
    pub measure: String,
    pub before: Option<f64>,
    pub now: Option<f64>,
    /// Change in contribution, in points of the score.
    pub points: f64,
}

/// What moved the score between two days' signals, scored by `model` in `scope` (the
/// account's phase and segment now): each measure whose value changed, with the points its
/// own move made — the score now against the score now with that one value as it was
/// before (or absent, if it was), the others as they are now. So a measure that got worse
/// never shows as raising the score, however the others moved (a contribution alone
/// would: contributions share the score out among the measures). Largest move first;
/// moves under 0.05 points are left out unless the measure appeared or disappeared.
pub fn changes(model: &HealthModel, scope: &Scope<'_>, before: &Signals, now: &Signals) -> Vec<DriverChange> {
    let Some(score_now) = score_in(model, now, scope).score else {
        return Vec::new();
    };
    let mut measured: Vec<&str> = model
        .measures
        .iter()
        .filter(|m| m.applies(scope))
        .map(|m| m.signal.as_str())
        .collect();
    measured.sort_unstable();
    measured.dedup();
    let mut out: Vec<DriverChange> = measured
        .into_iter()
        .filter_map(|signal| {
            let (b, n) = (before.get(signal).copied(), now.get(signal).copied());
            let same = match (b, n) {
                (Some(b), Some(n)) => b == n,
                (None, None) => true,
                _ => false,
            };
            if same {
                return None;
            }
            let mut as_before = now.clone();
            match b {
                Some(b) => as_before.insert(signal.to_string(), b),
                None => as_before.remove(signal),
            };
            let without_move = score_in(model, &as_before, scope).score.unwrap_or(0.0);
            Some(DriverChange {
                measure: signal.to_string(),
                before: b,
                now: n,
                points: score_now - without_move,
            })
        })
        .filter(|c| c.points.abs() >= 0.05 || c.before.is_some() != c.now.is_some())
        .collect();
    out.sort_by(|a, b| b.points.abs().total_cmp(&a.points.abs()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::model::{Measure, Scale};
    use proptest::prelude::*;

    fn signals(pairs: &[(&str, f64)]) -> Signals {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_hand_computed_score() {
        let model = HealthModel::default();
        // Adoption: utilisation 0.5 → 50 (w3), breadth 0.6 → 100 (w2): 70.
        // Experience: csat 3.75 → 50 (w2): 50. Transformation: on track 1 → 100.
        // Base: (40·70 + 30·50 + 30·100) / 100 = 73. Engagement: cadence 0.65 → 50:
        // multiplier 0.6 + 0.4 · 0.5 = 0.8 → 58.4.
        let h = score(
            &model,
            &signals(&[
                ("utilisation", 0.5),
                ("breadth", 0.6),
                ("csat", 3.75),
                ("outcomes_on_track", 1.0),
                ("cadence_kept", 0.65),
            ]),
        );
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(h.pillars.adoption.unwrap(), 70.0));
        assert!(close(h.pillars.experience.unwrap(), 50.0));
        assert!(close(h.pillars.engagement.unwrap(), 50.0));
        assert!(close(h.engagement_multiplier, 0.8));
        assert!(close(h.score.unwrap(), 58.4), "{:?}", h.score);
        assert_eq!(h.quadrant, Some(Quadrant::Tolerated));
        let total: f64 = h.drivers.iter().map(|d| d.contribution).sum();
        assert!(close(total, 58.4));
        let cadence = h.drivers.iter().find(|d| d.measure == "cadence_kept").unwrap();
        assert!(close(cadence.contribution, 0.4 * 73.0 * 0.5));
    }

    #[test]
    fn nothing_measured_is_no_score() {
        let h = score(&HealthModel::default(), &Signals::new());
        assert_eq!(h.score, None);
        assert_eq!(h.quadrant, None);
        assert!(h.drivers.is_empty());
        let engaged_only = score(&HealthModel::default(), &signals(&[("cadence_kept", 1.0)]));
        assert_eq!(engaged_only.score, None);
        assert_eq!(engaged_only.drivers[0].contribution, 0.0);
    }

    #[test]
    fn changes_rank_the_largest_moves_first() {
        let model = HealthModel::default();
        let before = signals(&[("utilisation", 0.8), ("breadth", 0.6), ("csat", 4.5)]);
        let now = signals(&[("utilisation", 0.2), ("breadth", 0.6), ("csat", 4.4)]);
        let moved = changes(&model, &Scope::default(), &before, &now);
        assert_eq!(moved[0].measure, "utilisation");
        assert!(moved[0].points < -20.0, "{moved:?}");
        assert!(moved.iter().all(|c| c.measure != "breadth"), "unchanged: {moved:?}");
    }

    fn any_model() -> impl Strategy<Value = HealthModel> {
        let measure = (0usize..6, 0.0f64..5.0, -10.0f64..10.0, -10.0f64..10.0, any::<bool>()).prop_map(
            |(i, weight, bad, good, log)| {
                let (signal, pillar) = [
                    ("utilisation", Pillar::Adoption),
                    ("breadth", Pillar::Adoption),
                    ("csat", Pillar::Experience),
                    ("cadence_kept", Pillar::Engagement),
                    ("contacts_engaged", Pillar::Engagement),
                    ("outcomes_on_track", Pillar::Transformation),
                ][i];
                let (bad, good) = if log {
                    (bad.abs(), good.abs() + 11.0)
                } else {
                    (bad, good + 21.0)
                };
                Measure {
                    signal: signal.into(),
                    pillar,
                    weight,
                    bad,
                    good,
                    scale: if log { Scale::Log } else { Scale::Linear },
                    phases: vec![],
                    segments: vec![],
                }
            },
        );
        (
            proptest::collection::vec(measure, 1..10),
            0.0f64..=1.0,
            [0.0f64..10.0, 0.0f64..10.0, 0.0f64..10.0, 0.0f64..10.0],
        )
            .prop_map(|(measures, floor, w)| HealthModel {
                measures,
                engagement_floor: floor,
                pillars: crate::health::model::PillarWeights {
                    adoption: w[0],
                    experience: w[1],
                    engagement: w[2],
                    transformation: w[3] + 0.1,
                },
                ..HealthModel::default()
            })
    }

    #[test]
    fn a_longer_gap_never_raises_health_however_the_others_moved() {
        let model = HealthModel::default();
        // The executive meeting is a week further back; utilisation fell a lot. The
        // contributions share the score out anew, so the meeting's contribution alone
        // could rise; its own move can only have cost points.
        let before = signals(&[
            ("utilisation", 0.9),
            ("csat", 4.5),
            ("cadence_kept", 0.8),
            ("days_since_executive_meeting", 102.0),
        ]);
        let mut now = before.clone();
        now.insert("utilisation".into(), 0.1);
        now.insert("days_since_executive_meeting".into(), 109.0);
        let moved = changes(&model, &Scope::default(), &before, &now);
        let gap = moved
            .iter()
            .find(|c| c.measure == "days_since_executive_meeting")
            .unwrap();
        assert!(gap.points < 0.0, "{moved:?}");
        assert_eq!((gap.before, gap.now), (Some(102.0), Some(109.0)));
        assert!(moved.iter().all(|c| c.measure != "csat"), "unchanged: {moved:?}");
    }

    proptest! {
        /// A measure's points have the sign of the move of its own score: a measure that
        /// got worse never shows as raising health.
        #[test]
        fn a_measures_points_follow_its_own_score(
            model in any_model(),
            before in proptest::collection::vec(proptest::option::of(-20.0f64..40.0), 6),
            after in proptest::collection::vec(proptest::option::of(-20.0f64..40.0), 6),
        ) {
            let names = ["utilisation", "breadth", "csat", "cadence_kept", "contacts_engaged", "outcomes_on_track"];
            let of = |values: &[Option<f64>]| -> Signals {
                names.iter().zip(values).filter_map(|(n, v)| v.map(|v| (n.to_string(), v))).collect()
            };
            let (before, now) = (of(&before), of(&after));
            let scored_now = score(&model, &now);
            for c in changes(&model, &Scope::default(), &before, &now) {
                // Only a signal scored by one measure has one score of its own.
                if model.measures.iter().filter(|m| m.signal == c.measure).count() != 1 {
                    continue;
                }
                let (Some(b), Some(_)) = (c.before, c.now) else { continue };
                let mut as_before = now.clone();
                as_before.insert(c.measure.clone(), b);
                let own = |h: &Health| h.drivers.iter().find(|d| d.measure == c.measure).map(|d| d.score);
                let moved = own(&scored_now).zip(own(&score(&model, &as_before))).map(|(n, b)| n - b);
                if let Some(moved) = moved {
                    prop_assert!(c.points * moved >= -1e-9, "{:?} moved its own score by {}", c, moved);
                    if moved == 0.0 {
                        prop_assert!(c.points.abs() < 1e-9, "{:?}", c);
                    }
                }
            }
        }

        #[test]
        fn contributions_add_up_to_the_score_and_stay_in_range(
            model in any_model(),
            values in proptest::collection::vec(proptest::option::of(-20.0f64..40.0), 6),
        ) {
            let names = ["utilisation", "breadth", "csat", "cadence_kept", "contacts_engaged", "outcomes_on_track"];
            let signals: Signals = names
                .iter()
                .zip(&values)
                .filter_map(|(n, v)| v.map(|v| (n.to_string(), v)))
                .collect();
            let h = score(&model, &signals);
            let total: f64 = h.drivers.iter().map(|d| d.contribution).sum();
            match h.score {
                Some(s) => {
                    prop_assert!((total - s).abs() < 1e-6, "contributions {} vs score {}", total, s);
                    prop_assert!((0.0..=100.0 + 1e-9).contains(&s));
                }
                None => prop_assert!(total.abs() < 1e-12),
            }
            for d in &h.drivers {
                prop_assert!(d.contribution <= d.possible + 1e-9 && d.contribution >= -1e-12);
            }
        }
    }
}
