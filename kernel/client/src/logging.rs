//! The daemons' logs (`agentos-kernel` and `agentos`, feature `logging`): to
//! stderr, filtered by `$AGENTOS_LOG` (default `info`), as text for people or one
//! JSON object per line (`--log-format json`), spans and their fields (the
//! request's `causality`, where one is set) included.

use std::io::IsTerminal as _;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text, coloured on a terminal.
    #[default]
    Human,
    /// One JSON object per line, with the current span and its parents.
    Json,
}

/// Installs the global subscriber.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTOS_LOG")
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}
