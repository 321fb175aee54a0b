//! Integration tests: each starts the real `agentos-kernel` binary on a temporary
//! data directory and talks gRPC to it over its Unix socket.

mod auth;
mod batch;
mod cancel;
mod capabilities;
mod cgroups;
mod clients;
mod crash;
mod delegated;
mod edge;
mod escapes;
mod events;
mod fs;
mod ipc;
mod ipc_mmap;
mod ipc_ring;
mod ipc_socket;
mod net;
mod probes;
mod process;
mod sandbox;
mod sched;
mod shared;
mod soak;
mod stream;
mod util;
mod wall;
