//! Queue syscalls (`queue_*`, fields 80–89), each beside its access rule: a
//! managed process needs `send:NAME` to create, send to or destroy a queue and
//! `recv:NAME` to receive, subscribe, poll or see its stats. The queues
//! themselves are in [`crate::ipc::queue`].

use std::time::Duration;

use agentos_proto::v1 as pb;
use pb::{syscall::Call, syscall_result::Value};

use super::{Kernel, pipe::unit};
use crate::{
    capability::Access,
    error::KernelError,
    identity::Caller,
    ipc::queue::{Kind, Queue},
};

/// The accesses a queue call makes.
pub(super) fn accesses(call: &Call) -> Vec<Access> {
    let send = |n: &str| vec![Access::Send(n.to_owned())];
    let recv = |n: &str| vec![Access::Receive(n.to_owned())];
    match call {
        Call::QueueCreate(c) => send(&c.name),
        Call::QueueSend(c) => send(&c.name),
        Call::QueueDestroy(c) => send(&c.name),
        Call::QueueReceive(c) => recv(&c.name),
        Call::QueueSubscribe(c) => recv(&c.name),
        Call::QueueUnsubscribe(c) => recv(&c.name),
        Call::QueuePoll(c) => recv(&c.name),
        Call::QueueStats(c) => recv(&c.name),
        _ => unreachable!("not a queue call"),
    }
}

pub(super) async fn dispatch(
    k: &Kernel,
    caller: &Caller,
    call: Call,
) -> Result<Value, KernelError> {
    k.authorize(caller, &accesses(&call))?;
    let queues = &k.ipc.queues;
    let who = caller.key();
    let ms = |n: u32| Duration::from_millis(u64::from(n));
    Ok(match call {
        Call::QueueCreate(c) => {
            let q = queues.create(&c.name, kind(c.kind)?, c.capacity, caller.managed)?;
            info(&q, &who)
        }
        Call::QueueSend(c) => {
            let q = queues.get(&c.name)?;
            Value::Count(q.send(c.data, c.priority, ms(c.wait_ms)).await?)
        }
        Call::QueueReceive(c) => {
            let m = queues.get(&c.name)?.receive(&who, ms(c.wait_ms)).await?;
            Value::QueueMessage(pb::QueueMessage {
                data: m.data,
                priority: m.priority,
                seq: m.seq,
            })
        }
        Call::QueueSubscribe(c) => {
            queues.get(&c.name)?.subscribe(&who)?;
            unit()
        }
        Call::QueueUnsubscribe(c) => {
            queues.get(&c.name)?.unsubscribe(&who)?;
            unit()
        }
        Call::QueuePoll(c) => Value::Flag(queues.get(&c.name)?.stats(&who).ready),
        Call::QueueDestroy(c) => {
            queues.destroy(&c.name, caller.managed)?;
            unit()
        }
        Call::QueueStats(c) => {
            let q = queues.get(&c.name)?;
            info(&q, &who)
        }
        _ => unreachable!("not a queue call"),
    })
}

fn kind(raw: i32) -> Result<Kind, KernelError> {
    match pb::QueueKind::try_from(raw) {
        Ok(pb::QueueKind::Fifo) => Ok(Kind::Fifo),
        Ok(pb::QueueKind::Priority) => Ok(Kind::Priority),
        Ok(pb::QueueKind::Pubsub) => Ok(Kind::PubSub),
        _ => Err(KernelError::InvalidArgument(format!(
            "queue kind {raw}: QUEUE_KIND_FIFO, _PRIORITY or _PUBSUB"
        ))),
    }
}

fn info(q: &Queue, who: &str) -> Value {
    let s = q.stats(who);
    Value::Queue(pb::QueueInfo {
        name: q.name.clone(),
        kind: match q.kind {
            Kind::Fifo => pb::QueueKind::Fifo,
            Kind::Priority => pb::QueueKind::Priority,
            Kind::PubSub => pb::QueueKind::Pubsub,
        } as i32,
        capacity: q.capacity,
        length: s.length,
        subscribers: s.subscribers,
        sent: s.sent,
        received: s.received,
        dropped: s.dropped,
        owner: q.owner.unwrap_or(0),
        max_message: crate::ipc::queue::MAX_MESSAGE as u32,
        ready: s.ready,
    })
}
