//! `airssys bench --compare FILE.json`: this run's ratios against a saved
//! run's, scenario by scenario, with a tolerance.
//!
//! Ratios (airssys / raw baseline, measured in the same run) are compared,
//! not absolute figures, so a saved run from another machine or a busier
//! moment still compares fairly: both sides of a ratio saw the same machine.

use std::path::Path;

use super::{Report, Scenario};

/// The default tolerance: a ratio may move 15 % the wrong way.
pub const DEFAULT_TOLERANCE: f64 = 0.15;

/// Why a saved run could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a report written by `airssys bench --json`.
    #[error("{path} is not an `airssys bench --json` report: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// One scenario of a saved run: its name, unit and ratio.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedRatio {
    /// The scenario.
    pub name: String,
    /// Its unit (`us`, `msg/s`, `KiB`).
    pub unit: String,
    /// Its ratio (p50 ratio for latencies).
    pub ratio: f64,
}

/// Reads the ratios of a report written by `airssys bench --json`.
///
/// # Errors
/// [`CompareError`] naming the file and what is wrong with it.
pub fn load(path: &Path) -> Result<Vec<SavedRatio>, CompareError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CompareError::Read {
        path: shown.clone(),
        source,
    })?;
    let format = |reason: String| CompareError::Format {
        path: shown.clone(),
        reason,
    };
    let report: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
    let scenarios = report["scenarios"]
        .as_array()
        .ok_or_else(|| format("no `scenarios` list".into()))?;
    scenarios
        .iter()
        .map(|s| {
            let name = s["name"]
                .as_str()
                .ok_or_else(|| format("a scenario without a name".into()))?;
            let unit = s["unit"]
                .as_str()
                .ok_or_else(|| format(format!("scenario {name} has no unit")))?;
            let ratio = s["ratio_p50"]
                .as_f64()
                .or_else(|| s["ratio"].as_f64())
                .ok_or_else(|| format(format!("scenario {name} has no ratio")))?;
            Ok(SavedRatio {
                name: name.to_owned(),
                unit: unit.to_owned(),
                ratio,
            })
        })
        .collect()
}

/// Units of rates that are costs (an idle host's CPU and messages): a
/// larger ratio is worse, as for times and sizes.
const COST_RATES: [&str; 2] = ["cpu ms/s", "idle msg/s"];

/// Whether a larger ratio is worse: latencies, memory and idle costs
/// (`airssys` slower, larger or busier than raw), as opposed to throughputs.
/// Whether a scenario of `unit` measures RSS growth.
fn is_memory(unit: &str) -> bool {
    matches!(unit, "KiB" | "B")
}

fn larger_is_worse(unit: &str) -> bool {
    // Rates (`msg/s`, `spawn/s`, `claim/s`) are better larger; times,
    // sizes and costs worse.
    COST_RATES.contains(&unit) || !unit.ends_with("/s")
}

/// One scenario compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The scenario.
    pub name: String,
    /// The saved run's ratio.
    pub before: f64,
    /// This run's ratio.
    pub after: f64,
    /// How much worse, as a fraction (negative: better).
    pub worse_by: f64,
    /// Worse by more than the tolerance.
    pub regressed: bool,
}

/// The scenarios of `report` that the saved run also has, compared.
pub fn compare(saved: &[SavedRatio], report: &Report, tolerance: f64) -> Vec<Change> {
    report
        .scenarios
        .iter()
        .filter_map(|scenario| {
            let before = saved.iter().find(|s| s.name == scenario.name)?;
            let after = ratio(scenario)?;
            let worse_by = if larger_is_worse(scenario.unit) {
                after / before.ratio - 1.0
            } else {
                before.ratio / after - 1.0
            };
            Some(Change {
                name: scenario.name.to_owned(),
                before: before.ratio,
                after,
                worse_by,
                regressed: worse_by > tolerance,
            })
        })
        .collect()
}

/// One report of `runs` (each a whole run of the same scenarios): per
/// scenario, the run whose ratio was best (lowest for latencies, sizes and
/// costs, highest for throughputs). What `bench --runs N` prints, saves
/// and compares: on a shared 2-core machine one run in a few is slowed by
/// a neighbour, and the best of three is steady where one run is not,
/// while a real regression slows all three. `None` when `runs` is empty.
///
/// Memory scenarios (`KiB`, `B`) keep the first run's figure: they read
/// the process's RSS growth, and a later run in the same process reuses
/// the pages the earlier one freed, so its growth reads low (0 B for a
/// few thousand monitors), not better.
pub fn best_of(runs: Vec<Report>) -> Option<Report> {
    let mut runs = runs.into_iter();
    let mut best = runs.next()?;
    for run in runs {
        for scenario in run.scenarios {
            match best.scenarios.iter_mut().find(|b| b.name == scenario.name) {
                Some(_) if is_memory(scenario.unit) => {}
                Some(kept) => {
                    if let (Some(now), Some(was)) = (ratio(&scenario), ratio(kept)) {
                        let better = if larger_is_worse(scenario.unit) {
                            now < was
                        } else {
                            now > was
                        };
                        if better {
                            *kept = scenario;
                        }
                    }
                }
                None => best.scenarios.push(scenario),
            }
        }
        for skipped in run.skipped {
            if !best.skipped.iter().any(|s| s.name == skipped.name) {
                best.skipped.push(skipped);
            }
        }
    }
    Some(best)
}

