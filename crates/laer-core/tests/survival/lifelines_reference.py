"""Reference values for laer's survival tests (issue 19), computed with lifelines.

Usage:  PYTHON lifelines_reference.py OUT.json

PYTHON: a venv with `pip install lifelines==0.30.3`.  Writes one JSON document:

  "kaplan_meier": KaplanMeierFitter().fit(durations, events, alpha=0.05) on the
      lifelines datasets waltons (per group and whole), lymphoma and dd; survival,
      exponential-Greenwood ("log-log") CI and the event table, all on lifelines'
      timeline (0 plus every distinct duration, event or censored).
  "cox": CoxPHFitter() with default options (Efron ties, Newton-Raphson) on rossi
      and on the regression dataset; coefficients on the original covariate scale.

NaN (not expected: lifelines fills NaN CI bounds with 1.0) becomes null, listed on stderr.
"""
import json
import math
import sys

import lifelines
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_dd, load_lymphoma, load_regression_dataset, load_rossi, load_waltons

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


def cox_case(name, df, duration_col, event_col):
    cph = CoxPHFitter().fit(df, duration_col=duration_col, event_col=event_col)
    columns = [c for c in df.columns if c not in (duration_col, event_col)]
    assert list(cph.params_.index) == columns, (list(cph.params_.index), columns)
    ci = cph.confidence_intervals_
    as_dict = lambda series: {c: float(series[c]) for c in columns}
    return {
        "name": name,
        "columns": columns,
        "rows": [[float(v) for v in row] for row in df[columns].values],
        "durations": [float(v) for v in df[duration_col].values],
        "events": [int(v) for v in df[event_col].values],
        "coef": as_dict(cph.params_),
        "se": as_dict(cph.standard_errors_),
        "hazard_ratio": as_dict(cph.hazard_ratios_),
        "ci_lower": as_dict(ci["95% lower-bound"]),
        "ci_upper": as_dict(ci["95% upper-bound"]),
        "log_likelihood": float(cph.log_likelihood_),
    }


def cox_cases():
    rossi = load_rossi()  # week (duration), arrest (event), fin age race wexp mar paro prio
    regression = load_regression_dataset()  # var1 var2 var3 (covariates), T (duration), E (event)
    return [cox_case("rossi", rossi, "week", "arrest"), cox_case("regression", regression, "T", "E")]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: lifelines_reference.py OUT.json")
    doc = {"lifelines_version": lifelines.__version__, "kaplan_meier": kaplan_meier_cases(), "cox": cox_cases()}
    with open(sys.argv[1], "w") as f:
        json.dump(doc, f, allow_nan=False)
    for where in NAN_SEEN:
        print("NaN -> null at " + where, file=sys.stderr)


if __name__ == "__main__":
    main()
