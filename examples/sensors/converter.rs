//! converter: a request/reply service in Rust. Answers a temperature
//! reading — `21.5C`, `70.7F` — with its value in degrees Celsius, to one
//! decimal (`21.5`). A payload that is not a reading fails the handler: the
//! requester gets an error, the message is dead-lettered as `rejected`.
//!
//! Stateless: every instance answers the same, so it scales out freely.

use airssys_guest::{export_component, log, Component, Config, Failure, Level, Message};

/// Handler code for a payload that is not a reading.
const NOT_A_READING: i32 = 1;

struct Converter;

impl Component for Converter {
    fn init(_config: &Config) -> Result<Self, Failure> {
        Ok(Converter)
    }

    fn handle(&mut self, message: Message<'_>) -> Result<Option<Vec<u8>>, Failure> {
        let text = message.payload_str().unwrap_or("");
        match to_celsius_tenths(text) {
            Some(tenths) => Ok(Some(format_tenths(tenths).into_bytes())),
            None => {
                log(Level::Warn, &format!("not a reading: {text:?}"));
                Err(Failure::new(NOT_A_READING))
            }
        }
    }
}

export_component!(Converter);

/// `<number><unit>` in tenths of a degree Celsius; unit `C` or `F`.
fn to_celsius_tenths(reading: &str) -> Option<i64> {
    let reading = reading.trim();
    let unit = reading.chars().last()?;
    let value = parse_tenths(&reading[..reading.len() - unit.len_utf8()])?;
    match unit {
        'C' | 'c' => Some(value),
        // C = (F - 32) * 5 / 9, in tenths: (f10 - 320) * 5 / 9.
        'F' | 'f' => Some(div_round((value - 320) * 5, 9)),
        _ => None,
    }
}

/// A decimal number (`-2`, `21.5`, `70.75`) in tenths, rounded half away
/// from zero.
fn parse_tenths(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 9 || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let mut hundredths = whole.parse::<i64>().ok()? * 100;
    for (i, b) in fraction.bytes().take(2).enumerate() {
        hundredths += i64::from(b - b'0') * if i == 0 { 10 } else { 1 };
    }
    let tenths = div_round(hundredths, 10);
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
