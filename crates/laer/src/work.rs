//! `laer playbooks`, `laer tasks` and `laer coverage`: the coverage model, the playbooks
//! and the work they create (docs/automation.md).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use laer_app::automation::{Automation, COVERAGE_SETTING, PLAYBOOKS_SETTING};
use laer_core::automation::coverage::role_label;
use laer_core::automation::{CoverageRules, Member, Playbooks};
use laer_core::model::TaskStatus;
use laer_store::{Store, TaskChange, TaskFilter, TaskRow};
use serde::Serialize;

#[derive(Subcommand)]
pub enum PlaybooksCommand {
    /// The playbooks in effect, with their runs and open tasks.
    List(JsonArg),
    /// Print the playbooks in effect as a file (TOML).
    Show,
    /// Replace the playbooks with a file's (checked first; every node uses them).
    Set(SetArgs),
    /// Playbook runs: which fired for which account, when and why.
    Runs(RunsArgs),
}

#[derive(Subcommand)]
pub enum TasksCommand {
    /// Tasks in queue order: due first, then the larger accounts.
    List(TaskListArgs),
    /// Mark a task done.
    Done(TaskArgs),
    /// Open a done or cancelled task again.
    Reopen(TaskArgs),
    /// Cancel a task.
    Cancel(TaskArgs),
    /// Hide a task from the queue until a day.
    Snooze(SnoozeArgs),
    /// Give a task to another team member.
    Reassign(ReassignArgs),
    /// Add a comment to a task.
    Comment(CommentArgs),
}

#[derive(Subcommand)]
pub enum CoverageCommand {
    /// Who covers each account now, in which role.
    Show(CoverageShowArgs),
    /// Print the coverage rules in effect as a file (TOML).
    Rules,
    /// Replace the coverage rules with a file's (checked first; every node uses them).
    Set(SetArgs),
    /// Apply the coverage rules and the playbooks to every account now (the server does
    /// it on its own every day and after every change).
    Apply(ApplyArgs),
    /// Give a role on an account to a team member by hand (the rules then leave it), or
    /// give it back to the rules with `auto`.
    Assign(AssignArgs),
}

#[derive(Args)]
pub struct ApplyArgs {
    /// Only say what applying would change (owners, playbooks, tasks); write nothing.
    #[arg(long)]
    preview: bool,
}

#[derive(Args)]
pub struct JsonArg {
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub struct ActorArg {
    /// Who does it (kept in the audit log); default $USER.
    #[arg(long, env = "USER", default_value = "cli")]
    pub(crate) actor: String,
}

#[derive(Args)]
pub struct SetArgs {
    file: PathBuf,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct RunsArgs {
    /// Only this playbook's runs.
    #[arg(long)]
    playbook: Option<String>,
    /// Only this account's (external id).
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Args)]
pub struct TaskListArgs {
    /// Only tasks of this team member (email or external id).
    #[arg(long, conflicts_with = "unassigned")]
    assignee: Option<String>,
    /// Only tasks nobody is assigned to.
    #[arg(long)]
    unassigned: bool,
    /// Only this account's (external id).
    #[arg(long)]
    account: Option<String>,
    /// Only tasks of this playbook (`handoff`: changes of owner).
    #[arg(long)]
    playbook: Option<String>,
    /// open, done, cancelled or all.
    #[arg(long, default_value = "open")]
    status: String,
    /// Include tasks snoozed past today.
    #[arg(long)]
    snoozed: bool,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Args)]
