use std::time::Duration;

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::mpsc,
    task::JoinHandle,
};

use super::*;
use crate::blueprint::ComponentType;

/// Runs a generation and collects every event it sent.
async fn collect<F, T>(run: impl FnOnce(mpsc::Sender<GenEvent>) -> F) -> (T, Vec<GenEvent>)
where
    F: Future<Output = T>,
{
    let (tx, mut rx) = mpsc::channel(1024);
    let out = run(tx).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (out, events)
}

fn component_ids(events: &[GenEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            GenEvent::Component { component, .. } => Some(component.id.clone()),
            _ => None,
        })
        .collect()
}

// ---- rules ----

#[tokio::test]
async fn the_rules_build_each_advertised_app() {
    let g = &RuleGenerator::new();
    for (prompt, id) in [
        ("a calculator", "calculator"),
        ("Make me a TODO list please", "todo"),
        ("a timer", "timer"),
        ("a notes app", "notes"),
        ("a unit converter", "unit-converter"),
        ("a pomodoro timer", "pomodoro"),
        ("a counter", "counter"),
        ("settings", "quick-settings"),
        ("an app launcher", "app-hub"),
    ] {
        let (r, events) = collect(|tx| async move { g.generate(prompt, &tx).await }).await;
        let bp = r.unwrap_or_else(|e| panic!("{prompt}: {e}"));
        assert_eq!(bp.app.id, id, "{prompt}");
        assert!(
            matches!(events.first(), Some(GenEvent::Thought { .. })),
            "{prompt}"
        );
        assert!(
            matches!(events.last(), Some(GenEvent::Complete { result: Completion::Blueprint(b) }) if b.app.id == id),
            "{prompt}"
        );
        assert_eq!(
            component_ids(&events).len(),
            bp.components().count(),
            "{prompt}"
        );
    }
}

