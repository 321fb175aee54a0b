//! Clipboard syscalls (`clipboard_*`, fields 180–189), each beside its access
//! rule: a managed process needs `send:clipboard` to copy or clear and
//! `recv:clipboard` to paste, list the history or wait for the next copy. The
//! clipboards themselves are in [`crate::ipc::clipboard`].

use std::time::Duration;

use agentos_proto::v1 as pb;
use pb::{syscall::Call, syscall_result::Value};

use super::{Kernel, pipe::unit};
use crate::{
    capability::Access,
    error::KernelError,
    identity::Caller,
    ipc::clipboard::{Entry, Format},
};

/// The channel name clipboard grants use.
const CHANNEL: &str = "clipboard";

/// The accesses a clipboard call makes.
pub(super) fn accesses(call: &Call) -> Vec<Access> {
    match call {
        Call::ClipboardCopy(_) | Call::ClipboardClear(_) => vec![Access::Send(CHANNEL.into())],
        _ => vec![Access::Receive(CHANNEL.into())],
    }
}

/// Whose clipboard: a managed process's is that of the user the kernel runs for.
fn user(caller: &Caller) -> u32 {
    match caller.managed {
        Some(_) => nix::unistd::geteuid().as_raw(),
        None => caller.uid,
    }
}

pub(super) async fn dispatch(
    k: &Kernel,
    caller: &Caller,
    call: Call,
) -> Result<Value, KernelError> {
    k.authorize(caller, &accesses(&call))?;
    let boards = &k.ipc.clipboards;
    let uid = user(caller);
    Ok(match call {
        Call::ClipboardCopy(c) => {
            let formats = c
                .formats
                .into_iter()
                .map(|f| Format {
                    mime: f.mime,
                    data: f.data,
                })
                .collect();
            Value::Count(boards.copy(uid, formats, caller.managed)?)
        }
        Call::ClipboardPaste(c) => {
            let e = boards.paste(uid, c.back as usize)?.only(&c.mime)?;
            Value::ClipboardEntry(entry(e))
        }
        Call::ClipboardHistory(c) => Value::ClipboardHistory(pb::ClipboardHistoryList {
            entries: boards
                .history(uid, c.limit as usize)
                .into_iter()
                .map(entry)
                .collect(),
        }),
        Call::ClipboardSubscribe(c) => {
            let wait = Duration::from_millis(u64::from(c.wait_ms));
            let e = boards.next(uid, c.after_seq, wait).await?.only(&c.mime)?;
            Value::ClipboardEntry(entry(e))
        }
        Call::ClipboardClear(_) => {
            boards.clear(uid);
            unit()
        }
        _ => unreachable!("not a clipboard call"),
    })
}

fn entry(e: Entry) -> pb::ClipboardEntry {
    pb::ClipboardEntry {
        seq: e.seq,
        formats: e
            .formats
            .into_iter()
            .map(|f| pb::ClipboardFormat {
                mime: f.mime,
                data: f.data,
            })
            .collect(),
        source_pid: e.source.unwrap_or(0),
        copied_unix_ns: e
            .copied
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64),
    }
}
