//! The LLM generator: an OpenAI-compatible chat-completions endpoint, streamed.
//!
//! The request is `POST {AGENTOS_LLM_URL}/chat/completions` with `"stream": true`
//! (and `Authorization: Bearer {AGENTOS_LLM_KEY}` when a key is set); the reply is
//! server-sent events whose `data:` is a JSON chunk with `choices[0].delta.content`,
//! ending with `data: [DONE]`. Local servers that speak the same protocol (llama.cpp,
//! Ollama, vLLM) need only the URL.
//!
//! The system prompt lists the component types with their props and the tools with
//! their arguments, read from the schema and the tool registry so it cannot drift,
//! and asks for the flat streaming form ([`crate::blueprint::StreamParser`]).
//! Components are forwarded as soon as they parse. If the model wrote one nested
//! document instead, that is read whole and repaired. Whatever comes out is validated;
//! an invalid result is an error, never a half-rendered app.

use std::{fmt, sync::Arc, time::Duration};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{
    ChatMessage, Completion, GenError, GenEvent, SseDecoder, UiGenerator, emit, emit_blueprint,
    fail,
};
use crate::blueprint::{self, Blueprint, StreamEvent, StreamParser};
use crate::tools::ToolRegistry;

/// The most model output read for one request.
const MAX_OUTPUT: usize = 1 << 20;

/// Where the model is and how to call it, from `AGENTOS_LLM_*`.
#[derive(Clone)]
pub struct LlmConfig {
    /// The full chat-completions URL.
    pub endpoint: String,
    pub key: Option<String>,
    pub model: String,
    /// For the whole request, streaming included.
    pub timeout: Duration,
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("endpoint", &self.endpoint)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl LlmConfig {
    /// The endpoint when only a key is given.
    pub const DEFAULT_URL: &str = "https://api.openai.com/v1";
    pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

    /// A configuration if `AGENTOS_LLM_URL` or `AGENTOS_LLM_KEY` is set (and not empty).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<LlmConfig> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let url = get("AGENTOS_LLM_URL");
        let key = get("AGENTOS_LLM_KEY");
        if url.is_none() && key.is_none() {
            return None;
        }
        let url = url.unwrap_or_else(|| Self::DEFAULT_URL.to_owned());
        Some(LlmConfig {
            endpoint: Self::endpoint_of(&url),
            key,
            model: get("AGENTOS_LLM_MODEL").unwrap_or_else(|| Self::DEFAULT_MODEL.to_owned()),
            timeout: Duration::from_secs(120),
        })
    }

    /// A user's endpoint (their settings' `llm`): the URL and model they chose, and no
    /// key, since `AGENTOS_LLM_KEY` belongs to the environment's endpoint and is never
    /// sent to one a user typed in.
    pub fn for_user(url: &str, model: Option<&str>) -> LlmConfig {
        LlmConfig {
            endpoint: Self::endpoint_of(url.trim()),
            key: None,
            model: model
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .unwrap_or(Self::DEFAULT_MODEL)
                .to_owned(),
            timeout: Duration::from_secs(120),
        }
    }

    /// `http://host/v1` → `http://host/v1/chat/completions`; a full URL is kept.
    pub fn endpoint_of(url: &str) -> String {
        let url = url.trim_end_matches('/');
        if url.ends_with("/chat/completions") {
            url.to_owned()
        } else {
            format!("{url}/chat/completions")
        }
    }
}

/// The generator over an OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct LlmGenerator {
    config: LlmConfig,
    client: reqwest::Client,
}

