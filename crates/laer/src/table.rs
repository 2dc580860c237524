//! Readable tables of the reports' JSON, for the terminal.

use std::fmt::Write;

use serde_json::Value;

fn rate(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_string(), |r| format!("{:.2}%", r * 100.0))
}

fn number(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        _ => "-".to_string(),
    }
}

fn periods(report: &Value) -> Vec<&Value> {
    match report.get("periods").and_then(Value::as_array) {
        Some(periods) => periods.iter().collect(),
        None => vec![report],
    }
}

pub fn retention(report: &Value) -> String {
    let mut out = String::new();
    let activity = periods(report).iter().any(|p| p.get("activity").is_some());
    let _ = write!(
        out,
        "{:<10} {:<10} {:<14} {:>7} {:>7} {:>7} {:>7} {:>7} {:>12} {:>12} {:>8} {:>9}",
        "from",
        "to",
        "segment",
        "start",
        "end",
        "churned",
        "churn",
        "annual",
        "start MRR",
        "retained",
        "NRR",
        "MRR churn"
    );
    if activity {
        let _ = write!(out, " {:>7} {:>9}", "active", "act.churn");
    }
    out.push('\n');
    let row = |out: &mut String, p: &Value, from: &str, to: &str, segment: &str| {
        let (a, m) = (&p["accounts"], &p["mrr"]);
        let _ = write!(
            out,
            "{from:<10} {to:<10} {segment:<14} {:>7} {:>7} {:>7} {:>7} {:>7} {:>12} {:>12} {:>8} {:>9}",
            number(&a["start"]),
            number(&a["end"]),
            number(&a["churned"]),
            rate(&a["churn_rate"]),
            rate(&a["annual_churn_rate"]),
            number(&m["start"]),
            number(&m["retained"]),
            rate(&m["net_retention_rate"]),
            rate(&m["churn_rate"]),
        );
        if let Some(act) = p.get("activity") {
            let _ = write!(out, " {:>7} {:>9}", number(&act["start"]), rate(&act["churn_rate"]));
        }
        out.push('\n');
    };
    for p in periods(report) {
        let (from, to) = (p["from"].as_str().unwrap_or(""), p["to"].as_str().unwrap_or(""));
        row(&mut out, p, from, to, "all");
        for s in p.get("segments").and_then(Value::as_array).into_iter().flatten() {
            row(&mut out, s, "", "", s["segment"].as_str().unwrap_or("(none)"));
        }
    }
    out
}

pub fn mrr(report: &Value) -> String {
    let mut out = String::new();
    let header = [
        "start",
        "new",
        "reactivation",
        "expansion",
        "contraction",
        "churn",
        "end",
    ];
    let _ = write!(out, "{:<10} {:<10} {:<16}", "from", "to", "segment");
    for h in header {
        let _ = write!(out, " {h:>12}");
    }
    let _ = writeln!(out, " {:>8} {:>8}", "NRR", "GRR");
    let row = |out: &mut String, p: &Value, from: &str, to: &str, segment: &str| {
        let _ = write!(out, "{from:<10} {to:<10} {segment:<16}");
        for h in header {
            let _ = write!(out, " {:>12}", number(&p[h]));
        }
        let _ = writeln!(
            out,
            " {:>8} {:>8}",
            rate(&p["net_revenue_retention"]),
            rate(&p["gross_revenue_retention"])
        );
    };
    for p in periods(report) {
        let (from, to) = (p["from"].as_str().unwrap_or(""), p["to"].as_str().unwrap_or(""));
        row(&mut out, p, from, to, "all");
        for s in p.get("segments").and_then(Value::as_array).into_iter().flatten() {
            row(&mut out, s, "", "", s["segment"].as_str().unwrap_or("(none)"));
        }
    }
    out
}
