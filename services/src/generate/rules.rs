//! The rule generator: keyword rules over a fixed set of templates.
//!
//! The templates are Blueprints: the prebuilt apps of `apps/blueprint/` and a few more
//! in `templates/`, compiled in and parsed on first use (a test parses them all). A
//! prompt is lowercased and matched against each template's keywords in order, most
//! specific first ("pomodoro" before "timer"). Chat replies say what the generator
//! can build.

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::{ChatMessage, Completion, GenError, GenEvent, UiGenerator, emit, emit_blueprint, fail};
use crate::blueprint::{self, Blueprint};

/// One template: its name, the words that pick it, and its Blueprint text.
#[derive(Debug)]
pub struct Template {
    pub name: &'static str,
    pub keywords: &'static [&'static str],
    source: &'static str,
}

/// Most specific first: the first template with a keyword in the prompt wins.
const TEMPLATES: &[Template] = &[
    Template {
        name: "pomodoro timer",
        keywords: &["pomodoro", "tomato timer", "focus timer"],
        source: include_str!("templates/pomodoro.bp"),
    },
    Template {
        name: "unit converter",
        keywords: &[
            "unit convert",
            "converter",
            "convert unit",
            "conversion",
            "units",
        ],
        source: include_str!("templates/unit-converter.bp"),
    },
    Template {
        name: "calculator",
        keywords: &["calculator", "calc", "arithmetic", "add numbers"],
        source: include_str!("../../../apps/blueprint/calculator.bp"),
    },
    Template {
        name: "todo list",
        keywords: &[
            "todo",
            "to-do",
            "to do",
            "task",
            "checklist",
            "shopping list",
        ],
        source: include_str!("../../../apps/blueprint/todo.bp"),
    },
    Template {
        name: "notes app",
        keywords: &["note", "notepad", "journal", "memo", "text editor"],
        source: include_str!("../../../apps/blueprint/notes.bp"),
    },
    Template {
        name: "timer",
        keywords: &["timer", "countdown", "stopwatch", "alarm"],
        source: include_str!("../../../apps/blueprint/timer.bp"),
    },
    Template {
        name: "counter",
        keywords: &["counter", "tally", "count", "clicker"],
        source: include_str!("templates/counter.bp"),
    },
    Template {
        name: "settings",
        keywords: &["settings", "preferences", "options panel"],
        source: include_str!("../../../apps/blueprint/settings.bp"),
    },
    Template {
        name: "app hub",
        keywords: &["app hub", "launcher", "app store", "all apps"],
        source: include_str!("../../../apps/blueprint/app-hub.bp"),
    },
];

impl Template {
    /// Every template, in matching order.
    pub fn all() -> &'static [Template] {
        TEMPLATES
    }

    /// The template's Blueprint.
    pub fn blueprint(&self) -> Result<Blueprint, blueprint::ParseError> {
        blueprint::parse(self.source)
    }
}

/// The deterministic, template-based generator.
#[derive(Debug, Default)]
pub struct RuleGenerator {
    _private: (),
}

impl RuleGenerator {
    pub fn new() -> Self {
        Self::default()
    }

    /// The template a prompt picks, if any.
    pub fn matching(prompt: &str) -> Option<(usize, &'static Template)> {
        let p = prompt.to_lowercase();
        TEMPLATES
            .iter()
            .enumerate()
            .find(|(_, t)| t.keywords.iter().any(|k| p.contains(k)))
    }

    fn known() -> String {
        let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
        names.join(", ")
    }

    /// The parsed template `i`, parsed once.
    fn template(i: usize) -> Result<Arc<Blueprint>, GenError> {
        static PARSED: OnceLock<Vec<Result<Arc<Blueprint>, blueprint::ParseError>>> =
            OnceLock::new();
        let all = PARSED.get_or_init(|| {
            TEMPLATES
                .iter()
                .map(|t| t.blueprint().map(Arc::new))
                .collect()
        });
        all[i].clone().map_err(GenError::Invalid)
    }
}

impl UiGenerator for RuleGenerator {
    async fn generate(
        &self,
        prompt: &str,
        events: &mpsc::Sender<GenEvent>,
    ) -> Result<Arc<Blueprint>, GenError> {
        let Some((i, t)) = Self::matching(prompt) else {
            let e = GenError::NotUnderstood {
                prompt: prompt.to_owned(),
                known: Self::known(),
            };
            return fail(events, e).await;
        };
        emit(
            events,
            GenEvent::Thought {
                text: format!("This asks for a {}; starting from that template.", t.name),
            },
        )
        .await?;
        let bp = match Self::template(i) {
            Ok(bp) => bp,
            Err(e) => return fail(events, e).await,
        };
        emit_blueprint(events, &bp).await?;
        Ok(bp)
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        events: &mpsc::Sender<GenEvent>,
    ) -> Result<String, GenError> {
        let last = messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map_or("", |m| m.content.as_str());
        let reply = match Self::matching(last) {
            Some((_, t)) => format!(
                "I can build a {} for you: ask me to generate it and it opens as an app.",
                t.name
            ),
            None => format!(
                "I am the built-in rule generator, without a language model. I can build: {}. \
                 Set AGENTOS_LLM_URL (and AGENTOS_LLM_KEY) for free-form requests.",
                Self::known()
            ),
        };
        // Stream it as a model would, word by word.
        for word in reply.split_inclusive(' ') {
            emit(
                events,
                GenEvent::Token {
                    text: word.to_owned(),
                },
            )
            .await?;
        }
        emit(
            events,
            GenEvent::Complete {
                result: Completion::Reply(reply.clone()),
            },
        )
        .await?;
        Ok(reply)
    }
}
