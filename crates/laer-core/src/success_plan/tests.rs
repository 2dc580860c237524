use super::*;
use crate::model::NewMilestone;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn outcome(name: &str, baseline: f64, target: f64, start: Option<&str>, target_date: Option<&str>) -> NewOutcome {
    NewOutcome {
        external_id: name.into(),
        account_id: 1,
        name: name.into(),
        unit: Some("%".into()),
        baseline,
        target,
        start_date: start.map(day),
        target_date: target_date.map(day),
        direction: Direction::implied(baseline, target),
    }
}

fn person(name: &str, team: Option<&str>, role: Option<&str>) -> Stakeholder {
    Stakeholder {
        name: Some(name.into()),
        title: None,
        team: team.map(Into::into),
        role: role.map(Into::into),
    }
}

fn milestone(id: i64, title: &str, due: &str, done: Option<&str>) -> Milestone {
    Milestone {
        id,
        fields: NewMilestone {
            external_id: None,
            account_id: 1,
            title: title.into(),
            due_on: day(due),
            done_on: done.map(day),
            side: MilestoneSide::Customer,
        },
    }
}

fn task(on: &str, title: &str, playbook: Option<&str>) -> InterventionRecord {
    InterventionRecord::Task {
        on: day(on),
        title: title.into(),
        playbook: playbook.map(Into::into),
    }
}

fn meeting(on: &str, kind: Option<&str>, team: Option<&str>) -> InterventionRecord {
    InterventionRecord::Meeting {
        on: day(on),
        kind: kind.map(Into::into),
        team: team.map(Into::into),
    }
}

const TODAY: &str = "2026-06-30";

/// Every active user count the plan asks for: `users(window)`.
fn counted(records: &mut PlanRecords, users: impl Fn(UsageWindow) -> u32) {
    records.usage.active_users = usage_windows(&records.interventions, day(TODAY))
        .into_iter()
        .map(|w| (w, users(w)))
        .collect();
}

fn records() -> PlanRecords {
    let mut r = PlanRecords {
        account: "Northwind Traders".into(),
        objective: Some("Every office online in a day".into()),
        outcomes: vec![
            // Evenly from 10 on Jan 1 to 60 on Dec 31.
            outcome(
                "Offices with local breakout",
                10.0,
                60.0,
                Some("2026-01-01"),
                Some("2026-12-31"),
            ),
            // Hours down from 48 to 8 by May: behind.
            outcome(
                "Ticket resolution time",
                48.0,
                8.0,
                Some("2026-01-01"),
                Some("2026-05-01"),
            ),
            outcome("Self-service rate", 10.0, 40.0, None, None),
        ],
        measurements: vec![
            vec![
                (day("2026-02-01"), 12.0),
                (day("2026-04-01"), 20.0),
                (day("2026-03-01"), 15.0),
                (day("2026-05-01"), 30.0),
                (day("2026-06-01"), 40.0),
                (day("2026-07-15"), 99.0), // after today: not known yet
            ],
            vec![(day("2026-03-01"), 40.0), (day("2026-05-20"), 38.0)],
            vec![],
        ],
        stakeholders: vec![
            person("Zoe Ng", Some("network"), Some("champion")),
            person("Ada Obi", Some("Executive"), Some("executive_sponsor")),
            person("Bo Li", None, Some("user")),
            person("Al Kay", Some("network"), None),
            Stakeholder {
                name: None,
                title: None,
                team: Some("network".into()),
                role: None,
            },
        ],
        milestones: vec![
            milestone(3, "First team trained", "2026-07-15", None),
            milestone(1, "Kick-off", "2026-01-10", Some("2026-01-09")),
            milestone(2, "Directory connected", "2026-03-01", None),
            milestone(4, "Second team trained", "2026-07-15", None),
        ],
        interventions: vec![
            meeting("2026-04-15", Some("training"), Some("application")),
            task(
                "2026-05-03",
                "Save plan for the renewal of Northwind",
                Some("renewal-at-risk"),
            ),
            meeting("2026-05-10", Some("check_in"), Some("network")),
            task(
                "2026-06-20",
                "Adoption plan for Northwind: seats unused",
                Some("adoption-below-target"),
            ),
            task("2026-03-01", "Hand-off: read the account", Some("handoff")),
            meeting("2025-05-01", Some("ebr"), Some("executive")), // over a year ago
        ],
        usage: UsageRecords {
            seats: Some(50.0),
            departments_known: 6,
            departments_active: 4,
            active_users: Vec::new(),
        },
    };
    counted(&mut r, |w| {
        if w == UsageWindow::before(day("2026-04-15")) {
            20
        } else if w == UsageWindow::after(day("2026-04-15")) {
            32
        } else if w.until == day("2026-07-01") {
            35 // the last 30 days
        } else if w.until <= day("2026-01-01") {
            0 // before the first use
        } else {
            25
        }
    });
    r
}

