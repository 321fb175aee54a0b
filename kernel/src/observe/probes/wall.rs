//! The kernel wall's daemon half: loads and attaches the BPF LSM program `agentos_lsmopen`
//! (`file_open`) and the cgroup socket-address programs `agentos_conn4/6` (connect),
//! `agentos_send4/6` (UDP sends with an address) and `agentos_bind4/6` (bind) from the
//! probes' object, and writes each walled cgroup's allowed set into their maps from the
//! process's grants.
//!
//! # The allowed set ([`WallRules`])
//!
//! Resolved once, when the process is spawned, from the same [`SandboxGrants`] that build its
//! mounts and landlock rules: the device and inode of each granted subtree's root (read or
//! write bits), of the system directories the view binds read-only, of the device nodes it
//! binds, and of the root of every filesystem mounted below a granted subtree (the kernel's
//! `d_parent` walk stops at a filesystem's root, so a nested mount needs its own entry). Inodes
//! rather than path strings because the sandbox sees the host's files through bind mounts at
//! a different root: an inode is the same object under every name, so the wall agrees with the
//! host about what a grant covers, however the process spells the path. A `/dir/*` grant adds
//! the children that exist at spawn time, as the landlock rules do. Network rules become
//! (family, prefix, ports, protocol, verdict) entries of the decision list that also makes
//! the nftables egress chain of `private` processes (`net/egress.rs`: one order, one
//! place); a rule naming a host by DNS name cannot be checked by address in the kernel and is
//! left out (the daemon's own check, which sees the name, still applies it). A process
//! without a network namespace of its own (`shared`) also gets its `bind:` ranges, and its
//! binds are checked ([`WALL_BIND`]).
//!
//! # Host facility
//!
//! BPF LSM (`CONFIG_BPF_LSM=y`, `bpf` in the host's LSM list, `/sys/kernel/security/lsm`, and a
//! kernel that accepts the program) for opens; cgroup v2 socket-address hooks for connects,
//! sends and binds.
//! When securityfs is not mounted, the list is read in a short-lived child that mounts it in
//! a private mount namespace of its own, so the host's mounts are untouched. A kernel built
//! with BPF LSM but booted without `bpf` in the list attaches the programs and never runs
//! them, so the list decides whether the wall is live, not the attach.
//!
//! # What it leaves on the host
//!
//! Nothing: the programs, links and maps live in the probes' `aya::Ebpf` and die with it.

use std::{
    fs,
    os::unix::{fs::MetadataExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::Command,
};

use agentos_ebpf_common::{
    InodeKey, MAX_NET_RULES, NetRuleEntry, NetRuleKey, WALL_BANK, WALL_BIND, WALL_LOOPBACK,
    WALL_READ, WALL_WRITE, WallPolicy, names,
};
use aya::{
    Btf,
    maps::{HashMap, MapData},
    programs::{CgroupAttachMode, CgroupSockAddr, Lsm, ProgramError},
};

use super::{ProbeError, open_cgroup, program, take};
use crate::{
    capability::{Cidr, NetworkWall, PortRange, ProtocolMatch, SandboxGrants},
    net::egress::{Decision, Dest, decisions},
};

/// Where securityfs lists the active LSMs.
const LSM_LIST: &str = "/sys/kernel/security/lsm";
const SECURITYFS: &str = "/sys/kernel/security";
/// Host directories the sandbox's view binds read-only (`sandbox::SYSTEM_DIRS`), and the
/// device nodes it binds from the host's `/dev`.
const DEV_NODES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// What one walled cgroup may open and connect to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WallRules {
    /// (device in the kernel's encoding, inode, [`WALL_READ`] | [`WALL_WRITE`]).
    pub inodes: Vec<(u32, u64, u32)>,
    /// The connect rules, a decision list (the first match decides; none refuses).
    pub net: Vec<NetRuleEntry>,
    /// The ports it may bind (only `port_lo..=port_hi` counts), when [`WALL_BIND`] is set.
    pub bind: Vec<NetRuleEntry>,
    /// [`WALL_LOOPBACK`], [`WALL_BIND`], or 0.
    pub flags: u32,
    /// Connect rules or bind ranges left out for want of room ([`MAX_NET_RULES`] each).
    pub dropped: usize,
}

