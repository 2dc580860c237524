//! Calendars (issue 18, item 4): the events of an iCalendar document (RFC 5545: a CalDAV
//! resource, a published feed) in a window of time, each occurrence of a recurring event
//! apart — moved ones where they moved to, excluded and cancelled ones left out — and
//! which of them are meetings with customers: those whose people include contacts of an
//! account, and not only the vendor's own; and how those become touchpoints. Pure: the
//! application fetches the text (CalDAV, feeds; `laer_app::calendars`) and the store
//! writes the meetings (`laer_store`'s calendars).

use std::collections::{BTreeMap, HashMap, HashSet};

use calcard::common::timezone::Tz as CalTz;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarParameterName,
    ICalendarParameterValue, ICalendarParticipationStatus, ICalendarProperty, ICalendarStatus, ICalendarValue,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use rrule::{RRule, RRuleSet, Unvalidated};
use serde::Serialize;

use crate::model::{MeetingStatus, NewTouchpoint, TouchpointKind};

/// Occurrences of one recurring event listed at most, in a window.
pub const MAX_OCCURRENCES: u16 = 1_000;

/// The longest calendar address taken (Google's private addresses are about 150
/// characters, Outlook's about 200).
pub const MAX_URL_BYTES: usize = 2_048;

/// How a calendar is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarKind {
    /// A CalDAV server (RFC 4791), with a user name and a password (an app password).
    Caldav,
    /// A published iCalendar feed: the "secret address in iCal format" of Google
    /// Calendar, the published ICS link of Outlook.
    Feed,
}

impl CalendarKind {
    /// The feed first: the simplest to connect.
    pub const ALL: [CalendarKind; 2] = [CalendarKind::Feed, CalendarKind::Caldav];

    pub fn as_str(self) -> &'static str {
        match self {
            CalendarKind::Caldav => "caldav",
            CalendarKind::Feed => "feed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CalendarKind::Caldav => "CalDAV",
            CalendarKind::Feed => "iCalendar feed",
        }
    }
}

impl std::fmt::Display for CalendarKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CalendarKind {
    type Err = String;

    fn from_str(text: &str) -> Result<CalendarKind, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "caldav" => Ok(CalendarKind::Caldav),
            "feed" | "ics" | "ical" | "icalendar" => Ok(CalendarKind::Feed),
            other => Err(format!("{other:?} is not a kind of calendar: caldav or feed")),
        }
    }
}

/// A time zone by its IANA name (Europe/Berlin): the zone of a calendar's floating times
/// and whole days.
pub fn zone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!(
            "{:?} is no time zone: an IANA name such as Europe/Berlin or UTC",
            name.trim()
        )
    })
}

/// The days before and after now that a sync reads: meetings held in the last half year,
/// and those scheduled in the next two months.
pub const PAST_DAYS: i64 = 183;
pub const AHEAD_DAYS: i64 = 62;

impl Window {
    /// The span a sync reads at `now`.
    pub fn around(now: DateTime<Utc>) -> Window {
        Window {
            from: now - TimeDelta::days(PAST_DAYS),
            to: now + TimeDelta::days(AHEAD_DAYS),
        }
    }
}

/// Examples listed at most in a report (addresses, problems).
pub const REPORT_EXAMPLES: usize = 20;

/// What one sync of a calendar found and did, as its page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CalendarReport {
    /// Occurrences of events in the window.
    pub occurrences: usize,
    /// Meetings with customers among them (one per account).
    pub meetings: usize,
    pub written: u64,
    pub unchanged: u64,
    /// Meetings whose event is gone: deleted, or cancelled when edited in laer.
    pub removed: u64,
    pub cancelled: u64,
    /// Whether any event names its people: a feed that leaves them out (Outlook's
    /// published calendars do) can make no meetings.
    pub names_people: bool,
    /// People on events who are neither the team's nor any contact's: how many, and the
    /// first [`REPORT_EXAMPLES`].
    pub strangers: usize,
    pub stranger_examples: Vec<String>,
    /// Events that could not be read, and why (the first [`REPORT_EXAMPLES`]).
    pub problems: usize,
    pub problem_examples: Vec<String>,
}

/// A calendar's address as laer fetches it, and its host, which lists show (the address
/// itself is a secret: a feed's is all it takes to read the calendar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub url: String,
    pub host: String,
}

