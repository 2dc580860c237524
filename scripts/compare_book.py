"""The book's churn model (Fighting Churn With Data, PyPI fightchurn 1.2.0) on a dataset in
the book's format, measured two ways so that laer's health validation can be set beside it.

  python compare_book.py run --data DIR --schema NAME --config crm5 --out OUTDIR \
      --laer-from 2022-03-31 --laer-to 2023-09-30
  python compare_book.py summary --out OUTDIR     # markdown table of laer's and the book's figures
  python compare_book.py ablate --out OUTDIR      # the book's model on laer's definition, by feature set
  python compare_book.py export-laer --sqlite laer.db --to DIR   # laer's data as the book's tables

scripts/compare-book.sh runs them all after laer's own commands.

1. Loads DIR's account, subscription, event and event_type CSV files into a fresh schema
   NAME of the book's PostgreSQL database (environment CHURN_DB, CHURN_DB_USER,
   CHURN_DB_PASS, CHURN_DB_HOST; the tables are the book's, churnsim/schema).
2. Computes the book's metrics with the book's SQL (listings chap3 and chap7), weekly and
   also at the end of each of laer's replay days: per event type the tenure-scaled count
   per 28 days over 84 days (insert 7.8), per event type with values the 28-day sum (3.18),
   account tenure (3.13), MRR (3.17), quantity per unit (3.19), billing period (3.20),
   discount (3.21), active users over 28 days (7.9), and the totals, ratios, percent
   changes and days-since metrics that listings/conf/CONFIG_listings.json defines for the
   simulator's config (7.3, 7.1, 7.4, 7.6).
3. The book's dataset: active periods with a 7-day gap (4.1, 4.2), observations one
   month apart from each account's start less 5 days lead (4.4), churn = the active period
   ends within the month after the observation; metrics of the week up to it (4.5).
4. laer's dataset: every account with MRR on each month end from --laer-from to
   --laer-to, label = its MRR 90 days later is lower (churned or downsold), the book's
   metrics as of the end of that day.
5. The book's model: summary statistics (5.2), fat-tail scores (7.5), metric groups at
   the correlation the config's listing conf uses (crm5 0.75, socialnet7 0.65; else the
   book's default 0.55) (6.4, 6.3), L1 logistic regression with liblinear (8.2), AUC (9.1),
   top-decile lift (9.2), C chosen by time-ordered cross-validation (9.5). Fitted and
   judged in-sample, on a held-out last quarter of observation days, and across the two
   definitions.

Writes OUTDIR/book.json (every figure) and the datasets as CSV.
"""
import argparse
import datetime as dt
import json
import os
import re
import time

import numpy as np
import pandas as pd
import psycopg2
import fightchurn
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import TimeSeriesSplit

PKG = os.path.dirname(fightchurn.__file__)
LISTINGS = os.path.join(PKG, "listings")
C_GRID = [0.64, 0.32, 0.16, 0.08, 0.04, 0.02, 0.01, 0.005, 0.0025]
GROUP_CORR = 0.55
SKEW = 4.0
HORIZON_DAYS = 90
GROUP = GROUP_CORR  # set from the config's listing conf in main()


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


class Db:
    def __init__(self, schema):
        self.schema = schema
        self.con = psycopg2.connect(
            host=os.environ.get("CHURN_DB_HOST", "localhost"),
            dbname=os.environ.get("CHURN_DB", "churn"),
            user=os.environ.get("CHURN_DB_USER", "fightchurn"),
            password=os.environ.get("CHURN_DB_PASS", "fightchurn"),
        )
        self.con.autocommit = True

    def run(self, sql, fetch=False):
        with self.con.cursor() as cur:
            cur.execute(f"set search_path = '{self.schema}';")
            cur.execute(sql)
            if fetch:
                cols = [d[0] for d in cur.description]
                return pd.DataFrame(cur.fetchall(), columns=cols)
        return None

    def one(self, sql):
        with self.con.cursor() as cur:
            cur.execute(f"set search_path = '{self.schema}';")
            cur.execute(sql)
            return cur.fetchone()[0]


def listing_sql(chapter, name, params):
    sql = open(os.path.join(LISTINGS, f"chap{chapter}", name + ".sql")).read()
    # The book's metric dates are a weekly series; ours are the table metric_dates (the
    # weekly series plus the ends of laer's replay days), otherwise the SQL is the book's.
    sql = re.sub(
        r"generate_series\('%from_yyyy-mm-dd',\s*'%to_yyyy-mm-dd',\s*'7 day'::interval\)",
        "unnest(array(select d from metric_dates))",
        sql,
    )
    for k in sorted(params, key=len, reverse=True):
        sql = sql.replace(k, str(params[k]))
    return sql


