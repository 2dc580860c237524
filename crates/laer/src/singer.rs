//! `laer import singer --mapping NAME|FILE [FILE]`: a Singer tap's output (standard input,
//! or a file of it) through a mapping into laer (docs/singer.md). Each state kept is
//! printed on standard output as one JSON line, as Singer targets do, so that
//! `tap --state` can be handed the last; the report goes to standard error.

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use laer_import::singer::{SingerOptions, SingerReport, import_singer, load_mapping, shipped_mapping};
use laer_store::Store;
use tokio::io::BufReader;

use crate::ImportArgs;

pub async fn import(store: &Store, args: &ImportArgs) -> Result<()> {
    let Some(wanted) = args.mapping.as_deref() else {
        let shipped: Vec<&str> = laer_import::singer::SHIPPED_MAPPINGS
            .iter()
            .map(|(name, _)| *name)
            .collect();
        let choices = if shipped.is_empty() {
            "a mapping file (docs/singer.md)".to_string()
        } else {
            format!(
                "a shipped mapping ({}) or a mapping file (docs/singer.md)",
                shipped.join(", ")
            )
        };
        return Err(anyhow!("laer import singer needs --mapping NAME|FILE: {choices}"));
    };
    let mapping = match shipped_mapping(wanted) {
        Some(text) => load_mapping(wanted, text)?,
        None => {
            let text = std::fs::read_to_string(wanted)
                .with_context(|| format!("{wanted:?} is no shipped mapping, and cannot be read as a mapping file"))?;
            load_mapping(wanted, &text)?
        }
    };
    let mut print_state = |state: &serde_json::Value| {
        let mut out = std::io::stdout().lock();
        // A state that cannot be printed (a closed pipe) is still kept in laer.
        let _ = writeln!(out, "{state}").and_then(|()| out.flush());
    };
    let mut options = SingerOptions {
        actor: format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into())),
        on_state: Some(&mut print_state),
        ..Default::default()
    };
    let outcome = match &args.path {
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            import_singer(store, &mapping, BufReader::with_capacity(1 << 20, file), &mut options).await
        }
        None => {
            import_singer(
                store,
                &mapping,
                BufReader::with_capacity(1 << 20, tokio::io::stdin()),
                &mut options,
            )
            .await
        }
    };
    match outcome {
        Ok(report) => print_report(&report, args.json),
        Err(failure) => {
            print_report(&failure.report, args.json)?;
            Err(failure.error.into())
        }
    }
}

/// The report on standard error (standard output carries the states).
pub fn print_report(report: &SingerReport, json: bool) -> Result<()> {
    let mut err = std::io::stderr().lock();
    if json {
        writeln!(err, "{}", serde_json::to_string_pretty(report)?)?;
        return Ok(());
    }
    for warning in &report.warnings {
        writeln!(err, "warning: {warning}")?;
    }
    for (stream, s) in &report.streams {
        writeln!(
            err,
            "{stream:<24} {:>9} records {:>9} written {:>9} unchanged {:>7} skipped {:>7} unmapped",
            s.records, s.written, s.unchanged, s.skipped, s.unmapped
        )?;
        for r in &s.reasons {
            let what = [r.kind.as_str(), r.column.as_str()]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let what = if what.is_empty() {
                String::new()
            } else {
                format!("{what}: ")
            };
            writeln!(
                err,
                "    {:>7} unmapped: {what}{} (first at line {}: {})",
                r.count, r.reason, r.line, r.example
            )?;
        }
    }
    let (written, unchanged, unmapped) = report.totals();
    writeln!(
        err,
        "{} lines, {} records in {} batches: {written} written, {unchanged} unchanged, {unmapped} unmapped",
        report.lines, report.records, report.batches
    )?;
    Ok(())
}
