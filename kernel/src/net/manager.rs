//! [`Network`]: the kernel's segments (bridges), its nftables table, the
//! attachment of each private or bridged process, and whether `shared` (whose
//! grants the kernel wall's cgroup programs hold) can be given.
//!
//! The table is made on the first attachment; a segment's bridge when its first
//! process joins and removed when its last one leaves. [`Attachment`] undoes one
//! process's part on drop (its egress chain, forwards and port reservations, and its
//! veth, which would otherwise live as long as anything pins its namespace).
//! [`Network::shutdown`] removes the rest. The DNS relay (`dns.rs`) starts with the
//! first private or bridged spawn and stops at shutdown.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use super::{
    NetError, NetMode, NetRequest,
    dns::{self, Relay, RelayPorts, Upstreams},
    egress,
    forwards::{Forward, Reservation},
    groups::{self, Groups, Membership},
    links::{self, Bridge},
    modes,
    nft::Table,
    proxied::{self, Proxied},
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

/// The DNS relay and the sandboxes' `resolv.conf`, once started.
struct Dns {
    relay: Relay,
    upstreams: Upstreams,
    resolv_conf: PathBuf,
}

/// The network of one kernel.
pub struct Network {
    owner: PathBuf,
    bridges: Result<(), String>,
    /// Whether rootless `private` works (a kernel without root), and why not.
    rootless: Result<(), String>,
    /// Whether the kernel wall that `shared` relies on is live, and why not.
    shared: Mutex<Result<(), String>>,
    /// Whether private and bridged processes get IPv6 too, and why not.
    v6: Result<(), String>,
    /// The upstream resolvers the kernel was configured with (else the host's).
    resolvers: Vec<SocketAddr>,
    /// Where the DNS relay's tasks run (none: a doctor's look, which starts nothing).
    rt: Option<tokio::runtime::Handle>,
    /// `None` until the first private or bridged spawn; then the relay, or why none.
    dns: Mutex<Option<Result<Dns, String>>>,
    table: Table,
    state: Mutex<State>,
    /// Rootless `bridged` groups (`groups.rs`).
    groups: Arc<Groups>,
}

/// One process's place on a bridge; dropping it removes its rules.
pub struct Attachment {
    net: Arc<Network>,
    n: u64,
    segment: Option<String>,
    host: u8,
    pub address: Ipv4Addr,
    /// Its IPv6 address, when the host has IPv6.
    pub address6: Option<Ipv6Addr>,
    pub veth: String,
    forwards: Vec<Forward>,
    reserved: Vec<Reservation>,
    /// Grants the packet filter cannot enforce (host names).
    pub unenforced: Vec<String>,
}

impl Network {
    /// Checks what this host can do; creates nothing yet. `owner` is the data
    /// directory (the tag on everything made); `resolvers` the relay's upstreams (empty:
    /// the host's).
    pub fn detect(owner: &Path, resolvers: &[SocketAddr]) -> Arc<Self> {
        let root = nix::unistd::geteuid().is_root();
        Arc::new(Self {
            owner: owner.to_owned(),
            bridges: modes::probe_bridges(root),
            rootless: if root {
                Err("the kernel runs as root: private processes get a veth and NAT".into())
            } else {
                modes::probe_rootless()
            },
            shared: Mutex::new(Err(modes::SHARED_NOT_LOADED.into())),
            v6: modes::probe_ipv6(),
            resolvers: resolvers.to_vec(),
            rt: tokio::runtime::Handle::try_current().ok(),
            dns: Mutex::default(),
            table: Table::for_this_kernel(),
            state: Mutex::default(),
            groups: Arc::default(),
        })
    }

    fn dns(&self) -> std::sync::MutexGuard<'_, Option<Result<Dns, String>>> {
        self.dns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `resolv.conf` to bind over a private or bridged sandbox's, starting the DNS
    /// relay on first use; `None` (the sandbox keeps the host's file) when there is no
    /// relay, for the reason in the doctor's report.
    pub fn resolv_conf(&self) -> Option<PathBuf> {
        if self.state().shut {
            return None;
        }
        let mut dns = self.dns();
        let started = dns.get_or_insert_with(|| self.start_dns());
        match started {
            Ok(d) => Some(d.resolv_conf.clone()),
            Err(why) => {
                tracing::debug!("no DNS relay: {why}");
                None
            }
        }
    }

