//! `agentos apps`: the registry (the user's saved apps and the built-ins), like
//! `docker images`; `--json` prints the API's list as it is.

use std::path::Path;

use super::services::{Services, encode, report, table};

#[derive(clap::Args)]
pub struct Options {
    /// Only apps of this category.
    #[arg(long)]
    category: Option<String>,
    /// Only apps whose id, name or category contains this.
    #[arg(long)]
    search: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(data_dir: &Path, opts: Options) -> anyhow::Result<u8> {
    let services = match Services::locate("apps", data_dir) {
        Ok(s) => s,
        Err(e) => return report(e),
    };
    let mut query = Vec::new();
    if let Some(c) = &opts.category {
        query.push(format!("category={}", encode(c)));
    }
    if let Some(s) = &opts.search {
        query.push(format!("search={}", encode(s)));
    }
    let path = if query.is_empty() {
        "/api/registry/apps".to_owned()
    } else {
        format!("/api/registry/apps?{}", query.join("&"))
    };
    let list = match services.get(&path).await {
        Ok(v) => v,
        Err(e) => return report(e),
    };
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| {
            vec![
                s(&a["id"]),
                s(&a["name"]),
                s(&a["kind"]),
                s(&a["category"]),
                s(&a["version"]),
                if a["builtin"] == true {
                    "built-in"
                } else {
                    "saved"
                }
                .to_owned(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["ID", "NAME", "KIND", "CATEGORY", "VERSION", "SOURCE"],
            &rows
        )
    );
    Ok(0)
}
