//! Environment sanitising: which variables a sandboxed program may be given.
//!
//! A sandboxed program starts with exactly the environment in its spec (never the
//! daemon's), minus the variables below, which change how the dynamic loader, libc
//! or a shell behave before the program's own code runs. Inside the sandbox they
//! could only hurt the program itself, but they are how "run this app" turns into
//! "run this code in that app" (a preloaded library, a hijacked `iconv` module, a
//! shell function), so they are refused at the door, as `ld.so` does for setuid
//! programs.
//!
//! # What is dropped
//!
//! * every `LD_*` variable (glibc's `ld.so`: `LD_PRELOAD`, `LD_LIBRARY_PATH`,
//!   `LD_AUDIT`, `LD_DEBUG`, `LD_PROFILE`, `LD_ORIGIN_PATH`, …) and every `DYLD_*`
//!   (the macOS loader, for the portable backend);
//! * the rest of glibc's `unsecvars.h` list: `GCONV_PATH`, `GETCONF_DIR`,
//!   `HOSTALIASES`, `LOCALDOMAIN`, `LOCPATH`, `MALLOC_TRACE`, `NIS_PATH`, `NLSPATH`,
//!   `RESOLV_HOST_CONF`, `RES_OPTIONS`, plus `MALLOC_CHECK_`/`MALLOC_PERTURB_` and
//!   `GLIBC_TUNABLES` (CVE-2023-4911);
//! * shell start-up injection: `BASH_ENV`, `ENV`, `SHELLOPTS`, `BASHOPTS`, `PS4`,
//!   `IFS`, `PROMPT_COMMAND` and exported functions (`BASH_FUNC_*`, CVE-2014-6271).
//!
//! `TMPDIR`, `TZDIR`, `PATH` and language variables are kept: inside the sandbox
//! they can only point into its own view.
//!
//! Invalid entries (an empty name, `=` or NUL in a name, NUL in a value, a name
//! given twice, too many or too long) are errors, not silently fixed.

use std::ffi::CString;

use super::argv::MAX_ARG_LEN;

/// Most variables accepted.
pub const MAX_ENV: usize = 4096;

/// Prefixes of variable names that are always dropped.
const DROPPED_PREFIXES: &[&str] = &["LD_", "DYLD_", "BASH_FUNC_"];

/// Variable names that are always dropped.
const DROPPED_NAMES: &[&str] = &[
    "GCONV_PATH",
    "GETCONF_DIR",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "MALLOC_TRACE",
    "MALLOC_CHECK_",
    "MALLOC_PERTURB_",
    "NIS_PATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    "GLIBC_TUNABLES",
    "BASH_ENV",
    "ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "IFS",
    "PROMPT_COMMAND",
];

/// Why an environment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable #{index} has an empty name")]
    EmptyName { index: usize },
    #[error("environment variable name {name:?} contains '=' or a NUL byte")]
    BadName { name: String },
    #[error("environment variable {name} has a NUL byte in its value")]
    NulInValue { name: String },
    #[error("environment variable {name} is given twice")]
    Duplicate { name: String },
    #[error("environment has {count} variables, more than {MAX_ENV}")]
    TooMany { count: usize },
    #[error("environment variable {name} is {len} bytes, more than {MAX_ARG_LEN}")]
    TooLong { name: String, len: usize },
}

/// The environment a sandboxed program gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SanitizedEnv {
    /// The variables passed on, in the given order.
    pub kept: Vec<(String, String)>,
    /// Names that were dropped by policy (for the caller's log or audit).
    pub dropped: Vec<String>,
}

impl SanitizedEnv {
    /// Bytes the kept variables take in the argument area (`NAME=VALUE\0` each).
    pub fn arg_bytes(&self) -> usize {
        self.kept.iter().map(|(k, v)| k.len() + v.len() + 2).sum()
    }

    /// `NAME=VALUE` C strings for `execve`.
    pub(crate) fn to_cstrings(&self) -> Vec<CString> {
        self.kept
            .iter()
            .map(|(k, v)| CString::new(format!("{k}={v}")).expect("sanitize_env refused NUL bytes"))
            .collect()
    }
}

/// Whether policy drops the variable `name` (see the module docs for the list).
pub fn is_dropped(name: &str) -> bool {
    DROPPED_PREFIXES.iter().any(|p| name.starts_with(p)) || DROPPED_NAMES.contains(&name)
}

