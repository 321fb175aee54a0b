//! The second wall in the host kernel: a BPF LSM program on `file_open`, and cgroup
//! socket-address programs on `connect4/6`, `sendmsg4/6` and `bind4/6`, that refuse (`EPERM`)
//! what a walled managed process's grants do not allow, behind the mount namespace, landlock
//! and seccomp (and, in network mode `shared`, in place of a network namespace).
//!
//! Scope: a task is judged only if its v2 cgroup id is a key of `WALLED`, which the daemon
//! fills (after the cgroup's grants) for every managed cgroup; everything else returns at
//! once, and an earlier LSM's refusal (`retval != 0`) is passed on untouched.
//!
//! # Opens
//!
//! Grants are held as inodes, not path strings: `WALL_FS` maps (cgroup, device, inode) of each
//! granted subtree's root to read/write bits. An open is allowed when the union of the bits of
//! the opened dentry and its ancestors (`d_parent`, up to the filesystem's root) covers what
//! the open wants (`FMODE_READ`/`FMODE_EXEC` → read, `FMODE_WRITE` → write). A bind mount
//! shows the same inodes under another name, so the sandbox's view (grants bound at their host
//! paths, a `pivot_root`ed tree) and the host agree on what a grant covers whatever path the
//! process uses, and no rename of a path string can step around it. Files of filesystems owned
//! by a user namespace other than the host's (the sandbox's own root tmpfs, `/tmp`, `/proc`,
//! `devpts`, `/dev/shm`, all mounted inside its user namespace) hold nothing of the host and
//! are left to the mount namespace; everything the host owns is judged.
//!
//! # Connects, sends and binds
//!
//! Cgroup socket-address programs rather than the LSM `socket_connect` hook: they run on
//! hosts whose kernel refuses trampoline-based programs (LSM, fentry), and the daemon attaches
//! them to its own cgroup, so they run for AgentOS's processes only, by construction. IPv4 and
//! IPv6 connects (TCP, and UDP `connect`) and UDP sends with an address (`sendmsg4/6`) are
//! checked against the cgroup's rules in `WALL_NET`, a decision list the daemon builds with
//! the nftables egress chain's order (`net/egress.rs`: denies, allows by address, the guarded
//! private ranges, allows for any host; the first match decides, none refuses); loopback
//! passes first when the sandbox has a network namespace of its own ([`WALL_LOOPBACK`]).
//! Binds (`bind4/6`) are judged only for cgroups flagged [`WALL_BIND`] (network mode
//! `shared`): port 0 passes, any other port needs one of the cgroup's bind ranges, stored in
//! `WALL_NET` after its connect rules. Unix sockets (the process's own kernel socket) never
//! reach these programs.
//!
//! Each refusal writes a [`WallDenialEvent`] to the ring buffer (best effort: a full ring
//! still refuses).

use agentos_ebpf_common::{
    EVENT_WALL_DENIAL, InodeKey, MAX_NET_RULES, MAX_WALL_DEPTH, MAX_WALL_INODES, NetRuleEntry,
    NetRuleKey, WALL_BIND, WALL_LOOPBACK, WALL_NAME_LEN, WALL_NAMES, WALL_OP_BIND, WALL_OP_CONNECT,
    WALL_OP_OPEN, WALL_OP_SEND, WALL_READ, WALL_WRITE, WallDenialEvent, WallPolicy, cost,
};
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_kernel_str_bytes,
        generated::{bpf_get_current_cgroup_id, bpf_ktime_get_ns},
    },
    macros::{cgroup_sock_addr, lsm, map},
    maps::HashMap,
    programs::{LsmContext, SockAddrContext},
};

use crate::{
    emit::{EVENTS, submit_flags},
    filter::charge,
    offsets, read_field,
};

const EPERM: i32 = 1;
const FMODE_READ: u32 = 1 << 0;
const FMODE_WRITE: u32 = 1 << 1;
const FMODE_EXEC: u32 = 1 << 5;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;

#[map(name = "AGENTOS_WALLED")]
static WALLED: HashMap<u64, WallPolicy> =
    HashMap::with_max_entries(agentos_ebpf_common::MAX_MANAGED, 0);

