//! The probes on a host that is not Linux (macOS): there is no eBPF, so
//! [`ProcessProbes::start`] always fails with [`ProbeError::NotLinux`], the hub carries
//! userspace events only, and `doctor` says so. The types keep the Linux shape so the
//! managed-cgroup set and the process table stay the same on every host.

use tokio::sync::broadcast;

use super::{Owners, ProbeError, ProbeFigures, ProbeStatus, ProgramRunTime};
use crate::observe::event::ProcessEvent;

/// Live probes, which cannot exist on this host.
#[derive(Debug)]
pub enum ProcessProbes {}

impl ProcessProbes {
    /// Always fails: eBPF is Linux's.
    pub fn start(
        _tx: broadcast::Sender<ProcessEvent>,
        _owners: Owners,
        _kernel_cgroup: &std::path::Path,
    ) -> Result<Self, ProbeError> {
        Err(ProbeError::NotLinux)
    }

    pub fn status(&self) -> ProbeStatus {
        match *self {}
    }

    pub fn hot_attached(&self) -> bool {
        match *self {}
    }

    pub fn run_time_stats(&self) -> bool {
        match *self {}
    }

    pub fn figures(&self, _id: u64) -> Result<ProbeFigures, ProbeError> {
        match *self {}
    }

    pub fn run_times(&self) -> Vec<ProgramRunTime> {
        match *self {}
    }

    pub(crate) fn manage(&mut self, _id: u64) {
        match *self {}
    }

    pub(crate) fn unmanage(&mut self, _id: u64) {
        match *self {}
    }

    pub(crate) fn guard(&mut self, _id: u64, _rules: &WallRules) -> Result<(), String> {
        match *self {}
    }

    pub(crate) fn renetwork(&mut self, _id: u64, _rules: &WallRules) -> Result<(), String> {
        match *self {}
    }

    pub(crate) fn fence(&mut self, _id: u64, _walls: u32) {
        match *self {}
    }
}

/// The kernel wall's rules: nothing to hold without eBPF.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WallRules {
    /// Rules left out for want of room: none, as nothing is held.
    pub dropped: usize,
}

impl WallRules {
    pub fn from_grants(
        _grants: &crate::capability::SandboxGrants,
        _extra_read: &[std::path::PathBuf],
        _own_netns: bool,
    ) -> Self {
        Self::default()
    }

    pub fn network(_grants: &crate::capability::SandboxGrants, _own_netns: bool) -> Self {
        Self::default()
    }

    pub fn open_network(&mut self) {}
}

/// Whether each half of the wall is live: neither, here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WallStatus {
    pub open: Result<(), String>,
    pub connect: Result<(), String>,
    pub bind: Result<(), String>,
}

/// BPF LSM is Linux's.
pub fn bpf_lsm_active() -> Result<(), String> {
    Err("BPF LSM is Linux's; this host has none".to_owned())
}

/// The probe-cost bench's programs, which cannot be attached on this host.
pub enum FloorPrograms {}

impl FloorPrograms {
    /// Always fails: eBPF is Linux's.
    pub fn attach(
        _step: super::Step,
        _hooks: super::Hooks,
        _cgroup: &std::path::Path,
    ) -> Result<Self, ProbeError> {
        Err(ProbeError::NotLinux)
    }

    /// Never called: no value of this type exists.
    pub fn run_times(&self) -> Vec<super::ProgramRunTime> {
        match *self {}
    }
}

/// The host's BPF run-time statistics, which this host does not have.
pub enum RunTimeStats {}

impl RunTimeStats {
    /// Always fails: eBPF is Linux's.
    pub fn on() -> Result<Self, ProbeError> {
        Err(ProbeError::NotLinux)
    }
}

/// A sandbox's root held open: there are no mount namespaces to hold here.
#[derive(Debug)]
pub enum SandboxRoot {}

impl SandboxRoot {
    /// Always fails: mount namespaces are Linux's.
    pub fn of(_pid: u32) -> std::io::Result<Self> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}
