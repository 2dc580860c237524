//! Calendars (issue 18, item 4): fetching a team member's calendar — a CalDAV server's
//! events in the synced window (RFC 4791 `calendar-query`), found from a calendar's
//! address or from the account's (its principal, its calendar home, their calendars), or
//! a published iCalendar feed — and writing its meetings with customers as touchpoints.
//! What an event means is `laer_core::calendar`'s; the write, and the removal of
//! meetings whose event is gone, the store's, in one transaction. A node syncs a
//! calendar under a lease, so several nodes share the work.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use laer_core::calendar::{self, CalendarKind, CalendarReport, Occurrence, REPORT_EXAMPLES, Window};
use laer_store::{CalendarClaim, CalendarConnection, CalendarEnd, SecretBox, SecretError, Store, StoreError};
use reqwest::{Method, StatusCode, Url};

use laer_core::singer::sync::{next_after_failure, next_after_success};

/// A sync whose node's heartbeat is older than this (seconds) is taken over.
pub const STALE_AFTER: i64 = 180;
/// How often a running sync renews its lease.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// How often a server looks for a calendar that is due.
pub const CALENDAR_POLL: Duration = Duration::from_secs(15);
/// The most of one answer read: a calendar's half year is rarely over a megabyte.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Calendars of one CalDAV account synced at most.
const MAX_COLLECTIONS: usize = 50;

/// Why a calendar could not be synced. Never names its address (a feed's is its
/// credential) or its password: only the host.
#[derive(Debug, thiserror::Error)]
pub enum CalendarSyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the calendar's secrets do not open: {0}")]
    Secret(#[source] SecretError),
    #[error("{host}: {message}")]
    Request { host: String, message: String },
    #[error("{host} answered {status}{hint}")]
    Status {
        host: String,
        status: u16,
        hint: &'static str,
    },
    #[error("{host} sent more than {} MiB", MAX_BODY_BYTES / 1024 / 1024)]
    TooLarge { host: String },
    #[error("{host}: {message}")]
    Answer { host: String, message: String },
    #[error("time zone: {0}")]
    Zone(String),
    #[error("no calendar has the id {0}")]
    Unknown(i64),
    #[error("calendar {id} is being synced by {owner} now")]
    Running { id: i64, owner: String },
}

/// One sync of a calendar: which, and its report or why it failed.
#[derive(Debug)]
pub struct CalendarOutcome {
    pub connection: CalendarConnection,
    pub report: Option<CalendarReport>,
    pub error: Option<String>,
}

/// The client calendars are fetched with: bounded in time, a few redirects.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("laer/", env!("CARGO_PKG_VERSION"), " (calendar sync)"))
        .build()
}

