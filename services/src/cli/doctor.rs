//! `agentos doctor`: the same report as `agentos-kernel doctor`, from the running
//! kernel when there is one, else probed here.

use std::path::Path;

use agentos_kernel::doctor;

#[derive(clap::Args)]
pub struct Options {
    /// One JSON object keyed by subsystem.
    #[arg(long)]
    json: bool,
}

pub async fn run(data_dir: &Path, opts: Options) -> anyhow::Result<()> {
    let (report, source) = doctor::report(data_dir).await;
    if opts.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&doctor::to_json(&report))?
        );
    } else {
        print!("{}", doctor::to_text(&report, &source));
    }
    Ok(())
}
