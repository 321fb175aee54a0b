//! `doctor`: the backend report as text or JSON.
//!
//! With a kernel running on the data directory, the report is the live one (eBPF
//! included); otherwise the host is probed here and eBPF is reported as not loaded.

use std::{collections::BTreeMap, path::Path, time::Duration};

use agentos_proto::v1 as pb;

use crate::{backend::Backends, config::VfsBackendChoice};

/// Where a report came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The kernel running on the data directory.
    Live,
    /// Probed in this process, because (the reason) no kernel answered.
    Local(String),
}

/// Asks the kernel on `data_dir`, or probes locally when none answers.
pub async fn report(data_dir: &Path) -> (BTreeMap<String, pb::SubsystemReport>, Source) {
    let socket = crate::config::socket_path(data_dir);
    let live = async {
        let mut c = agentos_client::Client::connect_uds(&socket)
            .await
            .map_err(|e| e.to_string())?;
        c.doctor(pb::DoctorRequest {}).await.map_err(|st| {
            format!(
                "the kernel on {} refused: {}",
                socket.display(),
                st.message()
            )
        })
    };
    let why = match tokio::time::timeout(Duration::from_secs(3), live).await {
        Ok(Ok(r)) => {
            return (
                r.into_inner().subsystems.into_iter().collect(),
                Source::Live,
            );
        }
        Ok(Err(why)) => why,
        Err(_) => format!(
            "the kernel on {} did not answer within 3 s",
            socket.display()
        ),
    };
    let backends = Backends::detect(VfsBackendChoice::Auto, Path::new("/sys/fs/cgroup"));
    let mut r = backends.to_proto();
    let status = crate::observe::ProbeStatus::Unavailable {
        reason: "the probes load when the kernel starts".into(),
    };
    r.insert(
        "ebpf".into(),
        crate::backend::ebpf_report(&status).to_proto(),
    );
    r.insert(
        "lsm_wall".into(),
        crate::backend::lsm_wall_report(&status).to_proto(),
    );
    r.insert(
        "network".into(),
        crate::net::Network::detect(data_dir, &[])
            .report()
            .to_proto(),
    );
    (r, Source::Local(why))
}

/// One JSON object keyed by subsystem.
pub fn to_json(report: &BTreeMap<String, pb::SubsystemReport>) -> serde_json::Value {
    report
        .iter()
        .map(|(k, r)| {
            (
                k.clone(),
                serde_json::json!({
                    "backend": r.backend,
                    "available": r.available,
                    "reason": r.reason,
                    "details": r.details.iter().collect::<BTreeMap<_, _>>(),
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Aligned text, one subsystem a line.
pub fn to_text(report: &BTreeMap<String, pb::SubsystemReport>, source: &Source) -> String {
    let mut out = match source {
        Source::Live => "agentos doctor: from the running kernel\n".to_owned(),
        Source::Local(why) => format!("agentos doctor: probed here ({why})\n"),
    };
    // Columns as wide as their longest entry, so a long name cannot push its row out of line.
    let name_w = report.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    let backend_w = report
        .values()
        .map(|r| r.backend.chars().count())
        .max()
        .unwrap_or(0);
    let indent = " ".repeat(4 + name_w + 1);
    for (k, r) in report {
        let mark = if r.available { "ok " } else { "-- " };
        let backend = &r.backend;
        out.push_str(&format!(
            "{mark} {k:<name_w$} {backend:<backend_w$} {}\n",
            r.reason
        ));
        for (dk, dv) in r.details.iter().collect::<BTreeMap<_, _>>() {
            out.push_str(&format!("{indent}{dk}: {dv}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, backend: &str) -> (String, pb::SubsystemReport) {
        let r = pb::SubsystemReport {
            backend: backend.into(),
            available: true,
            reason: "why".into(),
            details: ["k", "h", "g", "f", "e", "d", "c", "b"]
                .map(|k| (k.to_owned(), "v".to_owned()))
                .into(),
        };
        (name.into(), r)
    }

    #[test]
    fn text_columns_fit_the_longest_name_and_backend() {
        let all = [
            report("io", "uring"),
            report("shared_memory", "memfd-sealed"),
        ];
        let text = to_text(&all.into_iter().collect(), &Source::Live);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("ok")).collect();
        let reason_at: Vec<usize> = rows.iter().map(|l| l.find("why").unwrap()).collect();
        assert_eq!(reason_at[0], reason_at[1], "reasons out of line:\n{text}");
        let detail = text
            .lines()
            .find(|l| l.trim_start().starts_with("b: v"))
            .unwrap();
        let backend_at = rows[0].find("uring").unwrap();
        assert_eq!(
            detail.len() - detail.trim_start().len(),
            backend_at,
            "{text}"
        );
    }

    #[test]
    fn details_print_in_order_so_two_runs_read_the_same() {
        let text = to_text(
            &[report("io", "uring")].into_iter().collect(),
            &Source::Live,
        );
        let keys: Vec<&str> = text.lines().skip(2).map(|l| l.trim_start()).collect();
        assert_eq!(
            keys,
            [
                "b: v", "c: v", "d: v", "e: v", "f: v", "g: v", "h: v", "k: v"
            ]
        );
    }
}
