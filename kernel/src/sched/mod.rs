//! The scheduler: which managed process gets the CPU, expressed through the host's
//! real controls.
//!
//! AgentOS does not context-switch processes itself; Linux does. The policies here
//! decide the knobs Linux schedules by:
//!
//! | policy | real control |
//! |---|---|
//! | priority | each process's nice level → `setpriority` and its cgroup's CPU weight (×1.25 per nice step) |
//! | fair | the same weights; vruntime = CPU time from the cgroup's accounting ÷ weight, so `schedule_next` names the process furthest behind its share |
//! | round-robin | when more processes contend than there are cores, all but `cores` are frozen (cgroup freezer) and the set rotates every quantum |
//!
//! Focus: the foreground process's weight is multiplied by the focus boost
//! ([`FOCUS_BOOST`] unless the desktop set another),
//! background ones keep their own, minimised ones are frozen when the
//! `freeze_minimised` setting is on. The syscalls are in `syscall/sched.rs`.
//!
//! Nothing is left on the host: frozen processes are thawed when the policy changes
//! away from round-robin and when the scheduler stops.
//!
//! # Failed control writes
//!
//! A weight or freezer write the host refuses is an error of the syscall that asked
//! for it (`set_policy`, `set_focus`, `boost_priority`, ...), and the scheduler keeps
//! the count and the last failure for `doctor` (the `sched` line), so a rotation in
//! the background that fails is not silent either. A process that exited meanwhile
//! and a host without the cpu controller (already said by doctor's `cgroups` line)
//! are not failures.

mod policy;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

pub use self::policy::Policy;
use crate::{
    error::KernelError,
    observe::collector::{Category, Collector, Record, Severity},
    process::{Process, ProcessTable, priority::weight_for_nice},
};

pub use agentos_proto::focus_boost::{DEFAULT as FOCUS_BOOST, RANGE as FOCUS_BOOST_RANGE};
/// Default quantum.
pub const DEFAULT_QUANTUM: Duration = Duration::from_millis(100);
/// Shortest and longest quantum accepted.
pub const QUANTUM_RANGE: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(10));

/// How a process's window is shown, for focus-aware weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Foreground,
    Background,
    Minimised,
}

#[derive(Default)]
struct State {
    policy: Policy,
    quantum: Option<Duration>,
    freeze_minimised: bool,
    /// `None`: [`FOCUS_BOOST`].
    focus_boost: Option<u32>,
    visibility: HashMap<u32, Visibility>,
    /// Round-robin order; the head `cores` entries run.
    queue: Vec<u32>,
    /// The processes round-robin holds frozen now.
    rr_frozen: HashSet<u32>,
    current: Option<u32>,
    switches: u64,
    /// Control writes the host refused, and the last one's message.
    failures: u64,
    last_failure: Option<String>,
}

/// Per-process scheduling facts.
#[derive(Clone, Debug, PartialEq)]
pub struct SchedInfo {
    pub pid: u32,
    pub nice: i32,
    pub weight: u32,
    pub cpu_usage_usec: u64,
    /// CPU time normalised by weight (the fair policy's clock).
    pub vruntime: f64,
    pub frozen: bool,
    pub visibility: Visibility,
}

/// The state one pass over the processes reads ([`Scheduler::pass`]).
struct Pass {
    policy: Policy,
    freeze_minimised: bool,
    focus_boost: u32,
    /// Per process of the pass, in its order.
    visibility: Vec<Visibility>,
}

/// The weight `p` should have under focus rules, with `focus_boost` for the foreground.
fn effective_weight(p: &Process, vis: Visibility, focus_boost: u32) -> u32 {
    let base = weight_for_nice(p.priority());
    match vis {
        Visibility::Foreground => (base * focus_boost).min(10_000),
        Visibility::Background | Visibility::Minimised => base,
    }
}

/// The scheduler.
pub struct Scheduler {
    processes: Arc<ProcessTable>,
    cores: usize,
    state: Mutex<State>,
    /// Where the decisions the scheduler takes on its own go (round-robin's
    /// switches, freezes and thaws, refused control writes); the ones a syscall
    /// asks for are recorded by `syscall/sched.rs`.
    collector: Arc<Collector>,
}