/// `st_dev` as the kernel's `super_block::s_dev` holds it: `(major << 20) | minor`.
fn kernel_dev(st_dev: u64) -> u32 {
    (libc::major(st_dev) << 20) | libc::minor(st_dev)
}

impl WallRules {
    /// The allowed set of a process with these walls. `own_netns`: it has a network namespace
    /// of its own (so its loopback is its own, and what it binds is bound there); without one
    /// its binds are checked against its `bind:` grants. Paths that do not exist are skipped,
    /// as the view skips them.
    pub fn from_grants(grants: &SandboxGrants, extra_read: &[PathBuf], own_netns: bool) -> Self {
        let mut rules = Self::network(grants, own_netns);
        let mounts = mount_points();
        let system = crate::sandbox::SYSTEM_DIRS.iter().map(PathBuf::from);
        for path in system
            .chain(extra_read.iter().cloned())
            .chain(grants.read.iter().cloned())
        {
            rules.subtree(&path, WALL_READ, &mounts);
        }
        for path in &grants.write {
            rules.subtree(path, WALL_WRITE, &mounts);
        }
        for (dirs, bits) in [
            (&grants.read_children, WALL_READ),
            (&grants.write_children, WALL_WRITE),
        ] {
            for dir in dirs {
                for child in fs::read_dir(dir).into_iter().flatten().flatten() {
                    rules.subtree(&child.path(), bits, &mounts);
                }
            }
        }
        for node in DEV_NODES {
            rules.add(Path::new(node), WALL_READ | WALL_WRITE);
        }
        rules
    }

    /// Only the network half of [`Self::from_grants`] (connect rules, bind ranges, flags), for
    /// narrowing a walled cgroup's network after a revoke ([`Wall::renetwork`]).
    pub fn network(grants: &SandboxGrants, own_netns: bool) -> Self {
        let granted = match &grants.network {
            NetworkWall::Filtered { rules } => rules.as_slice(),
            NetworkWall::None => &[],
        };
        // Cut short, the list stays fail-closed: what the dropped tail allowed is refused.
        let mut net: Vec<NetRuleEntry> = decisions(granted).list.iter().flat_map(entries).collect();
        let mut bind: Vec<NetRuleEntry> = Vec::new();
        if !own_netns {
            bind = grants.bind_ports.iter().map(port_entry).collect();
        }
        let max = MAX_NET_RULES as usize;
        let dropped = net.len().saturating_sub(max) + bind.len().saturating_sub(max);
        net.truncate(max);
        bind.truncate(max);
        Self {
            inodes: Vec::new(),
            net,
            bind,
            dropped,
            flags: if own_netns { WALL_LOOPBACK } else { WALL_BIND },
        }
    }

    /// Lets every connect through this wall: for network modes beyond `none` (a private or
    /// bridged network), whose reach (grants, and a bridged group's members, which no rule
    /// names) the namespace's nftables filter decides; this wall does not restate it yet.
    pub fn open_network(&mut self) {
        self.net = vec![NetRuleEntry {
            allow: 1,
            port_lo: 0,
            port_hi: u16::MAX,
            ..NetRuleEntry::default()
        }];
    }

    /// `path` and the roots of the filesystems mounted below it.
    fn subtree(&mut self, path: &Path, bits: u32, mounts: &[PathBuf]) {
        self.add(path, bits);
        for m in mounts.iter().filter(|m| m.starts_with(path) && *m != path) {
            self.add(m, bits);
        }
    }