#[test]
fn plan_lists_the_agreed_outcomes_and_the_stakeholders_by_team() {
    let plan = assemble(&records(), day(TODAY));
    assert_eq!(plan.account, "Northwind Traders");
    assert_eq!(plan.objective.as_deref(), Some("Every office online in a day"));
    let names: Vec<&str> = plan.plan.outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Offices with local breakout",
            "Ticket resolution time",
            "Self-service rate"
        ]
    );
    assert_eq!(plan.plan.outcomes[1].baseline, 48.0);
    assert_eq!(plan.plan.outcomes[1].target_date, Some(day("2026-05-01")));
    let teams: Vec<(&str, Vec<&str>)> = plan
        .plan
        .stakeholders
        .iter()
        .map(|t| (t.team.as_str(), t.people.iter().map(|p| p.name.as_str()).collect()))
        .collect();
    assert_eq!(
        teams,
        [
            ("Executive", vec!["Ada Obi"]),
            ("Network", vec!["Al Kay", "Zoe Ng"]),
            ("Other", vec!["Bo Li"]),
        ],
        "the executives first, people without a team last, nameless contacts left out"
    );
    assert_eq!(
        plan.plan.stakeholders[0].people[0].role.as_deref(),
        Some("Executive sponsor")
    );
}

#[test]
fn implement_has_milestones_by_due_date_and_user_enablement() {
    let plan = assemble(&records(), day(TODAY));
    let milestones: Vec<(i64, MilestoneStatus)> = plan.implement.milestones.iter().map(|m| (m.id, m.status)).collect();
    assert_eq!(
        milestones,
        [
            (1, MilestoneStatus::Done),
            (2, MilestoneStatus::Late),
            (3, MilestoneStatus::OnTrack),
            (4, MilestoneStatus::OnTrack),
        ]
    );
    assert_eq!(
        MilestoneStatus::of(day("2026-06-30"), None, day(TODAY)),
        MilestoneStatus::OnTrack,
        "due today is not late yet"
    );
    let e = &plan.implement.enablement;
    assert_eq!((e.active_users, e.seats), (35, Some(50)));
    assert_eq!(e.utilisation, Some(0.7));
    assert_eq!((e.departments_active, e.departments_known), (4, 6));
    assert_eq!(e.trend.last(), Some(&(day(TODAY), 35)));
    assert!(
        e.trend.iter().all(|(_, users)| *users > 0),
        "the windows before any use are left out"
    );
    assert!(e.trend.windows(2).all(|w| (w[1].0 - w[0].0).num_days() == ACTIVE_DAYS));
    let none = assemble(&PlanRecords::default(), day(TODAY));
    assert_eq!(none.implement.enablement.trend, [(day(TODAY), 0)]);
    assert_eq!(none.implement.enablement.utilisation, None);
}

#[test]
fn monitor_tracks_each_outcome_against_its_planned_path() {
    let plan = assemble(&records(), day(TODAY));
    let [breakout, resolution, self_service] = &plan.monitor.outcomes[..] else {
        panic!("three outcomes");
    };
    assert_eq!(breakout.current, Some(40.0), "the latest measurement known today");
    assert!((breakout.progress.unwrap() - 0.6).abs() < 1e-9);
    assert_eq!(breakout.status, OutcomeStatus::OnTrack);
    assert_eq!(resolution.status, OutcomeStatus::Behind);
    assert_eq!(self_service.status, OutcomeStatus::NotMeasured);
    assert!(
        self_service.points.is_empty(),
        "no dates and no measurements: nothing to draw"
    );
    assert_eq!(plan.monitor.on_track_share, Some(0.5));

    // January to December, one point a month.
    let months: Vec<NaiveDate> = breakout.points.iter().map(|p| p.month).collect();
    assert_eq!(months.len(), 12);
    assert_eq!((months[0], months[11]), (day("2026-01-01"), day("2026-12-01")));
    let april = breakout.points[3];
    assert_eq!(april.measured, Some(20.0));
    let expected = 10.0 + 50.0 * 90.0 / 364.0; // on the day of the April measurement
    assert!(
        (april.planned - expected).abs() < 1e-9,
        "{} vs {expected}",
        april.planned
    );
    assert_eq!(breakout.points[6].measured, None, "July's measurement is not known yet");
    assert_eq!(breakout.points[11].planned, 60.0, "the path ends at the target");
    assert_eq!(breakout.points[0].measured, None);
    let resolution_months = resolution.points.len();
    assert_eq!(resolution_months, 5, "January to May");
}

