//! `agentos ps`: the running apps and their processes, like `docker ps`: for a
//! native-process app, its pid, state, the CPU time and memory its cgroup accounts,
//! and `WATCH`, the CPU time AgentOS's eBPF probes spent observing it (charged to it;
//! all from the kernel's `get_stats`), and `NET`, its network mode and its addresses
//! on its bridge (IPv4 and IPv6, `get_info`); `--json` adds them to the API's list.

use std::path::Path;

use agentos_client::{Client, pb};
use serde_json::{Value, json};

use super::services::{Services, report, table};

#[derive(clap::Args)]
pub struct Options {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(data_dir: &Path, opts: Options) -> anyhow::Result<u8> {
    let services = match Services::locate("ps", data_dir) {
        Ok(s) => s,
        Err(e) => return report(e),
    };
    let mut apps = match services.get("/api/apps").await {
        Ok(v) => v,
        Err(e) => return report(e),
    };
    let mut kernel = Client::connect_uds(&agentos_client::socket_path(data_dir))
        .await
        .ok();
    for app in apps.as_array_mut().into_iter().flatten() {
        let Some(pid) = app["pid"].as_u64().and_then(|p| u32::try_from(p).ok()) else {
            continue;
        };
        app["process"] = match kernel.as_mut() {
            Some(k) => process(k, pid).await,
            None => Value::Null,
        };
    }
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&apps)?);
        return Ok(0);
    }
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let rows: Vec<Vec<String>> = apps
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let p = &a["process"];
            vec![
                s(&a["id"]),
                s(&a["app_id"]),
                s(&a["kind"]),
                s(&a["pid"]),
                s(&p["state"]),
                s(&p["isolation"]["level"]),
                s(&p["network"]["summary"]),
                p["cpu_usage_usec"]
                    .as_u64()
                    .map_or("-".into(), |us| format!("{:.2}s", us as f64 / 1e6)),
                p["observe_cpu_ns"]
                    .as_u64()
                    .map_or("-".into(), |ns| format!("{:.3}ms", ns as f64 / 1e6)),
                p["memory_current_bytes"]
                    .as_u64()
                    .map_or("-".into(), |b| format!("{:.1}MiB", b as f64 / 1048576.0)),
                if a["focused"] == true { "*" } else { "" }.to_owned(),
                s(&a["name"]),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "ID",
                "APP",
                "KIND",
                "PID",
                "STATE",
                "ISOLATION",
                "NET",
                "CPU",
                "WATCH",
                "MEM",
                "FOCUS",
                "NAME"
            ],
            &rows
        )
    );
    Ok(0)
}

/// A process's state and cgroup accounting, or `null` where the kernel has none.
async fn process(k: &mut Client, pid: u32) -> Value {
    use pb::{syscall::Call, syscall_result::Value as V};
    let (network, state, isolation) = match k.call(Call::GetInfo(pb::GetProcessInfo { pid })).await
    {
        Ok(V::Process(info)) => (
            // Before the fields below are moved out of `info`.
            json!({
                "summary": agentos_services::kernel::network_summary(&info),
                "address": Some(&info.net_address).filter(|a| !a.is_empty()),
                "address6": Some(&info.net_address6).filter(|a| !a.is_empty()),
            }),
            pb::ProcessState::try_from(info.state)
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("PROCESS_STATE_")
                        .to_lowercase()
                })
                .ok(),
            info.isolation
                .map(|i| json!({"level": i.level, "limits": i.limits, "summary": i.summary})),
        ),
        _ => (Value::Null, None, None),
    };
    let stats = match k.call(Call::GetStats(pb::GetProcessStats { pid })).await {
        Ok(V::ProcessStats(s)) => Some(s),
        _ => None,
    };
    json!({
        "state": state,
        "isolation": isolation,
        "network": network,
        "cpu_usage_usec": stats.as_ref().map(|s| s.cpu_usage_usec),
        "observe_cpu_ns": stats.as_ref().and_then(agentos_services::kernel::watch_cost),
        "observe_runs": stats.as_ref().map(|s| s.observe_runs),
        "memory_current_bytes": stats.as_ref().map(|s| s.memory_current_bytes),
        "memory_peak_bytes": stats.as_ref().map(|s| s.memory_peak_bytes),
        "pids_current": stats.as_ref().map(|s| s.pids_current),
    })
}