/// Syncs one calendar if one is due (or `only`, now), as `owner`. `Ok(None)`: nothing
/// was due.
pub async fn sync_calendar(
    store: &Store,
    secrets: Option<&SecretBox>,
    client: &reqwest::Client,
    owner: &str,
    only: Option<i64>,
) -> Result<Option<CalendarOutcome>, CalendarSyncError> {
    let now = Utc::now();
    let Some(claim) = store
        .claim_calendar(owner, now.timestamp(), now.timestamp() - STALE_AFTER, only)
        .await?
    else {
        return match only {
            None => Ok(None),
            Some(id) => match store.calendar(id).await? {
                None => Err(CalendarSyncError::Unknown(id)),
                Some(c) => Err(CalendarSyncError::Running {
                    id,
                    owner: c.owner.unwrap_or_else(|| "another node".into()),
                }),
            },
        };
    };
    let id = claim.connection.id;
    let heartbeat = {
        let (store, owner) = (store.clone(), owner.to_string());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(HEARTBEAT_EVERY);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                // A late heartbeat is no failure: a sync that lost its lease finds out
                // when it writes, and writes nothing.
                let _ = store.calendar_heartbeat(id, &owner, Utc::now().timestamp()).await;
            }
        })
    };
    let result = sync_claimed(store, secrets, client, &claim, owner, now).await;
    heartbeat.abort();
    let ended = Utc::now().timestamp();
    let every = claim.connection.every_minutes;
    let (report, error) = match result {
        Ok(report) => (Some(report), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let next_sync_at = match &error {
        None => next_after_success(ended, every),
        Some(_) => next_after_failure(
            ended,
            u32::try_from(claim.connection.failures + 1).unwrap_or(u32::MAX),
            every,
        ),
    };
    let report_json = report.as_ref().and_then(|r| serde_json::to_string(r).ok());
    store
        .finish_calendar(
            id,
            owner,
            &CalendarEnd {
                now: ended,
                error: error.as_deref(),
                report: report_json.as_deref(),
                next_sync_at,
            },
        )
        .await?;
    let c = &claim.connection;
    match (&report, &error) {
        (Some(r), _) => tracing::info!(calendar = id, member = %c.team_member, host = %c.host,
            meetings = r.meetings, written = r.written, removed = r.removed, "calendar synced"),
        (_, Some(e)) => tracing::warn!(calendar = id, member = %c.team_member, host = %c.host, error = %e,
            "calendar sync failed; it runs again after a wait"),
        _ => {}
    }
    Ok(Some(CalendarOutcome {
        connection: store.calendar(id).await?.unwrap_or(claim.connection),
        report,
        error,
    }))
}

async fn sync_claimed(
    store: &Store,
    secrets: Option<&SecretBox>,
    client: &reqwest::Client,
    claim: &CalendarClaim,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<CalendarReport, CalendarSyncError> {
    let c = &claim.connection;
    let kind = c.kind()?;
    let zone = calendar::zone(&c.time_zone).map_err(CalendarSyncError::Zone)?;
    let url = claim.url.open(secrets).map_err(CalendarSyncError::Secret)?;
    let url = Url::parse(&url).map_err(|_| CalendarSyncError::Answer {
        host: c.host.clone(),
        message: "the stored address does not read as one".into(),
    })?;
    let window = Window::around(now);
    let source = match kind {
        CalendarKind::Feed => Source::Feed,
        CalendarKind::Caldav => Source::Caldav {
            username: c.username.clone().unwrap_or_default(),
            password: match &claim.password {
                Some(p) => p.open(secrets).map_err(CalendarSyncError::Secret)?,
                None => String::new(),
            },
        },
    };
    let documents = fetch(client, &source, &url, &c.host, &window).await?;
    let mut report = CalendarReport::default();
    let mut occurrences: Vec<Occurrence> = Vec::new();
    let mut keys = HashSet::new();
    let mut problems = Vec::new();
    for document in &documents {
        match calendar::read(document, &window, zone) {
            Ok(read) => {
                report.names_people |= read.names_people;
                problems.extend(read.problems);
                // The same event in two calendars of one account is one meeting.
                occurrences.extend(read.occurrences.into_iter().filter(|o| keys.insert(o.key.clone())));
            }
            Err(e) if kind == CalendarKind::Feed => {
                return Err(CalendarSyncError::Answer {
                    host: c.host.clone(),
                    message: format!("{e}; is the address the calendar's own, not a page to sign in on?"),
                });
            }
            Err(e) => problems.push(format!("a calendar resource: {e}")),
        }
    }
    let people = store.calendar_people().await?;
    let meetings = calendar::meetings(&occurrences, &people, now);
    let written = store.write_calendar_meetings(c.id, owner, &window, &meetings).await?;
    let strangers = calendar::strangers(&occurrences, &people);
    report.occurrences = occurrences.len();
    report.meetings = meetings.len();
    report.written = written.written;
    report.unchanged = written.unchanged;
    report.removed = written.removed;
    report.cancelled = written.cancelled;
    report.strangers = strangers.len();
    report.stranger_examples = strangers.into_iter().take(REPORT_EXAMPLES).collect();
    report.problems = problems.len();
    report.problem_examples = problems.into_iter().take(REPORT_EXAMPLES).collect();
    Ok(report)
}

/// Every server's loop: every [`CALENDAR_POLL`], syncs each calendar that is due and
/// that no node holds. Failures are kept with the calendar and logged.
pub async fn run_calendars(store: Store, secrets: Option<SecretBox>) {
    let client = match client() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for calendars; they do not sync");
            return;
        }
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let owner = format!("node:{}:{started:x}", std::process::id());
    let mut tick = tokio::time::interval(CALENDAR_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            match sync_calendar(&store, secrets.as_ref(), &client, &owner, None).await {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "a calendar could not sync");
                    break;
                }
            }
        }
    }
}

