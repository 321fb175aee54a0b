//! The thread every sandbox is cloned from.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that created the child exits, not the
//! process. tokio's blocking pool retires idle threads, which would kill sandboxes
//! that are still running; so all spawns happen on this one thread, which lives as
//! long as the daemon. When the daemon dies — even by SIGKILL — the thread dies with
//! it and every sandbox's init gets SIGKILL, taking its pid namespace along.

use std::{sync::mpsc, thread};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// A handle to the spawner thread.
pub struct Spawner {
    tx: mpsc::Sender<Job>,
}

impl Spawner {
    pub fn start() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("agentos-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })?;
        Ok(Self { tx })
    }

    /// Runs `f` on the spawner thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Box::new(move || {
                let _ = reply.send(f());
            }))
            .ok()?;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_one_long_lived_thread() {
        let s = Spawner::start().unwrap();
        let a = s.run(|| thread::current().id()).await.unwrap();
        let b = s.run(|| thread::current().id()).await.unwrap();
        assert_eq!(a, b);
        assert_ne!(a, thread::current().id());
        assert_eq!(
            s.run(|| thread::current().name().map(str::to_owned))
                .await
                .unwrap()
                .as_deref(),
            Some("agentos-spawner")
        );
    }
}
