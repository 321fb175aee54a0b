//! Path patterns: which part of the file tree a path grant covers.
//!
//! The matching rules are on [`PathPattern`].

use std::{
    borrow::Cow,
    fmt,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

/// The longest pattern or requested path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// What part of the tree under a pattern's path it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathScope {
    /// The path itself and everything below it (`/home/app`).
    Subtree,
    /// Only the direct children of the path (`/home/app/*`).
    Children,
}

/// An absolute path pattern of a file grant.
///
/// A pattern is an absolute path and means "this path and everything below it",
/// matched component by component (`/data` covers `/data` and `/data/x`, never
/// `/database`). A pattern ending in `/*` means "the direct children of this
/// directory" (`/dir/*` covers `/dir/a`, not `/dir` or `/dir/a/b`). Patterns are
/// normalised when parsed (`//` and `.` components and a trailing `/` are dropped);
/// `..`, relative paths, NUL bytes and any other use of `*` are refused.
///
/// Requested paths go through the same lexical normalisation; one containing `..`,
/// a NUL byte or not absolute is never covered. Matching is lexical: resolving
/// symlinks is the VFS's job (openat2 with `RESOLVE_BENEATH`) and the sandbox's
/// (grants resolved to canonical host paths).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PathPattern {
    /// Normalised: absolute, no empty, `.` or `..` components, no trailing `/`
    /// (except the root itself).
    path: PathBuf,
    scope: PathScope,
}

/// Why a path pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathPatternError {
    #[error("path pattern is empty")]
    Empty,
    #[error("path pattern `{0}` is relative; patterns must be absolute")]
    Relative(String),
    #[error("path pattern {0:?} contains a NUL byte")]
    Nul(String),
    #[error("path pattern `{0}` contains a `..` component")]
    ParentDir(String),
    #[error("path pattern `{0}`: `*` is allowed only as the whole last component (`/dir/*`)")]
    Wildcard(String),
    #[error("path pattern of {len} bytes is longer than {MAX_PATH_LEN}")]
    TooLong { len: usize },
}

/// Why a requested path can never be covered by a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadPath {
    #[error("the path is not absolute")]
    Relative,
    #[error("the path contains a NUL byte")]
    Nul,
    #[error("the path contains a `..` component")]
    ParentDir,
    #[error("the path is longer than {MAX_PATH_LEN} bytes")]
    TooLong,
}

impl PathPattern {
    /// The normalised path (without the `/*` of a [`PathScope::Children`] pattern).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the pattern covers the subtree or only the direct children.
    pub fn scope(&self) -> PathScope {
        self.scope
    }

    /// Whether a grant with this pattern covers `path`. Relative paths, paths with
    /// `..` or NUL bytes are never covered.
    pub fn covers(&self, path: &Path) -> bool {
        normalize_request(path).is_ok_and(|p| self.covers_normalized(&p))
    }

    /// [`covers`](Self::covers) for a path already passed through [`normalize_request`].
    pub(crate) fn covers_normalized(&self, req: &[u8]) -> bool {
        let base = self.path.as_os_str().as_bytes();
        match self.scope {
            PathScope::Subtree => is_under(req, base),
            PathScope::Children => parent_is(req, base),
        }
    }
}

/// Whether the normalised absolute path `req` is `base` or lies below it,
/// component-wise.
pub(crate) fn is_under(req: &[u8], base: &[u8]) -> bool {
    if base == b"/" {
        return true;
    }
    req.starts_with(base) && (req.len() == base.len() || req[base.len()] == b'/')
}

/// Whether the normalised absolute path `req` is a direct child of `base`.
fn parent_is(req: &[u8], base: &[u8]) -> bool {
    let rest = if base == b"/" {
        &req[1..]
    } else if req.len() > base.len() + 1 && req.starts_with(base) && req[base.len()] == b'/' {
        &req[base.len() + 1..]
    } else {
        return false;
    };
    !rest.is_empty() && !rest.contains(&b'/')
}