def load(db, data_dir):
    db.run(f"drop schema if exists {db.schema} cascade; create schema {db.schema};")
    indexes = []
    for t in ["event", "subscription", "event_type", "metric", "metric_name", "active_period",
              "observation", "account"]:
        sql = open(os.path.join(PKG, "churnsim", "schema", f"create_{t}.sql")).read()
        sql = sql.replace("x.", f"{db.schema}.").replace("OWNER to postgres", "OWNER to current_user")
        statements = [x for x in sql.split(";") if x.strip()]
        # the book's tables and indexes; the indexes of the loaded tables after the load
        db.run(";".join(x for x in statements if "CREATE INDEX" not in x.upper() or t not in
                        ("event", "subscription", "account", "event_type")))
        if t in ("event", "subscription", "account", "event_type"):
            indexes += [x for x in statements if "CREATE INDEX" in x.upper()]
    for t in ["account", "subscription", "event_type", "event"]:
        with open(os.path.join(data_dir, f"{t}.csv")) as f, db.con.cursor() as cur:
            cur.copy_expert(f"copy {db.schema}.{t} from stdin with (format csv, header)", f)
    for x in indexes:
        db.run(x)
    db.run("analyze;")


def book_conf(config):
    path = os.path.join(LISTINGS, "conf", f"{config}_listings.json")
    return json.load(open(path)) if config and os.path.isfile(path) else {}


def versions(block):
    """The parameter sets of one listing's insert block: its params, then each vN over them."""
    if not block:
        return []
    base = block.get("params", {})
    out = [dict(base)] if base else []
    for k, v in block.items():
        if re.fullmatch(r"v\d+", k):
            p = dict(base)
            p.update(v)
            out.append(p)
    return out


class Metrics:
    def __init__(self, db, frm, to):
        self.db, self.frm, self.to = db, frm, to
        self.next_id = 0
        self.names = {}

    def new(self, name):
        if name in self.names:
            return None
        i = self.next_id
        self.next_id += 1
        self.names[name] = i
        self.db.run(f"insert into metric_name values ({i}, '{name}');")
        return i

    def insert(self, chapter, listing, name, params):
        i = self.new(name)
        if i is None:
            return
        p = {"%from_yyyy-mm-dd": self.frm, "%to_yyyy-mm-dd": self.to, "%new_metric_id": i,
             "%new_metric_name": name}
        p.update(params)
        sql = listing_sql(chapter, listing, p)
        # the chapter-7 inserts name their metric themselves: ours is already there
        sql = re.sub(r"INSERT into metric_name values[^;]*;", "", sql, flags=re.I)
        t = time.time()
        self.db.run(sql)
        n = self.db.one(f"select count(*) from metric where metric_name_id={i}")
        if n == 0:
            self.db.run(f"delete from metric_name where metric_name_id={i};")
            del self.names[name]
        log(f"  metric {name}: {n} rows ({time.time() - t:.1f} s)")

    def resolve(self, name):
        if name in self.names:
            return name
        m = re.fullmatch(r"(.+)_per_month", name)
        if m and f"{m.group(1)}_28avg_84obs" in self.names:
            return f"{m.group(1)}_28avg_84obs"
        return None


def compute_metrics(db, config, frm, to, extra_days):
    weekly = pd.date_range(frm, to, freq="7D")
    days = sorted(set(weekly) | set(pd.Timestamp(d) for d in extra_days))
    db.run("create table metric_dates(d timestamp, weekly boolean); " +
           "insert into metric_dates values " +
           ",".join(f"('{d.date()}', {d in set(weekly)})" for d in days) + ";")
    m = Metrics(db, frm, to)
    conf = book_conf(config)
    chap3 = conf.get("chap3", {})
    id_name = {v.get("%new_metric_id"): v.get("%new_metric_name")
               for v in versions(chap3.get("list4"))}
    m.insert(3, "listing_3_13_account_tenure_insert", "account_tenure", {})
    for et in db.run("select event_type_name from event_type where event_type_id in "
                     "(select distinct event_type_id from event) order by 1", fetch=True)["event_type_name"]:
        m.insert(7, "insert_7_8_tenure_scaled_events_per_month", f"{et}_28avg_84obs",
                 {"%event2measure": et, "%obs_period": 84, "%desc_period": 28, "%min_tenure": 14})
    valued = db.run("select distinct event_type_name from event e join event_type t using (event_type_id) "
                    "where event_value is not null and event_value <> 0 order by 1", fetch=True)
    sums = {v["%event2measure"]: id_name.get(v.get("%new_metric_id")) for v in versions(chap3.get("list18"))}
    for et in valued["event_type_name"]:
        m.insert(3, "listing_3_18_sum_metric_insert", sums.get(et) or f"{et}_value_per_month",
                 {"%event2measure": et, "%field2sum": "event_value"})
    m.insert(3, "listing_3_17_mrr_insert", "mrr", {})
    units = db.run("select distinct units from subscription where units is not null and quantity is not null",
                   fetch=True)["units"]
    unit_names = {v.get("%unit"): id_name.get(v.get("%new_metric_id")) for v in versions(chap3.get("list19"))}
    for u in units:
        m.insert(3, "listing_3_19_unit_quantity_insert", unit_names.get(u) or f"{u}_purchased", {"%unit": u})
    m.insert(3, "listing_3_20_billing_period_insert", id_name.get(29, "billing_period_months"), {})
    m.insert(3, "listing_3_21_discount_insert", "discount", {})
    m.insert(7, "insert_7_9_count_active_users", "active_users", {"%obs_period": 28})
    chap7 = conf.get("chap7", {})
    for p in versions(chap7.get("list6", {}).get("insert")):
        m.insert(7, "insert_7_6_days_since_event", f"days_since_{p['%event2measure']}",
                 {"%event2measure": p["%event2measure"]})
    pending = [("total", p) for p in versions(chap7.get("list3", {}).get("insert"))]
    pending += [("change", p) for p in versions(chap7.get("list4", {}).get("insert"))]
    pending += [("ratio", p) for p in versions(chap7.get("list1", {}).get("insert"))]
    progress = True
    while pending and progress:
        progress, left = False, []
        for kind, p in pending:
            name = p["%new_metric_name"]
            if name in m.names:
                progress = True
                continue
            if kind == "total":
                parts = [m.resolve(x) for x in re.findall(r"'([^']+)'", p["%metric_list"])]
                if None in parts:
                    left.append((kind, p)); continue
                m.insert(7, "insert_7_3_total_metric", name,
                         {"%metric_list": ",".join(f"'{x}'" for x in parts)})
            elif kind == "change":
                x = m.resolve(p["%metric2measure"])
                if x is None:
                    left.append((kind, p)); continue
                m.insert(7, "insert_7_4_percent_change_metric", name,
                         {"%metric2measure": x, "%period_weeks": p["%period_weeks"]})
            else:
                num, den = m.resolve(p["%num_metric"]), m.resolve(p["%den_metric"])
                if num is None or den is None:
                    left.append((kind, p)); continue
                m.insert(7, "insert_7_1_ratio_metric", name, {"%num_metric": num, "%den_metric": den})
            progress = True
        pending = left
    for kind, p in pending:
        log(f"  skipped {kind} {p['%new_metric_name']}: its operands are not computed")
    return m.names


