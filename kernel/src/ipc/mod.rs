//! IPC between managed processes: the Linux facility where there is one (pipes,
//! memfds), kernel-kept queues where the issue asks for them.
//!
//! * [`pipe`]: named `pipe2()` pairs the kernel holds; processes get their ends as
//!   real fds, so bytes flow process to process without the kernel.
//! * [`segment`]: memfd shared-memory segments sealed to their size, mapped by each
//!   process that attaches (a read-only descriptor for read-only grants).
//! * [`queue`]: FIFO, priority and pub/sub message queues the kernel keeps, bounded,
//!   with blocking receive and backpressure.
//! * [`clipboard`]: per-user clipboards of MIME-typed entries, with history and
//!   subscribers.
//! * [`fdtable`]: each caller's descriptor table of real open files (open through
//!   the VFS's confined walk, dup, dup2, lseek, fcntl), handed over on request.
//! * [`mmap`]: the descriptor a process maps a VFS file through (`O_RDONLY` for a
//!   read-only grant, so the mapping is read-only too); it maps it itself.
//! * [`handoff`]: how a managed process receives those fds: a one-shot ticket (from
//!   the syscall) redeemed on its own kernel socket, answered with `SCM_RIGHTS`
//!   through the shared-memory [`Broker`](crate::shm::Broker).
//!
//! Names are those of message channels, so the `send:`/`recv:` grants cover them.
//! What a managed process created is released when it exits ([`Ipc::release`]);
//! everything goes when the kernel stops (the tables drop their fds).

pub mod clipboard;
pub mod fdtable;
pub mod handoff;
pub mod mmap;
pub mod pipe;
pub mod queue;
pub mod segment;

use crate::error::KernelError;

/// Longest name of a pipe or segment.
pub const MAX_NAME: usize = 64;

/// The kernel's IPC objects.
#[derive(Default)]
pub struct Ipc {
    pub pipes: pipe::Pipes,
    pub segments: segment::Segments,
    pub queues: queue::Queues,
    pub clipboards: clipboard::Clipboards,
    pub fds: fdtable::FdTables,
}

impl Ipc {
    /// Drops every object the managed process `pid` created (its exit).
    pub fn release(&self, pid: u32) {
        self.pipes.release(pid);
        self.segments.release(pid);
        let key = crate::identity::Caller::managed_key(pid);
        self.queues.release(pid, &key);
        self.fds.release(&key);
    }
}

/// Checks an object name: a message-channel name (so a grant can cover it) of at
/// most [`MAX_NAME`] bytes.
pub fn check_name(name: &str) -> Result<(), KernelError> {
    if name.len() <= MAX_NAME && crate::capability::is_valid_channel(name) {
        Ok(())
    } else {
        Err(KernelError::InvalidArgument(format!(
            "IPC name {name:?}: a channel name (`.`-separated segments of A-Z a-z 0-9 - _) \
             of at most {MAX_NAME} bytes"
        )))
    }
}

/// The error for a name nothing is registered under.
fn not_found(what: &str, name: &str) -> KernelError {
    KernelError::NotFound(format!("{what} {name:?}"))
}

/// Only the creator (or the user) may destroy an object.
fn check_owner(
    what: &str,
    name: &str,
    owner: Option<u32>,
    caller: Option<u32>,
) -> Result<(), KernelError> {
    match (caller, owner) {
        (None, _) => Ok(()),
        (Some(c), Some(o)) if c == o => Ok(()),
        _ => Err(KernelError::PermissionDenied(format!(
            "{what} {name:?} belongs to {}; only its creator or the user may destroy it",
            owner.map_or("the user".to_owned(), |o| format!("process {o}"))
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_channel_names() {
        for good in ["a", "app.events-1_x", &"n".repeat(MAX_NAME)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a/b",
            "a b",
            "é",
            "*",
            "a..b",
            &"n".repeat(MAX_NAME + 1),
        ] {
            assert!(
                matches!(check_name(bad), Err(KernelError::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_the_creator_or_the_user_destroys() {
        assert!(check_owner("pipe", "p", Some(3), None).is_ok());
        assert!(check_owner("pipe", "p", Some(3), Some(3)).is_ok());
        assert!(check_owner("pipe", "p", Some(3), Some(4)).is_err());
        assert!(check_owner("pipe", "p", None, Some(4)).is_err());
    }
}
