//! Descriptor syscalls (`fd_*`, fields 110–119) on the caller's own table, each
//! beside its access rule: `fd_open` is checked like a read, write or create of
//! its path; the others touch only the caller's own entries. The tables are in
//! [`crate::ipc::fdtable`].

use agentos_proto::v1 as pb;
use pb::{syscall::Call, syscall_result::Value};

use super::{
    Kernel,
    pipe::{offer, unit},
};
use crate::{
    capability::Access,
    error::KernelError,
    identity::Caller,
    ipc::fdtable::{self, reopen},
    vfs::local::OpenMode,
};

fn access(raw: i32) -> Result<fdtable::Access, KernelError> {
    use fdtable::Access as A;
    match pb::FdAccess::try_from(raw) {
        Ok(pb::FdAccess::Read) => Ok(A::Read),
        Ok(pb::FdAccess::Write) => Ok(A::Write),
        Ok(pb::FdAccess::Append) => Ok(A::Append),
        Ok(pb::FdAccess::Create) => Ok(A::Create),
        _ => Err(KernelError::InvalidArgument(format!(
            "fd access {raw}: FD_ACCESS_READ, _WRITE, _APPEND or _CREATE"
        ))),
    }
}

pub(super) async fn dispatch(
    k: &Kernel,
    caller: &Caller,
    call: Call,
) -> Result<Value, KernelError> {
    let fds = &k.ipc.fds;
    let who = caller.key();
    Ok(match call {
        Call::FdOpen(c) => {
            let how = access(c.access)?;
            let needs: super::access::PathAccess = match how {
                fdtable::Access::Read => Access::Read,
                fdtable::Access::Write | fdtable::Access::Append => Access::Write,
                fdtable::Access::Create => Access::Create,
            };
            let path = k.path(caller, &c.path, needs)?;
            let mode = match how {
                fdtable::Access::Read => OpenMode::Read,
                fdtable::Access::Write => OpenMode::WriteExisting,
                fdtable::Access::Append => OpenMode::Append,
                fdtable::Access::Create => OpenMode::CreateNew,
            };
            let walked = k.vfs.open_fd(&path, mode).await?.ok_or_else(|| {
                KernelError::Unsupported(format!(
                    "{path}: fds are for files on a host-backed (LocalFS) mount, and this one is in memory"
                ))
            })?;
            let own = reopen(&walked, how.flags())?;
            Value::Count(u64::from(fds.insert(&who, own)?))
        }
        Call::FdClose(c) => {
            fds.close(&who, c.fd)?;
            unit()
        }
        Call::FdDup(c) => Value::Count(u64::from(fds.dup(&who, c.fd)?)),
        Call::FdDup2(c) => Value::Count(u64::from(fds.dup2(&who, c.fd, c.new_fd)?)),
        Call::FdLseek(c) => Value::Count(fds.lseek(&who, c.fd, c.offset, c.whence)?),
        Call::FdFcntl(c) => Value::Count(fds.fcntl(&who, c.fd, c.set_flags)? as u64),
        Call::FdHandOver(c) => offer(k, caller, fds.get(&who, c.fd)?)?,
        _ => unreachable!("not an fd call"),
    })
}
