//! File-mapping syscalls (`mmap_*`, fields 70–79), each beside its access rule:
//! `mmap_open` is checked like a read of its path, and a write as well when the
//! mapping is to be writable. The descriptor itself is made in
//! [`crate::ipc::mmap`]; the process maps, msyncs and unmaps it.

use agentos_proto::v1 as pb;
use pb::{syscall::Call, syscall_result::Value};

use super::{Kernel, pipe::offer};
use crate::{
    capability::Access, error::KernelError, identity::Caller, ipc::mmap::mappable,
    vfs::local::OpenMode,
};

pub(super) async fn dispatch(
    k: &Kernel,
    caller: &Caller,
    call: Call,
) -> Result<Value, KernelError> {
    Ok(match call {
        Call::MmapOpen(c) => {
            let path = k.path(caller, &c.path, Access::Read)?;
            if c.writable && caller.managed.is_some() {
                k.check(caller, Access::Write(k.host_path(&path)))?;
            }
            let walked = k.vfs.open_fd(&path, OpenMode::Read).await?.ok_or_else(|| {
                KernelError::Unsupported(format!(
                    "{path}: only files on a host-backed (LocalFS) mount can be mapped; this one is in memory"
                ))
            })?;
            offer(
                k,
                caller,
                std::sync::Arc::new(mappable(&walked, c.writable, path.as_str())?),
            )?
        }
        _ => unreachable!("not an mmap call"),
    })
}