#[tokio::test]
async fn the_generated_calculator_is_valid_and_streams_parents_first() {
    let g = &RuleGenerator::new();
    let (r, events) = collect(|tx| async move { g.generate("a calculator", &tx).await }).await;
    let bp = r.unwrap();
    // Valid by the strict parser, from its own JSON.
    let again = crate::blueprint::parse(&serde_json::to_string(&*bp).unwrap()).unwrap();
    assert_eq!(again, *bp);
    let keypad = events
        .iter()
        .find_map(|e| match e {
            GenEvent::Component {
                component,
                placeholders,
                ..
            } if component.id == "keypad" => Some((component.component_type, placeholders.len())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        keypad,
        (ComponentType::Grid, 20),
        "the keypad arrives with 20 placeholders"
    );
    let seven_parent = events.iter().find_map(|e| match e {
        GenEvent::Component {
            component, parent, ..
        } if component.id == "key-7" => Some(parent.clone()),
        _ => None,
    });
    assert_eq!(seven_parent, Some(Some("keypad".to_owned())));
}

#[tokio::test]
async fn the_rules_say_what_they_cannot_build() {
    let g = &RuleGenerator::new();
    let (r, events) =
        collect(|tx| async move { g.generate("a flight simulator", &tx).await }).await;
    let e = r.unwrap_err();
    assert_eq!(e.code(), "not_understood");
    assert!(e.to_string().contains("calculator"), "{e}");
    assert!(matches!(
        events.as_slice(),
        [GenEvent::Error {
            code: "not_understood",
            ..
        }]
    ));
}

#[tokio::test]
async fn every_template_parses() {
    for t in Template::all() {
        let bp = t.blueprint().unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert!(!bp.ui.components.is_empty());
    }
}

#[tokio::test]
async fn rule_chat_streams_a_reply() {
    let g = &RuleGenerator::new();
    let messages = [ChatMessage {
        role: "user".into(),
        content: "can you do a counter?".into(),
    }];
    let (r, events) = collect(|tx| async move { g.chat(&messages, &tx).await }).await;
    let reply = r.unwrap();
    assert!(reply.contains("counter"), "{reply}");
    let tokens: String = events
        .iter()
        .filter_map(|e| match e {
            GenEvent::Token { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(tokens, reply);
    assert!(matches!(
        events.last(),
        Some(GenEvent::Complete {
            result: Completion::Reply(_)
        })
    ));
}

#[tokio::test]
async fn the_cache_answers_a_repeated_prompt_without_the_generator() {
    let g = &CachedGenerator::new(RuleGenerator::new(), 2);
    let (a, _) = collect(|tx| async move { g.generate("A calculator", &tx).await }).await;
    let (b, events) = collect(|tx| async move { g.generate("a   calculator.", &tx).await }).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert!(
        matches!(&events[0], GenEvent::Thought { text } if text.contains("earlier")),
        "{events:?}"
    );
    assert!(matches!(events.last(), Some(GenEvent::Complete { .. })));
    // Bounded: two more prompts push the calculator out.
    for p in ["a timer", "a counter"] {
        collect(|tx| async move { g.generate(p, &tx).await })
            .await
            .0
            .unwrap();
    }
    let (c, events) = collect(|tx| async move { g.generate("a calculator", &tx).await }).await;
    c.unwrap();
    assert!(
        matches!(&events[0], GenEvent::Thought { text } if text.contains("template")),
        "evicted, so generated again: {events:?}"
    );
}

#[test]
fn the_environment_picks_the_generator() {
    let none = |_: &str| None;
    assert_eq!(Generator::from_lookup(none).describe(), "rules");
    let env = |k: &str| match k {
        "AGENTOS_LLM_URL" => Some("http://127.0.0.1:9/v1/".to_owned()),
        "AGENTOS_LLM_MODEL" => Some("tiny".to_owned()),
        _ => None,
    };
    let g = Generator::from_lookup(env);
    assert_eq!(g.describe(), "llm (tiny)");
    let Generator::Llm(llm) = g else {
        panic!("expected the LLM generator")
    };
    assert_eq!(
        llm.config().endpoint,
        "http://127.0.0.1:9/v1/chat/completions"
    );
    let key_only = |k: &str| (k == "AGENTOS_LLM_KEY").then(|| "sk-secret".to_owned());
    let Generator::Llm(llm) = Generator::from_lookup(key_only) else {
        panic!("a key alone configures it")
    };
    assert_eq!(
        llm.config().endpoint,
        "https://api.openai.com/v1/chat/completions"
    );
    assert!(
        !format!("{:?}", llm.config()).contains("sk-secret"),
        "the key stays out of logs"
    );
    let blank = |k: &str| (k == "AGENTOS_LLM_URL").then(|| "  ".to_owned());
    assert_eq!(Generator::from_lookup(blank).describe(), "rules");
}

// ---- the LLM path, against a local streaming server ----

/// Serves one request on 127.0.0.1:0 with `status` and a body written in `pieces`
/// (with a pause between them, so the client really reads a stream); returns the URL
/// and the request it received.
async fn serve_once(status: &str, pieces: Vec<String>) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let status = status.to_owned();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the head, then as much body as Content-Length says.
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before sending its request");
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len: usize = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if req.len() >= head_end + 4 + len {
                    break;
                }
            }
        }
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        for p in pieces {
            sock.write_all(p.as_bytes()).await.unwrap();
            sock.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        sock.shutdown().await.unwrap();
        String::from_utf8(req).unwrap()
    });
    (url, task)
}

/// `content` as SSE chunks of at most `size` characters each, then `[DONE]`.
fn sse_chunks(content: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = content.chars().collect();
    let mut out = vec![format!(
        "data: {}\n\n",
        json!({"choices": [{"delta": {"role": "assistant"}}]})
    )];
    for piece in chars.chunks(size) {
        let piece: String = piece.iter().collect();
        out.push(format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": piece}}]})
        ));
    }
    out.push("data: [DONE]\n\n".to_owned());
    out
}

fn llm(url: &str) -> LlmGenerator {
    let config = LlmConfig::from_lookup(|k| match k {
        "AGENTOS_LLM_URL" => Some(url.to_owned()),
        "AGENTOS_LLM_KEY" => Some("test-key".to_owned()),
        "AGENTOS_LLM_MODEL" => Some("test-model".to_owned()),
        _ => None,
    })
    .unwrap();
    LlmGenerator::new(config)
}

const GOOD_REPLY: &str = concat!(
    "{\"app\": {\"id\": \"tally\", \"name\": \"Tally\", \"version\": \"1.0.0\"}}\n",
    "{\"ui\": {\"title\": \"Tally\", \"root\": [\"count\", \"row\"]}}\n",
    "{\"component\": {\"type\": \"text\", \"id\": \"count\", \"props\": {\"text\": \"0\"}}}\n",
    "{\"component\": {\"type\": \"container\", \"id\": \"row\", \"props\": {\"direction\": \"row\"}, \"children\": [\"plus\"]}}\n",
    "{\"component\": {\"type\": \"button\", \"id\": \"plus\", \"props\": {\"text\": \"+1\"}, \"on_event\": {\"click\": [",
    "{\"tool\": \"math.evaluate\", \"args\": {\"expression\": \"{{count}} + 1\"}}, ",
    "{\"tool\": \"ui.set\", \"args\": {\"id\": \"count\", \"value\": \"{{result}}\"}}]}}}\n",
);

