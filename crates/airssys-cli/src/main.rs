//! `airssys`: run a manifest of WebAssembly components, inspect and invoke
//! guests, benchmark the host. The commands are defined and run in
//! [`cli`]; this file sets up the process (allocator, signals, traces,
//! the tokio runtime).
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use airssys_cli::telemetry;
use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    // Before any thread exists, so that every thread shares the arenas.
    airssys_cli::allocator::limit_malloc_arenas();
    let cli = Cli::parse();
    // A closed pipe on stdout ends a printing command quietly instead of
    // panicking in `println!`; a host (`run`) keeps running and writes its
    // summary without panicking (see `print_summary`).
    if !matches!(cli.command, Command::Run(_)) {
        airssys_cli::signals::restore_default_sigpipe();
    }
    // Before the runtime: the exporter's blocking HTTP client must not be
    // made (or dropped) inside it.
    let traces = match &cli.command {
        Command::Run(args) => match telemetry::otel::traces_endpoint(args.otlp_endpoint.as_deref())
        {
            None => None,
            Some(endpoint) => {
                match telemetry::otel::install(Some(&endpoint), args.trace_sample_ratio, "airssys")
                {
                    Ok(guard) => Some(guard),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
        },
        _ => None,
    };
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(cli::run_command(cli.command)),
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            ExitCode::from(1)
        }
    };
    if let Some(traces) = traces {
        traces.shutdown();
    }
    code
}