#[map(name = "AGENTOS_WALL_FS")]
static WALL_FS: HashMap<InodeKey, u32> = HashMap::with_max_entries(MAX_WALL_INODES, 0);

#[map(name = "AGENTOS_WALLNET")]
static WALL_NET: HashMap<NetRuleKey, NetRuleEntry> =
    HashMap::with_max_entries(agentos_ebpf_common::MAX_MANAGED * 8, 0);

/// The current task's walled cgroup and its policy, if it is walled.
#[inline(always)]
fn walled() -> Option<(u64, WallPolicy)> {
    // SAFETY: the helper only reads the current task's cgroup.
    let id = unsafe { bpf_get_current_cgroup_id() };
    // SAFETY: the value is plain data, copied out at once.
    let policy = unsafe { WALLED.get(id) }.copied()?;
    Some((id, policy))
}

#[lsm(hook = "file_open")]
pub fn agentos_lsmopen(ctx: LsmContext) -> i32 {
    match try_open(&ctx) {
        Ok(ret) | Err(ret) => ret,
    }
}

/// `file_open(struct file *file)`, then the previous programs' verdict.
fn try_open(ctx: &LsmContext) -> Result<i32, i32> {
    let retval: i32 = ctx.arg(1);
    if retval != 0 {
        return Ok(retval);
    }
    let Some((cgroup_id, _)) = walled() else {
        return Ok(0);
    };
    charge(cgroup_id, cost::OPEN_WALL);
    let o = offsets();
    let file: u64 = ctx.arg(0);
    // Unreadable layout fails closed: a walled process is refused, not waved through.
    let mode = read_field::<u32>(file, o.file_mode).ok_or(-EPERM)?;
    let mut want = 0;
    if mode & (FMODE_READ | FMODE_EXEC) != 0 {
        want |= WALL_READ;
    }
    if mode & FMODE_WRITE != 0 {
        want |= WALL_WRITE;
    }
    if want == 0 {
        return Ok(0);
    }
    let dentry = read_field::<u64>(file, o.file_dentry).ok_or(-EPERM)?;
    let sb = read_field::<u64>(dentry, o.dentry_sb).ok_or(-EPERM)?;
    let level = read_field::<u64>(sb, o.sb_user_ns)
        .and_then(|ns| read_field::<u32>(ns, o.userns_level))
        .ok_or(-EPERM)?;
    if level > 0 {
        return Ok(0);
    }
    let dev = read_field::<u32>(sb, o.sb_dev).ok_or(-EPERM)?;
    let mut granted = 0;
    let mut d = dentry;
    let mut ino = 0;
    for i in 0..MAX_WALL_DEPTH {
        let Some(this) = read_field::<u64>(d, o.dentry_inode)
            .and_then(|inode| read_field::<u64>(inode, o.inode_ino))
        else {
            break;
        };
        if i == 0 {
            ino = this;
        }
        let key = InodeKey {
            cgroup_id,
            ino: this,
            dev,
            reserved: 0,
        };
        if let Some(bits) = WALL_FS.get_ptr(key) {
            // SAFETY: a map value pointer is valid for this program run.
            granted |= unsafe { *bits };
            if granted & want == want {
                return Ok(0);
            }
        }
        match read_field::<u64>(d, o.dentry_parent) {
            Some(parent) if parent != d && parent != 0 => d = parent,
            _ => break,
        }
    }
    report_open(cgroup_id, dentry, dev, ino, want);
    Err(-EPERM)
}