#[test]
fn an_intervention_compares_the_30_days_before_with_the_30_days_from_it() {
    let plan = assemble(&records(), day(TODAY));
    let training = plan
        .optimize
        .iter()
        .find(|i| i.on == day("2026-04-15"))
        .expect("the training is listed");
    assert_eq!(training.label, "Training session with your application team");
    assert_eq!(training.detail, "Meeting: training, application team");
    let e = &training.effect;
    assert!(e.settled);
    assert_eq!(e.active_users, Some(Change { before: 20, after: 32 }));
    // Breakout: last before Apr 15 is Apr 1 (20 → 0.2), within the 30 days from it May 1
    // (30 → 0.4). Resolution: Mar 1 (40 → 0.2); nothing from Apr 15 to May 14.
    assert_eq!(e.outcomes_compared, 1);
    let progress = e.outcome_progress.unwrap();
    assert!((progress.before - 0.2).abs() < 1e-9 && (progress.after - 0.4).abs() < 1e-9);

    let rescue = plan.optimize.iter().find(|i| i.on == day("2026-05-03")).unwrap();
    assert_eq!(rescue.label, "Executive alignment");
    assert_eq!(rescue.playbook.as_deref(), Some("renewal-at-risk"));
    assert_eq!(
        rescue.effect.outcomes_compared, 2,
        "both measured before and within the 30 days after"
    );
    let p = rescue.effect.outcome_progress.unwrap();
    // Breakout May 1 → Jun 1: 30 → 40 (0.4 → 0.6); resolution Mar 1 → May 20: 40 → 38
    // (0.2 → 0.25).
    assert!((p.before - 0.3).abs() < 1e-9 && (p.after - 0.425).abs() < 1e-9, "{p:?}");

    let recent = plan.optimize.iter().find(|i| i.on == day("2026-06-20")).unwrap();
    assert!(!recent.effect.settled, "the 30 days after have not passed");
    assert_eq!(
        (recent.effect.active_users, recent.effect.outcome_progress),
        (None, None)
    );
}

#[test]
fn optimize_lists_recent_interventions_newest_first_without_routine_and_owner_changes() {
    let plan = assemble(&records(), day(TODAY));
    let listed: Vec<(NaiveDate, &str)> = plan.optimize.iter().map(|i| (i.on, i.label.as_str())).collect();
    assert_eq!(
        listed,
        [
            (day("2026-06-20"), "User enablement plan"),
            (day("2026-05-03"), "Executive alignment"),
            (day("2026-04-15"), "Training session with your application team"),
        ],
        "no check-in, no hand-off, nothing from over a year ago"
    );
    let mut many = records();
    many.interventions = (1..=20)
        .map(|d| meeting(&format!("2026-05-{d:02}"), Some("workshop"), None))
        .collect();
    let plan = assemble(&many, day(TODAY));
    assert_eq!(plan.optimize.len(), MAX_INTERVENTIONS);
    assert_eq!(plan.optimize[0].on, day("2026-05-20"));
}

#[test]
fn the_store_is_asked_for_the_trend_and_each_interventions_windows_once() {
    let r = records();
    let windows = usage_windows(&r.interventions, day(TODAY));
    // 12 trend windows, and before/after for 3 interventions.
    assert_eq!(windows.len(), 12 + 6);
    assert!(windows.contains(&UsageWindow {
        from: day("2026-06-01"),
        until: day("2026-07-01"),
    }));
    assert!(windows.contains(&UsageWindow {
        from: day("2026-03-16"),
        until: day("2026-04-15"),
    }));
    assert!(windows.contains(&UsageWindow {
        from: day("2026-04-15"),
        until: day("2026-05-15"),
    }));
    let twice = [r.interventions.clone(), r.interventions].concat();
    assert_eq!(usage_windows(&twice, day(TODAY)), windows);
}