/// Reads a calendar's address: https (`webcal://` and `webcals://`, as feeds are often
/// given, are https), or http to this machine only, with no credentials in it.
pub fn address(url: &str) -> Result<Address, String> {
    let url = url.trim();
    if url.len() > MAX_URL_BYTES {
        return Err(format!("at most {MAX_URL_BYTES} characters"));
    }
    let lower = url.to_ascii_lowercase();
    let scheme_end = lower.find("://").ok_or("an address starts with https://")?;
    let rest = &url[scheme_end + 3..];
    let secure = match &lower[..scheme_end] {
        "https" | "webcal" | "webcals" => true,
        "http" => false,
        _ => return Err("an address starts with https:// (or webcal://)".into()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err("not a calendar address".into());
    }
    if authority.contains('@') {
        return Err("an address with a user name in it: give the user name and password on their own".into());
    }
    if !secure && !matches!(host, "localhost" | "127.0.0.1" | "::1") {
        return Err("an address starts with https:// (http only to this machine)".into());
    }
    let scheme = if secure { "https" } else { "http" };
    Ok(Address {
        url: format!("{scheme}://{rest}"),
        host: host.to_ascii_lowercase(),
    })
}

/// The span of time synced: events that start in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One occurrence of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Occurrence {
    /// Stable across edits and moves: the event's UID and, for an occurrence of a
    /// recurring event, its original start (its RECURRENCE-ID) in UTC.
    pub key: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub all_day: bool,
    pub title: Option<String>,
    /// Who takes part: the organizer and the attendees who did not decline, as lower-case
    /// email addresses, each once.
    pub people: Vec<String>,
}

/// Why a document cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("not an iCalendar document (it should begin with BEGIN:VCALENDAR)")]
    NotICalendar,
}

/// What one document gave: its occurrences in the window, and the events that could not
/// be read, each with why (the others are kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    pub occurrences: Vec<Occurrence>,
    pub problems: Vec<String>,
    /// Whether any event names people at all: a published feed that leaves attendees
    /// out (as Outlook's do) can make no meetings.
    pub names_people: bool,
}

/// An instant as an event gives it: its UTC time, and whether it is a whole day.
#[derive(Debug, Clone, Copy)]
struct When {
    at: DateTime<Utc>,
    all_day: bool,
    /// The zone it is counted in, for recurrences (floating and fixed offsets: UTC, the
    /// instant already fixed).
    zone: rrule::Tz,
    local: NaiveDateTime,
}

fn value_time(
    entry: &ICalendarEntry,
    value: &ICalendarValue,
    zones: &calcard::icalendar::timezone::TzResolver<&str>,
    default: chrono_tz::Tz,
) -> Option<When> {
    let partial = value.as_partial_date_time()?;
    let all_day = partial.hour.is_none();
    let result = partial.to_date_time()?;
    let local = result.date_time;
    if let Some(offset) = result.offset {
        let at = offset.from_local_datetime(&local).single()?.with_timezone(&Utc);
        return Some(When {
            at,
            all_day,
            zone: rrule::Tz::UTC,
            local: at.naive_utc(),
        });
    }
    let zone = match zones.resolve_or_default(entry.tz_id()) {
        CalTz::Tz(tz) => tz,
        // A floating time, or one in a zone no name resolves: the calendar's own zone.
        CalTz::Floating | CalTz::Fixed(_) => default,
    };
    let at = in_zone(&zone, &local)?.with_timezone(&Utc);
    Some(When {
        at,
        all_day,
        zone: zone.into(),
        local,
    })
}

/// A local time in `zone`: one that the clocks repeat, its first reading; one they skip,
/// an hour later (RFC 5545, 3.3.5: the offset from before the gap).
fn in_zone<Z: TimeZone>(zone: &Z, local: &NaiveDateTime) -> Option<DateTime<Z>> {
    zone.from_local_datetime(local)
        .earliest()
        .or_else(|| zone.from_local_datetime(&(*local + TimeDelta::hours(1))).earliest())
}

fn times(
    entry: &ICalendarEntry,
    zones: &calcard::icalendar::timezone::TzResolver<&str>,
    default: chrono_tz::Tz,
) -> Vec<When> {
    entry
        .values
        .iter()
        .filter_map(|v| value_time(entry, v, zones, default))
        .collect()
}