/// Lexically normalises a requested path: drops `//`, `.` components and a trailing
/// `/`; refuses relative paths, `..`, NUL bytes and over-long paths. Borrows when
/// the path is already normal, which is the common case.
pub(crate) fn normalize_request(path: &Path) -> Result<Cow<'_, [u8]>, BadPath> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(BadPath::Relative);
    }
    if bytes.len() > MAX_PATH_LEN {
        return Err(BadPath::TooLong);
    }
    if bytes.contains(&0) {
        return Err(BadPath::Nul);
    }
    if bytes == b"/" {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut clean = true;
    for comp in bytes[1..].split(|&b| b == b'/') {
        match comp {
            b".." => return Err(BadPath::ParentDir),
            b"" | b"." => clean = false,
            _ => {}
        }
    }
    if clean {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len());
    for comp in bytes[1..].split(|&b| b == b'/') {
        if !matches!(comp, b"" | b".") {
            out.push(b'/');
            out.extend_from_slice(comp);
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(Cow::Owned(out))
}

impl FromStr for PathPattern {
    type Err = PathPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(PathPatternError::Empty);
        }
        if s.len() > MAX_PATH_LEN {
            return Err(PathPatternError::TooLong { len: s.len() });
        }
        if s.contains('\0') {
            return Err(PathPatternError::Nul(s.to_owned()));
        }
        if !s.starts_with('/') {
            return Err(PathPatternError::Relative(s.to_owned()));
        }
        let comps: Vec<&str> = s
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let mut scope = PathScope::Subtree;
        let mut out = String::with_capacity(s.len());
        for (i, comp) in comps.iter().enumerate() {
            if *comp == ".." {
                return Err(PathPatternError::ParentDir(s.to_owned()));
            }
            if comp.contains('*') {
                if *comp == "*" && i + 1 == comps.len() {
                    scope = PathScope::Children;
                    continue;
                }
                return Err(PathPatternError::Wildcard(s.to_owned()));
            }
            out.push('/');
            out.push_str(comp);
        }
        if out.is_empty() {
            out.push('/');
        }
        Ok(Self {
            path: PathBuf::from(out),
            scope,
        })
    }
}

