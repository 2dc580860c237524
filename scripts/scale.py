#!/usr/bin/env python3
"""How laer's costs grow with the company: one size, measured from outside the server.

    scripts/scale.sh --accounts N [--months 12] [--dir DIR] [--rounds 40] [--settle 900]

Run by scripts/scale.sh, which builds laer (release) first. In DIR (kept, so a second
run measures the same database again; default a new temporary directory):

1. `laer demo --accounts N --months M` into DIR/laer.db (SQLite), unless it holds a
   company already: wall time and peak resident memory;
2. the database's size on disk;
3. `laer serve` on the file: the time its health engine takes for the full recompute,
   for keeping the shown past days' phases and for the day's history and validation
   (from its log), then every page, logged in, `--rounds` times each (p50, p95, max),
   once that start-up work is done or `--settle` seconds passed, and the first request
   to the revenue, portfolio and renewals pages after a write through the REST API (a
   new contract line), and to the portfolio and work pages after the engine kept new
   health (a survey answer), with the server's peak resident memory (VmHWM) over all
   of it;
4. every `laer report` a CS leader runs, each timed, with its peak memory.

Standard library only; prints a table and writes DIR/scale-N.json (`--reports-only`: the
reports alone, on a kept DIR, into DIR/scale-N-reports.json).
"""

import argparse
import csv
import io
import http.client
import json
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

PASSWORD = "scale-bench-password"
ADMIN = "admin@demo.laer"


