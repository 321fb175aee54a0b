//! [`SandboxGrants`]: the OS-level walls of a policy, derived from the same grants
//! [`Policy::check`] reads, so the two cannot disagree.
//!
//! What the walls can and cannot say is on [`SandboxGrants`].

use std::{os::unix::ffi::OsStrExt, path::PathBuf};

use super::{
    net::{NetworkRule, PortRange, RuleAction},
    path::{PathPattern, PathScope, is_under},
    policy::Policy,
};

/// The network a sandbox needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkWall {
    /// No `NetworkAccess` allow rule: a fresh network namespace with only loopback.
    #[default]
    None,
    /// Some allow rule: network access filtered by these rules, in manifest order
    /// (deny rules win, as in [`Policy::check`]).
    Filtered { rules: Vec<NetworkRule> },
}

/// The walls of one policy, from [`Policy::sandbox_grants`].
///
/// The sandbox turns these lists into bind mounts and landlock rules (and, later,
/// network namespaces and filters); this module only computes them. For every
/// path, "the policy allows reading it" (`Read` or `List`) holds exactly when a
/// `read` wall covers it, and "the policy allows writing it" (`Write`, `Create` or
/// `Delete`) exactly when a `write` wall does; the tests check both directions.
///
/// Two things the walls cannot say as finely as the checks:
///
/// * `read` merges `ReadFile` and `ListDirectory` (landlock's `READ_FILE` and
///   `READ_DIR` could split them), and `write` merges the three write kinds.
///   A bind mount of a `write` wall also makes it readable; landlock rights keep
///   the split.
/// * Landlock rules and bind mounts cover whole subtrees, so a `/dir/*` grant
///   (direct children only) is listed apart, in `read_children` / `write_children`.
///   A sandbox must either add one rule per child it finds at spawn time or leave
///   the grant out (the process then reaches those paths only through kernel
///   syscalls); it must never widen it to the whole of `/dir`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxGrants {
    /// Subtrees the process may read (`ReadFile`, `ListDirectory`), with nested
    /// paths collapsed into their ancestor, sorted.
    pub read: Vec<PathBuf>,
    /// Subtrees the process may write (`WriteFile`, `CreateFile`, `DeleteFile`),
    /// collapsed and sorted likewise.
    pub write: Vec<PathBuf>,
    /// Directories whose direct children (only) the process may read; none lies
    /// inside a `read` subtree.
    pub read_children: Vec<PathBuf>,
    /// Directories whose direct children (only) the process may write; none lies
    /// inside a `write` subtree.
    pub write_children: Vec<PathBuf>,
    pub network: NetworkWall,
    /// Ports the process may bind, merged into disjoint ranges, sorted.
    pub bind_ports: Vec<PortRange>,
    /// Whether the process may start processes (`SpawnProcess`).
    pub spawn: bool,
}

impl Policy {
    /// The OS-level walls matching this policy's checks.
    pub fn sandbox_grants(&self) -> SandboxGrants {
        let ix = &self.index;
        let (read, read_children) = walls(ix.read.iter().chain(&ix.list));
        let (write, write_children) = walls(ix.write.iter().chain(&ix.create).chain(&ix.delete));
        let network = if ix.net.iter().any(|r| r.action == RuleAction::Allow) {
            NetworkWall::Filtered {
                rules: ix.net.clone(),
            }
        } else {
            NetworkWall::None
        };
        SandboxGrants {
            read,
            write,
            read_children,
            write_children,
            network,
            bind_ports: merge_ports(&ix.bind),
            spawn: ix.spawn,
        }
    }
}

/// Subtree walls (deduplicated, nested ones dropped) and children walls (those not
/// already inside a subtree wall), each sorted.
fn walls<'a>(patterns: impl Iterator<Item = &'a PathPattern>) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut subtrees = Vec::new();
    let mut children = Vec::new();
    for p in patterns {
        match p.scope() {
            PathScope::Subtree => subtrees.push(p.path().to_path_buf()),
            PathScope::Children => children.push(p.path().to_path_buf()),
        }
    }
    // `Path`'s order is component-wise, so each path's descendants directly follow it.
    subtrees.sort();
    subtrees.dedup();
    let mut kept: Vec<PathBuf> = Vec::with_capacity(subtrees.len());
    for p in subtrees {
        let covered = kept
            .last()
            .is_some_and(|k| is_under(p.as_os_str().as_bytes(), k.as_os_str().as_bytes()));
        if !covered {
            kept.push(p);
        }
    }
    children.sort();
    children.dedup();
    children.retain(|d| {
        !kept
            .iter()
            .any(|k| is_under(d.as_os_str().as_bytes(), k.as_os_str().as_bytes()))
    });
    (kept, children)
}

