//! Batches, async tasks (with cancellation mid-way) and submit/reap.

use std::time::Duration;

use agentos_proto::v1::{self as pb, syscall::Call, syscall_response::Outcome};
use tonic::Code;

use crate::util::{Daemon, call, req, write};

fn mixed(i: usize) -> pb::SyscallRequest {
    req(match i % 5 {
        0 => Call::Write(pb::WriteFile {
            path: format!("/tmp/b{i}"),
            data: vec![i as u8; 16],
            append: false,
        }),
        1 => Call::Exists(pb::FileExists {
            path: format!("/tmp/b{}", i - 1),
        }),
        2 => Call::Time(pb::GetTime {}),
        3 => Call::Read(pb::ReadFile {
            path: format!("/tmp/missing{i}"),
            offset: 0,
            length: 0,
        }),
        _ => Call::Mkdir(pb::MakeDirectory {
            path: format!("/tmp/dir{i}"),
            parents: false,
        }),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_100_mixed_calls() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let seq = c
        .execute_syscall_batch(pb::BatchRequest {
            calls: (0..100).map(mixed).collect(),
            mode: pb::BatchMode::Sequential as i32,
            stop_on_error: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seq.results.len(), 100);
    assert_eq!((seq.succeeded, seq.failed), (80, 20));
    for (i, r) in seq.results.iter().enumerate() {
        match (i % 5, &r.outcome) {
            (1, Some(Outcome::Ok(ok))) => assert_eq!(
                ok.value,
                Some(pb::syscall_result::Value::Flag(true)),
                "call {i}"
            ),
            (3, Some(Outcome::Error(e))) => {
                assert_eq!(e.code, pb::ErrorCode::NotFound as i32);
                assert_eq!(e.syscall, "read");
            }
            (3, other) => panic!("call {i}: {other:?}"),
            (_, Some(Outcome::Ok(_))) => {}
            (_, other) => panic!("call {i}: {other:?}"),
        }
    }
    // Parallel: same counts, results in call order (mkdirs now fail: they exist).
    let par = c
        .execute_syscall_batch(pb::BatchRequest {
            calls: (0..100).map(mixed).collect(),
            mode: pb::BatchMode::Parallel as i32,
            stop_on_error: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((par.succeeded, par.failed), (60, 40));
    assert!(matches!(&par.results[3].outcome, Some(Outcome::Error(e)) if e.syscall == "read"));
    assert!(
        matches!(&par.results[4].outcome, Some(Outcome::Error(e)) if e.code == pb::ErrorCode::AlreadyExists as i32)
    );
    // stop_on_error cancels the rest of a sequential batch.
    let stop = c
        .execute_syscall_batch(pb::BatchRequest {
            calls: (2..12).map(mixed).collect(),
            mode: pb::BatchMode::Sequential as i32,
            stop_on_error: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stop.succeeded, stop.failed), (1, 9));
    assert!(
        matches!(&stop.results[9].outcome, Some(Outcome::Error(e)) if e.code == pb::ErrorCode::Cancelled as i32)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_task_runs_reports_progress_and_is_cancelled_mid_way() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let id = c
        .execute_syscall_async(req(Call::Sleep(pb::Sleep {
            duration_ms: 30_000,
        })))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let st = c.get_async_status(id.clone()).await.unwrap().into_inner();
    assert_eq!(st.state, pb::TaskState::Running as i32);
    assert!(
        st.progress > 0.0 && st.progress < 0.1,
        "progress {}",
        st.progress
    );
    let st = c.cancel_async(id.clone()).await.unwrap().into_inner();
    assert_eq!(st.state, pb::TaskState::Cancelled as i32);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let st = c.get_async_status(id).await.unwrap().into_inner();
    assert_eq!(
        st.state,
        pb::TaskState::Cancelled as i32,
        "a cancelled task stays cancelled"
    );
    assert!(st.result.is_none());

    // A task that completes, one that fails, and an unknown id.
    call(&mut c, write("/tmp/src", &vec![1; 3 << 20]))
        .await
        .unwrap();
    let ok = c
        .execute_syscall_async(req(Call::Copy(pb::CopyFile {
            from: "/tmp/src".into(),
            to: "/dst".into(),
        })))
        .await
        .unwrap()
        .into_inner();
    let bad = c
        .execute_syscall_async(req(Call::Delete(pb::DeleteFile {
            path: "/nope".into(),
        })))
        .await
        .unwrap()
        .into_inner();
    let wait = |id: pb::AsyncTaskRef| {
        let mut c = c.clone();
        async move {
            for _ in 0..200 {
                let st = c.get_async_status(id.clone()).await.unwrap().into_inner();
                if st.state >= pb::TaskState::Completed as i32 {
                    return st;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("task did not finish");
        }
    };
    let st = wait(ok).await;
    assert_eq!(st.state, pb::TaskState::Completed as i32);
    assert_eq!(st.progress, 1.0);
    assert!(st.finished_unix_ms >= st.created_unix_ms);
    assert_eq!(
        std::fs::metadata(d.files().join("dst")).unwrap().len(),
        3 << 20
    );
    let st = wait(bad).await;
    assert_eq!(st.state, pb::TaskState::Failed as i32);
    assert!(
        matches!(st.result.unwrap().outcome, Some(Outcome::Error(e)) if e.code == pb::ErrorCode::NotFound as i32)
    );
    let st = c
        .get_async_status(pb::AsyncTaskRef {
            task_id: "task-999999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_returns_at_once_and_reap_collects_completions() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let entries: Vec<_> = (0..20)
        .map(|i| pb::SubmitEntry {
            request: Some(req(if i == 0 {
                Call::Sleep(pb::Sleep { duration_ms: 300 })
            } else {
                Call::Write(pb::WriteFile {
                    path: format!("/tmp/s{i}"),
                    data: vec![1],
                    append: false,
                })
            })),
            user_data: 1000 + i,
        })
        .collect();
    let t = std::time::Instant::now();
    let seqs = c
        .submit_syscalls(pb::SubmitRequest { entries })
        .await
        .unwrap()
        .into_inner()
        .sequence;
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "submit must not wait for the sleep"
    );
    assert_eq!(seqs.len(), 20);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    let mut got = vec![];
    while got.len() < 20 {
        let r = c
            .reap_completions(pb::ReapRequest {
                min_complete: 1,
                max_complete: 8,
                timeout_ms: 5000,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!r.completions.is_empty() && r.completions.len() <= 8);
        got.extend(r.completions);
    }
    assert_eq!(
        got.last().unwrap().user_data,
        1000,
        "the sleep completes last"
    );
    let mut users: Vec<_> = got.iter().map(|c| c.user_data).collect();
    users.sort();
    assert_eq!(users, (1000..1020).collect::<Vec<_>>());
    assert!(
        got.iter()
            .all(|c| matches!(c.response.as_ref().unwrap().outcome, Some(Outcome::Ok(_))))
    );
    // Nothing left: a reap with a short timeout returns empty.
    let r = c
        .reap_completions(pb::ReapRequest {
            min_complete: 1,
            max_complete: 0,
            timeout_ms: 50,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.completions.is_empty());
    assert_eq!(r.in_flight, 0);
}
