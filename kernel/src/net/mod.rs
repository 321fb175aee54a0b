//! Network modes of managed processes: `none`, `private`, `bridged` and `shared`
//! (the host's namespace, its grants held by the kernel wall's cgroup BPF programs,
//! `observe/probes/wall.rs`, from the same decision list as `private`'s nftables
//! chain, `egress.rs`), port forwards from the host's loopback, and the start-up
//! sweep of what a dead kernel left.
//!
//! Every sandbox gets its own network namespace at clone time (`sandbox/net.rs`
//! brings its loopback up). For `private` and `bridged`, the kernel then, while the
//! child still waits for its "go":
//!
//! 1. creates the segment's bridge on first use (`links.rs`): `agentosb<NN>`,
//!    `10.213.NN.1/24`, `fd61:6765:6e74:NN::1/64` and the DNS relay's IPv6 address
//!    `fd61:6765:6e74:ff::53/128`, forwarding (IPv6's `force_forwarding`) and
//!    `route_localnet` on that bridge only;
//! 2. creates a veth pair, `agentosv<pid hex>` on the bridge and `eth0` in the
//!    process's namespace with `10.213.NN.h/24`, `fd61:6765:6e74:NN::h/64` and a
//!    default route of each family (`links.rs`);
//! 3. adds the process's egress chain, built from its NetworkAccess grants
//!    (`egress.rs`; the same chain for both families), and its port forwards
//!    (`forwards.rs`) to the kernel's nftables table `inet agentos-k<pid hex>`
//!    (`nft.rs`), which also NATs the bridges out (both families). A forward from
//!    `[::1]` is not a rule but a relay of the kernel's (`forward_relay.rs`): IPv6
//!    never lets `::1` off the loopback device, so a DNAT's answer could not return.
//!
//! Before that, while the spawn is planned, the sandbox is given a `/etc/resolv.conf`
//! of the kernel's naming its DNS relay (`dns.rs`), bound over the host's in its mount
//! namespace.
//!
//! Links, addresses and routes go over rtnetlink (the `rtnetlink` crate, `rtnl.rs`;
//! inside a process's namespace from a thread that `setns`es into it), and rules
//! through `nft -f` (`tool.rs`): one nftables transaction per change, so a table,
//! its chains and rules appear together or not at all, which rtnetlink's link-by-link
//! requests could not give the rules.
//!
//! Sockets a caller asks the kernel for are made in its namespace and driven
//! for it by [`socket`].
//!
//! # What it leaves on the host, and who removes it
//!
//! A process's veth and rules go when its [`Attachment`] drops (the reaper drops it after exit); a bridge goes with the
//! last process of its segment; the table and any bridge left go at shutdown
//! ([`Network::shutdown`], registered with the clean-up orchestrator). After a
//! crash, [`sweep_orphans`] removes every interface and table tagged with a data
//! directory whose kernel is gone. The host's global sysctls are never changed; the
//! per-interface ones, and the addresses, go with their bridge. The DNS relay is two
//! sockets of the kernel's per family, and an IPv6 forward's relay the forward's
//! reserved socket: all closed with the kernel (a relay also with its process).
//!
//! # Portable backend
//!
//! Without root, `private` is the rootless kind (`proxied.rs`): the process's own
//! namespace, whose outgoing TCP its own nftables rules redirect to a listener the
//! kernel serves from the host's network, by the same grants; nothing is made on the
//! host. It carries TCP (IPv4, and IPv6 where the host has it), UDP the same (handed to
//! the kernel by `tproxy`: `udp_egress.rs`), DNS through the kernel's relay, and port
//! forwards in (the kernel's relay, connecting inside through a helper in the namespace)
//! alone (no ICMP); `bridged` groups are such sandboxes
//! at addresses of their group's own, whose TCP to each other the kernel carries through
//! the same helpers (`groups.rs`). Everything but `none` is refused without nftables,
//! with the reason (also in `agentos doctor`). slirp4netns and pasta need
//! `/dev/net/tun`, which is root's. Off Linux
//! (`portable.rs`) no mode is given; on macOS with the `macos-pf` feature a process's
//! grants become pf rules in an anchor of its own (`pf.rs` renders the same decision
//! list as `egress.rs`, `pfctl.rs` loads and flushes it).

mod dns;
pub(crate) mod egress;
mod error;
mod forward_relay;
mod forwards;
pub(crate) mod groups;
mod links;
mod manager;
mod modes;
mod nft;
mod proxied;
// pf's rule text is plain text, tested everywhere; only macOS loads it.
#[cfg(any(test, all(target_os = "macos", feature = "macos-pf")))]
mod pf;
#[cfg(all(target_os = "macos", feature = "macos-pf"))]
mod pfctl;
#[cfg(not(target_os = "linux"))]
mod portable;
#[cfg_attr(not(target_os = "linux"), path = "rtnl_portable.rs")]
mod rtnl;
pub mod socket;
mod sweep;
mod tool;
#[cfg(target_os = "linux")]
mod udp_egress;

pub use dns::{Relay as DnsRelay, RelayPorts, parse_resolver};
pub use error::NetError;
pub use forwards::{Forward, ForwardProto};
pub use groups::Membership;
pub use links::LINK_PREFIX;
pub use manager::{Attachment, Network};
pub use modes::{MAX_GROUP_LEN, NetMode, NetRequest, shared_wall};
pub use nft::TABLE_PREFIX;
#[cfg(all(target_os = "macos", feature = "macos-pf"))]
pub use pfctl::PfAnchor;
pub use proxied::Proxied;
pub use sweep::sweep_orphans;
