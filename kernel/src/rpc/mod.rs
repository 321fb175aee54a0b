//! The gRPC edge: `KernelService` handlers that take the caller from the
//! connection, unwrap requests, call into [`crate::syscall`] and wrap results. No
//! logic lives here; errors become statuses in [`status`].

mod process_io;
pub mod status;

use std::{pin::Pin, sync::Arc};

use agentos_proto::v1::{self as pb, kernel_service_server::KernelService};
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::{
    identity::caller_of,
    kernel::Kernel,
    syscall::{
        Progress, batch, events, process,
        stream::{self, StreamError},
        system,
    },
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

/// A response stream.
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

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

    type StreamSyscallStream = BoxStream<pb::StreamResponse>;

    async fn stream_syscall(
        &self,
        req: Request<Streaming<pb::StreamRequest>>,
    ) -> Result<Response<Self::StreamSyscallStream>, Status> {
        let caller = caller_of(&req)?;
        let inbound = req.into_inner().map(|m| {
            m.map_err(|st| match st.code() {
                // A message past the size limit, or one that does not decode.
                Code::OutOfRange | Code::InvalidArgument => {
                    StreamError::BadMessage(st.message().to_owned()).into()
                }
                _ => StreamError::Broken(st.message().to_owned()).into(),
            })
        });
        let out = stream::serve(Arc::clone(&self.kernel), caller, Box::pin(inbound)).await?;
        Ok(Response::new(Box::pin(
            out.map(|m| m.map_err(Status::from)),
        )))
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
        Ok(Response::new(system::doctor(
            &self.kernel,
            &caller_of(&req)?,
        )?))
    }

    async fn create_process(
        &self,
        req: Request<pb::SpawnProcess>,
    ) -> Result<Response<pb::ProcessInfo>, Status> {
        // The `spawn` syscall under its own RPC: the same path, the same event.
        let caller = caller_of(&req)?;
        let call = pb::syscall::Call::Spawn(Box::new(req.into_inner()));
        let req = pb::SyscallRequest {
            syscall: Some(pb::Syscall { call: Some(call) }),
            timeout_ms: 0,
        };
        match self
            .kernel
            .execute(&caller, req, &Progress::default())
            .await
        {
            Ok(pb::SyscallResult {
                value: Some(pb::syscall_result::Value::Process(info)),
            }) => Ok(Response::new(info)),
            Ok(other) => Err(Status::internal(format!("spawn answered {other:?}"))),
            Err(e) => Err(status::syscall_status(&e.to_proto("spawn"))),
        }
    }

    async fn update_sandbox(
        &self,
        req: Request<pb::UpdateSandboxRequest>,
    ) -> Result<Response<pb::ProcessInfo>, Status> {
        let caller = caller_of(&req)?;
        let p = process::update_sandbox(&self.kernel, &caller, req.into_inner()).await?;
        Ok(Response::new(process::info(&p)))
    }

    type ProcessIoStream = process_io::ResponseStream;

    async fn process_io(
        &self,
        req: Request<Streaming<pb::ProcessInput>>,
    ) -> Result<Response<Self::ProcessIoStream>, Status> {
        let caller = caller_of(&req)?;
        Ok(Response::new(
            process_io::serve(Arc::clone(&self.kernel), caller, req.into_inner()).await?,
        ))
    }

    async fn query_events(
        &self,
        req: Request<pb::EventQuery>,
    ) -> Result<Response<pb::EventList>, Status> {
        let caller = caller_of(&req)?;
        Ok(Response::new(events::query(
            &self.kernel,
            &caller,
            req.get_ref(),
        )?))
    }

    type StreamEventsStream = BoxStream<pb::EventStreamMessage>;

    async fn stream_events(
        &self,
        req: Request<pb::EventQuery>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let caller = caller_of(&req)?;
        let live = events::stream(&self.kernel, &caller, req.get_ref())?;
        Ok(Response::new(Box::pin(
            self.kernel.events.until_closed(live.map(Ok)),
        )))
    }

    type WatchEventsStream = BoxStream<pb::KernelEvent>;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let rx = system::watch(&self.kernel, &caller_of(&req)?)?;
        let stream = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|ev| match ev {
            Ok(ev) => Some(Ok(crate::observe::event_to_proto(&ev))),
            Err(_lagged) => None,
        });
        Ok(Response::new(Box::pin(
            self.kernel.events.until_closed(stream),
        )))
    }

    async fn metrics(
        &self,
        req: Request<pb::MetricsRequest>,
    ) -> Result<Response<pb::MetricsText>, Status> {
        Ok(Response::new(system::metrics(
            &self.kernel,
            &caller_of(&req)?,
        )?))
    }

    async fn probe_stats(
        &self,
        req: Request<pb::ProbeStatsRequest>,
    ) -> Result<Response<pb::ProbeStatsReply>, Status> {
        let caller = caller_of(&req)?;
        let pid = req.into_inner().pid;
        Ok(Response::new(system::probe_stats(
            &self.kernel,
            &caller,
            pid,
        )?))
    }
}

use tokio_stream::StreamExt as _;
