//! Message queues kept by the kernel: FIFO, priority and publish/subscribe.
//!
//! Every queue is bounded. A send to a full queue is refused at once
//! (RESOURCE_EXHAUSTED) or waits for room up to the caller's limit; a receive
//! waits for a message up to the caller's limit. Waiters sleep on a
//! [`Notify`]: no polling. Pub/sub gives each subscriber its own bounded buffer;
//! a publish that finds one full drops the message for that subscriber only
//! (counted), so one slow subscriber cannot stall the publisher or the others.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Notify;

use super::{check_name, check_owner, not_found};
use crate::error::KernelError;

/// Largest message, in bytes.
pub const MAX_MESSAGE: usize = 64 << 10;
/// Most messages a queue (or a subscriber's buffer) holds.
pub const MAX_CAPACITY: u32 = 1 << 16;
/// Capacity when none is asked for.
pub const DEFAULT_CAPACITY: u32 = 1024;
/// Live queues the kernel allows.
pub const MAX_QUEUES: usize = 1024;

/// How a queue orders its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Fifo,
    Priority,
    PubSub,
}

/// A message as it is received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub data: Vec<u8>,
    pub priority: i32,
    pub seq: u64,
}

/// Messages in receive order: a FIFO is a priority queue whose every message has
/// one priority; higher first, then lower `seq` first.
#[derive(Default)]
struct Buffer {
    by_order: BTreeMap<(Reverse<i32>, u64), Message>,
}

impl Buffer {
    fn push(&mut self, m: Message) {
        self.by_order.insert((Reverse(m.priority), m.seq), m);
    }

    fn pop(&mut self) -> Option<Message> {
        self.by_order.pop_first().map(|(_, m)| m)
    }

    fn len(&self) -> usize {
        self.by_order.len()
    }
}

#[derive(Default)]
struct State {
    /// FIFO and priority queues.
    shared: Buffer,
    /// Pub/sub: one buffer per subscriber.
    subscribers: HashMap<String, Buffer>,
    seq: u64,
    received: u64,
    dropped: u64,
}

/// A queue's counters, for `QueueStats` and `QueuePoll`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStats {
    pub length: u32,
    pub subscribers: u32,
    pub sent: u64,
    pub received: u64,
    pub dropped: u64,
    pub ready: bool,
}

