//! Running syscalls: [`Client::call`] for one, [`Client::batch`] for many, and typed
//! helpers for the common file calls.

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};

use crate::{CallError, Client};

/// A request for `call` with no timeout.
pub fn request(call: Call) -> pb::SyscallRequest {
    pb::SyscallRequest {
        syscall: Some(pb::Syscall { call: Some(call) }),
        timeout_ms: 0,
    }
}

/// Folds one response into its value or its error.
pub fn outcome(name: &'static str, resp: pb::SyscallResponse) -> Result<Value, CallError> {
    match resp.outcome {
        Some(pb::syscall_response::Outcome::Ok(pb::SyscallResult { value: Some(v) })) => Ok(v),
        Some(pb::syscall_response::Outcome::Error(e)) => Err(CallError::Syscall(e)),
        _ => Err(CallError::Empty(name)),
    }
}

impl Client {
    /// Runs one syscall.
    pub async fn call(&mut self, call: Call) -> Result<Value, CallError> {
        let name = call.name();
        let resp = self.execute_syscall(request(call)).await?.into_inner();
        outcome(name, resp)
    }

    /// Runs `calls` as one batch; a result per call, in order. `Err` only when the
    /// batch as a whole was refused.
    pub async fn batch(
        &mut self,
        calls: Vec<Call>,
        mode: pb::BatchMode,
    ) -> Result<Vec<Result<Value, CallError>>, CallError> {
        let names: Vec<&'static str> = calls.iter().map(Call::name).collect();
        let resp = self
            .execute_syscall_batch(pb::BatchRequest {
                calls: calls.into_iter().map(request).collect(),
                mode: mode as i32,
                stop_on_error: false,
            })
            .await?
            .into_inner();
        Ok(names
            .into_iter()
            .zip(resp.results)
            .map(|(name, r)| outcome(name, r))
            .collect())
    }

    /// The whole content of the file at `path`.
    pub async fn read(&mut self, path: &str) -> Result<Vec<u8>, CallError> {
        let v = self
            .call(Call::Read(pb::ReadFile {
                path: path.into(),
                offset: 0,
                length: 0,
            }))
            .await?;
        match v {
            Value::Data(d) => Ok(d),
            _ => Err(CallError::Empty("read")),
        }
    }

    /// Replaces the content of the file at `path` (atomically), creating it if needed.
    pub async fn write(&mut self, path: &str, data: &[u8]) -> Result<(), CallError> {
        self.call(Call::Write(pb::WriteFile {
            path: path.into(),
            data: data.to_vec(),
            append: false,
        }))
        .await
        .map(drop)
    }

    /// Whether `path` exists.
    pub async fn exists(&mut self, path: &str) -> Result<bool, CallError> {
        match self
            .call(Call::Exists(pb::FileExists { path: path.into() }))
            .await?
        {
            Value::Flag(b) => Ok(b),
            _ => Err(CallError::Empty("exists")),
        }
    }
}