/// Sorted, disjoint, non-adjacent ranges covering the same ports.
fn merge_ports(ranges: &[PortRange]) -> Vec<PortRange> {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let mut out: Vec<PortRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if u32::from(r.start()) <= u32::from(last.end()) + 1 => {
                if r.end() > last.end() {
                    *last = PortRange::new(last.start(), r.end())
                        .expect("merged range starts at or before its end");
                }
            }
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::capability::{Access, Capability};

    fn policy(forms: &[&str]) -> Policy {
        Policy::parse_cli(forms).unwrap_or_else(|e| panic!("{forms:?}: {e}"))
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    /// Coverage by a set of walls, written independently of the module's matcher:
    /// std's component-wise `Path::starts_with` and `Path::parent`.
    fn covered(subtrees: &[PathBuf], children: &[PathBuf], p: &Path) -> bool {
        subtrees.iter().any(|w| p.starts_with(w)) || children.iter().any(|d| p.parent() == Some(d))
    }

    fn may_read(policy: &Policy, p: &Path) -> bool {
        policy.check(&Access::Read(p.into())).is_allowed()
            || policy.check(&Access::List(p.into())).is_allowed()
    }

    fn may_write(policy: &Policy, p: &Path) -> bool {
        policy.check(&Access::Write(p.into())).is_allowed()
            || policy.check(&Access::Create(p.into())).is_allowed()
            || policy.check(&Access::Delete(p.into())).is_allowed()
    }

    /// Asserts the walls cover exactly what the policy allows, on `probes`.
    fn assert_walls_match(policy: &Policy, probes: &[PathBuf]) {
        let g = policy.sandbox_grants();
        for p in probes {
            assert_eq!(
                may_read(policy, p),
                covered(&g.read, &g.read_children, p),
                "read of {} under {policy} with walls {g:?}",
                p.display()
            );
            assert_eq!(
                may_write(policy, p),
                covered(&g.write, &g.write_children, p),
                "write of {} under {policy} with walls {g:?}",
                p.display()
            );
        }
    }

    /// Every path under the patterns' paths, their parents, lookalike siblings
    /// and a few unrelated ones.
    fn probes_for(policy: &Policy) -> Vec<PathBuf> {
        let mut out = paths(&["/", "/etc/passwd", "/tmp", "/x/y/z"]);
        for g in policy.grants() {
            let (Capability::ReadFile(p)
            | Capability::WriteFile(p)
            | Capability::CreateFile(p)
            | Capability::DeleteFile(p)
            | Capability::ListDirectory(p)) = g
            else {
                continue;
            };
            let base = p.path().to_path_buf();
            for a in base.ancestors() {
                out.push(a.to_path_buf());
            }
            for suffix in ["a", "a/b", "a/b/c"] {
                out.push(base.join(suffix));
            }
            let s = base.to_string_lossy();
            out.push(PathBuf::from(format!("{s}x")));
            out.push(PathBuf::from(format!("{s}x/a")));
            out.push(PathBuf::from(format!("{s}-old/a")));
        }
        out
    }

    #[test]
    fn read_and_write_walls_from_their_grants() {
        let p = policy(&[
            "read:/usr",
            "list:/home",
            "write:/home/app/out",
            "create:/home/app/new",
            "delete:/tmp/app",
            "spawn",
        ]);
        let g = p.sandbox_grants();
        assert_eq!(g.read, paths(&["/home", "/usr"]));
        assert_eq!(
            g.write,
            paths(&["/home/app/new", "/home/app/out", "/tmp/app"])
        );
        assert!(g.read_children.is_empty() && g.write_children.is_empty());
        assert!(g.spawn);
        assert_eq!(g.network, NetworkWall::None);
        assert!(g.bind_ports.is_empty());
        assert_walls_match(&p, &probes_for(&p));
    }

    #[test]
    fn nested_and_duplicate_paths_collapse() {
        let p = policy(&[
            "read:/a/b/c",
            "read:/a",
            "list:/a/b",
            "read:/a-b",
            "read:/a-b/c",
            "read:/ab",
            "read:/a/",
            "write:/w/x",
            "delete:/w/x/y",
            "create:/w",
        ]);
        let g = p.sandbox_grants();
        assert_eq!(g.read, paths(&["/a", "/a-b", "/ab"]));
        assert_eq!(g.write, paths(&["/w"]));
        assert_walls_match(&p, &probes_for(&p));
    }

    #[test]
    fn root_grant_is_one_wall() {
        let p = policy(&["read:/etc", "read:/", "read:/usr/*"]);
        let g = p.sandbox_grants();
        assert_eq!(g.read, paths(&["/"]));
        assert!(g.read_children.is_empty(), "covered by /");
    }

    #[test]
    fn children_grants_stay_children() {
        let p = policy(&[
            "read:/d/*",
            "list:/d/*",
            "read:/e/*",
            "read:/e/sub",
            "write:/w/*",
            "write:/v",
            "write:/v/inner/*",
        ]);
        let g = p.sandbox_grants();
        assert_eq!(g.read, paths(&["/e/sub"]));
        assert_eq!(g.read_children, paths(&["/d", "/e"]));
        assert_eq!(g.write, paths(&["/v"]));
        assert_eq!(g.write_children, paths(&["/w"]));
        assert_walls_match(&p, &probes_for(&p));
        // Not widened: /d/a/b is neither allowed nor walled.
        assert!(!may_read(&p, Path::new("/d/a/b")));
        assert!(!covered(&g.read, &g.read_children, Path::new("/d/a/b")));
    }

    #[test]
    fn network_wall_needs_an_allow_rule() {
        assert_eq!(policy(&[]).sandbox_grants().network, NetworkWall::None);
        assert_eq!(
            policy(&["net:deny:*"]).sandbox_grants().network,
            NetworkWall::None
        );
        let p = policy(&["net:deny:10.0.0.0/8", "net:allow:*:443/tcp"]);
        let NetworkWall::Filtered { rules } = p.sandbox_grants().network else {
            panic!("an allow rule needs network");
        };
        assert_eq!(
            rules.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["deny:10.0.0.0/8:*/any", "allow:*:443/tcp"]
        );
    }

    #[test]
    fn bind_ports_merge() {
        let p = policy(&[
            "bind:9000",
            "bind:8000-8010",
            "bind:8005-8020",
            "bind:8021",
            "bind:8023",
            "bind:65535",
            "bind:65530-65535",
        ]);
        let got: Vec<String> = p
            .sandbox_grants()
            .bind_ports
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["8000-8021", "8023", "9000", "65530-65535"]);
        for port in [
            0u16, 7999, 8000, 8015, 8021, 8022, 8023, 8999, 9000, 65534, 65535,
        ] {
            let walled = p
                .sandbox_grants()
                .bind_ports
                .iter()
                .any(|r| r.contains(port));
            assert_eq!(
                walled,
                p.check(&Access::Bind(port)).is_allowed(),
                "port {port}"
            );
        }
        let all = policy(&["bind:*", "bind:80"]).sandbox_grants().bind_ports;
        assert_eq!(all, [PortRange::ALL]);
    }

    /// xorshift64*: a small deterministic generator, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    #[test]
    fn random_policies_walls_match_checks() {
        const NAMES: [&str; 5] = ["a", "b", "ab", "a-b", "a.b"];
        const KINDS: [&str; 5] = ["read", "list", "write", "create", "delete"];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let random_path = |rng: &mut Rng| {
            let depth = rng.next() % 4;
            let mut s = String::new();
            for _ in 0..depth {
                s.push('/');
                s.push_str(rng.pick(&NAMES));
            }
            if s.is_empty() { "/".to_owned() } else { s }
        };
        // Every path of depth <= 4 over the names: the whole space the policies touch.
        let mut probes = vec![PathBuf::from("/")];
        let mut frontier = vec![PathBuf::from("/")];
        for _ in 0..4 {
            let next: Vec<PathBuf> = frontier
                .iter()
                .flat_map(|p| NAMES.iter().map(move |n| p.join(n)))
                .collect();
            probes.extend(next.iter().cloned());
            frontier = next;
        }
        for _ in 0..300 {
            let n = 1 + rng.next() % 6;
            let forms: Vec<String> = (0..n)
                .map(|_| {
                    let kind = rng.pick(&KINDS);
                    let mut path = random_path(&mut rng);
                    if rng.next().is_multiple_of(4) {
                        path = if path == "/" {
                            "/*".into()
                        } else {
                            format!("{path}/*")
                        };
                    }
                    format!("{kind}:{path}")
                })
                .collect();
            let p = Policy::parse_cli(&forms).unwrap();
            assert_walls_match(&p, &probes);
        }
    }
}