#[tokio::test]
async fn the_llm_path_streams_a_good_reply_into_a_valid_blueprint() {
    let (url, server) = serve_once("200 OK", sse_chunks(GOOD_REPLY, 9)).await;
    let g = &llm(&url);
    let (r, events) = collect(|tx| async move { g.generate("a tally counter", &tx).await }).await;
    let bp = r.unwrap();
    assert_eq!(bp.app.id, "tally");
    assert_eq!(bp.ui.components[1].children[0].id, "plus");

    // Tokens add up to the reply; components arrived before the end, with placeholders.
    let tokens: String = events
        .iter()
        .filter_map(|e| match e {
            GenEvent::Token { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(tokens, GOOD_REPLY);
    assert_eq!(component_ids(&events), ["count", "row", "plus"]);
    let row = events.iter().find_map(|e| match e {
        GenEvent::Component {
            component,
            placeholders,
            ..
        } if component.id == "row" => Some(placeholders.clone()),
        _ => None,
    });
    assert_eq!(row, Some(vec!["plus".to_owned()]));
    let first_component = events
        .iter()
        .position(|e| matches!(e, GenEvent::Component { .. }))
        .unwrap();
    let last_token = events
        .iter()
        .rposition(|e| matches!(e, GenEvent::Token { .. }))
        .unwrap();
    assert!(
        first_component < last_token,
        "components stream while tokens still arrive"
    );
    assert!(
        matches!(events.last(), Some(GenEvent::Complete { result: Completion::Blueprint(b) }) if b.app.id == "tally")
    );

    // The request was a streaming chat completion with the key and the model.
    let req = server.await.unwrap();
    assert!(
        req.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(
        req.to_ascii_lowercase()
            .contains("authorization: bearer test-key"),
        "{req}"
    );
    let body: Value = serde_json::from_str(&req[req.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "a tally counter"})
    );
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("- slider")
    );
}

#[tokio::test]
async fn a_reply_that_is_not_a_valid_blueprint_is_rejected() {
    // Streams fine, but binds a tool whose permission the app does not declare.
    let bad = GOOD_REPLY.replace("math.evaluate", "fs.delete");
    let (url, _server) = serve_once("200 OK", sse_chunks(&bad, 16)).await;
    let g = &llm(&url);
    let (r, events) = collect(|tx| async move { g.generate("a tally counter", &tx).await }).await;
    let e = r.unwrap_err();
    assert_eq!(e.code(), "invalid_blueprint", "{e}");
    assert!(e.to_string().contains("filesystem"), "{e}");
    assert!(matches!(
        events.last(),
        Some(GenEvent::Error {
            code: "invalid_blueprint",
            ..
        })
    ));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, GenEvent::Complete { .. })),
        "nothing completes"
    );
}

#[tokio::test]
async fn stray_props_in_streamed_components_are_repaired() {
    let sloppy = GOOD_REPLY.replace("{\"text\": \"0\"}", "{\"text\": \"0\", \"size\": \"huge\"}");
    assert_ne!(sloppy, GOOD_REPLY);
    let (url, _server) = serve_once("200 OK", sse_chunks(&sloppy, 10)).await;
    let g = &llm(&url);
    let (r, events) = collect(|tx| async move { g.generate("a tally counter", &tx).await }).await;
    let bp = r.unwrap();
    assert_eq!(bp.components().count(), 3);
    assert!(
        events.iter().any(
            |e| matches!(e, GenEvent::Thought { text } if text.starts_with("Repaired 1 detail"))
        ),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_malformed_stream_is_rejected() {
    let pieces = vec![
        format!(
            "data: {}\n\n",
            json!({"choices": [{"delta": {"content": "{\"app\": "}}]})
        ),
        "data: {\"choices\": [{\"delta\": {\"content\": \n\n".to_owned(),
    ];
    let (url, _server) = serve_once("200 OK", pieces).await;
    let g = &llm(&url);
    let (r, events) = collect(|tx| async move { g.generate("anything", &tx).await }).await;
    let e = r.unwrap_err();
    assert_eq!(e.code(), "llm_protocol_error", "{e}");
    assert!(matches!(
        events.last(),
        Some(GenEvent::Error {
            code: "llm_protocol_error",
            ..
        })
    ));
}

#[tokio::test]
async fn prose_without_a_blueprint_is_rejected() {
    let (url, _server) =
        serve_once("200 OK", sse_chunks("Sorry, I cannot help with that.", 8)).await;
    let g = &llm(&url);
    let (r, _) = collect(|tx| async move { g.generate("anything", &tx).await }).await;
    assert_eq!(r.unwrap_err().code(), "llm_protocol_error");
}

#[tokio::test]
async fn a_nested_document_in_a_code_fence_is_repaired() {
    let doc = json!({
        "app": {"id": "fenced", "name": "Fenced"},
        "ui": {"title": "Fenced", "components": [{"type": "button", "props": {"text": "Hi", "colour": "red"}}]}
    });
    let reply = format!("Here you go:\n```json\n{doc}\n```\n");
    let (url, _server) = serve_once("200 OK", sse_chunks(&reply, 12)).await;
    let g = &llm(&url);
    let (r, events) = collect(|tx| async move { g.generate("a button", &tx).await }).await;
    let bp = r.unwrap();
    assert_eq!(bp.ui.components[0].id, "button-1");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GenEvent::Thought { text } if text.starts_with("Repaired")))
    );
    assert_eq!(component_ids(&events), ["button-1"]);
}