/// Writes the refusal of an open, with up to [`WALL_NAMES`] components of its path.
fn report_open(cgroup_id: u64, dentry: u64, dev: u32, ino: u64, want: u32) {
    let Some(mut entry) = EVENTS.reserve::<WallDenialEvent>(0) else {
        return;
    };
    let event = entry.write(header(WALL_OP_OPEN, cgroup_id));
    event.ino = ino;
    event.dev = dev;
    event.access = want;
    let o = offsets();
    let mut d = dentry;
    let mut filled = 0u16;
    for slot in event.names.iter_mut() {
        let parent = match read_field::<u64>(d, o.dentry_parent) {
            Some(parent) if parent != d && parent != 0 => parent,
            // The filesystem's root: its name is "/", which the daemon adds itself.
            _ => break,
        };
        if let Some(name) = read_field::<u64>(d, o.dentry_name) {
            // SAFETY: `slot` is a writable buffer of `WALL_NAME_LEN` bytes; the helper
            // reads through the kernel's fault-handling path and NUL-terminates.
            let _ = unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, slot) };
        }
        filled += 1;
        d = parent;
    }
    event.names_len = filled;
    // More components above the last kept one.
    event.truncated = u16::from(
        filled as usize == WALL_NAMES
            && read_field::<u64>(d, o.dentry_parent).is_some_and(|p| p != d && p != 0),
    );
    entry.submit(submit_flags());
}

/// The common part of a [`WallDenialEvent`], the rest zero.
#[inline(always)]
fn header(op: u32, cgroup_id: u64) -> WallDenialEvent {
    let pid_tgid = bpf_get_current_pid_tgid();
    WallDenialEvent {
        kind: EVENT_WALL_DENIAL,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        op,
        cgroup_id,
        // SAFETY: no preconditions.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        ino: 0,
        dev: 0,
        access: 0,
        family: 0,
        port: 0,
        names_len: 0,
        truncated: 0,
        addr: [0; 16],
        names: [[0; WALL_NAME_LEN]; WALL_NAMES],
    }
}

#[cgroup_sock_addr(connect4)]
pub fn agentos_conn4(ctx: SockAddrContext) -> i32 {
    verdict(&ctx, true, WALL_OP_CONNECT, cost::CONNECT4_WALL)
}

#[cgroup_sock_addr(connect6)]
pub fn agentos_conn6(ctx: SockAddrContext) -> i32 {
    verdict(&ctx, false, WALL_OP_CONNECT, cost::CONNECT6_WALL)
}