impl Scheduler {
    pub fn new(processes: Arc<ProcessTable>, collector: Arc<Collector>) -> Arc<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Self {
            processes,
            cores,
            state: Mutex::default(),
            collector,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn policy(&self) -> Policy {
        self.lock().policy
    }

    pub fn quantum(&self) -> Duration {
        self.lock().quantum.unwrap_or(DEFAULT_QUANTUM)
    }

    pub fn set_quantum(&self, q: Duration) -> Result<(), KernelError> {
        if q < QUANTUM_RANGE.0 || q > QUANTUM_RANGE.1 {
            return Err(KernelError::InvalidArgument(format!(
                "quantum {q:?} is outside 10 ms ..= 10 s"
            )));
        }
        self.lock().quantum = Some(q);
        Ok(())
    }

    /// The focused process's weight multiplier.
    pub fn focus_boost(&self) -> u32 {
        self.lock().focus_boost.unwrap_or(FOCUS_BOOST)
    }

    /// Sets the policy, whether minimised processes freeze, and (if given) the focus
    /// boost, then re-applies weights and freezing once. A boost out of range changes
    /// nothing.
    pub fn configure(
        &self,
        policy: Policy,
        freeze_minimised: bool,
        focus_boost: Option<u32>,
    ) -> Result<(), KernelError> {
        if let Some(boost) = focus_boost.filter(|b| !FOCUS_BOOST_RANGE.contains(b)) {
            return Err(KernelError::InvalidArgument(format!(
                "focus boost {boost} is outside {}..={}",
                FOCUS_BOOST_RANGE.start(),
                FOCUS_BOOST_RANGE.end()
            )));
        }
        {
            let mut s = self.lock();
            s.policy = policy;
            s.freeze_minimised = freeze_minimised;
            if focus_boost.is_some() {
                s.focus_boost = focus_boost;
            }
        }
        self.apply_all()
    }

    /// What a pass over `procs` reads of the state, taken under one lock (not once per
    /// process): the settings, and each process's visibility, in `procs`' order.
    fn pass(&self, procs: &[Arc<Process>]) -> Pass {
        let s = self.lock();
        Pass {
            policy: s.policy,
            freeze_minimised: s.freeze_minimised,
            focus_boost: s.focus_boost.unwrap_or(FOCUS_BOOST),
            visibility: procs
                .iter()
                .map(|p| {
                    s.visibility
                        .get(&p.pid)
                        .copied()
                        .unwrap_or(Visibility::Background)
                })
                .collect(),
        }
    }

    /// Applies weights and freezing to every schedulable process. Every process is
    /// tried; the first refused write is the error (all are counted for doctor).
    pub fn apply_all(&self) -> Result<(), KernelError> {
        let procs = self.processes.schedulable();
        let pass = self.pass(&procs);
        let mut first = None;
        for (p, &vis) in procs.iter().zip(&pass.visibility) {
            let mut limits = p.limits();
            limits.cpu_weight = Some(effective_weight(p, vis, pass.focus_boost));
            self.note(p, p.update_limits(limits), &mut first);
            let frozen = pass.freeze_minimised && vis == Visibility::Minimised;
            if pass.policy != Policy::RoundRobin {
                self.note(p, p.sched_freeze(frozen), &mut first);
            }
        }
        if pass.policy == Policy::RoundRobin {
            self.rotate(false, &mut first);
        }
        first.map_or(Ok(()), Err)
    }

    /// Keeps a control write's failure: counted and remembered for doctor, and the
    /// first one of a pass kept for the caller. A process that exited meanwhile or a
    /// host without the controller is not a failure.
    fn note(&self, p: &Process, r: Result<(), KernelError>, first: &mut Option<KernelError>) {
        let Err(e) = r else { return };
        if e.code() == agentos_proto::v1::ErrorCode::Unsupported || p.state().is_final() {
            return;
        }
        tracing::warn!(pid = p.pid, error = %e, "scheduler control write failed");
        self.collector.emit(
            Record::now(Category::Scheduler, Severity::Warn, "control_write_failed")
                .pid(p.pid)
                .code(e.code() as i32),
        );
        {
            let mut s = self.lock();
            s.failures += 1;
            s.last_failure = Some(e.to_string());
        }
        first.get_or_insert(e);
    }

    /// The doctor line: the policy and the control writes the host refused.
    pub fn report(&self) -> crate::backend::Report {
        let s = self.lock();
        let mut r = match &s.last_failure {
            None => crate::backend::Report::yes(
                "cgroup",
                "policies act through cgroup CPU weights and the freezer",
            ),
            Some(why) => crate::backend::Report::no(
                "cgroup",
                format!(
                    "{} scheduler control write(s) failed; the last: {why}",
                    s.failures
                ),
            ),
        };
        r.details.insert("policy".into(), s.policy.as_str().into());
        r.details
            .insert("failed_control_writes".into(), s.failures.to_string());
        r
    }

    /// Focus: the foreground process gets the focus boost × its weight; a minimised
    /// one may be frozen.
    pub fn set_visibility(&self, pid: u32, vis: Visibility) -> Result<(), KernelError> {
        self.processes.get(pid)?;
        {
            let mut s = self.lock();
            if vis == Visibility::Foreground {
                for v in s.visibility.values_mut() {
                    if *v == Visibility::Foreground {
                        *v = Visibility::Background;
                    }
                }
            }
            s.visibility.insert(pid, vis);
        }
        self.apply_all()
    }

    /// Per-process facts, sorted by vruntime (the fair policy's order).
    pub fn infos(&self) -> Vec<SchedInfo> {
        let procs = self.processes.schedulable();
        let pass = self.pass(&procs);
        let mut out: Vec<SchedInfo> = procs
            .iter()
            .zip(pass.visibility)
            .map(|(p, vis)| {
                let weight = effective_weight(p, vis, pass.focus_boost);
                let stats = p.stats().ok();
                let cpu = stats.as_ref().map_or(0, |s| s.cpu_usage_usec);
                SchedInfo {
                    pid: p.pid,
                    nice: p.priority(),
                    weight,
                    cpu_usage_usec: cpu,
                    vruntime: cpu as f64 * 100.0 / f64::from(weight.max(1)),
                    frozen: stats.is_some_and(|s| s.frozen),
                    visibility: vis,
                }
            })
            .collect();
        out.sort_by(|a, b| a.vruntime.total_cmp(&b.vruntime));
        out
    }

    /// Picks the next process the policy favours and makes it current.
    /// Round-robin rotates the running set; priority picks the highest priority
    /// (lowest nice); fair picks the smallest vruntime.
    pub fn schedule_next(&self) -> Result<Option<u32>, KernelError> {
        let next = match self.policy() {
            Policy::RoundRobin => {
                let mut first = None;
                let head = self.rotate(true, &mut first);
                if let Some(e) = first {
                    return Err(e);
                }
                head
            }
            Policy::Priority => self
                .processes
                .schedulable()
                .iter()
                .min_by_key(|p| (p.priority(), p.pid))
                .map(|p| p.pid),
            Policy::Fair => self.infos().first().map(|i| i.pid),
        };
        let mut s = self.lock();
        if next != s.current {
            s.switches += 1;
            if let Some(pid) = next {
                self.collector.emit(
                    Record::now(Category::Scheduler, Severity::Info, "switch")
                        .pid(pid)
                        .value(s.switches),
                );
            }
        }
        s.current = next;
        Ok(next)
    }

    pub fn current(&self) -> Option<u32> {
        self.lock().current
    }

    pub fn switches(&self) -> u64 {
        self.lock().switches
    }

    /// The caller gives up its turn: under round-robin it goes to the back of the
    /// queue (and is frozen if others wait); under the other policies the next
    /// process is picked.
    pub fn yield_now(&self, pid: u32) -> Result<Option<u32>, KernelError> {
        {
            let mut s = self.lock();
            if let Some(i) = s.queue.iter().position(|&q| q == pid) {
                let q = s.queue.remove(i);
                s.queue.push(q);
            }
        }
        if self.policy() == Policy::RoundRobin {
            let mut first = None;
            self.rotate(false, &mut first);
            if let Some(e) = first {
                return Err(e);
            }
        }
        self.schedule_next()
    }

    /// Round-robin: refresh the queue from the table, optionally advance it by one,
    /// thaw the first `cores`, freeze the rest. Returns the head.
    fn rotate(&self, advance: bool, first: &mut Option<KernelError>) -> Option<u32> {
        let procs: BTreeMap<u32, Arc<Process>> = self
            .processes
            .schedulable()
            .into_iter()
            .map(|p| (p.pid, p))
            .collect();
        let (running, waiting) = {
            let mut s = self.lock();
            s.queue.retain(|pid| procs.contains_key(pid));
            for pid in procs.keys() {
                if !s.queue.contains(pid) {
                    s.queue.push(*pid);
                }
            }
            if advance && s.queue.len() > 1 {
                s.queue.rotate_left(1);
            }
            let n = self.cores.min(s.queue.len());
            (s.queue[..n].to_vec(), s.queue[n..].to_vec())
        };
        let writes: Vec<(u32, bool, Result<(), KernelError>)> = running
            .iter()
            .map(|pid| (*pid, false))
            .chain(waiting.iter().map(|pid| (*pid, true)))
            .map(|(pid, freeze)| (pid, freeze, procs[&pid].sched_freeze(freeze)))
            .collect();
        // What the writes changed, under one lock for the whole pass.
        let changed: Vec<(u32, bool)> = {
            let mut s = self.lock();
            let changed = writes
                .iter()
                .filter(|(.., r)| r.is_ok())
                .filter(|&&(pid, freeze, _)| {
                    if freeze {
                        s.rr_frozen.insert(pid)
                    } else {
                        s.rr_frozen.remove(&pid)
                    }
                })
                .map(|&(pid, freeze, _)| (pid, freeze))
                .collect();
            s.rr_frozen.retain(|pid| procs.contains_key(pid));
            changed
        };
        // An event when round-robin changes a process's state, not every quantum.
        for (pid, freeze) in changed {
            let name = if freeze { "rr_freeze" } else { "rr_thaw" };
            self.collector
                .emit(Record::now(Category::Scheduler, Severity::Info, name).pid(pid));
        }
        for (pid, _, r) in writes {
            self.note(&procs[&pid], r, first);
        }
        running.first().copied()
    }

    /// Runs the round-robin rotation every quantum while that policy is on.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(me.quantum()).await;
                if me.policy() == Policy::RoundRobin && me.processes.schedulable().len() > me.cores
                {
                    // A failure is counted for doctor by `note`; the loop goes on.
                    let _ = me.schedule_next();
                }
            }
        })
    }

    /// Thaws everything (on shutdown or policy change away from round-robin).
    pub fn thaw_all(&self) {
        let mut first = None;
        for p in self.processes.schedulable() {
            self.note(&p, p.sched_freeze(false), &mut first);
        }
        self.lock().rr_frozen.clear();
    }
}
