//! The gRPC edge: `KernelService` handlers that unwrap requests, call into
//! [`crate::syscall`] and wrap results. No logic lives here; errors become statuses in
//! [`status`].

mod process_io;
pub mod status;
mod stream;

use std::{pin::Pin, sync::Arc};

use agentos_proto::v1::{self as pb, kernel_service_server::KernelService};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::{
    capability::Access,
    error::KernelError,
    identity::caller_of,
    syscall::{Kernel, Progress, batch},
};

/// The service; cheap to clone.
#[derive(Clone)]
pub struct KernelRpc {
    kernel: Arc<Kernel>,
}

impl KernelRpc {
    pub fn new(kernel: Arc<Kernel>) -> Self {
        Self { kernel }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::KernelEvent, Status>> + Send>>;

#[tonic::async_trait]
impl KernelService for KernelRpc {
    async fn execute_syscall(
        &self,
        req: Request<pb::SyscallRequest>,
    ) -> Result<Response<pb::SyscallResponse>, Status> {
        let caller = caller_of(&req)?;
        let req = req.into_inner();
        let name = crate::syscall::name_of(&req);
        match self
            .kernel
            .execute(&caller, req, &Progress::default())
            .await
        {
            Ok(ok) => Ok(Response::new(pb::SyscallResponse {
                outcome: Some(pb::syscall_response::Outcome::Ok(ok)),
            })),
            Err(e) => Err(status::syscall_status(&e.to_proto(name))),
        }
    }

    async fn execute_syscall_batch(
        &self,
        req: Request<pb::BatchRequest>,
    ) -> Result<Response<pb::BatchResponse>, Status> {
        let caller = caller_of(&req)?;
        Ok(Response::new(
            batch::run(&self.kernel, &caller, req.into_inner()).await?,
        ))
    }

    type StreamSyscallStream = stream::ResponseStream;

    async fn stream_syscall(
        &self,
        req: Request<Streaming<pb::StreamRequest>>,
    ) -> Result<Response<Self::StreamSyscallStream>, Status> {
        let caller = caller_of(&req)?;
        let out = stream::serve(Arc::clone(&self.kernel), caller, req.into_inner()).await?;
        Ok(Response::new(out))
    }

    async fn execute_syscall_async(
        &self,
        req: Request<pb::SyscallRequest>,
    ) -> Result<Response<pb::AsyncTaskRef>, Status> {
        let caller = caller_of(&req)?;
        let task_id = self
            .kernel
            .tasks
            .spawn(&self.kernel, &caller, req.into_inner())?;
        Ok(Response::new(pb::AsyncTaskRef { task_id }))
    }

    async fn get_async_status(
        &self,
        req: Request<pb::AsyncTaskRef>,
    ) -> Result<Response<pb::AsyncTaskStatus>, Status> {
        let caller = caller_of(&req)?;
        Ok(Response::new(
            self.kernel.tasks.status(&caller, &req.get_ref().task_id)?,
        ))
    }

    async fn cancel_async(
        &self,
        req: Request<pb::AsyncTaskRef>,
    ) -> Result<Response<pb::AsyncTaskStatus>, Status> {
        let caller = caller_of(&req)?;
        Ok(Response::new(
            self.kernel
                .tasks
                .cancel(&caller, &req.get_ref().task_id)
                .await?,
        ))
    }

    async fn submit_syscalls(
        &self,
        req: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let caller = caller_of(&req)?;
        let sequence =
            self.kernel
                .completions
                .submit(&self.kernel, &caller, req.into_inner().entries)?;
        Ok(Response::new(pb::SubmitResponse { sequence }))
    }

    async fn reap_completions(
        &self,
        req: Request<pb::ReapRequest>,
    ) -> Result<Response<pb::ReapResponse>, Status> {
        let caller = caller_of(&req)?;
        Ok(Response::new(
            self.kernel
                .completions
                .reap(&caller, req.into_inner())
                .await,
        ))
    }

    async fn doctor(
        &self,
        req: Request<pb::DoctorRequest>,
    ) -> Result<Response<pb::DoctorReport>, Status> {
        self.kernel
            .authorize(&caller_of(&req)?, &[Access::SystemInfo])?;
        Ok(Response::new(pb::DoctorReport {
            subsystems: self.kernel.doctor_report().into_iter().collect(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_ms: self.kernel.uptime().as_millis() as u64,
        }))
    }

    async fn create_process(
        &self,
        req: Request<pb::SpawnProcess>,
    ) -> Result<Response<pb::ProcessInfo>, Status> {
        self.kernel.authorize(&caller_of(&req)?, &[Access::Spawn])?;
        let spec = req
            .into_inner()
            .spec
            .ok_or_else(|| Status::invalid_argument("CreateProcess needs a spec"))?;
        let p = self
            .kernel
            .processes
            .spawn(crate::process::ProcessRequest::try_from(spec)?)
            .await?;
        Ok(Response::new(crate::syscall::process::info(&p)))
    }

    async fn update_sandbox(
        &self,
        req: Request<pb::UpdateSandboxRequest>,
    ) -> Result<Response<pb::ProcessInfo>, Status> {
        self.kernel.authorize(
            &caller_of(&req)?,
            &[Access::Kill {
                target_owned: false,
            }],
        )?;
        let r = req.into_inner();
        let p = self.kernel.processes.get(r.pid)?;
        let revoke = r
            .revoke
            .iter()
            .map(|c| {
                c.parse::<crate::capability::Capability>()
                    .map_err(|e| KernelError::InvalidArgument(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Everything is checked before anything changes.
        let limits = r
            .limits
            .as_ref()
            .map(crate::process::spawn::limits_from_proto)
            .transpose()?;
        if !revoke.is_empty() {
            let target = Arc::clone(&p);
            tokio::task::spawn_blocking(move || target.revoke(&revoke))
                .await
                .map_err(|e| KernelError::Internal(format!("revoking grants: {e}")))??;
            self.kernel.permissions.invalidate_process(p.pid);
        }
        if let Some(l) = limits {
            p.update_limits(l)?;
        }
        Ok(Response::new(crate::syscall::process::info(&p)))
    }

    type ProcessIoStream = process_io::ResponseStream;

    async fn process_io(
        &self,
        req: Request<Streaming<pb::ProcessInput>>,
    ) -> Result<Response<Self::ProcessIoStream>, Status> {
        self.kernel.authorize(
            &caller_of(&req)?,
            &[Access::Kill {
                target_owned: false,
            }],
        )?;
        Ok(Response::new(
            process_io::serve(Arc::clone(&self.kernel), req.into_inner()).await?,
        ))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        self.kernel
            .authorize(&caller_of(&req)?, &[Access::SystemInfo])?;
        let rx = self.kernel.events.subscribe();
        let stream = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|ev| match ev {
            Ok(ev) => Some(Ok(crate::observe::event_to_proto(&ev))),
            Err(_lagged) => None,
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn probe_stats(
        &self,
        req: Request<pb::ProbeStatsRequest>,
    ) -> Result<Response<pb::ProbeStatsReply>, Status> {
        self.kernel
            .authorize(&caller_of(&req)?, &[Access::SystemInfo])?;
        let pid = req.into_inner().pid;
        if let crate::observe::ProbeStatus::Unavailable { reason } = self.kernel.events.status() {
            return Err(Status::unimplemented(format!(
                "the eBPF probes are not live: {reason}"
            )));
        }
        let process = self.kernel.processes.get(pid)?;
        let figures = process.probe_figures().ok_or_else(|| {
            Status::failed_precondition(format!(
                "process {pid} was not observed by the probes (it has no cgroup)"
            ))
        })?;
        Ok(Response::new(crate::observe::figures_to_proto(
            pid, &figures,
        )))
    }
}

use tokio_stream::StreamExt as _;
