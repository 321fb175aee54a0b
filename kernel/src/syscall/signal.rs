//! Signal syscalls: send, register/unregister a handler, block/unblock, pending,
//! state, wait. Semantics are in [`crate::signal`].

use std::time::Duration;

use agentos_proto::v1 as pb;
use pb::syscall_result::Value;

use super::{Kernel, access::control};
use crate::{capability::Access, error::KernelError, identity::Caller, signal::SignalState};

/// Longest wait_for_signal.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The managed process a handler registration comes from: the caller itself.
fn own_pid(k: &Kernel, caller: &Caller) -> Result<u32, KernelError> {
    caller
        .pid
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| k.processes.get(*p).is_ok())
        .ok_or_else(|| {
            KernelError::FailedPrecondition(
                "only a managed process registers its own handlers (through its kernel socket)"
                    .into(),
            )
        })
}

pub(super) fn send(k: &Kernel, c: &Caller, r: pb::SendSignal) -> Result<Value, KernelError> {
    k.check(c, control(c, r.pid))?;
    Ok(Value::Flag(k.signals.send(
        &k.processes,
        r.pid,
        r.signal,
    )?))
}

pub(super) fn register(
    k: &Kernel,
    caller: &Caller,
    sig: i32,
    on: bool,
) -> Result<Value, KernelError> {
    // A process's own handler registrations concern only itself: no access needed.
    k.signals.register_handler(own_pid(k, caller)?, sig, on)?;
    Ok(Value::Unit(pb::Unit {}))
}

pub(super) fn block(
    k: &Kernel,
    c: &Caller,
    pid: u32,
    sig: i32,
    on: bool,
) -> Result<Value, KernelError> {
    k.check(c, control(c, pid))?;
    k.signals.block(&k.processes, pid, sig, on)?;
    Ok(Value::Unit(pb::Unit {}))
}

fn to_proto(pid: u32, s: SignalState) -> pb::SignalState {
    pb::SignalState {
        pid,
        pending: s.masks.pending,
        blocked: s.masks.blocked,
        ignored: s.masks.ignored,
        caught: s.masks.caught,
        handlers: s.handlers,
        kernel_blocked: s.kernel_blocked,
        kernel_pending: s.kernel_pending,
    }
}

pub(super) fn state(k: &Kernel, c: &Caller, pid: u32) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    Ok(Value::SignalState(to_proto(
        pid,
        k.signals.state(&k.processes, pid)?,
    )))
}

pub(super) async fn wait(
    k: &Kernel,
    caller: &Caller,
    r: pb::WaitForSignal,
) -> Result<Value, KernelError> {
    // Waiting for one's own signals concerns only oneself; another's needs a look.
    let pid = if r.pid == 0 {
        own_pid(k, caller)?
    } else {
        k.check(caller, Access::SystemInfo)?;
        r.pid
    };
    k.processes.get(pid)?;
    for s in &r.signals {
        crate::signal::check(*s)?;
    }
    let timeout = if r.timeout_ms == 0 {
        MAX_WAIT
    } else {
        Duration::from_millis(u64::from(r.timeout_ms)).min(MAX_WAIT)
    };
    Ok(Value::Signal(
        k.signals.wait(pid, &r.signals, timeout).await?,
    ))
}
