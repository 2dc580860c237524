"""Reference values for laer's survival tests (issue 19), computed with lifelines.

Usage:  PYTHON lifelines_reference.py OUT.json

PYTHON: a venv with `pip install lifelines==0.30.3`.  Writes one JSON document:

  "kaplan_meier": KaplanMeierFitter().fit(durations, events, alpha=0.05) on the
      lifelines datasets waltons (per group and whole), lymphoma and dd; survival,
      exponential-Greenwood ("log-log") CI and the event table, all on lifelines'
      timeline (0 plus every distinct duration, event or censored).
  "cox": CoxPHFitter() with default options (Efron ties, Newton-Raphson) on rossi
      and on the regression dataset; coefficients on the original covariate scale.
  "cox_time_varying": CoxTimeVaryingFitter() (Efron ties) on the Stanford heart
      transplant data (start, stop, event; age, year, surgery, transplant changing at the
      transplant) and on rossi cut into stretches at weeks 10, 20 and 30 with prior
      convictions counted from week 20 on as a covariate that changes between stretches.

NaN (not expected: lifelines fills NaN CI bounds with 1.0) becomes null, listed on stderr.
"""
import json
import math
import sys

import lifelines
from lifelines import CoxPHFitter, CoxTimeVaryingFitter, KaplanMeierFitter
from lifelines.datasets import (
    load_dd,
    load_lymphoma,
    load_regression_dataset,
    load_rossi,
    load_stanford_heart_transplants,
    load_waltons,
)

NAN_SEEN = []


def clean(values, where):
    """Floats as a JSON-ready list, NaN -> None (recorded in NAN_SEEN)."""
    out = []
    for i, v in enumerate(values):
        v = float(v)
        if math.isnan(v):
            NAN_SEEN.append(f"{where}[{i}]")
            out.append(None)
        else:
            out.append(v)
    return out


def km_case(name, durations, events):
    durations = [float(d) for d in durations]
    events = [int(e) for e in events]
    kmf = KaplanMeierFitter().fit(durations, events, alpha=0.05)
    timeline = kmf.survival_function_.index.values
    table = kmf.event_table
    ci = kmf.confidence_interval_
    assert list(table.index.values) == list(timeline), name
    assert list(ci.index.values) == list(timeline), name
    lower = [c for c in ci.columns if "_lower_" in c]
    upper = [c for c in ci.columns if "_upper_" in c]
    assert len(lower) == 1 and len(upper) == 1, ci.columns
    return {
        "name": name,
        "durations": durations,
        "events": events,
        "timeline": clean(timeline, name + ".timeline"),
        "survival": clean(kmf.survival_function_.iloc[:, 0].values, name + ".survival"),
        "lower": clean(ci[lower[0]].values, name + ".lower"),
        "upper": clean(ci[upper[0]].values, name + ".upper"),
        "at_risk": clean(table["at_risk"].values, name + ".at_risk"),
        "observed": clean(table["observed"].values, name + ".observed"),
        "censored": clean(table["censored"].values, name + ".censored"),
    }


def kaplan_meier_cases():
    cases = []
    waltons = load_waltons()  # columns T (duration), E (1 = died), group
    for group in ["control", "miR-137"]:
        sub = waltons[waltons["group"] == group]
        cases.append(km_case(f"waltons {group}", sub["T"], sub["E"]))
    cases.append(km_case("waltons", waltons["T"], waltons["E"]))
    lymphoma = load_lymphoma()  # columns Stage_group, Time, Censor (1 = death observed, 0 = censored)
    cases.append(km_case("lymphoma", lymphoma["Time"], lymphoma["Censor"]))
    dd = load_dd()  # duration (years in power), observed (1 = regime ended)
    cases.append(km_case("dd", dd["duration"], dd["observed"]))
    return cases


def fitted(name, fitter, df, columns, timing):
    """A fitted Cox model of lifelines as the test reads it: the data (`timing`: the
    time columns), and coefficients, standard errors, intervals and log-likelihood on
    the covariates' own scale."""
    assert list(fitter.params_.index) == columns, (list(fitter.params_.index), columns)
    ci = fitter.confidence_intervals_
    as_dict = lambda series: {c: float(series[c]) for c in columns}
    return {
        "name": name,
        "columns": columns,
        "rows": [[float(v) for v in row] for row in df[columns].values],
        **timing,
        "coef": as_dict(fitter.params_),
        "se": as_dict(fitter.standard_errors_),
        "ci_lower": as_dict(ci["95% lower-bound"]),
        "ci_upper": as_dict(ci["95% upper-bound"]),
        "log_likelihood": float(fitter.log_likelihood_),
    }


def cox_case(name, df, duration_col, event_col):
    cph = CoxPHFitter().fit(df, duration_col=duration_col, event_col=event_col)
    columns = [c for c in df.columns if c not in (duration_col, event_col)]
    case = fitted(
        name,
        cph,
        df,
        columns,
        {
            "durations": [float(v) for v in df[duration_col].values],
            "events": [int(v) for v in df[event_col].values],
        },
    )
    case["hazard_ratio"] = {c: float(cph.hazard_ratios_[c]) for c in columns}
    return case


def cox_cases():
    rossi = load_rossi()  # week (duration), arrest (event), fin age race wexp mar paro prio
    regression = load_regression_dataset()  # var1 var2 var3 (covariates), T (duration), E (event)
    return [cox_case("rossi", rossi, "week", "arrest"), cox_case("regression", regression, "T", "E")]


def cox_time_varying_case(name, df):
    """df: columns id, start, stop, event and the covariates."""
    ctv = CoxTimeVaryingFitter().fit(df, id_col="id", event_col="event", start_col="start", stop_col="stop")
    columns = [c for c in df.columns if c not in ("id", "start", "stop", "event")]
    timing = {
        "starts": [float(v) for v in df["start"].values],
        "stops": [float(v) for v in df["stop"].values],
        "events": [int(v) for v in df["event"].values],
    }
    return fitted(name, ctv, df, columns, timing)


def rossi_in_stretches():
    """rossi with each subject's weeks cut at 10, 20 and 30: the event (an arrest) ends
    the last stretch only; `late_prio` (prior convictions, counted from week 20 on)
    changes over time."""
    rossi = load_rossi()
    rows = []
    for i, r in rossi.iterrows():
        cuts = [0] + [c for c in (10, 20, 30) if c < r["week"]] + [r["week"]]
        for a, b in zip(cuts, cuts[1:]):
            row = {"id": i, "start": float(a), "stop": float(b), "event": int(r["arrest"] if b == r["week"] else 0)}
            for c in ("fin", "age", "prio"):
                row[c] = float(r[c])
            row["late_prio"] = float(r["prio"]) if a >= 20 else 0.0
            rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows, columns=["id", "start", "stop", "event", "fin", "age", "prio", "late_prio"])


def cox_time_varying_cases():
    heart = load_stanford_heart_transplants()  # start stop event age year surgery transplant id
    heart = heart[["id", "start", "stop", "event", "age", "year", "surgery", "transplant"]]
    return [cox_time_varying_case("stanford heart", heart), cox_time_varying_case("rossi in stretches", rossi_in_stretches())]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: lifelines_reference.py OUT.json")
    doc = {
        "lifelines_version": lifelines.__version__,
        "kaplan_meier": kaplan_meier_cases(),
        "cox": cox_cases(),
        "cox_time_varying": cox_time_varying_cases(),
    }
    with open(sys.argv[1], "w") as f:
        json.dump(doc, f, allow_nan=False)
    for where in NAN_SEEN:
        print("NaN -> null at " + where, file=sys.stderr)


if __name__ == "__main__":
    main()