impl LlmGenerator {
    pub fn new(config: LlmConfig) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(config.timeout)
            .build()
            .expect("a rustls client needs no system configuration to build");
        LlmGenerator { config, client }
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// Sends `messages`; forwards each piece of content as a `token` event and to
    /// `on_content`, whose events are forwarded too. Returns the whole content.
    async fn complete(
        &self,
        messages: &[ChatMessage],
        events: &mpsc::Sender<GenEvent>,
        mut on_content: impl FnMut(&str) -> Vec<GenEvent> + Send,
    ) -> Result<String, GenError> {
        let body = json!({
            "model": self.config.model,
            "stream": true,
            "temperature": 0,
            "messages": messages,
        });
        let mut request = self
            .client
            .post(&self.config.endpoint)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(body.to_string());
        if let Some(key) = &self.config.key {
            request = request.bearer_auth(key);
        }
        let mut response = request.send().await.map_err(GenError::Transport)?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let body: String = text.chars().take(500).collect();
            return Err(GenError::Http {
                status: status.as_u16(),
                body,
            });
        }
        let mut sse = SseDecoder::new();
        let mut content = String::new();
        let mut done = false;
        while !done {
            let datas = match response.chunk().await.map_err(GenError::Transport)? {
                Some(bytes) => sse.push(&bytes),
                None => {
                    done = true;
                    sse.finish()
                }
            }
            .map_err(|e| GenError::Protocol {
                reason: e.to_string(),
            })?;
            for data in datas {
                if data.trim() == "[DONE]" {
                    done = true;
                    break;
                }
                let Some(piece) = delta_content(&data)? else {
                    continue;
                };
                if content.len() + piece.len() > MAX_OUTPUT {
                    return Err(GenError::Protocol {
                        reason: format!("the reply is longer than {MAX_OUTPUT} bytes"),
                    });
                }
                content.push_str(&piece);
                emit(
                    events,
                    GenEvent::Token {
                        text: piece.clone(),
                    },
                )
                .await?;
                for ev in on_content(&piece) {
                    emit(events, ev).await?;
                }
            }
        }
        if content.trim().is_empty() {
            return Err(GenError::Protocol {
                reason: "the model sent no content".into(),
            });
        }
        Ok(content)
    }

    async fn generate_inner(
        &self,
        prompt: &str,
        events: &mpsc::Sender<GenEvent>,
    ) -> Result<Arc<Blueprint>, GenError> {
        emit(
            events,
            GenEvent::Thought {
                text: format!("Asking {} for a Blueprint.", self.config.model),
            },
        )
        .await?;
        let messages = [
            ChatMessage {
                role: "system".into(),
                content: system_prompt().to_owned(),
            },
            ChatMessage {
                role: "user".into(),
                content: prompt.to_owned(),
            },
        ];
        let mut parser = StreamParser::lenient();
        let mut streamed = 0usize;
        let mut skipped = Vec::new();
        let content = self
            .complete(&messages, events, |piece| {
                let mut out = Vec::new();
                for ev in parser.push(piece) {
                    match ev {
                        StreamEvent::Component {
                            component,
                            placeholders,
                            parent,
                        } => {
                            streamed += 1;
                            out.push(GenEvent::Component {
                                component: Box::new(component),
                                placeholders,
                                parent,
                            });
                        }
                        StreamEvent::Error { error } => skipped.push(error),
                        StreamEvent::App { .. } | StreamEvent::Surface { .. } => {}
                    }
                }
                out
            })
            .await?;
        let tools = ToolRegistry::builtin();
        if streamed > 0 {
            if let Some(first) = skipped.first() {
                emit(
                    events,
                    GenEvent::Thought {
                        text: format!(
                            "Skipped {} malformed message(s); the first: {first}",
                            skipped.len()
                        ),
                    },
                )
                .await?;
            }
            if !parser.repairs().is_empty() {
                emit(
                    events,
                    GenEvent::Thought {
                        text: format!(
                            "Repaired {} detail(s) of the generated components.",
                            parser.repairs().len()
                        ),
                    },
                )
                .await?;
            }
            let bp = Arc::new(parser.finish(tools)?);
            emit(
                events,
                GenEvent::Complete {
                    result: Completion::Blueprint(Box::new(Blueprint::clone(&bp))),
                },
            )
            .await?;
            return Ok(bp);
        }
        // No flat messages: perhaps one nested document, maybe in a code fence.
        let (Some(start), Some(end)) = (content.find('{'), content.rfind('}')) else {
            return Err(GenError::Protocol {
                reason: "the reply holds no JSON object".into(),
            });
        };
        let value: Value =
            serde_json::from_str(&content[start..=end]).map_err(|e| GenError::Protocol {
                reason: format!("the reply is not a JSON Blueprint: {e}"),
            })?;
        let (bp, repairs) = blueprint::repair(value, tools)?;
        if !repairs.is_empty() {
            emit(
                events,
                GenEvent::Thought {
                    text: format!(
                        "Repaired {} detail(s) of the generated Blueprint.",
                        repairs.len()
                    ),
                },
            )
            .await?;
        }
        let bp = Arc::new(bp);
        emit_blueprint(events, &bp).await?;
        Ok(bp)
    }
}