#[tokio::test]
async fn an_http_error_is_reported_with_its_status() {
    let (url, _server) = serve_once(
        "401 Unauthorized",
        vec!["{\"error\": \"bad key\"}".to_owned()],
    )
    .await;
    let g = &llm(&url);
    let (r, _) = collect(|tx| async move { g.generate("a calculator", &tx).await }).await;
    match r.unwrap_err() {
        GenError::Http { status, body } => {
            assert_eq!(status, 401);
            assert!(body.contains("bad key"));
        }
        other => panic!("expected an HTTP error, got {other}"),
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error() {
    // Bind and drop, so the port is (almost certainly) closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let g = &llm(&format!("http://127.0.0.1:{port}/v1"));
    let (r, events) = collect(|tx| async move { g.generate("a calculator", &tx).await }).await;
    assert_eq!(r.unwrap_err().code(), "llm_unreachable");
    let Some(GenEvent::Error { message, .. }) = events.last() else {
        panic!("{events:?}")
    };
    assert!(
        message.len() > "could not reach the model endpoint".len() + 2,
        "the cause is included: {message}"
    );
}

#[tokio::test]
async fn llm_chat_streams_tokens_and_completes_with_the_reply() {
    let (url, server) = serve_once("200 OK", sse_chunks("Hello there, human.", 4)).await;
    let g = &llm(&url);
    let messages = [ChatMessage {
        role: "user".into(),
        content: "hi".into(),
    }];
    let (r, events) = collect(|tx| async move { g.chat(&messages, &tx).await }).await;
    assert_eq!(r.unwrap(), "Hello there, human.");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, GenEvent::Token { .. }))
            .count(),
        5
    );
    assert!(
        matches!(events.last(), Some(GenEvent::Complete { result: Completion::Reply(t) }) if t == "Hello there, human.")
    );
    let req = server.await.unwrap();
    assert!(
        req.contains("\"role\":\"user\",\"content\":\"hi\"") || req.contains("\"content\":\"hi\""),
        "{req}"
    );
}

#[test]
fn events_serialize_as_the_websocket_expects() {
    let e = GenEvent::Thought { text: "hm".into() };
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"type": "thought", "text": "hm"})
    );
    let e = GenEvent::Complete {
        result: Completion::Reply("ok".into()),
    };
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"type": "complete", "reply": "ok"})
    );
    let e = GenEvent::Error {
        code: "x",
        message: "y".into(),
    };
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"type": "error", "code": "x", "message": "y"})
    );
}

/// The futures the HTTP layer awaits inside axum handlers and spawned tasks must be
/// `Send`; this fails to compile if one stops being so.
#[test]
fn the_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let (tx, _rx) = mpsc::channel(1);
    let g = CachedGenerator::new(Generator::from_lookup(|_| None), 4);
    send(g.generate("a calculator", &tx));
    send(g.chat(&[], &tx));
    let tools = crate::tools::Tools::new(crate::tools::RecordingHost::new());
    let mut state = crate::tools::UiState::default();
    let ctx = crate::tools::CallContext {
        app_id: "a",
        permissions: &[],
        hosts: &[],
    };
    send(tools.call(&ctx, &mut state, "ui.get", &serde_json::Map::new()));
}