def book_dataset(db, names, frm, to):
    for listing in ["listing_4_1_ongoing_active_periods", "listing_4_2_churned_periods"]:
        db.run(listing_sql(4, listing, {"%gap_interval": "7 day", "%from_yyyy-mm-dd": frm,
                                          "%to_yyyy-mm-dd": to}))
    db.run(listing_sql(4, "listing_4_4_observation_dates",
                       {"%obs_interval": "1 month", "%lead_time": "5 day", "%from_yyyy-mm-dd": frm,
                        "%to_yyyy-mm-dd": to}))
    cols = ",\n".join(f"sum(case when metric_name_id={i} then metric_value else 0 end) as \"{n}\""
                      for n, i in sorted(names.items(), key=lambda x: x[1]))
    # listing 4.5, over every metric computed, at the book's weekly metric dates only
    sql = f"""with observation_params as (select interval '7 day' as metric_period,
        '{frm}'::timestamp as obs_start, '{to}'::timestamp as obs_end)
    select m.account_id, o.observation_date, is_churn, {cols}
    from metric m inner join observation_params on metric_time between obs_start and obs_end
        and metric_time in (select d from metric_dates where weekly)
    inner join observation o on m.account_id = o.account_id
        and m.metric_time > (o.observation_date - metric_period)::timestamp
        and m.metric_time <= o.observation_date::timestamp
    group by m.account_id, metric_time, observation_date, is_churn
    order by observation_date, m.account_id"""
    return db.run(sql, fetch=True)


def month_ends(frm, to):
    out, d = [], dt.date(frm.year, frm.month, 1)
    while True:
        nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        end = nxt - dt.timedelta(days=1)
        if end > to:
            return out
        if end >= frm:
            out.append(end)
        d = nxt


def laer_dataset(db, names, days):
    """laer's replay: customers (MRR > 0) on each day, churned or downsold = less MRR 90 days
    later; the book's metrics as of the end of the day (metric time = the next midnight)."""
    db.run("create table laer_day(d date); insert into laer_day values " +
           ",".join(f"('{d}')" for d in days) + ";")
    cols = ",\n".join(f"coalesce(sum(case when metric_name_id={i} then metric_value end), 0) as \"{n}\""
                      for n, i in sorted(names.items(), key=lambda x: x[1]))
    sql = f"""with mrr_on as (
        select s.account_id, l.d,
          sum(case when s.start_date <= l.d and (s.end_date > l.d or s.end_date is null)
              then mrr else 0 end) as now,
          sum(case when s.start_date <= l.d + {HORIZON_DAYS} and (s.end_date > l.d + {HORIZON_DAYS} or s.end_date is null)
              then mrr else 0 end) as later
        from subscription s cross join laer_day l group by s.account_id, l.d)
    select o.account_id, o.d as observation_date, o.later < o.now as is_churn, {cols}
    from mrr_on o left join metric m on m.account_id = o.account_id
        and m.metric_time = (o.d + 1)::timestamp
    where o.now > 0
    group by o.account_id, o.d, o.now, o.later
    order by o.d, o.account_id"""
    return db.run(sql, fetch=True)


# ---- the book's chapters 5-9 on a dataset (a frame indexed by account and date) ----

