//! The process lifecycle as an explicit state machine.
//!
//! ```text
//! Creating ──▶ Initializing ──▶ Ready ──▶ Running ──▶ Exited
//!     │             │             │          │
//!     └─────────────┴─────────────┴──────────┴──────▶ Failed
//! ```
//!
//! * Creating: the spec is being checked; nothing exists on the host yet.
//! * Initializing: the cgroup exists and the sandbox is being built (clone, namespaces,
//!   mounts, landlock, capabilities, seccomp). A failure here undoes all of it.
//! * Ready: the program has exec'd and the process is in the table: from now on the
//!   scheduler sees it.
//! * Running: its I/O is wired and it is scheduled.
//! * Exited / Failed: final.

use agentos_proto::v1 as pb;

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessState {
    Creating,
    Initializing,
    Ready,
    Running,
    Exited,
    Failed,
}

/// A transition the state machine does not allow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a process cannot go from {from:?} to {to:?}")]
pub struct BadTransition {
    pub from: ProcessState,
    pub to: ProcessState,
}

impl ProcessState {
    /// Whether the process has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Exited | Self::Failed)
    }

    /// Whether the scheduler may see the process.
    pub fn is_schedulable(self) -> bool {
        matches!(self, Self::Ready | Self::Running)
    }

    /// Checks `self → to`.
    pub fn advance(self, to: ProcessState) -> Result<ProcessState, BadTransition> {
        use ProcessState::*;
        let ok = matches!(
            (self, to),
            (Creating, Initializing)
                | (Initializing, Ready)
                | (Ready, Running)
                | (Ready | Running, Exited)
                | (Creating | Initializing | Ready | Running, Failed)
        );
        if ok {
            Ok(to)
        } else {
            Err(BadTransition { from: self, to })
        }
    }

    pub fn to_proto(self) -> pb::ProcessState {
        match self {
            Self::Creating => pb::ProcessState::Creating,
            Self::Initializing => pb::ProcessState::Initializing,
            Self::Ready => pb::ProcessState::Ready,
            Self::Running => pb::ProcessState::Running,
            Self::Exited => pb::ProcessState::Exited,
            Self::Failed => pb::ProcessState::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ProcessState::*;

    #[test]
    fn only_forward_transitions_are_allowed() {
        assert_eq!(Creating.advance(Initializing), Ok(Initializing));
        assert_eq!(Initializing.advance(Ready), Ok(Ready));
        assert_eq!(Ready.advance(Running), Ok(Running));
        assert_eq!(Running.advance(Exited), Ok(Exited));
        assert_eq!(Initializing.advance(Failed), Ok(Failed));
        assert!(
            Creating.advance(Ready).is_err(),
            "no skipping initialisation"
        );
        assert!(Creating.advance(Running).is_err());
        assert!(Exited.advance(Running).is_err(), "final states are final");
        assert!(Failed.advance(Exited).is_err());
        assert!(
            Initializing.advance(Exited).is_err(),
            "exit needs an exec first"
        );
    }

    #[test]
    fn only_ready_and_running_are_schedulable() {
        for s in [Creating, Initializing, Exited, Failed] {
            assert!(!s.is_schedulable(), "{s:?}");
        }
        assert!(Ready.is_schedulable() && Running.is_schedulable());
    }
}
