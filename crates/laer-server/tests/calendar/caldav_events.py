"""A real CalDAV client (the `caldav` library) for the calendar integration test of laer
(issue 18 item 4): it plays the user's calendar app against a real CalDAV server.

Run as `python caldav_events.py --url http://127.0.0.1:PORT/ --user alice --password secret`
with a JSON array of operations on standard input, applied in order:

  {"op": "make_calendar", "id": "work", "name": "Work"}
  {"op": "add", "calendar": "work", "event": {"uid", "summary", "start", "end", "tz"?,
      "all_day"?, "rrule"? ({"freq": "weekly", "count": 5}), "exdates"?, "organizer"?,
      "attendees"? ([{"email", "partstat"?}]), "status"?, "overrides"? ([{"recurrence_id",
      "start", "end", "summary"?}])}}
  {"op": "move", "calendar": "work", "uid": "...", "start": "...", "end": "..."}
  {"op": "move_occurrence", "calendar": "work", "uid": "...", "recurrence_id": "...",
      "start": "...", "end": "..."}
  {"op": "cancel", "calendar": "work", "uid": "..."}
  {"op": "delete", "calendar": "work", "uid": "..."}

Datetimes are "YYYY-MM-DDTHH:MM:SS", local in the event's `tz` (later operations use the
zone of the stored DTSTART), or with a trailing "Z" for UTC; all-day events take dates
"YYYY-MM-DD". Prints `ok <op>` per operation; on a failure, a message on stderr and exit 1.
"""

import argparse
import copy
import json
import sys
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import caldav
from icalendar import Calendar, Event, vCalAddress, vRecur


def parse_when(text, tzinfo=None, all_day=False):
    """A date (all-day), a UTC datetime ("...Z"), or a datetime local in `tzinfo`."""
    if all_day:
        return date.fromisoformat(text)
    if text.endswith("Z"):
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(text).replace(tzinfo=tzinfo)


def set_prop(component, name, value):
    """Replaces a property (icalendar's add() would append a second one)."""
    component.pop(name, None)
    component.add(name, value)


def address(email, partstat=None):
    addr = vCalAddress(f"mailto:{email}")
    if partstat:
        addr.params["PARTSTAT"] = partstat
    return addr


def new_vevent(uid, summary, start, end):
    vevent = Event()
    vevent.add("uid", uid)
    vevent.add("dtstamp", datetime.now(timezone.utc))
    vevent.add("sequence", 0)
    vevent.add("summary", summary)
    vevent.add("dtstart", start)
    vevent.add("dtend", end)
    return vevent


def build_calendar(e):
    """The calendar object resource for one event: master VEVENT, overrides, VTIMEZONEs."""
    all_day = bool(e.get("all_day"))
    tzinfo = ZoneInfo(e["tz"]) if e.get("tz") else None
    when = lambda text: parse_when(text, tzinfo, all_day)  # noqa: E731
    master = new_vevent(e["uid"], e["summary"], when(e["start"]), when(e["end"]))
    if e.get("rrule"):
        rule = {}
        for key, value in e["rrule"].items():
            if key.lower() == "until":
                value = when(value)
            elif isinstance(value, str):
                value = value.upper()
            rule[key.upper()] = value
        master.add("rrule", vRecur(rule))
    if e.get("exdates"):
        master.add("exdate", [when(x) for x in e["exdates"]])
    if e.get("organizer"):
        master.add("organizer", address(e["organizer"]))
    for attendee in e.get("attendees", []):
        master.add("attendee", address(attendee["email"], attendee.get("partstat")))
    if e.get("status"):
        master.add("status", e["status"])
    cal = Calendar()
    cal.add("prodid", "-//laer//calendar integration test//EN")
    cal.add("version", "2.0")
    cal.add_component(master)
    for o in e.get("overrides", []):
        override = new_vevent(e["uid"], o.get("summary", e["summary"]), when(o["start"]), when(o["end"]))
        override.add("recurrence-id", when(o["recurrence_id"]))
        # As calendar apps write them: the instance keeps its people.
        for name in ("ORGANIZER", "ATTENDEE"):
            if name in master:
                override[name] = copy.deepcopy(master[name])
        cal.add_component(override)
    cal.add_missing_timezones()  # a VTIMEZONE for each TZID used (icalendar >= 6)
    return cal


