//! `laer chat`: Slack and Microsoft Teams incoming webhooks — shared ones that playbooks
//! post to, and a person's own, with their daily digest (docs/automation.md#chat-slack-and-teams).

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use laer_core::chat::{self, ChatKind};
use laer_store::{NewChatHook, Store};

use crate::work::{ActorArg, JsonArg};

#[derive(Subcommand)]
pub enum ChatCommand {
    /// Add a hook: its incoming webhook's address is read from standard input (or a
    /// prompt), never from the command line, as whoever has it may post.
    Add(AddArgs),
    /// The hooks, without their addresses.
    List(JsonArg),
    /// Stop posting to a hook; what waits for it is dropped.
    Remove(RemoveArgs),
    /// Post a test message to a hook now (through the outbox: `laer deliveries`).
    Test(TestArgs),
    /// Queue the digests due now (the server does this every minute by itself).
    Digests,
}

#[derive(Args)]
pub struct AddArgs {
    /// The hook's name, as playbooks name it (letters, digits, -, _ or .)
    name: String,
    /// slack (Block Kit; also Mattermost and Rocket.Chat) or teams (an Adaptive Card).
    #[arg(long)]
    kind: ChatKind,
    /// A person's own hook: their login's email. They get their daily digest here.
    #[arg(long, value_name = "EMAIL")]
    digest_for: Option<String>,
    /// The hour (UTC, 0-23) of the daily digest.
    #[arg(long, default_value_t = 8, requires = "digest_for")]
    hour: u32,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct RemoveArgs {
    name: String,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub struct TestArgs {
    name: String,
    #[command(flatten)]
    actor: ActorArg,
}

/// The address from a prompt on a terminal, else the first line of standard input.
fn read_address(kind: ChatKind) -> Result<String> {
    let url = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("The {} incoming webhook's address: ", kind.label()))?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim().to_string()
    };
    if url.is_empty() {
        bail!("give the incoming webhook's address on standard input: echo \"$URL\" | laer chat add NAME --kind KIND");
    }
    Ok(url)
}

pub async fn chat(
    store: &Store,
    command: ChatCommand,
    key_file: Option<&std::path::Path>,
    data_dir: impl FnOnce() -> Result<std::path::PathBuf>,
) -> Result<()> {
    match command {
        ChatCommand::Add(args) => {
            let user_id = match &args.digest_for {
                Some(email) => {
                    let user = store
                        .users()
                        .await?
                        .into_iter()
                        .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
                        .with_context(|| format!("--digest-for: nobody logs in as {email:?} (laer users list)"))?;
                    if user.team_member_id.is_none() {
                        eprintln!(
                            "note: {email} is no team member (none has that email), so their digest has nothing to say until one is"
                        );
                    }
                    Some(user.id)
                }
                None => None,
            };
            let url = read_address(args.kind)?;
            let secrets = crate::secrets::prepare(
                store,
                crate::secrets::load(key_file, data_dir, crate::secrets::Missing::Make)?,
            )
            .await?;
            let hook = NewChatHook {
                name: &args.name,
                kind: args.kind,
                url: &url,
                user_id,
                digest_hour: user_id.map(|_| args.hour),
            };
            store.add_chat_hook(&hook, &args.actor.actor, &secrets).await?;
            match &args.digest_for {
                Some(email) => eprintln!(
                    "chat hook {} added ({}): {email}'s digest every day at {:02}:00 UTC",
                    args.name,
                    args.kind.label(),
                    args.hour
                ),
                None => eprintln!(
                    "chat hook {} added ({}): name it in a playbook's chats",
                    args.name,
                    args.kind.label()
                ),
            }
        }
        ChatCommand::List(JsonArg { json }) => {
            let hooks = store.chat_hooks().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hooks)?);
            } else if hooks.is_empty() {
                eprintln!("no chat hooks (laer chat add NAME --kind slack|teams)");
            } else {
                for h in &hooks {
                    let digest = match (&h.user_email, h.digest_hour) {
                        (Some(email), Some(hour)) => format!("digest for {email} at {hour:02}:00 UTC"),
                        _ => "shared".to_string(),
                    };
                    println!("{:<24} {:<6} {digest}", h.name, h.kind);
                }
            }
        }
        ChatCommand::Remove(args) => {
            store.remove_chat_hook(&args.name, &args.actor.actor).await?;
            eprintln!("chat hook {} removed", args.name);
        }
        ChatCommand::Test(args) => {
            let message = chat::test_message(&args.name, &args.actor.actor);
            let id = store.post_to_chat_hook(&args.name, &message).await?;
            eprintln!("delivery {id} queued: a running server sends it (laer deliveries shows how it went)");
        }
        ChatCommand::Digests => {
            let queued = laer_app::digest::queue_due_digests(store, chrono::Utc::now()).await?;
            eprintln!("{queued} digests queued");
        }
    }
    Ok(())
}