    fn start_dns(&self) -> Result<Dns, String> {
        let rt = self
            .rt
            .as_ref()
            .ok_or("the network was not set up by a running kernel")?;
        let upstreams = Upstreams::detect(&self.resolvers)?;
        let relay = Relay::start(rt, upstreams.addrs.clone(), self.relay_v6())
            .map_err(|e| format!("binding the relay's sockets on the host's loopback: {e}"))?;
        let resolv_conf = dns::resolv_conf_path(&self.owner);
        let written = resolv_conf
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                dns::write_atomic(
                    &resolv_conf,
                    &upstreams.sandbox_resolv_conf(relay.ports.v6.is_some()),
                )
            });
        written.map_err(|e| format!("writing {}: {e}", resolv_conf.display()))?;
        Ok(Dns {
            relay,
            upstreams,
            resolv_conf,
        })
    }

    fn relay_ports(&self) -> Option<RelayPorts> {
        match &*self.dns() {
            Some(Ok(d)) => Some(d.relay.ports),
            _ => None,
        }
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
            NetMode::Private | NetMode::Bridged { .. } if self.proxies(mode) => Ok(()),
            // Not the rootless kind (`proxies` said no): the bridges, or why neither.
            NetMode::Private | NetMode::Bridged { .. } => self.bridges.clone().map_err(|why| {
                NetError::Unavailable(match &self.rootless {
                    Err(no) if !nix::unistd::geteuid().is_root() => format!("{why}; {no}"),
                    _ => why,
                })
            }),
        }
    }

    /// Whether `mode` is given the rootless way here, `private` or `bridged`
    /// ([`Self::proxy`] rather than [`Self::attach`]).
    pub fn proxies(&self, mode: &NetMode) -> bool {
        matches!(mode, NetMode::Private | NetMode::Bridged { .. })
            && self.bridges.is_err()
            && self.rootless.is_ok()
    }

    /// Rootless `bridged`: a place in `group` for a new process (its address), held
    /// until the membership drops.
    pub fn join(&self, group: &str) -> Result<Membership, NetError> {
        self.groups.join(group)
    }

    /// Rootless `private` (or `bridged`, as `member` of its group): loads the egress rules
    /// of `rules` into the namespace of sandbox init `pid` (not yet running the program)
    /// and binds the host ports of `forwards`; [`Self::serve`] then carries its
    /// connections.
    pub fn proxy(
        &self,
        ns: crate::sandbox::Namespaces,
        rules: &[NetworkRule],
        forwards: &[Forward],
        member: Option<Membership>,
    ) -> Result<Proxied, NetError> {
        if self.state().shut {
            return Err(NetError::Unavailable("the kernel is shutting down".into()));
        }
        Proxied::load(ns, rules, forwards, member)
    }

    /// Starts carrying the connections and DNS queries of `proxied`'s `sockets` (sent
    /// by its init).
    pub fn serve(
        &self,
        proxied: &mut Proxied,
        sockets: crate::sandbox::ProxySockets,
    ) -> Result<(), NetError> {
        let rt = self.rt.as_ref().ok_or_else(|| {
            NetError::Unavailable("the network was not set up by a running kernel".into())
        })?;
        proxied
            .serve(rt, sockets, self.relay_ports())
            .map_err(NetError::io("serving the rootless network's sockets"))
    }

    /// The doctor's view: which modes work and why not.
    pub fn report(&self) -> Report {
        let shared = self.shared();
        if let (Err(why), Ok(())) = (&self.bridges, &self.rootless) {
            return self.rootless_report(why, &shared);
        }
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
        let private = match self.check(&NetMode::Private) {
            Ok(()) => "available".to_owned(),
            Err(why) => format!("unavailable: {why}"),
        };
        r.details.insert("private".into(), private);
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
            r.details.insert("ipv6".into(), modes::ipv6_note(&self.v6));
            r.details.insert("dns".into(), self.dns_note());
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
        if let (Err(why), Some(f)) = (&self.v6, req.forwards.iter().find(|f| f.host.is_ipv6())) {
            return Err(NetError::Unavailable(format!("port forward {f}: {why}")));
        }
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
            self.table.create(&self.owner, self.relay_ports())?;
            st.table_made = true;
        }
        if !st.segments.contains_key(&key) {
            let bridge = Bridge::create(&self.owner, self.v6.is_ok())?;
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
        let address6 = seg.bridge.address6(host);
        // IPv6 forwards are relayed by the kernel (forwards.rs): their sockets start
        // serving now, and stop with the attachment.
        let reserved = reserved
            .into_iter()
            .zip(&req.forwards)
            .map(|(r, f)| r.carry(f, address6, self.rt.as_ref()))
            .collect::<Result<Vec<_>, _>>();
        let reserved = match reserved {
            Ok(r) => r,
            Err(e) => {
                self.release_segment(&mut st, &key);
                return Err(e);
            }
        };
        let seg = st.segments.get_mut(&key).expect("inserted above");
        let isolated = !seg.peers;
        let made = seg
            .bridge
            .attach(pid, host, isolated, &self.owner)
            .and_then(|veth| {
                self.table
                    .add_process(n, (address, address6), &egress.rules, &req.forwards)
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
            address6,
            veth,
            forwards: req.forwards.clone(),
            reserved,
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
        if let Err(e) = self
            .table
            .remove_process(a.n, (a.address, a.address6), &a.forwards)
        {
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
        // The relay's tasks end here; its sockets close with them.
        self.dns().take();
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

impl Network {
    /// Whether the DNS relay serves IPv6 too: only bridges reach its IPv6 address (a
    /// rootless private sandbox's IPv6 route ends in its own namespace, where TCP alone is
    /// carried, and its resolv.conf names IPv4 alone).
    fn relay_v6(&self) -> bool {
        self.v6.is_ok() && self.bridges.is_ok()
    }

    /// The doctor's view of a rootless kernel whose `private` is the proxied kind.
    fn rootless_report(&self, why: &str, shared: &Result<(), String>) -> Report {
        let (backend, modes) = match shared {
            Ok(()) => (
                "netns + nftables in each process's namespace + the kernel's relays + cgroup BPF",
                "none, private and bridged (rootless: TCP, UDP and DNS, carried by the kernel) \
                 and shared available",
            ),
            Err(_) => (
                "netns + nftables in each process's namespace + the kernel's relays",
                "none, private and bridged (rootless: TCP, UDP and DNS, carried by the kernel) \
                 available",
            ),
        };
        let mut r = Report::yes(backend, format!("{modes}; no veths or bridges: {why}"));
        r.details.insert(
            "none".into(),
            "available: a network namespace with loopback only".into(),
        );
        r.details.insert(
            "private".into(),
            format!("available ({})", proxied::CARRIES),
        );
        r.details
            .insert("bridged".into(), format!("available ({})", groups::CARRIES));
        r.details.insert(
            "shared".into(),
            match shared {
                Ok(()) => modes::SHARED_AVAILABLE.to_owned(),
                Err(no) => format!("unavailable: {}", modes::shared_unavailable(no)),
            },
        );
        r.details.insert("dns".into(), self.dns_note());
        r
    }

    /// The doctor's line on name resolution in private and bridged sandboxes.
    fn dns_note(&self) -> String {
        let at = match self.relay_v6() {
            true => format!("{} and {}", dns::RESOLVER, dns::RESOLVER6),
            false => dns::RESOLVER.to_string(),
        };
        let relay = format!(
            "sandboxes resolve through the kernel's relay at {at} (their own /etc/resolv.conf, \
             bound over the host's)"
        );
        match &*self.dns() {
            Some(Ok(d)) => {
                let p = d.relay.ports;
                let mut on = format!("127.0.0.1 udp {} tcp {}", p.v4.udp, p.v4.tcp);
                if let Some(p6) = p.v6 {
                    on += &format!(" and {} udp {} tcp {}", dns::RESOLVER6, p6.udp, p6.tcp);
                }
                format!(
                    "{relay}, listening on {on}, asking {} (from {})",
                    list(&d.upstreams.addrs),
                    d.upstreams.source
                )
            }
            Some(Err(why)) => format!("unavailable: {why}; sandboxes keep the host's resolv.conf"),
            None => match Upstreams::detect(&self.resolvers) {
                Ok(u) => format!(
                    "{relay}, started with the first private or bridged process, asking {} \
                     (from {})",
                    list(&u.addrs),
                    u.source
                ),
                Err(why) => format!("unavailable: {why}; sandboxes keep the host's resolv.conf"),
            },
        }
    }
}

fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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

    /// Stops its IPv6 forwards' relays and waits until their sockets are closed, so the
    /// host ports are free when the process is reported gone (dropping a relay only
    /// stops it; its sockets close once the runtime drops its task).
    pub async fn stop_relays(&mut self) {
        let (relays, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reserved)
            .into_iter()
            .partition(|r| matches!(r, Reservation::Relayed(_)));
        self.reserved = rest;
        for r in relays {
            if let Reservation::Relayed(relay) = r {
                relay.stop().await;
            }
        }
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
