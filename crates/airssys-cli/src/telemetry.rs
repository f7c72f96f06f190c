//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (EnvFilter syntax).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `RUST_LOG` if set, else `default`
/// (e.g. `"warn"`, `"info,airssys_wasm=debug"`). Logs go to stderr, without
/// colour when stderr is not a terminal. Safe to call twice (the second
/// call does nothing).
pub fn init_logging(default: &str) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
