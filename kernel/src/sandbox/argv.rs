//! argv validation: what a sandboxed program may be started with.
//!
//! The program is started with `execve(2)` and an argv array, never through a
//! shell, so shell metacharacters (`;`, `$(..)`, backticks, `|`, quotes) are not
//! special: each element reaches the program as one literal argument. What is
//! refused is what `execve` cannot carry or what would only fail later with a
//! worse error: an empty argv, NUL bytes, and sizes past the kernel's limits
//! (`MAX_ARG_STRLEN`, the argument-area budget).

use std::ffi::CString;

/// Most arguments accepted (`argv[0]` included).
pub const MAX_ARGS: usize = 4096;
/// Longest single argument in bytes; the kernel's `MAX_ARG_STRLEN` is 32 pages
/// including the NUL.
pub const MAX_ARG_LEN: usize = 32 * 4096 - 1;
/// Budget for argv and the environment together, in bytes (NULs included). The
/// kernel allows a quarter of the stack limit (2 MiB with the usual 8 MiB); half of
/// that leaves room for the auxiliary vector and a smaller limit.
pub const MAX_ARG_BYTES: usize = 1024 * 1024;

/// Why an argv was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    #[error("argv is empty (argv[0] is required)")]
    Empty,
    #[error("argv has {count} arguments, more than {MAX_ARGS}")]
    TooMany { count: usize },
    #[error("argv[{index}] is {len} bytes, more than {MAX_ARG_LEN}")]
    TooLong { index: usize, len: usize },
    #[error("argv[{index}] contains a NUL byte")]
    Nul { index: usize },
    #[error("argv and environment together are {bytes} bytes, more than {MAX_ARG_BYTES}")]
    TooBig { bytes: usize },
}

/// Checks `argv` and returns the bytes it takes in the argument area (NULs included),
/// so the caller can add the environment's and check [`MAX_ARG_BYTES`].
pub fn validate_argv(argv: &[String]) -> Result<usize, ArgvError> {
    if argv.is_empty() {
        return Err(ArgvError::Empty);
    }
    if argv.len() > MAX_ARGS {
        return Err(ArgvError::TooMany { count: argv.len() });
    }
    let mut bytes = 0;
    for (index, a) in argv.iter().enumerate() {
        if a.len() > MAX_ARG_LEN {
            return Err(ArgvError::TooLong {
                index,
                len: a.len(),
            });
        }
        if a.as_bytes().contains(&0) {
            return Err(ArgvError::Nul { index });
        }
        bytes += a.len() + 1;
    }
    if bytes > MAX_ARG_BYTES {
        return Err(ArgvError::TooBig { bytes });
    }
    Ok(bytes)
}

/// The argv as C strings; call after [`validate_argv`].
pub(crate) fn to_cstrings(argv: &[String]) -> Result<Vec<CString>, ArgvError> {
    argv.iter()
        .enumerate()
        .map(|(index, a)| CString::new(a.as_bytes()).map_err(|_| ArgvError::Nul { index }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shell_metacharacters_are_plain_arguments() {
        let argv = v(&["/bin/echo", "; rm -rf /", "$(id)", "`id`", "a|b", "'\"", ""]);
        assert_eq!(validate_argv(&argv), Ok(40));
        let c = to_cstrings(&argv).unwrap();
        assert_eq!(c[1].as_bytes(), b"; rm -rf /");
        assert_eq!(c[6].as_bytes(), b"");
    }

    #[test]
    fn refuses_what_execve_cannot_carry() {
        assert_eq!(validate_argv(&[]), Err(ArgvError::Empty));
        assert_eq!(
            validate_argv(&v(&["/bin/x", "a\0b"])),
            Err(ArgvError::Nul { index: 1 })
        );
        let long = "x".repeat(MAX_ARG_LEN + 1);
        assert_eq!(
            validate_argv(&["/bin/x".into(), long]),
            Err(ArgvError::TooLong {
                index: 1,
                len: MAX_ARG_LEN + 1
            })
        );
        let many = vec!["a".to_string(); MAX_ARGS + 1];
        assert_eq!(
            validate_argv(&many),
            Err(ArgvError::TooMany {
                count: MAX_ARGS + 1
            })
        );
        let big = vec!["y".repeat(100_000); 11];
        assert!(matches!(validate_argv(&big), Err(ArgvError::TooBig { .. })));
    }

    #[test]
    fn limits_are_inclusive() {
        let at = "x".repeat(MAX_ARG_LEN);
        assert!(validate_argv(&["/bin/x".into(), at]).is_ok());
        assert!(validate_argv(&vec!["a".to_string(); MAX_ARGS]).is_ok());
    }
}
