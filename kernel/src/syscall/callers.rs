//! Per-caller state: working directory and environment.
//!
//! A caller on the Unix socket is its process (SO_PEERCRED pid): its environment is
//! seeded from `/proc/<pid>/environ` on first use, then changed only by its own
//! `set_env` calls; the daemon's environment is never read or changed. State of
//! processes that have exited is dropped when the table grows.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use crate::{identity::Caller, vfs::VirtPath};

/// Entries kept before exited callers are pruned.
const PRUNE_AT: usize = 1024;

struct State {
    cwd: VirtPath,
    env: BTreeMap<String, String>,
}

/// The table of caller states.
#[derive(Default)]
pub struct Callers {
    states: Mutex<HashMap<String, State>>,
}

impl Callers {
    fn with<T>(&self, caller: &Caller, f: impl FnOnce(&mut State) -> T) -> T {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let key = caller.key();
        if !states.contains_key(&key) && states.len() >= PRUNE_AT {
            states.retain(|k, _| {
                k.strip_prefix("pid:")
                    .is_none_or(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            });
        }
        let state = states.entry(key).or_insert_with(|| State {
            cwd: VirtPath::root(),
            env: initial_env(caller),
        });
        f(state)
    }

    pub fn cwd(&self, caller: &Caller) -> VirtPath {
        self.with(caller, |s| s.cwd.clone())
    }

    pub fn set_cwd(&self, caller: &Caller, cwd: VirtPath) {
        self.with(caller, |s| s.cwd = cwd);
    }

    pub fn env(&self, caller: &Caller) -> BTreeMap<String, String> {
        self.with(caller, |s| s.env.clone())
    }

    pub fn set_env(&self, caller: &Caller, key: String, value: Option<String>) {
        self.with(caller, |s| match value {
            Some(v) => s.env.insert(key, v),
            None => s.env.remove(&key),
        });
    }
}

/// The caller process's own environment, if we can read it.
fn initial_env(caller: &Caller) -> BTreeMap<String, String> {
    let Some(pid) = caller.pid else {
        return BTreeMap::new();
    };
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return BTreeMap::new();
    };
    raw.split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
