//! Shared-memory streams on hosts other than Linux: refused, since their control
//! rings wait on futexes (and the broker has no sealed memfd to offer anyway);
//! the inline transport works everywhere.

use std::sync::Arc;

use super::{Inbound, Sender, read::Span};
use crate::{
    error::KernelError,
    identity::Caller,
    kernel::Kernel,
    vfs::{Reader, Writer},
};

/// A refused stream holds nothing.
pub(super) const REGION_MAX: usize = 0;
pub(super) const DEPTH: usize = 2;

fn unsupported() -> KernelError {
    KernelError::Unsupported(
        "shared-memory streams need Linux (memfd, futex); use the inline transport".into(),
    )
}

pub(super) mod read {
    use super::*;

    pub(in crate::syscall::stream) fn start(
        _: &Arc<Kernel>,
        _: &Caller,
        _: Reader,
        _: Span,
        _: Inbound,
        _: Sender,
    ) -> Result<(), KernelError> {
        Err(unsupported())
    }
}

pub(super) mod write {
    use super::*;

    pub(in crate::syscall::stream) fn start(
        _: &Arc<Kernel>,
        _: &Caller,
        _: Writer,
        _: usize,
        _: Inbound,
        _: Sender,
    ) -> Result<(), KernelError> {
        Err(unsupported())
    }
}