class BookModel:
    """Listings 5.2 (stats), 7.5 (fat-tail scores), 6.4 and 6.3 (groups), 8.2 (L1 logistic
    regression of retention), fitted on one dataset and applicable to another."""

    def __init__(self, group_corr=GROUP_CORR):
        self.group_corr = group_corr

    def fit(self, data, C=1.0):
        X = data.drop(columns="is_churn").astype(float)
        X = X.loc[:, X.std() > 0]
        self.columns = list(X.columns)
        skew = X.skew()
        mn = X.min()
        self.log_cols = [c for c in self.columns if skew[c] > SKEW and mn[c] >= 0]
        self.asinh_cols = [c for c in self.columns if skew[c] > SKEW and mn[c] < 0]
        T = self._transform(X)
        self.mean, self.std = T.mean(), T.std()
        S = (T - self.mean) / self.std
        corr = S.corr().fillna(0).to_numpy()
        np.fill_diagonal(corr, 1.0)
        diss = np.clip(1.0 - corr, 0, None)
        labels = fcluster(linkage(squareform(diss, checks=False), method="single"), 1.0 - self.group_corr,
                          criterion="distance")
        groups = {}
        for c, l in zip(self.columns, labels):
            groups.setdefault(l, []).append(c)
        self.groups = sorted(groups.values(), key=lambda g: (-len(g), g))
        self.load = np.zeros((len(self.columns), len(self.groups)))
        for j, g in enumerate(self.groups):
            for c in g:
                self.load[self.columns.index(c), j] = (1.0 / (np.sqrt(self.group_corr) * len(g))) if len(g) > 1 else 1.0
        G = S.to_numpy() @ self.load
        y = 1 - data["is_churn"].astype(int).to_numpy()  # retention, as in the book
        self.reg = LogisticRegression(penalty="l1", solver="liblinear", fit_intercept=True, C=C)
        self.reg.fit(G, y)
        return self

    def _transform(self, X):
        T = X[self.columns].astype(float).copy()
        for c in self.log_cols:
            T[c] = np.log(1.0 + T[c].clip(lower=0))
        for c in self.asinh_cols:
            T[c] = np.arcsinh(T[c])
        return T

    def churn_probability(self, data):
        S = (self._transform(data) - self.mean) / self.std
        return self.reg.predict_proba(S.fillna(0).to_numpy() @ self.load)[:, 0]

    def summary(self):
        coef = self.reg.coef_[0]
        rows = [{"group": "|".join(g), "retention_coef": round(float(c), 4)} for g, c in zip(self.groups, coef)]
        return sorted(rows, key=lambda r: -abs(r["retention_coef"]))


