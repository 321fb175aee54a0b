//! `agentos events [--follow] [--app APP] [--json]`: the kernel collector's events.
//!
//! Without `--follow`, the newest events that match (`QueryEvents`), then a line of
//! what sampling dropped and what was lost; with it, live events (`StreamEvents`,
//! filtered in the kernel) until interrupted, and a note whenever this reader fell
//! too far behind and missed some. `--json` prints one JSON object per line.
//! Exit codes: 0 done, 1 the kernel refused, 2 no kernel.

use std::path::Path;

use agentos_client::{CallError, Client};
use agentos_proto::v1 as pb;
use tokio_stream::StreamExt;

use super::run::{NO_KERNEL, no_kernel};
use agentos_services::kernel::events::{category, to_json};

#[derive(clap::Args)]
pub struct Options {
    /// Keep printing events as they happen.
    #[arg(long, short)]
    follow: bool,
    /// Only events about this app's processes, by the name the kernel knows them by
    /// (a desktop app's is `agentos-app-ID`).
    #[arg(long)]
    app: Option<String>,
    /// Only these categories (syscall, scheduler, process, vfs, sandbox, timeout, ebpf, anomaly).
    #[arg(long, value_delimiter = ',')]
    category: Vec<String>,
    /// Only this request chain (the causality id).
    #[arg(long)]
    causality: Option<u64>,
    /// At most this many past events (without --follow).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

fn print(e: &pb::CollectedEvent, as_json: bool) {
    let j = to_json(e);
    if as_json {
        println!("{j}");
        return;
    }
    let app = if e.app.is_empty() { "-" } else { &e.app };
    println!(
        "{:>16.6} {:<9} {:<5} {:<16} pid {:<7} {:<16} value {:<10} code {:<5} chain {}",
        e.timestamp_ns as f64 / 1e9,
        j["category"].as_str().unwrap_or(""),
        j["severity"].as_str().unwrap_or(""),
        e.name,
        e.pid,
        app,
        e.value,
        e.code,
        e.causality
    );
}

pub async fn run(data_dir: &Path, opts: Options) -> anyhow::Result<u8> {
    let categories = opts
        .category
        .iter()
        .map(|c| {
            category(c)
                .map(|c| c as i32)
                .ok_or_else(|| anyhow::anyhow!("unknown event category {c:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let Ok(mut client) = Client::connect_uds(&agentos_client::socket_path(data_dir)).await else {
        eprintln!("{}", no_kernel("events", data_dir));
        return Ok(NO_KERNEL);
    };
    let query = pb::EventQuery {
        categories,
        app: opts.app.unwrap_or_default(),
        causality: opts.causality.unwrap_or(0),
        limit: opts.limit,
        ..Default::default()
    };
    let refused = |status: tonic::Status| {
        eprintln!("agentos events: {}", CallError::from(status));
        Ok(1)
    };
    if !opts.follow {
        let list = match client.query_events(query).await {
            Ok(r) => r.into_inner(),
            Err(status) => return refused(status),
        };
        list.events.iter().for_each(|e| print(e, opts.json));
        if let Some(s) = list.stats {
            eprintln!(
                "{} events offered, {} sampled out, {} lost; collector overhead {:.2} % (target {:.2} %)",
                s.emitted,
                s.sampled_out,
                s.lost,
                s.overhead * 100.0,
                s.target * 100.0
            );
        }
        return Ok(0);
    }
    let mut live = match client.stream_events(query).await {
        Ok(r) => r.into_inner(),
        Err(status) => return refused(status),
    };
    while let Some(m) = live.next().await {
        match m.map(|m| m.msg) {
            Ok(Some(pb::event_stream_message::Msg::Event(e))) => print(&e, opts.json),
            Ok(Some(pb::event_stream_message::Msg::Lagged(n))) => {
                eprintln!("agentos events: {n} events missed (this reader fell behind)");
            }
            Ok(None) => {}
            Err(status) => return refused(status),
        }
    }
    Ok(0)
}
