//! Prometheus metrics, kept in memory and written out in the text exposition format
//! (version 0.0.4) by `GET /metrics`.
//!
//! Hand-rolled rather than a metrics crate: four series, two of them histograms,
//! are a page of code, and the format is plain text
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>).
//!
//! | series | type | labels |
//! |---|---|---|
//! | `agentos_http_request_duration_seconds` | histogram | `method`, `route` (the matched route, never the raw path), `status` |
//! | `agentos_kernel_call_duration_seconds` | histogram | `call` (the RPC) |
//! | `agentos_active_apps` | gauge | — |
//! | `agentos_ws_connections` | gauge | — |
//! | `agentos_kernel_up` | gauge | — (then the kernel's own series, see `append_kernel`) |
//!
//! Gauges whose value lives elsewhere (running apps) are read when written out.

use std::{
    fmt::Write as _,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

/// Upper bounds of the latency buckets, in seconds (Prometheus' client defaults).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Everything `GET /metrics` reports, but the gauges read from elsewhere.
#[derive(Debug, Default)]
pub struct Metrics {
    pub http: Histograms,
    pub kernel_calls: Histograms,
    pub ws_connections: Gauge,
}

impl Metrics {
    /// The text exposition, with `active_apps` read by the caller.
    pub fn render(&self, active_apps: usize) -> String {
        let mut out = String::new();
        self.http.render(
            &mut out,
            "agentos_http_request_duration_seconds",
            "HTTP request latency by matched route, method and status.",
        );
        self.kernel_calls.render(
            &mut out,
            "agentos_kernel_call_duration_seconds",
            "Latency of gRPC calls to the kernel, by call.",
        );
        gauge(
            &mut out,
            "agentos_active_apps",
            "Apps running now.",
            active_apps as i64,
        );
        gauge(
            &mut out,
            "agentos_ws_connections",
            "Open WebSocket connections.",
            self.ws_connections.get(),
        );
        out
    }
}

/// Appends the kernel's series (or why they are missing) under `agentos_kernel_up`,
/// so a scrape always says whether the kernel's part is there.
pub fn append_kernel(out: &mut String, kernel: Result<&str, String>) {
    gauge(
        out,
        "agentos_kernel_up",
        "1 when the kernel answered this scrape and its series follow.",
        i64::from(kernel.is_ok()),
    );
    match kernel {
        Ok(text) => out.push_str(text),
        // A comment line, which scrapers skip: the reason, on one line.
        Err(why) => {
            let _ = writeln!(
                out,
                "# kernel metrics unavailable: {}",
                why.replace('\n', " ")
            );
        }
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// A gauge that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One histogram per label set. Label values are `(name, value)` pairs in a fixed
/// order. The sets are few (routes × methods × statuses), so they sit in a vector
/// searched without allocating; a set is copied only the first time it is seen.
#[derive(Debug, Default)]
pub struct Histograms(Mutex<Vec<(Labels, Histogram)>>);

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket of [`BUCKETS`]; the `+Inf` bucket is `count`.
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

fn same(set: &Labels, labels: &[(&'static str, &str)]) -> bool {
    set.len() == labels.len()
        && set
            .iter()
            .zip(labels)
            .all(|((k, v), (lk, lv))| k == lk && v == lv)
}

impl Histograms {
    /// Records one observation under `labels`.
    pub fn observe(&self, labels: &[(&'static str, &str)], took: Duration) {
        let secs = took.as_secs_f64();
        let mut sets = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let i = match sets.iter().position(|(set, _)| same(set, labels)) {
            Some(i) => i,
            None => {
                let set = labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
                sets.push((set, Histogram::default()));
                sets.len() - 1
            }
        };
        let h = &mut sets[i].1;
        if let Some(b) = BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[b] += 1;
        }
        h.sum += secs;
        h.count += 1;
    }

    /// How many observations carry `labels` (for tests and diagnostics).
    pub fn count(&self, labels: &[(&'static str, &str)]) -> u64 {
        let sets = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        sets.iter()
            .filter(|(k, _)| {
                labels
                    .iter()
                    .all(|(n, v)| k.iter().any(|(kn, kv)| kn == n && kv == v))
            })
            .map(|(_, h)| h.count)
            .sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut sets = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        sets.sort_by(|a, b| a.0.cmp(&b.0));
        for (labels, h) in &sets {
            let base: String = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\",", escape(v)))
                .collect();
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(out, "{name}_bucket{{{base}le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{{base}le=\"+Inf\"}} {}", h.count);
            let base = base.trim_end_matches(',');
            let _ = writeln!(out, "{name}_sum{{{base}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{base}}} {}", h.count);
        }
    }
}

/// A label value, escaped as the exposition format asks (`\`, `"`, newline).
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labelled() {
        let m = Metrics::default();
        let labels = [("method", "GET"), ("route", "/api/apps"), ("status", "200")];
        m.http.observe(&labels, Duration::from_millis(3));
        m.http.observe(&labels, Duration::from_millis(30));
        m.http.observe(&labels, Duration::from_secs(60));
        m.http.observe(
            &[("method", "GET"), ("route", "/x"), ("status", "404")],
            Duration::ZERO,
        );
        m.ws_connections.inc();
        let text = m.render(2);
        let l = r#"method="GET",route="/api/apps",status="200""#;
        for line in [
            format!("agentos_http_request_duration_seconds_bucket{{{l},le=\"0.005\"}} 1"),
            format!("agentos_http_request_duration_seconds_bucket{{{l},le=\"0.05\"}} 2"),
            format!("agentos_http_request_duration_seconds_bucket{{{l},le=\"10\"}} 2"),
            format!("agentos_http_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} 3"),
            format!("agentos_http_request_duration_seconds_count{{{l}}} 3"),
            "# TYPE agentos_kernel_call_duration_seconds histogram".to_owned(),
            "agentos_active_apps 2".to_owned(),
            "agentos_ws_connections 1".to_owned(),
        ] {
            assert!(text.lines().any(|t| t == line), "{line} missing in\n{text}");
        }
        assert_eq!(m.http.count(&[("route", "/api/apps")]), 3);
    }

    #[test]
    fn the_kernels_part_is_appended_or_its_absence_said() {
        let mut out = String::new();
        append_kernel(&mut out, Ok("agentos_process_spawned_total 3\n"));
        assert!(out.lines().any(|l| l == "agentos_kernel_up 1"), "{out}");
        assert!(out.ends_with("agentos_process_spawned_total 3\n"), "{out}");
        let mut out = String::new();
        append_kernel(&mut out, Err("connect: no such file\nor directory".into()));
        assert!(out.lines().any(|l| l == "agentos_kernel_up 0"), "{out}");
        assert!(
            out.lines()
                .any(|l| l == "# kernel metrics unavailable: connect: no such file or directory"),
            "{out}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
