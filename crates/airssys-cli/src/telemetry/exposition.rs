//! The Prometheus text format (version 0.0.4) for the series the `metrics`
//! facade cannot hold: histograms recorded as bucket counts on the message
//! path (the facade takes one sample per call), and per-component series
//! whose labels are chosen at scrape time (see [`super::components`]).

use std::fmt::Write as _;

use airssys_wasm::metrics::HistogramSnapshot;

/// One scrape's text, written family by family.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    out: String,
}

/// A family's kind, as `# TYPE` names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Exposition {
    /// The `# HELP` and `# TYPE` lines of family `name`.
    pub(crate) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample: `name{labels} value`.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// The `_bucket` (cumulative, `le` label), `_sum` and `_count` samples
    /// of histogram `name`.
    pub(crate) fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        for (bound, count) in h.cumulative() {
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(bound));
            let _ = writeln!(self.out, " {count}");
        }
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", number(h.sum_seconds()));
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.count());
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<f64>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (key, value) in labels {
            if !first {
                self.out.push(',');
            }
            first = false;
            let _ = write!(self.out, "{key}=\"");
            escape(&mut self.out, value);
            self.out.push('"');
        }
        if let Some(bound) = le {
            if !first {
                self.out.push(',');
            }
            let _ = write!(self.out, "le=\"{}\"", number(bound));
        }
        self.out.push('}');
    }

    /// The text written so far.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// A value as Prometheus writes it (`+Inf`, integers without a fraction).
fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_has_cumulative_buckets_sum_and_count() {
        let h = airssys_wasm::metrics::Histogram::default();
        h.record(std::time::Duration::from_millis(2));
        let mut e = Exposition::default();
        e.family("x_seconds", Kind::Histogram, "test");
        e.histogram("x_seconds", &[("component", "a\"b")], &h.snapshot());
        let text = e.finish();
        assert!(text.contains("# TYPE x_seconds histogram\n"), "{text}");
        assert!(
            text.contains("x_seconds_bucket{component=\"a\\\"b\",le=\"0.001\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{component=\"a\\\"b\",le=\"0.0025\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{component=\"a\\\"b\",le=\"+Inf\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_count{component=\"a\\\"b\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_sum{component=\"a\\\"b\"} 0.002\n"),
            "{text}"
        );
    }
}
