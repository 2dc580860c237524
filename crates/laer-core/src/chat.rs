//! Messages to chat: a message as laer means it (a title, a line, sections of items, a
//! link), and the JSON each product's incoming webhooks document — Slack's Block Kit, and
//! for Microsoft Teams an Adaptive Card in a message (what Teams' incoming webhooks and
//! its Workflows' "post to a channel when a webhook request is received" take). Pure.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The longest hook address taken (Slack's are under 100 characters, Teams' Workflows'
/// about 300).
pub const MAX_URL_BYTES: usize = 2_048;

/// Which product a chat hook posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    Slack,
    Teams,
}

impl ChatKind {
    pub const ALL: [ChatKind; 2] = [ChatKind::Slack, ChatKind::Teams];

    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Slack => "slack",
            ChatKind::Teams => "teams",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ChatKind::Slack => "Slack",
            ChatKind::Teams => "Microsoft Teams",
        }
    }

    /// Whether `url` can be an incoming webhook's address: https (Slack's are on
    /// hooks.slack.com, Teams' on a Microsoft or Power Automate host; Mattermost and
    /// Rocket.Chat take Slack's format on their own), or http to this machine only (a
    /// relay beside laer). The address is a secret: it is never put into a message.
    pub fn check_url(self, url: &str) -> Result<(), String> {
        let url = url.trim();
        if url.len() > MAX_URL_BYTES {
            return Err(format!("at most {MAX_URL_BYTES} characters"));
        }
        let (rest, secure) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (rest, true),
            (None, Some(rest)) => (rest, false),
            _ => return Err(format!("a {} webhook address starts with https://", self.label())),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
        };
        if host.is_empty() || url.chars().any(char::is_whitespace) || authority.contains('@') {
            return Err(format!("not a {} webhook address", self.label()));
        }
        if !secure && !matches!(host, "localhost" | "127.0.0.1" | "::1") {
            return Err(format!(
                "a {} webhook address starts with https:// (http only to this machine)",
                self.label()
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for ChatKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChatKind {
    type Err = String;

    fn from_str(text: &str) -> Result<ChatKind, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "slack" => Ok(ChatKind::Slack),
            "teams" | "microsoft teams" | "msteams" => Ok(ChatKind::Teams),
            other => Err(format!("{other:?} is not a chat: slack or teams")),
        }
    }
}

/// A message as laer means it, before either product's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// One line, plain: the notification's text too.
    pub title: String,
    /// A line under the title, plain (may be empty).
    pub summary: String,
    pub sections: Vec<Section>,
    /// Where to act: "Open in laer".
    pub link: Option<Link>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub heading: String,
    pub items: Vec<Item>,
}

/// One line of a section: `text`, linked to `url` when there is one, then `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub text: String,
    pub url: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub label: String,
    pub url: String,
}

impl ChatMessage {
    /// The message with its links made absolute on laer's public address (`base`), as
    /// laer writes them relative (`/accounts/5`); without an address, without links.
    pub fn resolved(mut self, base: Option<&str>) -> ChatMessage {
        let base = base.map(|b| b.trim().trim_end_matches('/')).filter(|b| !b.is_empty());
        let absolute = |url: &str| -> Option<String> {
            if url.starts_with("https://") || url.starts_with("http://") {
                return Some(url.to_string());
            }
            base.map(|b| format!("{b}/{}", url.trim_start_matches('/')))
        };
        for section in &mut self.sections {
            for item in &mut section.items {
                item.url = item.url.as_deref().and_then(absolute);
            }
        }
        self.link = self
            .link
            .and_then(|link| absolute(&link.url).map(|url| Link { url, ..link }));
        self
    }
}

/// The message a hook is sent to try it (`laer chat test`, Admin → Slack and Teams).
pub fn test_message(hook: &str, by: &str) -> ChatMessage {
    ChatMessage {
        title: "laer can post here".into(),
        summary: format!("A test of the chat hook {hook}, sent by {by}."),
        sections: vec![Section {
            heading: "What comes here".into(),
            items: vec![Item {
                text: "Playbooks that name this hook, and a person's daily digest".into(),
                url: None,
                detail: None,
            }],
        }],
        link: None,
    }
}

/// Slack's limits (Block Kit reference): a header's text, a section's text, a button's
/// text, and the blocks of one message.
const SLACK_HEADER: usize = 150;
const SLACK_SECTION: usize = 3000;
const SLACK_BUTTON: usize = 75;
const SLACK_BLOCKS: usize = 50;
/// Items shown per section; the rest are counted ("and 12 more").
pub const MAX_ITEMS: usize = 10;

