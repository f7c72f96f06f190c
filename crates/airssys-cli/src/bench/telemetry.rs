//! `telemetry`: the overhead of the host's telemetry on the message path.
//! A guest's requests to another component (as `request_guest`, timed
//! inside the requesting guest), with telemetry on as `airssys run` has it
//! by default (the clock reads of the mailbox-wait, handle-duration and
//! round-trip histograms for one message in
//! [`DEFAULT_TIMING_EVERY`](crate::telemetry::DEFAULT_TIMING_EVERY), and an
//! OpenTelemetry tracer at sampling 0 with no exporter) against the same
//! host with it off, messages alternating between the two so that both
//! see the same machine.

use std::time::Duration;

use airssys_wasm::host::ComponentSpec;
use airssys_wasm::Permissions;
use bytes::Bytes;

use super::guest_request::{driver, nanos_as_micros, ROUNDS};
use super::{host, host_err, wasm_err, BenchError, Scenario, ECHO};

const S: &str = "telemetry";

/// Turns the message path's telemetry on (as `airssys run` has it) or off
/// (both halves).
fn telemetry(on: bool) {
    let every = if on {
        crate::telemetry::DEFAULT_TIMING_EVERY
    } else {
        0
    };
    airssys_wasm::metrics::set_timing_every(every);
    airssys_wasm::trace::pause(!on);
}

/// At least `n` round trips with telemetry on and `n` with it off.
pub(super) async fn run(n: usize) -> Result<Scenario, BenchError> {
    // A tracer installed earlier in this process (a test) serves as well.
    match crate::telemetry::otel::install(None, 0.0, "airssys-bench") {
        Ok(guard) => std::mem::forget(guard),
        Err(crate::telemetry::otel::TracingError::AlreadyInstalled) => {}
        Err(e) => return Err(wasm_err(S)(e)),
    }
    let messages = n.div_ceil(ROUNDS).max(1);
    let host = host(S, 4)?;
    host.spawn(ComponentSpec::new("echo", ECHO.as_bytes().to_vec()))
        .await
        .map_err(host_err(S))?;
    host.spawn(
        ComponentSpec::new("driver", driver().into_bytes())
            .permissions(Permissions::deny_all().allow_target("echo")),
    )
    .await
    .map_err(host_err(S))?;
    let (mut on, mut off) = (Vec::with_capacity(n), Vec::with_capacity(n));
    // One warm-up message each way, not counted.
    for i in 0..2 * (messages + 1) {
        let enabled = i % 2 == 0;
        telemetry(enabled);
        let durations = host
            .request("driver", Bytes::new(), Duration::from_secs(30))
            .await
            .map_err(host_err(S))?
            .ok_or_else(|| wasm_err(S)("the driver did not reply"))?;
        if i >= 2 {
            let samples = nanos_as_micros(&durations)?;
            let side = if enabled { &mut on } else { &mut off };
            side.extend(samples);
        }
    }
    // As every other scenario runs: metrics timed, no spans.
    airssys_wasm::metrics::set_timing_every(crate::telemetry::DEFAULT_TIMING_EVERY);
    airssys_wasm::trace::pause(true);
    host.shutdown(Duration::from_secs(10)).await;
    Ok(Scenario::latency(
        S,
        &mut on,
        "the same with telemetry off (no clock reads, no spans)",
        &mut off,
    ))
}