/// The content of one streamed chunk: `choices[0].delta.content` (or `message.content`
/// from servers that send whole messages); `None` for chunks without content.
fn delta_content(data: &str) -> Result<Option<String>, GenError> {
    let v: Value = serde_json::from_str(data).map_err(|e| GenError::Protocol {
        reason: format!(
            "a chunk is not JSON ({e}): {}",
            data.chars().take(120).collect::<String>()
        ),
    })?;
    if let Some(err) = v.get("error") {
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(GenError::Protocol {
            reason: format!("the model reported an error: {message}"),
        });
    }
    let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
        return Err(GenError::Protocol {
            reason: "a chunk has no `choices`".into(),
        });
    };
    let content = choice
        .get("delta")
        .or_else(|| choice.get("message"))
        .and_then(|d| d.get("content"));
    match content {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(GenError::Protocol {
            reason: "`delta.content` is not a string".into(),
        }),
    }
}

/// The system prompt for generation, built once from the schema and the tool registry.
pub(crate) fn system_prompt() -> &'static str {
    static PROMPT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PROMPT.get_or_init(|| {
        let schema = blueprint::schema_json();
        let mut types = String::new();
        for t in blueprint::ComponentType::ALL {
            let def = &schema["$defs"][t.props_schema_name()];
            let required: Vec<&str> = def["required"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let props: Vec<String> = def["properties"]
                .as_object()
                .map(|m| {
                    m.keys()
                        .filter(|k| !matches!(k.as_str(), "aria_label" | "visible" | "style"))
                        .map(|k| if required.contains(&k.as_str()) { format!("{k}*") } else { k.clone() })
                        .collect()
                })
                .unwrap_or_default();
            let children = if t.takes_children() { " (has children)" } else { "" };
            let events = if t.events().is_empty() {
                String::new()
            } else {
                format!("; events: {}", t.events().join(", "))
            };
            types.push_str(&format!("- {}{children}: {}{events}\n", t.as_str(), props.join(", ")));
        }
        let mut tools = String::new();
        for spec in ToolRegistry::builtin().iter() {
            let args: Vec<String> = spec.args["properties"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            let permission = spec.permission.map(|p| format!(" [needs \"{p}\"]")).unwrap_or_default();
            tools.push_str(&format!("- {}({}){permission}: {}\n", spec.id, args.join(", "), spec.description));
        }
        format!(
            "You design small desktop apps for AgentOS as Blueprints. Reply with JSON objects \
             only, one per line, with no prose and no code fences, in this order:\n\
             {{\"app\": {{\"id\": \"lowercase-id\", \"name\": \"Name\", \"version\": \"1.0.0\", \"permissions\": []}}}}\n\
             {{\"ui\": {{\"title\": \"Title\", \"layout\": \"vertical\", \"root\": [\"first-id\", \"second-id\"]}}}}\n\
             {{\"component\": {{\"type\": \"button\", \"id\": \"first-id\", \"props\": {{\"text\": \"Go\"}}, \
             \"on_event\": {{\"click\": [{{\"tool\": \"ui.set\", \"args\": {{\"id\": \"second-id\", \"value\": \"{{{{result}}}}\"}}}}]}}}}}}\n\
             Send a parent before its children; a parent names its children by id in \"children\". \
             Ids are unique. Props marked * are required; use no other props.\n\
             Component types and props:\n{types}\
             Tools for on_event (declare the permission a tool needs in app.permissions):\n{tools}\
             In tool args, \"{{{{some-id}}}}\" is that component's current value and \"{{{{result}}}}\" \
             the previous tool's result.\n"
        )
    })
}

impl UiGenerator for LlmGenerator {
    async fn generate(
        &self,
        prompt: &str,
        events: &mpsc::Sender<GenEvent>,
    ) -> Result<Arc<Blueprint>, GenError> {
        match self.generate_inner(prompt, events).await {
            Ok(bp) => Ok(bp),
            Err(GenError::Cancelled) => Err(GenError::Cancelled),
            Err(e) => fail(events, e).await,
        }
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        events: &mpsc::Sender<GenEvent>,
    ) -> Result<String, GenError> {
        let mut all = Vec::with_capacity(messages.len() + 1);
        all.push(ChatMessage {
            role: "system".into(),
            content: "You are the assistant of AgentOS, a desktop whose apps are Blueprints. \
                      Answer briefly."
                .into(),
        });
        all.extend(messages.iter().cloned());
        match self.complete(&all, events, |_| Vec::new()).await {
            Ok(reply) => {
                emit(
                    events,
                    GenEvent::Complete {
                        result: Completion::Reply(reply.clone()),
                    },
                )
                .await?;
                Ok(reply)
            }
            Err(GenError::Cancelled) => Err(GenError::Cancelled),
            Err(e) => fail(events, e).await,
        }
    }
}