#[cgroup_sock_addr(sendmsg4)]
pub fn agentos_send4(ctx: SockAddrContext) -> i32 {
    verdict(&ctx, true, WALL_OP_SEND, cost::SEND4_WALL)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn agentos_send6(ctx: SockAddrContext) -> i32 {
    verdict(&ctx, false, WALL_OP_SEND, cost::SEND6_WALL)
}

#[cgroup_sock_addr(bind4)]
pub fn agentos_bind4(ctx: SockAddrContext) -> i32 {
    verdict(&ctx, true, WALL_OP_BIND, cost::BIND4_WALL)
}

#[cgroup_sock_addr(bind6)]
pub fn agentos_bind6(ctx: SockAddrContext) -> i32 {
    verdict(&ctx, false, WALL_OP_BIND, cost::BIND6_WALL)
}

/// 1 lets the connect, send or bind through, 0 refuses it (the caller gets `EPERM`).
#[inline(always)]
fn verdict(ctx: &SockAddrContext, inet4: bool, op: u32, program: usize) -> i32 {
    // SAFETY: the kernel passes a valid `bpf_sock_addr` for the program's run.
    let sa = unsafe { &*ctx.sock_addr };
    let Some((cgroup_id, policy)) = walled() else {
        return 1;
    };
    // Binds are judged only where the process binds in the host's namespace.
    if op == WALL_OP_BIND && policy.flags & WALL_BIND == 0 {
        return 1;
    }
    charge(cgroup_id, program);
    // `user_ip4`/`user_ip6` and `user_port` hold network byte order.
    let mut addr = [0u8; 16];
    let v4 = if inet4 {
        addr[..4].copy_from_slice(&sa.user_ip4.to_ne_bytes());
        true
    } else {
        for (i, word) in sa.user_ip6.iter().enumerate() {
            addr[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        // `::ffff:a.b.c.d` is the IPv4 address to a rule, as in the daemon's checks.
        if addr[..10] == [0; 10] && addr[10] == 0xff && addr[11] == 0xff {
            addr.copy_within(12..16, 0);
            addr[4..].fill(0);
            true
        } else {
            false
        }
    };
    let port = u16::from_be(sa.user_port as u16);
    let proto = match sa.type_ {
        SOCK_STREAM => 1,
        SOCK_DGRAM => 2,
        _ => 0,
    };
    let pass = if op == WALL_OP_BIND {
        may_bind(cgroup_id, &policy, port)
    } else {
        allowed(cgroup_id, &policy, v4, &addr, port, proto)
    };
    if pass {
        return 1;
    }
    if let Some(mut entry) = EVENTS.reserve::<WallDenialEvent>(0) {
        let event = entry.write(header(op, cgroup_id));
        event.access = proto;
        event.family = if v4 { AF_INET } else { AF_INET6 };
        event.port = port;
        event.addr = addr;
        entry.submit(submit_flags());
    }
    0
}

/// Whether the walled cgroup's policy lets a connect to `addr`:`port` over `proto` through:
/// its own loopback, then its rules as a decision list (the first that matches decides; none
/// matching refuses).
#[inline(always)]
fn allowed(
    cgroup_id: u64,
    policy: &WallPolicy,
    v4: bool,
    addr: &[u8; 16],
    port: u16,
    proto: u32,
) -> bool {
    let loopback = if v4 {
        addr[0] == 127
    } else {
        addr[..15] == [0; 15] && addr[15] == 1
    };
    if loopback && policy.flags & WALL_LOOPBACK != 0 {
        return true;
    }
    for index in 0..MAX_NET_RULES {
        if index >= policy.net_rules {
            break;
        }
        let Some(rule) = rule(cgroup_id, policy.base.wrapping_add(index)) else {
            break;
        };
        if matches(&rule, v4, addr, port, proto) {
            return rule.allow != 0;
        }
    }
    false
}

/// Whether a bind to `port` is allowed: port 0 (the kernel picks an ephemeral one) always,
/// any other when one of the cgroup's bind ranges holds it.
#[inline(always)]
fn may_bind(cgroup_id: u64, policy: &WallPolicy, port: u16) -> bool {
    if port == 0 {
        return true;
    }
    for i in 0..MAX_NET_RULES {
        if i >= policy.bind_rules {
            break;
        }
        let at = policy.base.wrapping_add(policy.net_rules).wrapping_add(i);
        let Some(range) = rule(cgroup_id, at) else {
            break;
        };
        if port >= range.port_lo && port <= range.port_hi {
            return true;
        }
    }
    false
}

/// Entry `index` of the cgroup's `WALL_NET` rules, copied out.
#[inline(always)]
fn rule(cgroup_id: u64, index: u32) -> Option<NetRuleEntry> {
    let key = NetRuleKey {
        cgroup_id,
        index,
        reserved: 0,
    };
    // SAFETY: a map value pointer is valid for this program run; copied out at once.
    WALL_NET.get_ptr(key).map(|rule| unsafe { *rule })
}

/// Whether `rule` covers a connect to `addr`:`port` over `proto`.
#[inline(always)]
fn matches(rule: &NetRuleEntry, v4: bool, addr: &[u8; 16], port: u16, proto: u32) -> bool {
    if port < rule.port_lo || port > rule.port_hi {
        return false;
    }
    if rule.proto != 0 && u32::from(rule.proto) != proto {
        return false;
    }
    match rule.family {
        0 => true,
        4 if v4 => prefix_matches(&rule.addr, addr, rule.prefix),
        6 if !v4 => prefix_matches(&rule.addr, addr, rule.prefix),
        _ => false,
    }
}

/// Whether the first `prefix` bits of `a` and `b` agree, in two 64-bit halves (BPF has no
/// 128-bit arithmetic).
#[inline(always)]
fn prefix_matches(a: &[u8; 16], b: &[u8; 16], prefix: u8) -> bool {
    let half = |bytes: &[u8; 16], i: usize| {
        let mut h = [0u8; 8];
        h.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        u64::from_be_bytes(h)
    };
    let mask = |bits: u32| -> u64 {
        match bits {
            0 => 0,
            64.. => u64::MAX,
            n => u64::MAX << (64 - n),
        }
    };
    let p = u32::from(prefix);
    let (hi, lo) = (mask(p), mask(p.saturating_sub(64)));
    (half(a, 0) ^ half(b, 0)) & hi == 0 && (half(a, 1) ^ half(b, 1)) & lo == 0
}
