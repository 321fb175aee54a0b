//! [`Network`]: the kernel's segments (bridges), its nftables table, the
//! attachment of each private or bridged process, and whether `shared` (whose
//! grants the kernel wall's cgroup programs hold) can be given.
//!
//! The table is made on the first attachment; a segment's bridge when its first
//! process joins and removed when its last one leaves. [`Attachment`] undoes one
//! process's part on drop (its egress chain, forwards and port reservations, and its
//! veth, which would otherwise live as long as anything pins its namespace).
//! [`Network::shutdown`] removes the rest.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use super::{
    NetError, NetMode, NetRequest, egress,
    forwards::{Forward, Reservation},
    links::{self, Bridge},
    modes,
    nft::Table,
};
use crate::{backend::Report, capability::NetworkRule};

/// One bridge and who is on it.
struct Segment {
    bridge: Bridge,
    /// Members reach each other (a bridged group) or not (the private segment).
    peers: bool,
    used: BTreeSet<u8>,
}

#[derive(Default)]
struct State {
    table_made: bool,
    /// `None`: the private segment; `Some(group)`: a bridged group.
    segments: BTreeMap<Option<String>, Segment>,
    shut: bool,
}

/// The network of one kernel.
pub struct Network {
    owner: PathBuf,
    bridges: Result<(), String>,
    /// Whether the kernel wall that `shared` relies on is live, and why not.
    shared: Mutex<Result<(), String>>,
    table: Table,
    state: Mutex<State>,
}

/// One process's place on a bridge; dropping it removes its rules.
pub struct Attachment {
    net: Arc<Network>,
    n: u64,
    segment: Option<String>,
    host: u8,
    pub address: Ipv4Addr,
    pub veth: String,
    forwards: Vec<Forward>,
    _reserved: Vec<Reservation>,
    /// Grants the packet filter cannot enforce (host names).
    pub unenforced: Vec<String>,
}