fn text(component: &ICalendarComponent, property: &ICalendarProperty) -> Option<String> {
    component
        .property(property)
        .and_then(|e| e.values.first())
        .and_then(ICalendarValue::as_text)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn cancelled(component: &ICalendarComponent) -> bool {
    matches!(component.status(), Some(ICalendarStatus::Cancelled))
}

/// The organizer and the attendees who did not decline, lower-case, each once.
fn people(component: &ICalendarComponent) -> Vec<String> {
    let mut seen = Vec::new();
    for entry in component.entries.iter() {
        let declined = matches!(
            entry.parameter(&ICalendarParameterName::Partstat),
            Some(ICalendarParameterValue::Partstat(
                ICalendarParticipationStatus::Declined
            ))
        );
        let person = match entry.name {
            ICalendarProperty::Organizer => true,
            ICalendarProperty::Attendee => !declined,
            _ => false,
        };
        if let Some(address) = entry.calendar_address().filter(|_| person) {
            let address = address.trim().to_ascii_lowercase();
            if address.contains('@') && !seen.contains(&address) {
                seen.push(address);
            }
        }
    }
    seen
}

fn names_people(component: &ICalendarComponent) -> bool {
    component
        .entries
        .iter()
        .any(|e| matches!(e.name, ICalendarProperty::Attendee | ICalendarProperty::Organizer))
}

/// How long the event lasts: DTEND - DTSTART, else DURATION, else a day for a whole-day
/// event and nothing for the rest.
fn duration(
    component: &ICalendarComponent,
    start: &When,
    zones: &calcard::icalendar::timezone::TzResolver<&str>,
    default: chrono_tz::Tz,
) -> TimeDelta {
    if let Some(end) = component
        .property(&ICalendarProperty::Dtend)
        .and_then(|e| times(e, zones, default).into_iter().next())
    {
        return (end.at - start.at).max(TimeDelta::zero());
    }
    let given = component
        .property(&ICalendarProperty::Duration)
        .and_then(|e| e.values.first())
        .and_then(|v| match v {
            ICalendarValue::Duration(d) => Some(d),
            _ => None,
        });
    match given {
        Some(d) => {
            let seconds = i64::from(d.seconds)
                + i64::from(d.minutes) * 60
                + i64::from(d.hours) * 3600
                + i64::from(d.days) * 86_400
                + i64::from(d.weeks) * 604_800;
            TimeDelta::seconds(if d.neg { 0 } else { seconds })
        }
        None if start.all_day => TimeDelta::days(1),
        None => TimeDelta::zero(),
    }
}

/// `UNTIL` in UTC, as rrule needs it when the start has a zone: feeds also write it in
/// local time or as a date (then the end of that day).
fn until_in_utc(rule: &str, zone: rrule::Tz) -> String {
    rule.split(';')
        .map(|part| {
            let Some(value) = part.strip_prefix("UNTIL=") else {
                return part.to_string();
            };
            if value.ends_with('Z') {
                return part.to_string();
            }
            let local = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").ok().or_else(|| {
                NaiveDate::parse_from_str(value, "%Y%m%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(23, 59, 59))
            });
            match local.and_then(|l| in_zone(&zone, &l)) {
                Some(at) => format!("UNTIL={}", at.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ")),
                None => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn key_of(uid: &str, original: Option<DateTime<Utc>>) -> String {
    match original {
        Some(at) => format!("{uid}|{}", at.format("%Y%m%dT%H%M%SZ")),
        None => uid.to_string(),
    }
}

/// The occurrences of one event (its series and the occurrences it overrides) in the
/// window.
fn event_occurrences(
    uid: &str,
    series: Option<&ICalendarComponent>,
    overrides: &[&ICalendarComponent],
    window: &Window,
    zones: &calcard::icalendar::timezone::TzResolver<&str>,
    default: chrono_tz::Tz,
) -> Result<Vec<Occurrence>, String> {
    let start_of = |c: &ICalendarComponent| {
        c.property(&ICalendarProperty::Dtstart)
            .and_then(|e| times(e, zones, default).into_iter().next())
    };
    let occurrence =
        |c: &ICalendarComponent, key: String, start: DateTime<Utc>, all_day: bool, length: TimeDelta| Occurrence {
            key,
            start,
            end: start + length,
            all_day,
            title: text(c, &ICalendarProperty::Summary),
            people: people(c),
        };
    let in_window = |start: DateTime<Utc>| start >= window.from && start < window.to;
    // Overrides by the occurrence they replace (their RECURRENCE-ID, in UTC).
    let mut replaced: BTreeMap<DateTime<Utc>, &ICalendarComponent> = BTreeMap::new();
    for c in overrides {
        let original = c
            .property(&ICalendarProperty::RecurrenceId)
            .and_then(|e| times(e, zones, default).into_iter().next())
            .ok_or_else(|| format!("event {uid}: an occurrence without a readable RECURRENCE-ID"))?;
        replaced.insert(original.at, c);
    }
    let mut out = Vec::new();
    let mut used: HashSet<DateTime<Utc>> = HashSet::new();
    if let Some(series) = series.filter(|s| !cancelled(s)) {
        let start = start_of(series).ok_or_else(|| format!("event {uid}: no readable DTSTART"))?;
        let length = duration(series, &start, zones, default);
        let rules: Vec<String> = series
            .properties(&ICalendarProperty::Rrule)
            .flat_map(|e| e.values.iter())
            .filter_map(|v| match v {
                ICalendarValue::RecurrenceRule(rule) => Some(rule.to_string()),
                _ => None,
            })
            .collect();
        let unreadable = series
            .properties(&ICalendarProperty::Rrule)
            .flat_map(|e| e.values.iter())
            .find(|v| !matches!(v, ICalendarValue::RecurrenceRule(_)));
        if let Some(value) = unreadable {
            let said = value.as_text().unwrap_or("?");
            return Err(format!(
                "event {uid}: RRULE {said:?} does not read as a recurrence rule"
            ));
        }
        if rules.is_empty() && !series.has_property(&ICalendarProperty::Rdate) {
            // A single event (overrides of it, if any, are ignored as meaningless).
            if in_window(start.at) {
                out.push(occurrence(series, key_of(uid, None), start.at, start.all_day, length));
            }
            return Ok(out);
        }
        let dtstart = in_zone(&start.zone, &start.local)
            .ok_or_else(|| format!("event {uid}: its start does not exist in its time zone"))?;
        let mut set = RRuleSet::new(dtstart).rdate(dtstart);
        for rule in &rules {
            let rule: RRule<Unvalidated> = until_in_utc(rule, start.zone)
                .parse()
                .map_err(|e| format!("event {uid}: RRULE {rule}: {e}"))?;
            let rule = rule.validate(dtstart).map_err(|e| format!("event {uid}: RRULE: {e}"))?;
            set = set.rrule(rule);
        }
        let in_zone = |w: &When| w.at.with_timezone(&start.zone);
        for entry in series.properties(&ICalendarProperty::Rdate) {
            for w in times(entry, zones, default) {
                set = set.rdate(in_zone(&w));
            }
        }
        for entry in series.properties(&ICalendarProperty::Exdate) {
            for w in times(entry, zones, default) {
                set = set.exdate(in_zone(&w));
            }
        }
        // Occurrences whose start may be in the window, or that an override moves in.
        let from = window.from.with_timezone(&start.zone) - TimeDelta::days(366);
        let to = window.to.with_timezone(&start.zone) + TimeDelta::days(366);
        let result = set.after(from).before(to).all(MAX_OCCURRENCES);
        // The start is listed as a date of its own too (RFC 5545 counts it), once.
        let dates: std::collections::BTreeSet<DateTime<Utc>> =
            result.dates.iter().map(|at| at.with_timezone(&Utc)).collect();
        for at in dates {
            match replaced.get(&at) {
                Some(c) => {
                    used.insert(at);
                    if cancelled(c) {
                        continue;
                    }
                    if let Some(moved) = start_of(c) {
                        let length = duration(c, &moved, zones, default);
                        if in_window(moved.at) {
                            out.push(occurrence(c, key_of(uid, Some(at)), moved.at, moved.all_day, length));
                        }
                    }
                }
                None if in_window(at) => {
                    out.push(occurrence(series, key_of(uid, Some(at)), at, start.all_day, length));
                }
                None => {}
            }
        }
    }
    // Overrides of occurrences the series does not list (or of a series not in this
    // document): each stands as given.
    for (original, c) in replaced.iter().filter(|(at, _)| !used.contains(*at)) {
        if cancelled(c) || series.is_some_and(cancelled) {
            continue;
        }
        if let Some(start) = start_of(c).filter(|s| in_window(s.at)) {
            let length = duration(c, &start, zones, default);
            out.push(occurrence(
                c,
                key_of(uid, Some(*original)),
                start.at,
                start.all_day,
                length,
            ));
        }
    }
    Ok(out)
}

/// The document's occurrences that start in `window`, soonest first. Times without a zone
/// (and whole days) are in `default`, the calendar's zone.
pub fn read(text: &str, window: &Window, default: chrono_tz::Tz) -> Result<Read, CalendarError> {
    let calendar = ICalendar::parse(text).map_err(|_| CalendarError::NotICalendar)?;
    let zones = calendar.build_tz_resolver().with_default(default);
    let mut events: BTreeMap<&str, (Option<&ICalendarComponent>, Vec<&ICalendarComponent>)> = BTreeMap::new();
    let mut read = Read::default();
    for c in calendar
        .components
        .iter()
        .filter(|c| c.component_type == ICalendarComponentType::VEvent)
    {
        read.names_people |= names_people(c);
        let Some(uid) = c.uid() else {
            read.problems.push("an event without a UID".into());
            continue;
        };
        let event = events.entry(uid).or_default();
        if c.is_recurrence_override() {
            event.1.push(c);
        } else {
            event.0 = Some(c);
        }
    }
    for (uid, (series, overrides)) in events {
        match event_occurrences(uid, series, &overrides, window, &zones, default) {
            Ok(found) => read.occurrences.extend(found),
            Err(problem) => read.problems.push(problem),
        }
    }
    read.occurrences
        .sort_by(|a, b| a.start.cmp(&b.start).then(a.key.cmp(&b.key)));
    Ok(read)
}

/// A contact of an account, as an event's people find them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub contact_id: i64,
    pub account_id: i64,
    pub stakeholder_team: Option<String>,
}

/// An occurrence as a meeting of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarMeeting {
    /// Stable across syncs, edits and moves: the occurrence's key and the account.
    pub external_id: String,
    pub account_id: i64,
    pub held_at: DateTime<Utc>,
    pub duration_minutes: Option<i32>,
    pub title: Option<String>,
    /// The account's contacts who take part, and their stakeholder teams, each once.
    pub contact_ids: Vec<i64>,
    pub stakeholder_teams: Vec<String>,
    /// The vendor's team members who take part (known by their addresses), each once.
    pub team_member_ids: Vec<i64>,
    /// It is still to come.
    pub scheduled: bool,
}

fn domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Who an event's people are, as a calendar sync knows them: the vendor's own domains,
/// the contacts by address, and the team members by address (all lower-case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct People {
    pub own_domains: Vec<String>,
    pub contacts: HashMap<String, Vec<Attendee>>,
    pub team: HashMap<String, i64>,
}

impl People {
    fn own(&self, address: &str) -> bool {
        self.team.contains_key(address) || self.own_domains.iter().any(|d| d.eq_ignore_ascii_case(domain(address)))
    }
}

/// The vendor's own domains: those of its team members' and users' addresses, less any
/// domain a contact's address has too (a team member at a public mail service does not
/// make every customer there internal).
pub fn own_domains<'a>(
    vendor: impl IntoIterator<Item = &'a str>,
    contacts: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let customers: HashSet<String> = contacts.into_iter().map(|a| domain(a).to_ascii_lowercase()).collect();
    let mut own: Vec<String> = vendor
        .into_iter()
        .map(|a| domain(a).to_ascii_lowercase())
        .filter(|d| !d.is_empty() && !customers.contains(d))
        .collect();
    own.sort();
    own.dedup();
    own
}

/// The occurrences that are meetings with customers: one per account whose contacts take
/// part. An occurrence whose people are all the vendor's (its team members, its own
/// domains) is internal and left out, as are whole-day events (holidays, out of office).
pub fn meetings(occurrences: &[Occurrence], people: &People, now: DateTime<Utc>) -> Vec<CalendarMeeting> {
    let own = |address: &str| people.own(address);
    let contacts = &people.contacts;
    let mut out = Vec::new();
    for o in occurrences.iter().filter(|o| !o.all_day) {
        if o.people.iter().all(|p| own(p)) {
            continue;
        }
        let mut team_member_ids: Vec<i64> = o.people.iter().filter_map(|p| people.team.get(p).copied()).collect();
        team_member_ids.sort_unstable();
        team_member_ids.dedup();
        let mut by_account: BTreeMap<i64, (Vec<i64>, Vec<String>)> = BTreeMap::new();
        for person in o.people.iter().filter(|p| !own(p)) {
            for a in contacts.get(person).into_iter().flatten() {
                let (ids, teams) = by_account.entry(a.account_id).or_default();
                if !ids.contains(&a.contact_id) {
                    ids.push(a.contact_id);
                }
                if let Some(team) = &a.stakeholder_team
                    && !teams.contains(team)
                {
                    teams.push(team.clone());
                }
            }
        }
        for (account_id, (contact_ids, stakeholder_teams)) in by_account {
            let minutes = (o.end - o.start).num_minutes();
            out.push(CalendarMeeting {
                external_id: format!(
                    "cal-{:016x}",
                    xxhash_rust::xxh3::xxh3_64(format!("{account_id}\u{1f}{}", o.key).as_bytes())
                ),
                account_id,
                held_at: o.start,
                duration_minutes: (minutes > 0).then(|| i32::try_from(minutes).unwrap_or(i32::MAX)),
                title: o.title.clone(),
                contact_ids,
                stakeholder_teams,
                team_member_ids: team_member_ids.clone(),
                scheduled: o.start > now,
            });
        }
    }
    out
}

/// The addresses on events who are neither the vendor's nor any contact's, sorted, each
/// once: the people a sync could not place (a customer's contact not in laer yet).
pub fn strangers(occurrences: &[Occurrence], people: &People) -> Vec<String> {
    let mut out: Vec<String> = occurrences
        .iter()
        .filter(|o| !o.all_day)
        .flat_map(|o| o.people.iter())
        .filter(|p| !people.own(p) && !people.contacts.contains_key(*p))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What a person wrote on a touchpoint in laer, which a calendar sync keeps: once a
/// meeting from a calendar has been edited in the web app, its kind, purpose, summary and
/// next step are the person's; its time, status and people stay the calendar's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub kind: TouchpointKind,
    pub purpose: Option<String>,
    pub summary: Option<String>,
    pub next_step: Option<String>,
}

/// A calendar meeting as the touchpoint laer stores: a meeting, held or scheduled, its
/// title as the summary (cut to the summary's bound), unless `edited` in laer.
pub fn touchpoint(meeting: &CalendarMeeting, edited: Option<&Edited>) -> NewTouchpoint {
    let title = meeting
        .title
        .as_ref()
        .map(|t| t.chars().take(crate::parse::MAX_TEXT_CHARS).collect::<String>());
    let (kind, purpose, summary, next_step) = match edited {
        Some(e) => (e.kind, e.purpose.clone(), e.summary.clone(), e.next_step.clone()),
        None => (TouchpointKind::Meeting, None, title, None),
    };
    NewTouchpoint {
        external_id: meeting.external_id.clone(),
        account_id: meeting.account_id,
        held_at: meeting.held_at,
        kind,
        purpose,
        status: if meeting.scheduled {
            MeetingStatus::Scheduled
        } else {
            MeetingStatus::Held
        },
        duration_minutes: meeting.duration_minutes,
        stakeholder_teams: meeting.stakeholder_teams.clone(),
        contact_ids: meeting.contact_ids.clone(),
        team_member_ids: meeting.team_member_ids.clone(),
        summary,
        next_step,
    }
    .normalized()
}

/// What becomes of a touchpoint a calendar made once its event is gone from the calendar
/// (deleted, cancelled, moved out of the synced window): one a person edited in laer is
/// kept, marked cancelled, with what they wrote; the others go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    Cancel,
    Delete,
}