def run_peak(argv, env):
    """Runs argv to its end; returns (seconds, peak resident MiB of that process, stderr)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err}")
    return seconds, usage.ru_maxrss / 1024, err


def stored(laer, env):
    """`laer status --json`: how many records of each kind the database holds."""
    out = subprocess.run([laer, "status", "--json"], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def summary(times):
    """p50, p95 and max of milliseconds, rounded."""
    times = sorted(times)
    return {"p50": round(quantile(times, 0.5), 1), "p95": round(quantile(times, 0.95), 1), "max": round(times[-1], 1)}


def file_size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def quantile(sorted_times, q):
    i = min(max(int(-(-len(sorted_times) * q // 1)) - 1, 0), len(sorted_times) - 1)
    return sorted_times[i]


class Client:
    """A logged-in browser: keep-alive connection and the session cookie."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookie = ""

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                return response, data
            except (http.client.HTTPException, ConnectionError):
                # A keep-alive connection the server closed: once more on a new one.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def login(self):
        response, _ = self.request("GET", "/login")
        csrf = None
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("laer_login_csrf="):
                csrf = value.split(";")[0].split("=", 1)[1]
        if csrf is None:
            sys.exit("the login page set no CSRF cookie")
        form = urllib.parse.urlencode({"email": ADMIN, "password": PASSWORD, "csrf": csrf})
        response, _ = self.request(
            "POST",
            "/login",
            body=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"laer_login_csrf={csrf}",
            },
        )
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("laer_session="):
                self.cookie = value.split(";")[0]
        if not self.cookie:
            sys.exit(f"login failed: {response.status}")

    def timed(self, path):
        started = time.monotonic()
        response, data = self.request("GET", path)
        return time.monotonic() - started, response.status, data


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_hwm(pid):
    """Peak resident MiB of a running process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def print_row(name, figures):
    print(f"{name:<32} {figures['p50']:>8} {figures['p95']:>8} {figures['max']:>8}")


def first_requests_after(api, client, bearer, kind, records, pages, label, settle=0.0):
    """Each record written alone through the REST API (`/api/v1/records/KIND`), then,
    `settle` seconds later, each page asked for once: the figures per page."""
    waits = {p: [] for p in pages}
    for record in records:
        response, body = api.request(
            "POST",
            f"/api/v1/records/{kind}",
            body=json.dumps({"records": [record]}),
            headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        )
        if response.status >= 300:
            sys.exit(f"{kind}: {response.status} {body[:300]!r}")
        time.sleep(settle)
        for path in pages:
            seconds, status, _ = client.timed(path)
            if status != 200:
                sys.exit(f"{path}: {status}")
            waits[path].append(seconds * 1e3)
    result = {}
    for path, times in waits.items():
        figures = summary(times)
        result[path] = figures
        print_row(f"{label}: {path}", figures)
    return result


def wait_for_log(path, pattern, deadline):
    """The first match of pattern in the log at path, or None when deadline passes."""
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            match = regex.search(f.read())
        if match:
            return match
        time.sleep(0.5)
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--laer", default="target/release/laer")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--dir")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--reports-only", action="store_true", help="only the reports, on a kept DIR")
    parser.add_argument("--settle", type=int, default=900, help="most seconds to wait for the engine's start-up work")
    args = parser.parse_args()

    directory = args.dir or tempfile.mkdtemp(prefix="laer-scale-")
    os.makedirs(directory, exist_ok=True)
    db_path = os.path.join(directory, "laer.db")
    url = f"sqlite://{db_path}"
    env = dict(os.environ, LAER_DATA_DIR=directory, LAER_DATABASE_URL=url, LAER_DEMO_PASSWORD=PASSWORD)
    env.setdefault("RUST_LOG", "info")
    laer = os.path.abspath(args.laer)
    result = {"accounts": args.accounts, "months": args.months, "dir": directory, "db_path": db_path}

    # 1. The company.
    status = stored(laer, env)
    if status["accounts"] == 0:
        seconds, peak, err = run_peak(
            [laer, "demo", "--accounts", str(args.accounts), "--months", str(args.months)], env
        )
        result["generate_s"] = round(seconds, 1)
        result["generate_peak_mib"] = round(peak)
        print("\n".join(line for line in err.splitlines() if "demo company" in line))
        status = stored(laer, env)
    result["events"] = status["events"]
    result["stored_accounts"] = status["accounts"]

    # 2. Its size on disk (the write-ahead log is checkpointed when the writer closes).
    result["db_mib"] = round(sum(file_size(db_path + s) for s in ("", "-wal", "-shm")) / 2**20)

    if not args.reports_only:
        # 3. The server.
        port = free_port()
        log_path = os.path.join(directory, f"serve-{int(time.time())}.log")
        log = open(log_path, "w")
        started = time.monotonic()
        server = subprocess.Popen(
            [laer, "serve", "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            measure_server(args, result, laer, env, server, port, log_path, started)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
            log.close()

    # 4. Reports, from the command line, once the server has kept the past days' phases
    # (as a running laer has).
    today = time.gmtime()
    first = f"{today.tm_year - 1}-{today.tm_mon:02}-01"
    last = f"{today.tm_year}-{today.tm_mon:02}-01"
    reports = {
        "mrr, monthly for a year": ["report", "mrr", "--from", first, "--to", last, "--every", "month"],
        "retention, monthly for a year, activity churn": [
            "report", "retention", "--from", first, "--to", last, "--every", "month", "--activity-window", "28",
        ],
        "nrr-bridge": ["report", "nrr-bridge"],
        "health": ["report", "health"],
        "survival": ["report", "survival"],
        "renewal-forecast": ["report", "renewal-forecast"],
    }
    result["reports"] = {}
    for name, argv in reports.items():
        seconds, peak, _ = run_peak([laer, *argv], env)
        result["reports"][name] = {"s": round(seconds, 2), "peak_mib": round(peak)}

    path = os.path.join(directory, f"scale-{args.accounts}{'-reports' if args.reports_only else ''}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


def measure_server(args, result, laer, env, server, port, log_path, started):
    client = Client(port)
    while True:
        try:
            response, _ = client.request("GET", "/healthz")
            if response.status == 200:
                break
        except OSError:
            pass
        if server.poll() is not None:
            sys.exit(f"laer serve ended: see {log_path}")
        time.sleep(0.2)
    result["serve_ready_s"] = round(time.monotonic() - started, 1)
    client.login()

    # The engine's start-up work, from its log: the full recompute, then the past days'
    # phases the revenue page shows, then the weekly validation when it is due.
    deadline = started + args.settle
    full = wait_for_log(log_path, r"health of (\d+) accounts computed in (\d+) ms", deadline)
    if full:
        result["full_recompute_ms"] = int(full.group(2))
    kept = wait_for_log(log_path, r"phases of the revenue page's past days kept in (\d+) ms", deadline)
    if kept:
        result["past_phases_ms"] = int(kept.group(1))
    done = wait_for_log(log_path, r"the day's history and validation done in (\d+) ms", deadline)
    if done:
        result["history_and_validation_ms"] = int(done.group(1))
    # Only when the last validation is a week old (before the line above, if at all).
    validated = wait_for_log(log_path, r"validated on (\d+) replayed accounts in (\d+) ms", time.monotonic() + 1)
    if validated:
        result["validation_ms"] = int(validated.group(2))
    result["settled_after_s"] = round(time.monotonic() - started, 1)

    # Account pages: the ten largest by ARR and a spread of the rest, from the portfolio's
    # CSV (external ids) and the database (their ids).
    _, status, data = client.timed("/portfolio.csv?owner=all")
    if status != 200:
        sys.exit(f"/portfolio.csv: {status}")
    by_arr = sorted(
        ((float(row["arr"] or 0), row["external_id"]) for row in csv.DictReader(io.StringIO(data.decode()))),
        reverse=True,
    )
    with sqlite3.connect(f"file:{result['db_path']}?mode=ro", uri=True) as db:
        id_of = dict(db.execute("SELECT external_id, id FROM accounts"))
    chosen = by_arr[:10] + by_arr[10 :: max(1, len(by_arr) // 30)]
    ids = [id_of[external] for _, external in chosen]
    externals = [external for _, external in chosen]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    quarter = f"{time.gmtime().tm_year}-Q{(time.gmtime().tm_mon - 1) // 3 + 1}"
    pages = [
        ("portfolio", ["/portfolio"]),
        ("portfolio, filtered and sorted", ["/portfolio?owner=all&segment=Enterprise&sort=arr&desc=1&page=2"]),
        ("portfolio, searched", ["/portfolio?owner=all&q=acorn"]),
        ("portfolio CSV (every account)", ["/portfolio.csv?owner=all"]),
        ("account 360", [f"/accounts/{i}" for i in ids]),
        ("revenue", ["/revenue"]),
        ("revenue drill-down", [f"/revenue/accounts?quarter={quarter}&by=phase&kind=churn"]),
        ("renewals (180 days)", ["/renewals?within=180"]),
        ("renewals, quarter by risk", [f"/renewals?quarter={quarter}&sort=risk"]),
        ("work, everyone's", ["/work?show=all"]),
        ("team", ["/team"]),
        ("search", ["/search?q=acorn"]),
    ]
    result["pages"] = {}
    print(f"{'page':<32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, paths in pages:
        times = []
        for round_ in range(args.rounds):
            seconds, status, _ = client.timed(paths[round_ % len(paths)])
            if status != 200:
                sys.exit(f"{paths[round_ % len(paths)]}: {status}")
            times.append(seconds * 1e3)
        figures = summary(times)
        result["pages"][name] = figures
        print_row(name, figures)

    # The first request after a write: a new contract line through the REST API, then the
    # pages that show the portfolio's money.
    token = subprocess.run(
        [laer, "tokens", "create", "--name", f"scale-{int(time.time())}", "--role", "admin", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    bearer = json.loads(token.stdout)["token"]
    api = Client(port)
    run = int(time.time())
    rounds = range(min(args.rounds, 20))
    lines = [
        {
            "external_id": f"scale-{run}-{round_}",
            "account_id": externals[round_ % len(externals)],
            "product": "scale",
            "start_date": today,
            "mrr": 10 + round_,
        }
        for round_ in rounds
    ]
    result["after_write"] = first_requests_after(
        api, client, bearer, "subscriptions", lines, ["/revenue", "/portfolio", "/renewals?within=180"], "after a contract"
    )
    # The first request after the engine kept new health: a survey answer, then time for
    # the engine (it looks every 100 ms; one account takes a few).
    answers = [
        {
            "external_id": f"scale-{run}-{round_}",
            "account_id": externals[round_ % len(externals)],
            "survey": "nps",
            "score": round_ % 11,
            "responded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        for round_ in rounds
    ]
    result["after_health"] = first_requests_after(
        api, client, bearer, "survey-responses", answers, ["/portfolio", "/work?show=all"], "after health kept", 0.6
    )

    result["serve_peak_mib"] = round(vm_hwm(server.pid))


if __name__ == "__main__":
    main()