def vevents(cal):
    return [c for c in cal.subcomponents if c.name == "VEVENT"]


def master_of(cal):
    return next(c for c in vevents(cal) if "RECURRENCE-ID" not in c)


def when_like(component, name, text):
    """Parses `text` the way the component's stored `name` (DTSTART) is: date or zone."""
    stored = component.decoded(name)
    if not isinstance(stored, datetime):
        return parse_when(text, all_day=True)
    return parse_when(text, stored.tzinfo)


def bump(component):
    set_prop(component, "sequence", int(component.get("SEQUENCE", 0)) + 1)
    set_prop(component, "dtstamp", datetime.now(timezone.utc))


def edit_master(event, change):
    with event.edit_icalendar_instance() as cal:
        master = master_of(cal)
        change(master)
        bump(master)
    event.save(increase_seqno=False, only_this_recurrence=False)


def move_occurrence(event, op):
    with event.edit_icalendar_instance() as cal:
        master = master_of(cal)
        rid = when_like(master, "DTSTART", op["recurrence_id"])
        override = next((c for c in vevents(cal) if "RECURRENCE-ID" in c
                         and c.decoded("RECURRENCE-ID") == rid), None)
        if override is None:
            override = new_vevent(str(master["UID"]), str(master["SUMMARY"]), rid, rid)
            override.add("recurrence-id", rid)
            for name in ("ORGANIZER", "ATTENDEE", "STATUS"):
                if name in master:
                    override[name] = copy.deepcopy(master[name])
            override["SEQUENCE"] = master.get("SEQUENCE", 0)
            cal.add_component(override)
        set_prop(override, "dtstart", when_like(master, "DTSTART", op["start"]))
        set_prop(override, "dtend", when_like(master, "DTSTART", op["end"]))
        bump(override)
    event.save(increase_seqno=False, only_this_recurrence=False)


def apply(principal, calendars, op):
    kind = op["op"]
    if kind == "make_calendar":
        calendars[op["id"]] = principal.make_calendar(name=op.get("name", op["id"]), cal_id=op["id"])
        return
    calendar = calendars.get(op["calendar"]) or principal.calendar(cal_id=op["calendar"])
    if kind == "add":
        calendar.add_event(build_calendar(op["event"]), increase_seqno=False)
        return
    if kind not in ("move", "move_occurrence", "cancel", "delete"):
        raise ValueError(f"unknown op {kind!r}")
    event = calendar.get_event_by_uid(op["uid"])
    if kind == "move":
        def move(master):
            set_prop(master, "dtstart", when_like(master, "DTSTART", op["start"]))
            set_prop(master, "dtend", when_like(master, "DTSTART", op["end"]))
        edit_master(event, move)
    elif kind == "move_occurrence":
        move_occurrence(event, op)
    elif kind == "cancel":
        edit_master(event, lambda master: set_prop(master, "status", "CANCELLED"))
    else:
        event.delete()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    ops = json.load(sys.stdin)
    if not isinstance(ops, list):
        sys.exit("caldav_events: standard input must be a JSON array of operations")
    with caldav.DAVClient(url=args.url, username=args.user, password=args.password) as client:
        step = f"finding the principal at {args.url}"
        try:
            principal = client.principal()
            calendars = {}
            for index, op in enumerate(ops):
                step = f"operation {index} {json.dumps(op)}"
                apply(principal, calendars, op)
                print(f"ok {op['op']}", flush=True)
        except Exception as error:  # noqa: BLE001 - any failure ends the run, named
            print(f"caldav_events: {step} failed: {type(error).__name__}: {error}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