pub fn gone(edited_in_laer: bool) -> Gone {
    if edited_in_laer { Gone::Cancel } else { Gone::Delete }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn window() -> Window {
        Window {
            from: utc("2026-01-01T00:00:00Z"),
            to: utc("2026-03-01T00:00:00Z"),
        }
    }

    fn calendar(events: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//laer test//EN\r\n{events}END:VCALENDAR\r\n")
    }

    fn starts(read: &Read) -> Vec<(String, String)> {
        read.occurrences
            .iter()
            .map(|o| (o.key.clone(), o.start.format("%Y-%m-%dT%H:%MZ").to_string()))
            .collect()
    }

    const WEEKLY: &str = "BEGIN:VEVENT\r\nUID:weekly-1\r\nSUMMARY:Weekly sync\r\n\
        DTSTART;TZID=Europe/Berlin:20260105T100000\r\nDTEND;TZID=Europe/Berlin:20260105T103000\r\n\
        RRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE;TZID=Europe/Berlin:20260119T100000\r\n\
        ORGANIZER:mailto:kim@vendor.example\r\n\
        ATTENDEE;PARTSTAT=ACCEPTED:mailto:Bob@Acme.example\r\n\
        ATTENDEE;PARTSTAT=DECLINED:mailto:eve@acme.example\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:weekly-1\r\nSEQUENCE:1\r\nSUMMARY:Weekly sync (moved)\r\n\
        RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000\r\n\
        DTSTART;TZID=Europe/Berlin:20260113T150000\r\nDTEND;TZID=Europe/Berlin:20260113T160000\r\n\
        ORGANIZER:mailto:kim@vendor.example\r\nATTENDEE:mailto:bob@acme.example\r\nEND:VEVENT\r\n";

    #[test]
    fn a_series_expands_with_its_moved_and_excluded_occurrences() {
        let read = read(&calendar(WEEKLY), &window(), chrono_tz::UTC).unwrap();
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        assert_eq!(
            starts(&read),
            [
                ("weekly-1|20260105T090000Z".to_string(), "2026-01-05T09:00Z".to_string()),
                ("weekly-1|20260112T090000Z".into(), "2026-01-13T14:00Z".into()),
                ("weekly-1|20260126T090000Z".into(), "2026-01-26T09:00Z".into()),
                ("weekly-1|20260202T090000Z".into(), "2026-02-02T09:00Z".into()),
            ],
            "the 19th is excluded; the 12th moved to the 13th keeps its key"
        );
        let first = &read.occurrences[0];
        assert_eq!(first.end - first.start, TimeDelta::minutes(30));
        assert_eq!(first.people, ["kim@vendor.example", "bob@acme.example"], "eve declined");
        assert_eq!(read.occurrences[1].title.as_deref(), Some("Weekly sync (moved)"));
        assert_eq!(read.occurrences[1].end - read.occurrences[1].start, TimeDelta::hours(1));
        assert!(read.names_people);
    }

    #[test]
    fn clocks_changing_keep_the_local_hour() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:dst\r\nDTSTART;TZID=Europe/Berlin:20260323T100000\r\n\
             RRULE:FREQ=WEEKLY;UNTIL=20260405T000000\r\nEND:VEVENT\r\n",
        );
        let spring = Window {
            from: utc("2026-03-01T00:00:00Z"),
            to: utc("2026-05-01T00:00:00Z"),
        };
        let read = read(&text, &spring, chrono_tz::UTC).unwrap();
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        let at: Vec<String> = read
            .occurrences
            .iter()
            .map(|o| o.start.format("%m-%dT%H:%M").to_string())
            .collect();
        assert_eq!(
            at,
            ["03-23T09:00", "03-30T08:00"],
            "a local UNTIL is read in the event's zone"
        );
        let skipped =
            calendar("BEGIN:VEVENT\r\nUID:gap\r\nDTSTART;TZID=Europe/Berlin:20260329T023000\r\nEND:VEVENT\r\n");
        let read = super::read(&skipped, &spring, chrono_tz::UTC).unwrap();
        assert_eq!(
            read.occurrences[0].start,
            utc("2026-03-29T01:30:00Z"),
            "02:30 does not exist that night: 03:30 summer time"
        );
    }

    #[test]
    fn cancelled_events_and_occurrences_are_left_out() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:gone\r\nSTATUS:CANCELLED\r\nDTSTART:20260110T100000Z\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:daily\r\nDTSTART:20260201T100000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:daily\r\nRECURRENCE-ID:20260202T100000Z\r\nSTATUS:CANCELLED\r\n\
             DTSTART:20260202T100000Z\r\nEND:VEVENT\r\n",
        );
        let read = read(&text, &window(), chrono_tz::UTC).unwrap();
        assert_eq!(
            starts(&read).into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["daily|20260201T100000Z", "daily|20260203T100000Z"]
        );
    }

    #[test]
    fn outlooks_windows_zone_names_and_whole_days_are_read() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:outlook\r\nDTSTART;TZID=\"W. Europe Standard Time\":20260115T140000\r\n\
             DTEND;TZID=\"W. Europe Standard Time\":20260115T150000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:holiday\r\nDTSTART;VALUE=DATE:20260120\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:floating\r\nDTSTART:20260121T090000\r\nDURATION:PT45M\r\nEND:VEVENT\r\n",
        );
        let read = read(&text, &window(), chrono_tz::America::New_York).unwrap();
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        let by_key: HashMap<&str, &Occurrence> = read.occurrences.iter().map(|o| (o.key.as_str(), o)).collect();
        assert_eq!(by_key["outlook"].start, utc("2026-01-15T13:00:00Z"));
        assert!(by_key["holiday"].all_day);
        assert_eq!(by_key["holiday"].end - by_key["holiday"].start, TimeDelta::days(1));
        assert_eq!(
            by_key["floating"].start,
            utc("2026-01-21T14:00:00Z"),
            "in the calendar's zone"
        );
        assert_eq!(
            by_key["floating"].end - by_key["floating"].start,
            TimeDelta::minutes(45)
        );
        assert!(!read.names_people, "a feed without attendees says so");
    }

    #[test]
    fn a_bad_event_is_reported_and_the_rest_kept() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:bad\r\nDTSTART:20260110T100000Z\r\nRRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:good\r\nDTSTART:20260111T100000Z\r\nEND:VEVENT\r\n",
        );
        let read = read(&text, &window(), chrono_tz::UTC).unwrap();
        assert_eq!(read.occurrences.len(), 1);
        assert_eq!(read.problems.len(), 1, "{:?}", read.problems);
        assert!(read.problems[0].starts_with("event bad"), "{:?}", read.problems);
        assert_eq!(
            super::read("not a calendar", &window(), chrono_tz::UTC),
            Err(CalendarError::NotICalendar)
        );
    }

    proptest::proptest! {
        /// Whatever the rule, zone and window: every occurrence starts in the window, its
        /// key is its own, and they come soonest first.
        #[test]
        fn occurrences_stay_in_their_window_each_once(
            freq in proptest::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY"]),
            count in 1u32..60,
            interval in 1u32..4,
            zone in proptest::sample::select(vec!["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]),
            start_day in 0i64..120,
            hour in 0u32..24,
            from_day in 0i64..150,
            days in 1i64..120,
            excluded in 0u32..10,
        ) {
            let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(hour, 30, 0).unwrap()
                + TimeDelta::days(start_day);
            let local = start.format("%Y%m%dT%H%M%S");
            let exdate = (start + TimeDelta::days(i64::from(excluded))).format("%Y%m%dT%H%M%S");
            let text = calendar(&format!(
                "BEGIN:VEVENT\r\nUID:p\r\nDTSTART;TZID={zone}:{local}\r\n\
                 RRULE:FREQ={freq};INTERVAL={interval};COUNT={count}\r\n\
                 EXDATE;TZID={zone}:{exdate}\r\nEND:VEVENT\r\n"
            ));
            let from = utc("2026-01-01T00:00:00Z") + TimeDelta::days(from_day);
            let window = Window { from, to: from + TimeDelta::days(days) };
            let read = read(&text, &window, chrono_tz::UTC).unwrap();
            proptest::prop_assert!(read.problems.is_empty(), "{:?}", read.problems);
            proptest::prop_assert!(read.occurrences.len() <= count as usize);
            let mut keys = HashSet::new();
            for pair in read.occurrences.windows(2) {
                proptest::prop_assert!(pair[0].start <= pair[1].start);
            }
            for o in &read.occurrences {
                proptest::prop_assert!(o.start >= window.from && o.start < window.to, "{o:?}");
                proptest::prop_assert!(keys.insert(o.key.clone()), "{} twice", o.key);
            }
        }
    }

    #[test]
    fn meetings_are_the_occurrences_with_customers() {
        let text = calendar(&format!(
            "{WEEKLY}BEGIN:VEVENT\r\nUID:internal\r\nDTSTART:20260110T100000Z\r\n\
             ORGANIZER:mailto:kim@vendor.example\r\nATTENDEE:mailto:lee@vendor.example\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:two-customers\r\nDTSTART:20260111T100000Z\r\nDTEND:20260111T110000Z\r\n\
             ATTENDEE:mailto:bob@acme.example\r\nATTENDEE:mailto:sue@globex.example\r\n\
             ATTENDEE:mailto:stranger@else.example\r\nEND:VEVENT\r\n"
        ));
        let read = read(&text, &window(), chrono_tz::UTC).unwrap();
        let contacts = HashMap::from([
            (
                "bob@acme.example".to_string(),
                vec![Attendee {
                    contact_id: 10,
                    account_id: 1,
                    stakeholder_team: Some("executive".into()),
                }],
            ),
            (
                "sue@globex.example".to_string(),
                vec![Attendee {
                    contact_id: 20,
                    account_id: 2,
                    stakeholder_team: None,
                }],
            ),
        ]);
        let people = People {
            own_domains: own_domains(["kim@vendor.example"], ["bob@acme.example", "sue@globex.example"]),
            contacts,
            team: HashMap::from([("kim@vendor.example".to_string(), 7)]),
        };
        let found = meetings(&read.occurrences, &people, utc("2026-01-20T00:00:00Z"));
        let summary: Vec<(i64, String, bool)> = found
            .iter()
            .map(|m| (m.account_id, m.held_at.format("%m-%d").to_string(), m.scheduled))
            .collect();
        assert_eq!(
            summary,
            [
                (1, "01-05".into(), false),
                (1, "01-11".into(), false),
                (2, "01-11".into(), false),
                (1, "01-13".into(), false),
                (1, "01-26".into(), true),
                (1, "02-02".into(), true),
            ],
            "the internal meeting is left out; one meeting per customer"
        );
        assert_eq!(found[0].contact_ids, [10]);
        assert_eq!(found[0].stakeholder_teams, ["executive"]);
        assert_eq!(found[0].duration_minutes, Some(30));
        assert_eq!(found[0].team_member_ids, [7], "kim organizes");
        assert!(found[2].team_member_ids.is_empty());
        assert_eq!(strangers(&read.occurrences, &people), ["stranger@else.example"]);
        let again = meetings(&read.occurrences, &people, utc("2026-01-20T00:00:00Z"));
        assert_eq!(found, again, "the same ids each sync");
        assert_ne!(found[1].external_id, found[2].external_id, "one id per account");
    }

    #[test]
    fn a_shared_mail_domain_is_not_the_vendors() {
        let own = own_domains(
            ["kim@Vendor.example", "pat@gmail.com", "lee@vendor.example", "nobody"],
            ["bob@acme.example", "ann@gmail.com"],
        );
        assert_eq!(
            own,
            ["vendor.example"],
            "a contact at gmail.com keeps it a customer domain"
        );
    }

    fn meeting(title: &str, scheduled: bool) -> CalendarMeeting {
        CalendarMeeting {
            external_id: "cal-1".into(),
            account_id: 3,
            held_at: utc("2026-01-05T09:00:00Z"),
            duration_minutes: Some(30),
            title: Some(title.into()),
            contact_ids: vec![11, 10],
            stakeholder_teams: vec!["it".into()],
            team_member_ids: vec![7],
            scheduled,
        }
    }

    #[test]
    fn a_meeting_edited_in_laer_keeps_what_was_written() {
        let fresh = touchpoint(&meeting("Kick-off", true), None);
        assert_eq!(fresh.status, MeetingStatus::Scheduled);
        assert_eq!(fresh.kind, TouchpointKind::Meeting);
        assert_eq!(fresh.summary.as_deref(), Some("Kick-off"));
        assert_eq!(fresh.contact_ids, [10, 11], "normalized");
        assert!(fresh.problems().is_empty());
        let edited = Edited {
            kind: TouchpointKind::BusinessReview,
            purpose: Some("qbr".into()),
            summary: Some("Went through the roadmap".into()),
            next_step: Some("Send the deck".into()),
        };
        let kept = touchpoint(&meeting("Kick-off (moved)", false), Some(&edited));
        assert_eq!(kept.status, MeetingStatus::Held, "time and status stay the calendar's");
        assert_eq!(kept.kind, TouchpointKind::BusinessReview);
        assert_eq!(kept.summary.as_deref(), Some("Went through the roadmap"));
        assert_eq!(kept.next_step.as_deref(), Some("Send the deck"));
        let long = touchpoint(&meeting(&"x".repeat(crate::parse::MAX_TEXT_CHARS + 5), false), None);
        assert!(long.problems().is_empty(), "a long title is cut to the summary's bound");
        assert_eq!(gone(true), Gone::Cancel);
        assert_eq!(gone(false), Gone::Delete);
    }

    #[test]
    fn addresses_are_https_and_their_host_is_shown() {
        let google =
            address("webcal://calendar.google.com/calendar/ical/kim%40vendor.example/private-abc/basic.ics").unwrap();
        assert!(google.url.starts_with("https://calendar.google.com/calendar/ical/"));
        assert_eq!(google.host, "calendar.google.com");
        assert_eq!(address("http://127.0.0.1:5232/kim/work/").unwrap().host, "127.0.0.1");
        assert!(address("http://caldav.example/kim/").unwrap_err().contains("https"));
        assert!(
            address("https://kim:pw@caldav.example/")
                .unwrap_err()
                .contains("user name")
        );
        assert!(address("ftp://x/").is_err());
        assert!(address(&format!("https://x.example/{}", "a".repeat(MAX_URL_BYTES))).is_err());
        assert_eq!("ICS".parse::<CalendarKind>(), Ok(CalendarKind::Feed));
    }
}