/// `text` cut to `max` characters, an ellipsis marking the cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text for Slack's mrkdwn: `&`, `<` and `>` escaped as Slack asks.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A link target Slack can carry in `<url|text>`: no `|` or `>` in it, and http(s) only.
fn slack_url(url: &str) -> Option<&str> {
    let ok = (url.starts_with("https://") || url.starts_with("http://")) && !url.contains(['|', '>', '<', ' ']);
    ok.then_some(url)
}

fn slack_item(item: &Item) -> String {
    let text = slack_escape(&item.text);
    let text = match item.url.as_deref().and_then(slack_url) {
        Some(url) => format!("<{url}|{text}>"),
        None => text,
    };
    match &item.detail {
        Some(detail) => format!("• {text} — {}", slack_escape(detail)),
        None => format!("• {text}"),
    }
}

/// Items as one section's lines, within Slack's limit; those left out are counted.
fn section_lines(items: &[Item], render: impl Fn(&Item) -> String, max_chars: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut used = 0;
    let mut shown = 0;
    for item in items.iter().take(MAX_ITEMS) {
        let line = render(item);
        // Room kept for the "and N more" line.
        if used + line.chars().count() + 1 > max_chars.saturating_sub(40) {
            break;
        }
        used += line.chars().count() + 1;
        lines.push(line);
        shown += 1;
    }
    if shown < items.len() {
        lines.push(format!("and {} more", items.len() - shown));
    }
    lines.join("\n")
}

/// The message in Slack's Block Kit, as an incoming webhook takes it: `text` (the
/// notification, and what clients without blocks show) and `blocks`.
pub fn slack_payload(message: &ChatMessage) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&message.title, SLACK_HEADER), "emoji": true},
    })];
    if !message.summary.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut(&slack_escape(&message.summary), SLACK_SECTION)},
        }));
    }
    for section in &message.sections {
        // Two blocks per section, and the link's: within Slack's 50.
        if blocks.len() + 3 > SLACK_BLOCKS {
            break;
        }
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut(&format!("*{}*", slack_escape(&section.heading)), SLACK_SECTION)},
        }));
        if !section.items.is_empty() {
            blocks.push(json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": section_lines(&section.items, slack_item, SLACK_SECTION)},
            }));
        }
    }
    if let Some(link) = &message.link
        && let Some(url) = slack_url(&link.url)
    {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": cut(&link.label, SLACK_BUTTON)},
                "url": url,
            }],
        }));
    }
    json!({"text": cut(&message.title, SLACK_SECTION), "blocks": blocks})
}

/// Text for an Adaptive Card's TextBlock, whose markdown would read `*`, `_`, `[` and `]`.
fn teams_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '[' | ']' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn teams_url(url: &str) -> Option<&str> {
    let ok = (url.starts_with("https://") || url.starts_with("http://")) && !url.contains([')', ' ', '(']);
    ok.then_some(url)
}

fn teams_item(item: &Item) -> String {
    let text = teams_escape(&item.text);
    let text = match item.url.as_deref().and_then(teams_url) {
        Some(url) => format!("[{text}]({url})"),
        None => text,
    };
    match &item.detail {
        Some(detail) => format!("- {text} — {}", teams_escape(detail)),
        None => format!("- {text}"),
    }
}