/// Checks `env` and drops the variables that policy forbids.
pub fn sanitize_env(env: &[(String, String)]) -> Result<SanitizedEnv, EnvError> {
    if env.len() > MAX_ENV {
        return Err(EnvError::TooMany { count: env.len() });
    }
    let mut out = SanitizedEnv::default();
    let mut seen = std::collections::HashSet::with_capacity(env.len());
    for (index, (name, value)) in env.iter().enumerate() {
        if name.is_empty() {
            return Err(EnvError::EmptyName { index });
        }
        if name.contains('=') || name.contains('\0') {
            return Err(EnvError::BadName { name: name.clone() });
        }
        if value.contains('\0') {
            return Err(EnvError::NulInValue { name: name.clone() });
        }
        let len = name.len() + 1 + value.len();
        if len > MAX_ARG_LEN {
            return Err(EnvError::TooLong {
                name: name.clone(),
                len,
            });
        }
        if !seen.insert(name.as_str()) {
            return Err(EnvError::Duplicate { name: name.clone() });
        }
        if is_dropped(name) {
            out.dropped.push(name.clone());
        } else {
            out.kept.push((name.clone(), value.clone()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn loader_and_shell_injection_are_dropped() {
        let s = sanitize_env(&e(&[
            ("PATH", "/usr/bin"),
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("LD_LIBRARY_PATH", "/tmp"),
            ("LD_AUDIT", "x"),
            ("GLIBC_TUNABLES", "glibc.malloc.x=1"),
            ("BASH_FUNC_ls%%", "() { evil; }"),
            ("BASH_ENV", "/tmp/rc"),
            ("GCONV_PATH", "/tmp"),
            ("DYLD_INSERT_LIBRARIES", "x"),
            ("HOME", "/tmp"),
            ("TMPDIR", "/tmp"),
        ]))
        .unwrap();
        assert_eq!(
            s.kept,
            e(&[("PATH", "/usr/bin"), ("HOME", "/tmp"), ("TMPDIR", "/tmp")])
        );
        assert_eq!(
            s.dropped,
            [
                "LD_PRELOAD",
                "LD_LIBRARY_PATH",
                "LD_AUDIT",
                "GLIBC_TUNABLES",
                "BASH_FUNC_ls%%",
                "BASH_ENV",
                "GCONV_PATH",
                "DYLD_INSERT_LIBRARIES"
            ]
        );
        assert_eq!(
            s.arg_bytes(),
            "PATH=/usr/bin\0HOME=/tmp\0TMPDIR=/tmp\0".len()
        );
        assert_eq!(s.to_cstrings()[0].as_bytes(), b"PATH=/usr/bin");
    }

    #[test]
    fn similar_names_are_kept() {
        // Only exact names and the listed prefixes are dropped.
        assert!(!is_dropped("OLD_PRELOAD"));
        assert!(!is_dropped("ENVIRONMENT"));
        assert!(!is_dropped("MY_LD_PRELOAD"));
        assert!(is_dropped("LD_"));
    }

    #[test]
    fn malformed_entries_are_errors() {
        assert_eq!(
            sanitize_env(&e(&[("", "x")])),
            Err(EnvError::EmptyName { index: 0 })
        );
        assert_eq!(
            sanitize_env(&e(&[("A=B", "x")])),
            Err(EnvError::BadName { name: "A=B".into() })
        );
        assert_eq!(
            sanitize_env(&e(&[("A", "x\0y")])),
            Err(EnvError::NulInValue { name: "A".into() })
        );
        assert_eq!(
            sanitize_env(&e(&[("A", "1"), ("B", "2"), ("A", "3")])),
            Err(EnvError::Duplicate { name: "A".into() })
        );
        // A dropped name given twice is still a malformed request.
        assert!(matches!(
            sanitize_env(&e(&[("LD_PRELOAD", "1"), ("LD_PRELOAD", "2")])),
            Err(EnvError::Duplicate { .. })
        ));
        let many: Vec<_> = (0..=MAX_ENV)
            .map(|i| (format!("V{i}"), String::new()))
            .collect();
        assert_eq!(
            sanitize_env(&many),
            Err(EnvError::TooMany { count: MAX_ENV + 1 })
        );
        assert!(matches!(
            sanitize_env(&[("A".into(), "v".repeat(MAX_ARG_LEN))]),
            Err(EnvError::TooLong { .. })
        ));
    }
}