/// How a calendar is read.
enum Source {
    Feed,
    Caldav { username: String, password: String },
}

/// The iCalendar documents of a calendar: a feed's one, or a CalDAV calendar's
/// resources with events in the window.
async fn fetch(
    client: &reqwest::Client,
    source: &Source,
    url: &Url,
    host: &str,
    window: &Window,
) -> Result<Vec<String>, CalendarSyncError> {
    match source {
        Source::Feed => {
            let request = client.get(url.clone()).header("Accept", "text/calendar");
            Ok(vec![send(request, host).await?])
        }
        Source::Caldav { username, password } => {
            let dav = Dav {
                client,
                host,
                username,
                password,
            };
            let mut documents = Vec::new();
            for collection in dav.calendars(url).await? {
                let body = dav
                    .request("REPORT", &collection, "1", &dav::calendar_query(window))
                    .await?;
                let answers = dav::multistatus(&body).map_err(|message| dav.answer(message))?;
                documents.extend(answers.into_iter().filter_map(|a| a.calendar_data));
            }
            Ok(documents)
        }
    }
}

/// Sends a request and reads its answer's body, bounded; an answer that is no success
/// is an error saying what it likely means.
async fn send(request: reqwest::RequestBuilder, host: &str) -> Result<String, CalendarSyncError> {
    let failed = |e: reqwest::Error| CalendarSyncError::Request {
        host: host.to_string(),
        // Never the address: it is the credential of a feed.
        message: e.without_url().to_string(),
    };
    let mut response = request.send().await.map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                " (the user name or password is refused: providers that use two-step sign-in want an app password)"
            }
            StatusCode::NOT_FOUND | StatusCode::GONE => " (no calendar at this address: it may have been reset)",
            _ => "",
        };
        return Err(CalendarSyncError::Status {
            host: host.to_string(),
            status: status.as_u16(),
            hint,
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(CalendarSyncError::TooLarge { host: host.to_string() });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A CalDAV account: its requests, with Basic authentication.
struct Dav<'a> {
    client: &'a reqwest::Client,
    host: &'a str,
    username: &'a str,
    password: &'a str,
}

impl Dav<'_> {
    async fn request(&self, method: &str, url: &Url, depth: &str, body: &str) -> Result<String, CalendarSyncError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| self.answer("no such method".into()))?;
        let request = self
            .client
            .request(method, url.clone())
            .basic_auth(self.username, Some(self.password))
            .header("Depth", depth)
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(body.to_string());
        send(request, self.host).await
    }

    fn answer(&self, message: String) -> CalendarSyncError {
        CalendarSyncError::Answer {
            host: self.host.to_string(),
            message,
        }
    }

    /// The calendars at `url`: itself when it is one; else those of its calendar home,
    /// found from the principal (RFC 4791 6.2.1, RFC 5397) when `url` is not the home.
    async fn calendars(&self, url: &Url) -> Result<Vec<Url>, CalendarSyncError> {
        let join = |base: &Url, href: &str| {
            base.join(href)
                .map_err(|_| self.answer(format!("an unreadable href {href:?}")))
        };
        let found = self.properties(url, "0", dav::PROPFIND_FIND).await?;
        let me = found
            .first()
            .ok_or_else(|| self.answer("an empty answer to PROPFIND".into()))?;
        if me.is_calendar {
            return Ok(vec![url.clone()]);
        }
        let home = match (&me.calendar_home, &me.principal) {
            (Some(home), _) => join(url, home)?,
            (None, Some(principal)) => {
                let principal = join(url, principal)?;
                let found = self.properties(&principal, "0", dav::PROPFIND_FIND).await?;
                match found.first().and_then(|p| p.calendar_home.clone()) {
                    Some(home) => join(&principal, &home)?,
                    None => url.clone(),
                }
            }
            (None, None) => url.clone(),
        };
        let mut calendars = Vec::new();
        for c in self.properties(&home, "1", dav::PROPFIND_LIST).await? {
            if c.is_calendar && c.has_events && calendars.len() < MAX_COLLECTIONS {
                calendars.push(join(&home, &c.href)?);
            }
        }
        if calendars.is_empty() {
            return Err(self.answer(
                "no calendar with events found at this address: give a calendar's address, or your account's".into(),
            ));
        }
        Ok(calendars)
    }

    async fn properties(&self, url: &Url, depth: &str, body: &str) -> Result<Vec<dav::Answer>, CalendarSyncError> {
        let text = self.request("PROPFIND", url, depth, body).await?;
        dav::multistatus(&text).map_err(|m| self.answer(m))
    }
}

