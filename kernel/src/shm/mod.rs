//! Shared memory the kernel hands to its clients.
//!
//! * [`region`]: a sealed memfd mapped into the kernel ([`Region`]), and the
//!   [`SharedBuf`] ranges of it that I/O fills.
//! * [`Broker`] (here) budgets regions and hands their fds out. gRPC cannot carry an
//!   fd, so a stream offers its region under a one-shot ticket bound to the caller's
//!   uid, and the client presents the ticket on `DIR/kernel.fds.sock` and receives
//!   the memfd as `SCM_RIGHTS` (the way Wayland and PipeWire pass buffers).
//!   Any fd can be offered the same way ([`Broker::offer_fd`]): the IPC syscalls
//!   hand out pipe ends and segments to a managed process, bound to that process
//!   ([`Claimant::Process`]), which redeems it on its own kernel socket
//!   (`crate::ipc::handoff`).

pub mod region;

use std::{
    collections::HashMap,
    io,
    os::fd::AsFd,
    os::fd::AsRawFd,
    sync::{Arc, Mutex, atomic::AtomicUsize},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{UnixListener, UnixStream},
};

pub use self::region::{ClientAccess, Region, SharedBuf};

/// Bytes in a ticket.
pub const TICKET_LEN: usize = 16;
/// How long an offer waits for its client.
pub const TICKET_TTL: Duration = Duration::from_secs(10);
/// Live region bytes the kernel allows, all clients together.
pub const DEFAULT_LIMIT: usize = 256 << 20;
/// How long a connection on the fd socket may take to send its ticket.
const TICKET_WAIT: Duration = Duration::from_secs(5);

pub type Ticket = [u8; TICKET_LEN];

/// Something whose fd the broker hands out: a region, a pipe end, a segment.
pub type Handout = Arc<dyn AsFd + Send + Sync>;

/// Who may redeem a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claimant {
    /// A connection on `kernel.fds.sock` from this uid.
    User(u32),
    /// A connection on this managed process's own kernel socket.
    Process(u32),
}

/// Why a ticket was refused; the client gets this text.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("unknown, used or expired ticket")]
    Unknown,
    #[error("the ticket was issued to another user or process")]
    WrongUser,
}

