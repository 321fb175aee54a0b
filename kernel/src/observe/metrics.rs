//! Prometheus text for the kernel's `/metrics`: latency histograms per syscall and
//! per VFS operation (from the collector), process creations and exits, the
//! collector's drops and sampling rates, each managed process's CPU, memory and
//! pids read from its cgroup, and what watching costs: each eBPF program's run time and
//! runs as the host kernel counts them, and each app's share of it.

use std::{collections::BTreeMap, fmt::Write as _};

use super::collector::{Category, Stats};

/// Bucket bounds in nanoseconds: 1 µs × 4ⁿ, up to ~4.3 s.
const BOUNDS_NS: [u64; 12] = [
    1_000,
    4_000,
    16_000,
    64_000,
    256_000,
    1_024_000,
    4_096_000,
    16_384_000,
    65_536_000,
    262_144_000,
    1_048_576_000,
    4_194_304_000,
];

/// One latency histogram (cumulative only when printed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    buckets: [u64; BOUNDS_NS.len()],
    count: u64,
    sum_ns: u64,
}

impl Histogram {
    pub fn observe(&mut self, ns: u64) {
        if let Some(i) = BOUNDS_NS.iter().position(|b| ns <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Histograms per (category, name).
#[derive(Clone, Debug, Default)]
pub struct Histograms(BTreeMap<(Category, &'static str), Histogram>);

impl Histograms {
    pub fn observe(&mut self, c: Category, name: &'static str, ns: u64) {
        self.0.entry((c, name)).or_default().observe(ns);
    }

    pub fn get(&self, c: Category, name: &'static str) -> Option<&Histogram> {
        self.0.get(&(c, name))
    }
}

/// A managed process's cgroup figures, for the per-app gauges.
pub struct AppUsage {
    pub app: String,
    pub pid: u32,
    pub cpu_usec: u64,
    pub memory_bytes: u64,
    pub pids: u64,
    /// The probes' CPU time charged to its cgroup, in nanoseconds (`ProcessStats`'s
    /// `observe_cpu_ns`); 0 without probes.
    pub observe_cpu_ns: u64,
}

/// Everything `/metrics` shows.
pub struct Snapshot {
    pub histograms: Histograms,
    pub stats: Stats,
    pub spawned: u64,
    pub exited: u64,
    pub apps: Vec<AppUsage>,
    /// Each loaded eBPF program's run time and runs; empty without probes.
    pub probes: Vec<super::ProgramRunTime>,
}

/// A label value, escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition (version 0.0.4).
pub fn render(s: &Snapshot) -> String {
    let mut o = String::new();
    for (metric, category, what) in [
        (
            "agentos_syscall_latency_seconds",
            Category::Syscall,
            "syscall",
        ),
        ("agentos_vfs_latency_seconds", Category::Vfs, "op"),
    ] {
        let _ = writeln!(
            o,
            "# HELP {metric} Latency by {what}, as the kernel measured it."
        );
        let _ = writeln!(o, "# TYPE {metric} histogram");
        for ((c, name), h) in &s.histograms.0 {
            if *c != category {
                continue;
            }
            let mut cum = 0;
            for (b, n) in BOUNDS_NS.iter().zip(h.buckets) {
                cum += n;
                let _ = writeln!(
                    o,
                    "{metric}_bucket{{{what}=\"{}\",le=\"{}\"}} {cum}",
                    label(name),
                    *b as f64 / 1e9
                );
            }
            let name = label(name);
            let _ = writeln!(
                o,
                "{metric}_bucket{{{what}=\"{name}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                o,
                "{metric}_sum{{{what}=\"{name}\"}} {}",
                h.sum_ns as f64 / 1e9
            );
            let _ = writeln!(o, "{metric}_count{{{what}=\"{name}\"}} {}", h.count);
        }
    }
    let counter = |o: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    };
    counter(
        &mut o,
        "agentos_process_spawned_total",
        "Managed processes created.",
        s.spawned,
    );
    counter(
        &mut o,
        "agentos_process_exited_total",
        "Managed processes that exited.",
        s.exited,
    );
    counter(
        &mut o,
        "agentos_events_lost_total",
        "Events the ring overwrote before the collector read them.",
        s.stats.lost,
    );
    counter(
        &mut o,
        "agentos_anomalies_total",
        "Values beyond 3 standard deviations of their metric.",
        s.stats.anomalies,
    );
    let _ = writeln!(
        o,
        "# HELP agentos_events_total Events offered to the collector, by category.\n# TYPE agentos_events_total counter"
    );
    for (c, _, seen, _) in &s.stats.categories {
        let _ = writeln!(
            o,
            "agentos_events_total{{category=\"{}\"}} {seen}",
            c.name()
        );
    }
    let _ = writeln!(
        o,
        "# HELP agentos_events_sampled_out_total Events dropped by sampling, by category.\n# TYPE agentos_events_sampled_out_total counter"
    );
    for (c, _, _, out) in &s.stats.categories {
        let _ = writeln!(
            o,
            "agentos_events_sampled_out_total{{category=\"{}\"}} {out}",
            c.name()
        );
    }
    let _ = writeln!(
        o,
        "# HELP agentos_sampling_rate Fraction of events kept, by category.\n# TYPE agentos_sampling_rate gauge"
    );
    for (c, every, _, _) in &s.stats.categories {
        let _ = writeln!(
            o,
            "agentos_sampling_rate{{category=\"{}\"}} {}",
            c.name(),
            1.0 / f64::from(*every)
        );
    }
    let _ = writeln!(
        o,
        "# HELP agentos_collector_overhead_ratio The collector thread's CPU time over wall time, last window.\n# TYPE agentos_collector_overhead_ratio gauge\nagentos_collector_overhead_ratio {}",
        s.stats.overhead
    );
    for (name, help, f) in [
        (
            "agentos_app_cpu_seconds_total",
            "CPU time of the app's cgroup.",
            (|a: &AppUsage| a.cpu_usec as f64 / 1e6) as fn(&AppUsage) -> f64,
        ),
        (
            "agentos_app_memory_bytes",
            "Memory charged to the app's cgroup.",
            |a| a.memory_bytes as f64,
        ),
        ("agentos_app_pids", "Tasks in the app's cgroup.", |a| {
            a.pids as f64
        }),
        (
            "agentos_app_observe_cpu_seconds_total",
            "CPU time the eBPF probes spent on the app's behalf (their run time, apportioned by runs).",
            |a| a.observe_cpu_ns as f64 / 1e9,
        ),
    ] {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for a in &s.apps {
            let _ = writeln!(
                o,
                "{name}{{app=\"{}\",pid=\"{}\"}} {}",
                label(&a.app),
                a.pid,
                f(a)
            );
        }
    }
    for (name, help, f) in [
        (
            "agentos_probe_run_seconds_total",
            "Run time of AgentOS's eBPF program, as the host kernel counts it while run-time statistics are on.",
            (|p: &super::ProgramRunTime| p.run_time_ns as f64 / 1e9)
                as fn(&super::ProgramRunTime) -> f64,
        ),
        (
            "agentos_probe_runs_total",
            "Runs of AgentOS's eBPF program, counted while run-time statistics are on.",
            |p| p.runs as f64,
        ),
    ] {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
        for p in &s.probes {
            let _ = writeln!(o, "{name}{{program=\"{}\"}} {}", label(p.program), f(p));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let mut h = Histograms::default();
        h.observe(Category::Syscall, "read", 500);
        h.observe(Category::Syscall, "read", 5_000);
        h.observe(Category::Syscall, "read", 10_000_000_000);
        let text = render(&Snapshot {
            histograms: h,
            stats: Stats::default(),
            spawned: 2,
            exited: 1,
            apps: vec![AppUsage {
                app: "a\"b".into(),
                pid: 7,
                cpu_usec: 1_500_000,
                memory_bytes: 4096,
                pids: 3,
                observe_cpu_ns: 2_500_000,
            }],
            probes: vec![super::super::ProgramRunTime {
                program: "agentos_sys_out",
                run_time_ns: 3_000_000_000,
                runs: 42,
            }],
        });
        assert!(
            text.contains(
                "agentos_syscall_latency_seconds_bucket{syscall=\"read\",le=\"0.000001\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "agentos_syscall_latency_seconds_bucket{syscall=\"read\",le=\"0.000016\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("agentos_syscall_latency_seconds_bucket{syscall=\"read\",le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(text.contains("agentos_process_spawned_total 2"));
        assert!(
            text.contains("agentos_app_cpu_seconds_total{app=\"a\\\"b\",pid=\"7\"} 1.5"),
            "{text}"
        );
        assert!(
            text.contains("agentos_app_observe_cpu_seconds_total{app=\"a\\\"b\",pid=\"7\"} 0.0025"),
            "{text}"
        );
        assert!(
            text.contains("agentos_probe_run_seconds_total{program=\"agentos_sys_out\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("agentos_probe_runs_total{program=\"agentos_sys_out\"} 42\n"),
            "{text}"
        );
    }
}
