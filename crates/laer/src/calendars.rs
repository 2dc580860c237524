//! `laer calendars`: team members' calendars, by CalDAV or a published iCalendar feed,
//! whose meetings with customers become touchpoints (docs/work.md#calendars).

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use laer_core::calendar::{CalendarKind, CalendarReport};
use laer_store::{CalendarConnection, NewCalendar, Store};

use crate::secrets::{Missing, load, prepare};
use crate::work::{ActorArg, JsonArg};

#[derive(Subcommand)]
pub enum CalendarsCommand {
    /// Connect a team member's calendar. Its address (and, for CalDAV, the password on a
    /// second line) is read from standard input or a prompt, never from the command line:
    /// a feed's address is all it takes to read the calendar.
    Add(AddArgs),
    /// The calendars, with their last sync; never their addresses.
    List(JsonArg),
    /// Sync a calendar now and print what it found.
    Sync(SyncArgs),
    /// Disconnect a calendar (the meetings it made stay).
    Remove(RemoveArgs),
}

#[derive(Args)]
pub struct AddArgs {
    /// The team member whose calendar it is: their email or id.
    #[arg(long, value_name = "EMAIL|ID")]
    member: String,
    /// caldav (a server, with a user name and an app password) or feed (a published
    /// iCalendar address: Google Calendar's secret address, Outlook's ICS link).
    #[arg(long)]
    kind: CalendarKind,
    /// CalDAV's user name.
    #[arg(long, required_if_eq("kind", "caldav"))]
    username: Option<String>,
    /// The zone of the calendar's times without one, and of whole days (IANA name).
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    time_zone: String,
    /// Minutes between syncs.
    #[arg(long, default_value_t = 15, value_name = "MINUTES")]
    every: i64,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct SyncArgs {
    id: i64,
    /// The sync's report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RemoveArgs {
    id: i64,
    #[command(flatten)]
    actor: ActorArg,
}

/// A secret from a prompt on a terminal, else the next line of standard input.
fn read_secret(lines: &mut impl Iterator<Item = std::io::Result<String>>, prompt: &str) -> Result<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)?
    } else {
        lines.next().transpose()?.unwrap_or_default()
    };
    Ok(value.trim().to_string())
}

pub async fn calendars(
    store: &Store,
    command: CalendarsCommand,
    key_file: Option<&Path>,
    data_dir: impl Fn() -> Result<PathBuf>,
) -> Result<()> {
    match command {
        CalendarsCommand::Add(args) => {
            let members = store.team_members().await?;
            let wanted = args.member.trim();
            let member = members
                .iter()
                .find(|m| {
                    m.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(wanted)) || m.id.to_string() == wanted
                })
                .with_context(|| format!("--member: no team member has the email or id {wanted:?}"))?;
            let stdin = std::io::stdin();
            let mut lines = stdin.lock().lines();
            let url = read_secret(&mut lines, "The calendar's address: ")?;
            if url.is_empty() {
                bail!(
                    "give the calendar's address on standard input (and for CalDAV its password on the next line): \
                     printf '%s\\n' \"$URL\" | laer calendars add --member EMAIL --kind feed"
                );
            }
            let password = match args.kind {
                CalendarKind::Caldav => Some(read_secret(&mut lines, "The password (an app password): ")?),
                CalendarKind::Feed => None,
            };
            let secrets = prepare(store, load(key_file, data_dir, Missing::Make)?).await?;
            let id = store
                .add_calendar(
                    &NewCalendar {
                        team_member_id: member.id,
                        kind: args.kind,
                        url: &url,
                        username: args.username.as_deref(),
                        password: password.as_deref(),
                        time_zone: &args.time_zone,
                        every_minutes: args.every,
                    },
                    &secrets,
                    &args.actor.actor,
                )
                .await?;
            eprintln!(
                "calendar {id} added ({}) for {}: a running server syncs it within a minute, then every {} minutes \
                 (laer calendars sync {id} syncs it now)",
                args.kind.label(),
                member.name,
                args.every
            );
        }
        CalendarsCommand::List(JsonArg { json }) => {
            let calendars = store.calendars(None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&calendars)?);
            } else if calendars.is_empty() {
                eprintln!("no calendars (laer calendars add --member EMAIL --kind caldav|feed)");
            } else {
                for c in &calendars {
                    println!(
                        "{:>4}  {:<24} {:<6} {:<28} {}",
                        c.id,
                        c.team_member,
                        c.kind,
                        c.host,
                        last_sync(c)
                    );
                }
            }
        }
        CalendarsCommand::Sync(args) => {
            let secrets = prepare(store, load(key_file, data_dir, Missing::Refuse)?).await?;
            let client = laer_app::calendars::client()?;
            let owner = format!("cli:{}", std::process::id());
            let outcome = laer_app::calendars::sync_calendar(store, Some(&secrets), &client, &owner, Some(args.id))
                .await?
                .context("the calendar did not sync")?;
            if let Some(report) = &outcome.report {
                if args.json {
                    println!("{}", serde_json::to_string_pretty(report)?);
                } else {
                    print_report(report);
                }
            }
            if let Some(e) = outcome.error {
                bail!("calendar {} did not sync: {e}", args.id);
            }
        }
        CalendarsCommand::Remove(args) => {
            if !store.remove_calendar(args.id, &args.actor.actor).await? {
                bail!("no calendar has the id {} (laer calendars list)", args.id);
            }
            eprintln!("calendar {} removed; the meetings it made stay", args.id);
        }
    }
    Ok(())
}

fn at(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map_or_else(|| seconds.to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn last_sync(c: &CalendarConnection) -> String {
    match (c.last_synced_at, &c.last_error, c.report()) {
        (None, _, _) => "not synced yet".into(),
        (Some(t), Some(e), _) => format!("failed {}: {e}", at(t)),
        (Some(t), None, Some(r)) => format!("synced {}: {} meetings", at(t), r.meetings),
        (Some(t), None, None) => format!("synced {}", at(t)),
    }
}

fn print_report(r: &CalendarReport) {
    println!(
        "{} occurrences of events, {} meetings with customers: {} written, {} unchanged, {} removed, {} cancelled",
        r.occurrences, r.meetings, r.written, r.unchanged, r.removed, r.cancelled
    );
    if !r.names_people && r.occurrences > 0 {
        println!(
            "no event names its attendees: this feed leaves them out (Outlook's published calendars do), so it can make no meetings; connect by CalDAV instead"
        );
    }
    if r.strangers > 0 {
        println!(
            "{} {} on events {} no contact of any account (add them as contacts to count their meetings): {}",
            r.strangers,
            if r.strangers == 1 { "person" } else { "people" },
            if r.strangers == 1 { "is" } else { "are" },
            r.stranger_examples.join(", ")
        );
    }
    for p in &r.problem_examples {
        println!("could not read: {p}");
    }
}