/// Why a region could not be made or offered.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    #[error(
        "shared memory: {len} more bytes would pass the kernel's limit of {limit} (in use: {used})"
    )]
    Exhausted {
        len: usize,
        limit: usize,
        used: usize,
    },
    #[error("shared memory: a sealed memfd could not be made: {0}")]
    Memfd(#[source] io::Error),
    #[error("shared memory: no ticket: getrandom failed: {0}")]
    Ticket(#[source] io::Error),
}

struct Offer {
    to: Claimant,
    item: Handout,
    expires: Instant,
}

/// Budgets shared regions and hands their fds to the clients they were made for.
pub struct Broker {
    offers: Mutex<HashMap<Ticket, Offer>>,
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl Default for Broker {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl Broker {
    pub fn new(limit: usize) -> Self {
        Self {
            offers: Mutex::default(),
            used: Arc::default(),
            limit,
        }
    }

    /// Live region bytes.
    pub fn used(&self) -> usize {
        self.used.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A new region of `len` bytes, within the budget, that the client may map as
    /// `access` says.
    pub fn region(&self, len: usize, access: ClientAccess) -> Result<Arc<Region>, ShmError> {
        self.region_named(c"agentos-stream", len, access)
    }

    /// As [`Broker::region`], with the memfd named `name` (`agentos-…`).
    pub fn region_named(
        &self,
        name: &std::ffi::CStr,
        len: usize,
        access: ClientAccess,
    ) -> Result<Arc<Region>, ShmError> {
        let charge = region::Charge::take(&self.used, len, self.limit).ok_or_else(|| {
            ShmError::Exhausted {
                len,
                limit: self.limit,
                used: self.used(),
            }
        })?;
        Region::new(name, charge, access)
            .map(Arc::new)
            .map_err(ShmError::Memfd)
    }

    /// Offers `region` to the user `uid`; the ticket is good once, for [`TICKET_TTL`].
    pub fn offer(&self, uid: u32, region: &Arc<Region>) -> Result<Ticket, ShmError> {
        self.offer_fd(Claimant::User(uid), Arc::clone(region) as Handout)
    }

    /// Offers `item`'s fd to `to`; the ticket is good once, for [`TICKET_TTL`].
    pub fn offer_fd(&self, to: Claimant, item: Handout) -> Result<Ticket, ShmError> {
        let ticket: Ticket = crate::identity::secret().map_err(ShmError::Ticket)?;
        let mut offers = self.offers.lock().expect("broker lock");
        let now = Instant::now();
        offers.retain(|_, o| o.expires > now);
        offers.insert(
            ticket,
            Offer {
                to,
                item,
                expires: now + TICKET_TTL,
            },
        );
        Ok(ticket)
    }

    /// Drops an offer nobody claimed (its stream was cancelled).
    pub fn withdraw(&self, ticket: &Ticket) {
        self.offers.lock().expect("broker lock").remove(ticket);
    }

    /// What was offered under `ticket`, if it was offered to `by`. A ticket is
    /// spent by any claim, even a refused one: one shown by the wrong user leaked.
    pub fn claim(&self, ticket: &[u8], by: Claimant) -> Result<Handout, ClaimError> {
        let ticket: Ticket = ticket.try_into().map_err(|_| ClaimError::Unknown)?;
        let offer = self
            .offers
            .lock()
            .expect("broker lock")
            .remove(&ticket)
            .filter(|o| o.expires > Instant::now())
            .ok_or(ClaimError::Unknown)?;
        if offer.to != by {
            return Err(ClaimError::WrongUser);
        }
        Ok(offer.item)
    }

    /// Serves the fd socket: each connection sends a ticket and gets back either one
    /// byte `0` carrying the memfd, or byte `1` and the reason it was refused.
    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("fd socket: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let broker = Arc::clone(&self);
            tokio::spawn(async move {
                if let Err(e) = broker.hand_over(stream).await {
                    tracing::debug!("fd socket: {e}");
                }
            });
        }
    }

    async fn hand_over(&self, stream: UnixStream) -> io::Result<()> {
        let uid = stream.peer_cred()?.uid();
        self.redeem(stream, Claimant::User(uid)).await
    }

    /// Reads a ticket from `stream` and answers it for `by`: byte `0` with the fd,
    /// or byte `1` and the reason.
    pub async fn redeem(&self, mut stream: UnixStream, by: Claimant) -> io::Result<()> {
        let mut ticket = [0u8; TICKET_LEN];
        tokio::time::timeout(TICKET_WAIT, stream.read_exact(&mut ticket))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no ticket"))??;
        match self.claim(&ticket, by) {
            Ok(item) => send_fd(&stream, item.as_fd()).await,
            Err(e) => stream.write_all(format!("\x01{e}").as_bytes()).await,
        }
    }
}

/// Sends byte `0` with `fd` attached.
async fn send_fd(stream: &UnixStream, fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    // No SIGPIPE for a client that hung up; macOS has no MSG_NOSIGNAL, and Rust programs
    // ignore SIGPIPE anyway.
    #[cfg(target_os = "linux")]
    const SEND_FLAGS: MsgFlags = MsgFlags::MSG_NOSIGNAL;
    #[cfg(not(target_os = "linux"))]
    const SEND_FLAGS: MsgFlags = MsgFlags::empty();
    let fds = [fd.as_raw_fd()];
    loop {
        stream.writable().await?;
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            sendmsg::<()>(
                stream.as_raw_fd(),
                &[io::IoSlice::new(&[0])],
                &[ControlMessage::ScmRights(&fds)],
                SEND_FLAGS,
                None,
            )
            .map_err(io::Error::from)
        });
        match sent {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_good_once_and_only_for_its_user() {
        let broker = Broker::new(1 << 20);
        let region = broker.region(4096, ClientAccess::Read).unwrap();
        let (me, other) = (Claimant::User(1000), Claimant::User(1001));
        let t = broker.offer(1000, &region).unwrap();
        assert_eq!(broker.claim(&t, other).err(), Some(ClaimError::WrongUser));
        // the refused claim spent it
        assert_eq!(broker.claim(&t, me).err(), Some(ClaimError::Unknown));
        let t = broker.offer(1000, &region).unwrap();
        let got = broker.claim(&t, me).unwrap();
        assert!(std::ptr::addr_eq(Arc::as_ptr(&got), Arc::as_ptr(&region)));
        assert_eq!(broker.claim(&t, me).err(), Some(ClaimError::Unknown));
        assert_eq!(broker.claim(&t[..3], me).err(), Some(ClaimError::Unknown));
        let t = broker.offer(1000, &region).unwrap();
        broker.withdraw(&t);
        assert_eq!(broker.claim(&t, me).err(), Some(ClaimError::Unknown));
        // A process's ticket is its own: not its uid's, not another process's.
        let t = broker
            .offer_fd(Claimant::Process(7), Arc::clone(&region) as Handout)
            .unwrap();
        assert_eq!(
            broker.claim(&t, Claimant::Process(8)).err(),
            Some(ClaimError::WrongUser)
        );
        let t = broker
            .offer_fd(Claimant::Process(7), Arc::clone(&region) as Handout)
            .unwrap();
        assert_eq!(broker.claim(&t, me).err(), Some(ClaimError::WrongUser));
        let t = broker
            .offer_fd(Claimant::Process(7), Arc::clone(&region) as Handout)
            .unwrap();
        assert!(broker.claim(&t, Claimant::Process(7)).is_ok());
    }

    #[test]
    fn regions_stay_within_the_budget_and_give_it_back() {
        let broker = Broker::new(3 << 20);
        let a = broker.region(2 << 20, ClientAccess::Read).unwrap();
        assert_eq!(broker.used(), 2 << 20);
        let e = broker
            .region(2 << 20, ClientAccess::Read)
            .err()
            .expect("over the limit");
        assert!(matches!(e, ShmError::Exhausted { .. }), "{e}");
        let t = broker.offer(0, &a).unwrap();
        drop(a);
        // the pending offer still holds it
        assert_eq!(broker.used(), 2 << 20);
        broker.withdraw(&t);
        assert_eq!(broker.used(), 0);
        assert!(broker.region(3 << 20, ClientAccess::ReadWrite).is_ok());
        assert_eq!(broker.used(), 0, "dropped at once");
    }

    /// A new shared mapping of the first 8 KiB of `fd`, as a client would make.
    unsafe fn map(fd: i32, prot: libc::c_int) -> *mut libc::c_void {
        // SAFETY: a new mapping; the caller checks the result.
        unsafe { libc::mmap(std::ptr::null_mut(), 8192, prot, libc::MAP_SHARED, fd, 0) }
    }

    #[test]
    fn a_region_is_sealed_against_resizing_and_new_writable_mappings() {
        let broker = Broker::default();
        let region = broker.region(8192, ClientAccess::Read).unwrap();
        let fd = region.fd().as_raw_fd();
        // SAFETY: plain fcntl/ftruncate/mmap calls on a valid fd; results checked.
        unsafe {
            let seals = libc::fcntl(fd, libc::F_GET_SEALS);
            let want = ClientAccess::Read.seals();
            assert_eq!(seals & want, want);
            assert_eq!(libc::ftruncate(fd, 4096), -1, "shrinking must fail");
            assert_eq!(libc::ftruncate(fd, 1 << 20), -1, "growing must fail");
            let w = map(fd, libc::PROT_READ | libc::PROT_WRITE);
            assert_eq!(w, libc::MAP_FAILED, "a new writable mapping must fail");
            let r = map(fd, libc::PROT_READ);
            assert_ne!(r, libc::MAP_FAILED, "a read-only mapping works");
            // what the kernel writes through its own mapping, a reader sees
            let n = region.slice(4096, 3).fill(b"abc");
            assert_eq!(n, 3);
            assert_eq!(
                std::slice::from_raw_parts(r.cast::<u8>().add(4096), 3),
                b"abc"
            );
            libc::munmap(r, 8192);
        }
        // A write's region: the client maps it writable, and the kernel sees its bytes.
        let region = broker.region(8192, ClientAccess::ReadWrite).unwrap();
        let fd = region.fd().as_raw_fd();
        // SAFETY: as above.
        unsafe {
            assert_eq!(libc::ftruncate(fd, 4096), -1, "shrinking must fail");
            let w = map(fd, libc::PROT_READ | libc::PROT_WRITE);
            assert_ne!(w, libc::MAP_FAILED);
            std::ptr::copy_nonoverlapping(b"xyz".as_ptr(), w.cast::<u8>().add(100), 3);
            assert_eq!(region.slice(100, 3).as_slice(), b"xyz");
            libc::munmap(w, 8192);
        }
    }
}
