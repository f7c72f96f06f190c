//! The report as a table for the terminal.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The report as a table.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "machine: {} ({} cpus), {}/{}, {} build, {} mode\n",
        report.machine.cpu,
        report.machine.cpus,
        report.machine.os,
        report.machine.arch,
        report.machine.profile,
        report.machine.mode
    );
    out.push_str(&format!(
        "{:<22} {:>6} {:>12} {:>12}   {:<44} {:>12} {:>12} {:>8}\n",
        "scenario", "unit", "p50/value", "p99", "raw baseline", "p50/value", "p99", "ratio"
    ));
    let f = |v: Option<f64>| {
        v.map_or_else(
            || "-".to_owned(),
            |v| {
                if v >= 1000.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            },
        )
    };
    for s in &report.scenarios {
        let ratio = s
            .ratio_p50
            .or(s.ratio)
            .map_or_else(|| "-".into(), |r| format!("{r:.2}x"));
        out.push_str(&format!(
            "{:<22} {:>6} {:>12} {:>12}   {:<44} {:>12} {:>12} {:>8}\n",
            s.name,
            s.unit,
            f(s.p50.or(s.value)),
            f(s.p99),
            s.baseline.name,
            f(s.baseline.p50.or(s.baseline.value)),
            f(s.baseline.p99),
            ratio
        ));
    }
    for s in &report.skipped {
        out.push_str(&format!("{:<22} skipped: {}\n", s.name, s.reason));
    }
    out
}