/// The message as a Microsoft Teams incoming webhook takes it: a `message` whose one
/// attachment is an Adaptive Card (version 1.4, which Teams renders).
pub fn teams_payload(message: &ChatMessage) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": teams_escape(&message.title),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    })];
    if !message.summary.trim().is_empty() {
        body.push(json!({"type": "TextBlock", "text": teams_escape(&message.summary), "wrap": true}));
    }
    for section in &message.sections {
        body.push(json!({
            "type": "TextBlock",
            "text": teams_escape(&section.heading),
            "weight": "Bolder",
            "spacing": "Medium",
            "wrap": true,
        }));
        if !section.items.is_empty() {
            body.push(json!({
                "type": "TextBlock",
                "text": section_lines(&section.items, teams_item, 20_000),
                "wrap": true,
            }));
        }
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(link) = &message.link
        && let Some(url) = teams_url(&link.url)
    {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": link.label, "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// The message in `kind`'s format.
pub fn payload(kind: ChatKind, message: &ChatMessage) -> Value {
    match kind {
        ChatKind::Slack => slack_payload(message),
        ChatKind::Teams => teams_payload(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(items: usize) -> ChatMessage {
        ChatMessage {
            title: "Renewal at risk: Acme <Corp> & Co".into(),
            summary: "Health fell below 50 with 84 days to renewal".into(),
            sections: vec![Section {
                heading: "Your tasks".into(),
                items: (0..items)
                    .map(|i| Item {
                        text: format!("Call *the* sponsor {i}"),
                        url: Some(format!("https://laer.example/accounts/{i}")),
                        detail: Some("due today".into()),
                    })
                    .collect(),
            }],
            link: Some(Link {
                label: "Open in laer".into(),
                url: "https://laer.example/work".into(),
            }),
        }
    }

    #[test]
    fn slack_gets_blocks_with_escaped_text_and_a_button() {
        let payload = slack_payload(&message(2));
        assert_eq!(payload["text"], "Renewal at risk: Acme <Corp> & Co");
        let blocks = payload["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"], "Renewal at risk: Acme <Corp> & Co",
            "plain text is not escaped"
        );
        assert_eq!(blocks[2]["text"]["text"], "*Your tasks*");
        assert_eq!(
            blocks[3]["text"]["text"],
            "• <https://laer.example/accounts/0|Call *the* sponsor 0> — due today\n\
             • <https://laer.example/accounts/1|Call *the* sponsor 1> — due today"
        );
        assert_eq!(blocks[4]["elements"][0]["url"], "https://laer.example/work");
        let escaped = slack_payload(&ChatMessage {
            summary: "a <b> & c".into(),
            ..message(0)
        });
        assert_eq!(escaped["blocks"][1]["text"]["text"], "a &lt;b&gt; &amp; c");
    }

    #[test]
    fn long_lists_are_cut_and_counted_within_slacks_limits() {
        let payload = slack_payload(&message(40));
        let lines = payload["blocks"][3]["text"]["text"].as_str().unwrap();
        assert_eq!(lines.lines().count(), MAX_ITEMS + 1);
        assert!(lines.ends_with("and 30 more"), "{lines}");
        let long = ChatMessage {
            title: "x".repeat(500),
            ..message(1)
        };
        let header = slack_payload(&long)["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(header.chars().count(), SLACK_HEADER);
        let many = ChatMessage {
            sections: (0..60).map(|_| message(1).sections[0].clone()).collect(),
            ..message(1)
        };
        assert!(slack_payload(&many)["blocks"].as_array().unwrap().len() <= SLACK_BLOCKS);
    }

    #[test]
    fn teams_gets_an_adaptive_card_in_a_message() {
        let payload = teams_payload(&message(1));
        assert_eq!(payload["type"], "message");
        let attachment = &payload["attachments"][0];
        assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
        let card = &attachment["content"];
        assert_eq!(
            (card["type"].as_str(), card["version"].as_str()),
            (Some("AdaptiveCard"), Some("1.4"))
        );
        assert_eq!(
            card["body"][3]["text"],
            "- [Call \\*the\\* sponsor 0](https://laer.example/accounts/0) — due today"
        );
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    }

    #[test]
    fn relative_links_become_absolute_or_go() {
        let mut m = message(1);
        m.sections[0].items[0].url = Some("/accounts/3".into());
        m.link = Some(Link {
            label: "Open".into(),
            url: "/work".into(),
        });
        let on = m.clone().resolved(Some("https://laer.example/"));
        assert_eq!(
            on.sections[0].items[0].url.as_deref(),
            Some("https://laer.example/accounts/3")
        );
        assert_eq!(on.link.unwrap().url, "https://laer.example/work");
        let off = m.resolved(None);
        assert_eq!((off.sections[0].items[0].url.clone(), off.link), (None, None));
    }

    #[test]
    fn webhook_addresses_are_checked_per_product() {
        assert!(
            ChatKind::Slack
                .check_url("https://hooks.slack.com/services/T0/B0/x")
                .is_ok()
        );
        assert!(
            ChatKind::Slack.check_url("https://chat.example.com/hooks/abc").is_ok(),
            "Mattermost"
        );
        assert!(
            ChatKind::Slack
                .check_url("http://hooks.slack.com/services/T0/B0/x")
                .is_err()
        );
        assert!(ChatKind::Slack.check_url("http://127.0.0.1:8081/hook").is_ok());
        assert!(ChatKind::Slack.check_url("http://[::1]:8081/hook").is_ok());
        assert!(ChatKind::Slack.check_url("http://localhost.evil.example/hook").is_err());
        assert!(ChatKind::Slack.check_url("https://user@host/hook").is_err());
        assert!(
            ChatKind::Teams
                .check_url("https://prod-01.westeurope.logic.azure.com:443/workflows/x")
                .is_ok()
        );
        assert!(ChatKind::Teams.check_url("https:///x").is_err());
        assert!(ChatKind::Teams.check_url("ftp://x").is_err());
        let long = format!("https://hooks.slack.com/{}", "x".repeat(MAX_URL_BYTES));
        assert!(ChatKind::Slack.check_url(&long).unwrap_err().contains("2048"));
        assert_eq!("Teams".parse::<ChatKind>(), Ok(ChatKind::Teams));
    }
}
