//! The desktop's static files: the built UI directory (`ui/dist`), served at `/`.
//!
//! Files are served by tower-http's `ServeDir`; a GET for a path that is not a file
//! (a client-side route such as `/apps/notes`) gets `index.html`, and the React
//! router takes over. Other methods on such paths get 405. `/health` and `/api`
//! are routed before this fallback, so they never turn into `index.html`.
//!
//! When the directory is missing or has no `index.html`, every such GET gets a
//! short page saying the UI is not built; `/health` and `/api` keep working.

use std::path::{Path, PathBuf};

use axum::{Router, response::Html, routing::get};
use tower_http::services::{ServeDir, ServeFile};

/// The entry point of the built UI.
pub const INDEX_HTML: &str = "index.html";

/// Where the desktop's files are, decided once at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ui {
    /// A directory with an `index.html`.
    Built(PathBuf),
    /// No usable directory, and why.
    NotBuilt { reason: String },
}

impl Ui {
    /// Checks `dir` (`--ui-dir`) for an `index.html`.
    pub fn detect(dir: Option<&Path>) -> Self {
        match dir {
            None => Self::NotBuilt {
                reason: "agentos was started without --ui-dir".into(),
            },
            Some(d) if d.join(INDEX_HTML).is_file() => Self::Built(d.to_owned()),
            Some(d) => Self::NotBuilt {
                reason: format!("{} has no {INDEX_HTML}", d.display()),
            },
        }
    }

    /// Adds the fallback that serves the UI (or the "not built" page) to `app`.
    pub(super) fn mount(&self, app: Router) -> Router {
        match self {
            Self::Built(dir) => app.fallback_service(
                ServeDir::new(dir).fallback(ServeFile::new(dir.join(INDEX_HTML))),
            ),
            Self::NotBuilt { reason } => {
                let page = Html(not_built_page(reason));
                app.fallback_service(get(move || std::future::ready(page.clone())))
            }
        }
    }
}

/// The page shown at `/` when there is no built UI to serve.
pub fn not_built_page(reason: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>AgentOS: UI not built</title></head>\n\
         <body><h1>The AgentOS desktop is not built</h1>\n\
         <p>Run <code>cargo xtask build</code>, then start <code>agentos up --ui-dir ui/dist</code> again \
         (or just <code>cargo xtask run</code>).</p>\n\
         <p>Why: {}</p>\n<p>The API is up: <a href=\"/health\">/health</a>.</p>\n</body></html>\n",
        escape_html(reason)
    )
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_a_built_directory_by_its_index() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Ui::detect(Some(dir.path())), Ui::NotBuilt { .. }));
        std::fs::write(dir.path().join(INDEX_HTML), "<html></html>").unwrap();
        assert_eq!(
            Ui::detect(Some(dir.path())),
            Ui::Built(dir.path().to_owned())
        );
        assert!(matches!(Ui::detect(None), Ui::NotBuilt { .. }));
    }

    #[test]
    fn the_not_built_page_says_what_to_run_and_escapes_the_reason() {
        let page = not_built_page("/tmp/<x> has no index.html");
        assert!(page.contains("cargo xtask build"), "{page}");
        assert!(page.contains("/tmp/&lt;x&gt; has no index.html"), "{page}");
    }
}