    fn add(&mut self, path: &Path, bits: u32) {
        // Follows symlinks: `/bin -> usr/bin` is the directory it names.
        if let Ok(meta) = fs::metadata(path) {
            let (dev, ino) = (kernel_dev(meta.dev()), meta.ino());
            match self.inodes.iter_mut().find(|e| (e.0, e.1) == (dev, ino)) {
                Some(e) => e.2 |= bits,
                None => self.inodes.push((dev, ino, bits)),
            }
        }
    }
}

/// Mount points of this (the daemon's) mount namespace, unescaped.
fn mount_points() -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(MOUNTINFO) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ").replace("\\011", "\t")))
        .collect()
}

/// A decision as the connect check reads it: one entry per network it names.
fn entries(d: &Decision) -> Vec<NetRuleEntry> {
    let entry = |family, prefix, addr| NetRuleEntry {
        allow: u8::from(d.accept),
        family,
        prefix,
        proto: match d.protocol {
            ProtocolMatch::Any => 0,
            ProtocolMatch::Tcp => 1,
            ProtocolMatch::Udp => 2,
        },
        port_lo: d.ports.start(),
        port_hi: d.ports.end(),
        addr,
    };
    match &d.dest {
        Dest::Any => vec![entry(0, 0, [0; 16])],
        Dest::Family { v4 } => vec![entry(if *v4 { 4 } else { 6 }, 0, [0; 16])],
        Dest::Nets(nets) => nets
            .iter()
            .map(|c| {
                let (family, prefix, addr) = cidr(c);
                entry(family, prefix, addr)
            })
            .collect(),
    }
}

fn cidr(c: &Cidr) -> (u8, u8, [u8; 16]) {
    let mut addr = [0; 16];
    match c.addr() {
        std::net::IpAddr::V4(a) => {
            addr[..4].copy_from_slice(&a.octets());
            (4, c.prefix(), addr)
        }
        std::net::IpAddr::V6(a) => (6, c.prefix(), a.octets()),
    }
}

/// A `bind:` range as the bind check reads it.
fn port_entry(ports: &PortRange) -> NetRuleEntry {
    NetRuleEntry {
        allow: 1,
        port_lo: ports.start(),
        port_hi: ports.end(),
        ..NetRuleEntry::default()
    }
}

/// Whether each half of the wall is live (`Err` says why not), for `doctor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WallStatus {
    /// The `file_open` LSM program.
    pub open: Result<(), String>,
    /// The `cgroup/connect4`, `connect6`, `sendmsg4` and `sendmsg6` programs.
    pub connect: Result<(), String>,
    /// The `cgroup/bind4` and `bind6` programs.
    pub bind: Result<(), String>,
}

/// The loaded wall: its maps (its programs and their links are owned by `Ebpf`).
#[derive(Debug)]
pub(super) struct Wall {
    walled: HashMap<MapData, u64, WallPolicy>,
    fs: HashMap<MapData, InodeKey, u32>,
    net: HashMap<MapData, NetRuleKey, NetRuleEntry>,
    status: WallStatus,
}

/// The error and its sources on one line.
fn reason(err: &ProbeError) -> String {
    match super::ProbeStatus::from(err) {
        super::ProbeStatus::Unavailable { reason } => reason,
        super::ProbeStatus::Live { .. } => String::new(),
    }
}

