//! `laer plans`: an account's success plan, its milestones, and the links that share it
//! with the customer (docs/success-plans.md).

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use laer_core::model::{MilestoneSide, NewMilestone};
use laer_core::success_plan::{Change, Effect, MilestoneStatus, OutcomeStatus, SuccessPlan, assemble};
use laer_store::{MilestoneChange, Store};

use crate::work::{ActorArg, JsonArg, account_id, today};

#[derive(Subcommand)]
pub enum PlansCommand {
    /// An account's success plan: Plan, Implement, Monitor, Optimize.
    Show(ShowArgs),
    /// Create a link that shows the plan to the customer without a login; prints its
    /// path (/plan/TOKEN) once.
    Share(AccountArgs),
    /// An account's share links (never their tokens).
    Links(LinksArgs),
    /// Revoke a share link by its id: it then finds nothing.
    Revoke(RevokeArgs),
    /// The plan's implementation milestones.
    #[command(subcommand)]
    Milestone(MilestoneCommand),
}

#[derive(Subcommand)]
pub enum MilestoneCommand {
    /// Add a milestone to an account's plan.
    Add(AddArgs),
    /// Mark a milestone done (today, or --on DATE).
    Done(DoneArgs),
}

#[derive(Args)]
pub struct ShowArgs {
    /// The account's external id.
    account: String,
    /// Only what the customer sees, in their words.
    #[arg(long)]
    customer: bool,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Args)]
pub struct AccountArgs {
    /// The account's external id.
    account: String,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct LinksArgs {
    /// The account's external id.
    account: String,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Args)]
pub struct RevokeArgs {
    link_id: i64,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct AddArgs {
    /// The account's external id.
    account: String,
    #[arg(long)]
    title: String,
    /// The day it is due (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    due: String,
    /// Whose work it is: customer or vendor.
    #[arg(long, default_value = "customer")]
    side: String,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct DoneArgs {
    id: i64,
    /// The day it was reached (YYYY-MM-DD); default today.
    #[arg(long, value_name = "DATE")]
    on: Option<String>,
    #[command(flatten)]
    actor: ActorArg,
}

fn date(text: &str, option: &str) -> Result<NaiveDate> {
    text.trim()
        .parse()
        .with_context(|| format!("{option}: expected a date YYYY-MM-DD, found {text:?}"))
}

pub async fn plans(store: &Store, command: PlansCommand) -> Result<()> {
    match command {
        PlansCommand::Show(args) => {
            let id = account_id(store, &args.account).await?;
            let records = store
                .plan_records(id, today())
                .await?
                .with_context(|| format!("no account {}", args.account))?;
            let plan = assemble(&records, today());
            match (args.json.json, args.customer) {
                (true, true) => println!("{}", serde_json::to_string_pretty(&plan.for_customer())?),
                (true, false) => println!("{}", serde_json::to_string_pretty(&plan)?),
                (false, customer) => print!("{}", plan_text(&plan, customer)),
            }
        }
        PlansCommand::Share(args) => {
            let id = account_id(store, &args.account).await?;
            let laer_store::Created {
                record: link,
                secret: token,
            } = store.create_share_link(id, &args.actor.actor).await?;
            eprintln!(
                "share link {} created; the path below is shown only now (serve it from your laer address)",
                link.id
            );
            println!("/plan/{token}");
        }
        PlansCommand::Links(args) => {
            let id = account_id(store, &args.account).await?;
            let links = store.share_links(id).await?;
            if args.json.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "links": links }))?
                );
            } else {
                let mut s = format!(
                    "{:>5}  {:<14} {:<17} {:<10} {}\n",
                    "id", "link", "created", "status", "by"
                );
                for l in &links {
                    let status = l
                        .revoked_at
                        .map_or("live".to_string(), |at| format!("revoked {}", at.date_naive()));
                    let _ = writeln!(
                        s,
                        "{:>5}  {:<14} {:<17} {:<10} {}",
                        l.id,
                        format!("{}…", l.prefix),
                        l.created_at.format("%Y-%m-%d %H:%M"),
                        status,
                        l.created_by
                    );
                }
                print!("{s}");
            }
        }
        PlansCommand::Revoke(args) => {
            let link = store.revoke_share_link(args.link_id, &args.actor.actor).await?;
            eprintln!("share link {} of account {} revoked", link.id, link.account_id);
        }
        PlansCommand::Milestone(MilestoneCommand::Add(args)) => {
            let id = account_id(store, &args.account).await?;
            let side: MilestoneSide = args.side.parse().map_err(|e| anyhow::anyhow!("--side: {e}"))?;
            let milestone = NewMilestone::new(id, &args.title, date(&args.due, "--due")?, side)
                .map_err(|e| anyhow::anyhow!("--{}: {e}", e.field()))?;
            let m = store.add_milestone(&milestone, &args.actor.actor).await?;
            println!("{}", m.id);
            eprintln!("milestone {} added: {} (due {})", m.id, m.fields.title, m.fields.due_on);
        }
        PlansCommand::Milestone(MilestoneCommand::Done(args)) => {
            let on = match &args.on {
                Some(on) => date(on, "--on")?,
                None => today(),
            };
            match store
                .change_milestone(args.id, MilestoneChange::Done(on), &args.actor.actor)
                .await?
            {
                Some(m) => eprintln!("milestone {}: {} done on {on}", m.id, m.fields.title),
                None => bail!("milestone {} is gone", args.id),
            }
        }
    }
    Ok(())
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".into(), |r| format!("{:.0}%", r * 100.0))
}