/// WebDAV and CalDAV bodies: what laer asks, and reading the multistatus answers. Pure.
mod dav {
    use laer_core::calendar::Window;

    const DAV: &str = "DAV:";
    const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";

    /// A calendar's type, the principal and the calendar home.
    pub const PROPFIND_FIND: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
        <d:propfind xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\"><d:prop>\
        <d:resourcetype/><d:current-user-principal/><c:calendar-home-set/></d:prop></d:propfind>";

    /// The collections of a calendar home: which are calendars, and of what.
    pub const PROPFIND_LIST: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
        <d:propfind xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\"><d:prop>\
        <d:resourcetype/><c:supported-calendar-component-set/></d:prop></d:propfind>";

    /// The events with time in the window (RFC 4791 7.8.1; a recurring event comes whole).
    pub fn calendar_query(window: &Window) -> String {
        let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <c:calendar-query xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\
             <d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name=\"VCALENDAR\">\
             <c:comp-filter name=\"VEVENT\"><c:time-range start=\"{}\" end=\"{}\"/></c:comp-filter>\
             </c:comp-filter></c:filter></c:calendar-query>",
            at(window.from),
            at(window.to)
        )
    }

    /// One resource of a multistatus answer, from its propstats whose status is 200.
    #[derive(Debug, Default, PartialEq, Eq)]
    pub struct Answer {
        pub href: String,
        pub is_calendar: bool,
        /// Whether it holds events: its supported components name VEVENT, or are not
        /// said (then any).
        pub has_events: bool,
        pub principal: Option<String>,
        pub calendar_home: Option<String>,
        /// An iCalendar document, its lines ended by CRLF as RFC 5545 has them (XML
        /// reads them as LF).
        pub calendar_data: Option<String>,
    }

    pub fn multistatus(text: &str) -> Result<Vec<Answer>, String> {
        let doc = roxmltree::Document::parse(text).map_err(|e| format!("an answer that is no XML ({e})"))?;
        let root = doc.root_element();
        if !root.has_tag_name((DAV, "multistatus")) {
            return Err(format!(
                "an answer that is no WebDAV multistatus (it is <{}>)",
                root.tag_name().name()
            ));
        }
        fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, ns: &str, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
            n.children().find(|c| c.has_tag_name((ns, name)))
        }
        fn href_in(n: roxmltree::Node<'_, '_>) -> Option<String> {
            child(n, DAV, "href")
                .and_then(|h| h.text())
                .map(|t| t.trim().to_string())
        }
        let mut out = Vec::new();
        for response in root.children().filter(|n| n.has_tag_name((DAV, "response"))) {
            let mut answer = Answer {
                href: href_in(response).unwrap_or_default(),
                ..Answer::default()
            };
            let mut said_components = false;
            for propstat in response.children().filter(|n| n.has_tag_name((DAV, "propstat"))) {
                let ok = child(propstat, DAV, "status")
                    .and_then(|s| s.text())
                    .is_some_and(|s| s.split_whitespace().nth(1) == Some("200"));
                let Some(prop) = child(propstat, DAV, "prop").filter(|_| ok) else {
                    continue;
                };
                for p in prop.children().filter(roxmltree::Node::is_element) {
                    match (p.tag_name().namespace(), p.tag_name().name()) {
                        (Some(DAV), "resourcetype") => {
                            answer.is_calendar = child(p, CALDAV, "calendar").is_some();
                        }
                        (Some(DAV), "current-user-principal") => answer.principal = href_in(p),
                        (Some(CALDAV), "calendar-home-set") => answer.calendar_home = href_in(p),
                        (Some(CALDAV), "supported-calendar-component-set") => {
                            said_components = true;
                            answer.has_events = p
                                .children()
                                .filter(|c| c.has_tag_name((CALDAV, "comp")))
                                .any(|c| c.attribute("name").is_some_and(|n| n.eq_ignore_ascii_case("VEVENT")));
                        }
                        (Some(CALDAV), "calendar-data") => {
                            let text: String = p
                                .descendants()
                                .filter(|d| d.is_text())
                                .filter_map(|d| d.text())
                                .collect();
                            answer.calendar_data = Some(text.replace("\r\n", "\n").replace('\n', "\r\n"));
                        }
                        _ => {}
                    }
                }
            }
            if !said_components {
                answer.has_events = true;
            }
            out.push(answer);
        }
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_calendar_home_lists_its_calendars() {
            // Radicale 3.9.0's answer, as it sends it.
            let text = "<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns=\"DAV:\" \
                xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><response><href>/alice/</href><propstat><prop>\
                <resourcetype><principal /><collection /></resourcetype></prop><status>HTTP/1.1 200 OK</status>\
                </propstat><propstat><prop><displayname /><C:supported-calendar-component-set /></prop>\
                <status>HTTP/1.1 404 Not Found</status></propstat></response><response><href>/alice/work/</href>\
                <propstat><prop><resourcetype><C:calendar /><collection /></resourcetype><displayname>Work\
                </displayname><C:supported-calendar-component-set><C:comp name=\"VTODO\" /><C:comp name=\"VEVENT\" />\
                </C:supported-calendar-component-set></prop><status>HTTP/1.1 200 OK</status></propstat></response>\
                <response><href>/alice/tasks/</href><propstat><prop><resourcetype><C:calendar /><collection />\
                </resourcetype><C:supported-calendar-component-set><C:comp name=\"VTODO\" />\
                </C:supported-calendar-component-set></prop><status>HTTP/1.1 200 OK</status></propstat>\
                </response></multistatus>";
            let answers = multistatus(text).unwrap();
            let calendars: Vec<(&str, bool, bool)> = answers
                .iter()
                .map(|a| (a.href.as_str(), a.is_calendar, a.has_events))
                .collect();
            assert_eq!(
                calendars,
                [
                    ("/alice/", false, true),
                    ("/alice/work/", true, true),
                    ("/alice/tasks/", true, false)
                ],
                "a 404 propstat says nothing; a calendar of tasks alone has no events"
            );
        }

        #[test]
        fn a_principal_names_its_home_with_any_prefix() {
            let text = "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/dav/</D:href><D:propstat><D:prop>\
                <D:current-user-principal><D:href>/principals/kim/</D:href></D:current-user-principal>\
                <cal:calendar-home-set xmlns:cal=\"urn:ietf:params:xml:ns:caldav\"><D:href>\n /calendars/kim/ \n\
                </D:href></cal:calendar-home-set><D:resourcetype><D:collection/></D:resourcetype></D:prop>\
                <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>";
            let answers = multistatus(text).unwrap();
            assert_eq!(answers[0].principal.as_deref(), Some("/principals/kim/"));
            assert_eq!(answers[0].calendar_home.as_deref(), Some("/calendars/kim/"));
            assert!(!answers[0].is_calendar);
        }

        #[test]
        fn calendar_data_gets_its_line_ends_back() {
            let text = "<multistatus xmlns=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><response>\
                <href>/a/w/1.ics</href><propstat><prop><C:calendar-data>BEGIN:VCALENDAR\r\nVERSION:2.0\n\
                END:VCALENDAR\n</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>\
                </multistatus>";
            let answers = multistatus(text).unwrap();
            assert_eq!(
                answers[0].calendar_data.as_deref(),
                Some("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
            );
            assert!(
                multistatus("<html><body>Sign in</body></html>")
                    .unwrap_err()
                    .contains("<html>")
            );
            assert!(multistatus("BEGIN:VCALENDAR").unwrap_err().contains("no XML"));
        }
    }
}
