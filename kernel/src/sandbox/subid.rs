//! Subordinate ids: a rootless sandbox whose program runs as a uid other than
//! the user's, from the range `/etc/subuid` and `/etc/subgid` give the account.
//!
//! An ordinary user may map only their own ids into a namespace by writing the
//! maps (see `userns.rs`); the setuid helpers `newuidmap` and `newgidmap` (shadow's
//! `uidmap` package) map more, within the account's subordinate ranges. The map is
//! then `own own 1` (so the user's files in the view keep their owner) plus
//! `first first 1`, and the program runs as `first`: files it creates belong to
//! that uid on the host, it cannot act as the user on the user's own files, and,
//! since `newgidmap` leaves `setgroups` allowed, the user's supplementary groups
//! are dropped as a root kernel's are. The price is the root rung's: a write
//! grant must be writable by that uid. Opt-in (`agentos-kernel --subordinate-ids`);
//! nothing is left on the host.

use std::{path::PathBuf, process::Command};

use super::error::SpawnError;

const NEWUIDMAP: &str = "/usr/bin/newuidmap";
const NEWGIDMAP: &str = "/usr/bin/newgidmap";

/// The first subordinate uid and gid of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubordinateIds {
    pub uid: u32,
    pub gid: u32,
}

/// The first id of `user`'s (name or number) range in a `/etc/subuid`-format text.
fn first_of(text: &str, name: &str, id: u32) -> Option<u32> {
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        let (who, start, count) = (f.next()?, f.next()?, f.next()?);
        let mine = who == name || who.parse::<u32>().ok() == Some(id);
        let (start, count) = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
        (mine && count > 0 && start != 0).then_some(start)
    })
}

/// The calling user's subordinate ids, or why there are none.
pub fn find() -> Result<SubordinateIds, String> {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    if uid.is_root() {
        return Err("the kernel runs as root: it picks the sandbox's uid itself".into());
    }
    for helper in [NEWUIDMAP, NEWGIDMAP] {
        if !PathBuf::from(helper).exists() {
            return Err(format!("{helper} is missing (Debian's `uidmap` package)"));
        }
    }
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let range = |file: &str, id: u32| {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        first_of(&text, &name, id)
            .ok_or_else(|| format!("{file} gives {name} (uid {uid}) no range"))
    };
    Ok(SubordinateIds {
        uid: range("/etc/subuid", uid.as_raw())?,
        gid: range("/etc/subgid", gid.as_raw())?,
    })
}

/// Parent: maps the caller's own ids and `uid`/`gid` into the namespace of `pid`
/// through the setuid helpers.
pub(crate) fn map(pid: i32, uid: u32, gid: u32) -> Result<(), SpawnError> {
    let (own_uid, own_gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    for (helper, own, id) in [(NEWUIDMAP, own_uid, uid), (NEWGIDMAP, own_gid, gid)] {
        let out = Command::new(helper)
            .args([pid, own as i32, own as i32, 1, id as i32, id as i32, 1].map(|n| n.to_string()))
            .output()
            .map_err(|source| SpawnError::Sys {
                call: "exec of newuidmap/newgidmap",
                source,
            })?;
        if !out.status.success() {
            return Err(SpawnError::IdHelper {
                helper,
                pid,
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_account_by_name_or_number() {
        let text = "alice:100000:65536\n1001:300000:10\nbob:0:5\ncarol:400000:0\n";
        assert_eq!(first_of(text, "alice", 1000), Some(100_000));
        assert_eq!(first_of(text, "dave", 1001), Some(300_000));
        assert_eq!(
            first_of(text, "bob", 1002),
            None,
            "a range at 0 would be root"
        );
        assert_eq!(first_of(text, "carol", 1003), None, "an empty range");
        assert_eq!(first_of(text, "erin", 1004), None);
    }
}