impl Wall {
    /// Takes the wall's maps out of `ebpf` (whatever happens next, so no map of the object
    /// stays unowned), then loads and attaches the open half if the host runs the BPF LSM,
    /// and the connect half on `kernel_cgroup` (the daemon's v2 cgroup, above every managed
    /// one).
    pub(super) fn start(
        ebpf: &mut aya::Ebpf,
        btf: &Btf,
        kernel_cgroup: &Path,
    ) -> Result<Self, ProbeError> {
        let mut wall = Self {
            walled: take(ebpf, names::WALLED)?,
            fs: take(ebpf, names::WALL_FS)?,
            net: take(ebpf, names::WALL_NET)?,
            status: WallStatus {
                open: Ok(()),
                connect: Ok(()),
                bind: Ok(()),
            },
        };
        wall.status.open = bpf_lsm_active().and_then(|()| {
            attach_lsm(ebpf, btf).map_err(|err| {
                format!(
                    "the host kernel refused the BPF LSM program: {}",
                    reason(&err)
                )
            })
        });
        wall.status.connect =
            attach_sock_addr(ebpf, kernel_cgroup, CONNECT_PROGRAMS).map_err(|err| reason(&err));
        wall.status.bind =
            attach_sock_addr(ebpf, kernel_cgroup, BIND_PROGRAMS).map_err(|err| reason(&err));
        for (half, status) in [
            ("open", &wall.status.open),
            ("connect", &wall.status.connect),
            ("bind", &wall.status.bind),
        ] {
            if let Err(why) = status {
                tracing::warn!("the {half} half of the kernel wall is not live: {why}");
            }
        }
        Ok(wall)
    }

    pub(super) fn status(&self) -> WallStatus {
        self.status.clone()
    }

    /// Writes `rules` for cgroup `id`, then walls it (in that order, so it is never walled
    /// with half its grants). Nothing when no half is live.
    pub(super) fn guard(&mut self, id: u64, rules: &WallRules) -> Result<(), aya::maps::MapError> {
        if self.status.open.is_err() && self.status.connect.is_err() && self.status.bind.is_err() {
            return Ok(());
        }
        for &(dev, ino, bits) in &rules.inodes {
            let key = InodeKey {
                cgroup_id: id,
                ino,
                dev,
                reserved: 0,
            };
            self.fs.insert(key, bits, 0)?;
        }
        self.write_network(id, 0, rules)
    }

    /// Writes the connect rules and bind ranges of `rules` for cgroup `id` at index `base`,
    /// then points its policy at them.
    fn write_network(
        &mut self,
        id: u64,
        base: u32,
        rules: &WallRules,
    ) -> Result<(), aya::maps::MapError> {
        for (index, rule) in (base..).zip(rules.net.iter().chain(&rules.bind)) {
            let key = NetRuleKey {
                cgroup_id: id,
                index,
                reserved: 0,
            };
            self.net.insert(key, *rule, 0)?;
        }
        let policy = WallPolicy {
            net_rules: rules.net.len() as u32,
            flags: rules.flags,
            bind_rules: rules.bind.len() as u32,
            base,
        };
        self.walled.insert(id, policy, 0)
    }

    /// Replaces walled cgroup `id`'s network rules with those of `rules` (its inodes stay):
    /// written to the bank not in use, switched in by one update of its policy, then the old
    /// bank deleted. Nothing if `id` is not walled.
    pub(super) fn renetwork(
        &mut self,
        id: u64,
        rules: &WallRules,
    ) -> Result<(), aya::maps::MapError> {
        let old = match self.walled.get(&id, 0) {
            Ok(policy) => policy,
            Err(aya::maps::MapError::KeyNotFound) => return Ok(()),
            Err(err) => return Err(err),
        };
        let base = if old.base == 0 { WALL_BANK } else { 0 };
        self.write_network(id, base, rules)?;
        for index in old.base..old.base + old.net_rules + old.bind_rules {
            let _ = self.net.remove(&NetRuleKey {
                cgroup_id: id,
                index,
                reserved: 0,
            });
        }
        Ok(())
    }

    /// Unwalls cgroup `id` and deletes its entries.
    pub(super) fn forget(&mut self, id: u64) {
        let _ = self.walled.remove(&id);
        let keys: Vec<InodeKey> = self
            .fs
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k.cgroup_id == id)
            .collect();
        for key in keys {
            let _ = self.fs.remove(&key);
        }
        let keys: Vec<NetRuleKey> = self
            .net
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k.cgroup_id == id)
            .collect();
        for key in keys {
            let _ = self.net.remove(&key);
        }
    }
}