impl Network {
    /// Checks what this host can do; creates nothing yet. `owner` is the data
    /// directory (the tag on everything made).
    pub fn detect(owner: &Path) -> Arc<Self> {
        let root = nix::unistd::geteuid().is_root();
        Arc::new(Self {
            owner: owner.to_owned(),
            bridges: modes::probe_bridges(root),
            shared: Mutex::new(Err(modes::SHARED_NOT_LOADED.into())),
            table: Table::for_this_kernel(),
            state: Mutex::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records whether the kernel wall's connect and bind programs are live (the eBPF probes
    /// load after the network is detected): `shared` is given only if they are.
    pub fn set_shared(&self, wall: Result<(), String>) {
        *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = wall;
    }

    fn shared(&self) -> Result<(), String> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether `mode` can be given here (before any spawn work).
    pub fn check(&self, mode: &NetMode) -> Result<(), NetError> {
        match mode {
            NetMode::None => Ok(()),
            NetMode::Shared => self
                .shared()
                .map_err(|why| NetError::Unavailable(modes::shared_unavailable(&why))),
            NetMode::Private | NetMode::Bridged { .. } => {
                self.bridges.clone().map_err(NetError::Unavailable)
            }
        }
    }

    /// The doctor's view: which modes work and why not.
    pub fn report(&self) -> Report {
        let shared = self.shared();
        let mut r = match (&self.bridges, &shared) {
            (Ok(()), Ok(())) => Report::yes(
                "netns + veth + bridge (rtnetlink) + nftables + cgroup BPF",
                "none, private, bridged and shared available",
            ),
            (Ok(()), Err(no)) => Report::yes(
                "netns + veth + bridge (rtnetlink) + nftables",
                format!(
                    "none, private and bridged available; shared is not: {}",
                    modes::shared_unavailable(no)
                ),
            ),
            (Err(why), Ok(())) => Report::no(
                "netns (loopback only) + cgroup BPF",
                format!("only none and shared: {why}"),
            ),
            (Err(why), Err(no)) => Report::no(
                "netns (loopback only)",
                format!("only none: {why}; and {}", modes::shared_unavailable(no)),
            ),
        };
        r.details.insert(
            "none".into(),
            "available: a network namespace with loopback only".into(),
        );
        let bridges = match &self.bridges {
            Ok(()) => "available".to_owned(),
            Err(why) => format!("unavailable: {why}"),
        };
        r.details.insert("private".into(), bridges.clone());
        r.details.insert("bridged".into(), bridges);
        r.details.insert(
            "shared".into(),
            match &shared {
                Ok(()) => modes::SHARED_AVAILABLE.to_owned(),
                Err(why) => format!("unavailable: {}", modes::shared_unavailable(why)),
            },
        );
        if self.bridges.is_ok() {
            r.details
                .insert("ip_forward".into(), modes::ip_forward_note());
            r.details
                .insert("nft_table".into(), format!("inet {}", self.table.name));
        }
        #[cfg(not(target_os = "linux"))]
        let r = super::portable::report(r);
        r
    }

    /// Puts process `n` (sandbox init `pid`, in its own network namespace, not yet
    /// running the program) on its segment with egress by `rules`. `None` for mode
    /// none.
    pub fn attach(
        self: &Arc<Self>,
        pid: i32,
        n: u64,
        req: &NetRequest,
        rules: &[NetworkRule],
    ) -> Result<Option<Attachment>, NetError> {
        self.check(&req.mode)?;
        let key = match &req.mode {
            // Shared stays in the host's namespace: nothing to make; the wall holds its grants.
            NetMode::None | NetMode::Shared => return Ok(None),
            NetMode::Private => None,
            NetMode::Bridged { group } => Some(group.clone()),
        };
        let reserved = req
            .forwards
            .iter()
            .map(Forward::reserve)
            .collect::<Result<Vec<_>, _>>()?;
        let egress = egress::egress(rules);
        let mut st = self.state();
        if st.shut {
            return Err(NetError::Unavailable("the kernel is shutting down".into()));
        }
        if !st.table_made {
            self.table.create(&self.owner)?;
            st.table_made = true;
        }
        if !st.segments.contains_key(&key) {
            let bridge = Bridge::create(&self.owner)?;
            let peers = key.is_some();
            if let Err(e) = self.table.add_bridge(&bridge.name, peers) {
                let _ = bridge.delete();
                return Err(e);
            }
            st.segments.insert(
                key.clone(),
                Segment {
                    bridge,
                    peers,
                    used: BTreeSet::new(),
                },
            );
        }
        let seg = st.segments.get_mut(&key).expect("inserted above");
        let Some(host) = links::hosts().find(|h| !seg.used.contains(h)) else {
            return Err(NetError::Exhausted(format!(
                "segment {} has no free address",
                seg.bridge.name
            )));
        };
        let address = seg.bridge.address(host);
        let isolated = !seg.peers;
        let made = seg
            .bridge
            .attach(pid, address, isolated, &self.owner)
            .and_then(|veth| {
                self.table
                    .add_process(n, address, &egress.rules, &req.forwards)
                    .map(|()| veth)
            });
        let veth = match made {
            Ok(v) => v,
            Err(e) => {
                self.release_segment(&mut st, &key);
                return Err(e);
            }
        };
        seg_used(&mut st, &key).insert(host);
        Ok(Some(Attachment {
            net: Arc::clone(self),
            n,
            segment: key,
            host,
            address,
            veth,
            forwards: req.forwards.clone(),
            _reserved: reserved,
            unenforced: egress.unenforced,
        }))
    }

    /// Removes a segment nobody uses any more.
    fn release_segment(&self, st: &mut State, key: &Option<String>) {
        if st.segments.get(key).is_some_and(|s| s.used.is_empty())
            && let Some(seg) = st.segments.remove(key)
        {
            if let Err(e) = self.table.remove_bridge(&seg.bridge.name, seg.peers) {
                tracing::warn!("removing {} from the nft table: {e}", seg.bridge.name);
            }
            if let Err(e) = seg.bridge.delete() {
                tracing::warn!("removing bridge {}: {e}", seg.bridge.name);
            }
        }
    }

    fn detach(&self, a: &Attachment) {
        if let Err(e) = links::delete_link_if_present(&a.veth) {
            tracing::warn!("removing {} of process {}: {e}", a.veth, a.n);
        }
        let mut st = self.state();
        if st.shut {
            return;
        }
        if let Err(e) = self.table.remove_process(a.n, a.address, &a.forwards) {
            tracing::warn!("removing the rules of process {} ({}): {e}", a.n, a.address);
        }
        if let Some(seg) = st.segments.get_mut(&a.segment) {
            seg.used.remove(&a.host);
        }
        self.release_segment(&mut st, &a.segment);
    }

    /// Removes the table and every bridge (daemon shutdown).
    pub fn shutdown(&self) -> Result<(), String> {
        let mut st = self.state();
        st.shut = true;
        let mut errors = Vec::new();
        if std::mem::take(&mut st.table_made)
            && let Err(e) = self.table.delete()
        {
            errors.push(e.to_string());
        }
        for (_, seg) in std::mem::take(&mut st.segments) {
            if let Err(e) = seg.bridge.delete() {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

fn seg_used<'s>(st: &'s mut State, key: &Option<String>) -> &'s mut BTreeSet<u8> {
    &mut st
        .segments
        .get_mut(key)
        .expect("the segment of a live attachment")
        .used
}

impl Attachment {
    /// Replaces the process's egress rules (after a revoke), in one transaction.
    pub fn set_rules(&self, rules: &[NetworkRule]) -> Result<(), NetError> {
        self.net
            .table
            .set_rules(self.n, &egress::egress(rules).rules)
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.net.detach(self);
    }
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("n", &self.n)
            .field("address", &self.address)
            .field("veth", &self.veth)
            .finish_non_exhaustive()
    }
}
