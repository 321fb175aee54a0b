//! Each syscall's name, as in `syscall.proto` (the `oneof` arm's field name): for
//! errors, metrics and `agentos call`.

use crate::v1::syscall::Call;

impl Call {
    /// The syscall's name, e.g. `"exists"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Read(_) => "read",
            Self::Write(_) => "write",
            Self::Create(_) => "create",
            Self::Delete(_) => "delete",
            Self::List(_) => "list",
            Self::Stat(_) => "stat",
            Self::Move(_) => "move",
            Self::Copy(_) => "copy",
            Self::Mkdir(_) => "mkdir",
            Self::Rmdir(_) => "rmdir",
            Self::Getcwd(_) => "getcwd",
            Self::Setcwd(_) => "setcwd",
            Self::Truncate(_) => "truncate",
            Self::Exists(_) => "exists",
            Self::SystemInfo(_) => "system_info",
            Self::GetEnv(_) => "get_env",
            Self::SetEnv(_) => "set_env",
            Self::Time(_) => "time",
            Self::Sleep(_) => "sleep",
            Self::Uptime(_) => "uptime",
            Self::Spawn(_) => "spawn",
            Self::Kill(_) => "kill",
            Self::GetInfo(_) => "get_info",
            Self::ListProcesses(_) => "list_processes",
            Self::SetPriority(_) => "set_priority",
            Self::GetState(_) => "get_state",
            Self::GetStats(_) => "get_stats",
            Self::Wait(_) => "wait",
            Self::Freeze(_) => "freeze",
            Self::MemoryStats(_) => "memory_stats",
            Self::ProcessMemoryStats(_) => "process_memory_stats",
            Self::TriggerGc(_) => "trigger_gc",
            Self::SendSignal(_) => "send_signal",
            Self::RegisterHandler(_) => "register_handler",
            Self::UnregisterHandler(_) => "unregister_handler",
            Self::BlockSignal(_) => "block_signal",
            Self::UnblockSignal(_) => "unblock_signal",
            Self::GetPending(_) => "get_pending",
            Self::GetSignalState(_) => "get_signal_state",
            Self::WaitForSignal(_) => "wait_for_signal",
            Self::ScheduleNext(_) => "schedule_next",
            Self::Yield(_) => "yield",
            Self::GetCurrent(_) => "get_current",
            Self::SchedulerStats(_) => "scheduler_stats",
            Self::SetPolicy(_) => "set_policy",
            Self::GetPolicy(_) => "get_policy",
            Self::SetQuantum(_) => "set_quantum",
            Self::GetQuantum(_) => "get_quantum",
            Self::BoostPriority(_) => "boost_priority",
            Self::LowerPriority(_) => "lower_priority",
            Self::SetFocus(_) => "set_focus",
            Self::PipeCreate(_) => "pipe_create",
            Self::PipeOpen(_) => "pipe_open",
            Self::PipeWrite(_) => "pipe_write",
            Self::PipeRead(_) => "pipe_read",
            Self::PipeClose(_) => "pipe_close",
            Self::PipeDestroy(_) => "pipe_destroy",
            Self::PipeStats(_) => "pipe_stats",
            Self::ShmCreate(_) => "shm_create",
            Self::ShmAttach(_) => "shm_attach",
            Self::ShmDetach(_) => "shm_detach",
            Self::ShmWrite(_) => "shm_write",
            Self::ShmRead(_) => "shm_read",
            Self::ShmDestroy(_) => "shm_destroy",
            Self::ShmStats(_) => "shm_stats",
            Self::QueueCreate(_) => "queue_create",
            Self::QueueSend(_) => "queue_send",
            Self::QueueReceive(_) => "queue_receive",
            Self::QueueSubscribe(_) => "queue_subscribe",
            Self::QueueUnsubscribe(_) => "queue_unsubscribe",
            Self::QueuePoll(_) => "queue_poll",
            Self::QueueDestroy(_) => "queue_destroy",
            Self::QueueStats(_) => "queue_stats",
            Self::ClipboardCopy(_) => "clipboard_copy",
            Self::ClipboardPaste(_) => "clipboard_paste",
            Self::ClipboardHistory(_) => "clipboard_history",
            Self::ClipboardSubscribe(_) => "clipboard_subscribe",
            Self::ClipboardClear(_) => "clipboard_clear",
            Self::FdOpen(_) => "fd_open",
            Self::FdClose(_) => "fd_close",
            Self::FdDup(_) => "fd_dup",
            Self::FdDup2(_) => "fd_dup2",
            Self::FdLseek(_) => "fd_lseek",
            Self::FdFcntl(_) => "fd_fcntl",
            Self::FdHandOver(_) => "fd_hand_over",
            Self::MmapOpen(_) => "mmap_open",
            Self::Socket(_) => "socket",
            Self::Bind(_) => "bind",
            Self::Listen(_) => "listen",
            Self::Accept(_) => "accept",
            Self::Connect(_) => "connect",
            Self::Send(_) => "send",
            Self::Recv(_) => "recv",
            Self::Sendto(_) => "sendto",
            Self::Recvfrom(_) => "recvfrom",
            Self::Setsockopt(_) => "setsockopt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1 as pb;

    #[test]
    fn names_are_the_proto_field_names() {
        assert_eq!(Call::Exists(pb::FileExists::default()).name(), "exists");
        assert_eq!(Call::Yield(pb::YieldCpu::default()).name(), "yield");
    }
}
