//! Pipe syscalls (`pipe_*`, fields 50–59), each beside its access rule: a managed
//! process needs `send:NAME` for a pipe's write end (and to create it) and
//! `recv:NAME` for its read end. The pipes themselves are in [`crate::ipc::pipe`].

use agentos_proto::v1 as pb;
use pb::{syscall::Call, syscall_result::Value};

use super::Kernel;
use crate::{
    capability::Access,
    error::KernelError,
    identity::Caller,
    ipc::pipe::{DEFAULT_READ, End, MAX_READ},
    shm::{Claimant, Handout},
};

/// The accesses a pipe call makes.
pub(super) fn accesses(call: &Call) -> Vec<Access> {
    let by_end = |name: &str, end: i32| match pb::PipeEnd::try_from(end) {
        Ok(pb::PipeEnd::Read) => vec![Access::Receive(name.to_owned())],
        // An unspecified end is refused by the handler; ask for the stronger grant.
        _ => vec![Access::Send(name.to_owned())],
    };
    match call {
        Call::PipeCreate(c) => vec![Access::Send(c.name.clone())],
        Call::PipeOpen(c) => by_end(&c.name, c.end),
        Call::PipeClose(c) => by_end(&c.name, c.end),
        Call::PipeWrite(c) => vec![Access::Send(c.name.clone())],
        Call::PipeDestroy(c) => vec![Access::Send(c.name.clone())],
        Call::PipeRead(c) => vec![Access::Receive(c.name.clone())],
        Call::PipeStats(c) => vec![Access::Receive(c.name.clone())],
        _ => unreachable!("not a pipe call"),
    }
}

pub(super) async fn dispatch(
    k: &Kernel,
    caller: &Caller,
    call: Call,
) -> Result<Value, KernelError> {
    k.authorize(caller, &accesses(&call))?;
    let pipes = &k.ipc.pipes;
    Ok(match call {
        Call::PipeCreate(c) => {
            let p = pipes.create(&c.name, c.capacity, caller.managed)?;
            info(&p)
        }
        Call::PipeOpen(c) => {
            let fd = pipes.get(&c.name)?.open(end(c.end)?)?;
            offer(k, caller, fd)?
        }
        Call::PipeWrite(c) => Value::Count(pipes.get(&c.name)?.write(&c.data).await?),
        Call::PipeRead(c) => {
            let max = match c.max {
                0 => DEFAULT_READ,
                n if n > MAX_READ => {
                    return Err(KernelError::InvalidArgument(format!(
                        "pipe_read max {n}: at most {MAX_READ}"
                    )));
                }
                n => n,
            };
            Value::Data(pipes.get(&c.name)?.read(max as usize).await?)
        }
        Call::PipeClose(c) => {
            pipes.get(&c.name)?.close(end(c.end)?)?;
            unit()
        }
        Call::PipeDestroy(c) => {
            pipes.destroy(&c.name, caller.managed)?;
            unit()
        }
        Call::PipeStats(c) => {
            let p = pipes.get(&c.name)?;
            info(&p)
        }
        _ => unreachable!("not a pipe call"),
    })
}

fn end(raw: i32) -> Result<End, KernelError> {
    match pb::PipeEnd::try_from(raw) {
        Ok(pb::PipeEnd::Read) => Ok(End::Read),
        Ok(pb::PipeEnd::Write) => Ok(End::Write),
        _ => Err(KernelError::InvalidArgument(format!(
            "pipe end {raw}: PIPE_END_READ or PIPE_END_WRITE"
        ))),
    }
}

fn info(p: &crate::ipc::pipe::Pipe) -> Value {
    let s = p.stats();
    Value::Pipe(pb::PipeInfo {
        name: p.name.clone(),
        capacity: s.capacity,
        buffered: s.buffered,
        kernel_read_open: s.read_open,
        kernel_write_open: s.write_open,
        handed_out: s.handed_out,
        owner: p.owner.unwrap_or(0),
        kernel_bytes_written: s.written,
        kernel_bytes_read: s.read,
    })
}

pub(super) fn unit() -> Value {
    Value::Unit(pb::Unit {})
}

/// Offers `fd` to the caller: on its own socket when it is a managed process,
/// else on the kernel's fd socket for its uid.
pub(super) fn offer(k: &Kernel, caller: &Caller, fd: Handout) -> Result<Value, KernelError> {
    let to = match caller.managed {
        Some(pid) => Claimant::Process(pid),
        None => Claimant::User(caller.uid),
    };
    let ticket = k.shm.offer_fd(to, fd)?;
    Ok(Value::FdTicket(pb::FdTicket {
        ticket: ticket.to_vec(),
    }))
}
