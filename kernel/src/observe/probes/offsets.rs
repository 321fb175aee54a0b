//! Where the programs find what they read in kernel structs, from the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`), never hard-coded: Rust eBPF gets no CO-RE relocations.
//!
//! Also checks the prototypes of the BTF tracepoints whose arguments the programs read by
//! position, so a kernel that reorders them refuses to load instead of misreporting.

use agentos_ebpf_common::{TaskOffsets, names};

use super::ProbeError;
use crate::observe::btf::{KernelBtf, Shape};

/// Reads every offset in [`TaskOffsets`] from the kernel's BTF.
pub(super) fn task_offsets() -> Result<TaskOffsets, ProbeError> {
    let btf = KernelBtf::from_sys_fs().map_err(ProbeError::KernelBtf)?;
    let field = |ty: &str, member: &str, shape: Shape, what: &'static str| {
        btf.member(ty, member)
            .filter(|found| found.shape == shape)
            .map(|found| found.offset)
            .ok_or(ProbeError::Layout { what })
    };
    let int = Shape::Int { bytes: 4 };
    let long = Shape::Int { bytes: 8 };
    let ptr = Shape::Pointer;
    let args = |tracepoint: &'static str| {
        btf.tracepoint_args(tracepoint)
            .ok_or(ProbeError::Layout { what: tracepoint })
    };
    let exit_args = args(names::EXIT_TRACEPOINT)?;
    // `(bool preempt, struct task_struct *prev, struct task_struct *next, ...)`.
    let switch_args = args(names::SWITCH_TRACEPOINT)?;
    if switch_args.get(1..3) != Some(&[ptr, ptr][..]) {
        return Err(ProbeError::Layout {
            what: "sched_switch(preempt, prev, next, ..)",
        });
    }
    // `(struct task_struct *parent, struct task_struct *child)`.
    if args(names::FORK_TRACEPOINT)?.get(..2) != Some(&[ptr, ptr][..]) {
        return Err(ProbeError::Layout {
            what: "sched_process_fork(parent, child)",
        });
    }
    // `inet_sock_set_state(const struct sock *sk, int oldstate, int newstate)`.
    if args(names::TCP_STATE_TRACEPOINT)?.first() != Some(&ptr) {
        return Err(ProbeError::Layout {
            what: "inet_sock_set_state(sk, oldstate, newstate)",
        });
    }
    let common = btf
        .member("sock", "__sk_common")
        .ok_or(ProbeError::Layout {
            what: "sock.__sk_common",
        })?
        .offset;
    // Any shape: addresses are arrays or structs, read as bytes.
    let sock_common = |member: &str, what: &'static str| {
        btf.member("sock_common", member)
            .map(|found| common + found.offset)
            .ok_or(ProbeError::Layout { what })
    };
    let sk_cgroup = btf
        .member("sock", "sk_cgrp_data")
        .ok_or(ProbeError::Layout {
            what: "sock.sk_cgrp_data",
        })?
        .offset
        + field("sock_cgroup_data", "cgroup", ptr, "sock_cgroup_data.cgroup")?;
    // Offsets of members read whole, whatever their shape (`fmode_t`, `dev_t`, `short`, a
    // nested struct's first member).
    let at = |ty: &str, member: &str, what: &'static str| {
        btf.member(ty, member)
            .map(|found| found.offset)
            .ok_or(ProbeError::Layout { what })
    };
    let sched_entity = at("task_struct", "se", "task_struct.se")?;
    // `CONFIG_SCHED_INFO`'s figures, absent (0: no run-queue figures) without it.
    let sched_info = |member: &str| {
        let base = btf.member("task_struct", "sched_info")?.offset;
        btf.member("sched_info", member)
            .filter(|found| found.shape == long)
            .map(|found| base + found.offset)
    };
    Ok(TaskOffsets {
        exit_code: field("task_struct", "exit_code", int, "task_struct.exit_code")?,
        tgid: field("task_struct", "tgid", int, "task_struct.tgid")?,
        real_parent: field("task_struct", "real_parent", ptr, "task_struct.real_parent")?,
        // `(struct task_struct *p, bool group_dead)` on recent kernels, `(p)` before.
        exit_has_group_dead: u32::from(exit_args.get(1) == Some(&Shape::Int { bytes: 1 })),
        pid: field("task_struct", "pid", int, "task_struct.pid")?,
        cgroups: field("task_struct", "cgroups", ptr, "task_struct.cgroups")?,
        dfl_cgrp: field("css_set", "dfl_cgrp", ptr, "css_set.dfl_cgrp")?,
        cgroup_kn: field("cgroup", "kn", ptr, "cgroup.kn")?,
        kn_id: field("kernfs_node", "id", long, "kernfs_node.id")?,
        sk_cgroup,
        skc_family: sock_common("skc_family", "sock_common.skc_family")?,
        skc_num: sock_common("skc_num", "sock_common.skc_num")?,
        skc_dport: sock_common("skc_dport", "sock_common.skc_dport")?,
        skc_rcv_saddr: sock_common("skc_rcv_saddr", "sock_common.skc_rcv_saddr")?,
        skc_daddr: sock_common("skc_daddr", "sock_common.skc_daddr")?,
        skc_v6_rcv_saddr: sock_common("skc_v6_rcv_saddr", "sock_common.skc_v6_rcv_saddr")?,
        skc_v6_daddr: sock_common("skc_v6_daddr", "sock_common.skc_v6_daddr")?,
        regs_di: field("pt_regs", "di", long, "pt_regs.di")?,
        regs_si: field("pt_regs", "si", long, "pt_regs.si")?,
        regs_dx: field("pt_regs", "dx", long, "pt_regs.dx")?,
        file_dentry: at("file", "f_path", "file.f_path")?
            + field("path", "dentry", ptr, "path.dentry")?,
        file_mode: at("file", "f_mode", "file.f_mode")?,
        dentry_parent: field("dentry", "d_parent", ptr, "dentry.d_parent")?,
        dentry_name: at("dentry", "d_name", "dentry.d_name")?
            + field("qstr", "name", ptr, "qstr.name")?,
        dentry_inode: field("dentry", "d_inode", ptr, "dentry.d_inode")?,
        dentry_sb: field("dentry", "d_sb", ptr, "dentry.d_sb")?,
        inode_ino: field("inode", "i_ino", long, "inode.i_ino")?,
        sb_dev: at("super_block", "s_dev", "super_block.s_dev")?,
        sb_user_ns: field("super_block", "s_user_ns", ptr, "super_block.s_user_ns")?,
        userns_level: at("user_namespace", "level", "user_namespace.level")?,
        socket_type: at("socket", "type", "socket.type")?,
        regs_orig_ax: field("pt_regs", "orig_ax", long, "pt_regs.orig_ax")?,
        se_sum_exec_runtime: sched_entity
            + field(
                "sched_entity",
                "sum_exec_runtime",
                long,
                "sched_entity.sum_exec_runtime",
            )?,
        se_prev_sum_exec_runtime: sched_entity
            + field(
                "sched_entity",
                "prev_sum_exec_runtime",
                long,
                "sched_entity.prev_sum_exec_runtime",
            )?,
        sched_info_pcount: sched_info("pcount").unwrap_or(0),
        sched_info_run_delay: sched_info("run_delay").unwrap_or(0),
        switch_has_prev_state: u32::from(switch_args.get(3) == Some(&int)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_kernel_has_every_offset() {
        if !std::path::Path::new(crate::observe::btf::VMLINUX_BTF).exists() {
            crate::testing::skip("the_running_kernel_has_every_offset", "no kernel BTF");
            return;
        }
        let offsets = task_offsets().expect("offsets");
        // Distinct fields of one struct sit at distinct offsets; the pointers are not at 0.
        assert_ne!(offsets.pid, offsets.tgid);
        assert!(offsets.real_parent > 0 && offsets.cgroups > 0);
        assert_ne!(offsets.regs_si, offsets.regs_dx);
        assert_eq!(offsets.skc_rcv_saddr, offsets.skc_daddr + 4, "skc_addrpair");
        assert!(offsets.sk_cgroup > offsets.skc_v6_daddr);
        // Two `u64`s of one `sched_entity`, two of one `sched_info` (this host has
        // `CONFIG_SCHED_INFO`, and a `sched_switch` with `prev_state`).
        assert_ne!(
            offsets.se_sum_exec_runtime,
            offsets.se_prev_sum_exec_runtime
        );
        assert_ne!(offsets.sched_info_pcount, offsets.sched_info_run_delay);
        assert!(offsets.sched_info_pcount > 0 && offsets.sched_info_run_delay > 0);
        assert_eq!(offsets.switch_has_prev_state, 1);
        // The wall's reads: none of these is a struct's first member.
        for (what, offset) in [
            ("file_dentry", offsets.file_dentry),
            ("file_mode", offsets.file_mode),
            ("dentry_parent", offsets.dentry_parent),
            ("dentry_name", offsets.dentry_name),
            ("inode_ino", offsets.inode_ino),
            ("sb_user_ns", offsets.sb_user_ns),
            ("userns_level", offsets.userns_level),
            ("socket_type", offsets.socket_type),
            ("se_sum_exec_runtime", offsets.se_sum_exec_runtime),
        ] {
            assert!(offset > 0, "{what} at 0");
        }
    }
}
