//! The commands that take manifests without running them: `check`,
//! `precompile`, and `test` (cases on in-process hosts).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airssys_cli::manifest::Manifest;
use airssys_cli::{run, telemetry};

/// `airssys check`: the manifest validated, its size said; exit 2 when it
/// is refused.
pub fn check(manifest: &Path) -> ExitCode {
    match Manifest::load(manifest) {
        Ok(m) => {
            let instances: u32 = m.components.iter().map(|c| c.instances).sum();
            println!(
                "{}: ok ({} components, {instances} instances, {} groups, {} drives)",
                manifest.display(),
                m.components.len(),
                m.groups.len(),
                m.drives.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `airssys test`: the cases of each file, on fresh in-process hosts.
pub async fn test_cases(files: &[PathBuf], filter: Option<&str>) -> ExitCode {
    telemetry::init_logging("error");
    match airssys_cli::cases::run_files(files, filter).await {
        Ok(tally) if tally.failed == 0 && tally.passed > 0 => ExitCode::SUCCESS,
        Ok(tally) if tally.failed == 0 => {
            eprintln!("error: no case ran (the filter matched none)");
            ExitCode::from(1)
        }
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `airssys precompile`: each manifest's components compiled into its
/// compilation cache.
pub fn precompile(manifests: &[PathBuf]) -> ExitCode {
    telemetry::init_logging("warn");
    for path in manifests {
        let m = match Manifest::load(path) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let Some(dir) = m.host.cache_dir.clone() else {
            eprintln!(
                "error: {}: no compilation cache (set [host] cache_dir, or HOME)",
                path.display()
            );
            return ExitCode::from(2);
        };
        let engine = match airssys_wasm::WasmEngine::new(run::engine_config(&m.host)) {
            Ok(engine) => engine,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        if let Err(e) = run::compile_all(&m, &engine) {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
        let (hits, misses) = engine.compile_cache_stats().unwrap_or_default();
        println!(
            "{}: {} component(s) in {} ({misses} compiled, {hits} already there)",
            path.display(),
            m.components.len(),
            dir.display()
        );
    }
    ExitCode::SUCCESS
}