fn ratio(scenario: &Scenario) -> Option<f64> {
    scenario.ratio_p50.or(scenario.ratio)
}

/// The comparison as a table, with a last line saying whether any regressed.
pub fn table(changes: &[Change], tolerance: f64) -> String {
    let mut out = format!(
        "{:<22} {:>10} {:>10} {:>9}\n",
        "scenario", "saved", "now", "worse by"
    );
    for c in changes {
        out.push_str(&format!(
            "{:<22} {:>9.2}x {:>9.2}x {:>8.1}%{}\n",
            c.name,
            c.before,
            c.after,
            c.worse_by * 100.0,
            if c.regressed { "  REGRESSED" } else { "" }
        ));
    }
    let regressed = changes.iter().filter(|c| c.regressed).count();
    out.push_str(&format!(
        "{regressed} of {} scenarios regressed past {:.0}%\n",
        changes.len(),
        tolerance * 100.0
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Baseline;

    fn scenario(name: &'static str, unit: &'static str, ratio: f64) -> Scenario {
        Scenario {
            name,
            unit,
            samples: 1,
            p50: None,
            p99: None,
            value: None,
            baseline: Baseline {
                name: "raw".into(),
                p50: None,
                p99: None,
                value: None,
            },
            ratio_p50: (unit == "us").then_some(ratio),
            ratio_p99: None,
            ratio: (unit != "us").then_some(ratio),
            round_ratios: None,
        }
    }

    fn saved(name: &str, unit: &str, ratio: f64) -> SavedRatio {
        SavedRatio {
            name: name.into(),
            unit: unit.into(),
            ratio,
        }
    }

    #[test]
    fn a_slower_latency_or_a_lower_throughput_past_the_tolerance_regresses() {
        let saved = [
            saved("spawn", "us", 2.0),
            saved("tell_throughput", "msg/s", 0.8),
            saved("request_rtt", "us", 1.0),
        ];
        let report = Report {
            machine: crate::bench::Machine::detect(true),
            scenarios: vec![
                scenario("spawn", "us", 2.5),
                scenario("tell_throughput", "msg/s", 0.6),
                scenario("request_rtt", "us", 1.1),
                scenario("restart", "us", 9.0),
            ],
            skipped: Vec::new(),
        };
        let changes = compare(&saved, &report, 0.15);
        let by_name = |n: &str| changes.iter().find(|c| c.name == n).unwrap();
        assert!(by_name("spawn").regressed, "2.0 -> 2.5 is 25 % slower");
        assert!((by_name("spawn").worse_by - 0.25).abs() < 1e-9);
        assert!(by_name("tell_throughput").regressed, "0.8 -> 0.6");
        assert!(!by_name("request_rtt").regressed, "10 % is within 15 %");
        assert_eq!(changes.len(), 3, "restart was not in the saved run");
        assert!(table(&changes, 0.15).contains("2 of 3 scenarios regressed past 15%"));
    }

    #[test]
    fn a_faster_run_is_never_a_regression() {
        let saved = [
            saved("spawn", "us", 3.0),
            saved("broker_fanout", "msg/s", 0.3),
        ];
        let report = Report {
            machine: crate::bench::Machine::detect(true),
            scenarios: vec![
                scenario("spawn", "us", 1.0),
                scenario("broker_fanout", "msg/s", 0.9),
            ],
            skipped: Vec::new(),
        };
        let changes = compare(&saved, &report, 0.0);
        assert!(changes.iter().all(|c| !c.regressed && c.worse_by < 0.0));
    }

    #[test]
    fn a_file_that_is_not_a_report_is_a_typed_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("airssys-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not-a-report.json");
        std::fs::write(&path, "{\"scenarios\": 3}").unwrap();
        let error = load(&path).unwrap_err();
        assert!(matches!(error, CompareError::Format { .. }), "{error}");
        assert!(error.to_string().contains("not-a-report.json"), "{error}");
        let missing = load(&dir.join("missing.json")).unwrap_err();
        assert!(matches!(missing, CompareError::Read { .. }), "{missing}");
    }

    #[test]
    fn the_best_of_several_runs_keeps_each_scenarios_best_ratio() {
        let run = |spawn: f64, tell: f64, memory: f64| Report {
            machine: crate::bench::Machine::detect(true),
            scenarios: vec![
                scenario("spawn", "us", spawn),
                scenario("tell_throughput", "msg/s", tell),
                scenario("monitor_memory", "B", memory),
            ],
            skipped: Vec::new(),
        };
        let best = best_of(vec![
            run(3.0, 0.7, 2.9),
            run(2.0, 0.6, 0.0),
            run(4.0, 0.9, 1.0),
        ])
        .unwrap();
        let ratio_of =
            |n: &str| ratio(best.scenarios.iter().find(|s| s.name == n).unwrap()).unwrap();
        assert_eq!(ratio_of("spawn"), 2.0, "a latency's best is its lowest");
        assert_eq!(
            ratio_of("tell_throughput"),
            0.9,
            "a throughput's best is its highest"
        );
        assert_eq!(
            ratio_of("monitor_memory"),
            2.9,
            "memory is the first run's: a later run's RSS growth reads pages the first freed"
        );
        assert_eq!(best.scenarios.len(), 3);
        assert!(best_of(Vec::new()).is_none());
    }
}