/// One queue.
pub struct Queue {
    pub name: String,
    pub kind: Kind,
    pub capacity: u32,
    pub owner: Option<u32>,
    state: Mutex<State>,
    /// Woken when a message arrives.
    arrived: Notify,
    /// Woken when room is made.
    room: Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("queue lock")
    }

    /// Sends `data`, waiting up to `wait` for room in a full FIFO or priority
    /// queue. Returns the message's sequence number.
    pub async fn send(
        &self,
        data: Vec<u8>,
        priority: i32,
        wait: Duration,
    ) -> Result<u64, KernelError> {
        if data.len() > MAX_MESSAGE {
            return Err(KernelError::InvalidArgument(format!(
                "a message of {} bytes; queues carry at most {MAX_MESSAGE}",
                data.len()
            )));
        }
        let priority = if self.kind == Kind::Priority {
            priority
        } else {
            0
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let room = self.room.notified();
            {
                let mut st = self.lock();
                if self.kind == Kind::PubSub || st.shared.len() < self.capacity as usize {
                    st.seq += 1;
                    let m = Message {
                        data,
                        priority,
                        seq: st.seq,
                    };
                    let seq = m.seq;
                    if self.kind == Kind::PubSub {
                        let cap = self.capacity as usize;
                        let mut dropped = 0;
                        for buf in st.subscribers.values_mut() {
                            if buf.len() < cap {
                                buf.push(m.clone());
                            } else {
                                dropped += 1;
                            }
                        }
                        st.dropped += dropped;
                    } else {
                        st.shared.push(m);
                    }
                    drop(st);
                    self.arrived.notify_waiters();
                    return Ok(seq);
                }
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return Err(KernelError::ResourceExhausted(format!(
                    "queue {:?} is full ({} messages){}",
                    self.name,
                    self.capacity,
                    if wait.is_zero() {
                        String::new()
                    } else {
                        format!(" and stayed full for {wait:?}")
                    }
                )));
            }
        }
    }

    /// The next message for `who`, waiting up to `wait`.
    pub async fn receive(&self, who: &str, wait: Duration) -> Result<Message, KernelError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            {
                let mut st = self.lock();
                let got = match self.kind {
                    Kind::PubSub => st
                        .subscribers
                        .get_mut(who)
                        .ok_or_else(|| self.not_subscribed())?
                        .pop(),
                    _ => st.shared.pop(),
                };
                if let Some(m) = got {
                    st.received += 1;
                    drop(st);
                    self.room.notify_waiters();
                    return Ok(m);
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Err(KernelError::Timeout(wait));
            }
        }
    }

    fn not_subscribed(&self) -> KernelError {
        KernelError::FailedPrecondition(format!(
            "not subscribed to pub/sub queue {:?} (QueueSubscribe first)",
            self.name
        ))
    }

    /// Subscribes `who` to a pub/sub queue (again: nothing changes).
    pub fn subscribe(&self, who: &str) -> Result<(), KernelError> {
        if self.kind != Kind::PubSub {
            return Err(KernelError::FailedPrecondition(format!(
                "queue {:?} is not pub/sub",
                self.name
            )));
        }
        self.lock().subscribers.entry(who.to_owned()).or_default();
        Ok(())
    }

    pub fn unsubscribe(&self, who: &str) -> Result<(), KernelError> {
        self.lock()
            .subscribers
            .remove(who)
            .map(drop)
            .ok_or_else(|| self.not_subscribed())
    }

    /// The counters, as `who` sees them (its own buffer for pub/sub).
    pub fn stats(&self, who: &str) -> QueueStats {
        let st = self.lock();
        let length = match self.kind {
            Kind::PubSub => st.subscribers.get(who).map_or(0, Buffer::len),
            _ => st.shared.len(),
        } as u32;
        QueueStats {
            length,
            subscribers: st.subscribers.len() as u32,
            sent: st.seq,
            received: st.received,
            dropped: st.dropped,
            ready: length > 0,
        }
    }
}

/// The kernel's queues, by name.
#[derive(Default)]
pub struct Queues {
    by_name: Mutex<HashMap<String, Arc<Queue>>>,
}

impl Queues {
    pub fn create(
        &self,
        name: &str,
        kind: Kind,
        capacity: u32,
        owner: Option<u32>,
    ) -> Result<Arc<Queue>, KernelError> {
        check_name(name)?;
        let capacity = match capacity {
            0 => DEFAULT_CAPACITY,
            n if n > MAX_CAPACITY => {
                return Err(KernelError::InvalidArgument(format!(
                    "queue capacity {n}: at most {MAX_CAPACITY} messages"
                )));
            }
            n => n,
        };
        let mut queues = self.by_name.lock().expect("queues lock");
        if queues.contains_key(name) {
            return Err(KernelError::FailedPrecondition(format!(
                "a queue named {name:?} already exists"
            )));
        }
        if queues.len() >= MAX_QUEUES {
            return Err(KernelError::ResourceExhausted(format!(
                "the kernel holds {MAX_QUEUES} queues, its limit"
            )));
        }
        let q = Arc::new(Queue {
            name: name.to_owned(),
            kind,
            capacity,
            owner,
            state: Mutex::default(),
            arrived: Notify::new(),
            room: Notify::new(),
        });
        queues.insert(name.to_owned(), Arc::clone(&q));
        Ok(q)
    }

    pub fn get(&self, name: &str) -> Result<Arc<Queue>, KernelError> {
        self.by_name
            .lock()
            .expect("queues lock")
            .get(name)
            .cloned()
            .ok_or_else(|| not_found("queue", name))
    }

    pub fn destroy(&self, name: &str, caller: Option<u32>) -> Result<(), KernelError> {
        let mut queues = self.by_name.lock().expect("queues lock");
        let q = queues.get(name).ok_or_else(|| not_found("queue", name))?;
        check_owner("queue", name, q.owner, caller)?;
        queues.remove(name);
        Ok(())
    }