impl TryFrom<String> for PathPattern {
    type Error = PathPatternError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<PathPattern> for String {
    fn from(p: PathPattern) -> Self {
        p.to_string()
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Patterns are parsed from `str`, so the path is valid UTF-8.
        let path = self.path.to_string_lossy();
        match (self.scope, path.as_ref()) {
            (PathScope::Subtree, p) => f.write_str(p),
            (PathScope::Children, "/") => f.write_str("/*"),
            (PathScope::Children, p) => write!(f, "{p}/*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{ffi::OsString, os::unix::ffi::OsStringExt};

    use super::*;

    fn to_path_buf(bytes: &[u8]) -> PathBuf {
        PathBuf::from(OsString::from_vec(bytes.to_vec()))
    }

    fn pat(s: &str) -> PathPattern {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn subtree_matches_component_wise_never_string_prefix() {
        let p = pat("/data");
        assert!(p.covers(Path::new("/data")));
        assert!(p.covers(Path::new("/data/")));
        assert!(p.covers(Path::new("/data/x")));
        assert!(p.covers(Path::new("/data/x/y/z")));
        assert!(!p.covers(Path::new("/database")));
        assert!(!p.covers(Path::new("/data-old/x")));
        assert!(!p.covers(Path::new("/dat")));
        assert!(!p.covers(Path::new("/")));
        assert!(!p.covers(Path::new("/other/data")));
    }

    #[test]
    fn root_pattern_covers_every_absolute_path() {
        let p = pat("/");
        assert!(p.covers(Path::new("/")));
        assert!(p.covers(Path::new("/etc/passwd")));
        assert!(!p.covers(Path::new("etc/passwd")));
        assert!(!p.covers(Path::new("/etc/../root")));
    }

    #[test]
    fn children_pattern_covers_direct_children_only() {
        let p = pat("/dir/*");
        assert_eq!(p.scope(), PathScope::Children);
        assert_eq!(p.path(), Path::new("/dir"));
        assert!(p.covers(Path::new("/dir/a")));
        assert!(p.covers(Path::new("/dir//a/")));
        assert!(!p.covers(Path::new("/dir")));
        assert!(!p.covers(Path::new("/dir/")));
        assert!(!p.covers(Path::new("/dir/a/b")));
        assert!(!p.covers(Path::new("/dirx/a")));
        assert!(!p.covers(Path::new("/di/a")));
        let root = pat("/*");
        assert!(root.covers(Path::new("/etc")));
        assert!(!root.covers(Path::new("/etc/passwd")));
        assert!(!root.covers(Path::new("/")));
    }

    #[test]
    fn patterns_are_normalised() {
        assert_eq!(pat("/a//b/./c/").to_string(), "/a/b/c");
        assert_eq!(pat("/a/b").path(), Path::new("/a/b"));
        assert_eq!(pat("//").to_string(), "/");
        assert_eq!(pat("/./").to_string(), "/");
        assert_eq!(pat("/a/*").to_string(), "/a/*");
        assert_eq!(pat("/a//*").to_string(), "/a/*");
        assert_eq!(pat("/*").to_string(), "/*");
    }

    #[test]
    fn bad_patterns_are_refused_with_the_input() {
        assert_eq!("".parse::<PathPattern>(), Err(PathPatternError::Empty));
        assert_eq!(
            "home/app".parse::<PathPattern>(),
            Err(PathPatternError::Relative("home/app".into()))
        );
        assert_eq!(
            "/a/../etc".parse::<PathPattern>(),
            Err(PathPatternError::ParentDir("/a/../etc".into()))
        );
        assert_eq!(
            "/a/..".parse::<PathPattern>(),
            Err(PathPatternError::ParentDir("/a/..".into()))
        );
        assert_eq!(
            "/a\0b".parse::<PathPattern>(),
            Err(PathPatternError::Nul("/a\0b".into()))
        );
        for bad in ["/a/*/b", "/a*", "/a/b*", "/*/*", "/a/**"] {
            assert_eq!(
                bad.parse::<PathPattern>(),
                Err(PathPatternError::Wildcard(bad.into())),
                "{bad}"
            );
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert!(matches!(
            long.parse::<PathPattern>(),
            Err(PathPatternError::TooLong { .. })
        ));
        let msg = "rel".parse::<PathPattern>().unwrap_err().to_string();
        assert!(msg.contains("`rel`"), "{msg}");
    }

    #[test]
    fn dot_dot_lookalikes_are_ordinary_names() {
        let p = pat("/a/..b/...");
        assert!(p.covers(Path::new("/a/..b/.../x")));
        assert!(pat("/a").covers(Path::new("/a/..b")));
    }

    #[test]
    fn requests_are_normalised_or_refused() {
        let n = |s: &str| normalize_request(Path::new(s)).map(|c| c.into_owned());
        assert_eq!(n("/a/b"), Ok(b"/a/b".to_vec()));
        assert!(matches!(
            normalize_request(Path::new("/a/b")),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(n("/a//b/./"), Ok(b"/a/b".to_vec()));
        assert_eq!(n("/"), Ok(b"/".to_vec()));
        assert_eq!(n("//./"), Ok(b"/".to_vec()));
        assert_eq!(n("a/b"), Err(BadPath::Relative));
        assert_eq!(n(""), Err(BadPath::Relative));
        assert_eq!(n("/a/../b"), Err(BadPath::ParentDir));
        assert_eq!(n("/a/b/.."), Err(BadPath::ParentDir));
        assert_eq!(n("/a\0"), Err(BadPath::Nul));
        assert_eq!(
            n(&format!("/{}", "x".repeat(MAX_PATH_LEN))),
            Err(BadPath::TooLong)
        );
    }

    #[test]
    fn non_utf8_requests_match_bytewise() {
        let p = pat("/data");
        let req = to_path_buf(b"/data/\xff\xfe");
        assert!(p.covers(&req));
        assert!(!p.covers(&to_path_buf(b"/data\xff")));
    }

    #[test]
    fn serde_is_a_plain_string() {
        let p = pat("/home/app/*");
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""/home/app/*""#);
        let back: PathPattern = serde_json::from_str(r#""/home/app/*""#).unwrap();
        assert_eq!(back, p);
        let err = serde_json::from_str::<PathPattern>(r#""/a/../b""#).unwrap_err();
        assert!(err.to_string().contains("/a/../b"), "{err}");
    }
}