fn attach_lsm(ebpf: &mut aya::Ebpf, btf: &Btf) -> Result<(), ProbeError> {
    let (name, hook) = (names::OPEN_WALL_PROGRAM, names::OPEN_WALL_HOOK);
    let prog: &mut Lsm = program(ebpf, name)?;
    prog.load(hook, btf)
        .map_err(|source| ProbeError::LoadProgram {
            program: name,
            source,
        })?;
    // The link is owned by the program, hence by `Ebpf`; it is never pinned.
    prog.attach()
        .map(drop)
        .map_err(|source: ProgramError| ProbeError::Attach {
            program: name,
            tracepoint: hook,
            source,
        })
}

/// The connect half: connects, and UDP sends with an address.
const CONNECT_PROGRAMS: &[&str] = &[
    names::CONNECT4_WALL_PROGRAM,
    names::CONNECT6_WALL_PROGRAM,
    names::SEND4_WALL_PROGRAM,
    names::SEND6_WALL_PROGRAM,
];
/// The bind half.
const BIND_PROGRAMS: &[&str] = &[names::BIND4_WALL_PROGRAM, names::BIND6_WALL_PROGRAM];

/// Attaches socket-address programs to the daemon's cgroup as BPF links (which the kernel
/// always stacks beside others, and which take no flags: `Single` passes none, where
/// `AllowMultiple` would make `BPF_LINK_CREATE` fail `EINVAL`); they see its descendants, the
/// managed cgroups, and nothing else.
fn attach_sock_addr(
    ebpf: &mut aya::Ebpf,
    kernel_cgroup: &Path,
    programs: &[&'static str],
) -> Result<(), ProbeError> {
    let dir = open_cgroup(kernel_cgroup)?;
    for &name in programs {
        let prog: &mut CgroupSockAddr = program(ebpf, name)?;
        prog.load().map_err(|source| ProbeError::LoadProgram {
            program: name,
            source,
        })?;
        prog.attach(&dir, CgroupAttachMode::Single)
            .map(drop)
            .map_err(|source| ProbeError::Attach {
                program: name,
                tracepoint: "the kernel's cgroup",
                source,
            })?;
    }
    Ok(())
}

/// `Ok` if `bpf` is in the host's list of active LSMs; otherwise why not.
pub fn bpf_lsm_active() -> Result<(), String> {
    let list = match fs::read_to_string(LSM_LIST) {
        Ok(list) => list,
        Err(_) => read_lsm_list_privately()?,
    };
    if list.split(',').any(|m| m.trim() == "bpf") {
        Ok(())
    } else {
        Err(format!(
            "`bpf` is not in the host's LSM list ({}); boot with `lsm=…,bpf`",
            list.trim()
        ))
    }
}

/// Reads [`LSM_LIST`] in a child that mounts securityfs in a private mount namespace of its
/// own (`cat` then exits, and the namespace with it).
fn read_lsm_list_privately() -> Result<String, String> {
    let mut cat = Command::new("cat");
    cat.arg(LSM_LIST);
    // SAFETY: runs in the forked child before exec and calls only async-signal-safe
    // syscalls (unshare, mount) on static C strings.
    unsafe {
        cat.pre_exec(|| {
            let check = |rc: libc::c_int| {
                if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                c"securityfs".as_ptr(),
                c"/sys/kernel/security".as_ptr(),
                c"securityfs".as_ptr(),
                0,
                std::ptr::null(),
            ))
        });
    }
    let out = cat.output().map_err(|err| {
        format!("cannot read {LSM_LIST}: securityfs is not mounted at {SECURITYFS} and mounting it privately failed: {err}")
    })?;
    if !out.status.success() {
        return Err(format!(
            "cannot read {LSM_LIST}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::Policy;

    fn policy(caps: &[&str]) -> Policy {
        Policy::parse_cli(caps).expect("policy")
    }

    #[test]
    fn grants_become_inodes_and_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (r, w) = (dir.path().join("r"), dir.path().join("w"));
        fs::create_dir(&r).expect("mkdir");
        fs::create_dir(&w).expect("mkdir");
        let p = policy(&[
            &format!("read:{}", r.display()),
            &format!("write:{}", w.display()),
            "net:allow:10.0.0.0/8:443/tcp",
            "net:deny:example.com",
        ]);
        let rules = WallRules::from_grants(&p.sandbox_grants(), &[], true);
        let ino = |p: &Path| {
            let m = fs::metadata(p).expect("stat");
            (kernel_dev(m.dev()), m.ino())
        };
        let bits = |p: &Path| {
            let (dev, ino) = ino(p);
            rules
                .inodes
                .iter()
                .find(|e| (e.0, e.1) == (dev, ino))
                .map(|e| e.2)
        };
        assert_eq!(bits(&r), Some(WALL_READ));
        assert_eq!(bits(&w), Some(WALL_WRITE));
        assert_eq!(bits(Path::new("/usr")), Some(WALL_READ));
        assert_eq!(
            bits(dir.path()),
            None,
            "the parent of a grant is not granted"
        );
        assert_eq!(rules.flags, WALL_LOOPBACK);
        assert_eq!(
            rules.net[0],
            NetRuleEntry {
                allow: 1,
                family: 4,
                prefix: 8,
                proto: 1,
                port_lo: 443,
                port_hi: 443,
                addr: [10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            },
            "the deny by name is left to the daemon's check"
        );
        // Then the guarded ranges (7 IPv4, 3 IPv6), each refused.
        assert_eq!(rules.net.len(), 1 + 7 + 3, "{:?}", rules.net);
        assert!(rules.net[1..].iter().all(|e| e.allow == 0));
        assert!(
            rules.bind.is_empty(),
            "binds in its own namespace are its own"
        );
    }

    #[test]
    fn shared_rules_keep_the_egress_order_and_check_binds() {
        let p = policy(&[
            "net:allow:*:443/tcp",
            "net:allow:127.0.0.1:8080/tcp",
            "net:deny:127.0.0.0/8",
            "bind:9000-9001",
        ]);
        let rules = WallRules::from_grants(&p.sandbox_grants(), &[], false);
        assert_eq!(rules.flags, WALL_BIND, "no free loopback, binds checked");
        let first = |pred: &dyn Fn(&NetRuleEntry) -> bool| rules.net.iter().position(pred);
        let deny = first(&|e| e.allow == 0 && e.prefix == 8 && e.addr[0] == 127).unwrap();
        let named = first(&|e| e.allow == 1 && e.prefix == 32).unwrap();
        let guard = first(&|e| e.allow == 0 && e.prefix == 16 && e.addr[..2] == [169, 254]);
        let any = first(&|e| e.allow == 1 && e.family == 0).unwrap();
        assert!(deny < named && named < guard.unwrap() && guard.unwrap() < any);
        assert_eq!(
            rules.bind,
            [NetRuleEntry {
                allow: 1,
                port_lo: 9000,
                port_hi: 9001,
                ..NetRuleEntry::default()
            }]
        );
    }

    #[test]
    fn rules_beyond_the_maps_room_are_counted_not_hidden() {
        let forms: Vec<String> = (0..MAX_NET_RULES)
            .map(|i| format!("net:allow:192.0.2.1:{}/tcp", 1000 + i))
            .collect();
        let rules = WallRules::network(
            &policy(&forms.iter().map(String::as_str).collect::<Vec<_>>()).sandbox_grants(),
            false,
        );
        assert_eq!(rules.net.len(), MAX_NET_RULES as usize);
        // The guarded ranges (10 entries) came after the named allows and were cut.
        assert_eq!(rules.dropped, 10);
    }

    #[test]
    fn kernel_dev_matches_the_kernels_encoding() {
        assert_eq!(kernel_dev(libc::makedev(254, 0)), 254 << 20);
        assert_eq!(kernel_dev(libc::makedev(0, 23)), 23);
    }
}
