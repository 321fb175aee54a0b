//! The collector's events for callers: `QueryEvents` and `StreamEvents` (their
//! filter checked once here), behind the same access rule as `WatchEvents`.

use std::{sync::Arc, time::Duration};

use agentos_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::{
    capability::Access,
    error::KernelError,
    identity::Caller,
    kernel::Kernel,
    observe::collector::{Category, Collector, Filter, Found, RING_SLOTS, Severity, Stats},
};

/// Events a query returns when it names no limit.
const DEFAULT_LIMIT: usize = 1000;
/// How often a live stream looks for new events.
const POLL: Duration = Duration::from_millis(20);
/// Messages a live stream buffers toward the network.
const STREAM_DEPTH: usize = 1024;

impl TryFrom<&pb::EventQuery> for Filter {
    type Error = KernelError;

    fn try_from(q: &pb::EventQuery) -> Result<Self, KernelError> {
        let categories = q
            .categories
            .iter()
            .map(|c| {
                pb::EventCategory::try_from(*c)
                    .ok()
                    .and_then(Category::from_proto)
                    .ok_or_else(|| {
                        KernelError::InvalidArgument(format!("unknown event category {c}"))
                    })
            })
            .collect::<Result<_, _>>()?;
        let min_severity = match q.min_severity {
            0 => None,
            s => Some(Severity::from_proto(
                pb::EventSeverity::try_from(s).map_err(|_| {
                    KernelError::InvalidArgument(format!("unknown event severity {s}"))
                })?,
            )),
        };
        if q.until_ns != 0 && q.until_ns < q.since_ns {
            return Err(KernelError::InvalidArgument(format!(
                "until_ns {} is before since_ns {}",
                q.until_ns, q.since_ns
            )));
        }
        Ok(Filter {
            categories,
            pid: (q.pid != 0).then_some(q.pid),
            app: (!q.app.is_empty()).then(|| q.app.clone()),
            since_ns: (q.since_ns != 0).then_some(q.since_ns),
            until_ns: (q.until_ns != 0).then_some(q.until_ns),
            min_severity,
            causality: (q.causality != 0).then_some(q.causality),
        })
    }
}

fn limit(q: &pb::EventQuery) -> usize {
    match q.limit {
        0 => DEFAULT_LIMIT,
        n => (n as usize).min(RING_SLOTS),
    }
}

/// The events that match (the `QueryEvents` RPC).
pub fn query(k: &Kernel, c: &Caller, q: &pb::EventQuery) -> Result<pb::EventList, KernelError> {
    k.check(c, Access::SystemInfo)?;
    let filter = Filter::try_from(q)?;
    Ok(pb::EventList {
        events: k
            .collector
            .query(&filter, limit(q))
            .iter()
            .map(to_proto)
            .collect(),
        stats: Some(stats_to_proto(&k.collector.stats())),
    })
}

/// Live events that match (the `StreamEvents` RPC): a task follows the ring and
/// stops when the client goes away.
pub fn stream(
    k: &Kernel,
    c: &Caller,
    q: &pb::EventQuery,
) -> Result<ReceiverStream<pb::EventStreamMessage>, KernelError> {
    k.check(c, Access::SystemInfo)?;
    Ok(follow(Arc::clone(&k.collector), Filter::try_from(q)?))
}

/// Follows the ring from where it is now. The cursor is taken here, before the task
/// is spawned, not when the task first runs: an event recorded in between belongs
/// to the caller, who has already been answered.
fn follow(collector: Arc<Collector>, filter: Filter) -> ReceiverStream<pb::EventStreamMessage> {
    use pb::event_stream_message::Msg;
    let mut cursor = collector.cursor();
    let (tx, rx) = mpsc::channel(STREAM_DEPTH);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        loop {
            tick.tick().await;
            loop {
                let (found, lagged) = collector.read(&mut cursor, &filter, STREAM_DEPTH);
                if lagged > 0 && tx.send(msg(Msg::Lagged(lagged))).await.is_err() {
                    return;
                }
                let more = found.len() == STREAM_DEPTH;
                for f in &found {
                    if tx.send(msg(Msg::Event(to_proto(f)))).await.is_err() {
                        return;
                    }
                }
                if !more {
                    break;
                }
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}

fn msg(m: pb::event_stream_message::Msg) -> pb::EventStreamMessage {
    pb::EventStreamMessage { msg: Some(m) }
}

pub fn to_proto(f: &Found) -> pb::CollectedEvent {
    let r = &f.record;
    pb::CollectedEvent {
        seq: f.seq,
        timestamp_ns: r.ts_ns,
        category: r.category.to_proto() as i32,
        severity: r.severity.to_proto() as i32,
        name: r.name.to_owned(),
        pid: r.pid,
        app: f.app.as_deref().unwrap_or_default().to_owned(),
        causality: r.causality,
        value: r.value,
        code: r.code,
    }
}

fn stats_to_proto(s: &Stats) -> pb::CollectorStats {
    pb::CollectorStats {
        emitted: s.emitted,
        sampled_out: s.sampled_out,
        lost: s.lost,
        anomalies: s.anomalies,
        overhead: s.overhead,
        target: s.target,
        categories: s
            .categories
            .iter()
            .map(|(c, every, emitted, out)| pb::CategoryStats {
                category: c.to_proto() as i32,
                sample_every: *every,
                emitted: *emitted,
                sampled_out: *out,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;
    use crate::observe::collector::{DEFAULT_TARGET, Record};

    /// On one thread the follower's task cannot run before the caller records an
    /// event, so a cursor taken inside the task would start after it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_stream_sees_an_event_recorded_before_its_task_first_runs() {
        let collector = Arc::new(Collector::new(1 << 8, DEFAULT_TARGET));
        collector.emit(Record::now(Category::Syscall, Severity::Info, "before"));
        let mut live = follow(Arc::clone(&collector), Filter::default());
        collector.emit(Record::now(Category::Syscall, Severity::Info, "after"));
        let first = tokio::time::timeout(Duration::from_secs(5), live.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream is open");
        let Some(pb::event_stream_message::Msg::Event(e)) = first.msg else {
            panic!("not an event: {first:?}")
        };
        assert_eq!(e.name, "after");
    }
}
