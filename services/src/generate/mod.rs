//! UI generation: prompts in, validated Blueprints (and chat replies) out, streamed.
//!
//! This module owns the [`UiGenerator`] trait and its two implementations, chosen once
//! at start-up by [`Generator::from_env`]:
//!
//! * [`RuleGenerator`], the default: deterministic templates matched by keyword ("a
//!   calculator", "a todo list", "a pomodoro timer", "a unit converter", ...). No
//!   network, same answer every time.
//! * [`LlmGenerator`], when `AGENTOS_LLM_URL` or `AGENTOS_LLM_KEY` is set: an
//!   OpenAI-compatible chat-completions endpoint, streamed over server-sent events.
//!   The model is asked for the flat streaming form of a Blueprint, so components
//!   reach the desktop as they arrive; its output is validated, repaired where the
//!   repair cannot change behaviour ([`crate::blueprint::repair`]), or rejected.
//!
//! A user may name their own endpoint in their settings; [`generate_for`] uses it
//! for that user, and falls back to the process's generator when it cannot be
//! reached, saying so.
//!
//! Both stream [`GenEvent`]s (thought, token, component, complete, error) into a
//! `tokio::sync::mpsc` channel, which the WebSocket layer forwards; chat replies go
//! the same way. [`CachedGenerator`] keeps a bounded LRU cache of generated specs.
//! Nothing here touches the disk; the only I/O is the LLM's HTTP request.

mod cache;
mod llm;
mod rules;
mod sse;

use std::{future::Future, sync::Arc, sync::Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use cache::{SpecCache, normalise};
pub use llm::{LlmConfig, LlmGenerator};
pub use rules::{RuleGenerator, Template};
pub use sse::{SseDecoder, SseError};

use crate::blueprint::{Blueprint, FlatComponent, ParseError, flatten};

/// One step of a generation or a chat reply, as the WebSocket layer forwards it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GenEvent {
    /// What the generator is doing, for the user to follow.
    Thought {
        text: String,
    },
    /// Raw model output, as it arrives.
    Token {
        text: String,
    },
    /// A component is ready; `placeholders` are its children still to come, `parent`
    /// the component that was showing a placeholder for it.
    Component {
        component: Box<FlatComponent>,
        placeholders: Vec<String>,
        parent: Option<String>,
    },
    /// The end: a validated Blueprint, or a chat reply.
    Complete {
        #[serde(flatten)]
        result: Completion,
    },
    Error {
        code: &'static str,
        message: String,
    },
}

/// What a finished generation produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Completion {
    Blueprint(Box<Blueprint>),
    Reply(String),
}

/// A chat message, as chat-completion APIs take them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// Why a generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The rule generator has no template for the prompt.
    #[error("no template matches {prompt:?}; try one of: {known}")]
    NotUnderstood { prompt: String, known: String },
    /// The output is not a valid Blueprint and could not be repaired.
    #[error("the generated Blueprint was rejected: {0}")]
    Invalid(#[from] ParseError),
    #[error("the model endpoint answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("could not reach the model endpoint")]
    Transport(#[source] reqwest::Error),
    /// The endpoint's stream broke the protocol (bad SSE, bad JSON, no content).
    #[error("the model's stream is malformed: {reason}")]
    Protocol { reason: String },
    /// The receiver went away: nobody is listening any more.
    #[error("the client stopped listening")]
    Cancelled,
}

impl GenError {
    /// A stable code for API error bodies and `error` events.
    pub fn code(&self) -> &'static str {
        match self {
            GenError::NotUnderstood { .. } => "not_understood",
            GenError::Invalid(_) => "invalid_blueprint",
            GenError::Http { .. } => "llm_http_error",
            GenError::Transport(_) => "llm_unreachable",
            GenError::Protocol { .. } => "llm_protocol_error",
            GenError::Cancelled => "cancelled",
        }
    }
}

/// Sends an event; fails with [`GenError::Cancelled`] when nobody listens.
pub(crate) async fn emit(events: &mpsc::Sender<GenEvent>, event: GenEvent) -> Result<(), GenError> {
    events.send(event).await.map_err(|_| GenError::Cancelled)
}

/// Streams a finished Blueprint: each component, parent first, then `complete`.
pub(crate) async fn emit_blueprint(
    events: &mpsc::Sender<GenEvent>,
    bp: &Arc<Blueprint>,
) -> Result<(), GenError> {
    let mut parent_of = std::collections::HashMap::new();
    for c in flatten(bp) {
        for k in &c.children {
            parent_of.insert(k.clone(), c.id.clone());
        }
        let parent = parent_of.get(&c.id).cloned();
        let placeholders = c.children.clone();
        emit(
            events,
            GenEvent::Component {
                component: Box::new(c),
                placeholders,
                parent,
            },
        )
        .await?;
    }
    emit(
        events,
        GenEvent::Complete {
            result: Completion::Blueprint(Box::new(Blueprint::clone(bp))),
        },
    )
    .await
}

/// Sends the `error` event for a failed generation, then returns the error.
pub(crate) async fn fail<T>(events: &mpsc::Sender<GenEvent>, e: GenError) -> Result<T, GenError> {
    // The message carries the causes too (a transport error's own text is generic).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    // If the receiver is gone there is nobody to tell; the error is returned anyway.
    let _ = events
        .send(GenEvent::Error {
            code: e.code(),
            message,
        })
        .await;
    Err(e)
}

