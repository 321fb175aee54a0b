//! The permission cache's keys: (pid, [`Access`]) hashed once, compared byte-wise.
//!
//! The hash is computed once per lookup and then serves both to pick the shard and
//! as the map's hash ([`Prehashed`] passes it through). It is a keyed
//! folded-multiply hash over the access's raw bytes, about 5 ns for a typical
//! path, where `Path`'s own `Hash` fed to SipHash takes ~60 ns (it writes each
//! component separately). It is not collision-resistant against an adversary who
//! could learn the key; a process that managed to collide its paths would only
//! lengthen probe sequences in its shard, which holds a bounded number of entries.
//!
//! Keys compare paths byte for byte (`/a//b` and `/a/b` are different keys with the
//! same decision), so that equality agrees with the byte-wise hash.

use std::{
    borrow::Borrow,
    hash::{BuildHasher, Hash, Hasher, RandomState},
    net::IpAddr,
    os::unix::ffi::OsStrExt,
};

use super::{
    access::Access,
    cache::Pid,
    net::{Host, Protocol},
};

/// A stored key, with its hash computed once.
#[derive(Clone)]
pub(super) struct Key {
    pub hash: u64,
    pub pid: Pid,
    pub access: Access,
}

/// A key to look up without cloning the `Access`.
pub(super) struct Probe<'a> {
    pub hash: u64,
    pub pid: Pid,
    pub access: &'a Access,
}

/// What stored keys and probes have in common, so that a `HashMap<Key, _>` can be
/// searched with a `Probe` (`Key: Borrow<dyn KeyView>`).
pub(super) trait KeyView {
    fn hash(&self) -> u64;
    fn pid(&self) -> Pid;
    fn access(&self) -> &Access;
}

impl KeyView for Key {
    fn hash(&self) -> u64 {
        self.hash
    }
    fn pid(&self) -> Pid {
        self.pid
    }
    fn access(&self) -> &Access {
        &self.access
    }
}

impl KeyView for Probe<'_> {
    fn hash(&self) -> u64 {
        self.hash
    }
    fn pid(&self) -> Pid {
        self.pid
    }
    fn access(&self) -> &Access {
        self.access
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(KeyView::hash(self));
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.hash() == other.hash()
            && self.pid() == other.pid()
            && same_access(self.access(), other.access())
    }
}

impl Eq for dyn KeyView + '_ {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.pid == other.pid && same_access(&self.access, &other.access)
    }
}

impl Eq for Key {}

/// Equality that agrees with [`KeyHasher::key`]: paths byte for byte.
fn same_access(a: &Access, b: &Access) -> bool {
    use Access as A;
    match (a, b) {
        (A::Read(x), A::Read(y))
        | (A::Write(x), A::Write(y))
        | (A::Create(x), A::Create(y))
        | (A::Delete(x), A::Delete(y))
        | (A::List(x), A::List(y)) => x.as_os_str() == y.as_os_str(),
        _ => a == b,
    }
}

/// Passes on a hash computed beforehand (the keys' `Hash` writes one `u64`).
#[derive(Default)]
pub(super) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached: keys write exactly one u64. Still a valid hash if it were.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;
const MUL2: u64 = 0xc6a4_a793_5bd1_e995;

/// The 128-bit product of `a` and `b`, folded to 64 bits.
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The keyed hash of cache keys.
#[derive(Clone, Copy)]
pub(super) struct KeyHasher {
    seed: u64,
}

