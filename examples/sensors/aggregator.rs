//! aggregator: a stateful component in Rust. Subscribes to `readings.*`
//! (one subject per room). For each reading it
//!
//! 1. asks `converter` for the value in Celsius (request/reply: the guest is
//!    suspended, not the host's thread),
//! 2. adds it to the room's running statistics,
//! 3. asks `limits` (the C guest) whether it is `ok`, `high` or `low`, and
//! 4. publishes an alert on `alerts.<room>` when it is not `ok`.
//!
//! A request whose payload is a room name is answered with that room's
//! aggregate: `kitchen: n=16 min=19.5 max=31.5 mean=23.9 alerts=4`.
//!
//! A reading that cannot be handled (the converter refuses it, a service
//! is unreachable, the alert is denied) fails the handler: it is
//! dead-lettered as `rejected`, the statistics do not change, and `health`
//! answers `degraded` until a reading goes through again.
//!
//! Configuration (`config = { ... }` in `airssys.toml`): `converter` and
//! `limits`, the ids of the two services (defaults `converter`, `limits`).
//! A restart starts from empty statistics: the state lives in the instance.

use std::collections::BTreeMap;
use std::time::Duration;

use airssys_guest::{
    export_component, log, publish, request, self_id, Component, Config, Failure, Health, Level,
    Message,
};

/// How long each request to a service may take.
const SERVICE_TIMEOUT: Duration = Duration::from_millis(500);

/// Handler code for a reply from `converter` that is not a number.
const BAD_CONVERSION: i32 = 2;

/// Running statistics of one room, in tenths of a degree Celsius.
#[derive(Default)]
struct Stats {
    count: u64,
    sum: i64,
    min: i64,
    max: i64,
    alerts: u64,
}

impl Stats {
    fn record(&mut self, tenths: i64) {
        if self.count == 0 {
            self.min = tenths;
            self.max = tenths;
        }
        self.count += 1;
        self.sum += tenths;
        self.min = self.min.min(tenths);
        self.max = self.max.max(tenths);
    }
}

struct Aggregator {
    converter: String,
    limits: String,
    rooms: BTreeMap<String, Stats>,
    /// Readings rejected since the last one that went through, and the
    /// code of the last rejection.
    rejected: Option<(u64, i32)>,
}

impl Component for Aggregator {
    fn init(config: &Config) -> Result<Self, Failure> {
        let aggregator = Aggregator {
            converter: config.get_or("converter", "converter")?,
            limits: config.get_or("limits", "limits")?,
            rooms: BTreeMap::new(),
            rejected: None,
        };
        log(
            Level::Info,
            &format!(
                "{} ready: converter={}, limits={}",
                self_id()?,
                aggregator.converter,
                aggregator.limits
            ),
        );
        Ok(aggregator)
    }

    fn handle(&mut self, message: Message<'_>) -> Result<Option<Vec<u8>>, Failure> {
        match message.subject() {
            Some(subject) => {
                let room = subject.rsplit('.').next().unwrap_or(subject);
                match self.reading(room, message.payload()) {
                    Ok(()) => self.rejected = None,
                    Err(failure) => {
                        let count = self.rejected.map_or(0, |(n, _)| n) + 1;
                        self.rejected = Some((count, failure.code()));
                        return Err(failure);
                    }
                }
                Ok(None)
            }
            None => {
                let room = message.payload_str().unwrap_or("").trim();
                Ok(Some(self.report(room).into_bytes()))
            }
        }
    }

    fn health(&mut self) -> Health {
        match self.rejected {
            None => Health::Healthy,
            Some((count, code)) => Health::Degraded(format!(
                "{count} reading(s) rejected in a row, the last with code {code}"
            )),
        }
    }

    fn cleanup(&mut self) {
        let rooms: Vec<String> = self.rooms.keys().map(|r| self.report(r)).collect();
        log(Level::Info, &format!("stopping; {}", rooms.join("; ")));
    }
}

export_component!(Aggregator);

impl Aggregator {
    fn reading(&mut self, room: &str, reading: &[u8]) -> Result<(), Failure> {
        // `?` on a HostError fails the handler with the host's code: the
        // reading is dead-lettered as `rejected`, the statistics unchanged.
        let celsius = request(&self.converter, reading, SERVICE_TIMEOUT)?;
        let celsius = String::from_utf8(celsius).map_err(|_| Failure::new(BAD_CONVERSION))?;
        let tenths = parse_tenths(&celsius).ok_or_else(|| Failure::new(BAD_CONVERSION))?;

        let check = format!("{room} {celsius}");
        let verdict = request(&self.limits, check.as_bytes(), SERVICE_TIMEOUT)?;

        // Alert first, record after: a reading whose alert cannot be
        // published is rejected as a whole and leaves no trace in the stats.
        let alert = verdict != b"ok";
        if alert {
            let verdict = String::from_utf8_lossy(&verdict);
            publish(
                &format!("alerts.{room}"),
                format!("{room} {verdict} {celsius}").as_bytes(),
            )?;
        }
        let stats = self.rooms.entry(room.to_owned()).or_default();
        stats.record(tenths);
        if alert {
            stats.alerts += 1;
        }
        Ok(())
    }

    fn report(&self, room: &str) -> String {
        match self.rooms.get(room) {
            Some(s) => format!(
                "{room}: n={} min={} max={} mean={} alerts={}",
                s.count,
                format_tenths(s.min),
                format_tenths(s.max),
                format_tenths(div_round(s.sum, s.count as i64)),
                s.alerts
            ),
            None => format!("{room}: no readings"),
        }
    }
}

/// `21.5` / `-2.0` (the converter's one-decimal answer) in tenths.
fn parse_tenths(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.')?;
    let negative = whole.starts_with('-');
    let whole: i64 = whole.parse().ok()?;
    if fraction.len() != 1 {
        return None;
    }
    let fraction: i64 = fraction.parse().ok()?;
    let tenths = whole.abs() * 10 + fraction;
    Some(if negative { -tenths } else { tenths })
}

/// `n / d` rounded half away from zero (`d > 0`).
fn div_round(n: i64, d: i64) -> i64 {
    if n >= 0 {
        (n + d / 2) / d
    } else {
        -((-n + d / 2) / d)
    }
}

/// Tenths as text with one decimal: `215` → `21.5`, `-20` → `-2.0`.
fn format_tenths(tenths: i64) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    let abs = tenths.abs();
    format!("{sign}{}.{}", abs / 10, abs % 10)
}
