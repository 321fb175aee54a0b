//! Shared-memory syscalls (`shm_*`, fields 60–69), each beside its access rule: a
//! managed process needs `recv:NAME` to map a segment read-only, read it or see
//! its stats, and `send:NAME` as well to create, write, map writable or destroy.
//! The segments themselves are in [`crate::ipc::segment`].

use agentos_proto::v1 as pb;
use pb::{syscall::Call, syscall_result::Value};

use super::{
    Kernel,
    pipe::{offer, unit},
};
use crate::{capability::Access, error::KernelError, identity::Caller};

/// The accesses a shared-memory call makes.
pub(super) fn accesses(call: &Call) -> Vec<Access> {
    let recv = |n: &str| vec![Access::Receive(n.to_owned())];
    let both = |n: &str| vec![Access::Receive(n.to_owned()), Access::Send(n.to_owned())];
    match call {
        Call::ShmAttach(c) if !c.writable => recv(&c.name),
        Call::ShmAttach(c) => both(&c.name),
        Call::ShmCreate(c) => both(&c.name),
        Call::ShmWrite(c) => both(&c.name),
        Call::ShmDestroy(c) => both(&c.name),
        Call::ShmDetach(c) => recv(&c.name),
        Call::ShmRead(c) => recv(&c.name),
        Call::ShmStats(c) => recv(&c.name),
        _ => unreachable!("not a shared-memory call"),
    }
}

pub(super) fn dispatch(k: &Kernel, caller: &Caller, call: Call) -> Result<Value, KernelError> {
    k.authorize(caller, &accesses(&call))?;
    let segments = &k.ipc.segments;
    let who = caller.managed.unwrap_or(0);
    Ok(match call {
        Call::ShmCreate(c) => {
            let s = segments.create(&k.shm, &c.name, c.size, caller.managed)?;
            info(&s)
        }
        Call::ShmAttach(c) => {
            let fd = segments.get(&c.name)?.attach(who, c.writable)?;
            offer(k, caller, fd)?
        }
        Call::ShmDetach(c) => {
            segments.get(&c.name)?.detach(who)?;
            unit()
        }
        Call::ShmWrite(c) => Value::Count(segments.get(&c.name)?.write(c.offset, &c.data)?),
        Call::ShmRead(c) => Value::Data(segments.get(&c.name)?.read(c.offset, c.length)?),
        Call::ShmDestroy(c) => {
            segments.destroy(&c.name, caller.managed)?;
            unit()
        }
        Call::ShmStats(c) => {
            let s = segments.get(&c.name)?;
            info(&s)
        }
        _ => unreachable!("not a shared-memory call"),
    })
}

fn info(s: &crate::ipc::segment::Segment) -> Value {
    let st = s.stats();
    Value::Shm(pb::ShmInfo {
        name: s.name.clone(),
        size: st.size,
        attached: st.attached,
        owner: s.owner.unwrap_or(0),
        seals: st.seals,
    })
}