pub struct TaskArgs {
    id: i64,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct SnoozeArgs {
    id: i64,
    /// The day it comes back (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    until: String,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct ReassignArgs {
    id: i64,
    /// The team member (email or external id).
    #[arg(long)]
    to: String,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct CommentArgs {
    id: i64,
    text: String,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct AssignArgs {
    /// The account's external id.
    account: String,
    /// account_executive, csm, renewal_specialist or expansion_specialist.
    role: String,
    /// The team member (email or external id), or auto.
    member: String,
    /// Why (kept with the assignment and in the audit log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct CoverageShowArgs {
    /// Only this account (external id).
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    json: JsonArg,
}

pub(crate) fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

async fn member(store: &Store, key: &str) -> Result<Member> {
    store
        .team_members()
        .await?
        .into_iter()
        .find(|m| m.external_id == key || m.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(key)))
        .with_context(|| format!("no team member with email or external id {key:?}"))
}

pub(crate) async fn account_id(store: &Store, external_id: &str) -> Result<i64> {
    Ok(store
        .account_by_external_id(external_id)
        .await?
        .with_context(|| format!("no account with external id {external_id:?}"))?
        .id)
}

pub async fn playbooks(store: &Store, command: PlaybooksCommand) -> Result<()> {
    let automation = Automation::in_effect(store).await?;
    match command {
        PlaybooksCommand::List(JsonArg { json }) => {
            let out = laer_app::automation::playbook_summaries(store, &automation).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let mut s = format!(
                    "{:<24} {:<8} {:>6} {:>6} {:>6}  {}\n",
                    "playbook", "enabled", "runs", "open", "tasks", "when"
                );
                for p in &out {
                    let _ = writeln!(
                        s,
                        "{:<24} {:<8} {:>6} {:>6} {:>6}  {}",
                        p.name,
                        if p.enabled { "yes" } else { "no" },
                        p.runs,
                        p.open_episodes,
                        p.open_tasks,
                        p.trigger
                    );
                }
                print!("{s}");
            }
        }
        PlaybooksCommand::Show => print!("{}", automation.playbooks.to_toml()),
        PlaybooksCommand::Set(args) => {
            let text =
                std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
            let playbooks = Playbooks::from_toml(&text).with_context(|| format!("in {}", args.file.display()))?;
            store
                .save_setting(PLAYBOOKS_SETTING, &playbooks.to_toml(), &args.actor.actor)
                .await?;
            eprintln!("{} playbooks saved", playbooks.playbooks.len());
        }
        PlaybooksCommand::Runs(args) => {
            let account = match &args.account {
                Some(a) => Some(account_id(store, a).await?),
                None => None,
            };
            let runs = store.playbook_runs(args.playbook.as_deref(), account).await?;
            if args.json.json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                let mut s = format!(
                    "{:<10} {:<24} {:>8} {:<6} {:<24} {}\n",
                    "fired", "playbook", "account", "open", "cause", "evidence"
                );
                for r in &runs {
                    let _ = writeln!(
                        s,
                        "{:<10} {:<24} {:>8} {:<6} {:<24} {}",
                        r.fired_on,
                        r.playbook,
                        r.account_id,
                        if r.open { "yes" } else { "no" },
                        r.cause,
                        r.evidence
                    );
                }
                print!("{s}");
            }
        }
    }
    Ok(())
}

pub async fn tasks(store: &Store, command: TasksCommand) -> Result<()> {
    let (id, change, actor) = match command {
        TasksCommand::List(args) => return list_tasks(store, args).await,
        TasksCommand::Done(a) => (a.id, TaskChange::Done, a.actor.actor),
        TasksCommand::Reopen(a) => (a.id, TaskChange::Reopen, a.actor.actor),
        TasksCommand::Cancel(a) => (a.id, TaskChange::Cancel, a.actor.actor),
        TasksCommand::Snooze(a) => {
            let until: NaiveDate = a
                .until
                .parse()
                .with_context(|| format!("--until: expected a date YYYY-MM-DD, found {:?}", a.until))?;
            (a.id, TaskChange::Snooze(until), a.actor.actor)
        }
        TasksCommand::Reassign(a) => {
            let to = member(store, &a.to).await?;
            (a.id, TaskChange::Reassign(to.id), a.actor.actor)
        }
        TasksCommand::Comment(a) => (a.id, TaskChange::Comment(a.text), a.actor.actor),
    };
    let task = store.update_task(id, &change, &actor).await?;
    eprintln!("task {}: {} ({})", task.id, task.title, task.status);
    Ok(())
}

async fn list_tasks(store: &Store, args: TaskListArgs) -> Result<()> {
    let status = match args.status.as_str() {
        "all" => None,
        s => Some(
            s.parse::<TaskStatus>()
                .map_err(|e| anyhow::anyhow!("--status: {e}, or all"))?,
        ),
    };
    let filter = TaskFilter {
        assignee_id: match &args.assignee {
            Some(a) => Some(member(store, a).await?.id),
            None => None,
        },
        unassigned: args.unassigned,
        account_id: match &args.account {
            Some(a) => Some(account_id(store, a).await?),
            None => None,
        },
        playbook: args.playbook,
        status,
        awake_on: (!args.snoozed).then(today),
        asleep_on: None,
        limit: None,
    };
    let tasks = store.tasks(&filter, today()).await?;
    if args.json.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "tasks": tasks }))?
        );
    } else {
        print!("{}", task_table(&tasks));
    }
    Ok(())
}