fn value(v: Option<f64>, unit: Option<&str>) -> String {
    match (v, unit) {
        (None, _) => "-".into(),
        (Some(v), Some("%")) => format!("{v}%"),
        (Some(v), Some(u)) => format!("{v} {u}"),
        (Some(v), None) => v.to_string(),
    }
}

fn effect(e: &Effect) -> String {
    fn change<T: std::fmt::Display>(c: &Option<Change<T>>) -> String {
        c.as_ref()
            .map_or_else(|| "-".into(), |c| format!("{} -> {}", c.before, c.after))
    }
    if !e.settled {
        return "too early to tell".into();
    }
    let progress = e.outcome_progress.map(|c| Change {
        before: percent(Some(c.before)),
        after: percent(Some(c.after)),
    });
    format!("users {}, outcomes {}", change(&e.active_users), change(&progress))
}

/// The plan as text; `customer`: only what the customer sees.
fn plan_text(plan: &SuccessPlan, customer: bool) -> String {
    let mut s = format!("Success plan: {}, as of {}\n", plan.account, plan.as_of);
    if let Some(o) = &plan.objective {
        let _ = writeln!(s, "Objective: {o}");
    }
    s.push_str("\nPLAN: the outcomes agreed\n");
    for o in &plan.plan.outcomes {
        let unit = o.unit.as_deref();
        let by = o.target_date.map(|d| format!(" by {d}")).unwrap_or_default();
        let _ = writeln!(
            s,
            "  {}: {} -> {}{by}",
            o.name,
            value(Some(o.baseline), unit),
            value(Some(o.target), unit)
        );
    }
    for t in &plan.plan.stakeholders {
        let people: Vec<String> = t
            .people
            .iter()
            .map(|p| {
                let about: Vec<&str> = [p.title.as_deref(), p.role.as_deref()].into_iter().flatten().collect();
                if about.is_empty() {
                    p.name.clone()
                } else {
                    format!("{} ({})", p.name, about.join(", "))
                }
            })
            .collect();
        let _ = writeln!(s, "  {}: {}", t.team, people.join("; "));
    }
    s.push_str("\nIMPLEMENT: milestones\n");
    for m in &plan.implement.milestones {
        let status = match m.status {
            MilestoneStatus::Done => format!("done {}", m.done_on.map(|d| d.to_string()).unwrap_or_default()),
            MilestoneStatus::OnTrack => "planned".into(),
            MilestoneStatus::Late => "LATE".into(),
        };
        let _ = writeln!(
            s,
            "  {:>5}  {}  {:<8} {:<16} {}",
            m.id,
            m.due_on,
            m.side.as_str(),
            status,
            m.title
        );
    }
    let e = &plan.implement.enablement;
    let _ = writeln!(
        s,
        "  active users, 30 days: {}{} ({}); departments {} of {}",
        e.active_users,
        e.seats.map(|n| format!(" of {n} seats")).unwrap_or_default(),
        percent(e.utilisation),
        e.departments_active,
        e.departments_known
    );
    s.push_str("\nMONITOR: outcomes against the plan\n");
    for o in &plan.monitor.outcomes {
        let status = match o.status {
            OutcomeStatus::Reached => "reached",
            OutcomeStatus::OnTrack => "on track",
            OutcomeStatus::Behind => "behind plan",
            OutcomeStatus::NotMeasured => "not measured",
        };
        let _ = writeln!(
            s,
            "  {}: now {}, {} of the way (plan {}): {status}",
            o.name,
            value(o.current, o.unit.as_deref()),
            percent(o.progress),
            percent(o.expected)
        );
    }
    s.push_str("\nOPTIMIZE: interventions and the 30 days after\n");
    if customer {
        for i in &plan.for_customer().optimize {
            let _ = writeln!(s, "  {}  {}: {}", i.on, i.label, effect(&i.effect));
        }
    } else {
        for i in &plan.optimize {
            let _ = writeln!(
                s,
                "  {}  {} [{}{}]: {}",
                i.on,
                i.label,
                i.playbook.as_deref().map(|p| format!("{p}: ")).unwrap_or_default(),
                i.detail,
                effect(&i.effect)
            );
        }
    }
    s
}