impl KeyHasher {
    /// A hasher with a random key.
    pub fn new() -> Self {
        Self {
            seed: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }

    /// The hash of (pid, access).
    pub fn key(&self, pid: Pid, access: &Access) -> u64 {
        let tag: u64 = match access {
            Access::Read(_) => 1,
            Access::Write(_) => 2,
            Access::Create(_) => 3,
            Access::Delete(_) => 4,
            Access::List(_) => 5,
            Access::Spawn => 6,
            Access::Kill { target_owned } => 7 | u64::from(*target_owned) << 8,
            Access::Connect { port, proto, .. } => {
                let proto = match proto {
                    Protocol::Tcp => 0,
                    Protocol::Udp => 1,
                };
                8 | u64::from(*port) << 8 | proto << 24
            }
            Access::Bind(port) => 9 | u64::from(*port) << 8,
            Access::SystemInfo => 10,
            Access::Time => 11,
            Access::Send(_) => 12,
            Access::Receive(_) => 13,
        };
        let h = fold_mul(self.seed ^ u64::from(pid), MUL ^ tag.rotate_left(32));
        let h = match access {
            Access::Read(p)
            | Access::Write(p)
            | Access::Create(p)
            | Access::Delete(p)
            | Access::List(p) => self.bytes(h, p.as_os_str().as_bytes()),
            Access::Send(c) | Access::Receive(c) => self.bytes(h, c.as_bytes()),
            Access::Connect { addr, .. } => match addr {
                Host::Ip(IpAddr::V4(ip)) => self.bytes(h ^ 4, &ip.octets()),
                Host::Ip(IpAddr::V6(ip)) => self.bytes(h ^ 6, &ip.octets()),
                Host::Name(n) => self.bytes(h, n.as_bytes()),
            },
            _ => h,
        };
        fold_mul(h, MUL2)
    }

    /// Mixes `bytes` (and their length) into `h`, 16 bytes per multiply.
    fn bytes(&self, mut h: u64, bytes: &[u8]) -> u64 {
        let word = |b: &[u8]| {
            let mut w = [0u8; 8];
            w[..b.len()].copy_from_slice(b);
            u64::from_le_bytes(w)
        };
        let mut chunks = bytes.chunks_exact(16);
        for c in &mut chunks {
            let (a, b) = c.split_at(8);
            h = fold_mul(word(a) ^ h ^ self.seed, word(b) ^ MUL);
        }
        let rest = chunks.remainder();
        let (a, b) = rest.split_at(rest.len().min(8));
        fold_mul(
            word(a) ^ h ^ (bytes.len() as u64).rotate_left(56),
            word(b) ^ MUL2 ^ self.seed,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn keys_differ_by_every_field() {
        let h = KeyHasher::new();
        let accesses = [
            Access::Read("/a".into()),
            Access::Write("/a".into()),
            Access::Read("/b".into()),
            Access::Read("/a/".into()),
            Access::Read("/a/bcdefghijklmnopq".into()),
            Access::Read("/a/bcdefghijklmnopr".into()),
            Access::Kill { target_owned: true },
            Access::Kill {
                target_owned: false,
            },
            Access::Bind(1),
            Access::Bind(2),
            Access::Send("x".into()),
            Access::Receive("x".into()),
            Access::Connect {
                addr: Host::Ip("1.2.3.4".parse().unwrap()),
                port: 80,
                proto: Protocol::Tcp,
            },
            Access::Connect {
                addr: Host::Ip("1.2.3.4".parse().unwrap()),
                port: 80,
                proto: Protocol::Udp,
            },
            Access::Connect {
                addr: Host::Ip("::102:304".parse().unwrap()),
                port: 80,
                proto: Protocol::Tcp,
            },
        ];
        let mut seen = HashSet::new();
        for pid in [1, 2] {
            for a in &accesses {
                assert!(seen.insert(h.key(pid, a)), "collision at {pid} {a:?}");
            }
        }
        assert_eq!(h.key(1, &accesses[0]), h.key(1, &Access::Read("/a".into())));
    }

    #[test]
    fn hash_bits_are_spread() {
        // The shard (bits 32..) and the map's bucket (low bits) and control byte
        // (top 7 bits) must all vary across similar paths.
        let h = KeyHasher::new();
        let hashes: Vec<u64> = (0..4096)
            .map(|i| h.key(7, &Access::Read(format!("/home/app/file{i}").into())))
            .collect();
        for (shift, bits) in [(0, 8), (32, 4), (57, 7)] {
            let buckets: HashSet<u64> = hashes
                .iter()
                .map(|x| (x >> shift) & ((1 << bits) - 1))
                .collect();
            assert_eq!(buckets.len(), 1 << bits, "bits {shift}..{}", shift + bits);
        }
    }

    #[test]
    fn key_equality_is_byte_wise_for_paths() {
        let k = |p: &str| Key {
            hash: 0,
            pid: 1,
            access: Access::Read(p.into()),
        };
        assert!(k("/a/b") == k("/a/b"));
        assert!(k("/a//b") != k("/a/b"), "Path's == would call these equal");
    }
}
