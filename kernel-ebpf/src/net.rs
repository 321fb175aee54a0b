//! TCP state changes of managed processes' sockets, on the BTF tracepoint
//! `inet_sock_set_state(const struct sock *sk, int oldstate, int newstate)`.
//!
//! Some transitions run in softirq context (a SYN-ACK or a FIN arriving), where `current` is
//! whoever was interrupted, so the event is attributed by the socket's own cgroup
//! (`sk->sk_cgrp_data.cgroup->kn->id`, set when the socket was created, and copied to the
//! sockets a listener accepts), read at offsets from the kernel's BTF.

use agentos_ebpf_common::{EVENT_TCP_STATE, TcpStateEvent, cost};
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, generated::bpf_ktime_get_ns},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};

use crate::{
    emit::{ERR_RING_FULL, EVENTS, submit_flags},
    filter::{cgroup_id_of, charge_if_managed, current_cgroup_id, under_subtree},
    offsets, read_field, read_kernel_at,
};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn agentos_tcp(ctx: BtfTracePointContext) -> u32 {
    match try_tcp(&ctx) {
        Ok(ret) | Err(ret) => ret,
    }
}

fn try_tcp(ctx: &BtfTracePointContext) -> Result<u32, u32> {
    let sk: u64 = ctx.arg(0);
    let old_state: u64 = ctx.arg(1);
    let new_state: u64 = ctx.arg(2);
    let o = offsets();
    let Some(cgroup_id) = read_field::<u64>(sk, o.sk_cgroup).and_then(cgroup_id_of) else {
        return Ok(0);
    };
    if !charge_if_managed(cgroup_id, cost::TCP) {
        return Ok(0);
    }
    let family = read_field::<u16>(sk, o.skc_family).unwrap_or(0);
    let mut source_addr = [0u8; 16];
    let mut dest_addr = [0u8; 16];
    match family {
        AF_INET => {
            // `skc_daddr` is the first field of `sock_common`: offset 0 is real here.
            source_addr[..4]
                .copy_from_slice(&read_kernel_at::<[u8; 4]>(sk, o.skc_rcv_saddr).unwrap_or([0; 4]));
            dest_addr[..4]
                .copy_from_slice(&read_kernel_at::<[u8; 4]>(sk, o.skc_daddr).unwrap_or([0; 4]));
        }
        AF_INET6 => {
            source_addr = read_kernel_at(sk, o.skc_v6_rcv_saddr).unwrap_or([0; 16]);
            dest_addr = read_kernel_at(sk, o.skc_v6_daddr).unwrap_or([0; 16]);
        }
        _ => return Ok(0),
    }
    // The current task is the socket's owner if it is in the socket's (managed) cgroup, and
    // under the subtree as every observed task is.
    let pid = if under_subtree() && current_cgroup_id() == cgroup_id {
        (bpf_get_current_pid_tgid() >> 32) as u32
    } else {
        0
    };
    let event = TcpStateEvent {
        kind: EVENT_TCP_STATE,
        pid,
        old_state: old_state as u32,
        new_state: new_state as u32,
        family,
        source_port: read_kernel_at::<u16>(sk, o.skc_num).unwrap_or(0),
        dest_port: u16::from_be(read_field::<u16>(sk, o.skc_dport).unwrap_or(0)),
        reserved: 0,
        cgroup_id,
        // SAFETY: no preconditions.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        source_addr,
        dest_addr,
    };
    EVENTS
        .output::<TcpStateEvent>(&event, submit_flags())
        .map_err(|_| ERR_RING_FULL)?;
    Ok(0)
}
