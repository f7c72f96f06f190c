//! The commands on one guest binary: `inspect`, `componentize`, `invoke`.

use std::path::Path;
use std::process::ExitCode;

use airssys_cli::{inspect, invoke as call};

use super::read;

/// `airssys inspect`: what a binary imports and exports, as text or JSON;
/// exit code 3 when it does not satisfy the host.
pub fn inspect_file(file: &Path, json: bool) -> ExitCode {
    let bytes = match read(file) {
        Ok(b) => b,
        Err(code) => return code,
    };
    match inspect::inspect(&bytes) {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                println!("{report}");
            }
            if report.satisfied() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            ExitCode::from(1)
        }
    }
}

/// `airssys componentize`: a core module made a component of the airssys
/// world (adapted to WASI preview 2 when asked).
pub fn componentize(
    module: &Path,
    output: &Path,
    wasi: bool,
    wasi_adapter: Option<&Path>,
) -> ExitCode {
    let bytes = match read(module) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let adapter = match wasi_adapter.map(read).transpose() {
        Ok(a) => a,
        Err(code) => return code,
    };
    let adapter = adapter.or_else(|| {
        wasi.then(|| {
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
                .to_vec()
        })
    });
    match airssys_wasm::wit::componentize(&bytes, adapter.as_deref()) {
        Ok(component) => match std::fs::write(output, &component) {
            Ok(()) => {
                println!(
                    "{}: component of {}, {} bytes",
                    output.display(),
                    airssys_wasm::wit::WORLD_NAME,
                    component.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}: {e}", output.display());
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("error: {}: {e}", module.display());
            ExitCode::from(1)
        }
    }
}
/// `airssys invoke`: one exported function called with typed arguments,
/// its results printed; the exit code says why it failed.
pub async fn invoke(file: &Path, function: &str, args: &[String]) -> ExitCode {
    let bytes = match read(file) {
        Ok(b) => b,
        Err(code) => return code,
    };
    match call::invoke(&bytes, function, args).await {
        Ok(results) => {
            for r in &results {
                println!("{r}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