/// Generates Blueprints and chat replies, streaming [`GenEvent`]s as it goes.
///
/// On success the last event sent is `complete`; on failure it is `error`.
pub trait UiGenerator: Send + Sync {
    /// A Blueprint for `prompt`, validated against the built-in tools.
    fn generate(
        &self,
        prompt: &str,
        events: &mpsc::Sender<GenEvent>,
    ) -> impl Future<Output = Result<Arc<Blueprint>, GenError>> + Send;

    /// The assistant's next reply to `messages`.
    fn chat(
        &self,
        messages: &[ChatMessage],
        events: &mpsc::Sender<GenEvent>,
    ) -> impl Future<Output = Result<String, GenError>> + Send;
}

/// The generator this process uses, chosen once at start-up.
#[derive(Debug)]
pub enum Generator {
    Rules(RuleGenerator),
    Llm(LlmGenerator),
}

impl Generator {
    /// The LLM generator when the environment configures one, else the rules.
    pub fn from_env() -> Generator {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`Generator::from_env`] over any variable lookup (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Generator {
        match LlmConfig::from_lookup(lookup) {
            Some(config) => Generator::Llm(LlmGenerator::new(config)),
            None => Generator::Rules(RuleGenerator::new()),
        }
    }

    /// `rules` or `llm (<model>)`, for `/health` and `agentos doctor`.
    pub fn describe(&self) -> String {
        match self {
            Generator::Rules(_) => "rules".to_owned(),
            Generator::Llm(g) => format!("llm ({})", g.config().model),
        }
    }
}

impl UiGenerator for Generator {
    async fn generate(
        &self,
        prompt: &str,
        events: &mpsc::Sender<GenEvent>,
    ) -> Result<Arc<Blueprint>, GenError> {
        match self {
            Generator::Rules(g) => g.generate(prompt, events).await,
            Generator::Llm(g) => g.generate(prompt, events).await,
        }
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        events: &mpsc::Sender<GenEvent>,
    ) -> Result<String, GenError> {
        match self {
            Generator::Rules(g) => g.chat(messages, events).await,
            Generator::Llm(g) => g.chat(messages, events).await,
        }
    }
}

/// What [`generate_for`] produced, and by whom.
#[derive(Debug)]
pub struct Produced {
    pub blueprint: Arc<Blueprint>,
    /// `rules`, `llm (<model>)`.
    pub generator: String,
    /// Why the user's LLM did not answer and the fallback did instead.
    pub fell_back: Option<String>,
}

/// Generates `prompt` with the user's own LLM endpoint when they set one (their
/// settings' `llm`), else with `fallback` (the process's generator, named
/// `fallback_name`: the rules, or the environment's LLM). When the user's endpoint
/// cannot be reached or refuses the request (a transport or HTTP error), `fallback`
/// answers instead and the result says why; a reply that breaks the protocol or is
/// not a valid Blueprint is an error, as it is for any generator.
pub async fn generate_for<G: UiGenerator>(
    user_llm: Option<LlmConfig>,
    fallback: &G,
    fallback_name: String,
    prompt: &str,
    events: &mpsc::Sender<GenEvent>,
) -> Result<Produced, GenError> {
    let Some(config) = user_llm else {
        let blueprint = fallback.generate(prompt, events).await?;
        return Ok(Produced {
            blueprint,
            generator: fallback_name,
            fell_back: None,
        });
    };
    let name = format!("llm ({})", config.model);
    let endpoint = config.endpoint.clone();
    match LlmGenerator::new(config).generate(prompt, events).await {
        Ok(blueprint) => Ok(Produced {
            blueprint,
            generator: name,
            fell_back: None,
        }),
        Err(e @ (GenError::Transport(_) | GenError::Http { .. })) => {
            let why = format!(
                "your LLM endpoint {endpoint} did not answer ({}: {e}); the {fallback_name} generator answered instead",
                e.code()
            );
            emit(events, GenEvent::Thought { text: why.clone() }).await?;
            let blueprint = fallback.generate(prompt, events).await?;
            Ok(Produced {
                blueprint,
                generator: fallback_name,
                fell_back: Some(why),
            })
        }
        Err(e) => Err(e),
    }
}

/// A generator with a bounded LRU cache of the Blueprints it generated, by prompt.
#[derive(Debug)]
pub struct CachedGenerator<G> {
    inner: G,
    cache: Mutex<SpecCache>,
}

impl<G: UiGenerator> CachedGenerator<G> {
    pub fn new(inner: G, capacity: usize) -> Self {
        CachedGenerator {
            inner,
            cache: Mutex::new(SpecCache::new(capacity)),
        }
    }

    pub fn inner(&self) -> &G {
        &self.inner
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SpecCache> {
        // The cache holds only finished values; a panic elsewhere cannot leave it torn.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<G: UiGenerator> UiGenerator for CachedGenerator<G> {
    async fn generate(
        &self,
        prompt: &str,
        events: &mpsc::Sender<GenEvent>,
    ) -> Result<Arc<Blueprint>, GenError> {
        let key = normalise(prompt);
        let hit = self.lock().get(&key);
        if let Some(bp) = hit {
            emit(
                events,
                GenEvent::Thought {
                    text: format!(
                        "Using the {} generated earlier for this request.",
                        bp.app.name
                    ),
                },
            )
            .await?;
            emit_blueprint(events, &bp).await?;
            return Ok(bp);
        }
        let bp = self.inner.generate(prompt, events).await?;
        self.lock().insert(key, bp.clone());
        Ok(bp)
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        events: &mpsc::Sender<GenEvent>,
    ) -> Result<String, GenError> {
        self.inner.chat(messages, events).await
    }
}

#[cfg(test)]
mod tests;