def lift(y, p):
    """Listing 9.2's calc_lift: churn rate in the top predicted decile over the overall rate."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    if np.unique(p).size < 10 or y.sum() == 0:
        return None
    order = np.argsort(p, kind="mergesort")
    i90 = int(round(len(y) * 0.9))
    return float(y[order][i90:].mean() / y.mean())


def judge(model, data):
    y = data["is_churn"].astype(int).to_numpy()
    if len(y) == 0 or y.min() == y.max():
        return {"n": int(len(y)), "churned": int(y.sum()), "auc": None, "lift": None}
    p = model.churn_probability(data)
    return {"n": int(len(y)), "churned": int(y.sum()), "auc": round(float(roc_auc_score(y, p)), 4),
            "lift": None if lift(y, p) is None else round(lift(y, p), 3)}


def choose_c(data, splits=3):
    """Listing 9.5: the C with the highest mean AUC over time-ordered splits."""
    best, table = None, []
    for C in C_GRID:
        aucs = []
        for tr, te in TimeSeriesSplit(n_splits=splits).split(data):
            train, test = data.iloc[tr], data.iloc[te]
            if train["is_churn"].nunique() < 2 or test["is_churn"].nunique() < 2:
                continue
            try:
                aucs.append(judge(BookModel(GROUP).fit(train, C), test)["auc"])
            except ValueError:
                pass
        mean = float(np.mean(aucs)) if aucs else None
        table.append({"C": C, "cv_auc": None if mean is None else round(mean, 4)})
        if mean is not None and (best is None or mean > best[1]):
            best = (C, mean)
    return (best[0] if best else 1.0), table


def evaluate(data, held_from):
    """In-sample at C = 1 (listings 8.2, 9.1, 9.2), C by cross-validation, and fitted on the
    days before `held_from` and judged on the rest."""
    data = data.sort_index(level=1, kind="mergesort")
    out = {"observations": int(len(data)), "churned": int(data["is_churn"].sum())}
    m1 = BookModel(GROUP).fit(data, 1.0)
    out["in_sample_c1"] = judge(m1, data)
    C, table = choose_c(data)
    out["cv"] = table
    out["c"] = C
    mc = BookModel(GROUP).fit(data, C)
    out["in_sample_cv_c"] = judge(mc, data)
    out["groups"] = mc.summary()
    dates = data.index.get_level_values(1)
    train, test = data[dates < held_from], data[dates >= held_from]
    if len(train) and train["is_churn"].nunique() == 2:
        Ch, _ = choose_c(train)
        mh = BookModel(GROUP).fit(train, Ch)
        out["held_out"] = {"from": str(held_from), "c": Ch, **judge(mh, test)}
    return out, mc


def export_laer(sqlite_path, out):
    """laer's accounts, subscription lines, events and event types as the book's four CSV tables
    (money in currency units; users numbered per their external reference)."""
    import sqlite3
    os.makedirs(out, exist_ok=True)
    con = sqlite3.connect(sqlite_path)
    pd.read_sql("select id, channel, coalesce(date_of_birth, '1990-01-01') as date_of_birth, country "
                "from accounts order by id", con).to_csv(os.path.join(out, "account.csv"), index=False)
    pd.read_sql("select account_id, product, start_date, end_date, mrr / 10000.0 as mrr, quantity, units, "
                "bill_period_months, discount from subscriptions order by account_id, start_date, product",
                con).to_csv(os.path.join(out, "subscription.csv"), index=False)
    pd.read_sql("select id as event_type_id, name as event_type_name from event_types order by id",
                con).to_csv(os.path.join(out, "event_type.csv"), index=False)
    ev = pd.read_sql("select account_id, occurred_at, event_type_id, user_ref, value as event_value from events "
                     "order by account_id, occurred_at", con)
    ev["event_time"] = pd.to_datetime(ev["occurred_at"], unit="us").dt.strftime("%Y-%m-%d %H:%M:%S")
    codes = pd.factorize(ev["user_ref"])[0]  # -1 where there is none
    ev["user_id"] = pd.array(np.where(codes >= 0, codes, 0), dtype="Int64")
    ev.loc[codes < 0, "user_id"] = pd.NA
    ev[["account_id", "event_time", "event_type_id", "user_id", "event_value"]].to_csv(
        os.path.join(out, "event.csv"), index=False)
    log(f"exported {len(ev)} events to {out}")


def fmt(x, nd=3):
    return "–" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def summary(out):
    """A markdown table of laer's and the book's figures in OUT."""
    def jl(name):
        p = os.path.join(out, name + ".json")
        try:
            return json.load(open(p))
        except (OSError, ValueError):
            return None

    def secs(name):
        try:
            return float(open(os.path.join(out, name + ".seconds")).read())
        except (OSError, ValueError):
            return None

    rows = []

    def row(model, definition, n, churned, auc, lift_, note=""):
        rows.append(f"| {model} | {definition} | {n} ({churned}) | {fmt(auc)} | {fmt(lift_, 2)} | {note} |")

    v, vd, fit, fv, book = jl("validation"), jl("validation-default-range"), jl("fit"), jl("fitted-validation"), jl("book")
    laer_def = "month ends, churn or downsell in 90 d"
    if vd:
        days = vd.get("days") or []
        span = f"{days[0]['as_of']}..{days[-1]['as_of']}" if days else ""
        row("laer default", laer_def + ", laer's default range", vd["observations"], vd["churned"], vd["auc"],
            vd["top_decile_lift"], f"{len(days)} days {span}")
    if v:
        days = v.get("days") or []
        row("laer default", laer_def, v["observations"], v["churned"], v["auc"], v["top_decile_lift"],
            f"{len(days)} days {days[0]['as_of']}..{days[-1]['as_of']}" if days else "")
    if fv:
        row("laer fitted (in-sample)", laer_def, fv["observations"], fv["churned"], fv["auc"], fv["top_decile_lift"],
            f"C={fmt(fit['fit']['c'])}" if fit else "")
    if fit and fit.get("held_out"):
        h = fit["held_out"]
        for key, label in [("configured", "laer default, last quarter"), ("fitted", "laer fitted, held-out quarter")]:
            r = h[key]
            row(label, laer_def, r["observations"], r["churned"], r["auc"], r["top_decile_lift"],
                f"from {h['days'][0]}")
    if book:
        bd = book["book_def"]
        bdef = "book: monthly from start − 5 d, churn in next month"
        row("book LR C=1 (in-sample, 8.2/9.1)", bdef, bd["observations"], bd["churned"], bd["in_sample_c1"]["auc"],
            bd["in_sample_c1"]["lift"])
        best = max((c["cv_auc"] or 0) for c in bd["cv"])
        row(f"book LR C={bd['c']} (in-sample)", bdef, bd["observations"], bd["churned"], bd["in_sample_cv_c"]["auc"],
            bd["in_sample_cv_c"]["lift"], f"cross-validated AUC {best:.3f}")
        if bd.get("held_out"):
            h = bd["held_out"]
            row(f"book LR, held-out (C={h['c']})", bdef, h["n"], h["churned"], h["auc"], h["lift"], f"from {h['from']}")
        if book.get("laer_def"):
            ld = book["laer_def"]
            row("book LR C=1 (in-sample)", laer_def, ld["observations"], ld["churned"], ld["in_sample_c1"]["auc"],
                ld["in_sample_c1"]["lift"])
            best = max((c["cv_auc"] or 0) for c in ld["cv"])
            row(f"book LR C={ld['c']} (in-sample)", laer_def, ld["observations"], ld["churned"],
                ld["in_sample_cv_c"]["auc"], ld["in_sample_cv_c"]["lift"], f"cross-validated AUC {best:.3f}")
            if ld.get("held_out"):
                h = ld["held_out"]
                row(f"book LR, held-out quarter (C={h['c']})", laer_def, h["n"], h["churned"], h["auc"], h["lift"],
                    f"from {h['from']}")
            b = book["book_model_on_laer_def"]
            row("book LR (fitted on book def.)", laer_def, b["n"], b["churned"], b["auc"], b["lift"])
    print(f"### {os.path.basename(out.rstrip('/'))}\n")
    print("| model | definition | observations (churned) | AUC | lift | note |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    t = {k: secs(k) for k in ["import", "demo", "validation-default-range", "validation", "fit", "fitted-validation"]}
    print("\nlaer seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items() if v is not None))
    if book:
        print(f"book seconds: metrics {book.get('seconds_metrics')}, total {book.get('seconds_total')}")
    if fit:
        f = fit["fit"]
        print(f"\nlaer fit: {f['observations']} observations, {f['churned']} churned, C={f['c']}, "
              f"{len(f['signals_considered'])} signals considered")
        for g in sorted(f["groups"], key=lambda g: -abs(g["coefficient"]))[:12]:
            if g["coefficient"]:
                print(f"- {g['coefficient']:+.3f} {' | '.join(g['signals'])}")
    if book:
        print(f"\nbook groups (C={book['book_def']['c']}, book definition, group threshold {book.get('group_corr')}):")
        for g in book["book_def"]["groups"][:12]:
            if g["retention_coef"]:
                print(f"- {g['retention_coef']:+.3f} {g['group']}")


LAER_SIGNALS = ("utilisation utilisation_change breadth breadth_change depth depth_change spread spread_change "
                "active_users active_users_change events_per_month events_change days_since_last_use tenure_days mrr "
                "mrr_change units cases_per_active_user cases_per_month case_severity days_to_resolve how_to_share csat "
                "nps cadence_kept days_since_executive_meeting contacts_engaged outcomes_on_track outcome_progress").split()


def laer_signals(laer, db_url, out):
    """Every signal laer computes, per account and replayed day (those of laer_def_dataset.csv),
    read from `laer report health --json` under a model that has a measure for each signal
    (so that each shows among the drivers). Writes OUT/laer_signals.csv."""
    import subprocess
    import tempfile
    book = json.load(open(os.path.join(out, "book.json")))
    types = pd.read_csv(os.path.join(book["data"], "event_type.csv"))["event_type_name"]
    signals = LAER_SIGNALS + [f"events_per_month:{t}" for t in types]
    default = subprocess.run([laer, "health", "model"], capture_output=True, text=True, check=True).stdout
    head = default.split("[[measures]]")[0]
    head = re.sub(r"(?m)^name = .*$", 'name = "every signal"', head)
    model = [re.sub(r"(?m)^engagement_floor = .*$", "engagement_floor = 1.0", head)]
    for sig in signals:
        model += ["[[measures]]", f"signal = {json.dumps(sig)}", 'pillar = "adoption"', "weight = 1.0",
                  "bad = 0.0", "good = 1.0"]
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write("\n".join(model) + "\n")
    rows = []
    for day in book["laer_days"]:
        r = subprocess.run([laer, "--db", db_url, "--health-model", f.name, "report", "health", "--as-of", day,
                            "--json"], capture_output=True, text=True, check=True)
        for a in json.loads(r.stdout)["accounts"]:
            # the book's ids are the external ids of an import, laer's ids in an export-laer
            ext = a["external_id"]
            row = {"account_id": int(ext) if ext.isdigit() else a["account_id"], "observation_date": day}
            row.update({d["measure"]: d["value"] for d in a["drivers"] if d.get("value") is not None})
            rows.append(row)
    os.unlink(f.name)
    pd.DataFrame(rows).to_csv(os.path.join(out, "laer_signals.csv"), index=False)
    log(f"{len(rows)} account-days of laer's signals")


LAER_LIKE_EXTRA = ["account_tenure", "mrr", "active_users", "user_utilization", "users_purchased", "seats_purchased"]


def ablate(out, group_corr):
    """The book's model on laer's definition (OUT/laer_def_dataset.csv) with feature sets and
    settings that isolate what laer's fit lacks: cross-validated AUC over all days (3
    time-ordered folds, best C) and the held-out last quarter of days."""
    global GROUP
    data = pd.read_csv(os.path.join(out, "laer_def_dataset.csv"), index_col=[0, 1]).sort_index(level=1, kind="mergesort")
    data.index = data.index.set_levels(pd.to_datetime(data.index.levels[1]).date, level=1)
    cols = [c for c in data.columns if c != "is_churn"]
    events = [c for c in cols if c.endswith("_28avg_84obs")]
    like = events + [c for c in LAER_LIKE_EXTRA if c in cols]
    days = sorted(set(data.index.get_level_values(1)))
    held_from = days[len(days) - len(days) // 4] if len(days) >= 4 else None
    sparse = [c for c in events if (data[c] != 0).mean() < 0.9]

    def laer_coverage(d):
        # laer's rule: a per-feature count is absent when unused, a signal known for fewer than
        # 90% of the observations is dropped, and a missing value counts as the mean
        d = d.drop(columns=sparse)
        for c in events:
            if c in d:
                v = d[c].replace(0, np.nan)
                d[c] = v.fillna(v.mean())
        return d

    # days until the running term renews: the next anniversary of each running line's start by
    # its billing period (known on the day; the line's recorded end is not used, it can be a
    # later change), the earliest over the lines: a customer whose term outlasts the horizon
    # cannot leave within it
    from dateutil.relativedelta import relativedelta
    book = json.load(open(os.path.join(out, "book.json")))
    subs = pd.read_csv(os.path.join(book["data"], "subscription.csv"), parse_dates=["start_date", "end_date"])
    renewal = {}
    for day in days:
        t = pd.Timestamp(day)
        run = subs[(subs.start_date <= t) & ((subs.end_date > t) | subs.end_date.isna())]
        for acc, start, period in zip(run.account_id, run.start_date, run.bill_period_months):
            period = max(int(period), 1)
            months = (t.year - start.year) * 12 + t.month - start.month
            k = max(months // period, 0)
            nxt = start + relativedelta(months=k * period)
            while nxt <= t:
                k += 1
                nxt = start + relativedelta(months=k * period)
            left = (nxt - t).days
            renewal[(acc, day)] = min(renewal.get((acc, day), 10**6), left)
    data["days_to_renewal"] = [renewal.get(k, 0) for k in data.index]
    cols_r = cols + ["days_to_renewal"]
    like_r = like + ["days_to_renewal"]

    variants = [
        ("all book metrics", cols, group_corr, None),
        ("all book metrics + days to renewal", cols_r, group_corr, None),
        ("laer-like + days to renewal", like_r, group_corr, None),
        ("all book metrics, groups at 0.55", cols, 0.55, None),
        ("laer-like signals (per-feature counts zero-filled)", like, group_corr, None),
        ("laer-like signals, groups at 0.55", like, 0.55, None),
        ("laer-like + billing period + discount", like + [c for c in ["billing_period_months", "discount"] if c in cols],
         group_corr, None),
        ("laer-like, laer's coverage rule (unused = absent, <90% dropped, mean-imputed)", like, group_corr, laer_coverage),
        ("laer-like, laer's coverage rule, groups at 0.55", like, 0.55, laer_coverage),
        ("all book metrics but no ratios", [c for c in cols if c not in _ratio_names(out)], group_corr, None),
    ]
    sig_path = os.path.join(out, "laer_signals.csv")
    if os.path.isfile(sig_path):
        sig = pd.read_csv(sig_path)
        sig["observation_date"] = pd.to_datetime(sig["observation_date"]).dt.date
        sig = sig.set_index(["account_id", "observation_date"]).reindex(data.index)
        sig = sig.drop(columns=[c for c in sig.columns if sig[c].nunique() < 2])
        feats = [c for c in sig.columns if c.startswith("events_per_month:")]
        fixed = [c for c in sig.columns if c not in feats]
        for c in sig.columns:
            data[f"laer:{c}"] = sig[c]
        lf = [f"laer:{c}" for c in feats]
        lx = [f"laer:{c}" for c in fixed]

        def laer_rules(d):
            # the fit's rules: known for 90% of the observations, else dropped; missing = mean
            keep = [c for c in d.columns if c == "is_churn" or d[c].notna().mean() >= 0.9]
            d = d[keep].copy()
            for c in d.columns:
                if c != "is_churn":
                    d[c] = d[c].fillna(d[c].mean())
            return d

        def zero_features(d):
            d = d.copy()
            for c in d.columns:
                if c.startswith("laer:events_per_month:"):
                    d[c] = d[c].fillna(0)
            return laer_rules(d)

        contract = [c for c in ["billing_period_months", "discount"] if c in cols]
        variants = [
            ("laer's signals, laer's rules (its fit, through the book's regression)", lx + lf, 0.55, laer_rules),
            ("laer's signals, unused feature = 0", lx + lf, 0.55, zero_features),
            ("laer's signals, laer's rules + days to renewal", lx + lf + ["days_to_renewal"], 0.55, laer_rules),
            ("laer's signals, unused feature = 0, + days to renewal", lx + lf + ["days_to_renewal"], 0.55,
             zero_features),
            ("laer's signals, unused feature = 0, + days to renewal + billing period + discount",
             lx + lf + ["days_to_renewal"] + contract, 0.55, zero_features),
            ("laer's signals, unused feature = 0, + every book metric + days to renewal",
             lx + lf + cols + ["days_to_renewal"], group_corr, zero_features),
        ] + variants
    print(f"{os.path.basename(out.rstrip('/'))}: {len(data)} observations, {int(data['is_churn'].sum())} churned; "
          f"{len(sparse)} of {len(events)} per-feature counts are zero in over 10% of observations")
    print("| variant | metrics | CV AUC (best C) | held-out quarter AUC |")
    print("|---|---|---|---|")
    for name, columns, g, prep in variants:
        GROUP = g
        d = data[list(dict.fromkeys(columns)) + ["is_churn"]]
        if prep:
            d = prep(d)
        C, table = choose_c(d)
        cv = max((t["cv_auc"] or 0) for t in table)
        ho = "–"
        if held_from is not None:
            dates = d.index.get_level_values(1)
            train, test = d[dates < held_from], d[dates >= held_from]
            Ch, _ = choose_c(train)
            ho = fmt(judge(BookModel(g).fit(train, Ch), test)["auc"])
        print(f"| {name} | {d.shape[1] - 1} | {cv:.3f} (C={C}) | {ho} |")


def _ratio_names(out):
    try:
        r = json.load(open(os.path.join(out, "book.json")))
    except OSError:
        return set()
    base = {"account_tenure", "mrr", "active_users", "discount", "billing_period_months"}
    return {m for m in r["metrics"] if not m.endswith("_28avg_84obs") and not m.endswith("_purchased")
            and not m.endswith("_per_month") and not m.startswith("days_since_") and m not in base}


def main():
    import sys
    if len(sys.argv) > 1 and sys.argv[1] == "laer-signals":
        ap = argparse.ArgumentParser()
        ap.add_argument("--laer", required=True)
        ap.add_argument("--db", required=True)
        ap.add_argument("--out", required=True)
        a = ap.parse_args(sys.argv[2:])
        return laer_signals(a.laer, a.db, a.out)
    if len(sys.argv) > 1 and sys.argv[1] == "ablate":
        ap = argparse.ArgumentParser()
        ap.add_argument("--out", required=True)
        ap.add_argument("--group-corr", type=float, help="default: the one the run used (book.json)")
        a = ap.parse_args(sys.argv[2:])
        g = a.group_corr or json.load(open(os.path.join(a.out, "book.json"))).get("group_corr", GROUP_CORR)
        return ablate(a.out, g)
    if len(sys.argv) > 1 and sys.argv[1] == "export-laer":
        ap = argparse.ArgumentParser()
        ap.add_argument("--sqlite", required=True)
        ap.add_argument("--to", required=True)
        a = ap.parse_args(sys.argv[2:])
        return export_laer(a.sqlite, a.to)
    if len(sys.argv) > 1 and sys.argv[1] == "summary":
        ap = argparse.ArgumentParser()
        ap.add_argument("--out", required=True)
        return summary(ap.parse_args(sys.argv[2:]).out)
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        del sys.argv[1]
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--config", default="", help="the simulator config (crm5, socialnet7, ...): its listing conf "
                    "defines the ratio and other chapter-7 metrics")
    ap.add_argument("--out", required=True)
    ap.add_argument("--laer-from", help="first day laer replays (month ends from it)")
    ap.add_argument("--laer-to", help="last day laer replays")
    ap.add_argument("--skip-load", action="store_true", help="reuse the schema's metrics from an earlier run")
    ap.add_argument("--group-corr", type=float, help="metric-group correlation threshold (default: the config's "
                    "listing conf, else 0.55)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    global GROUP
    conf = book_conf(a.config)
    GROUP = (conf.get("chap8", {}).get("list1", {}).get("params", {}).get("group_corr_thresh")
             or conf.get("chap6", {}).get("list4", {}).get("params", {}).get("group_corr_thresh") or GROUP_CORR)
    if a.group_corr:
        GROUP = a.group_corr
    db = Db(a.schema)
    t0 = time.time()
    if not a.skip_load:
        log("loading", a.data)
        load(db, a.data)
    first_start, last_start = db.run("select min(start_date), max(start_date) from subscription", fetch=True).iloc[0]
    # the book's range: metrics weekly from a month after the first start; observations up to a
    # week before the simulation's end (its last start), as in listings/conf
    frm = first_start + dt.timedelta(days=30)
    to = last_start - dt.timedelta(days=7)
    laer_days = []
    if a.laer_from and a.laer_to:
        laer_days = month_ends(dt.date.fromisoformat(a.laer_from), dt.date.fromisoformat(a.laer_to))
    extra = [d + dt.timedelta(days=1) for d in laer_days] + [d + dt.timedelta(days=1 - 28) for d in laer_days]
    result = {"group_corr": GROUP, "data": a.data, "schema": a.schema, "config": a.config, "book_range": [str(frm), str(to)],
              "laer_days": [str(d) for d in laer_days]}
    if not a.skip_load:
        log("metrics")
        names = compute_metrics(db, a.config, str(frm), str(to + dt.timedelta(days=60)), extra)
    else:
        names = dict(db.run("select metric_name, metric_name_id from metric_name", fetch=True).itertuples(index=False))
    result["metrics"] = sorted(names)
    result["seconds_metrics"] = round(time.time() - t0, 1)
    log("book dataset")
    db.run("truncate active_period; truncate observation;")
    book = book_dataset(db, names, str(frm), str(to)).set_index(["account_id", "observation_date"])
    book.to_csv(os.path.join(a.out, "book_dataset.csv"))
    obs_days = sorted(set(book.index.get_level_values(1)))
    held_from = obs_days[len(obs_days) * 3 // 4]
    if laer_days:
        held_days = laer_days[len(laer_days) - len(laer_days) // 4:]
        if len(laer_days) >= 4:
            held_from = held_days[0]
    log("book model on the book's dataset")
    result["book_def"], model = evaluate(book, held_from)
    if laer_days:
        db.run("drop table if exists laer_day;")
        ldata = laer_dataset(db, names, laer_days).set_index(["account_id", "observation_date"])
        ldata.to_csv(os.path.join(a.out, "laer_def_dataset.csv"))
        log("book model on laer's definition")
        result["laer_def"], _ = evaluate(ldata, held_from) if len(laer_days) >= 4 else evaluate(ldata, laer_days[-1])
        result["book_model_on_laer_def"] = judge(model, ldata)
        dates = ldata.index.get_level_values(1)
        result["book_model_on_laer_def_last_quarter"] = judge(model, ldata[dates >= held_from])
        result["laer_held_from"] = str(held_from)
    result["seconds_total"] = round(time.time() - t0, 1)
    json.dump(result, open(os.path.join(a.out, "book.json"), "w"), indent=1, default=str)
    log("wrote", os.path.join(a.out, "book.json"))


if __name__ == "__main__":
    main()
