//! `agentos logs APP`: what a native-process app has written (the newest 256 KiB,
//! kept by the services from launch on), stdout to stdout and stderr to stderr, and
//! how it ended if it has. APP is a running app's id (`a3`) or its app id
//! (`greeter`) when one instance runs.

use std::{io::Write, path::Path};

use anyhow::bail;
use serde_json::Value;

use super::services::{Services, report};

#[derive(clap::Args)]
pub struct Options {
    /// The running app: its id (`a3`, see `agentos ps`) or its app id.
    app: String,
    /// Print the API's JSON (chunks with their stream, and the exit).
    #[arg(long)]
    json: bool,
}

pub async fn run(data_dir: &Path, opts: Options) -> anyhow::Result<u8> {
    let services = match Services::locate("logs", data_dir) {
        Ok(s) => s,
        Err(e) => return report(e),
    };
    let apps = match services.get("/api/apps").await {
        Ok(v) => v,
        Err(e) => return report(e),
    };
    let list = apps.as_array().map(Vec::as_slice).unwrap_or_default();
    let by_id = list.iter().find(|a| a["id"] == opts.app.as_str());
    let by_app: Vec<&Value> = list
        .iter()
        .filter(|a| a["app_id"] == opts.app.as_str())
        .collect();
    let id = match (by_id, by_app.as_slice()) {
        (Some(a), _) | (None, &[a]) => a["id"].as_str().unwrap_or_default().to_owned(),
        (None, []) => {
            eprintln!(
                "agentos logs: no running app {:?} (see `agentos ps`)",
                opts.app
            );
            return Ok(1);
        }
        (None, many) => {
            let ids: Vec<&str> = many.iter().filter_map(|a| a["id"].as_str()).collect();
            bail!(
                "{} runs {} times ({}); name one by its id",
                opts.app,
                many.len(),
                ids.join(", ")
            );
        }
    };
    let logs = match services.get(&format!("/api/apps/{id}/logs")).await {
        Ok(v) => v,
        Err(e) => return report(e),
    };
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&logs)?);
        return Ok(0);
    }
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for chunk in logs["output"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let text = chunk["text"].as_str().unwrap_or_default();
        if chunk["stream"] == "stderr" {
            err.write_all(text.as_bytes())?;
        } else {
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    if let Some(d) = logs["exit"]["description"].as_str() {
        writeln!(err, "agentos logs: {id} exited: {d}")?;
    }
    Ok(0)
}