fn task_table(tasks: &[TaskRow]) -> String {
    let mut s = format!(
        "{:>6} {:<10} {:<9} {:<22} {:<20} {:<22} {}\n",
        "id", "due", "status", "account", "assignee", "playbook", "title"
    );
    for t in tasks {
        let clip = |text: Option<&str>, n: usize| text.unwrap_or("-").chars().take(n).collect::<String>();
        let _ = writeln!(
            s,
            "{:>6} {:<10} {:<9} {:<22} {:<20} {:<22} {}",
            t.id,
            t.due_on.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
            t.status.as_str(),
            clip(t.account.as_deref(), 22),
            clip(t.assignee.as_deref(), 20),
            clip(t.playbook.as_deref(), 22),
            t.title
        );
    }
    let _ = writeln!(s, "{} tasks", tasks.len());
    s
}

#[derive(Serialize)]
struct CoverageOut {
    account_id: i64,
    external_id: String,
    name: Option<String>,
    owners: Vec<OwnerOut>,
}

#[derive(Serialize)]
struct OwnerOut {
    role: laer_core::model::TeamRole,
    team_member_id: i64,
    name: String,
}

pub async fn coverage(store: &Store, model: &laer_core::health::HealthModel, command: CoverageCommand) -> Result<()> {
    match command {
        CoverageCommand::Show(args) => {
            let owners = store.current_owners(today()).await?;
            let names = store.account_names().await?;
            let only = match &args.account {
                Some(a) => Some(account_id(store, a).await?),
                None => None,
            };
            let mut out: Vec<CoverageOut> = names
                .into_iter()
                .filter(|(id, _)| only.is_none_or(|o| o == *id))
                .map(|(id, n)| CoverageOut {
                    account_id: id,
                    external_id: n.external_id,
                    name: n.name,
                    owners: owners
                        .get(&id)
                        .map(|os| {
                            os.iter()
                                .map(|o| OwnerOut {
                                    role: o.role,
                                    team_member_id: o.member_id,
                                    name: o.name.clone(),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect();
            out.sort_by(|a, b| a.external_id.cmp(&b.external_id));
            if args.json.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "accounts": out }))?
                );
            } else {
                let mut s = format!("{:<14} {:<28} {}\n", "account", "name", "owners");
                for a in &out {
                    let owners: Vec<String> = a
                        .owners
                        .iter()
                        .map(|o| format!("{}: {}", role_label(o.role), o.name))
                        .collect();
                    let owners = if owners.is_empty() {
                        "tech-touch or none".to_string()
                    } else {
                        owners.join(", ")
                    };
                    let _ = writeln!(
                        s,
                        "{:<14} {:<28} {}",
                        a.external_id,
                        a.name.as_deref().unwrap_or("-"),
                        owners
                    );
                }
                print!("{s}");
            }
        }
        CoverageCommand::Rules => print!("{}", Automation::in_effect(store).await?.coverage.to_toml()),
        CoverageCommand::Set(args) => {
            let text =
                std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
            let rules = CoverageRules::from_toml(&text).with_context(|| format!("in {}", args.file.display()))?;
            store
                .save_setting(COVERAGE_SETTING, &rules.to_toml(), &args.actor.actor)
                .await?;
            eprintln!("coverage rules saved: {} rules", rules.rules.len());
        }
        CoverageCommand::Assign(args) => {
            let role: laer_core::model::TeamRole = args.role.parse().map_err(|e| anyhow::anyhow!("role: {e}"))?;
            let account = store
                .account_by_external_id(&args.account)
                .await?
                .with_context(|| format!("no account with external id {:?}", args.account))?;
            let name = account
                .fields
                .name
                .clone()
                .unwrap_or_else(|| account.fields.external_id.clone());
            let actor = &args.actor.actor;
            if args.member == "auto" {
                store
                    .assign_by_hand(account.id, role, None, &args.reason, actor, today())
                    .await?;
                eprintln!(
                    "{}: {} is up to the coverage rules again",
                    args.account,
                    role_label(role)
                );
            } else {
                let m = member(store, &args.member).await?;
                let draft = laer_core::automation::coverage::handoff_by_hand(role, &name, &args.reason, actor, today());
                store
                    .assign_by_hand(account.id, role, Some((m.id, &draft)), &args.reason, actor, today())
                    .await?;
                eprintln!("{}: {} is now {} (by hand)", args.account, role_label(role), m.name);
            }
        }
        CoverageCommand::Apply(ApplyArgs { preview: true }) => {
            let automation = laer_app::automation::Automation::in_effect(store).await?;
            let (preview, _) = laer_app::automation::preview(store, model, &automation, today()).await?;
            let phrases = preview.in_words();
            if phrases.is_empty() {
                println!("Nothing would change.");
            } else {
                println!("Applying would:");
                for phrase in phrases {
                    println!("- {phrase}");
                }
                for (name, fires, tasks) in preview.by_playbook() {
                    println!("  {name}: {fires} fired, {tasks} tasks");
                }
            }
        }
        CoverageCommand::Apply(ApplyArgs { preview: false }) => {
            let o = laer_app::automation::apply_to_all(store, model, today())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no accounts to apply the rules to"))?;
            println!(
                "{} owners started, {} ended, {} roles nobody can take; {} playbook runs, {} closed; {} tasks",
                o.owners_started, o.owners_ended, o.uncovered, o.runs_fired, o.runs_closed, o.tasks_created
            );
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Send events to a URL; prints the secret that signs the requests (shown once).
    Add(WebhookAddArgs),
    /// The webhook endpoints and their events.
    List(JsonArg),
    /// Stop sending to an endpoint.
    Remove(WebhookRemoveArgs),
}

#[derive(Args)]
pub struct WebhookAddArgs {
    url: String,
    /// Event types, comma-separated, or * for all (docs/automation.md lists them).
    #[arg(long, default_value = "*", value_delimiter = ',')]
    events: Vec<String>,
    #[command(flatten)]
    actor: ActorArg,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Args)]
pub struct WebhookRemoveArgs {
    id: i64,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct DeliveriesArgs {
    /// pending, delivered, failed or skipped; default all.
    #[arg(long)]
    status: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    #[command(flatten)]
    json: JsonArg,
}

pub async fn webhooks(
    store: &Store,
    command: WebhooksCommand,
    key_file: Option<&std::path::Path>,
    data_dir: impl FnOnce() -> Result<std::path::PathBuf>,
) -> Result<()> {
    match command {
        WebhooksCommand::Add(args) => {
            let events: Vec<String> = args.events.iter().map(|e| e.trim().to_string()).collect();
            let secrets = crate::secrets::prepare(
                store,
                crate::secrets::load(key_file, data_dir, crate::secrets::Missing::Make)?,
            )
            .await?;
            let laer_store::Created { record: id, secret } = store
                .add_webhook(&args.url, &events, &args.actor.actor, &secrets)
                .await?;
            if args.json.json {
                println!(
                    "{}",
                    serde_json::json!({"id": id, "url": args.url, "events": events, "secret": secret})
                );
            } else {
                println!("webhook {id}: {} for {}", args.url, events.join(", "));
                println!("secret (shown once; verify the Laer-Signature header with it): {secret}");
            }
        }
        WebhooksCommand::List(JsonArg { json }) => {
            let hooks = store.webhooks().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hooks)?);
            } else {
                for h in &hooks {
                    let state = if h.disabled_at.is_some() { "removed" } else { "active" };
                    println!("{:>4} {:<8} {} {}", h.id, state, h.url, h.events.join(","));
                }
            }
        }
        WebhooksCommand::Remove(args) => {
            store.disable_webhook(args.id, &args.actor.actor).await?;
            eprintln!("webhook {} removed", args.id);
        }
    }
    Ok(())
}

pub async fn deliveries(store: &Store, args: DeliveriesArgs) -> Result<()> {
    if let Some(s) = &args.status
        && !["pending", "delivered", "failed", "skipped"].contains(&s.as_str())
    {
        bail!("--status: expected pending, delivered, failed or skipped, found {s:?}");
    }
    let rows = store.deliveries(args.status.as_deref(), args.limit).await?;
    if args.json.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "deliveries": rows }))?
        );
    } else {
        for d in &rows {
            let to = d
                .recipient
                .clone()
                .or(d.webhook_id.map(|w| format!("webhook {w}")))
                .unwrap_or_default();
            println!(
                "{:>6} {:<8} {:<10} {:<22} {:<32} {} {}",
                d.id,
                d.channel,
                d.status,
                d.event,
                to,
                d.attempts,
                d.last_error.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}