/// Every text value of a JSON document.
fn texts(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| texts(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| texts(v, out)),
        _ => {}
    }
}

#[test]
fn the_customer_view_uses_none_of_the_vendors_words() {
    let mut r = records();
    // Everything the vendor's records may hold.
    for (pb, title) in [
        ("renewal-preparation", "Prepare the renewal of Northwind on 2026-09-01"),
        (
            "expansion-opportunity",
            "CS-qualified lead: Northwind is near its seat limit",
        ),
        ("support-spike", "Support spike at Northwind: review the open cases"),
        (
            "outcome-off-track",
            "Outcome off track at Northwind: agree a recovery plan",
        ),
        ("onboarding", "Kick-off with Northwind: agree the outcomes"),
        (
            "executive-sponsor-quiet",
            "Re-engage the executive sponsor (health 42, churn risk)",
        ),
        ("custom-upsell-play", "Upsell the expansion pack: land and expand"),
    ] {
        r.interventions.push(task("2026-05-05", title, Some(pb)));
    }
    r.interventions
        .push(task("2026-05-06", "Churn risk call: renewal at risk", None));
    r.interventions
        .push(meeting("2026-05-07", Some("renewal_call"), Some("executive")));
    r.interventions.push(meeting("2026-05-08", Some("onboarding"), None));
    let plan = assemble(&r, day(TODAY));
    let internal = serde_json::to_value(&plan).unwrap();
    let mut all = Vec::new();
    texts(&internal, &mut all);
    assert!(
        !internal_words(&all.join("\n")).is_empty(),
        "the team's own plan keeps its words (else this test proves nothing)"
    );

    let customer = serde_json::to_value(plan.for_customer()).unwrap();
    let mut shown = Vec::new();
    texts(&customer, &mut shown);
    let text = shown.join("\n");
    assert_eq!(internal_words(&text), Vec::<&str>::new(), "in:\n{text}");
    for label in [
        "Business review",
        "Wider roll-out discussed",
        "Follow-up by your success team",
        "Meeting with your executive team",
        "Kick-off meeting",
    ] {
        assert!(text.contains(label), "{label} in:\n{text}");
    }
}

#[test]
fn the_customer_sees_one_intervention_per_day_and_kind() {
    let mut r = records();
    r.interventions = vec![
        task("2026-05-02", "Save plan", Some("renewal-at-risk")),
        task(
            "2026-05-02",
            "Executive alignment meeting with Northwind",
            Some("renewal-at-risk"),
        ),
    ];
    let plan = assemble(&r, day(TODAY));
    assert_eq!(plan.optimize.len(), 2, "the team sees both tasks");
    let customer = plan.for_customer();
    assert_eq!(customer.optimize.len(), 1);
    assert_eq!(customer.optimize[0].label, "Executive alignment");
}

#[test]
fn internal_words_are_whole_words_in_any_case() {
    assert_eq!(
        internal_words("Renewal due; AT-RISK account"),
        ["renewal", "risk", "at risk"]
    );
    assert_eq!(internal_words("Health Score 42"), ["health score"]);
    assert_eq!(
        internal_words("Maple Health Clinics"),
        Vec::<&str>::new(),
        "a customer's name"
    );
    assert_eq!(
        internal_words("the support-spike playbook"),
        ["playbook", "support-spike"]
    );
    assert_eq!(
        internal_words("Netherlands offices, Highland landscape, adoptive, renewable energy, riskless"),
        Vec::<&str>::new()
    );
    assert_eq!(internal_words("land"), ["land"]);
}

#[test]
fn every_shipped_playbook_has_words_for_the_customer() {
    for playbook in crate::automation::Playbooks::default().playbooks {
        let record = task("2026-06-01", &playbook.title, Some(&playbook.name));
        let label = customer::label_of(&record).unwrap_or_default();
        assert_ne!(label, "", "{}", playbook.name);
        assert_ne!(label, customer::OTHER_TASK, "{} has words of its own", playbook.name);
        assert_eq!(internal_words(&label), Vec::<&str>::new(), "{label}");
        assert!(
            internal_words(&playbook.name).contains(&playbook.name.as_str()),
            "{} is an internal word",
            playbook.name
        );
    }
}