    /// Drops the queues `pid` created and the subscriptions of `who` (its key).
    pub fn release(&self, pid: u32, who: &str) {
        let mut queues = self.by_name.lock().expect("queues lock");
        queues.retain(|_, q| q.owner != Some(pid));
        for q in queues.values() {
            q.lock().subscribers.remove(who);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::ZERO;

    #[tokio::test]
    async fn fifo_is_bounded_and_refuses_or_waits_when_full() {
        let qs = Queues::default();
        let q = qs.create("f", Kind::Fifo, 2, None).unwrap();
        q.send(b"a".to_vec(), 9, NOW).await.unwrap();
        q.send(b"b".to_vec(), 0, NOW).await.unwrap();
        let e = q.send(b"c".to_vec(), 0, NOW).await.unwrap_err();
        assert!(matches!(e, KernelError::ResourceExhausted(_)), "{e}");
        // A waiting send goes in once a receive makes room.
        let q2 = Arc::clone(&q);
        let waiting =
            tokio::spawn(async move { q2.send(b"c".to_vec(), 0, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            q.receive("x", NOW).await.unwrap().data,
            b"a",
            "FIFO, priority ignored"
        );
        assert_eq!(waiting.await.unwrap().unwrap(), 3);
        assert_eq!(q.receive("x", NOW).await.unwrap().data, b"b");
        assert_eq!(q.receive("x", NOW).await.unwrap().data, b"c");
        let e = q.receive("x", NOW).await.unwrap_err();
        assert!(matches!(e, KernelError::Timeout(_)), "{e}");
        let big = vec![0; MAX_MESSAGE + 1];
        assert!(matches!(
            q.send(big, 0, NOW).await,
            Err(KernelError::InvalidArgument(_))
        ));
    }

    #[tokio::test]
    async fn a_blocked_receive_wakes_on_send() {
        let qs = Queues::default();
        let q = qs.create("w", Kind::Fifo, 0, None).unwrap();
        let q2 = Arc::clone(&q);
        let r = tokio::spawn(async move { q2.receive("x", Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.send(b"hi".to_vec(), 0, NOW).await.unwrap();
        assert_eq!(r.await.unwrap().unwrap().data, b"hi");
    }

    #[tokio::test]
    async fn priority_queues_give_the_highest_first_then_in_order() {
        let qs = Queues::default();
        let q = qs.create("p", Kind::Priority, 0, None).unwrap();
        for (d, p) in [("low1", 1), ("high", 5), ("low2", 1), ("neg", -3)] {
            q.send(d.into(), p, NOW).await.unwrap();
        }
        let mut got = vec![];
        while let Ok(m) = q.receive("x", NOW).await {
            got.push(String::from_utf8(m.data).unwrap());
        }
        assert_eq!(got, ["high", "low1", "low2", "neg"]);
    }

    #[tokio::test]
    async fn pubsub_reaches_every_subscriber_and_drops_for_a_full_one() {
        let qs = Queues::default();
        let q = qs.create("ps", Kind::PubSub, 1, None).unwrap();
        assert!(q.receive("a", NOW).await.is_err(), "not subscribed");
        q.subscribe("a").unwrap();
        q.subscribe("b").unwrap();
        q.send(b"1".to_vec(), 0, NOW).await.unwrap();
        assert_eq!(q.receive("a", NOW).await.unwrap().data, b"1");
        // b still holds "1": "2" is dropped for b only.
        q.send(b"2".to_vec(), 0, NOW).await.unwrap();
        assert_eq!(q.stats("b").dropped, 1);
        assert_eq!(q.receive("a", NOW).await.unwrap().data, b"2");
        assert_eq!(q.receive("b", NOW).await.unwrap().data, b"1");
        assert!(q.stats("b").length == 0 && !q.stats("b").ready);
        q.unsubscribe("b").unwrap();
        assert!(q.unsubscribe("b").is_err());
        assert_eq!(q.stats("a").subscribers, 1);
        qs.release(0, "a");
        assert_eq!(q.stats("a").subscribers, 0);
        let fifo = qs.create("nf", Kind::Fifo, 0, None).unwrap();
        assert!(fifo.subscribe("a").is_err());
    }
}
